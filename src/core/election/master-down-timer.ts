/**
 * A backup's Master_Down_Timer (RFC 5798 6.4.2) and what it knows of the master it is
 * timing: the master it follows, the lower-priority one it ignores in order to preempt
 * it, that master's Master_Adver_Interval, and why the timer was last shortened
 * (priority 0 heard, or the master's process seen dying). The state machine decides;
 * this keeps the bookkeeping and the arithmetic.
 *
 * The deadline is derived on demand from a base time and a kind, so a change of our
 * priority re-times a running timer (Skew_Time depends on it, 6.1).
 */
import type { KnownMaster } from './election-types.js';
import { RFC_SKEW_REFERENCE, masterDownInterval, skewTime, type SkewMode } from './timers.js';

export interface TimerSettings {
  /** Our own advertisement interval: Master_Adver_Interval until a master tells us its own. */
  intervalMs: number;
  downAdverts: number;
  skew: SkewMode;
}

export class MasterDownTimer {
  readonly #own: TimerSettings;
  #master: KnownMaster | undefined;
  #ignored: KnownMaster | undefined;
  #adverIntervalMs: number;
  #base = 0;
  #kind: 'interval' | 'skew' | 'lost' = 'interval';
  #zeroFrom: string | undefined;
  #lostCause: string | undefined;

  constructor(own: TimerSettings) {
    this.#own = own;
    this.#adverIntervalMs = own.intervalMs;
  }

  /** The master whose adverts restart the timer. */
  get master(): KnownMaster | undefined {
    return this.#master;
  }

  /** Master_Adver_Interval: the followed master's, else ours. */
  get adverIntervalMs(): number {
    return this.#adverIntervalMs;
  }

  /** The lower-priority master whose adverts we discard to preempt it, if heard since the timer last restarted. */
  get ignoredSinceRestart(): KnownMaster | undefined {
    const i = this.#ignored;
    return i !== undefined && i.at >= this.#base ? i : undefined;
  }

  /** Forget the master and restart Master_Down_Interval from `now` at our own interval (6.4.1). */
  restart(now: number): void {
    this.clear();
    this.#base = now;
  }

  clear(): void {
    this.#master = undefined;
    this.#ignored = undefined;
    this.#zeroFrom = undefined;
    this.#lostCause = undefined;
    this.#kind = 'interval';
    this.#adverIntervalMs = this.#own.intervalMs;
  }

  /** Accept an advert (6.4.2): learn its interval and restart Master_Down_Timer from it. */
  follow(m: KnownMaster): void {
    this.#master = m;
    this.#adverIntervalMs = m.intervalMs;
    this.#base = m.at;
    this.#kind = 'interval';
    this.#zeroFrom = undefined;
    this.#lostCause = undefined;
    this.#ignored = undefined;
  }

  /** Discard a lower-priority master's advert so the timer runs out and we preempt it. */
  ignore(m: KnownMaster): void {
    this.#ignored = m;
  }

  /** Priority 0 from `from` (6.4.2): wait Skew_Time only, unless the timer would fire sooner anyway. */
  masterLeaving(now: number, priority: number, from: string): void {
    if (now + this.skewTime(priority) >= this.deadline(priority)) return;
    this.#base = now;
    this.#kind = 'skew';
    this.#zeroFrom = from;
  }

  /**
   * Not in RFC 5798: the followed master's process died. One more advert interval plus
   * Skew_Time lets a master that is in fact alive prove it (its next advert restarts the
   * timer); a dead one is taken over well before Master_Down_Interval.
   */
  masterLost(now: number, priority: number, cause: string): void {
    if (now + this.#adverIntervalMs + this.skewTime(priority) >= this.deadline(priority)) return;
    this.#base = now;
    this.#kind = 'lost';
    this.#lostCause = cause;
  }

  deadline(priority: number): number {
    const length =
      this.#kind === 'skew'
        ? this.skewTime(priority)
        : this.#kind === 'lost'
          ? this.#adverIntervalMs + this.skewTime(priority)
          : masterDownInterval(priority, this.#adverIntervalMs, this.#own.downAdverts, this.#skewReference());
    return this.#base + length;
  }

  skewTime(priority: number): number {
    return skewTime(priority, this.#adverIntervalMs, this.#skewReference());
  }

  /** Why the timer fired at `now`, for the takeover's state_change line (preemption aside). */
  expiryCause(now: number): string {
    if (this.#kind === 'skew') return `priority 0 from ${this.#zeroFrom ?? 'unknown'}`;
    const m = this.#master;
    if (this.#kind === 'lost' && m !== undefined) {
      return `master down: no advert for ${formatMs(now - m.at)} ms (last from ${m.nodeId}) after ${this.#lostCause ?? 'a sign it died'}`;
    }
    return `master down: no advert for ${formatMs(now - this.#base)} ms${m === undefined ? '' : ` (last from ${m.nodeId})`}`;
  }

  /**
   * RFC 5798 measures Skew_Time from 256. Relative skew measures it from the priority of
   * the master whose adverts the timer is counting (followed, or ignored to preempt it):
   * every backup hears the same master, so the gaps between them, which decide who fires
   * first, are the RFC's, and the offset they all shared is gone. Backups at or above
   * that priority wait no skew and may collide; the master-vs-master rule (6.4.3) settles
   * it, as it does for equal priorities. With no master heard yet, the RFC's 256.
   */
  #skewReference(): number {
    if (this.#own.skew === 'rfc') return RFC_SKEW_REFERENCE;
    const p = this.#master?.priority ?? this.#ignored?.priority;
    return p !== undefined && p >= 1 && p <= 255 ? p : RFC_SKEW_REFERENCE;
  }
}

function formatMs(ms: number): string {
  return String(Math.round(ms * 10) / 10);
}
