import { describe, expect, it } from 'vitest';
import { HaloError } from '../errors.js';
import { ExpiringTable } from '../tables/expiring-table.js';
import { PersistenceTable } from '../tables/persistence-table.js';
import { UdpFlowTable } from '../tables/udp-flow-table.js';
import { WireDictionary } from './dictionary.js';
import { ReplicationLog } from './replication-log.js';
import { valueIdentity, type SourceTable } from './replication-source.js';
import { digestOf, valueIdOf } from './table-digest.js';
import { decodeFrame, type Frame } from './wire-frames.js';
import type { ReplicationRecord } from './wire-records.js';

const REPLAY = { maxBytes: 1 << 20, maxFrames: 1000, windowMs: 10_000 };

function persist(name = 'web/persist_source', ttlMs = 30_000): PersistenceTable {
  return new PersistenceTable({ name, kind: 'persist_source', ttlMs, maxEntries: 1_000_000 });
}

/** A standby's view: decodes frames in order and keeps table -> key -> value identity (and ttl). */
class Receiver {
  readonly dict = new WireDictionary();
  readonly tables = new Map<string, Map<string, { id: string; ttlMs: number | null }>>();
  readonly frames: Frame[] = [];

  take(buffers: readonly Uint8Array[]): Frame[] {
    const out = buffers.map((b) => decodeFrame(b, this.dict));
    for (const f of out) {
      this.frames.push(f);
      if (f.type === 'updates' || f.type === 'snapshot_chunk') for (const r of f.records) this.apply(r);
    }
    return out;
  }

  apply(r: ReplicationRecord): void {
    let t = this.tables.get(r.table);
    if (t === undefined) this.tables.set(r.table, (t = new Map()));
    if (r.op === 'delete') t.delete(r.key);
    else t.set(r.key, { id: valueIdOf(r.value), ttlMs: r.ttlMs });
  }

  content(table: string): Map<string, string> {
    return new Map([...(this.tables.get(table) ?? new Map<string, { id: string }>())].map(([k, v]) => [k, v.id]));
  }
}

function contentOf(table: SourceTable, now?: number): Map<string, string> {
  return new Map([...table.entries(now)].map((e) => [e.key, valueIdentity(table.kind, e.value)]));
}

const ip = (i: number): string => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;

