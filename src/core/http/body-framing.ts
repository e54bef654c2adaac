/**
 * Where a message body ends, without touching its bytes: the proxy forwards raw buffers
 * and asks the framer how many bytes of each read belong to the current message, so
 * it knows when the message is complete and where a pipelined next one starts.
 * Chunked framing is parsed strictly (sizes, extensions, trailers, CRLFs): a lenient
 * chunk parser is a smuggling vector.
 */
import { FIELD_VALUE, HEX_VALUE, TOKEN } from './chars.js';

/** No body at all (GET without framing headers, 204, 304, HEAD responses, 1xx). */
export const BODY_NONE = 0;
/** Content-Length bytes. */
export const BODY_LENGTH = 1;
/** Transfer-Encoding: chunked. */
export const BODY_CHUNKED = 2;
/** Response delimited by the backend closing the connection. */
export const BODY_CLOSE = 3;
export type BodyKind = typeof BODY_NONE | typeof BODY_LENGTH | typeof BODY_CHUNKED | typeof BODY_CLOSE;

const S_SIZE_FIRST = 0;
const S_SIZE = 1;
const S_SIZE_WS = 2;
const S_EXT = 3;
const S_SIZE_LF = 4;
const S_DATA = 5;
const S_DATA_CR = 6;
const S_DATA_LF = 7;
const S_TRAILER_START = 8;
const S_TRAILER_NAME = 9;
const S_TRAILER_VALUE = 10;
const S_TRAILER_LF = 11;
const S_END_LF = 12;

/** A chunk size beyond 2^48 bytes (256 TiB) is an attack or garbage, not a body. */
const MAX_CHUNK_SIZE = 2 ** 48;
const MAX_EXTENSION_BYTES = 4096;
const DEFAULT_MAX_TRAILER_BYTES = 16_384;

export class BodyFramer {
  kind: BodyKind = BODY_NONE;
  /** The message is complete; further bytes belong to the next message. */
  done = true;
  /** Set when the framing is malformed; the connection must be closed. */
  error: string | undefined;
  /** Body bytes seen so far (framing bytes of chunked included). */
  bytes = 0;
  private remaining = 0;
  private state = S_SIZE_FIRST;
  private extBytes = 0;
  private trailerBytes = 0;

  constructor(private readonly maxTrailerBytes = DEFAULT_MAX_TRAILER_BYTES) {}

  /** Start framing a new message body. `length` is for BODY_LENGTH. */
  reset(kind: BodyKind, length = 0): this {
    this.kind = kind;
    this.error = undefined;
    this.bytes = 0;
    this.remaining = length;
    this.state = S_SIZE_FIRST;
    this.extBytes = 0;
    this.trailerBytes = 0;
    this.done = kind === BODY_NONE || (kind === BODY_LENGTH && length === 0);
    return this;
  }

  /**
   * How many bytes of buf[start, end) belong to this message, from `start`. After the
   * call, `done` tells whether the message ended within them. Returns -1 (and sets
   * `error`) on malformed framing.
   */
  feed(buf: Uint8Array, start = 0, end = buf.length): number {
    if (this.done || this.error !== undefined) return this.error !== undefined ? -1 : 0;
    let n: number;
    switch (this.kind) {
      case BODY_LENGTH: {
        n = Math.min(this.remaining, end - start);
        this.remaining -= n;
        if (this.remaining === 0) this.done = true;
        break;
      }
      case BODY_CLOSE:
        n = end - start;
        break;
      case BODY_CHUNKED:
        n = this.feedChunked(buf, start, end);
        break;
      default:
        n = 0;
    }
    if (n > 0) this.bytes += n;
    return n;
  }

  /**
   * The peer closed its side. Completes a close-delimited body; for any other framing
   * an unfinished message was truncated. Returns true when the message is complete.
   */
  endOfStream(): boolean {
    if (this.kind === BODY_CLOSE && this.error === undefined) this.done = true;
    return this.done;
  }

  private failChunk(reason: string): number {
    this.error = reason;
    return -1;
  }

  private feedChunked(buf: Uint8Array, start: number, end: number): number {
    let i = start;
    let state = this.state;
    while (i < end) {
      if (state === S_DATA) {
        const n = Math.min(this.remaining, end - i);
        i += n;
        this.remaining -= n;
        if (this.remaining === 0) state = S_DATA_CR;
        continue;
      }
      const c = buf[i]!;
      switch (state) {
        case S_SIZE_FIRST: {
          const d = HEX_VALUE[c]!;
          if (d < 0) return this.failChunk('invalid chunk size');
          this.remaining = d;
          state = S_SIZE;
          break;
        }
        case S_SIZE: {
          const d = HEX_VALUE[c]!;
          if (d >= 0) {
            this.remaining = this.remaining * 16 + d;
            if (this.remaining >= MAX_CHUNK_SIZE) return this.failChunk('chunk size too large');
          } else if (c === 0x0d) {
            state = S_SIZE_LF;
          } else if (c === 0x3b /* ; */) {
            this.extBytes = 0;
            state = S_EXT;
          } else if (c === 0x20 || c === 0x09) {
            state = S_SIZE_WS;
          } else {
            return this.failChunk('invalid chunk size');
          }
          break;
        }
        case S_SIZE_WS:
          if (c === 0x3b) {
            this.extBytes = 0;
            state = S_EXT;
          } else if (c !== 0x20 && c !== 0x09) {
            return this.failChunk('invalid chunk size line');
          }
          break;
        case S_EXT:
          if (c === 0x0d) state = S_SIZE_LF;
          else if (FIELD_VALUE[c] !== 1) return this.failChunk('invalid character in chunk extension');
          else if (++this.extBytes > MAX_EXTENSION_BYTES) return this.failChunk('chunk extension too long');
          break;
        case S_SIZE_LF:
          if (c !== 0x0a) return this.failChunk('chunk size line without LF');
          state = this.remaining === 0 ? S_TRAILER_START : S_DATA;
          break;
        case S_DATA_CR:
          if (c !== 0x0d) return this.failChunk('chunk data not followed by CRLF');
          state = S_DATA_LF;
          break;
        case S_DATA_LF:
          if (c !== 0x0a) return this.failChunk('chunk data not followed by CRLF');
          state = S_SIZE_FIRST;
          break;
        case S_TRAILER_START:
          if (c === 0x0d) state = S_END_LF;
          else if (TOKEN[c] === 1) state = S_TRAILER_NAME;
          else return this.failChunk('invalid trailer field');
          break;
        case S_TRAILER_NAME:
          if (c === 0x3a /* : */) state = S_TRAILER_VALUE;
          else if (TOKEN[c] !== 1) return this.failChunk('invalid trailer field name');
          break;
        case S_TRAILER_VALUE:
          if (c === 0x0d) state = S_TRAILER_LF;
          else if (FIELD_VALUE[c] !== 1) return this.failChunk('invalid character in trailer field');
          break;
        case S_TRAILER_LF:
          if (c !== 0x0a) return this.failChunk('trailer line without LF');
          state = S_TRAILER_START;
          break;
        case S_END_LF:
          if (c !== 0x0a) return this.failChunk('chunked body not terminated by CRLF');
          this.state = state;
          this.done = true;
          return i + 1 - start;
      }
      if (state >= S_TRAILER_START && ++this.trailerBytes > this.maxTrailerBytes) return this.failChunk('trailer section too large');
      i++;
    }
    this.state = state;
    return i - start;
  }
}
