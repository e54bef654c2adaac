/**
 * The replication log of one node: every change of every replicated table, numbered
 * (epoch, seq), encoded once into UPDATES frames shared by all standbys, kept in a
 * replay buffer for reconnects, with per-table digests and snapshots of the live
 * tables. Always on, also on a standby (its tables change through the applier): the
 * day it becomes master, its log already serves, and its digests are what the standby
 * compares against the master's.
 *
 * The proxy never waits: a table event is pushed onto a queue, nothing more. The
 * adapter calls flush(now) every few ms, which numbers, converts (remaining TTL and
 * age at `now`) and encodes the queue. Digests fold the queued events in lazily
 * (digests(), flush()), also off the hot path.
 *
 * One dictionary per log, hence per epoch: ids are never reused, and frames in the
 * replay buffer stay decodable by any standby that first gets dictFrame().
 */
import { Buffer } from 'node:buffer';
import { HaloError } from '../errors.js';
import type { TableEvent } from '../tables/table-event.js';
import { WireDictionary } from './dictionary.js';
import { ReplicationFrameError } from './frame-error.js';
import { ReplayBuffer, type ReplayBufferStats } from './replay-buffer.js';
import { encodeRecords, toRecord, valueIdentity, type SourceTable } from './replication-source.js';
import { SnapshotCursor } from './snapshot-cursor.js';
import { TableDigest } from './table-digest.js';
import { encodeFrame, encodeFrames, MAX_RECORDS_PER_FRAME, type DigestTableEntry } from './wire-frames.js';
import type { ReplicationRecord } from './wire-records.js';

export interface ReplicationLogOptions {
  /** u32; a new one per process start (the master's identity for sync/resume). */
  readonly epoch: number;
  readonly tables: readonly SourceTable[];
  readonly replay: { readonly maxBytes: number; readonly maxFrames: number; readonly windowMs: number };
  /** Records per UPDATES frame; default 4096. */
  readonly maxBatchRecords?: number;
}

export interface ReplicationLogStats {
  readonly epoch: number;
  readonly seq: number;
  /** Events queued since the last flush. */
  readonly pending: number;
  readonly tables: number;
  readonly dictionary: number;
  readonly replay: ReplayBufferStats;
  /** Records the wire could not carry (malformed value, key over 1 KiB, dictionary full), cumulative. */
  readonly rejected: number;
  readonly snapshots: number;
}

export interface DigestSnapshot {
  readonly count: number;
  readonly value: bigint;
}

const U32_MAX = 0xffff_ffff;
const MASK32 = 0xffffffffn;

interface Subscription {
  readonly table: SourceTable;
  readonly unsubscribe: () => void;
}

function positiveInt(v: number, what: string, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isSafeInteger(v) || v < 1 || v > max) throw new HaloError('HALO_ERR_CONFIG_INVALID', `replication log ${what} ${v} is not an integer 1..${max}`);
  return v;
}

export class ReplicationLog {
  readonly epoch: number;
  private readonly dict = new WireDictionary();
  private readonly replay: ReplayBuffer;
  private readonly windowMs: number;
  private readonly maxBatch: number;
  private subscriptions = new Map<string, Subscription>();
  private readonly tableDigests = new Map<string, TableDigest>();
  private queue: TableEvent<unknown>[] = [];
  /** queue[0 .. digested) are already folded into tableDigests. */
  private digested = 0;
  /** Table name -> queue length when setTables recomputed its digest: older queued events are not in it. */
  private rebased = new Map<string, number>();
  private latestSeq = 0;
  private rejectedRecords = 0;
  private snapshotCount = 0;

  constructor(opts: ReplicationLogOptions) {
    if (!Number.isSafeInteger(opts.epoch) || opts.epoch < 0 || opts.epoch > U32_MAX) {
      throw new HaloError('HALO_ERR_CONFIG_INVALID', `replication log epoch ${opts.epoch} is not a u32`);
    }
    this.epoch = opts.epoch;
    this.maxBatch = positiveInt(opts.maxBatchRecords ?? 4096, 'maxBatchRecords', MAX_RECORDS_PER_FRAME);
    if (!Number.isFinite(opts.replay.windowMs) || opts.replay.windowMs <= 0) {
      throw new HaloError('HALO_ERR_CONFIG_INVALID', `replication log replay windowMs ${opts.replay.windowMs} is not a positive number`);
    }
    this.windowMs = opts.replay.windowMs;
    this.replay = new ReplayBuffer({ maxBytes: opts.replay.maxBytes, maxFrames: opts.replay.maxFrames });
    this.setTables(opts.tables);
  }

