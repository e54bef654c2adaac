/**
 * The master's replay buffer: the last encoded UPDATES frames, so a standby that
 * reconnects resumes with the updates it missed instead of a full snapshot. Bounded
 * by total bytes AND frame count; the oldest frames go first.
 *
 * Frames are the exact bytes sent live (encoded once, shared by every standby). Their
 * dictionary ids are the master's epoch dictionary, so a resuming standby must get the
 * whole dictionary (WireDictionary.entries()) before the replayed frames.
 *
 * since(seq) returns whole frames: the first one may start at or before seq, and the
 * standby skips records it has applied (record i of a frame has seq firstSeq + i).
 *
 * Frames may carry the (monotonic ms) time they were appended, so the owner can also
 * bound the buffer by age (dropOlderThan): a standby gone for longer than the replay
 * window gets a snapshot rather than minutes of stale churn.
 */
import { HaloError } from '../errors.js';
import { ReplicationFrameError } from './frame-error.js';

export interface ReplayBufferOptions {
  readonly maxBytes: number;
  readonly maxFrames: number;
  /** The seq already covered before the first append (default 0: the next frame starts at 1). */
  readonly startSeq?: number;
}

export interface ReplayBufferStats {
  readonly frames: number;
  readonly bytes: number;
  /** First seq of the oldest frame kept; null when empty. */
  readonly oldestSeq: number | null;
  /** Last seq appended (kept or already dropped); startSeq before any append. */
  readonly latestSeq: number;
  /** Frames dropped to stay within the bounds, cumulative. */
  readonly dropped: number;
}

/** 'gone': seq+1 is older than the oldest frame kept (send a snapshot). */
export type ReplaySince =
  | { readonly frames: readonly Uint8Array[] }
  | 'gone'
  | { readonly error: 'ahead' | 'invalid'; readonly message: string };

interface Held {
  readonly firstSeq: number;
  readonly lastSeq: number;
  readonly bytes: Uint8Array;
  /** Append time; +Infinity when none was given (never ages out). */
  readonly at: number;
}

export class ReplayBuffer {
  readonly maxBytes: number;
  readonly maxFrames: number;
  // A queue as array + head index: dropping the oldest is O(1), compacted now and then.
  private held: Held[] = [];
  private head = 0;
  private totalBytes = 0;
  private latest: number;
  private droppedFrames = 0;

  constructor(opts: ReplayBufferOptions) {
    for (const [name, v] of [['maxBytes', opts.maxBytes], ['maxFrames', opts.maxFrames]] as const) {
      if (!Number.isSafeInteger(v) || v < 1) throw new HaloError('HALO_ERR_CONFIG_INVALID', `replay buffer ${name} ${v} is not a positive integer`);
    }
    const start = opts.startSeq ?? 0;
    if (!Number.isSafeInteger(start) || start < 0) throw new HaloError('HALO_ERR_CONFIG_INVALID', `replay buffer startSeq ${start} is not an integer >= 0`);
    this.maxBytes = opts.maxBytes;
    this.maxFrames = opts.maxFrames;
    this.latest = start;
  }

  get stats(): ReplayBufferStats {
    const oldest = this.held[this.head];
    return {
      frames: this.held.length - this.head,
      bytes: this.totalBytes,
      oldestSeq: oldest === undefined ? null : oldest.firstSeq,
      latestSeq: this.latest,
      dropped: this.droppedFrames,
    };
  }

  /**
   * Keep an encoded UPDATES frame holding seqs firstSeq .. firstSeq+count-1. It must
   * follow the latest seq directly: a gap would make since() hand out a hole. A frame
   * larger than maxBytes is counted (latestSeq moves) but not kept. `at` (monotonic ms,
   * non-decreasing across appends) lets dropOlderThan() age the frame out.
   */
  append(firstSeq: number, count: number, bytes: Uint8Array, at: number = Number.POSITIVE_INFINITY): void {
    if (!Number.isSafeInteger(count) || count < 1) throw new ReplicationFrameError(`replay buffer: count ${count} is not a positive integer`, 'count');
    if (firstSeq !== this.latest + 1) {
      throw new ReplicationFrameError(`replay buffer: firstSeq ${firstSeq} does not follow latest seq ${this.latest}`, 'firstSeq');
    }
    const lastSeq = firstSeq + count - 1;
    if (!Number.isSafeInteger(lastSeq)) throw new ReplicationFrameError(`replay buffer: last seq ${lastSeq} exceeds 2^53-1`, 'count');
    this.latest = lastSeq;
    this.held.push({ firstSeq, lastSeq, bytes, at });
    this.totalBytes += bytes.length;
    while (this.held.length - this.head > this.maxFrames || this.totalBytes > this.maxBytes) this.dropOldest();
  }

  /** Frames covering seq+1 .. latest; empty when seq is the latest. */
  since(seq: number): ReplaySince {
    if (!Number.isSafeInteger(seq) || seq < 0) return { error: 'invalid', message: `seq ${seq} is not an integer >= 0` };
    if (seq > this.latest) return { error: 'ahead', message: `seq ${seq} is ahead of the latest seq ${this.latest}` };
    if (seq === this.latest) return { frames: [] };
    const oldest = this.held[this.head];
    if (oldest === undefined || seq + 1 < oldest.firstSeq) return 'gone';
    // Binary search: the first frame whose lastSeq >= seq+1.
    let lo = this.head;
    let hi = this.held.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.held[mid]!.lastSeq > seq) hi = mid;
      else lo = mid + 1;
    }
    const frames: Uint8Array[] = [];
    for (let i = lo; i < this.held.length; i++) frames.push(this.held[i]!.bytes);
    return { frames };
  }

  /**
   * Drop the frames appended before `cutoff` (oldest first; stops at the first newer
   * one, since append times do not go back). Returns how many were dropped; they count
   * in stats.dropped like frames dropped for size.
   */
  dropOlderThan(cutoff: number): number {
    let n = 0;
    for (let oldest = this.held[this.head]; oldest !== undefined && oldest.at < cutoff; oldest = this.held[this.head]) {
      this.dropOldest();
      n++;
    }
    return n;
  }

  private dropOldest(): void {
    const oldest = this.held[this.head];
    if (oldest === undefined) return;
    this.totalBytes -= oldest.bytes.length;
    this.head++;
    this.droppedFrames++;
    if (this.head === this.held.length) {
      this.held = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.held.length) {
      this.held = this.held.slice(this.head);
      this.head = 0;
    }
  }
}
