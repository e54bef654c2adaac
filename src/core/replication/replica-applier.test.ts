import { describe, expect, it } from 'vitest';
import { WireDictionary } from './dictionary.js';
import { ReplicationFrameError } from './frame-error.js';
import type { SnapshotBeginMessage } from './handshake-messages.js';
import { ReplicaApplier, type ApplierResult } from './replica-applier.js';
import type { ApplyResult, ReplicaSink } from './replication-source.js';
import { TableDigest } from './table-digest.js';
import { decodeFrame, encodeFrames, type Frame } from './wire-frames.js';
import type { ReplicationRecord, SetRecord } from './wire-records.js';

const TABLE = 'web/persist_source';

class RecordingSink implements ReplicaSink {
  readonly applied: ReplicationRecord[] = [];
  readonly content = new Map<string, string>();
  clears = 0;
  results = new Map<string, ApplyResult>();
  throwOn: string | undefined;

  apply(record: ReplicationRecord): ApplyResult {
    if (record.key === this.throwOn) throw new Error('sink bug');
    this.applied.push(record);
    const result = this.results.get(record.key) ?? 'applied';
    if (result !== 'applied') return result;
    if (record.op === 'delete') this.content.delete(record.key);
    else this.content.set(record.key, `${record.value.pool}/${record.value.backend}`);
    return result;
  }

  clear(): void {
    this.clears++;
    this.content.clear();
  }

  digests(): Map<string, { count: number; value: bigint }> {
    const d = new TableDigest();
    for (const [k, v] of this.content) d.add(k, v);
    return new Map([[TABLE, { count: d.count, value: d.value }]]);
  }
}

const set = (key: string, backend = 'b1'): SetRecord => ({ op: 'set', table: TABLE, kind: 'persist_source', key, value: { pool: 'p', backend }, ttlMs: 1000 });
const del = (key: string): ReplicationRecord => ({ op: 'delete', table: TABLE, kind: 'persist_source', key });

/** The master's side of the wire: one dictionary, frames as they would be sent. */
class Master {
  readonly dict = new WireDictionary();
  frames(frame: Frame): Buffer[] {
    return encodeFrames(frame, this.dict);
  }
  updates(firstSeq: number, records: ReplicationRecord[], epoch = 7): Buffer[] {
    return this.frames({ type: 'updates', epoch, firstSeq, records });
  }
  digest(atSeq: number, content: Map<string, string>, epoch = 7): Buffer[] {
    const d = new TableDigest();
    for (const [k, v] of content) d.add(k, v);
    return this.frames({ type: 'digest', epoch, atSeq, tables: [{ table: TABLE, count: d.count, digest: d.value }] });
  }
}

function feed(applier: ReplicaApplier, frames: readonly Buffer[], now = 0): ApplierResult[] {
  return frames.map((f) => applier.onFrame(f, now));
}

const begin = (atSeq: number, entries: number, snapshotId = 1): SnapshotBeginMessage => ({ type: 'snapshot_begin', snapshotId, epoch: 7, atSeq, tables: [{ table: TABLE, entries }] });

function streaming(opts: { ackEveryMs?: number; ackEveryRecords?: number } = {}): { sink: RecordingSink; applier: ReplicaApplier; master: Master } {
  const sink = new RecordingSink();
  const applier = new ReplicaApplier({ sink, localDigests: () => sink.digests(), ...opts });
  const master = new Master();
  applier.beginSession();
  applier.onControl(begin(10, 0), 0);
  applier.onControl({ type: 'snapshot_end', snapshotId: 1, entries: 0 }, 0);
  return { sink, applier, master };
}

const ackOf = (r: ApplierResult): Frame | undefined => (r.ack === undefined ? undefined : decodeFrame(r.ack, new WireDictionary()));

describe('ReplicaApplier snapshot', () => {
  it('a fresh standby asks for a snapshot, applies it, then streams from atSeq', () => {
    const sink = new RecordingSink();
    const applier = new ReplicaApplier({ sink, localDigests: () => sink.digests() });
    expect(applier.syncMessage()).toEqual({ type: 'sync', epoch: null, seq: null });
    expect(applier.synced).toBe(false);
    applier.beginSession();
    const master = new Master();
    expect(applier.onControl(begin(40, 2), 0)).toEqual({});
    expect(sink.clears).toBe(1);
    expect(applier.status()).toMatchObject({ phase: 'snapshot', snapshot: { received: 0, total: 2 }, epoch: null });
    feed(applier, master.frames({ type: 'snapshot_chunk', snapshotId: 1, chunk: 0, records: [set('10.0.0.1'), set('10.0.0.2')] }));
    expect(applier.status().snapshot).toEqual({ received: 2, total: 2 });
    const end = applier.onControl({ type: 'snapshot_end', snapshotId: 1, entries: 2 }, 5);
    expect(ackOf(end)).toEqual({ type: 'ack', epoch: 7, seq: 40 });
    expect(applier.status()).toMatchObject({ phase: 'streaming', epoch: 7, appliedSeq: 40, snapshot: null, applied: { applied: 2 } });
    expect(applier.syncMessage()).toEqual({ type: 'sync', epoch: 7, seq: 40 });
    expect(applier.synced).toBe(true);
  });

  it('a count that does not add up is a resync, and the next sync asks for a snapshot', () => {
    const { applier } = streaming();
    applier.onControl(begin(50, 3, 2), 0);
    expect(applier.syncMessage().epoch).toBeNull();
    expect(applier.onControl({ type: 'snapshot_end', snapshotId: 2, entries: 3 }, 0)).toEqual({ resync: 'snapshot 2: master sent 3 entries, 0 arrived' });
    expect(applier.status()).toMatchObject({ phase: 'idle', resyncs: 1 });
    expect(applier.syncMessage()).toEqual({ type: 'sync', epoch: null, seq: null });
  });

  it('a chunk of another snapshot, or updates in the middle of one, is a resync', () => {
    const { applier, master } = streaming();
    applier.onControl(begin(50, 1, 2), 0);
    const r = feed(applier, master.frames({ type: 'snapshot_chunk', snapshotId: 9, chunk: 0, records: [set('a')] }));
    expect(r.at(-1)).toEqual({ resync: 'chunk of snapshot 9 outside it' });
  });
});

