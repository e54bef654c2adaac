/**
 * HTTP/1.0 and HTTP/1.1 request heads, parsed strictly: anything two parsers could
 * disagree about (the root of request smuggling) is rejected rather than guessed.
 * `parseRequestHead` works on one contiguous buffer; `RequestHeadParser` feeds it from
 * socket reads of any size.
 */
import type { HttpRouteInput } from '../service/dispatcher-types.js';
import { allIn, HOST, isToken, TARGET, TOKEN } from './chars.js';
import { HeadReader } from './head-reader.js';
import { HeaderList, listTokens, parseContentLength, parseFieldLines, TOO_MANY_FIELDS } from './header-list.js';

export type RequestErrorStatus = 400 | 431 | 501 | 505;

export type RequestHeadResult =
  | { readonly kind: 'incomplete' }
  | { readonly kind: 'head'; readonly head: RequestHead; readonly consumed: number }
  | { readonly kind: 'error'; readonly status: RequestErrorStatus; readonly reason: string };

/** A parser result that also hands back the bytes after the head (body or next request). */
export type RequestPushResult =
  | { readonly kind: 'incomplete' }
  | { readonly kind: 'head'; readonly head: RequestHead; readonly consumed: number; readonly rest: Buffer | undefined }
  | { readonly kind: 'error'; readonly status: RequestErrorStatus; readonly reason: string };

export const DEFAULT_MAX_HEADERS = 100;

/** Transfer codings we can frame around (we forward them untouched; only chunked delimits). */
const KNOWN_CODINGS = new Set(['chunked', 'gzip', 'x-gzip', 'deflate', 'compress', 'x-compress']);

export class RequestHead implements HttpRouteInput {
  constructor(
    readonly method: string,
    /** The request target exactly as sent. */
    readonly target: string,
    readonly versionMinor: 0 | 1,
    /** The request line without CRLF, forwarded unchanged. */
    readonly requestLine: string,
    readonly headers: HeaderList,
    /** Authority of an absolute-form target, else the Host header value; undefined when neither. */
    readonly host: string | undefined,
    /** The target's path without query or fragment ("*" for OPTIONS *). */
    readonly path: string,
    /** -1 when there is no Content-Length. */
    readonly contentLength: number,
    readonly chunked: boolean,
    /** The client wants the connection kept open after this exchange. */
    readonly keepAlive: boolean,
    /** Connection: upgrade with an Upgrade header (HTTP/1.1 only). */
    readonly upgrade: boolean,
    /** Lower-case tokens of all Connection headers. */
    readonly connectionTokens: readonly string[],
    /** Bytes of the head, CRLF CRLF included (leading empty lines excluded). */
    readonly headBytes: number,
  ) {}

  /** True when a body follows the head. */
  get hasBody(): boolean {
    return this.chunked || this.contentLength > 0;
  }

  header(name: string): string | undefined {
    return this.headers.get(name);
  }
}

type Failure = { readonly kind: 'error'; readonly status: RequestErrorStatus; readonly reason: string };

function fail(status: RequestErrorStatus, reason: string): Failure {
  return { kind: 'error', status, reason };
}

/**
 * Parse one request head at the start of `buf` (leading empty lines are skipped).
 * `incomplete` when CRLF CRLF has not arrived and the limit is not reached.
 */
export function parseRequestHead(buf: Buffer, maxHeadBytes: number, maxHeaders = DEFAULT_MAX_HEADERS): RequestHeadResult {
  const r = new RequestHeadParser(maxHeadBytes, maxHeaders).push(buf);
  if (r.kind !== 'head') return r;
  return { kind: 'head', head: r.head, consumed: r.consumed };
}

/** Incremental request head parser for one client connection; reusable across requests. */
export class RequestHeadParser {
  private readonly reader: HeadReader;

  constructor(
    maxHeadBytes: number,
    private readonly maxHeaders = DEFAULT_MAX_HEADERS,
  ) {
    this.reader = new HeadReader(maxHeadBytes, true);
  }

  /** True once part of a head has arrived (the header timeout runs from then). */
  get inProgress(): boolean {
    return this.reader.inProgress;
  }

  reset(): void {
    this.reader.reset();
  }

  push(chunk: Buffer): RequestPushResult {
    const r = this.reader.push(chunk);
    switch (r.kind) {
      case 'incomplete':
        return r;
      case 'too-large':
        return fail(431, 'request header block too large');
      case 'bare-lf':
        return fail(400, 'line ending without CR');
      case 'complete': {
        const head = decodeRequestHead(r.buf, r.end, this.maxHeaders);
        if (head.kind === 'error') return head;
        return { kind: 'head', head: head.head, consumed: r.consumed, rest: r.rest };
      }
    }
  }
}

