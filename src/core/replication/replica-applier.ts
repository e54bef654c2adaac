/**
 * The standby's side of the stream: decodes the master's frames, applies their records
 * to the data plane (ReplicaSink) in seq order, compares digests, and acks.
 *
 * Across sessions it remembers the master's epoch and the highest seq applied, so a
 * reconnect asks (syncMessage) to resume instead of a snapshot. Anything that leaves
 * the tables in doubt forgets them, so the next sync asks for a snapshot:
 * snapshot_begin (the tables are cleared at once: a link lost mid-snapshot must not
 * resume on half a snapshot), a snapshot whose count is off, a digest mismatch, a sink
 * that threw. A gap in the seqs keeps them: a resume from the replay buffer fills it.
 *
 * Outputs of onControl/onFrame/ackDue, to carry out in this order:
 *   error   a frame could not be decoded (counted): reset the link
 *   resync  the stream is unusable for the reason given: reset the link and dial
 *           again with a fresh syncMessage()
 *   ack     send this ACK frame to the master
 * After an error or resync, frames until the next beginSession() are ignored.
 */
import type { Buffer } from 'node:buffer';
import { WireDictionary } from './dictionary.js';
import { ReplicationFrameError } from './frame-error.js';
import type { ControlMessage, SyncMessage } from './handshake-messages.js';
import type { ApplyResult, ReplicaSink } from './replication-source.js';
import { decodeFrame, encodeFrame, type DigestTableEntry, type Frame } from './wire-frames.js';
import type { ReplicationRecord } from './wire-records.js';

export type ApplierPhase = 'idle' | 'snapshot' | 'streaming';

export interface ReplicaApplierOptions {
  readonly sink: ReplicaSink;
  /** This node's own digests of its tables (its ReplicationLog.digests()). */
  readonly localDigests: () => Map<string, { readonly count: number; readonly value: bigint }>;
  /** Ack at least this often while records arrive; default 50. */
  readonly ackEveryMs?: number;
  /** ... or after this many records; default 1000. */
  readonly ackEveryRecords?: number;
}

export interface ApplierResult {
  readonly ack?: Buffer;
  readonly resync?: string;
  readonly error?: ReplicationFrameError;
}

export interface ApplierStatus {
  readonly phase: ApplierPhase;
  /** The master epoch the tables follow; null: none (a snapshot is needed). */
  readonly epoch: number | null;
  readonly appliedSeq: number | null;
  readonly snapshot: { readonly received: number; readonly total: number } | null;
  readonly lastDigestMatch: boolean | null;
  readonly applied: Readonly<Record<ApplyResult, number>>;
  /** The sink threw on a record (a bug on our side); the tables are then resynced. */
  readonly sinkErrors: number;
  readonly frameErrors: number;
  readonly resyncs: number;
  /** DIGEST frames that could not be compared (their seq was already passed). */
  readonly digestsSkipped: number;
}

interface SnapshotState {
  readonly id: number;
  readonly epoch: number;
  readonly atSeq: number;
  readonly total: number;
  received: number;
}

const NOTHING: ApplierResult = {};

export class ReplicaApplier {
  private readonly sink: ReplicaSink;
  private readonly localDigests: ReplicaApplierOptions['localDigests'];
  private readonly ackEveryMs: number;
  private readonly ackEveryRecords: number;
  private dict = new WireDictionary();
  private phase: ApplierPhase = 'idle';
  private epoch: number | null = null;
  private appliedSeq: number | null = null;
  private snapshot: SnapshotState | null = null;
  private pendingDigest: Extract<Frame, { type: 'digest' }> | null = null;
  private lastDigestMatch: boolean | null = null;
  private readonly counts: Record<ApplyResult, number> = { applied: 0, unknown_table: 0, unknown_pool_or_backend: 0, full: 0 };
  private sinkErrors = 0;
  private frameErrors = 0;
  private resyncs = 0;
  private digestsSkipped = 0;
  private lastAckAt = Number.NEGATIVE_INFINITY;
  private lastAckedSeq = -1;
  private recordsSinceAck = 0;

  constructor(opts: ReplicaApplierOptions) {
    this.sink = opts.sink;
    this.localDigests = opts.localDigests;
    this.ackEveryMs = opts.ackEveryMs ?? 50;
    this.ackEveryRecords = opts.ackEveryRecords ?? 1000;
  }

  /** Tables in step: streaming, and the last digest compared (if any) matched. */
  get synced(): boolean {
    return this.phase === 'streaming' && this.lastDigestMatch !== false;
  }

