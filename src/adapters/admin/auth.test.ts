import { describe, expect, it } from 'vitest';
import { authorize, bearerToken, hostName, tokenMatches } from './auth.js';

const TOKEN = Buffer.from('s3cret-token-0123456789');
const loopback = (a: string | undefined) => a === '127.0.0.1';

describe('authorize', () => {
  it('without a token: loopback is served, anything else is 401', () => {
    const opts = { token: undefined, isLoopback: loopback };
    expect(authorize({ headers: { host: '127.0.0.1:9797' }, remoteAddress: '127.0.0.1' }, opts)).toEqual({ ok: true });
    expect(authorize({ headers: { host: 'localhost:9797' }, remoteAddress: '127.0.0.1' }, opts)).toEqual({ ok: true });
    const far = authorize({ headers: { host: '10.0.0.1:9797' }, remoteAddress: '10.0.0.9' }, opts);
    expect(far).toMatchObject({ ok: false, status: 401, code: 'unauthorized' });
  });

  it('without a token: a loopback client is not served a non-loopback Host (DNS rebinding)', () => {
    const r = authorize({ headers: { host: 'evil.example:9797' }, remoteAddress: '127.0.0.1' }, { token: undefined, isLoopback: loopback });
    expect(r).toMatchObject({ ok: false, status: 403 });
  });

  it('with a token: required from loopback too, compared exactly', () => {
    const opts = { token: TOKEN, isLoopback: loopback };
    expect(authorize({ headers: { host: '127.0.0.1' }, remoteAddress: '127.0.0.1' }, opts)).toMatchObject({ ok: false, status: 401, message: expect.stringContaining('required') });
    expect(authorize({ headers: { authorization: 'Bearer s3cret-token-012345678' }, remoteAddress: '10.0.0.9' }, opts)).toMatchObject({ ok: false, status: 401, message: 'the bearer token is wrong' });
    expect(authorize({ headers: { authorization: 'Bearer s3cret-token-0123456789x' }, remoteAddress: '10.0.0.9' }, opts)).toMatchObject({ ok: false, status: 401 });
    expect(authorize({ headers: { authorization: 'Basic czNjcmV0' }, remoteAddress: '10.0.0.9' }, opts)).toMatchObject({ ok: false, status: 401 });
    expect(authorize({ headers: { authorization: 'Bearer s3cret-token-0123456789' }, remoteAddress: '10.0.0.9' }, opts)).toEqual({ ok: true });
    expect(authorize({ headers: { authorization: 'bearer s3cret-token-0123456789' }, remoteAddress: '127.0.0.1' }, opts)).toEqual({ ok: true });
  });

  it('refuses a browser request from another origin, token or not', () => {
    const headers = { host: '127.0.0.1:9797', origin: 'https://evil.example', authorization: 'Bearer s3cret-token-0123456789' };
    expect(authorize({ headers, remoteAddress: '127.0.0.1' }, { token: TOKEN, isLoopback: loopback })).toMatchObject({ ok: false, status: 403 });
    expect(authorize({ headers: { host: '127.0.0.1:9797', origin: 'null' }, remoteAddress: '127.0.0.1' }, { token: undefined, isLoopback: loopback })).toMatchObject({ ok: false, status: 403 });
    expect(authorize({ headers: { host: '127.0.0.1:9797', origin: 'http://127.0.0.1:9797' }, remoteAddress: '127.0.0.1' }, { token: undefined, isLoopback: loopback })).toEqual({ ok: true });
  });

  it('never echoes the token it was given or expects', () => {
    const r = authorize({ headers: { authorization: 'Bearer wrong-token-value-here' }, remoteAddress: '10.0.0.9' }, { token: TOKEN, isLoopback: loopback });
    expect(JSON.stringify(r)).not.toContain('s3cret');
    expect(JSON.stringify(r)).not.toContain('wrong-token');
  });
});

describe('helpers', () => {
  it('tokenMatches works across lengths', () => {
    expect(tokenMatches(TOKEN, 's3cret-token-0123456789')).toBe(true);
    expect(tokenMatches(TOKEN, '')).toBe(false);
    expect(tokenMatches(TOKEN, 's3cret')).toBe(false);
  });

  it('bearerToken and hostName', () => {
    expect(bearerToken({ authorization: 'Bearer abc' })).toBe('abc');
    expect(bearerToken({ authorization: 'Bearer a b' })).toBeUndefined();
    expect(bearerToken({})).toBeUndefined();
    expect(hostName('[::1]:9797')).toBe('::1');
    expect(hostName('localhost')).toBe('localhost');
    expect(hostName('127.0.0.1:80')).toBe('127.0.0.1');
  });
});