function decodeRequestHead(buf: Buffer, end: number, maxHeaders: number): { kind: 'head'; head: RequestHead } | Failure {
  const s = buf.toString('latin1', 0, end);
  const eol = s.indexOf('\r\n');
  const sp1 = s.indexOf(' ');
  if (sp1 <= 0 || sp1 > eol) return fail(400, 'malformed request line');
  const sp2 = s.indexOf(' ', sp1 + 1);
  if (sp2 < 0 || sp2 > eol || sp2 === sp1 + 1) return fail(400, 'malformed request line');
  if (!allIn(TOKEN, s, 0, sp1)) return fail(400, 'invalid method');
  if (!allIn(TARGET, s, sp1 + 1, sp2)) return fail(400, 'invalid character in request target');
  const method = s.slice(0, sp1);
  const target = s.slice(sp1 + 1, sp2);
  const version = s.slice(sp2 + 1, eol);
  let minor: 0 | 1;
  if (version === 'HTTP/1.1') minor = 1;
  else if (version === 'HTTP/1.0') minor = 0;
  else if (/^HTTP\/\d\.\d$/.test(version)) return fail(505, `unsupported version ${version}`);
  else return fail(400, 'malformed HTTP version');
  if (method === 'CONNECT') return fail(501, 'CONNECT is not supported');

  const headers = new HeaderList();
  const bad = parseFieldLines(s, eol + 2, maxHeaders, headers);
  if (bad !== undefined) return fail(bad === TOO_MANY_FIELDS ? 431 : 400, bad);

  // Target form (RFC 9112 3.2): origin, absolute, or asterisk for OPTIONS.
  let path: string;
  let authority: string | undefined;
  const c0 = target.charCodeAt(0);
  if (c0 === 0x2f /* / */) {
    path = cutQuery(target, 0);
  } else if (target === '*') {
    if (method !== 'OPTIONS') return fail(400, 'asterisk target is only for OPTIONS');
    path = '*';
  } else {
    const m = /^https?:\/\//i.exec(target);
    if (!m) return fail(400, 'malformed request target');
    const from = m[0].length;
    let to = from;
    while (to < target.length) {
      const c = target.charCodeAt(to);
      if (c === 0x2f || c === 0x3f || c === 0x23) break;
      to++;
    }
    authority = target.slice(from, to);
    if (authority === '' || !allIn(HOST, authority, 0, authority.length)) return fail(400, 'invalid authority in request target');
    const p = to < target.length && target.charCodeAt(to) === 0x2f ? cutQuery(target, to) : '';
    path = p === '' ? '/' : p;
  }

  let host: string | undefined;
  const hostCount = headers.count('host');
  if (hostCount > 1) return fail(400, 'multiple Host headers');
  if (hostCount === 1) {
    host = headers.get('host')!;
    if (!allIn(HOST, host, 0, host.length)) return fail(400, 'invalid Host header');
  } else if (minor === 1) {
    return fail(400, 'missing Host header');
  }
  if (authority !== undefined) host = authority;

  let contentLength = -1;
  let chunked = false;
  const te = headers.getAll('transfer-encoding');
  const cl = headers.getAll('content-length');
  if (te.length > 0) {
    // The classic smuggling pair: front and back ends pick different framings.
    if (cl.length > 0) return fail(400, 'both Content-Length and Transfer-Encoding');
    if (minor === 0) return fail(400, 'Transfer-Encoding in an HTTP/1.0 request');
    const codings = listTokens(te);
    if (codings.length === 0) return fail(400, 'empty Transfer-Encoding');
    for (let i = 0; i < codings.length; i++) {
      const coding = codings[i]!;
      if (!isToken(coding)) return fail(400, 'malformed Transfer-Encoding');
      if (coding === 'chunked' && i !== codings.length - 1) return fail(400, 'chunked is not the final transfer coding');
      if (!KNOWN_CODINGS.has(coding)) return fail(501, `unsupported transfer coding ${coding}`);
    }
    if (codings[codings.length - 1] !== 'chunked') return fail(400, 'chunked is not the final transfer coding');
    chunked = true;
  } else if (cl.length > 0) {
    const n = parseContentLength(cl);
    if (typeof n === 'string') return fail(400, n);
    contentLength = n;
  }

  const connectionTokens = headers.get('connection') === undefined ? NO_TOKENS : listTokens(headers.getAll('connection'));
  const close = connectionTokens.includes('close');
  const keepAlive = minor === 1 ? !close : !close && connectionTokens.includes('keep-alive');
  const upgrade = minor === 1 && connectionTokens.includes('upgrade') && headers.get('upgrade') !== undefined;

  const head = new RequestHead(method, target, minor, s.slice(0, eol), headers, host, path, contentLength, chunked, keepAlive, upgrade, connectionTokens, end);
  return { kind: 'head', head };
}

const NO_TOKENS: readonly string[] = Object.freeze([]);

function cutQuery(target: string, from: number): string {
  let end = target.length;
  const q = target.indexOf('?', from);
  if (q >= 0) end = q;
  const h = target.indexOf('#', from);
  if (h >= 0 && h < end) end = h;
  return from === 0 && end === target.length ? target : target.slice(from, end);
}
