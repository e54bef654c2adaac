/**
 * Who may use the admin API. The API can move the VIP (POST /failover), so:
 *  - with a token configured, every request needs `Authorization: Bearer <token>`,
 *    loopback included (compared in constant time, never logged);
 *  - without one, only loopback clients are served, and only when the Host header is a
 *    loopback name too: a web page the operator visits could otherwise reach
 *    127.0.0.1:9797 through DNS rebinding;
 *  - a browser request from another origin (an `Origin` header that is not this host)
 *    is refused either way, so no page can POST /failover or read /events behind the
 *    operator's back;
 *  - browsers: the dashboard page itself is served without the token (authorizePage),
 *    and a WebSocket may present it as a subprotocol (subprotocolToken).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { isLoopbackAddress } from '../../config/admin-schema.js';

export interface AuthOptions {
  /** The bearer token; undefined = none configured (loopback only). */
  token: Buffer | undefined;
  /** Injected so tests on 127.0.0.1 can exercise the beyond-loopback branch. */
  isLoopback(remoteAddress: string | undefined): boolean;
}

export interface AuthRequest {
  headers: IncomingHttpHeaders;
  remoteAddress: string | undefined;
  /** A token presented other than in `Authorization` (the WebSocket subprotocol: see subprotocolToken). */
  token?: string | undefined;
}

export type AuthResult = { ok: true } | { ok: false; status: 401 | 403; code: 'unauthorized' | 'forbidden'; message: string };

const digest = (b: Buffer | string): Buffer => createHash('sha256').update(b).digest();

/** Constant time whatever the lengths: both sides are hashed to 32 bytes first. */
export function tokenMatches(expected: Buffer, presented: string): boolean {
  return timingSafeEqual(digest(expected), digest(Buffer.from(presented, 'utf8')));
}

/** The bearer token of an Authorization header, or undefined. */
export function bearerToken(headers: IncomingHttpHeaders): string | undefined {
  const h = headers.authorization;
  if (h === undefined) return undefined;
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(h);
  return m?.[1];
}

/** `localhost:9797`, `127.0.0.1`, `[::1]:9797` -> the host without port or brackets. */
export function hostName(hostHeader: string): string {
  if (hostHeader.startsWith('[')) return hostHeader.slice(1, hostHeader.indexOf(']'));
  const colon = hostHeader.lastIndexOf(':');
  return colon < 0 ? hostHeader : hostHeader.slice(0, colon);
}

export const SUBPROTOCOL_PREFIX = 'bearer.';

/**
 * Browsers cannot set headers on a WebSocket, only offer subprotocols: the dashboard
 * offers `bearer.<base64url of the token>` (base64url because a subprotocol must be an
 * HTTP token and an admin token may hold any character). Never a query parameter: URLs
 * end up in logs and histories. Returns the offered value (to echo) and the token.
 */
export function subprotocolToken(headers: IncomingHttpHeaders): { protocol: string; token: string } | undefined {
  const offered = headers['sec-websocket-protocol'];
  if (offered === undefined) return undefined;
  for (const raw of offered.split(',')) {
    const protocol = raw.trim();
    if (!protocol.startsWith(SUBPROTOCOL_PREFIX)) continue;
    const encoded = protocol.slice(SUBPROTOCOL_PREFIX.length);
    if (!/^[A-Za-z0-9_-]+$/.test(encoded)) return undefined;
    return { protocol, token: Buffer.from(encoded, 'base64url').toString('utf8') };
  }
  return undefined;
}

/**
 * GET / (the dashboard page): with a token configured the page is served without one,
 * since a browser cannot send a bearer header when it navigates; the page holds no data
 * and no secret, and sends the token (from its URL fragment) on every request for data.
 * The Origin rule still holds; without a token, the rules are authorize's.
 */
export function authorizePage(req: AuthRequest, opts: AuthOptions): AuthResult {
  if (opts.token === undefined) return authorize(req, opts);
  const origin = req.headers.origin;
  if (origin !== undefined && !sameOrigin(origin, req.headers.host)) return CROSS_ORIGIN;
  return { ok: true };
}

const CROSS_ORIGIN: AuthResult = { ok: false, status: 403, code: 'forbidden', message: 'cross-origin requests are refused' };

function sameOrigin(origin: string, host: string | undefined): boolean {
  if (host === undefined) return false;
  try {
    return new URL(origin).host.toLowerCase() === host.toLowerCase();
  } catch {
    return false;
  }
}

export function authorize(req: AuthRequest, opts: AuthOptions): AuthResult {
  const origin = req.headers.origin;
  if (origin !== undefined && !sameOrigin(origin, req.headers.host)) {
    return CROSS_ORIGIN;
  }
  if (opts.token !== undefined) {
    const presented = bearerToken(req.headers) ?? req.token;
    if (presented !== undefined && tokenMatches(opts.token, presented)) return { ok: true };
    return { ok: false, status: 401, code: 'unauthorized', message: presented === undefined ? 'a bearer token is required (Authorization: Bearer <token>)' : 'the bearer token is wrong' };
  }
  if (!opts.isLoopback(req.remoteAddress)) {
    return { ok: false, status: 401, code: 'unauthorized', message: 'this node has no admin token configured (admin.token_file): only loopback clients are served' };
  }
  const host = req.headers.host;
  if (host !== undefined && !isLoopbackAddress(hostName(host))) {
    return { ok: false, status: 403, code: 'forbidden', message: 'without an admin token only a loopback Host header is served' };
  }
  return { ok: true };
}
