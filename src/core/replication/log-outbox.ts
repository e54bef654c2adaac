/**
 * One replication link's queue of log lines to send, bounded three ways so that logs can
 * never crowd out the tables on the same socket or grow without limit:
 *   - at most maxQueued lines wait; beyond that the OLDEST go (counted in `dropped`): in a
 *     burst the lines that explain the present matter more than the backlog;
 *   - a token bucket (ratePerSec, burst) caps what leaves per second;
 *   - lines leave in `logs` messages of at most maxLinesPerMessage lines (and
 *     LOGS_MAX_BYTES), when a batch is full or flushEveryMs has passed.
 * Pure: the caller passes its clock and sends the texts.
 */
import { encodeLogBatches, LOGS_MAX_LINES, type LogLine } from './log-messages.js';

export interface LogOutboxLimits {
  maxQueued: number;
  ratePerSec: number;
  burst: number;
  maxLinesPerMessage: number;
  flushEveryMs: number;
}

export const DEFAULT_LOG_OUTBOX_LIMITS: Readonly<LogOutboxLimits> = {
  maxQueued: 2000,
  ratePerSec: 500,
  // a reconnecting link's backlog goes at once
  burst: 2000,
  maxLinesPerMessage: LOGS_MAX_LINES,
  // the relay adds this much latency per hop; `halo logs -f` reorders over 300 ms
  flushEveryMs: 100,
};

export interface LogOutboxStats {
  queued: number;
  sent: number;
  dropped: number;
  invalid: number;
}

export class LogOutbox {
  readonly #limits: LogOutboxLimits;
  #queue: LogLine[] = [];
  #head = 0;
  #tokens: number;
  #refilledAt: number;
  #flushedAt: number;
  #sent = 0;
  #dropped = 0;
  #invalid = 0;

  constructor(now: number, limits: Partial<LogOutboxLimits> = {}) {
    this.#limits = { ...DEFAULT_LOG_OUTBOX_LIMITS, ...limits };
    this.#tokens = this.#limits.burst;
    this.#refilledAt = now;
    this.#flushedAt = now;
  }

  get queued(): number {
    return this.#queue.length - this.#head;
  }

  push(lines: readonly LogLine[]): void {
    for (const l of lines) this.#queue.push(l);
    const over = this.queued - this.#limits.maxQueued;
    if (over > 0) {
      this.#head += over;
      this.#dropped += over;
    }
    // compact now and then, not on every shift
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
  }

  /** A full batch waits, or the flush interval has passed with something queued. */
  due(now: number): boolean {
    return this.queued > 0 && (this.queued >= this.#limits.maxLinesPerMessage || now - this.#flushedAt >= this.#limits.flushEveryMs);
  }

  /**
   * The messages to send now (texts), as many lines as the bucket allows; the rest keep
   * waiting. Call when due(), or to flush early (relayed lines, which already waited a hop).
   */
  take(now: number): string[] {
    this.#refill(now);
    this.#flushedAt = now;
    const n = Math.min(this.queued, Math.floor(this.#tokens));
    if (n === 0) return [];
    const lines = this.#queue.slice(this.#head, this.#head + n);
    this.#head += n;
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
    }
    this.#tokens -= n;
    const { texts, invalid } = encodeLogBatches(lines, this.#limits.maxLinesPerMessage);
    this.#invalid += invalid;
    this.#sent += n - invalid;
    return texts;
  }

  stats(): LogOutboxStats {
    return { queued: this.queued, sent: this.#sent, dropped: this.#dropped, invalid: this.#invalid };
  }

  #refill(now: number): void {
    const elapsed = Math.max(0, now - this.#refilledAt);
    this.#refilledAt = now;
    this.#tokens = Math.min(this.#limits.burst, this.#tokens + (elapsed * this.#limits.ratePerSec) / 1000);
  }
}

/**
 * Which lines are new, by origin: a line is identified by (node, boot, seq) and each
 * origin's lines travel one path in order, so "seq above the highest seen for that
 * (node, boot)" tells a new line from a copy (a backlog sent again after a reconnect, a
 * relay of what we already had). Bounded: the least recently seen origin is forgotten
 * past maxOrigins.
 */
export class LineDedupe {
  readonly #maxOrigins: number;
  readonly #highest = new Map<string, number>();

  constructor(maxOrigins = 64) {
    this.#maxOrigins = Math.max(1, maxOrigins);
  }

  admit(line: Pick<LogLine, 'node' | 'boot' | 'seq'>): boolean {
    const key = `${line.node}\u0000${line.boot}`;
    const seen = this.#highest.get(key);
    if (seen !== undefined && line.seq <= seen) return false;
    // delete + set: the Map's order is then least recently seen first
    this.#highest.delete(key);
    this.#highest.set(key, line.seq);
    if (this.#highest.size > this.#maxOrigins) {
      const oldest = this.#highest.keys().next().value;
      if (oldest !== undefined) this.#highest.delete(oldest);
    }
    return true;
  }

  get origins(): number {
    return this.#highest.size;
  }
}
