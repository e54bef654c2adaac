/**
 * What every algorithm shares: the backend list keyed by stable name, up/down and
 * weight bookkeeping, active-connection counts, and a rotating scan used to break ties
 * so that equal backends share traffic evenly. Each algorithm adds only its own state
 * and its own notion of "better".
 */
import type { AlgorithmName, BackendSpec, Balancer, PickContext } from '../balancer.js';

/** The config allows 1-256; events are clamped to it so a bogus weight cannot blow up a hash ring. */
export const MAX_WEIGHT = 256;

/**
 * A weight from config or an event, made safe: 0 drains, (0, 1) rounds up to 1 so a
 * small positive weight never silently drains, anything above MAX_WEIGHT is clamped.
 * Undefined for values that are not a weight at all (NaN, negative, infinite).
 */
export function normaliseWeight(weight: number): number | undefined {
  if (typeof weight !== 'number' || !Number.isFinite(weight) || weight < 0) return undefined;
  if (weight === 0) return 0;
  return Math.min(MAX_WEIGHT, Math.max(1, Math.round(weight)));
}

export interface BackendState {
  readonly name: string;
  /** Position in config order; the rotation order. */
  readonly index: number;
  weight: number;
  up: boolean;
  /** Connections in flight (onConnStart minus onConnEnd, never below 0). */
  active: number;
}

export type ChangeKind = 'up' | 'down' | 'weight';

export abstract class TableBalancer<S extends BackendState> implements Balancer {
  protected readonly backends: readonly S[];
  private readonly byName = new Map<string, S>();
  /** Where the next rotating scan starts. */
  private cursor = 0;

  protected constructor(
    readonly algorithm: AlgorithmName,
    specs: readonly BackendSpec[],
    extend: (base: BackendState) => S,
  ) {
    const list: S[] = [];
    for (const spec of specs) {
      // Config cross-checks reject duplicates; if one slips through, the first wins so
      // that name-keyed events stay unambiguous.
      if (this.byName.has(spec.name)) continue;
      const state = extend({ name: spec.name, index: list.length, weight: normaliseWeight(spec.weight) ?? 0, up: true, active: 0 });
      list.push(state);
      this.byName.set(spec.name, state);
    }
    this.backends = list;
  }

  abstract pick(ctx: PickContext, avoid?: ReadonlySet<string>): string | undefined;

  onUp(name: string): void {
    const b = this.byName.get(name);
    if (b === undefined || b.up) return;
    b.up = true;
    this.changed(b, 'up');
  }

  onDown(name: string): void {
    const b = this.byName.get(name);
    if (b === undefined || !b.up) return;
    b.up = false;
    this.changed(b, 'down');
  }

  onWeight(name: string, weight: number): void {
    const b = this.byName.get(name);
    const w = normaliseWeight(weight);
    if (b === undefined || w === undefined || w === b.weight) return;
    b.weight = w;
    this.changed(b, 'weight');
  }

  onConnStart(name: string): void {
    const b = this.byName.get(name);
    if (b !== undefined) b.active += 1;
  }

  onConnEnd(name: string): void {
    const b = this.byName.get(name);
    // A duplicate or unmatched end (e.g. after a reload) must not make a backend look
    // emptier than idle, or least-loaded algorithms would pile onto it.
    if (b !== undefined && b.active > 0) b.active -= 1;
  }

  onSample(_name: string, _ms: number, _now: number): void {}

  onBytes(_name: string, _bytes: number, _now: number): void {}

  /** Hook for algorithms whose state depends on membership or weights. */
  protected changed(_backend: S, _kind: ChangeKind): void {}

  protected get(name: string): S | undefined {
    return this.byName.get(name);
  }

  protected isEligible(b: S, avoid: ReadonlySet<string> | undefined): boolean {
    return b.up && b.weight > 0 && (avoid === undefined || !avoid.has(b.name));
  }

  /**
   * Scans eligible backends starting at the cursor and keeps the first one nothing is
   * strictly `better` than; the cursor then moves past the winner. Without `better`
   * this is plain rotation; with it, ties rotate instead of always going to the first.
   */
  protected pickRotating(avoid: ReadonlySet<string> | undefined, better?: (candidate: S, best: S) => boolean): S | undefined {
    const n = this.backends.length;
    let best: S | undefined;
    for (let step = 0; step < n; step++) {
      const b = this.backends[(this.cursor + step) % n];
      if (b === undefined || !this.isEligible(b, avoid)) continue;
      if (best === undefined) {
        best = b;
        if (better === undefined) break;
      } else if (better !== undefined && better(b, best)) {
        best = b;
      }
    }
    if (best !== undefined) this.cursor = (best.index + 1) % n;
    return best;
  }
}
