/**
 * Replication frames: one WebSocket binary message each, first byte = frame type.
 * Integers: u32 big-endian, varints unsigned LEB128 (wire-varint.ts).
 *
 *   DICT            1 | count varint | count x (id varint, length u8, UTF-8)
 *   UPDATES         2 | epoch u32 | firstSeq varint | count varint | count x record (record i has seq firstSeq+i)
 *   SNAPSHOT_CHUNK  3 | snapshotId varint | chunk varint | count varint | count x record (sets only)
 *   DIGEST          4 | epoch u32 | atSeq varint | count varint | count x (table id varint, entries varint, digest hi u32, lo u32)
 *   ACK             5 | epoch u32 | seq varint (highest contiguous seq applied)
 *
 * Strings in records and digests are dictionary ids: a DICT frame defining them must
 * reach the standby first. encodeFrames() returns that DICT frame (when new strings
 * appeared) followed by the frame, in sending order. decodeFrame() of a DICT frame
 * applies its definitions to the receiver's dictionary (all or none).
 *
 * decodeFrame throws nothing but ReplicationFrameError, never reads past the buffer,
 * rejects trailing bytes, and checks every count against a limit and against the bytes
 * left before allocating for it.
 */
import { Buffer } from 'node:buffer';
import { DICT_MAX_ENTRIES, DICT_MAX_STRING_BYTES, type DictEntry, type WireDictionary } from './dictionary.js';
import { MIN_RECORD_BYTES, readRecord, writeRecord, type ReplicationRecord, type SetRecord } from './wire-records.js';
import { ReplicationFrameError } from './frame-error.js';
import { ByteReader, ByteWriter } from './wire-varint.js';

export const FRAME_TYPE = { dict: 1, updates: 2, snapshot_chunk: 3, digest: 4, ack: 5 } as const;
export type FrameType = keyof typeof FRAME_TYPE;

export const MAX_RECORDS_PER_FRAME = 100_000;
export const MAX_DIGEST_TABLES = 4_096;

/** One table's digest: `digest` is the 64-bit TableDigest value (high word = sum of hash A). */
export interface DigestTableEntry {
  readonly table: string;
  readonly count: number;
  readonly digest: bigint;
}

export type Frame =
  | { readonly type: 'dict'; readonly entries: readonly DictEntry[] }
  | { readonly type: 'updates'; readonly epoch: number; readonly firstSeq: number; readonly records: readonly ReplicationRecord[] }
  | { readonly type: 'snapshot_chunk'; readonly snapshotId: number; readonly chunk: number; readonly records: readonly SetRecord[] }
  | { readonly type: 'digest'; readonly epoch: number; readonly atSeq: number; readonly tables: readonly DigestTableEntry[] }
  | { readonly type: 'ack'; readonly epoch: number; readonly seq: number };

const MIN_DICT_ENTRY_BYTES = 2;
const MIN_DIGEST_TABLE_BYTES = 10;

function writeCount(w: ByteWriter, n: number, max: number, field: string): void {
  if (n > max) w.fail(`${field} ${n} exceeds ${max}`, field);
  w.varint(n, field);
}

function internTable(w: ByteWriter, dict: WireDictionary, table: string): number {
  try {
    return dict.intern(table, 'table');
  } catch (err) {
    if (err instanceof ReplicationFrameError) w.fail(err.message, 'table');
    throw err;
  }
}

function writeRecords(w: ByteWriter, records: readonly ReplicationRecord[], dict: WireDictionary, setsOnly: boolean): void {
  writeCount(w, records.length, MAX_RECORDS_PER_FRAME, 'record count');
  w.what = 'record';
  for (let i = 0; i < records.length; i++) {
    w.index = i;
    const rec = records[i]!;
    if (setsOnly && rec.op !== 'set') w.fail('delete in a snapshot chunk', 'op');
    writeRecord(w, rec, dict);
  }
  w.what = 'frame';
  w.index = -1;
}

/**
 * Encode one frame. Records and digests intern their strings in `dict` (the sender's):
 * send dict.takeNew() in a DICT frame first, or use encodeFrames().
 */
