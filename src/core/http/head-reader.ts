/**
 * Collects the bytes of one HTTP head across socket reads until CRLF CRLF arrives.
 * The common case (a whole head in one read) is served without copying; a head split
 * over reads is appended to a growable buffer and the end search resumes where it
 * stopped, so a head fed byte by byte costs linear time. Never holds more than
 * maxBytes plus one read.
 */
import { findHeadEnd } from './header-list.js';

export type HeadReadResult =
  | { readonly kind: 'incomplete' }
  | { readonly kind: 'complete'; readonly buf: Buffer; readonly end: number; readonly consumed: number; readonly rest: Buffer | undefined }
  | { readonly kind: 'too-large' }
  | { readonly kind: 'bare-lf' };

const INCOMPLETE: HeadReadResult = { kind: 'incomplete' };
const TOO_LARGE: HeadReadResult = { kind: 'too-large' };
const BARE_LF: HeadReadResult = { kind: 'bare-lf' };

export class HeadReader {
  private pending: Buffer | undefined;
  private len = 0;
  private scan = 0;
  private started = false;
  /** Bytes dropped as leading empty lines before the current head (they are part of `consumed`). */
  private skipped = 0;

  /**
   * @param maxBytes largest head accepted, CRLF CRLF included.
   * @param skipEmptyLines drop CRLFs before the head (RFC 9112 2.2 lets a server ignore them; clients send them after a body).
   */
  constructor(
    private readonly maxBytes: number,
    private readonly skipEmptyLines: boolean,
  ) {}

  /** True once a byte of a head (not a leading empty line) has arrived. */
  get inProgress(): boolean {
    return this.started || this.len > 0;
  }

  reset(): void {
    this.pending = undefined;
    this.len = 0;
    this.scan = 0;
    this.started = false;
    this.skipped = 0;
  }

  push(chunk: Buffer): HeadReadResult {
    let buf: Buffer;
    let len: number;
    if (this.len === 0) {
      buf = chunk;
      len = chunk.length;
    } else {
      this.append(chunk);
      buf = this.pending!;
      len = this.len;
    }
    if (!this.started && this.skipEmptyLines) {
      let start = 0;
      while (start + 1 < len && buf[start] === 0x0d && buf[start + 1] === 0x0a) start += 2;
      this.skipped += start;
      if (start === len || (start + 1 === len && buf[start] === 0x0d)) {
        // Only empty lines so far (maybe a CR whose LF is still coming): keep at most that CR.
        this.len = 0;
        this.scan = 0;
        if (start < len) this.keep(buf, start, len);
        return INCOMPLETE;
      }
      if (start > 0) {
        if (buf === chunk) {
          buf = chunk.subarray(start);
        } else {
          buf.copyWithin(0, start, len);
        }
        len -= start;
        this.len = buf === this.pending ? len : 0;
      }
    }
    this.started = true;
    const end = findHeadEnd(buf, 0, len, this.scan);
    if (end === -2) return this.fail(BARE_LF);
    if (end === -1) {
      if (len >= this.maxBytes) return this.fail(TOO_LARGE);
      if (buf !== this.pending) this.keep(buf, 0, len);
      this.scan = len;
      return INCOMPLETE;
    }
    if (end > this.maxBytes) return this.fail(TOO_LARGE);
    const consumed = this.skipped + end;
    const rest = end < len ? buf.subarray(end, len) : undefined;
    this.pending = undefined;
    this.len = 0;
    this.scan = 0;
    this.started = false;
    this.skipped = 0;
    return { kind: 'complete', buf, end, consumed, rest };
  }

  private fail(r: HeadReadResult): HeadReadResult {
    this.reset();
    return r;
  }

  /** Start a fresh pending buffer holding buf[start, end). */
  private keep(buf: Buffer, start: number, end: number): void {
    const n = end - start;
    const cap = Math.max(1024, n * 2);
    const p = Buffer.allocUnsafe(cap);
    buf.copy(p, 0, start, end);
    this.pending = p;
    this.len = n;
  }

  private append(chunk: Buffer): void {
    let p = this.pending!;
    const need = this.len + chunk.length;
    if (need > p.length) {
      const grown = Buffer.allocUnsafe(Math.max(p.length * 2, need));
      p.copy(grown, 0, 0, this.len);
      p = grown;
      this.pending = p;
    }
    chunk.copy(p, this.len);
    this.len = need;
  }
}
