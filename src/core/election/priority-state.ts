/**
 * The priority side of one node's election, kept apart from the RFC 5798 states and
 * timers (state-machine.ts): the configured priority, the tracked one (configured plus
 * track weights, from `priority` events), the operator's hold after a planned handover,
 * why the priority last changed, and the preemption settings a config reload may change.
 *
 * While held, the node advertises HOLD_PRIORITY: it never preempts (no live master has
 * a lower priority), a dead master's other backups time out before it does (Skew_Time
 * grows as priority falls, RFC 5798 6.1), and if it ends up master anyway, as the last
 * node alive, any other node preempts it. No advert flag is needed: every peer, old
 * versions included, understands a low priority.
 */
import { HOLD_PRIORITY, type Hold } from './election-types.js';

export interface PrioritySettings {
  /** Configured priority, 1..254. */
  priority: number;
  preempt: boolean;
  preemptDelayMs: number;
}

export class PriorityState {
  #configured: number;
  #tracked: number;
  #preempt: boolean;
  #preemptDelayMs: number;
  #hold: Hold | undefined;
  #cause: string | undefined;

  constructor(settings: PrioritySettings) {
    const problem = settingsProblem(settings);
    if (problem !== undefined) throw new RangeError(problem);
    this.#configured = settings.priority;
    this.#tracked = settings.priority;
    this.#preempt = settings.preempt;
    this.#preemptDelayMs = settings.preemptDelayMs;
  }

  get configured(): number {
    return this.#configured;
  }

  get preempt(): boolean {
    return this.#preempt;
  }

  get preemptDelayMs(): number {
    return this.#preemptDelayMs;
  }

  /** What we advertise and compare with. */
  get advertised(): number {
    return this.#hold === undefined ? this.#tracked : HOLD_PRIORITY;
  }

  get hold(): Hold | undefined {
    return this.#hold === undefined ? undefined : { ...this.#hold };
  }

  /** The tracked priority (clamped to 1..254 like keepalived); false when it did not change. */
  setTracked(priority: number, cause: unknown): boolean {
    const p = Math.min(254, Math.max(1, priority));
    if (p === this.#tracked) return false;
    this.#tracked = p;
    this.#cause = typeof cause === 'string' && cause !== '' ? cause : undefined;
    return true;
  }

  /** Live settings from a reload; false (nothing changed) when they are out of range. */
  configure(settings: PrioritySettings): boolean {
    if (settingsProblem(settings) !== undefined) return false;
    this.#configured = settings.priority;
    this.#preempt = settings.preempt;
    this.#preemptDelayMs = settings.preemptDelayMs;
    return true;
  }

  holdFor(now: number, holdMs: number, cause: string): void {
    this.#hold = holdMs > 0 ? { until: now + holdMs, cause } : undefined;
  }

  endHold(cause: string): void {
    this.#hold = undefined;
    this.#cause = cause;
  }

  /** The hold, once its time is up (the caller ends it). */
  expired(now: number): Hold | undefined {
    return this.#hold !== undefined && now >= this.#hold.until ? this.#hold : undefined;
  }

  /** Whether a master advertising `theirs` is one we take over from (the gates: synced, ready). */
  preempts(theirs: number, gatesOpen: boolean): boolean {
    return this.#preempt && gatesOpen && theirs < this.advertised;
  }

  /** " (reload: priority 100 -> 200)" when the last priority change said why. */
  why(): string {
    return this.#cause === undefined ? '' : ` (${this.#cause})`;
  }

  /** A change's cause explains the first state change after it, not every later one. */
  forgetCause(): void {
    this.#cause = undefined;
  }
}

function settingsProblem(s: PrioritySettings): string | undefined {
  if (!Number.isInteger(s.priority) || s.priority < 1 || s.priority > 254) return `priority must be an integer from 1 to 254, got ${s.priority}`;
  if (typeof s.preempt !== 'boolean') return `preempt must be a boolean, got ${String(s.preempt)}`;
  if (!Number.isFinite(s.preemptDelayMs) || s.preemptDelayMs < 0) return `preemptDelayMs must be a finite number >= 0, got ${s.preemptDelayMs}`;
  return undefined;
}
