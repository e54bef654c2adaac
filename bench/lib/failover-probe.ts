/** ms between the probe's attempts: one failed attempt then reads as a window of 2 x this. */
export const PROBE_INTERVAL_MS = 5;

/**
 * One repetition's client probe (the lab's: a new connection to VIP:80 every
 * PROBE_INTERVAL_MS, 100 ms timeout) kept running in the background, with its samples collected as they
 * arrive and a clock that says what time it is on the agent's side, so a fault injected
 * here can be placed among the samples.
 */
import { performance } from 'node:perf_hooks';
import type { Lab, ProbeResult } from '../../src/app/lab/index.js';
import { AgentClock, type ProbeSample } from './failover-measure.js';

const POLL_MS = 20;

export class ProbeSession {
  readonly samples: ProbeSample[] = [];
  readonly #clock = new AgentClock();
  readonly #stop = new AbortController();
  readonly #result: Promise<ProbeResult | Error>;
  #ended = false;

  constructor(lab: Lab, maxSeconds: number) {
    this.#result = lab
      .probe({
        seconds: maxSeconds,
        intervalMs: PROBE_INTERVAL_MS,
        stop: this.#stop.signal,
        onSample: (s) => {
          this.#clock.observe(s, performance.now());
          this.samples.push(s);
        },
      })
      .then(
        (r) => r,
        (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
      )
      .finally(() => {
        this.#ended = true;
      });
  }

  /** The agent's clock now; undefined until a first sample came back. */
  now(): number | undefined {
    return this.#clock.at(performance.now());
  }

  get ended(): boolean {
    return this.#ended;
  }

  /**
   * Polls `check` until it gives a value, the time is up, `abort` fires or the probe ends
   * (then one last look): undefined in the last three cases.
   */
  async waitFor<T>(check: () => T | undefined, timeoutMs: number, abort?: AbortSignal): Promise<T | undefined> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const v = check();
      if (v !== undefined) return v;
      if (this.#ended || abort?.aborted === true || performance.now() > deadline) return undefined;
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }

  /** Stops the agent and waits for it; the error when it failed. */
  async end(): Promise<Error | undefined> {
    this.#stop.abort();
    const r = await this.#result;
    return r instanceof Error ? r : undefined;
  }
}