describe('ReplicationLog flush', () => {
  it('nothing queued: no frames', () => {
    const log = new ReplicationLog({ epoch: 7, tables: [persist()], replay: REPLAY });
    expect(log.flush(0)).toEqual([]);
    expect(log.seq).toBe(0);
  });

  it('encodes queued events into DICT + UPDATES with consecutive seqs across flushes', () => {
    const t = persist();
    const log = new ReplicationLog({ epoch: 7, tables: [t], replay: REPLAY });
    t.stick('10.0.0.1', 'default', 'app-1', 1_000);
    t.stick('10.0.0.2', 'default', 'app-2', 1_000);
    const rx = new Receiver();
    const first = rx.take(log.flush(1_000));
    expect(first.map((f) => f.type)).toEqual(['dict', 'updates']);
    expect(first[1]).toMatchObject({ epoch: 7, firstSeq: 1, records: [{ key: '10.0.0.1', ttlMs: 30_000 }, { key: '10.0.0.2' }] });
    t.forget('10.0.0.1', 2_000);
    t.stick('10.0.0.3', 'default', 'app-1', 2_000);
    const second = rx.take(log.flush(2_000));
    expect(second.map((f) => f.type)).toEqual(['updates']);
    expect(second[0]).toMatchObject({ firstSeq: 3, records: [{ op: 'delete', key: '10.0.0.1' }, { op: 'set', key: '10.0.0.3' }] });
    expect(log.seq).toBe(4);
    expect(rx.content('web/persist_source')).toEqual(contentOf(t));
  });

  it('the ttl is what remains when the flush runs', () => {
    const t = persist();
    const log = new ReplicationLog({ epoch: 1, tables: [t], replay: REPLAY });
    t.stick('10.0.0.1', 'p', 'b', 1_000);
    const rx = new Receiver();
    rx.take(log.flush(1_250));
    expect(rx.tables.get('web/persist_source')?.get('10.0.0.1')?.ttlMs).toBe(29_750);
  });

  it('splits at maxBatchRecords', () => {
    const t = persist();
    const log = new ReplicationLog({ epoch: 1, tables: [t], replay: REPLAY, maxBatchRecords: 2 });
    for (let i = 0; i < 5; i++) t.stick(ip(i), 'p', 'b', 0);
    const frames = new Receiver().take(log.flush(0)).filter((f) => f.type === 'updates');
    expect(frames.map((f) => f.type === 'updates' && [f.firstSeq, f.records.length])).toEqual([[1, 2], [3, 2], [5, 1]]);
  });

  it('counts and leaves out a record the wire cannot carry; the others go', () => {
    const raw = new ExpiringTable<unknown>({ name: 'odd/persist_cookie', kind: 'persist_cookie' });
    const log = new ReplicationLog({ epoch: 1, tables: [raw], replay: REPLAY });
    raw.set('ok', { pool: 'p', backend: 'b' }, 0, null);
    raw.set('k'.repeat(1500), { pool: 'p', backend: 'b' }, 0, null);
    raw.set('bad-value', 42, 0, null);
    const frames = new Receiver().take(log.flush(0));
    expect(frames.at(-1)).toMatchObject({ type: 'updates', firstSeq: 1, records: [{ key: 'ok' }] });
    expect(log.stats()).toMatchObject({ seq: 1, rejected: 2 });
  });
});

describe('ReplicationLog replay', () => {
  it('since() hands out the frames after a seq; past the window or ahead they are gone', () => {
    const t = persist();
    const log = new ReplicationLog({ epoch: 1, tables: [t], replay: { ...REPLAY, windowMs: 1_000 } });
    t.stick('10.0.0.1', 'p', 'b', 0);
    log.flush(0);
    t.stick('10.0.0.2', 'p', 'b', 500);
    log.flush(500);
    const both = log.since(0, 600);
    expect(both !== 'gone' && both.frames.length).toBe(2);
    const rx = new Receiver();
    rx.take([log.dictFrame()]);
    expect(both !== 'gone' && rx.take(both.frames).map((f) => f.type === 'updates' && f.firstSeq)).toEqual([1, 2]);
    expect(log.since(2, 600)).toEqual({ frames: [] });
    expect(log.since(3, 600)).toBe('gone');
    expect(log.since(0, 1_200)).toBe('gone');
    const last = log.since(1, 1_200);
    expect(last !== 'gone' && last.frames.length).toBe(1);
    expect(log.since(1, 1_600)).toBe('gone');
  });
});

