import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../../test/helpers/seeded-random.js';
import { WireDictionary } from './dictionary.js';
import { ReplicationFrameError } from './frame-error.js';
import { FRAME_TYPE, MAX_RECORDS_PER_FRAME, decodeFrame, encodeFrame, encodeFrames, type Frame } from './wire-frames.js';
import type { ReplicationRecord, SetRecord } from './wire-records.js';
import { ByteWriter } from './wire-varint.js';

/** A sender and a receiver whose dictionary learns only from DICT frames, as on a real link. */
function link(): { send: (frame: Frame) => Frame[]; sender: WireDictionary; receiver: WireDictionary; wire: Uint8Array[] } {
  const sender = new WireDictionary();
  const receiver = new WireDictionary();
  const wire: Uint8Array[] = [];
  return {
    sender,
    receiver,
    wire,
    send: (frame) =>
      encodeFrames(frame, sender).map((bytes) => {
        wire.push(bytes);
        return decodeFrame(bytes, receiver);
      }),
  };
}

function decodeError(bytes: Uint8Array | number[], dict = new WireDictionary()): ReplicationFrameError {
  try {
    decodeFrame(bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes), dict);
  } catch (err) {
    expect(err).toBeInstanceOf(ReplicationFrameError);
    return err as ReplicationFrameError;
  }
  throw new Error('expected decoding to fail');
}

const sets: SetRecord[] = [
  { op: 'set', table: 'web/persist_source', kind: 'persist_source', key: '10.1.2.3', value: { pool: 'web', backend: 'app-1' }, ttlMs: 1_800_000 },
  { op: 'set', table: 'web/persist_cookie', kind: 'persist_cookie', key: 'sig.abc', value: { pool: 'web', backend: 'app-2' }, ttlMs: null },
  { op: 'set', table: 'dns/udp_flows', kind: 'udp_flows', key: '10.9.9.9:53000', value: { clientIp: '10.9.9.9', clientPort: 53000, pool: 'dns', backend: 'ns1', ageMs: 20 }, ttlMs: 30_000 },
  { op: 'set', table: 'web/connections', kind: 'connections', key: 'c-17', value: { clientIp: '2001:db8::5', clientPort: 443, pool: 'web', backend: 'app-1', ageMs: 0 }, ttlMs: null },
];
const records: ReplicationRecord[] = [...sets, { op: 'delete', table: 'web/persist_source', kind: 'persist_source', key: '10.1.2.3' }];

describe('frame round trips', () => {
  it('UPDATES: new strings go out in a DICT frame first, then the updates decode', () => {
    const l = link();
    const frame: Frame = { type: 'updates', epoch: 0xfffffffe, firstSeq: 2 ** 40, records };
    const out = l.send(frame);
    expect(out.map((f) => f.type)).toEqual(['dict', 'updates']);
    expect(out[1]).toEqual(frame);
    // Same strings again: no DICT frame.
    expect(l.send({ ...frame, firstSeq: 2 ** 40 + records.length }).map((f) => f.type)).toEqual(['updates']);
  });

  it('SNAPSHOT_CHUNK with sets, and an empty chunk', () => {
    const l = link();
    expect(l.send({ type: 'snapshot_chunk', snapshotId: 7, chunk: 0, records: sets }).at(-1)).toEqual({ type: 'snapshot_chunk', snapshotId: 7, chunk: 0, records: sets });
    expect(l.send({ type: 'snapshot_chunk', snapshotId: 7, chunk: 1, records: [] })).toEqual([{ type: 'snapshot_chunk', snapshotId: 7, chunk: 1, records: [] }]);
  });

  it('DIGEST keeps all 64 bits of each table digest', () => {
    const l = link();
    const frame: Frame = {
      type: 'digest',
      epoch: 3,
      atSeq: 99,
      tables: [
        { table: 'web/persist_source', count: 1_000_000, digest: 0xffffffff_fffffffen },
        { table: 'dns/udp_flows', count: 0, digest: 0n },
        { table: 'web/connections', count: 5, digest: 0x00000001_80000000n },
      ],
    };
    expect(l.send(frame).at(-1)).toEqual(frame);
  });

  it('ACK and DICT', () => {
    const l = link();
    expect(l.send({ type: 'ack', epoch: 0, seq: 0 })).toEqual([{ type: 'ack', epoch: 0, seq: 0 }]);
    expect(l.send({ type: 'ack', epoch: 2 ** 32 - 1, seq: Number.MAX_SAFE_INTEGER })).toEqual([{ type: 'ack', epoch: 2 ** 32 - 1, seq: Number.MAX_SAFE_INTEGER }]);
    const dict: Frame = { type: 'dict', entries: [{ id: 0, value: 'é'.repeat(127) }, { id: 65_535, value: '' }] };
    expect(l.send(dict)).toEqual([dict]);
    expect(l.receiver.resolve(65_535)).toBe('');
  });

  it('a reconnecting standby gets the whole dictionary, then replayed bytes decode', () => {
    const l = link();
    l.send({ type: 'updates', epoch: 1, firstSeq: 1, records });
    const replayed = l.wire.at(-1)!;
    const fresh = new WireDictionary();
    decodeFrame(encodeFrame({ type: 'dict', entries: l.sender.entries() }, l.sender), fresh);
    expect(decodeFrame(replayed, fresh)).toMatchObject({ type: 'updates', firstSeq: 1 });
  });
});

