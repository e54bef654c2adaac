/**
 * The heads a proxy sends on: the original request (or status) line and field lines,
 * minus hop-by-hop fields, plus the client address (X-Forwarded-For, Forwarded,
 * X-Forwarded-Proto) and our own Connection field. Each head is built as one latin1
 * string (joined with the first body bytes when they came in the same read): a single
 * write per head.
 */
import { TOKEN, allIn } from './chars.js';
import type { RequestHead } from './request-head.js';
import type { ResponseHead } from './response-head.js';

/** Hop-by-hop fields (RFC 9110 7.6.1) plus X-Forwarded-Proto, which we set ourselves. */
const REQUEST_DROP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'upgrade', 'x-forwarded-proto']);
const RESPONSE_DROP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'upgrade']);
/**
 * Never dropped because Connection names them: "Connection: Content-Length" is a known
 * trick to make a proxy strip framing so the next hop reads the body as a new request.
 */
const PROTECTED = new Set(['host', 'content-length', 'transfer-encoding', 'x-forwarded-for']);

/** A Forwarded node (RFC 7239 6): IPv6 literals are bracketed and quoted. */
export function forwardedNode(ip: string): string {
  return ip.indexOf(':') >= 0 ? `"[${ip}]"` : ip;
}

/** A Forwarded parameter value: a token as is, anything else as a quoted-string. */
export function forwardedValue(v: string): string {
  if (v.length > 0 && allIn(TOKEN, v, 0, v.length)) return v;
  return `"${v.replace(/["\\]/g, '\\$&')}"`;
}

function dropByConnection(tokens: readonly string[], name: string): boolean {
  return tokens.length > 0 && tokens.includes(name) && !PROTECTED.has(name);
}

/** Head text followed by body bytes in one Buffer: one allocation, one write. */
export function joinHead(head: string, body: Uint8Array | readonly Uint8Array[]): Buffer {
  const parts: readonly Uint8Array[] = body instanceof Uint8Array ? [body] : body;
  let total = head.length;
  for (const p of parts) total += p.length;
  const out = Buffer.allocUnsafe(total);
  let at = out.write(head, 0, 'latin1');
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * The request head for the backend. `clientIp` is the peer address of the client socket.
 * Upgrade requests keep their Upgrade field and get `Connection: Upgrade`; all others get
 * `Connection: keep-alive` so the backend connection can be pooled.
 */
export function buildRequestHead(head: RequestHead, clientIp: string): Buffer {
  return Buffer.from(requestHeadString(head, clientIp), 'latin1');
}

/** buildRequestHead as a latin1 string (sockets write those without an intermediate Buffer). */
export function requestHeadString(head: RequestHead, ip: string): string {
  const { lines, names } = head.headers;
  const tokens = head.connectionTokens;
  let out = head.requestLine + '\r\n';
  let xff: string | undefined;
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    if (REQUEST_DROP.has(name)) {
      if (!(name === 'upgrade' && head.upgrade)) continue;
    } else if (dropByConnection(tokens, name)) {
      continue;
    } else if (name === 'x-forwarded-for') {
      const v = head.headers.values[i]!;
      if (v !== '') xff = xff === undefined ? v : `${xff}, ${v}`;
      continue;
    }
    out += lines[i]! + '\r\n';
  }
  out += `X-Forwarded-For: ${xff === undefined ? ip : `${xff}, ${ip}`}\r\nX-Forwarded-Proto: http\r\nForwarded: for=${forwardedNode(ip)};proto=http`;
  if (head.host !== undefined && head.host !== '') out += `;host=${forwardedValue(head.host)}`;
  out += head.upgrade ? '\r\nConnection: Upgrade\r\n\r\n' : '\r\nConnection: keep-alive\r\n\r\n';
  return out;
}

export interface ResponseRewrite {
  /** A Set-Cookie value to add (persistence). Values with CR or LF are ignored. */
  readonly setCookie?: string | undefined;
  /** The client connection closes after this response. */
  readonly close: boolean;
  /** The client's HTTP minor version: 1.0 clients need an explicit keep-alive. */
  readonly clientMinor: 0 | 1;
  /** A 101 for an upgrade the proxy will tunnel: keep Upgrade, send Connection: Upgrade. */
  readonly upgraded?: boolean;
}

export function buildResponseHead(head: ResponseHead, opts: ResponseRewrite): Buffer {
  return Buffer.from(responseHeadString(head, opts), 'latin1');
}

/** buildResponseHead as a latin1 string. */
export function responseHeadString(head: ResponseHead, opts: ResponseRewrite): string {
  const { lines, names } = head.headers;
  const tokens = head.connectionTokens;
  const upgraded = opts.upgraded === true;
  let out = head.statusLine + '\r\n';
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    if (RESPONSE_DROP.has(name)) {
      if (!(name === 'upgrade' && upgraded)) continue;
    } else if (dropByConnection(tokens, name)) {
      continue;
    }
    out += lines[i]! + '\r\n';
  }
  const cookie = opts.setCookie;
  if (cookie !== undefined && cookie !== '' && !/[\r\n\0]/.test(cookie)) out += `Set-Cookie: ${cookie}\r\n`;
  if (upgraded) out += 'Connection: Upgrade\r\n';
  else if (opts.close) out += 'Connection: close\r\n';
  else if (opts.clientMinor === 0) out += 'Connection: keep-alive\r\n';
  out += '\r\n';
  return out;
}

/** An informational (1xx, not 101) head relayed to the client: hop-by-hop fields removed. */
export function buildInformationalHead(head: ResponseHead): Buffer {
  return buildResponseHead(head, { close: false, clientMinor: 1 });
}
