import { describe, expect, it } from 'vitest';
import { PersistenceTable } from '../tables/persistence-table.js';
import { WireDictionary } from './dictionary.js';
import { PeerStream, updatesRange, type PeerStep } from './peer-stream.js';
import { ReplicationLog } from './replication-log.js';
import { decodeFrame, encodeFrame, type Frame } from './wire-frames.js';

const ip = (i: number): string => `10.0.${(i >> 8) & 255}.${i & 255}`;

function setup(windowMs = 10_000): { t: PersistenceTable; log: ReplicationLog; stick: (n: number, now: number) => Buffer[] } {
  const t = new PersistenceTable({ name: 'web/persist_source', kind: 'persist_source', ttlMs: 60_000, maxEntries: 100_000 });
  const log = new ReplicationLog({ epoch: 5, tables: [t], replay: { maxBytes: 1 << 20, maxFrames: 1000, windowMs } });
  let next = 0;
  const stick = (n: number, now: number): Buffer[] => {
    for (let i = 0; i < n; i++) t.stick(ip(next++), 'p', 'b', now);
    return log.flush(now);
  };
  return { t, log, stick };
}

const ack = (epoch: number, seq: number): Buffer => encodeFrame({ type: 'ack', epoch, seq }, new WireDictionary());
const types = (frames: readonly Uint8Array[]): string[] => {
  const dict = new WireDictionary();
  return frames.map((f: Uint8Array): Frame => decodeFrame(f, dict)).map((f) => (f.type === 'updates' ? `updates@${f.firstSeq}` : f.type));
};

function runSnapshot(peer: PeerStream, now: number): PeerStep[] {
  const steps: PeerStep[] = [];
  for (let i = 0; i < 1_000; i++) {
    const step = peer.pump(now);
    if (step === null) break;
    steps.push(step);
    if (step.kind !== 'chunk') break;
  }
  return steps;
}

describe('PeerStream start', () => {
  it('a standby with nothing gets a snapshot, then snapshot_end with the dictionary and the updates after atSeq', () => {
    const { log, stick } = setup();
    stick(5, 0);
    const peer = new PeerStream({ sync: { epoch: null, seq: null }, chunkRecords: 2 });
    const start = peer.start(log, 0);
    expect(start.kind).toBe('snapshot');
    expect(start.control).toMatchObject({ type: 'snapshot_begin', epoch: 5, atSeq: 5, tables: [{ table: 'web/persist_source', entries: 5 }] });
    expect(peer.stats(0)).toMatchObject({ phase: 'snapshot', snapshot: { sent: 0, total: 5 }, snapshots: 1 });
    expect(peer.pump(0)?.kind).toBe('chunk');
    expect(peer.stats(0).snapshot).toEqual({ sent: 2, total: 5 });
    stick(2, 1);
    expect(peer.offer(stick(1, 2), 0, 1000, 2)).toBe('skip');
    const rest = runSnapshot(peer, 3);
    expect(rest.map((s) => s.kind)).toEqual(['chunk', 'chunk', 'end']);
    const end = rest.at(-1)!;
    expect(end.kind === 'end' && end.control).toEqual({ type: 'snapshot_end', snapshotId: 1, entries: 5 });
    expect(end.kind === 'end' && types(end.frames)).toEqual(['dict', 'updates@6', 'updates@8']);
    expect(peer.stats(3)).toMatchObject({ phase: 'streaming', sentSeq: 8, snapshot: null, unacked: 8 });
    expect(peer.pump(3)).toBeNull();
  });

  it('same epoch and seq+1 still buffered: resume with the dictionary and the missed frames, no snapshot', () => {
    const { log, stick } = setup();
    stick(3, 0);
    stick(2, 10);
    const peer = new PeerStream({ sync: { epoch: 5, seq: 3 } });
    const start = peer.start(log, 20);
    expect(start.kind === 'resume' && start.control).toEqual({ type: 'resume', epoch: 5, fromSeq: 4 });
    expect(start.kind === 'resume' && types(start.frames)).toEqual(['dict', 'updates@4']);
    expect(peer.stats(20)).toMatchObject({ phase: 'streaming', ackedSeq: 3, unacked: 2, sentSeq: 5, snapshots: 0 });
    const upToDate = new PeerStream({ sync: { epoch: 5, seq: 5 } }).start(log, 20);
    expect(upToDate.kind === 'resume' && types(upToDate.frames)).toEqual(['dict']);
  });

  it('another epoch, a seq past the replay window, or a seq ahead of the log: snapshot', () => {
    const { log, stick } = setup(1_000);
    stick(3, 0);
    stick(1, 900);
    expect(new PeerStream({ sync: { epoch: 4, seq: 3 } }).start(log, 950).kind).toBe('snapshot');
    expect(new PeerStream({ sync: { epoch: 5, seq: 9 } }).start(log, 950).kind).toBe('snapshot');
    expect(new PeerStream({ sync: { epoch: 5, seq: 2 } }).start(log, 950).kind).toBe('resume');
    expect(new PeerStream({ sync: { epoch: 5, seq: 2 } }).start(log, 1_100).kind).toBe('snapshot');
    expect(new PeerStream({ sync: { epoch: 5, seq: 3 } }).start(log, 1_100).kind).toBe('resume');
  });

  it('updates after the snapshot gone by its end: another snapshot, counted', () => {
    const { log, stick } = setup(1_000);
    stick(4, 0);
    const peer = new PeerStream({ sync: { epoch: null, seq: null }, chunkRecords: 2 });
    peer.start(log, 0);
    expect(peer.pump(0)?.kind).toBe('chunk');
    stick(1, 100);
    const steps = runSnapshot(peer, 1_200);
    expect(steps.at(-1)?.kind).toBe('snapshot');
    const again = steps.at(-1)!;
    expect(again.kind === 'snapshot' && again.control).toMatchObject({ snapshotId: 2, atSeq: 5 });
    expect(peer.stats(1_200)).toMatchObject({ phase: 'snapshot', snapshots: 2 });
    expect(runSnapshot(peer, 1_200).at(-1)?.kind).toBe('end');
  });
});