describe('ReplicationLog digests', () => {
  it('follow sets, overwrites, deletes and expiry: equal to a full recompute', () => {
    const t = persist('web/persist_source', 1_000);
    const flows = new UdpFlowTable({ name: 'dns/udp_flows', idleMs: 5_000, maxFlows: 100 });
    const log = new ReplicationLog({ epoch: 1, tables: [t, flows], replay: REPLAY });
    for (let i = 0; i < 50; i++) t.stick(ip(i), 'p', `b${i % 3}`, 0);
    for (let i = 0; i < 10; i++) t.stick(ip(i), 'p', 'other', 100);
    for (let i = 10; i < 20; i++) t.forget(ip(i), 100);
    t.stick(ip(60), 'p', 'b0', 600);
    t.expire(1_100);
    flows.create('192.0.2.1:53', { clientIp: '192.0.2.1', clientPort: 53, pool: 'dns', backend: 'ns1' }, 0);
    const d = log.digests();
    expect(d.get('web/persist_source')).toEqual(digestOf(contentOf(t)));
    expect(t.size).toBe(1);
    expect(d.get('dns/udp_flows')).toEqual(digestOf(contentOf(flows)));
  });

  it('the DIGEST frame describes the latest flushed seq, even with events queued after it', () => {
    const t = persist();
    const log = new ReplicationLog({ epoch: 3, tables: [t], replay: REPLAY });
    t.stick('10.0.0.1', 'p', 'b1', 0);
    t.stick('10.0.0.2', 'p', 'b1', 0);
    const rx = new Receiver();
    rx.take(log.flush(0));
    const atFlush = digestOf(contentOf(t));
    t.stick('10.0.0.1', 'p', 'b2', 10);
    t.forget('10.0.0.2', 10);
    t.stick('10.0.0.3', 'p', 'b1', 10);
    expect(log.digests().get('web/persist_source')).toEqual(digestOf(contentOf(t)));
    const [digest] = rx.take(log.digestFrames());
    expect(digest).toEqual({ type: 'digest', epoch: 3, atSeq: 2, tables: [{ table: 'web/persist_source', count: atFlush.count, digest: atFlush.value }] });
  });

  it('names a table that never had a record (its DICT comes first)', () => {
    const log = new ReplicationLog({ epoch: 3, tables: [persist('empty/persist_source')], replay: REPLAY });
    const frames = new Receiver().take(log.digestFrames());
    expect(frames.map((f) => f.type)).toEqual(['dict', 'digest']);
    expect(frames[1]).toMatchObject({ atSeq: 0, tables: [{ table: 'empty/persist_source', count: 0, digest: 0n }] });
  });
});

describe('ReplicationLog setTables', () => {
  it('drops removed tables, digests new ones from their entries, keeps the rest subscribed once', () => {
    const a = persist('a/persist_source');
    const b = persist('b/persist_source');
    const log = new ReplicationLog({ epoch: 1, tables: [a], replay: REPLAY });
    b.stick('10.0.0.9', 'p', 'x', 0);
    log.setTables([a, b]);
    expect(log.digests().get('b/persist_source')).toEqual(digestOf(contentOf(b)));
    a.stick('10.0.0.1', 'p', 'y', 0);
    expect(log.stats().pending).toBe(1);
    log.setTables([b]);
    a.stick('10.0.0.2', 'p', 'y', 0);
    expect(log.stats()).toMatchObject({ pending: 1, tables: 1 });
    expect([...log.digests().keys()]).toEqual(['b/persist_source']);
    expect(() => log.setTables([b, b])).toThrow(HaloError);
  });
});

describe('ReplicationLog setTables and the DIGEST frame', () => {
  it('a table replaced under the same name: the frame describes the new object, queued events of the old one left out', () => {
    const old = persist();
    const log = new ReplicationLog({ epoch: 1, tables: [old], replay: REPLAY });
    old.stick('10.0.0.1', 'p', 'b', 0);
    const rx = new Receiver();
    rx.take(log.flush(0));
    old.stick('10.0.0.2', 'p', 'b', 1);
    log.digests();
    const fresh = persist();
    fresh.stick('10.0.0.3', 'p', 'b', 1);
    log.setTables([fresh]);
    const [digest] = rx.take(log.digestFrames());
    const expected = digestOf(contentOf(fresh));
    expect(digest).toMatchObject({ atSeq: 1, tables: [{ table: 'web/persist_source', count: expected.count, digest: expected.value }] });
  });
});

