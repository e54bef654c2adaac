/**
 * Tracked objects and their effect on the election, with keepalived's semantics
 * (track_interface / track_script / track_file "weight"):
 *  - weight < 0: the priority drops by |weight| while the object FAILS;
 *  - weight > 0: the priority rises by weight while the object is OK;
 *  - weight 0:   a failure puts the node in FAULT until every such object is OK again.
 * The effective priority is the configured one plus those weights, clamped to 1..254
 * (never 0, which means "leaving", nor 255, the address owner).
 *
 * The Tracker only turns object states into election events (election-types.ts); the
 * driver feeds them to the state machine. Rise/fall hysteresis belongs to whoever
 * reports the state (track scripts, health checks), not here: one report is one change.
 */

import type { ElectionEvent } from './election-types.js';

export type TrackKind = 'interface' | 'service' | 'script' | 'liveness';

export interface TrackedObject {
  kind: TrackKind;
  name: string;
  /** -254..254; always 0 for 'liveness' (a stalled data plane must not keep the VIP). */
  weight: number;
  /**
   * State at start. Default OK: services and scripts are assumed fine until their checks
   * say otherwise (as keepalived does without init_fail); interfaces should pass what the
   * kernel says at start.
   */
  ok?: boolean;
  /** Why it is failing at start; used only with ok: false. */
  cause?: string;
}

export type TrackEvent = Extract<ElectionEvent, { type: 'fault' } | { type: 'recover' } | { type: 'priority' }>;

export interface TrackedStatus {
  kind: TrackKind;
  name: string;
  weight: number;
  ok: boolean;
  /** The cause given with the last change of state ('' if it never changed). */
  cause: string;
  /** What the object adds to the priority right now (0 for weight-0 objects). */
  contribution: number;
  /** Whether it currently holds the node in FAULT. */
  faulting: boolean;
}

export interface TrackerStatus {
  configuredPriority: number;
  effectivePriority: number;
  faults: string[];
  objects: TrackedStatus[];
}

export const MIN_PRIORITY = 1;
export const MAX_PRIORITY = 254;
export const MAX_WEIGHT = 254;

interface Entry {
  readonly kind: TrackKind;
  readonly name: string;
  weight: number;
  ok: boolean;
  cause: string;
}

export class Tracker {
  #configured: number;
  readonly #entries: Entry[] = [];
  readonly #byKey = new Map<string, Entry>();
  /** What the state machine was last told, so set() reports differences only. */
  #toldPriority: number;
  #toldFault: string | undefined;

