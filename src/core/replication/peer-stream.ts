/**
 * The master's view of one standby, from its `sync {epoch, seq}` on: what to send it
 * (resume from the replay buffer, or a snapshot then the updates after it), whether
 * it can take the live stream (backpressure), and how far it has acked (lag).
 *
 * The adapter drives it; every output lists what to send, in order: the control
 * message (a TEXT frame, encodeControl) first, then the binary frames.
 *
 *   start(log, now)        -> resume {control, frames} | snapshot {control, cursor}
 *   pump(now)              while phase is 'snapshot' and the socket buffer is low:
 *                             chunk {frames} ... end {control: snapshot_end, frames},
 *                             or snapshot again when the updates after the snapshot
 *                             left the replay buffer meanwhile
 *   offer(frames, ...)     every log.flush()/digestFrames() output: 'send' it or not
 *   drained(log, now)      after a 'cut', once the socket buffer is low again
 *   onFrame / onAck        the standby's ACK frames
 *
 * Dictionary: every catch-up (resume, end of snapshot, drained) starts with the whole
 * dictionary, because the peer missed the DICT frames of the live stream meanwhile.
 */
import type { Buffer } from 'node:buffer';
import { WireDictionary } from './dictionary.js';
import { ReplicationFrameError } from './frame-error.js';
import type { ResumeMessage, SnapshotBeginMessage, SnapshotEndMessage } from './handshake-messages.js';
import type { ReplicationLog } from './replication-log.js';
import type { SnapshotCursor } from './snapshot-cursor.js';
import { decodeFrame, FRAME_TYPE } from './wire-frames.js';
import { ByteReader } from './wire-varint.js';

export type PeerPhase = 'idle' | 'snapshot' | 'streaming' | 'behind';

export type PeerStart =
  | { readonly kind: 'resume'; readonly control: ResumeMessage; readonly frames: Buffer[] }
  | { readonly kind: 'snapshot'; readonly control: SnapshotBeginMessage; readonly cursor: SnapshotCursor };

export type PeerStep =
  | PeerStart
  | { readonly kind: 'chunk'; readonly frames: Buffer[] }
  | { readonly kind: 'end'; readonly control: SnapshotEndMessage; readonly frames: Buffer[] };

/**
 * 'send': send the frames. 'cut': the peer went behind now (log it) and gets nothing
 * until drained(). 'skip': not for this peer (in a snapshot, or already behind).
 */
export type OfferDecision = 'send' | 'cut' | 'skip';

/** A bad ack is the peer's protocol error: close the link (4400), do not throw. */
export type AckResult = { readonly ok: true } | { readonly ok: false; readonly error: string };

export interface PeerStreamStats {
  readonly phase: PeerPhase;
  readonly ackedSeq: number;
  /** log.seq - ackedSeq. */
  readonly unacked: number;
  /** now - send time of the oldest unacked batch; 0 when none. */
  readonly lagMs: number;
  readonly sentSeq: number;
  readonly snapshot: { readonly sent: number; readonly total: number } | null;
  /** Snapshots started for this peer. */
  readonly snapshots: number;
}

export interface PeerStreamOptions {
  /** The standby's sync message: where its tables stand from this master (null: nowhere). */
  readonly sync: { readonly epoch: number | null; readonly seq: number | null };
  /** Records per snapshot chunk; default 2048. */
  readonly chunkRecords?: number;
  /** Send times kept for the lag; past it the newest are merged (lag can only read high). Default 4096. */
  readonly maxTimedBatches?: number;
}

interface SentBatch {
  lastSeq: number;
  readonly at: number;
}

/** Seq range of an encoded UPDATES frame, read from its header; null for other frames. */
export function updatesRange(frame: Uint8Array): { readonly firstSeq: number; readonly lastSeq: number } | null {
  if (frame[0] !== FRAME_TYPE.updates) return null;
  try {
    const r = new ByteReader(frame);
    r.u8('type');
    r.u32('epoch');
    const firstSeq = r.varint('firstSeq');
    const count = r.varint('record count');
    return count < 1 ? null : { firstSeq, lastSeq: firstSeq + count - 1 };
  } catch (err) {
    if (err instanceof ReplicationFrameError) return null;
    throw err;
  }
}

