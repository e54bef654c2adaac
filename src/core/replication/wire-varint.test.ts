import { describe, expect, it } from 'vitest';
import { ReplicationFrameError } from './frame-error.js';
import { ByteReader, ByteWriter, VARINT_MAX, varintLength } from './wire-varint.js';

function varint(v: number): Uint8Array {
  const w = new ByteWriter();
  w.varint(v, 'v');
  return w.finish();
}

function caught(fn: () => unknown): ReplicationFrameError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ReplicationFrameError);
    return err as ReplicationFrameError;
  }
  throw new Error('expected a ReplicationFrameError');
}

describe('varint', () => {
  it('encodes the LEB128 reference values', () => {
    expect([...varint(0)]).toEqual([0]);
    expect([...varint(1)]).toEqual([1]);
    expect([...varint(127)]).toEqual([0x7f]);
    expect([...varint(128)]).toEqual([0x80, 0x01]);
    expect([...varint(300)]).toEqual([0xac, 0x02]);
    expect([...varint(16384)]).toEqual([0x80, 0x80, 0x01]);
    expect([...varint(VARINT_MAX)]).toEqual([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f]);
  });

  it('round-trips values across every byte length and the 2^31/2^32 boundaries', () => {
    const values = [0, 1, 127, 128, 2 ** 14 - 1, 2 ** 14, 2 ** 21, 2 ** 28 - 1, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 35 + 7, 2 ** 49, 2 ** 52 + 3, VARINT_MAX];
    const w = new ByteWriter(16);
    for (const v of values) w.varint(v, 'v');
    const r = new ByteReader(w.finish());
    for (const v of values) expect(r.varint('v')).toBe(v);
    r.expectEnd();
    for (const v of values) expect(varint(v).length).toBe(varintLength(v));
  });

  it('refuses to encode negatives, fractions and values past 2^53-1, naming the field', () => {
    for (const bad of [-1, 1.5, VARINT_MAX + 1, Number.NaN, Number.POSITIVE_INFINITY]) {
      const err = caught(() => new ByteWriter().varint(bad, 'ttlMs'));
      expect(err.field).toBe('ttlMs');
      expect(err.message).toContain('ttlMs');
    }
  });

  it('rejects a varint running past the end, with field and offset', () => {
    const r = new ByteReader(Uint8Array.from([0x05, 0x80, 0x80]));
    r.what = 'record';
    r.index = 3;
    expect(r.u8('flags')).toBe(5);
    const err = caught(() => r.varint('ttlMs'));
    expect(err.message).toBe('record 3: ttlMs varint past end of frame at offset 1');
    expect(err.offset).toBe(1);
    expect(err.code).toBe('HALO_ERR_REPL_FRAME');
  });

  it('rejects non-minimal, too long and too large varints', () => {
    expect(caught(() => new ByteReader(Uint8Array.from([0x81, 0x00])).varint('seq')).message).toContain('seq varint is not minimal');
    expect(caught(() => new ByteReader(new Uint8Array(9).fill(0x80)).varint('seq')).message).toContain('longer than 8 bytes');
    const tooBig = Uint8Array.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10]);
    expect(caught(() => new ByteReader(tooBig).varint('seq')).message).toContain('exceeds 2^53-1');
  });
});

describe('ByteReader', () => {
  it('reads fixed-width big-endian integers', () => {
    const w = new ByteWriter();
    w.u8(0xab, 'a');
    w.u16(0xbeef, 'b');
    w.u32(0xfedcba98, 'c');
    const r = new ByteReader(w.finish());
    expect([r.u8('a'), r.u16('b'), r.u32('c')]).toEqual([0xab, 0xbeef, 0xfedcba98]);
  });

  it('names the field, length and offset when bytes run past the end', () => {
    const r = new ByteReader(new Uint8Array(45));
    r.offset = 41;
    r.what = 'record';
    r.index = 3;
    const err = caught(() => r.bytes(900, 'key'));
    expect(err.message).toBe('record 3: key length 900 past end of frame at offset 41');
    expect(err.field).toBe('key');
  });

  it('rejects truncated fixed-width fields and trailing bytes', () => {
    expect(caught(() => new ByteReader(Uint8Array.from([1, 2, 3])).u32('epoch')).message).toBe('frame: epoch (4 bytes) past end of frame at offset 0');
    const r = new ByteReader(Uint8Array.from([1, 2]));
    r.u8('type');
    expect(caught(() => r.expectEnd()).message).toBe('frame: 1 trailing bytes at offset 1');
  });

  it('rejects invalid UTF-8 instead of replacing it', () => {
    const r = new ByteReader(Uint8Array.from([0xc3, 0x28]));
    expect(caught(() => r.utf8(2, 'key')).message).toContain('key is not valid UTF-8');
  });
});

describe('ByteWriter', () => {
  it('grows by doubling: 100k varints cost a handful of reallocations', () => {
    const w = new ByteWriter(64);
    for (let i = 0; i < 100_000; i++) w.varint(i, 'v');
    // 128 one-byte, 16256 two-byte and 83616 three-byte varints.
    expect(w.length).toBe(128 + 16_256 * 2 + 83_616 * 3);
    expect(w.reallocations).toBeLessThanOrEqual(13);
  });

  it('writes UTF-8 with the measured length and finishes with an exact-size copy', () => {
    const w = new ByteWriter(16);
    const s = 'héllo ✓ 😀'.repeat(10);
    w.utf8(s, Buffer.byteLength(s));
    const out = w.finish();
    expect(out.length).toBe(Buffer.byteLength(s));
    expect(out.toString('utf8')).toBe(s);
  });

  it('refuses out-of-range fixed-width values', () => {
    expect(caught(() => new ByteWriter().u8(256, 'flags')).field).toBe('flags');
    expect(caught(() => new ByteWriter().u16(65536, 'clientPort')).message).toContain('clientPort 65536');
    expect(caught(() => new ByteWriter().u32(-1, 'epoch')).message).toContain('epoch -1');
  });
});
