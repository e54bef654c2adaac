import { describe, it, expect } from 'vitest';
import { CookieSigner, setCookieHeader } from './cookie-signer.js';
import { isHaloError } from '../errors.js';

const SECRET = '0123456789abcdef-test-secret';
const NOW = 1_700_000_000;

describe('CookieSigner', () => {
  const signer = new CookieSigner(SECRET);

  it('round-trips pool, backend and issue time', () => {
    const value = signer.sign('default', 'web-1', NOW + 0.7);
    expect(value).toMatch(/^1~default~web-1~1700000000~[A-Za-z0-9_-]{22}$/);
    expect(signer.verify(value)).toEqual({ pool: 'default', backend: 'web-1', issuedAt: NOW });
  });

  it('handles backend names with dots, dashes and underscores', () => {
    const value = signer.sign('api.v2', 'app-01.dc-1_b', NOW);
    expect(signer.verify(value)).toEqual({ pool: 'api.v2', backend: 'app-01.dc-1_b', issuedAt: NOW });
  });

  it('only emits cookie-octets', () => {
    expect(signer.sign('p', 'b', NOW)).toMatch(/^[\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]+$/);
  });

  it('refuses a forged mac, a changed field or a foreign secret', () => {
    const value = signer.sign('default', 'web-1', NOW);
    const mac = value.slice(-22);
    const flipped = (mac[0] === 'A' ? 'B' : 'A') + mac.slice(1);
    expect(signer.verify(value.slice(0, -22) + flipped)).toBeUndefined();
    expect(signer.verify(value.replace('web-1', 'web-2'))).toBeUndefined();
    expect(signer.verify(value.replace(`~${NOW}~`, `~${NOW + 1}~`))).toBeUndefined();
    expect(new CookieSigner('another-secret-entirely').verify(value)).toBeUndefined();
    expect(new CookieSigner(SECRET, 'other-service').verify(value)).toBeUndefined();
    expect(new CookieSigner(Buffer.from(SECRET)).verify(value)).toEqual({ pool: 'default', backend: 'web-1', issuedAt: NOW });
  });

  it('binds to its context when given one', () => {
    const a = new CookieSigner(SECRET, 'svc-a');
    const value = a.sign('default', 'web-1', NOW);
    expect(a.verify(value)).toBeDefined();
    expect(new CookieSigner(SECRET, 'svc-b').verify(value)).toBeUndefined();
    expect(signer.verify(value)).toBeUndefined();
  });

  it('refuses every truncation of a valid value', () => {
    const value = signer.sign('default', 'web-1', NOW);
    for (let n = 0; n < value.length; n++) expect(signer.verify(value.slice(0, n))).toBeUndefined();
  });

  it('refuses garbage and wrong types without throwing', () => {
    const value = signer.sign('default', 'web-1', NOW);
    const mac = value.slice(-22);
    const junk: unknown[] = [
      '',
      '~~~~',
      'garbage',
      '1~default~web-1~1700000000',
      `2~default~web-1~${NOW}~${mac}`,
      `1~default~web-1~-5~${mac}`,
      `1~default~web-1~01700000000~${mac}`,
      `1~default~web-1~1e9~${mac}`,
      `1~~web-1~${NOW}~${mac}`,
      `1~default~.web~${NOW}~${mac}`,
      `1~default~web 1~${NOW}~${mac}`,
      `${value}=`,
      `${value}A`,
      `${value.slice(0, -1)}\u0141`,
      'x'.repeat(10_000),
      '1~' + 'a'.repeat(63) + '~' + 'b'.repeat(63) + '~' + '9'.repeat(12) + '~' + '~'.repeat(40),
      undefined,
      null,
      42,
      { toString: () => value },
    ];
    for (const j of junk) expect(() => signer.verify(j)).not.toThrow();
    for (const j of junk) expect(signer.verify(j)).toBeUndefined();
  });

  it('refuses extra separators anywhere', () => {
    const value = signer.sign('default', 'web-1', NOW);
    const parts = value.split('~');
    for (let i = 0; i <= parts.length; i++) {
      const extra = [...parts.slice(0, i), '', ...parts.slice(i)].join('~');
      expect(signer.verify(extra)).toBeUndefined();
    }
    expect(signer.verify(`${value}~`)).toBeUndefined();
    expect(signer.verify(`~${value}`)).toBeUndefined();
    expect(signer.verify(value.replace('web-1', 'web~1'))).toBeUndefined();
  });

  it('optionally refuses cookies older than maxAge or from the future', () => {
    const value = signer.sign('default', 'web-1', NOW);
    expect(signer.verify(value, { nowWallSeconds: NOW + 3600, maxAgeSeconds: 3600 })).toBeDefined();
    expect(signer.verify(value, { nowWallSeconds: NOW + 3601, maxAgeSeconds: 3600 })).toBeUndefined();
    expect(signer.verify(value, { nowWallSeconds: NOW - 60, maxAgeSeconds: 3600 })).toBeDefined();
    expect(signer.verify(value, { nowWallSeconds: NOW - 61, maxAgeSeconds: 3600 })).toBeUndefined();
  });

  it('refuses an empty secret and names it cannot carry', () => {
    const codeOf = (fn: () => unknown): string | undefined => {
      try {
        fn();
      } catch (err) {
        return isHaloError(err) ? err.code : 'other';
      }
      return undefined;
    };
    expect(codeOf(() => new CookieSigner(''))).toBe('HALO_ERR_SECRET');
    expect(codeOf(() => new CookieSigner(Buffer.alloc(0)))).toBe('HALO_ERR_SECRET');
    expect(codeOf(() => signer.sign('default', 'web~1', NOW))).toBe('HALO_ERR_CONFIG_INVALID');
    expect(codeOf(() => signer.sign('', 'web-1', NOW))).toBe('HALO_ERR_CONFIG_INVALID');
  });
});

describe('setCookieHeader', () => {
  it('builds the default attributes', () => {
    expect(setCookieHeader('HALO_SRV', 'v', { maxAgeSeconds: 1800 })).toBe('HALO_SRV=v; Max-Age=1800; Path=/; HttpOnly; SameSite=Lax');
  });

  it('honours explicit attributes; SameSite=None implies Secure', () => {
    expect(setCookieHeader('c', 'v', { maxAgeSeconds: 10.9, path: '/app', httpOnly: false, sameSite: 'Strict', secure: true })).toBe(
      'c=v; Max-Age=10; Path=/app; SameSite=Strict; Secure',
    );
    expect(setCookieHeader('c', 'v', { maxAgeSeconds: -5, sameSite: 'None' })).toBe('c=v; Max-Age=0; Path=/; HttpOnly; SameSite=None; Secure');
  });
});