  /** Latest flushed seq (0 before the first flush). */
  get seq(): number {
    return this.latestSeq;
  }

  /**
   * Replace the replicated tables (config reload). A table object kept keeps its
   * subscription and digest; a removed one is unsubscribed and its digest dropped; a new
   * one (or a new object under an old name) is subscribed and its digest computed from
   * its entries. Events already queued are still flushed.
   */
  setTables(tables: readonly SourceTable[]): void {
    const names = new Set<string>();
    for (const t of tables) {
      if (names.has(t.name)) throw new HaloError('HALO_ERR_CONFIG_INVALID', `replication log: table ${JSON.stringify(t.name)} given twice`);
      names.add(t.name);
    }
    this.settleDigests();
    const next = new Map<string, Subscription>();
    for (const [name, sub] of this.subscriptions) {
      if (tables.find((t) => t.name === name) === sub.table) {
        next.set(name, sub);
        continue;
      }
      sub.unsubscribe();
      this.tableDigests.delete(name);
    }
    for (const table of tables) {
      if (next.has(table.name)) continue;
      const digest = new TableDigest();
      for (const e of table.entries()) digest.add(e.key, valueIdentity(table.kind, e.value));
      this.tableDigests.set(table.name, digest);
      this.rebased.set(table.name, this.queue.length);
      next.set(table.name, { table, unsubscribe: table.onEvent((event) => this.queue.push(event)) });
      // Interned now so a DIGEST naming a table with no record yet never uses an undefined id.
      this.internTable(table.name);
    }
    this.subscriptions = next;
  }

  /** Unsubscribe from every table (node shutdown). */
  close(): void {
    for (const sub of this.subscriptions.values()) sub.unsubscribe();
    this.subscriptions = new Map();
  }

  /**
   * Encode the queued events into UPDATES frames of at most maxBatchRecords records,
   * each preceded by a DICT frame when it introduced strings, numbered from seq+1, kept
   * in the replay buffer. Returns the frames to send, in order, to every streaming peer
   * (PeerStream.offer); [] when nothing is queued.
   */
  flush(now: number): Buffer[] {
    this.replay.dropOlderThan(now - this.windowMs);
    if (this.queue.length === 0) return [];
    this.settleDigests();
    const queue = this.queue;
    this.queue = [];
    this.digested = 0;
    this.rebased = new Map();
    const out: Buffer[] = [];
    let records: ReplicationRecord[] = [];
    for (const event of queue) {
      try {
        records.push(toRecord(event, now));
      } catch (err) {
        if (!(err instanceof ReplicationFrameError)) throw err;
        this.rejectedRecords++;
      }
      if (records.length === this.maxBatch) {
        this.encodeBatch(records, now, out);
        records = [];
      }
    }
    this.encodeBatch(records, now, out);
    return out;
  }

  /**
   * The DIGEST of every table at the latest flushed seq, preceded by a DICT frame when a
   * table name was not announced yet. Call right after flush(now) and send to the same
   * peers: the standby compares once it has applied up to that seq. (Events queued since
   * the flush are taken out of the digest, so it is right at any time, but only the
   * streaming peers that got every flushed frame can use it.)
   */
  digestFrames(): Buffer[] {
    const delta = new Map<string, TableDigest>();
    for (let i = 0; i < this.digested; i++) {
      const e = this.queue[i]!;
      if (i < (this.rebased.get(e.table) ?? 0)) continue;
      let d = delta.get(e.table);
      if (d === undefined) delta.set(e.table, (d = new TableDigest()));
      // The inverse of foldEvent: sums commute, so undoing is adding the opposite.
      if (e.op === 'set') {
        d.remove(e.key, valueIdentity(e.kind, e.value));
        if (e.previous !== undefined) d.add(e.key, valueIdentity(e.kind, e.previous));
      } else {
        d.add(e.key, valueIdentity(e.kind, e.value));
      }
    }
    const tables: DigestTableEntry[] = [];
    for (const [table, live] of this.tableDigests) {
      const d = delta.get(table);
      tables.push({ table, count: live.count + (d?.count ?? 0), digest: d === undefined ? live.value : addDigests(live.value, d.value) });
    }
    return encodeFrames({ type: 'digest', epoch: this.epoch, atSeq: this.latestSeq, tables }, this.dict);
  }