export function encodeFrame(frame: Frame, dict: WireDictionary): Buffer {
  let w: ByteWriter;
  switch (frame.type) {
    case 'dict': {
      w = new ByteWriter(16 + frame.entries.length * 24);
      w.what = 'dict';
      w.u8(FRAME_TYPE.dict, 'type');
      writeCount(w, frame.entries.length, DICT_MAX_ENTRIES, 'entry count');
      w.what = 'dict entry';
      for (let i = 0; i < frame.entries.length; i++) {
        w.index = i;
        const { id, value } = frame.entries[i]!;
        w.varint(id, 'id');
        const bytes = Buffer.byteLength(value, 'utf8');
        if (bytes > DICT_MAX_STRING_BYTES) w.fail(`string of ${bytes} bytes exceeds ${DICT_MAX_STRING_BYTES}`, 'string');
        w.u8(bytes, 'string length');
        w.utf8(value, bytes);
      }
      break;
    }
    case 'updates':
      w = new ByteWriter(16 + frame.records.length * 16);
      w.what = 'updates';
      if (frame.records.length === 0) w.fail('no records', 'record count');
      w.u8(FRAME_TYPE.updates, 'type');
      w.u32(frame.epoch, 'epoch');
      if (frame.firstSeq < 1) w.fail(`firstSeq ${frame.firstSeq} is below 1`, 'firstSeq');
      w.varint(frame.firstSeq, 'firstSeq');
      if (frame.firstSeq + frame.records.length - 1 > Number.MAX_SAFE_INTEGER) w.fail('last seq exceeds 2^53-1', 'firstSeq');
      writeRecords(w, frame.records, dict, false);
      break;
    case 'snapshot_chunk':
      w = new ByteWriter(16 + frame.records.length * 16);
      w.what = 'snapshot chunk';
      w.u8(FRAME_TYPE.snapshot_chunk, 'type');
      w.varint(frame.snapshotId, 'snapshotId');
      w.varint(frame.chunk, 'chunk');
      writeRecords(w, frame.records, dict, true);
      break;
    case 'digest':
      w = new ByteWriter(16 + frame.tables.length * 16);
      w.what = 'digest';
      w.u8(FRAME_TYPE.digest, 'type');
      w.u32(frame.epoch, 'epoch');
      w.varint(frame.atSeq, 'atSeq');
      writeCount(w, frame.tables.length, MAX_DIGEST_TABLES, 'table count');
      w.what = 'digest table';
      for (let i = 0; i < frame.tables.length; i++) {
        w.index = i;
        const t = frame.tables[i]!;
        if (typeof t.table !== 'string') w.fail('table is not a string', 'table');
        w.varint(internTable(w, dict, t.table), 'table');
        w.varint(t.count, 'count');
        if (typeof t.digest !== 'bigint' || t.digest < 0n || t.digest >= 1n << 64n) w.fail('digest is not a 64-bit unsigned bigint', 'digest');
        w.u32(Number(t.digest >> 32n), 'digest');
        w.u32(Number(t.digest & 0xffffffffn), 'digest');
      }
      break;
    case 'ack':
      w = new ByteWriter(16);
      w.what = 'ack';
      w.u8(FRAME_TYPE.ack, 'type');
      w.u32(frame.epoch, 'epoch');
      w.varint(frame.seq, 'seq');
      break;
    default: {
      const never: never = frame;
      w = new ByteWriter(16);
      return w.fail(`type ${JSON.stringify((never as { type?: unknown }).type)} is unknown`, 'type');
    }
  }
  return w.finish();
}

/** The frame, preceded by a DICT frame when encoding it defined new strings: send in this order. */
export function encodeFrames(frame: Frame, dict: WireDictionary): Buffer[] {
  const encoded = encodeFrame(frame, dict);
  const fresh = dict.takeNew();
  return fresh.length === 0 ? [encoded] : [encodeFrame({ type: 'dict', entries: fresh }, dict), encoded];
}

function readCount(r: ByteReader, max: number, minBytesEach: number, field: string): number {
  const at = r.offset;
  const n = r.varint(field);
  if (n > max) r.fail(`${field} ${n} exceeds ${max}`, field, at);
  if (n * minBytesEach > r.remaining) r.fail(`${field} ${n} needs at least ${n * minBytesEach} bytes, ${r.remaining} left`, field, at);
  return n;
}

