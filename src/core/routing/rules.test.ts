import { describe, expect, it } from 'vitest';
import type { RuleConfig } from '../../config/schema.js';
import type { HttpRouteInput } from '../service/dispatcher-types.js';
import { compileRules, normalizeHost, pathExtension, pathHasPrefix } from './rules.js';

function input(path: string, host?: string, headers: Record<string, string> = {}): HttpRouteInput {
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  return { path, host, header: (name) => lower[name] };
}

const rule = (match: RuleConfig['match'], pool: string): RuleConfig => ({ match, pool });

describe('compileRules', () => {
  it('routes to default without rules or without a match', () => {
    expect(compileRules([])(input('/x'))).toBe('default');
    expect(compileRules([rule({ path_prefix: '/api' }, 'api')])(input('/web'))).toBe('default');
  });

  it('path_prefix is segment-aware unless the prefix ends with a slash', () => {
    const route = compileRules([rule({ path_prefix: '/api' }, 'api'), rule({ path_prefix: '/static/' }, 'static')]);
    expect(route(input('/api'))).toBe('api');
    expect(route(input('/api/'))).toBe('api');
    expect(route(input('/api/v1/users'))).toBe('api');
    expect(route(input('/api?x=1'))).toBe('api');
    expect(route(input('/apix'))).toBe('default');
    expect(route(input('/API'))).toBe('default');
    expect(route(input('/static/a.css'))).toBe('static');
    expect(route(input('/static'))).toBe('default');
    expect(pathHasPrefix('/anything', '/')).toBe(true);
  });

  it('host is exact, case-insensitive, ignores the port; wildcards match subdomains only', () => {
    const route = compileRules([rule({ host: 'Shop.Example.com' }, 'shop'), rule({ host: '*.example.com' }, 'sub')]);
    expect(route(input('/', 'shop.example.com'))).toBe('shop');
    expect(route(input('/', 'SHOP.example.com:8080'))).toBe('shop');
    expect(route(input('/', 'shop.example.com.'))).toBe('shop');
    expect(route(input('/', 'a.b.example.com'))).toBe('sub');
    expect(route(input('/', 'example.com'))).toBe('default');
    expect(route(input('/', 'badexample.com'))).toBe('default');
    expect(route(input('/', undefined))).toBe('default');
    expect(normalizeHost('[::1]:8080')).toBe('::1');
  });

  it('extension looks at the last segment only, case-insensitive, query excluded', () => {
    const route = compileRules([rule({ extension: ['css', 'JS'] }, 'static')]);
    expect(route(input('/a/b.css'))).toBe('static');
    expect(route(input('/a/b.JS?v=2'))).toBe('static');
    expect(route(input('/a/b.min.js'))).toBe('static');
    expect(route(input('/a.css/b'))).toBe('default');
    expect(route(input('/a/b.cssx'))).toBe('default');
    expect(route(input('/a/b?file=x.css'))).toBe('default');
    expect(pathExtension('/a/b.')).toBeUndefined();
    expect(pathExtension('/noext')).toBeUndefined();
  });

  it('content_type is a case-insensitive prefix of the media type', () => {
    const route = compileRules([rule({ content_type: 'application/json' }, 'json'), rule({ content_type: 'image/' }, 'img')]);
    expect(route(input('/', 'h', { 'Content-Type': 'application/json' }))).toBe('json');
    expect(route(input('/', 'h', { 'Content-Type': 'Application/JSON; charset=utf-8' }))).toBe('json');
    expect(route(input('/', 'h', { 'Content-Type': 'image/png' }))).toBe('img');
    expect(route(input('/', 'h', { 'Content-Type': 'text/plain; a=application/json' }))).toBe('default');
    expect(route(input('/', 'h'))).toBe('default');
  });

  it('header matches by exact value, by prefix, or by presence', () => {
    const route = compileRules([
      rule({ header: { name: 'X-Tenant', value: 'acme' } }, 'acme'),
      rule({ header: { name: 'User-Agent', prefix: 'curl/' } }, 'curl'),
      rule({ header: { name: 'X-Debug' } }, 'debug'),
    ]);
    expect(route(input('/', 'h', { 'x-tenant': 'acme' }))).toBe('acme');
    expect(route(input('/', 'h', { 'x-tenant': 'ACME' }))).toBe('default');
    expect(route(input('/', 'h', { 'user-agent': 'curl/8.0' }))).toBe('curl');
    expect(route(input('/', 'h', { 'user-agent': 'Mozilla curl/8.0' }))).toBe('default');
    expect(route(input('/', 'h', { 'x-debug': '' }))).toBe('debug');
  });

  it('requires every field of a rule (AND) and takes the first matching rule', () => {
    const route = compileRules([
      rule({ path_prefix: '/api', host: 'api.test', header: { name: 'x-v', value: '2' } }, 'v2'),
      rule({ path_prefix: '/api' }, 'api'),
      rule({ path_prefix: '/api/special' }, 'never'),
    ]);
    expect(route(input('/api/x', 'api.test', { 'x-v': '2' }))).toBe('v2');
    expect(route(input('/api/x', 'api.test', { 'x-v': '1' }))).toBe('api');
    expect(route(input('/api/x', 'other', { 'x-v': '2' }))).toBe('api');
    expect(route(input('/api/special'))).toBe('api');
  });
});