describe('PeerStream backpressure', () => {
  it('sends while the socket keeps up; past the limit cut once, then skip; drained resumes from the next seq', () => {
    const { log, stick } = setup();
    stick(2, 0);
    const peer = new PeerStream({ sync: { epoch: 5, seq: 2 } });
    peer.start(log, 0);
    expect(peer.offer(stick(1, 1), 100, 1000, 1)).toBe('send');
    expect(peer.stats(1).sentSeq).toBe(3);
    expect(peer.offer(stick(1, 2), 5000, 1000, 2)).toBe('cut');
    expect(peer.offer(stick(1, 3), 0, 1000, 3)).toBe('skip');
    expect(peer.stats(3)).toMatchObject({ phase: 'behind', sentSeq: 3 });
    const back = peer.drained(log, 4);
    expect(back?.kind === 'resume' && back.control).toEqual({ type: 'resume', epoch: 5, fromSeq: 4 });
    expect(back?.kind === 'resume' && types(back.frames)).toEqual(['dict', 'updates@4', 'updates@5']);
    expect(peer.stats(4)).toMatchObject({ phase: 'streaming', sentSeq: 5 });
    expect(peer.drained(log, 4)).toBeNull();
  });

  it('drained after the replay window: snapshot', () => {
    const { log, stick } = setup(1_000);
    stick(2, 0);
    const peer = new PeerStream({ sync: { epoch: 5, seq: 2 } });
    peer.start(log, 0);
    expect(peer.offer(stick(1, 10), 2000, 1000, 10)).toBe('cut');
    expect(peer.drained(log, 1_500)?.kind).toBe('snapshot');
    expect(peer.stats(1_500).snapshots).toBe(1);
  });

  it('frames that do not follow what the peer was sent put it behind (it missed some)', () => {
    const { log, stick } = setup();
    stick(1, 0);
    const peer = new PeerStream({ sync: { epoch: 5, seq: 1 } });
    peer.start(log, 0);
    stick(1, 1);
    expect(peer.offer(stick(1, 2), 0, 1000, 2)).toBe('cut');
    expect(peer.drained(log, 3)?.kind).toBe('resume');
  });

  it('reads the seq range from an UPDATES header; other frames have none', () => {
    const { log, stick } = setup();
    const frames = stick(3, 0);
    expect(updatesRange(frames.at(-1)!)).toEqual({ firstSeq: 1, lastSeq: 3 });
    expect(updatesRange(log.dictFrame())).toBeNull();
    expect(updatesRange(Buffer.from([2, 0, 0]))).toBeNull();
  });
});

