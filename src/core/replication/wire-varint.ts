/**
 * The byte-level primitives of the replication wire: unsigned LEB128 varints and
 * big-endian fixed-width integers on a growable writer and a bounds-checked reader.
 *
 * Varints carry 0 .. 2^53-1 (Number.MAX_SAFE_INTEGER) in at most 8 bytes. The reader
 * accepts only the minimal encoding, so every value has exactly one wire form and a
 * mutated frame cannot smuggle a second spelling past a digest or a test.
 *
 * Errors name where they happened: the reader's `what`/`index` (set by the frame
 * decoder, e.g. "record" and 3) prefix every message, the field and offset follow:
 * "record 3: key length 900 past end of frame at offset 41".
 */
import { Buffer } from 'node:buffer';
import { ReplicationFrameError } from './frame-error.js';

export const VARINT_MAX = Number.MAX_SAFE_INTEGER;
export const VARINT_MAX_BYTES = 8;

const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

function where(what: string, index: number): string {
  return index >= 0 ? `${what} ${index}` : what;
}

/** Bytes a varint of `v` takes (v already validated). */
export function varintLength(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

/**
 * Appends to one growable buffer that doubles when full, so a frame of 100k records
 * costs ~log2(size) allocations, not one per record.
 */
export class ByteWriter {
  /** Prefix of error messages, e.g. "record" with index 3; index -1 = no index. */
  what = 'frame';
  index = -1;
  private buf: Buffer;
  private len = 0;
  private grows = 0;

  constructor(initialCapacity = 256) {
    this.buf = Buffer.allocUnsafe(Math.max(16, initialCapacity));
  }

  get length(): number {
    return this.len;
  }

  /** Times the buffer was reallocated (a cost meter for tests). */
  get reallocations(): number {
    return this.grows;
  }

  fail(message: string, field: string): never {
    throw new ReplicationFrameError(`${where(this.what, this.index)}: ${message}`, field);
  }

  u8(v: number, field: string): void {
    if (!Number.isInteger(v) || v < 0 || v > 0xff) this.fail(`${field} ${v} is not an integer in 0..255`, field);
    this.reserve(1);
    this.buf[this.len++] = v;
  }

  u16(v: number, field: string): void {
    if (!Number.isInteger(v) || v < 0 || v > 0xffff) this.fail(`${field} ${v} is not an integer in 0..65535`, field);
    this.reserve(2);
    this.buf[this.len++] = v >>> 8;
    this.buf[this.len++] = v & 0xff;
  }

  u32(v: number, field: string): void {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) this.fail(`${field} ${v} is not an integer in 0..2^32-1`, field);
    this.reserve(4);
    this.buf.writeUInt32BE(v, this.len);
    this.len += 4;
  }

  varint(v: number, field: string): void {
    if (!Number.isSafeInteger(v) || v < 0) this.fail(`${field} ${v} is not an integer in 0..2^53-1`, field);
    this.reserve(VARINT_MAX_BYTES);
    // Bit operations are 32-bit: above 2^31 fall back to division.
    while (v >= 0x80000000) {
      this.buf[this.len++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    while (v >= 0x80) {
      this.buf[this.len++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[this.len++] = v;
  }

  bytes(b: Uint8Array): void {
    this.reserve(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  /** UTF-8 of `s`, whose byte length the caller measured (it went out as a prefix). */
  utf8(s: string, byteLength: number): void {
    this.reserve(byteLength);
    this.len += this.buf.write(s, this.len, byteLength, 'utf8');
  }

  /** An exact-size copy, so a frame kept in the replay buffer does not pin spare capacity. */
  finish(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.len));
  }

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const next = Buffer.allocUnsafe(cap);
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
    this.grows++;
  }
}

/** Reads a frame front to back; never reads past its end, throws only ReplicationFrameError. */
export class ByteReader {
  what = 'frame';
  index = -1;
  offset = 0;

  constructor(private readonly buf: Uint8Array) {}

  get remaining(): number {
    return this.buf.length - this.offset;
  }

  fail(message: string, field: string, offset = this.offset): never {
    throw new ReplicationFrameError(`${where(this.what, this.index)}: ${message} at offset ${offset}`, field, offset);
  }

  u8(field: string): number {
    this.need(1, field);
    return this.buf[this.offset++]!;
  }

  u16(field: string): number {
    this.need(2, field);
    const v = (this.buf[this.offset]! << 8) | this.buf[this.offset + 1]!;
    this.offset += 2;
    return v;
  }

  u32(field: string): number {
    this.need(4, field);
    const b = this.buf;
    const o = this.offset;
    this.offset += 4;
    return (b[o]! * 0x1000000 + ((b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!));
  }

  varint(field: string): number {
    const start = this.offset;
    let value = 0;
    let scale = 1;
    for (let i = 0; i < VARINT_MAX_BYTES; i++) {
      if (this.offset >= this.buf.length) this.fail(`${field} varint past end of frame`, field, start);
      const b = this.buf[this.offset++]!;
      value += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) {
        if (b === 0 && i > 0) this.fail(`${field} varint is not minimal`, field, start);
        if (value > VARINT_MAX) this.fail(`${field} ${value} exceeds 2^53-1`, field, start);
        return value;
      }
      scale *= 128;
    }
    return this.fail(`${field} varint longer than ${VARINT_MAX_BYTES} bytes`, field, start);
  }

  /** A view of the next n bytes (no copy). */
  bytes(n: number, field: string): Uint8Array {
    if (n > this.remaining) this.fail(`${field} length ${n} past end of frame`, field);
    const out = this.buf.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }

  /** n bytes of strict UTF-8 (an invalid sequence is a frame error, not U+FFFD). */
  utf8(n: number, field: string): string {
    const start = this.offset;
    const raw = this.bytes(n, field);
    try {
      return utf8Decoder.decode(raw);
    } catch {
      return this.fail(`${field} is not valid UTF-8`, field, start);
    }
  }

  /** Trailing bytes mean the peer and we disagree on the layout: reject rather than ignore. */
  expectEnd(): void {
    if (this.remaining !== 0) {
      this.what = 'frame';
      this.index = -1;
      this.fail(`${this.remaining} trailing bytes`, 'end');
    }
  }

  private need(n: number, field: string): void {
    if (n > this.remaining) this.fail(`${field} (${n} bytes) past end of frame`, field);
  }
}
