/**
 * The persistence cookie names its backend and is signed, so any node (a fresh master
 * included, before replication caught up) can honour it without a table lookup, and a
 * client cannot steer itself to a backend of its choice.
 *
 * Value: `1~<pool>~<backend>~<issuedAtSeconds>~<mac>` where mac is HMAC-SHA256 over
 * everything before it (plus an optional context, e.g. the service name, that is not in
 * the value), truncated to 16 bytes, base64url. '~' cannot occur in pool or backend
 * names ([A-Za-z0-9_.-]) nor in base64url, and is a valid cookie-octet, so the value
 * needs no quoting and splits unambiguously.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { HaloError } from '../errors.js';

const VERSION = '1';
const SEP = '~';
const MAC_BYTES = 16;
const MAC_CHARS = 22; // base64url of 16 bytes, unpadded
const MAC = /^[A-Za-z0-9_-]{22}$/;
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const SECONDS = /^(0|[1-9][0-9]{0,11})$/;
// Longest valid value: 1 + 63 + 63 + 12 + 22 + 4 separators; anything longer is junk.
const MAX_VALUE_LENGTH = 165;

export interface CookieTarget {
  readonly pool: string;
  readonly backend: string;
  readonly issuedAt: number;
}

export interface CookieAttributes {
  readonly maxAgeSeconds: number;
  readonly path?: string;
  readonly httpOnly?: boolean;
  readonly sameSite?: 'Lax' | 'Strict' | 'None';
  readonly secure?: boolean;
}

export class CookieSigner {
  private readonly secret: Buffer;
  private readonly context: string;

  /** `context` binds cookies to one service, so one service's cookie is refused by another sharing the secret. */
  constructor(secret: Buffer | string, context = '') {
    const key = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : Buffer.from(secret);
    if (key.length === 0) throw new HaloError('HALO_ERR_SECRET', 'the cookie secret is empty');
    this.secret = key;
    this.context = context;
  }

  sign(pool: string, backend: string, nowWallSeconds: number): string {
    if (!NAME.test(pool) || !NAME.test(backend)) {
      throw new HaloError('HALO_ERR_CONFIG_INVALID', 'a pool or backend name is not valid in a persistence cookie', { pool, backend });
    }
    const issuedAt = Number.isFinite(nowWallSeconds) && nowWallSeconds > 0 ? Math.min(Math.floor(nowWallSeconds), 999_999_999_999) : 0;
    const payload = `${VERSION}${SEP}${pool}${SEP}${backend}${SEP}${issuedAt}`;
    return `${payload}${SEP}${this.mac(payload)}`;
  }

  /**
   * The backend a cookie names, or undefined for anything malformed, forged, truncated
   * or (when `maxAge` is given) too old or from the future. Never throws.
   */
  verify(value: unknown, maxAge?: { nowWallSeconds: number; maxAgeSeconds: number }): CookieTarget | undefined {
    if (typeof value !== 'string' || value.length > MAX_VALUE_LENGTH) return undefined;
    const parts = value.split(SEP);
    if (parts.length !== 5) return undefined;
    const [version, pool, backend, issued, mac] = parts as [string, string, string, string, string];
    if (version !== VERSION || !NAME.test(pool) || !NAME.test(backend) || !SECONDS.test(issued) || !MAC.test(mac)) return undefined;
    const expected = this.mac(value.slice(0, value.length - MAC_CHARS - 1));
    // Both are 22 base64url characters here, so the buffers have equal length.
    if (!timingSafeEqual(Buffer.from(mac, 'latin1'), Buffer.from(expected, 'latin1'))) return undefined;
    const issuedAt = Number(issued);
    if (maxAge !== undefined) {
      const age = maxAge.nowWallSeconds - issuedAt;
      if (!(age >= -60 && age <= maxAge.maxAgeSeconds)) return undefined; // a minute of clock skew between nodes
    }
    return { pool, backend, issuedAt };
  }

  private mac(payload: string): string {
    const h = createHmac('sha256', this.secret);
    if (this.context !== '') h.update(`${this.context}\n`);
    h.update(payload);
    return h.digest().subarray(0, MAC_BYTES).toString('base64url');
  }
}

/**
 * A Set-Cookie header value: `name=value; Max-Age=N; Path=/; HttpOnly; SameSite=Lax`.
 * name comes from the validated config, value from CookieSigner.sign (no quoting needed).
 */
export function setCookieHeader(name: string, value: string, attrs: CookieAttributes): string {
  const maxAge = Math.max(0, Math.floor(attrs.maxAgeSeconds));
  let header = `${name}=${value}; Max-Age=${maxAge}; Path=${attrs.path ?? '/'}`;
  if (attrs.httpOnly ?? true) header += '; HttpOnly';
  const sameSite = attrs.sameSite ?? 'Lax';
  header += `; SameSite=${sameSite}`;
  // Browsers drop SameSite=None cookies that are not Secure.
  if (attrs.secure === true || sameSite === 'None') header += '; Secure';
  return header;
}