describe('ReplicationLog snapshot', () => {
  it('walks the live tables in chunks, whole dictionary first, expired entries skipped', () => {
    const t = persist('web/persist_source', 1_000);
    const log = new ReplicationLog({ epoch: 1, tables: [t], replay: REPLAY });
    for (let i = 0; i < 5; i++) t.stick(ip(i), 'p', 'b', 0);
    log.flush(0);
    t.stick(ip(9), 'p', 'late', 500);
    const cursor = log.snapshot(1_200, 2);
    expect(cursor.beginMessage()).toEqual({ type: 'snapshot_begin', snapshotId: 1, epoch: 1, atSeq: 5, tables: [{ table: 'web/persist_source', entries: 6 }] });
    const rx = new Receiver();
    const first = cursor.next(1_200);
    expect(first !== null && rx.take(first).map((f) => f.type)).toEqual(['dict', 'snapshot_chunk']);
    expect(rx.content('web/persist_source')).toEqual(new Map([[ip(9), 'p/late']]));
    expect(rx.tables.get('web/persist_source')?.get(ip(9))?.ttlMs).toBe(300);
    expect(cursor.next(1_200)).toBeNull();
    expect(cursor.sentEntries).toBe(1);
    expect(cursor.endMessage()).toEqual({ type: 'snapshot_end', snapshotId: 1, entries: 1 });
    expect(log.stats().snapshots).toBe(1);
  });

  it('snapshot + the updates after atSeq converge while the tables change between chunks', () => {
    const t = persist();
    const flows = new UdpFlowTable({ name: 'dns/udp_flows', idleMs: 60_000, maxFlows: 10_000 });
    const log = new ReplicationLog({ epoch: 9, tables: [t, flows], replay: REPLAY, maxBatchRecords: 50 });
    for (let i = 0; i < 500; i++) t.stick(ip(i), 'p', `b${i % 4}`, 0);
    for (let i = 0; i < 100; i++) flows.create(`192.0.2.${i}:1000`, { clientIp: `192.0.2.${i}`, clientPort: 1000, pool: 'dns', backend: 'ns1' }, 0);
    log.flush(0);
    t.stick(ip(1), 'p', 'pending-before', 1);
    const cursor = log.snapshot(1, 64);
    const rx = new Receiver();
    let now = 1;
    for (let round = 0; round < 100; round++) {
      const frames = cursor.next(now);
      if (frames === null) break;
      rx.take(frames);
      // Change entries already sent, entries not reached yet, and add new ones.
      t.stick(ip(round * 3), 'p', 'moved', now);
      t.forget(ip(499 - round), now);
      t.stick(ip(1000 + round), 'p', 'new', now);
      flows.remove(`192.0.2.${round}:1000`, now);
      log.flush(now);
      now++;
    }
    expect(cursor.done).toBe(true);
    const after = log.since(cursor.atSeq, now);
    expect(after).not.toBe('gone');
    if (after !== 'gone') rx.take([log.dictFrame(), ...after.frames]);
    expect(rx.content('web/persist_source')).toEqual(contentOf(t));
    expect(rx.content('dns/udp_flows')).toEqual(contentOf(flows));
  });

  it('ends on a table that keeps growing while it is read', () => {
    const t = persist();
    const log = new ReplicationLog({ epoch: 1, tables: [t], replay: REPLAY });
    for (let i = 0; i < 100; i++) t.stick(ip(i), 'p', 'b', 0);
    const cursor = log.snapshot(0, 10);
    let chunks = 0;
    for (; chunks < 1_000 && cursor.next(0) !== null; chunks++) {
      for (let j = 0; j < 20; j++) t.stick(ip(10_000 + chunks * 20 + j), 'p', 'b', 0);
    }
    expect(chunks).toBeLessThanOrEqual(10);
    expect(cursor.sentEntries).toBe(100);
  });
});

describe('ReplicationLog options', () => {
  it('refuses an epoch that is not a u32 and bad bounds', () => {
    expect(() => new ReplicationLog({ epoch: 2 ** 32, tables: [], replay: REPLAY })).toThrow(HaloError);
    expect(() => new ReplicationLog({ epoch: 1, tables: [], replay: { ...REPLAY, windowMs: 0 } })).toThrow(/windowMs/);
    expect(() => new ReplicationLog({ epoch: 1, tables: [], replay: REPLAY, maxBatchRecords: 0 })).toThrow(/maxBatchRecords/);
  });
});