  /** What to send after welcome: where the tables stand (both null: send a snapshot). */
  syncMessage(): SyncMessage {
    return this.epoch === null || this.appliedSeq === null ? { type: 'sync', epoch: null, seq: null } : { type: 'sync', epoch: this.epoch, seq: this.appliedSeq };
  }

  /**
   * The link is gone, or this node's tables changed by themselves (it became master): not
   * synced; with `forget`, the next sync asks for a snapshot instead of a resume.
   */
  detach(forget: boolean): void {
    this.phase = 'idle';
    this.snapshot = null;
    this.pendingDigest = null;
    if (forget) {
      this.epoch = null;
      this.appliedSeq = null;
    }
  }

  /** A new connection: the master resends its whole dictionary, so decoding starts afresh. */
  beginSession(): void {
    this.dict = new WireDictionary();
    this.phase = 'idle';
    this.snapshot = null;
    this.pendingDigest = null;
    this.lastAckAt = Number.NEGATIVE_INFINITY;
    this.lastAckedSeq = -1;
    this.recordsSinceAck = 0;
  }

  /** The stream control messages (snapshot_begin, snapshot_end, resume); others are a protocol error here. */
  onControl(msg: ControlMessage, now: number): ApplierResult {
    switch (msg.type) {
      case 'snapshot_begin':
        this.sink.clear(now);
        this.epoch = null;
        this.appliedSeq = null;
        this.pendingDigest = null;
        this.lastDigestMatch = null;
        this.snapshot = { id: msg.snapshotId, epoch: msg.epoch, atSeq: msg.atSeq, total: msg.tables.reduce((n, t) => n + t.entries, 0), received: 0 };
        this.phase = 'snapshot';
        return NOTHING;
      case 'snapshot_end': {
        const s = this.snapshot;
        if (this.phase !== 'snapshot' || s === null || s.id !== msg.snapshotId) return this.resync(`snapshot_end for snapshot ${msg.snapshotId} outside it`, true);
        if (s.received !== msg.entries) return this.resync(`snapshot ${s.id}: master sent ${msg.entries} entries, ${s.received} arrived`, true);
        this.snapshot = null;
        this.epoch = s.epoch;
        this.appliedSeq = s.atSeq;
        this.phase = 'streaming';
        return this.ack(now);
      }
      case 'resume':
        if (this.epoch !== msg.epoch || this.appliedSeq === null) return this.resync(`resume for epoch ${msg.epoch}, tables here follow ${this.epoch ?? 'none'}`, true);
        if (msg.fromSeq > this.appliedSeq + 1) return this.resync(`resume from seq ${msg.fromSeq}, applied here up to ${this.appliedSeq}: gap`, false);
        this.phase = 'streaming';
        return NOTHING;
      default:
        return this.resync(`unexpected ${msg.type} message in the stream`, false);
    }
  }

  /** One binary frame from the master. Never throws; a frame is applied whole or not at all. */
  onFrame(buf: Uint8Array, now: number): ApplierResult {
    let frame: Frame;
    try {
      frame = decodeFrame(buf, this.dict);
    } catch (err) {
      this.frameErrors++;
      this.phase = 'idle';
      return { error: err instanceof ReplicationFrameError ? err : new ReplicationFrameError(`undecodable frame: ${String(err)}`, 'frame') };
    }
    switch (frame.type) {
      case 'dict':
        return NOTHING;
      case 'updates':
        return this.onUpdates(frame.epoch, frame.firstSeq, frame.records, now);
      case 'snapshot_chunk': {
        const s = this.snapshot;
        if (this.phase === 'idle') return NOTHING;
        if (this.phase !== 'snapshot' || s === null || s.id !== frame.snapshotId) return this.resync(`chunk of snapshot ${frame.snapshotId} outside it`, true);
        if (!this.applyAll(frame.records, now)) return this.resync('the sink failed during a snapshot', true);
        s.received += frame.records.length;
        return NOTHING;
      }
      case 'digest':
        return this.onDigest(frame, now);
      case 'ack':
        return this.resync('the master sent an ack frame', false);
    }
  }

  /** An ACK frame when records were applied since the last one and ackEveryMs has passed; call on a timer. */
  ackDue(now: number): Buffer | null {
    if (this.phase !== 'streaming' || now - this.lastAckAt < this.ackEveryMs) return null;
    return this.ack(now).ack ?? null;
  }

  status(): ApplierStatus {
    const s = this.snapshot;
    return {
      phase: this.phase,
      epoch: this.epoch,
      appliedSeq: this.appliedSeq,
      snapshot: s === null ? null : { received: s.received, total: s.total },
      lastDigestMatch: this.lastDigestMatch,
      applied: { ...this.counts },
      sinkErrors: this.sinkErrors,
      frameErrors: this.frameErrors,
      resyncs: this.resyncs,
      digestsSkipped: this.digestsSkipped,
    };
  }

