/**
 * HTTP/1.x response heads from backends, parsed as strictly as requests: a response we
 * cannot frame unambiguously is answered to the client as 502 rather than forwarded.
 */
import { allIn, FIELD_VALUE, isToken } from './chars.js';
import { BODY_CHUNKED, BODY_CLOSE, BODY_LENGTH, BODY_NONE, type BodyKind } from './body-framing.js';
import { HeadReader } from './head-reader.js';
import { HeaderList, listTokens, parseContentLength, parseFieldLines } from './header-list.js';

export type ResponseHeadResult =
  | { readonly kind: 'incomplete' }
  | { readonly kind: 'head'; readonly head: ResponseHead; readonly consumed: number }
  | { readonly kind: 'error'; readonly reason: string };

export type ResponsePushResult =
  | { readonly kind: 'incomplete' }
  | { readonly kind: 'head'; readonly head: ResponseHead; readonly consumed: number; readonly rest: Buffer | undefined }
  | { readonly kind: 'error'; readonly reason: string };

export const DEFAULT_MAX_RESPONSE_HEAD_BYTES = 65_536;
export const DEFAULT_MAX_RESPONSE_HEADERS = 200;

export class ResponseHead {
  constructor(
    readonly versionMinor: 0 | 1,
    readonly status: number,
    /** The status line without CRLF, forwarded unchanged. */
    readonly statusLine: string,
    readonly headers: HeaderList,
    /** -1 when there is no Content-Length. */
    readonly contentLength: number,
    /** Transfer-Encoding present: chunked when it is the final coding, else close-delimited. */
    readonly transferEncoded: boolean,
    readonly chunked: boolean,
    /** The backend will keep the connection open after this response. */
    readonly keepAlive: boolean,
    readonly connectionTokens: readonly string[],
    readonly headBytes: number,
  ) {}

  /** 1xx: another head follows (101 switches protocols instead). */
  get informational(): boolean {
    return this.status < 200;
  }
}

/** How the body of `head` is delimited, given the request it answers (RFC 9112 6.3). */
export function responseBodyKind(head: ResponseHead, requestMethod: string): { kind: BodyKind; length: number } {
  const s = head.status;
  if (s < 200 || s === 204 || s === 304 || requestMethod === 'HEAD') return { kind: BODY_NONE, length: 0 };
  if (head.transferEncoded) return { kind: head.chunked ? BODY_CHUNKED : BODY_CLOSE, length: 0 };
  if (head.contentLength >= 0) return { kind: BODY_LENGTH, length: head.contentLength };
  return { kind: BODY_CLOSE, length: 0 };
}

type Failure = { readonly kind: 'error'; readonly reason: string };

/** Parse one response head at the start of `buf`. */
export function parseResponseHead(buf: Buffer, maxHeadBytes = DEFAULT_MAX_RESPONSE_HEAD_BYTES, maxHeaders = DEFAULT_MAX_RESPONSE_HEADERS): ResponseHeadResult {
  const r = new ResponseHeadParser(maxHeadBytes, maxHeaders).push(buf);
  if (r.kind !== 'head') return r;
  return { kind: 'head', head: r.head, consumed: r.consumed };
}

/** Incremental response head parser for one backend connection; reusable. */
export class ResponseHeadParser {
  private readonly reader: HeadReader;

  constructor(
    maxHeadBytes = DEFAULT_MAX_RESPONSE_HEAD_BYTES,
    private readonly maxHeaders = DEFAULT_MAX_RESPONSE_HEADERS,
  ) {
    this.reader = new HeadReader(maxHeadBytes, false);
  }

  get inProgress(): boolean {
    return this.reader.inProgress;
  }

  reset(): void {
    this.reader.reset();
  }

  push(chunk: Buffer): ResponsePushResult {
    const r = this.reader.push(chunk);
    switch (r.kind) {
      case 'incomplete':
        return r;
      case 'too-large':
        return { kind: 'error', reason: 'response header block too large' };
      case 'bare-lf':
        return { kind: 'error', reason: 'line ending without CR' };
      case 'complete': {
        const head = decodeResponseHead(r.buf, r.end, this.maxHeaders);
        if (!(head instanceof ResponseHead)) return head;
        return { kind: 'head', head, consumed: r.consumed, rest: r.rest };
      }
    }
  }
}

function fail(reason: string): Failure {
  return { kind: 'error', reason };
}

function decodeResponseHead(buf: Buffer, end: number, maxHeaders: number): ResponseHead | Failure {
  const s = buf.toString('latin1', 0, end);
  const eol = s.indexOf('\r\n');
  // "HTTP/1.1 200" with or without a reason phrase.
  if (eol < 12 || s.charCodeAt(8) !== 0x20 || (eol > 12 && s.charCodeAt(12) !== 0x20)) return fail('malformed status line');
  const version = s.slice(0, 8);
  let minor: 0 | 1;
  if (version === 'HTTP/1.1') minor = 1;
  else if (version === 'HTTP/1.0') minor = 0;
  else return fail('unsupported response version');
  let status = 0;
  for (let i = 9; i < 12; i++) {
    const d = s.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return fail('malformed status code');
    status = status * 10 + d;
  }
  if (status < 100 || status > 599) return fail('status code out of range');
  if (eol > 13 && !allIn(FIELD_VALUE, s, 13, eol)) return fail('invalid character in reason phrase');

  const headers = new HeaderList();
  const bad = parseFieldLines(s, eol + 2, maxHeaders, headers);
  if (bad !== undefined) return fail(bad);

  let contentLength = -1;
  let transferEncoded = false;
  let chunked = false;
  const te = headers.getAll('transfer-encoding');
  const cl = headers.getAll('content-length');
  if (te.length > 0) {
    // RFC 9112 lets TE override CL, but a client behind us might not agree: refuse to relay ambiguity.
    if (cl.length > 0) return fail('both Content-Length and Transfer-Encoding');
    const codings = listTokens(te);
    if (codings.length === 0) return fail('empty Transfer-Encoding');
    for (let i = 0; i < codings.length; i++) {
      const coding = codings[i]!;
      if (!isToken(coding)) return fail('malformed Transfer-Encoding');
      if (coding === 'chunked' && i !== codings.length - 1) return fail('chunked is not the final transfer coding');
    }
    transferEncoded = true;
    chunked = codings[codings.length - 1] === 'chunked';
  } else if (cl.length > 0) {
    const n = parseContentLength(cl);
    if (typeof n === 'string') return fail(n);
    contentLength = n;
  }

  const connectionTokens = headers.get('connection') === undefined ? NO_TOKENS : listTokens(headers.getAll('connection'));
  const close = connectionTokens.includes('close');
  const keepAlive = minor === 1 ? !close : !close && connectionTokens.includes('keep-alive');
  return new ResponseHead(minor, status, s.slice(0, eol), headers, contentLength, transferEncoded, chunked, keepAlive, connectionTokens, end);
}

const NO_TOKENS: readonly string[] = Object.freeze([]);