export class PeerStream {
  private readonly sync: PeerStreamOptions['sync'];
  private readonly chunkRecords: number;
  private readonly maxTimed: number;
  // ACK frames hold no strings; decoding needs a dictionary all the same.
  private readonly ackDict = new WireDictionary();
  private log: ReplicationLog | undefined;
  private current: PeerPhase = 'idle';
  private cursor: SnapshotCursor | null = null;
  private acked = 0;
  private sentSeq = 0;
  /** Highest seq ever sent in this session: an in-flight ack from before a snapshot may still quote it. */
  private highestSent = 0;
  private batches: SentBatch[] = [];
  private batchHead = 0;
  private snapshotCount = 0;

  constructor(opts: PeerStreamOptions) {
    this.sync = opts.sync;
    this.chunkRecords = opts.chunkRecords ?? 2048;
    this.maxTimed = Math.max(1, opts.maxTimedBatches ?? 4096);
  }

  get phase(): PeerPhase {
    return this.current;
  }

  /** The answer to the standby's sync: resume when the epoch matches and seq+1 is still in the replay buffer, else a snapshot. */
  start(log: ReplicationLog, now: number): PeerStart {
    this.log = log;
    const { epoch, seq } = this.sync;
    if (epoch === log.epoch && seq !== null) {
      const r = log.since(seq, now);
      if (r !== 'gone') {
        this.acked = seq;
        return this.resume(log, seq, r.frames, now);
      }
    }
    return this.beginSnapshot(log, now);
  }

  /** The next snapshot step; null when not in a snapshot. */
  pump(now: number): PeerStep | null {
    const log = this.log;
    const cursor = this.cursor;
    if (this.current !== 'snapshot' || log === undefined || cursor === null) return null;
    const frames = cursor.next(now);
    if (frames !== null) return { kind: 'chunk', frames };
    const r = log.since(cursor.atSeq, now);
    if (r === 'gone') return this.beginSnapshot(log, now);
    this.cursor = null;
    this.current = 'streaming';
    this.markSent(log.seq, now);
    return { kind: 'end', control: cursor.endMessage(), frames: [log.dictFrame(), ...r.frames] };
  }

  /**
   * Whether a streaming peer gets these frames (log.flush() or log.digestFrames()
   * output, same order for every peer). `bufferedBytes` is what its socket still holds.
   * A peer past the limit, or one that missed frames (the first UPDATES does not follow
   * what it was sent), goes 'behind'.
   */
  offer(frames: readonly Uint8Array[], bufferedBytes: number, maxBufferedBytes: number, now: number): OfferDecision {
    if (this.current !== 'streaming') return 'skip';
    let first = true;
    for (const frame of frames) {
      const range = updatesRange(frame);
      if (range === null) continue;
      if (first && range.firstSeq > this.sentSeq + 1) return this.cut();
      first = false;
    }
    if (bufferedBytes > maxBufferedBytes) return this.cut();
    for (const frame of frames) {
      const range = updatesRange(frame);
      if (range !== null && range.lastSeq > this.sentSeq) this.markSent(range.lastSeq, now);
    }
    return 'send';
  }

  /** A 'behind' peer's socket drained: resume from its next seq if the replay buffer still has it, else a snapshot. Null when not behind. */
  drained(log: ReplicationLog, now: number): PeerStart | null {
    if (this.current !== 'behind') return null;
    this.log = log;
    const r = log.since(this.sentSeq, now);
    return r === 'gone' ? this.beginSnapshot(log, now) : this.resume(log, this.sentSeq, r.frames, now);
  }