  /** Each table's digest of its current content (queued events included): what a standby compares with the master's DIGEST. */
  digests(): Map<string, DigestSnapshot> {
    this.settleDigests();
    const out = new Map<string, DigestSnapshot>();
    for (const [name, d] of this.tableDigests) out.set(name, { count: d.count, value: d.value });
    return out;
  }

  /**
   * The frames after `seq` from the replay buffer, or 'gone' (send a snapshot) when
   * they were dropped for size or age (windowMs), or when `seq` is not a seq of this
   * log (ahead of it, or not an integer).
   */
  since(seq: number, now: number): { frames: Buffer[] } | 'gone' {
    this.replay.dropOlderThan(now - this.windowMs);
    const r = this.replay.since(seq);
    if (r === 'gone' || 'error' in r) return 'gone';
    // The buffer holds the Buffers flush() appended; the view is for other callers.
    return { frames: r.frames.map((f) => (Buffer.isBuffer(f) ? f : Buffer.from(f.buffer, f.byteOffset, f.byteLength))) };
  }

  /** The whole dictionary: first frame of every session (resume or after a snapshot). */
  dictFrame(): Buffer {
    return encodeFrame({ type: 'dict', entries: this.dict.entries() }, this.dict);
  }

  /** A lazy snapshot of the live tables at the latest flushed seq (see snapshot-cursor.ts). */
  snapshot(now: number, chunkRecords = 2048): SnapshotCursor {
    this.replay.dropOlderThan(now - this.windowMs);
    this.snapshotCount++;
    return new SnapshotCursor({
      snapshotId: this.snapshotCount,
      epoch: this.epoch,
      atSeq: this.latestSeq,
      tables: [...this.subscriptions.values()].map((s) => s.table),
      dict: this.dict,
      chunkRecords,
      onRejected: (n) => {
        this.rejectedRecords += n;
      },
    });
  }

  stats(): ReplicationLogStats {
    return {
      epoch: this.epoch,
      seq: this.latestSeq,
      pending: this.queue.length,
      tables: this.subscriptions.size,
      dictionary: this.dict.size,
      replay: this.replay.stats,
      rejected: this.rejectedRecords,
      snapshots: this.snapshotCount,
    };
  }

  private encodeBatch(records: readonly ReplicationRecord[], now: number, out: Buffer[]): void {
    const firstSeq = this.latestSeq + 1;
    const epoch = this.epoch;
    const encoded = encodeRecords(records, (recs) => ({ type: 'updates', epoch, firstSeq, records: recs }), this.dict);
    this.rejectedRecords += encoded.rejected;
    if (encoded.frame === null) return;
    const fresh = this.dict.takeNew();
    if (fresh.length > 0) out.push(encodeFrame({ type: 'dict', entries: fresh }, this.dict));
    out.push(encoded.frame);
    this.replay.append(firstSeq, encoded.kept.length, encoded.frame, now);
    this.latestSeq += encoded.kept.length;
  }

  private settleDigests(): void {
    for (; this.digested < this.queue.length; this.digested++) {
      const e = this.queue[this.digested]!;
      const d = this.tableDigests.get(e.table);
      if (d === undefined) continue;
      if (e.op === 'set') {
        if (e.previous !== undefined) d.remove(e.key, valueIdentity(e.kind, e.previous));
        d.add(e.key, valueIdentity(e.kind, e.value));
      } else {
        d.remove(e.key, valueIdentity(e.kind, e.value));
      }
    }
  }

  private internTable(name: string): void {
    try {
      this.dict.intern(name, 'table');
    } catch (err) {
      // A name the wire cannot carry: its records are rejected (and counted) at flush.
      if (!(err instanceof ReplicationFrameError)) throw err;
    }
  }
}

/** Two digest values added word by word (each word is a sum modulo 2^32). */
function addDigests(a: bigint, b: bigint): bigint {
  const hi = ((a >> 32n) + (b >> 32n)) & MASK32;
  const lo = ((a & MASK32) + (b & MASK32)) & MASK32;
  return (hi << 32n) | lo;
}
