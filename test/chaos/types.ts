/**
 * What every chaos scenario takes and reports (issue 6): the runner (test/chaos/run.ts)
 * starts scenarios one after the other, each in a lab of its own, and writes every
 * event to one JSON-lines log so a failing run can be read back and replayed by seed.
 */

export interface ChaosLogger {
  /** One event: { t: wall ms, scenario, event, ...fields } is written as one JSON line. */
  event(event: string, fields?: Record<string, unknown>): void;
}

export interface ScenarioOptions {
  /** Lab name prefix for this scenario (unique per run); the scenario adds its own suffix if it builds several labs. */
  labName: string;
  /** Seed of the run: every random choice comes from a PRNG seeded with it. */
  seed: number;
  /** 'short' is the CI form (minutes), 'long' the `npm run chaos -- --minutes N` form. */
  form: 'short' | 'long';
  /** Long form: how long this scenario may run. */
  minutes: number;
  log: ChaosLogger;
  /** Where the scenario may copy its nodes' logs before it tears its lab down (the runner's output directory). */
  artifactsDir?: string;
  /** Set when the run must stop early (Ctrl-C, overall time bound): stop injecting, clean up, report. */
  signal: AbortSignal;
}

export interface Violation {
  /** wall ms */
  t: number;
  /** a stable short name: two_masters, no_master_too_long, arp_wrong, persistence_lost, takeover_under_loss, ... */
  check: string;
  message: string;
  /** the cycle (random runner) or step (fixed scenarios) it happened in */
  cycle?: number;
}

export interface ScenarioResult {
  name: string;
  seed: number;
  /** wall ms */
  startedAt: number;
  durationMs: number;
  /** cycles (random runner) or steps; faults injected */
  cycles: number;
  faults: Record<string, number>;
  violations: Violation[];
  /** figures for docs/reliability.md: outage ms percentiles, requests, error counts, RSS, ... */
  figures: Record<string, number | string>;
}