  /** An ACK frame from the standby (binary). */
  onFrame(buf: Uint8Array, now: number): AckResult {
    // Checked before decoding: only an ACK may come from a standby, and it defines no strings.
    if (buf[0] !== FRAME_TYPE.ack) {
      const type = Object.entries(FRAME_TYPE).find(([, v]) => v === buf[0])?.[0] ?? `type ${String(buf[0])}`;
      return { ok: false, error: `a standby sent a ${type} frame; only ack frames are expected` };
    }
    try {
      const frame = decodeFrame(buf, this.ackDict);
      if (frame.type !== 'ack') return { ok: false, error: `a standby sent a ${frame.type} frame; only ack frames are expected` };
      return this.onAck(frame, now);
    } catch (err) {
      if (err instanceof ReplicationFrameError) return { ok: false, error: err.message };
      throw err;
    }
  }

  onAck(ack: { readonly epoch: number; readonly seq: number }, _now: number): AckResult {
    const log = this.log;
    if (log === undefined) return { ok: false, error: 'ack before the stream started' };
    if (ack.epoch !== log.epoch) return { ok: false, error: `ack for epoch ${ack.epoch}, this master's epoch is ${log.epoch}` };
    if (ack.seq > this.highestSent) return { ok: false, error: `ack of seq ${ack.seq}, above the last seq sent ${this.highestSent}` };
    // During a snapshot an ack can only be a stale one from before it: the standby's tables were cleared since.
    if (this.current === 'snapshot' || ack.seq <= this.acked) return { ok: true };
    this.acked = ack.seq;
    while (this.batchHead < this.batches.length && this.batches[this.batchHead]!.lastSeq <= ack.seq) this.batchHead++;
    if (this.batchHead === this.batches.length) {
      this.batches = [];
      this.batchHead = 0;
    } else if (this.batchHead >= 1024) {
      this.batches = this.batches.slice(this.batchHead);
      this.batchHead = 0;
    }
    return { ok: true };
  }

  stats(now: number): PeerStreamStats {
    const oldest = this.batches[this.batchHead];
    const cursor = this.cursor;
    return {
      phase: this.current,
      ackedSeq: this.acked,
      unacked: this.log === undefined ? 0 : Math.max(0, this.log.seq - this.acked),
      lagMs: oldest === undefined ? 0 : Math.max(0, now - oldest.at),
      sentSeq: this.sentSeq,
      snapshot: cursor === null ? null : { sent: cursor.sentEntries, total: cursor.total },
      snapshots: this.snapshotCount,
    };
  }

  private resume(log: ReplicationLog, fromAfter: number, frames: readonly Buffer[], now: number): PeerStart {
    this.current = 'streaming';
    this.cursor = null;
    this.markSent(log.seq, now);
    return { kind: 'resume', control: { type: 'resume', epoch: log.epoch, fromSeq: fromAfter + 1 }, frames: [log.dictFrame(), ...frames] };
  }

  private beginSnapshot(log: ReplicationLog, now: number): PeerStart {
    const cursor = log.snapshot(now, this.chunkRecords);
    this.cursor = cursor;
    this.current = 'snapshot';
    this.snapshotCount++;
    this.acked = 0;
    this.sentSeq = 0;
    this.batches = [];
    this.batchHead = 0;
    return { kind: 'snapshot', control: cursor.beginMessage(), cursor };
  }

  private cut(): OfferDecision {
    this.current = 'behind';
    return 'cut';
  }

  /** Everything up to lastSeq is on its way to the peer since `now`. */
  private markSent(lastSeq: number, now: number): void {
    if (lastSeq > this.sentSeq) this.sentSeq = lastSeq;
    if (lastSeq > this.highestSent) this.highestSent = lastSeq;
    if (lastSeq <= this.acked) return;
    const last = this.batches[this.batches.length - 1];
    if (last !== undefined && last.lastSeq >= lastSeq) return;
    if (last !== undefined && this.batches.length - this.batchHead >= this.maxTimed) {
      last.lastSeq = lastSeq;
      return;
    }
    this.batches.push({ lastSeq, at: now });
  }
}