function readRecords(r: ByteReader, dict: WireDictionary, setsOnly: boolean): ReplicationRecord[] {
  const n = readCount(r, MAX_RECORDS_PER_FRAME, MIN_RECORD_BYTES, 'record count');
  const records: ReplicationRecord[] = [];
  const section = r.what;
  r.what = 'record';
  for (let i = 0; i < n; i++) {
    r.index = i;
    records.push(readRecord(r, dict, setsOnly));
  }
  r.what = section;
  r.index = -1;
  return records;
}

function readDict(r: ByteReader, dict: WireDictionary): Frame {
  const n = readCount(r, DICT_MAX_ENTRIES, MIN_DICT_ENTRY_BYTES, 'entry count');
  const entries: DictEntry[] = [];
  const seen = new Map<number, string>();
  r.what = 'dict entry';
  for (let i = 0; i < n; i++) {
    r.index = i;
    const at = r.offset;
    const id = r.varint('id');
    const len = r.u8('string length');
    const value = r.utf8(len, 'string');
    const problem = dict.conflict(id, value) ?? (seen.has(id) && seen.get(id) !== value ? `id ${id} defined twice` : undefined);
    if (problem !== undefined) r.fail(problem, 'id', at);
    seen.set(id, value);
    entries.push({ id, value });
  }
  r.expectEnd();
  // Checked whole before any of it is applied: a bad frame leaves the dictionary as it was.
  for (const e of entries) dict.define(e.id, e.value);
  return { type: 'dict', entries };
}

/** Decode one frame with the receiver's dictionary. Throws only ReplicationFrameError. */
export function decodeFrame(buf: Uint8Array, dict: WireDictionary): Frame {
  const r: ByteReader = new ByteReader(buf);
  const type = r.u8('type');
  switch (type) {
    case FRAME_TYPE.dict:
      r.what = 'dict';
      return readDict(r, dict);
    case FRAME_TYPE.updates: {
      r.what = 'updates';
      const epoch = r.u32('epoch');
      const seqAt = r.offset;
      const firstSeq = r.varint('firstSeq');
      if (firstSeq < 1) r.fail('firstSeq 0 is below 1', 'firstSeq', seqAt);
      const records = readRecords(r, dict, false);
      if (records.length === 0) r.fail('no records', 'record count');
      if (firstSeq + records.length - 1 > Number.MAX_SAFE_INTEGER) r.fail('last seq exceeds 2^53-1', 'firstSeq', seqAt);
      r.expectEnd();
      return { type: 'updates', epoch, firstSeq, records };
    }
    case FRAME_TYPE.snapshot_chunk: {
      r.what = 'snapshot chunk';
      const snapshotId = r.varint('snapshotId');
      const chunk = r.varint('chunk');
      // readRecord(setsOnly) rejected every delete.
      const records = readRecords(r, dict, true) as SetRecord[];
      r.expectEnd();
      return { type: 'snapshot_chunk', snapshotId, chunk, records };
    }
    case FRAME_TYPE.digest: {
      r.what = 'digest';
      const epoch = r.u32('epoch');
      const atSeq = r.varint('atSeq');
      const n = readCount(r, MAX_DIGEST_TABLES, MIN_DIGEST_TABLE_BYTES, 'table count');
      const tables: DigestTableEntry[] = [];
      r.what = 'digest table';
      for (let i = 0; i < n; i++) {
        r.index = i;
        const at = r.offset;
        const id = r.varint('table');
        const table = dict.lookup(id);
        if (table === undefined) r.fail(`table: unknown dictionary id ${id}`, 'table', at);
        const count = r.varint('count');
        const hi = r.u32('digest');
        const lo = r.u32('digest');
        tables.push({ table, count, digest: (BigInt(hi) << 32n) | BigInt(lo) });
      }
      r.expectEnd();
      return { type: 'digest', epoch, atSeq, tables };
    }
    case FRAME_TYPE.ack: {
      r.what = 'ack';
      const epoch = r.u32('epoch');
      const seq = r.varint('seq');
      r.expectEnd();
      return { type: 'ack', epoch, seq };
    }
    default:
      return r.fail(`type ${type} is unknown`, 'type', 0);
  }
}