  private onUpdates(epoch: number, firstSeq: number, records: readonly ReplicationRecord[], now: number): ApplierResult {
    if (this.phase === 'idle') return NOTHING;
    if (this.phase !== 'streaming' || this.appliedSeq === null) return this.resync('updates during a snapshot', true);
    if (epoch !== this.epoch) return this.resync(`updates of epoch ${epoch}, tables here follow ${this.epoch ?? 'none'}`, true);
    if (firstSeq > this.appliedSeq + 1) return this.resync(`gap: updates from seq ${firstSeq}, applied here up to ${this.appliedSeq}`, false);
    // Replay hands out whole frames: the ones already applied are skipped.
    const skip = this.appliedSeq + 1 - firstSeq;
    if (skip >= records.length) return NOTHING;
    if (!this.applyAll(skip > 0 ? records.slice(skip) : records, now)) return this.resync('the sink failed while applying updates', true);
    this.appliedSeq = firstSeq + records.length - 1;
    this.recordsSinceAck += records.length - skip;
    const digest = this.pendingDigest;
    let result: ApplierResult = NOTHING;
    if (digest !== null && digest.atSeq <= this.appliedSeq) {
      this.pendingDigest = null;
      result = this.compare(digest);
      if (result.resync !== undefined) return result;
    }
    if (this.recordsSinceAck >= this.ackEveryRecords || now - this.lastAckAt >= this.ackEveryMs) return this.ack(now);
    return result;
  }

  private onDigest(frame: Extract<Frame, { type: 'digest' }>, _now: number): ApplierResult {
    if (this.phase !== 'streaming' || this.appliedSeq === null) return NOTHING;
    if (frame.epoch !== this.epoch) return this.resync(`digest of epoch ${frame.epoch}, tables here follow ${this.epoch ?? 'none'}`, true);
    if (frame.atSeq > this.appliedSeq) {
      this.pendingDigest = frame;
      return NOTHING;
    }
    return this.compare(frame);
  }

  /** Compare a digest taken at exactly the seq applied here; one at an earlier seq describes other content and is skipped. */
  private compare(frame: Extract<Frame, { type: 'digest' }>): ApplierResult {
    if (frame.atSeq !== this.appliedSeq) {
      this.digestsSkipped++;
      return NOTHING;
    }
    const local = this.localDigests();
    const listed = new Set<string>();
    const check = (t: DigestTableEntry): string | undefined => {
      const here = local.get(t.table) ?? { count: 0, value: 0n };
      return here.count === t.count && here.value === t.digest ? undefined : `digest mismatch on ${t.table}: master ${t.count} entries, here ${here.count}`;
    };
    for (const t of frame.tables) {
      listed.add(t.table);
      const problem = check(t);
      if (problem !== undefined) return this.mismatch(problem);
    }
    for (const [table, here] of local) {
      if (!listed.has(table) && here.count > 0) return this.mismatch(`digest mismatch on ${table}: master 0 entries, here ${here.count}`);
    }
    this.lastDigestMatch = true;
    return NOTHING;
  }

  private mismatch(reason: string): ApplierResult {
    this.lastDigestMatch = false;
    return this.resync(reason, true);
  }

  /** Apply every record; false when the sink threw (the tables are then in doubt). */
  private applyAll(records: readonly ReplicationRecord[], now: number): boolean {
    for (const rec of records) {
      try {
        this.counts[this.sink.apply(rec, now)]++;
      } catch {
        this.sinkErrors++;
        return false;
      }
    }
    return true;
  }

  /** `forget`: the tables no longer follow the master's seqs, so the next sync asks for a snapshot. */
  private resync(reason: string, forget: boolean): ApplierResult {
    this.resyncs++;
    this.phase = 'idle';
    this.snapshot = null;
    this.pendingDigest = null;
    if (forget) {
      this.epoch = null;
      this.appliedSeq = null;
    }
    return { resync: reason };
  }

  private ack(now: number): ApplierResult {
    if (this.epoch === null || this.appliedSeq === null || this.appliedSeq <= this.lastAckedSeq) return NOTHING;
    this.lastAckAt = now;
    this.lastAckedSeq = this.appliedSeq;
    this.recordsSinceAck = 0;
    return { ack: encodeFrame({ type: 'ack', epoch: this.epoch, seq: this.appliedSeq }, this.dict) };
  }
}
