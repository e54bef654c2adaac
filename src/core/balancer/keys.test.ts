import { describe, expect, it } from 'vitest';
import { cookieKey, headerKey, sourceIpKey } from './keys.js';

describe('sourceIpKey', () => {
  it('normalises IPv4-mapped IPv6 to plain IPv4', () => {
    expect(sourceIpKey('::ffff:1.2.3.4')).toBe('1.2.3.4');
    expect(sourceIpKey('::FFFF:10.0.0.7')).toBe('10.0.0.7');
    expect(sourceIpKey('0:0:0:0:0:ffff:192.0.2.1')).toBe('192.0.2.1');
    expect(sourceIpKey('::ffff:c000:280')).toBe('192.0.2.128');
  });

  it('keeps plain IPv4 and lower-cases IPv6, dropping brackets and zone', () => {
    expect(sourceIpKey('1.2.3.4')).toBe('1.2.3.4');
    expect(sourceIpKey(' 1.2.3.4 ')).toBe('1.2.3.4');
    expect(sourceIpKey('2001:DB8::1')).toBe('2001:db8::1');
    expect(sourceIpKey('[2001:db8::1]')).toBe('2001:db8::1');
    expect(sourceIpKey('fe80::1%eth0')).toBe('fe80::1');
  });

  it('does not turn a non-address behind ::ffff: into IPv4', () => {
    expect(sourceIpKey('::ffff:999.1.1.1')).toBe('::ffff:999.1.1.1');
    expect(sourceIpKey('::1')).toBe('::1');
  });

  it('has no key for empty input', () => {
    expect(sourceIpKey('')).toBeUndefined();
    expect(sourceIpKey('   ')).toBeUndefined();
    expect(sourceIpKey(undefined)).toBeUndefined();
  });
});

describe('cookieKey', () => {
  it('finds the named cookie among others', () => {
    expect(cookieKey('a=1; SRV=backend-2; b=3', 'SRV')).toBe('backend-2');
    expect(cookieKey('SRV=x', 'SRV')).toBe('x');
  });

  it('tolerates spaces, quotes and malformed pairs', () => {
    expect(cookieKey(' junk ; ;=; SRV = "s1" ;x', 'SRV')).toBe('s1');
    expect(cookieKey('SRV="', 'SRV')).toBe('"');
    expect(cookieKey('novalue; SRV=ok', 'SRV')).toBe('ok');
  });

  it('keeps "=" inside the value', () => {
    expect(cookieKey('SRV=abc==.sig=', 'SRV')).toBe('abc==.sig=');
  });

  it('matches the name exactly and takes the first occurrence', () => {
    expect(cookieKey('XSRV=no; srv=no; SRV=first; SRV=second', 'SRV')).toBe('first');
    expect(cookieKey('SRVX=no', 'SRV')).toBeUndefined();
  });

  it('reads several header values in order', () => {
    expect(cookieKey(['a=1', 'SRV=two'], 'SRV')).toBe('two');
  });

  it('has no key when absent or empty', () => {
    expect(cookieKey(undefined, 'SRV')).toBeUndefined();
    expect(cookieKey('', 'SRV')).toBeUndefined();
    expect(cookieKey('SRV=', 'SRV')).toBeUndefined();
    expect(cookieKey('SRV=""', 'SRV')).toBeUndefined();
    expect(cookieKey('a=1', '')).toBeUndefined();
  });
});

describe('headerKey', () => {
  it('trims and takes the first value of a repeated header', () => {
    expect(headerKey('  tenant-7 ')).toBe('tenant-7');
    expect(headerKey(['one', 'two'])).toBe('one');
  });

  it('optionally takes the first list item and lower-cases', () => {
    expect(headerKey('203.0.113.9, 10.0.0.1', { firstItem: true })).toBe('203.0.113.9');
    expect(headerKey('Example.COM', { lowerCase: true })).toBe('example.com');
  });

  it('has no key when missing or blank', () => {
    expect(headerKey(undefined)).toBeUndefined();
    expect(headerKey('   ')).toBeUndefined();
    expect(headerKey([])).toBeUndefined();
    expect(headerKey(' , x', { firstItem: true })).toBeUndefined();
  });
});