describe('sizes and cost', () => {
  it('one update per frame stays within 64 bytes for every kind (dictionary warm)', () => {
    const l = link();
    l.send({ type: 'updates', epoch: 1, firstSeq: 1, records });
    records.forEach((rec, i) => {
      l.send({ type: 'updates', epoch: 123456, firstSeq: 1_000_000_000 + i, records: [rec] });
      expect(l.wire.at(-1)!.length).toBeLessThanOrEqual(64);
    });
  });

  it('100k persist records: one frame, ~12 bytes each, a handful of buffer growths', () => {
    const dict = new WireDictionary();
    const many: ReplicationRecord[] = [];
    for (let i = 0; i < MAX_RECORDS_PER_FRAME; i++) {
      many.push({ op: 'set', table: 'web/persist_source', kind: 'persist_source', key: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, value: { pool: 'web', backend: `app-${i % 8}` }, ttlMs: 1_800_000 });
    }
    const bytes = encodeFrame({ type: 'updates', epoch: 1, firstSeq: 1, records: many }, dict);
    expect(bytes.length / many.length).toBeLessThanOrEqual(12);
    const receiver = new WireDictionary();
    decodeFrame(encodeFrame({ type: 'dict', entries: dict.takeNew() }, dict), receiver);
    const back = decodeFrame(bytes, receiver);
    expect(back.type === 'updates' && back.records[99_999]).toEqual(many[99_999]);
  });

  it('the writer grows by doubling, not per record', () => {
    const w = new ByteWriter(16);
    for (let i = 0; i < 100_000; i++) w.u32(i, 'x');
    expect(w.reallocations).toBeLessThanOrEqual(15);
  });
});

