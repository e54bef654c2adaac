/**
 * Key extractors: turn request attributes into the string a hashing balancer or a
 * persistence table is keyed by. Kept apart from selection (as HAProxy separates
 * "balance source/hdr/cookie" extraction from its lb_* algorithms) so every algorithm
 * and table sees the same key for the same client. Each returns undefined when there
 * is no usable key; callers then fall back to plain balancing. None throws.
 */

const DOTTED_QUAD = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
/** ::ffff:a.b.c.d, also spelled out as 0:0:0:0:0:ffff:a.b.c.d. */
const MAPPED_DOTTED = /^(?:::|(?:0{1,4}:){5})ffff:(\d+\.\d+\.\d+\.\d+)$/i;
/** ::ffff:c000:280, the hex spelling of the same mapped address. */
const MAPPED_HEX = /^(?:::|(?:0{1,4}:){5})ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i;

/**
 * The client address as a key. A dual-stack listener reports IPv4 clients as
 * ::ffff:1.2.3.4; that is normalised to 1.2.3.4 so the same client hashes the same on
 * either socket family. IPv6 is lower-cased; brackets and a zone (%eth0) are dropped.
 */
export function sourceIpKey(clientIp: string | undefined): string | undefined {
  if (typeof clientIp !== 'string') return undefined;
  let ip = clientIp.trim();
  if (ip.startsWith('[') && ip.endsWith(']')) ip = ip.slice(1, -1);
  const zone = ip.indexOf('%');
  if (zone >= 0) ip = ip.slice(0, zone);
  if (ip === '') return undefined;
  const dotted = MAPPED_DOTTED.exec(ip);
  if (dotted?.[1] !== undefined && DOTTED_QUAD.test(dotted[1])) return dotted[1];
  const hex = MAPPED_HEX.exec(ip);
  if (hex?.[1] !== undefined && hex[2] !== undefined) {
    const hi = parseInt(hex[1], 16);
    const lo = parseInt(hex[2], 16);
    return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
  }
  return ip.includes(':') ? ip.toLowerCase() : ip;
}

/**
 * The value of cookie `cookieName` in a Cookie header, or undefined when absent or
 * empty. Tolerant: spaces around names and values, double-quoted values, pairs without
 * '=' and empty pairs are skipped. The first occurrence wins (RFC 6265 5.4 puts the
 * most specific path first). Several header values (HTTP/2) are read in order.
 */
export function cookieKey(headerValue: string | readonly string[] | undefined, cookieName: string): string | undefined {
  if (headerValue === undefined || cookieName === '') return undefined;
  const values = typeof headerValue === 'string' ? [headerValue] : headerValue;
  for (const header of values) {
    if (typeof header !== 'string') continue;
    for (const pair of header.split(';')) {
      const eq = pair.indexOf('=');
      if (eq < 0) continue;
      if (pair.slice(0, eq).trim() !== cookieName) continue;
      let value = pair.slice(eq + 1).trim();
      if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
      return value === '' ? undefined : value;
    }
  }
  return undefined;
}

export interface HeaderKeyOptions {
  /** Use only the first comma-separated item (e.g. the original client in X-Forwarded-For). */
  readonly firstItem?: boolean;
  /** Lower-case the key, for case-insensitive values such as Host. */
  readonly lowerCase?: boolean;
}

/**
 * A request header's value as a key: trimmed, the first value when a header was sent
 * several times, undefined when missing or blank.
 */
export function headerKey(headerValue: string | readonly string[] | undefined, opts: HeaderKeyOptions = {}): string | undefined {
  const first = typeof headerValue === 'string' ? headerValue : headerValue?.[0];
  if (typeof first !== 'string') return undefined;
  let key = opts.firstItem === true ? (first.split(',')[0] ?? '') : first;
  key = key.trim();
  if (opts.lowerCase === true) key = key.toLowerCase();
  return key === '' ? undefined : key;
}