describe('ReplicaApplier updates', () => {
  it('applies in seq order, skipping what replay repeats; counts results, unknown tables are not fatal', () => {
    const { applier, master, sink } = streaming();
    sink.results.set('x', 'unknown_table');
    feed(applier, master.updates(11, [set('a'), set('x')]));
    feed(applier, master.updates(11, [set('a', 'zzz'), set('x'), set('b')]));
    expect(sink.applied.map((r) => r.key)).toEqual(['a', 'x', 'b']);
    expect(applier.status()).toMatchObject({ appliedSeq: 13, applied: { applied: 2, unknown_table: 1 } });
    feed(applier, master.updates(14, [del('a')]));
    expect([...sink.content.keys()]).toEqual(['b']);
  });

  it('a gap is a resync that keeps epoch and seq, so the reconnect resumes', () => {
    const { applier, master, sink } = streaming();
    const r = feed(applier, master.updates(12, [set('a')]));
    expect(r.at(-1)).toEqual({ resync: 'gap: updates from seq 12, applied here up to 10' });
    expect(sink.applied).toEqual([]);
    expect(applier.syncMessage()).toEqual({ type: 'sync', epoch: 7, seq: 10 });
    expect(feed(applier, master.updates(11, [set('a')])).at(-1)).toEqual({});
    expect(sink.applied).toEqual([]);
  });

  it('updates of another epoch are a resync that forgets', () => {
    const { applier, master } = streaming();
    expect(feed(applier, master.updates(11, [set('a')], 8)).at(-1)).toEqual({ resync: 'updates of epoch 8, tables here follow 7' });
    expect(applier.syncMessage().seq).toBeNull();
  });

  it('a sink that throws: counted, resync, the tables are forgotten', () => {
    const { applier, master, sink } = streaming();
    sink.throwOn = 'bad';
    expect(feed(applier, master.updates(11, [set('ok'), set('bad')])).at(-1)).toEqual({ resync: 'the sink failed while applying updates' });
    expect(applier.status()).toMatchObject({ sinkErrors: 1, epoch: null, appliedSeq: null });
  });
});

describe('ReplicaApplier resume and control', () => {
  it('resume: streaming when it follows what was applied; a gap keeps the seq, another epoch forgets', () => {
    const { applier } = streaming();
    applier.beginSession();
    expect(applier.onControl({ type: 'resume', epoch: 7, fromSeq: 12 }, 0)).toEqual({ resync: 'resume from seq 12, applied here up to 10: gap' });
    expect(applier.syncMessage()).toEqual({ type: 'sync', epoch: 7, seq: 10 });
    applier.beginSession();
    expect(applier.onControl({ type: 'resume', epoch: 7, fromSeq: 5 }, 0)).toEqual({});
    expect(applier.status().phase).toBe('streaming');
    applier.beginSession();
    expect(applier.onControl({ type: 'resume', epoch: 3, fromSeq: 11 }, 0)).toEqual({ resync: 'resume for epoch 3, tables here follow 7' });
    expect(applier.syncMessage().epoch).toBeNull();
  });

  it('a handshake message in the stream is a resync', () => {
    const { applier } = streaming();
    expect(applier.onControl({ type: 'sync', epoch: null, seq: null }, 0)).toEqual({ resync: 'unexpected sync message in the stream' });
  });
});

