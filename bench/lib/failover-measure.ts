/**
 * What the failover benchmark reads out of the client probe's samples: when a node
 * serves steadily, and the longest client-observed outage between two moments. Pure (the
 * samples and the times come in), so the numbers in docs/benchmarks.md are unit-tested.
 * Times are the probe agent's: ms since it started, when an attempt began.
 */
import { findOutages, type OutageWindow, type ProbeSample } from '../../src/app/lab/outages.js';

export type { ProbeSample } from '../../src/app/lab/outages.js';

export interface ServedRun {
  /** t of the first success of the run */
  first: number;
  /** t of the last success of the run seen so far */
  last: number;
}

/**
 * The earliest run of consecutive attempts (in start order, from `from` on) that all
 * succeeded through `node` and spans at least `spanMs`. A failure or an answer from
 * another node ends a run: "served by lb2" means steadily, not one lucky answer.
 */
export function stableRun(samples: readonly ProbeSample[], node: string, from: number, spanMs: number): ServedRun | undefined {
  const sorted = samples.filter((s) => s.t >= from).sort((a, b) => a.t - b.t);
  let run: ServedRun | undefined;
  for (const s of sorted) {
    if (s.ok && s.node === node) {
      run = run === undefined ? { first: s.t, last: s.t } : { first: run.first, last: s.t };
      if (run.last - run.first >= spanMs) return run;
    } else {
      run = undefined;
    }
  }
  return undefined;
}

/** The first success through `node` that started at or after `from`. */
export function firstServedBy(samples: readonly ProbeSample[], node: string, from: number): ProbeSample | undefined {
  let best: ProbeSample | undefined;
  for (const s of samples) if (s.ok && s.node === node && s.t >= from && (best === undefined || s.t < best.t)) best = s;
  return best;
}

export interface Outage {
  /** the longest window's duration, 0 when no attempt failed */
  ms: number;
  /** failed attempts in the whole span */
  failures: number;
  windows: number;
  longest?: OutageWindow;
}

/**
 * The longest outage among attempts that started in [from, to]. `from` should fall while
 * the old master was still serving, so the window starts at its last success (design.md
 * section 7: first success through the new master minus the last through the old one).
 */
export function outageBetween(samples: readonly ProbeSample[], from: number, to: number): Outage {
  const report = findOutages(samples.filter((s) => s.t >= from && s.t <= to));
  return {
    ms: Math.round(report.longest?.duration ?? 0),
    failures: report.failures,
    windows: report.windows.length,
    ...(report.longest !== undefined ? { longest: report.longest } : {}),
  };
}

/**
 * Maps local time (performance.now()) to the probe agent's clock. Each sample arrives
 * after it began (t) and took `ms`; the smallest arrival - t - ms seen is the offset with
 * the least pipe delay in it, so the estimate only ever improves.
 */
export class AgentClock {
  #offset: number | undefined;

  observe(sample: ProbeSample, arrivedAt: number): void {
    const off = arrivedAt - sample.t - (sample.ms ?? 0);
    if (this.#offset === undefined || off < this.#offset) this.#offset = off;
  }

  /** The agent's time at local time `localNow`, undefined before the first sample. */
  at(localNow: number): number | undefined {
    return this.#offset === undefined ? undefined : localNow - this.#offset;
  }
}

export interface Spread {
  n: number;
  min: number;
  median: number;
  /** nearest rank: the value at or below which 95% of the values lie */
  p95: number;
  max: number;
}

/** Nearest-rank percentile of a non-empty sorted list. */
export function percentile(sorted: readonly number[], p: number): number {
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] as number;
}

export function spread(values: readonly number[]): Spread | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
  return { n: sorted.length, min: sorted[0] as number, median, p95: percentile(sorted, 95), max: sorted[sorted.length - 1] as number };
}