describe('frame decode errors', () => {
  it('rejects an empty buffer, unknown types and trailing bytes', () => {
    expect(decodeError([]).message).toBe('frame: type (1 bytes) past end of frame at offset 0');
    expect(decodeError([0x09]).message).toBe('frame: type 9 is unknown at offset 0');
    expect(decodeError([FRAME_TYPE.ack, 0, 0, 0, 1, 5, 0xee]).message).toBe('frame: 1 trailing bytes at offset 6');
  });

  it('rejects record counts over the limit or beyond the bytes left, before allocating', () => {
    const w = new ByteWriter();
    w.u8(FRAME_TYPE.updates, 'type');
    w.u32(1, 'epoch');
    w.varint(1, 'firstSeq');
    w.varint(MAX_RECORDS_PER_FRAME + 1, 'count');
    expect(decodeError(w.finish()).message).toBe('updates: record count 100001 exceeds 100000 at offset 6');
    expect(decodeError([FRAME_TYPE.snapshot_chunk, 1, 0, 50, 0, 0, 0]).message).toBe('snapshot chunk: record count 50 needs at least 150 bytes, 3 left at offset 3');
  });

  it('rejects UPDATES with firstSeq 0 or no records', () => {
    expect(decodeError([FRAME_TYPE.updates, 0, 0, 0, 1, 0, 0]).message).toContain('firstSeq 0 is below 1');
    expect(decodeError([FRAME_TYPE.updates, 0, 0, 0, 1, 1, 0]).message).toContain('updates: no records');
    expect(() => encodeFrame({ type: 'updates', epoch: 1, firstSeq: 1, records: [] }, new WireDictionary())).toThrow(ReplicationFrameError);
  });

  it('names the record, field and offset of an unknown id inside UPDATES', () => {
    const l = link();
    l.send({ type: 'updates', epoch: 1, firstSeq: 1, records });
    const err = decodeError(l.wire.at(-1)!, new WireDictionary());
    expect(err.message).toBe('record 0: table: unknown dictionary id 0 at offset 8');
  });

  it('a bad DICT frame changes nothing in the receiver dictionary', () => {
    const receiver = new WireDictionary();
    receiver.define(1, 'a');
    // Entry 0 defines id 2 = "x", entry 1 redefines id 1: the whole frame is refused.
    const err = decodeError([FRAME_TYPE.dict, 2, 2, 1, 0x78, 1, 1, 0x62], receiver);
    expect(err.message).toBe('dict entry 1: id 1 redefined from "a" to "b" at offset 5');
    expect(receiver.lookup(2)).toBeUndefined();
  });

  it('refuses to encode a delete in a snapshot chunk and an out-of-range epoch or digest', () => {
    const dict = new WireDictionary();
    const del = { op: 'delete', table: 't', kind: 'persist_source', key: 'k' } as unknown as SetRecord;
    expect(() => encodeFrame({ type: 'snapshot_chunk', snapshotId: 1, chunk: 0, records: [del] }, dict)).toThrow('record 0: delete in a snapshot chunk');
    expect(() => encodeFrame({ type: 'ack', epoch: 2 ** 32, seq: 1 }, dict)).toThrow('ack: epoch 4294967296 is not an integer in 0..2^32-1');
    expect(() => encodeFrame({ type: 'digest', epoch: 1, atSeq: 1, tables: [{ table: 't', count: 1, digest: 1n << 64n }] }, dict)).toThrow(
      'digest table 0: digest is not a 64-bit unsigned bigint',
    );
  });
});

describe('fuzz: decode throws only ReplicationFrameError', () => {
  it('5000 random and mutated buffers (seeded)', () => {
    const rand = seededRandom(0x5eed);
    const l = link();
    l.send({ type: 'updates', epoch: 1, firstSeq: 1, records });
    l.send({ type: 'snapshot_chunk', snapshotId: 1, chunk: 0, records: sets });
    l.send({ type: 'digest', epoch: 1, atSeq: 5, tables: [{ table: 'web/persist_source', count: 2, digest: 12345n }] });
    l.send({ type: 'ack', epoch: 1, seq: 5 });
    const seeds = [...l.wire];
    let decoded = 0;
    let rejected = 0;
    for (let i = 0; i < 5000; i++) {
      let buf: Uint8Array;
      if (i % 4 === 0) {
        buf = new Uint8Array(Math.floor(rand() * 64));
        for (let j = 0; j < buf.length; j++) buf[j] = Math.floor(rand() * 256);
        if (buf.length > 0) buf[0] = 1 + Math.floor(rand() * 6);
      } else {
        const seed = seeds[Math.floor(rand() * seeds.length)]!;
        buf = Uint8Array.from(seed);
        const mutations = 1 + Math.floor(rand() * 4);
        for (let m = 0; m < mutations; m++) {
          const pos = Math.floor(rand() * buf.length);
          const what = rand();
          if (what < 0.6) buf[pos] = Math.floor(rand() * 256);
          else if (what < 0.8) buf = buf.subarray(0, pos);
          else buf = Uint8Array.from([...buf, Math.floor(rand() * 256)]);
        }
      }
      // A copy of the receiver's dictionary, so a decoded DICT frame does not leak into the next case.
      const dict = new WireDictionary();
      for (const e of l.receiver.entries()) dict.define(e.id, e.value);
      try {
        decodeFrame(buf, dict);
        decoded++;
      } catch (err) {
        if (!(err instanceof ReplicationFrameError)) throw new Error(`case ${i}: ${String(err)} for ${Buffer.from(buf).toString('hex')}`);
        rejected++;
      }
    }
    // Both outcomes happen: the fuzzer reaches past the first checks.
    expect(decoded).toBeGreaterThan(50);
    expect(rejected).toBeGreaterThan(1000);
  });
});