  constructor(priority: number, objects: readonly TrackedObject[]) {
    if (!Number.isInteger(priority) || priority < MIN_PRIORITY || priority > MAX_PRIORITY) {
      throw new RangeError(`priority must be an integer from ${MIN_PRIORITY} to ${MAX_PRIORITY}, got ${priority}`);
    }
    this.#configured = priority;
    for (const o of objects) {
      if (!isKind(o.kind)) throw new RangeError(`unknown tracked object kind ${String(o.kind)}`);
      if (typeof o.name !== 'string' || o.name === '') throw new RangeError(`a tracked ${o.kind} needs a name`);
      if (!Number.isInteger(o.weight) || Math.abs(o.weight) > MAX_WEIGHT) {
        throw new RangeError(`weight of ${o.kind} ${o.name} must be an integer from -${MAX_WEIGHT} to ${MAX_WEIGHT}, got ${o.weight}`);
      }
      if (o.kind === 'liveness' && o.weight !== 0) {
        throw new RangeError(`liveness ${o.name} must have weight 0 (a stalled data plane means FAULT), got ${o.weight}`);
      }
      const k = key(o.kind, o.name);
      if (this.#byKey.has(k)) throw new RangeError(`${o.kind} ${o.name} is tracked twice`);
      const ok = o.ok ?? true;
      const entry: Entry = { kind: o.kind, name: o.name, weight: o.weight, ok, cause: ok ? '' : (o.cause ?? '') };
      this.#entries.push(entry);
      this.#byKey.set(k, entry);
    }
    // A fresh state machine runs at the configured priority with no fault; initialEvents()
    // brings it to where the objects' start states put it.
    this.#toldPriority = priority;
    this.#toldFault = undefined;
  }

  /**
   * The events that bring a fresh state machine (configured priority, no fault) in line
   * with the start states; feed them before `start`. Empty when there is nothing to say.
   * Later calls (and set()) return only what is still untold.
   */
  initialEvents(): TrackEvent[] {
    return this.#diff();
  }

  get configuredPriority(): number {
    return this.#configured;
  }

  /**
   * A config reload: a new configured priority and new weights for objects already
   * tracked (adding or removing an object is for a restart). Object states are kept.
   * Returns the events to feed, like set(); throws RangeError, changing nothing, for an
   * object that is not tracked or a value out of range.
   */
  reconfigure(priority: number, weights: ReadonlyArray<{ kind: TrackKind; name: string; weight: number }>): TrackEvent[] {
    if (!Number.isInteger(priority) || priority < MIN_PRIORITY || priority > MAX_PRIORITY) {
      throw new RangeError(`priority must be an integer from ${MIN_PRIORITY} to ${MAX_PRIORITY}, got ${priority}`);
    }
    const updates = weights.map((w) => {
      const entry = this.#byKey.get(key(w.kind, w.name));
      if (entry === undefined) throw new RangeError(`${w.kind} ${w.name} is not tracked (tracking a new object needs a restart)`);
      if (!Number.isInteger(w.weight) || Math.abs(w.weight) > MAX_WEIGHT) throw new RangeError(`weight of ${w.kind} ${w.name} must be an integer from -${MAX_WEIGHT} to ${MAX_WEIGHT}, got ${w.weight}`);
      if (entry.kind === 'liveness' && w.weight !== 0) throw new RangeError(`liveness ${w.name} must have weight 0, got ${w.weight}`);
      return { entry, weight: w.weight };
    });
    this.#configured = priority;
    for (const u of updates) u.entry.weight = u.weight;
    return this.#diff();
  }

  /** Whether this object is tracked (set() ignores objects that are not). */
  has(kind: TrackKind, name: string): boolean {
    return this.#byKey.has(key(kind, name));
  }

  /**
   * Report an object's state. Returns the events to feed the state machine, in order:
   * a priority change first (so a recovering node re-enters BACKUP at its new priority),
   * then fault or recover. Empty when nothing the election sees changed, including for
   * objects that are not tracked: callers may report every service, tracked or not.
   * A repeated report with the same state keeps the cause of the original change; it
   * still returns what initialEvents() had to say if nobody asked for it yet, so a driver
   * that reports every interface at start cannot lose a positive weight's bonus.
   */
  set(kind: TrackKind, name: string, ok: boolean, cause: string): TrackEvent[] {
    const entry = this.#byKey.get(key(kind, name));
    if (entry === undefined) return [];
    if (entry.ok !== ok) {
      entry.ok = ok;
      entry.cause = cause;
    }
    return this.#diff();
  }

  /** Configured priority plus the weights in effect, clamped to 1..254. */
  effectivePriority(): number {
    let p = this.#configured;
    for (const e of this.#entries) p += contribution(e);
    return Math.min(MAX_PRIORITY, Math.max(MIN_PRIORITY, p));
  }

  /** One reason per failing weight-0 object, in configuration order. */
  faults(): string[] {
    return this.#entries.filter(isFaulting).map(describeFailure);
  }

  status(): TrackerStatus {
    return {
      configuredPriority: this.#configured,
      effectivePriority: this.effectivePriority(),
      faults: this.faults(),
      objects: this.#entries.map((e) => ({
        kind: e.kind,
        name: e.name,
        weight: e.weight,
        ok: e.ok,
        cause: e.cause,
        contribution: contribution(e),
        faulting: isFaulting(e),
      })),
    };
  }

  #diff(): TrackEvent[] {
    const events: TrackEvent[] = [];
    const priority = this.effectivePriority();
    if (priority !== this.#toldPriority) {
      this.#toldPriority = priority;
      events.push({ type: 'priority', priority });
    }
    const faults = this.faults();
    // The state machine keeps one reason; all current faults go in it, so its status never
    // names a fault that has cleared while another one still holds the node down.
    const reason = faults.length === 0 ? undefined : faults.join('; ');
    if (reason !== this.#toldFault) {
      this.#toldFault = reason;
      events.push(reason === undefined ? { type: 'recover' } : { type: 'fault', reason });
    }
    return events;
  }
}

function contribution(e: Entry): number {
  if (e.weight < 0) return e.ok ? 0 : e.weight;
  if (e.weight > 0) return e.ok ? e.weight : 0;
  return 0;
}

function isFaulting(e: Entry): boolean {
  return e.weight === 0 && !e.ok;
}

/** "interface eth0 down (carrier lost)"; liveness reports its cause as is ("data plane stalled for 2300 ms"). */
function describeFailure(e: Entry): string {
  const why = e.cause === '' ? '' : ` (${e.cause})`;
  switch (e.kind) {
    case 'interface':
      return `interface ${e.name} down${why}`;
    case 'service':
      return `service ${e.name} has no healthy backend${why}`;
    case 'script':
      return `track script ${e.name} failed${why}`;
    case 'liveness':
      return e.cause === '' ? `${e.name} not alive` : e.cause;
  }
}

function key(kind: TrackKind, name: string): string {
  return `${kind}\u0000${name}`;
}

function isKind(k: unknown): k is TrackKind {
  return k === 'interface' || k === 'service' || k === 'script' || k === 'liveness';
}