describe('PeerStream acks and lag', () => {
  it('lag is the age of the oldest unacked batch; acks move ackedSeq and unacked', () => {
    const { log, stick } = setup();
    const peer = new PeerStream({ sync: { epoch: 5, seq: 0 } });
    peer.start(log, 0);
    expect(peer.stats(0)).toMatchObject({ lagMs: 0, unacked: 0 });
    peer.offer(stick(2, 100), 0, 1000, 100);
    peer.offer(stick(3, 130), 0, 1000, 130);
    expect(peer.stats(150)).toMatchObject({ ackedSeq: 0, unacked: 5, lagMs: 50 });
    expect(peer.onFrame(ack(5, 2), 160)).toEqual({ ok: true });
    expect(peer.stats(170)).toMatchObject({ ackedSeq: 2, unacked: 3, lagMs: 40 });
    expect(peer.onFrame(ack(5, 1), 170)).toEqual({ ok: true });
    expect(peer.onFrame(ack(5, 5), 180)).toEqual({ ok: true });
    expect(peer.stats(200)).toMatchObject({ ackedSeq: 5, unacked: 0, lagMs: 0 });
  });

  it('an ack above the sent seq, of another epoch, or not an ack is a protocol error result', () => {
    const { log, stick } = setup();
    stick(2, 0);
    const peer = new PeerStream({ sync: { epoch: 5, seq: 2 } });
    expect(peer.onAck({ epoch: 5, seq: 1 }, 0)).toMatchObject({ ok: false, error: 'ack before the stream started' });
    peer.start(log, 0);
    expect(peer.onFrame(ack(5, 3), 1)).toEqual({ ok: false, error: 'ack of seq 3, above the last seq sent 2' });
    expect(peer.onFrame(ack(6, 1), 1)).toEqual({ ok: false, error: "ack for epoch 6, this master's epoch is 5" });
    expect(peer.onFrame(log.dictFrame(), 1)).toMatchObject({ ok: false, error: expect.stringMatching(/dict frame/) });
    expect(peer.onFrame(Buffer.from([5, 1]), 1)).toMatchObject({ ok: false });
    expect(peer.stats(1).ackedSeq).toBe(2);
  });

  it('an ack still in flight from before a snapshot is not an error and does not count', () => {
    const { log, stick } = setup(1_000);
    stick(4, 0);
    const peer = new PeerStream({ sync: { epoch: 5, seq: 2 } });
    peer.start(log, 0);
    expect(peer.offer(stick(1, 10), 5000, 1000, 10)).toBe('cut');
    peer.drained(log, 2_000);
    expect(peer.onFrame(ack(5, 4), 2_001)).toEqual({ ok: true });
    expect(peer.stats(2_001)).toMatchObject({ phase: 'snapshot', ackedSeq: 0 });
  });

  it('past maxTimedBatches the newest batches merge: the lag still counts from the oldest', () => {
    const { log, stick } = setup();
    const peer = new PeerStream({ sync: { epoch: 5, seq: 0 }, maxTimedBatches: 2 });
    peer.start(log, 0);
    for (let i = 0; i < 5; i++) peer.offer(stick(1, i * 10), 0, 1000, i * 10);
    expect(peer.stats(100).lagMs).toBe(100);
    peer.onAck({ epoch: 5, seq: 1 }, 100);
    expect(peer.stats(100).lagMs).toBe(90);
    peer.onAck({ epoch: 5, seq: 4 }, 100);
    expect(peer.stats(100)).toMatchObject({ lagMs: 90, unacked: 1 });
    peer.onAck({ epoch: 5, seq: 5 }, 100);
    expect(peer.stats(100).lagMs).toBe(0);
  });
});