describe('ReplicaApplier digests', () => {
  it('compares at the digest seq: a match marks synced, a mismatch names the table and both counts', () => {
    const { applier, master } = streaming();
    feed(applier, master.updates(11, [set('a'), set('b')]));
    expect(feed(applier, master.digest(12, new Map([['a', 'p/b1'], ['b', 'p/b1']]))).at(-1)).toEqual({});
    expect(applier.status().lastDigestMatch).toBe(true);
    feed(applier, master.updates(13, [del('b')]));
    const r = feed(applier, master.digest(13, new Map([['a', 'p/b1'], ['c', 'p/b1']])));
    expect(r.at(-1)).toEqual({ resync: `digest mismatch on ${TABLE}: master 2 entries, here 1` });
    expect(applier.status()).toMatchObject({ lastDigestMatch: false, phase: 'idle' });
    expect(applier.synced).toBe(false);
    expect(applier.syncMessage().epoch).toBeNull();
  });

  it('same count, another backend: still a mismatch', () => {
    const { applier, master } = streaming();
    feed(applier, master.updates(11, [set('a', 'b1')]));
    expect(feed(applier, master.digest(11, new Map([['a', 'p/b2']]))).at(-1)?.resync).toBe(`digest mismatch on ${TABLE}: master 1 entries, here 1`);
  });

  it('a digest ahead of what is applied waits for it; one behind is skipped', () => {
    const { applier, master } = streaming();
    feed(applier, master.digest(11, new Map([['a', 'p/b1']])));
    expect(applier.status().lastDigestMatch).toBeNull();
    feed(applier, master.updates(11, [set('a')]));
    expect(applier.status().lastDigestMatch).toBe(true);
    feed(applier, master.updates(12, [set('b')]));
    feed(applier, master.digest(11, new Map([['zz', 'p/b1']])));
    expect(applier.status()).toMatchObject({ lastDigestMatch: true, digestsSkipped: 1 });
  });
});

describe('ReplicaApplier malformed frames', () => {
  it('counted and returned, never thrown, nothing applied; later frames ignored until a new session', () => {
    const { applier, master, sink } = streaming();
    const [dict, updates] = master.updates(11, [set('a'), set('b')]);
    expect(applier.onFrame(dict!, 0)).toEqual({});
    const r = applier.onFrame(updates!.subarray(0, updates!.length - 1), 0);
    expect(r.error).toBeInstanceOf(ReplicationFrameError);
    expect(sink.applied).toEqual([]);
    expect(applier.status()).toMatchObject({ frameErrors: 1, phase: 'idle', appliedSeq: 10 });
    expect(applier.onFrame(updates!, 0)).toEqual({});
    expect(sink.applied).toEqual([]);
    expect(applier.onFrame(Buffer.from([99]), 0).error?.code).toBe('HALO_ERR_REPL_FRAME');
    expect(applier.status().frameErrors).toBe(2);
  });

  it('a new session decodes with a fresh dictionary: ids need their DICT again', () => {
    const { applier, master, sink } = streaming();
    feed(applier, master.updates(11, [set('a')]));
    applier.beginSession();
    applier.onControl({ type: 'resume', epoch: 7, fromSeq: 12 }, 0);
    const frames = master.updates(12, [set('b')]);
    expect(frames).toHaveLength(1);
    expect(applier.onFrame(frames[0]!, 0).error?.message).toMatch(/unknown dictionary id/);
    expect(sink.applied.map((r) => r.key)).toEqual(['a']);
  });
});

describe('ReplicaApplier acks', () => {
  it('every ackEveryRecords records or ackEveryMs, and only for new seqs', () => {
    const { applier, master } = streaming({ ackEveryMs: 50, ackEveryRecords: 3 });
    expect(ackOf(feed(applier, master.updates(11, [set('a')]), 1).at(-1)!)).toBeUndefined();
    expect(applier.ackDue(40)).toBeNull();
    expect(applier.ackDue(60)).not.toBeNull();
    expect(ackOf(feed(applier, master.updates(12, [set('b'), set('c')]), 70).at(-1)!)).toBeUndefined();
    expect(ackOf(feed(applier, master.updates(14, [set('d')]), 80).at(-1)!)).toEqual({ type: 'ack', epoch: 7, seq: 14 });
    expect(applier.ackDue(200)).toBeNull();
    expect(ackOf(feed(applier, master.updates(15, [set('e')]), 100).at(-1)!)).toBeUndefined();
    expect(applier.ackDue(129)).toBeNull();
    const late = applier.ackDue(131);
    expect(late === null ? undefined : decodeFrame(late, new WireDictionary())).toEqual({ type: 'ack', epoch: 7, seq: 15 });
  });
});

describe('detach', () => {
  it('drops synced; with forget the next sync asks for a snapshot, without it resumes', () => {
    const a = new ReplicaApplier({ sink: { apply: () => 'applied', clear: () => undefined }, localDigests: () => new Map() });
    a.beginSession();
    a.onControl({ type: 'snapshot_begin', snapshotId: 1, epoch: 9, atSeq: 5, tables: [] }, 0);
    a.onControl({ type: 'snapshot_end', snapshotId: 1, entries: 0 }, 0);
    expect(a.synced).toBe(true);
    a.detach(false);
    expect(a.synced).toBe(false);
    expect(a.syncMessage()).toEqual({ type: 'sync', epoch: 9, seq: 5 });
    a.beginSession();
    a.onControl({ type: 'resume', epoch: 9, fromSeq: 6 }, 0);
    expect(a.synced).toBe(true);
    a.detach(true);
    expect(a.synced).toBe(false);
    expect(a.syncMessage()).toEqual({ type: 'sync', epoch: null, seq: null });
  });
});
