import { problems } from '../../test/helpers/config-problems.js';
import { describe, expect, it } from 'vitest';
import { parseConfig } from './load.js';
import { dialHost, isLoopbackAddress, parseAdminListen } from './admin-schema.js';

const base = (admin = '') => `
services:
  - { name: web, mode: tcp, listen: { port: 8080 }, backends: [{ name: a, address: 127.0.0.1, port: 9001 }] }
${admin}`;


describe('admin config', () => {
  it('defaults to loopback 9797 with no token', () => {
    const cfg = parseConfig(base());
    expect(cfg.admin).toEqual({ listen: '127.0.0.1:9797' });
    expect(parseAdminListen(cfg.admin.listen)).toEqual({ host: '127.0.0.1', port: 9797 });
  });

  it('can be turned off with false or "off"', () => {
    expect(parseAdminListen(parseConfig(base('admin: { listen: false }')).admin.listen)).toBeUndefined();
    expect(parseAdminListen(parseConfig(base('admin: { listen: "off" }')).admin.listen)).toBeUndefined();
  });

  it('a listen beyond loopback without a token is an error naming admin.token_file', () => {
    const p = problems(base('admin: { listen: "0.0.0.0:9797" }'));
    expect(p).toHaveLength(1);
    expect(p[0]).toMatch(/^admin\.token_file: admin\.listen 0\.0\.0\.0:9797 is reachable beyond loopback/);
    expect(parseConfig(base('admin: { listen: "0.0.0.0:9797", token_env: HALO_ADMIN_TOKEN }')).admin.token_env).toBe('HALO_ADMIN_TOKEN');
    expect(parseConfig(base('admin: { listen: "[::1]:9797" }')).admin.listen).toBe('[::1]:9797');
  });

  it('names bad listen values, a bad port and two token sources', () => {
    expect(problems(base('admin: { listen: "9797" }'))[0]).toMatch(/^admin\.listen: expected host:port \(e\.g\. 127\.0\.0\.1:9797\), or false/);
    expect(problems(base('admin: { listen: true }'))[0]).toMatch(/^admin\.listen: expected host:port/);
    expect(problems(base('admin: { listen: "127.0.0.1:70000" }'))).toEqual(['admin.listen: port 70000 is out of range 0-65535']);
    expect(problems(base('admin: { listen: "300.0.0.1:9797" }'))).toEqual(['admin.listen: 300.0.0.1 is not an IPv4 address']);
    expect(problems(base('admin: { token_file: /a, token_env: B }'))).toEqual(['admin: give one of token_file or token_env, not both']);
    expect(problems(base('admin: { lisen: "127.0.0.1:1" }'))[0]).toBe('admin.lisen: unknown key (check the spelling; see docs/config.md)');
  });
});

describe('isLoopbackAddress / dialHost', () => {
  it('knows loopback in its spellings', () => {
    for (const a of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1', 'localhost']) expect(isLoopbackAddress(a), a).toBe(true);
    for (const a of ['0.0.0.0', '10.0.0.1', '::', '::ffff:10.0.0.1', '128.0.0.1', undefined]) expect(isLoopbackAddress(a), String(a)).toBe(false);
  });

  it('dials loopback for a wildcard listen, brackets IPv6', () => {
    expect(dialHost('0.0.0.0')).toBe('127.0.0.1');
    expect(dialHost('::')).toBe('[::1]');
    expect(dialHost('::1')).toBe('[::1]');
    expect(dialHost('10.0.0.1')).toBe('10.0.0.1');
  });
});
