/**
 * Health checks for one service: probes every backend of every pool on its own timer,
 * feeds the results through the rise/fall hysteresis and reports each change of
 * state once (one log line, one onChange call).
 *
 * - Backends start up, so traffic flows at start; a dead one is down after `fall` checks.
 * - Start times are spread over one interval and each interval gets +-10% jitter, so
 *   backends (and services) are not all probed in the same tick.
 * - The next check is scheduled when the current one finishes: never more than one
 *   probe in flight per backend, even when timeout_ms > interval_ms.
 * - Warm standby: the monitor runs the same on masters and backups.
 */
import type { BackendConfig, HealthCheckConfig, ServiceConfig } from '../config/schema.js';
import { Hysteresis } from '../core/health/hysteresis.js';
import type { Logger } from './logger.js';
import { httpProbe } from './probes/http.js';
import { icmpProbe, icmpUnavailable } from './probes/icmp.js';
import type { ProbeFn, ProbeMap, ProbeOptions, ProbeResult, ProbeTarget } from './probes/probe.js';
import { tcpProbe } from './probes/tcp.js';

export const DEFAULT_POOL = 'default';
const INTERVAL_JITTER = 0.1;

export type HealthChangeHandler = (pool: string, backend: string, up: boolean, cause: string) => void;

export interface HealthMonitorOptions {
  service: ServiceConfig;
  logger: Logger;
  onChange: HealthChangeHandler;
  /** Replace some or all probes (tests). */
  probes?: Partial<ProbeMap>;
  /** Source of jitter in [0, 1) (tests); default Math.random. */
  random?: () => number;
  /**
   * A backend's state at start, when known (a config reload replacing the monitor: the
   * data plane's current view); undefined: up, so traffic flows at start.
   */
  initialUp?: (pool: string, backend: string) => boolean | undefined;
}

export interface BackendHealth {
  pool: string;
  backend: string;
  address: string;
  /** The port probed (health_check.port when set, else the backend's port). */
  port: number;
  up: boolean;
  /** Cause of the last check, or why there is none yet. */
  cause: string;
  /** Duration of the last check; undefined before the first one. */
  ms: number | undefined;
  /** HAProxy-style hysteresis progress: while up, failures still tolerated / fall; while down, successes / rise. */
  checks: string;
  /** Checks done since start(). */
  probes: number;
}

interface Entry {
  readonly pool: string;
  readonly backend: BackendConfig;
  readonly target: ProbeTarget;
  readonly hysteresis: Hysteresis;
  timer: NodeJS.Timeout | undefined;
  inFlight: { controller: AbortController; done: Promise<void> } | undefined;
  cause: string;
  ms: number | undefined;
  probes: number;
}

export class HealthMonitor {
  readonly #service: ServiceConfig;
  readonly #hc: HealthCheckConfig;
  readonly #log: Logger;
  readonly #onChange: HealthChangeHandler;
  readonly #probe: ProbeFn | undefined;
  readonly #probeOpts: ProbeOptions;
  readonly #random: () => number;
  readonly #entries: Entry[];
  #running = false;
  /** Bumped by start() and stop(), so a probe from an earlier run cannot restart its loop. */
  #generation = 0;
  #unavailableLogged = false;

  constructor(opts: HealthMonitorOptions) {
    this.#service = opts.service;
    this.#hc = opts.service.health_check;
    this.#log = opts.logger;
    this.#onChange = opts.onChange;
    this.#random = opts.random ?? Math.random;
    const type = this.#hc.type;
    this.#probe = type === 'none' ? undefined : (opts.probes?.[type] ?? DEFAULT_PROBES[type]);
    this.#probeOpts = {
      timeoutMs: this.#hc.timeout_ms,
      path: this.#hc.path,
      host: this.#hc.host,
      expectStatus: this.#hc.expect_status,
      expectBody: this.#hc.expect_body,
    };
    const pools: Array<{ name: string; backends: readonly BackendConfig[] }> = [
      { name: DEFAULT_POOL, backends: opts.service.backends },
      ...opts.service.pools,
    ];
    this.#entries = pools.flatMap((pool) =>
      pool.backends.map((backend) => ({
        pool: pool.name,
        backend,
        target: { address: backend.address, port: this.#hc.port ?? backend.port },
        hysteresis: new Hysteresis({ rise: this.#hc.rise, fall: this.#hc.fall, startUp: opts.initialUp?.(pool.name, backend.name) ?? true }),
        timer: undefined,
        inFlight: undefined,
        cause: type === 'none' ? 'no health check' : 'not checked yet',
        ms: undefined,
        probes: 0,
      })),
    );
  }

  start(): void {
    if (this.#running || this.#probe === undefined) return;
    this.#running = true;
    this.#generation += 1;
    for (const entry of this.#entries) this.#schedule(entry, this.#random() * this.#hc.interval_ms);
  }

  /** Clears every timer, aborts probes in flight and resolves once none is left. */
  async stop(): Promise<void> {
    this.#running = false;
    this.#generation += 1;
    const pending: Promise<void>[] = [];
    for (const entry of this.#entries) {
      clearTimeout(entry.timer);
      entry.timer = undefined;
      if (entry.inFlight) {
        entry.inFlight.controller.abort();
        pending.push(entry.inFlight.done);
      }
    }
    await Promise.all(pending);
  }

  /**
   * One probe of every backend now, outside the schedule and the hysteresis: resolves true
   * as soon as one answers, false when none does. For "can this node serve right now?"
   * (a node back on its link has no ARP entries and maybe dead pooled connections).
   * A service with no health check cannot tell, and says true.
   */
  reachable(): Promise<boolean> {
    const probe = this.#probe;
    if (probe === undefined || this.#entries.length === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      let left = this.#entries.length;
      for (const entry of this.#entries) {
        void this.#runProbe(probe, entry, AbortSignal.timeout(this.#hc.timeout_ms + 100)).then((r) => {
          if (r.ok) resolve(true);
          else if (--left === 0) resolve(false);
        });
      }
    });
  }

  states(): BackendHealth[] {
    return this.#entries.map((e) => ({
      pool: e.pool,
      backend: e.backend.name,
      address: e.target.address,
      port: e.target.port,
      up: e.hysteresis.up,
      cause: e.cause,
      ms: e.ms,
      checks: e.hysteresis.progress(),
      probes: e.probes,
    }));
  }

  #schedule(entry: Entry, delayMs: number): void {
    if (!this.#running) return;
    entry.timer = setTimeout(() => {
      entry.timer = undefined;
      this.#check(entry);
    }, Math.max(0, Math.round(delayMs)));
  }

  #check(entry: Entry): void {
    const probe = this.#probe;
    if (!this.#running || probe === undefined) return;
    if (entry.inFlight) {
      // Only after a stop() that was not awaited, then start(): wait for the old probe.
      this.#schedule(entry, this.#hc.interval_ms);
      return;
    }
    const controller = new AbortController();
    const started = performance.now();
    const generation = this.#generation;
    const done = this.#runProbe(probe, entry, controller.signal)
      .then((result) => {
        entry.inFlight = undefined;
        // A check cut short by stop() says nothing about the backend.
        if (generation !== this.#generation) return;
        try {
          this.#record(entry, result);
        } finally {
          const jitter = 1 + (this.#random() * 2 - 1) * INTERVAL_JITTER;
          this.#schedule(entry, this.#hc.interval_ms * jitter - (performance.now() - started));
        }
      })
      // #record only throws if the logger does: the loop goes on, and no unhandled rejection.
      .catch(() => {});
    entry.inFlight = { controller, done };
  }

  /** Probes never reject by contract; an injected or buggy one still must not stall the loop. */
  async #runProbe(probe: ProbeFn, entry: Entry, signal: AbortSignal): Promise<ProbeResult> {
    try {
      return await probe(entry.target, this.#probeOpts, signal);
    } catch (err) {
      return { ok: false, ms: 0, cause: `probe error: ${err instanceof Error ? err.message : String(err)}` };
    }
  }

  #record(entry: Entry, result: ProbeResult): void {
    entry.probes += 1;
    entry.cause = result.cause;
    entry.ms = result.ms;
    if (!result.ok && icmpUnavailable(result.cause) && !this.#unavailableLogged) {
      this.#unavailableLogged = true;
      this.#log.error('health_check_unavailable', { service: this.#service.name, type: this.#hc.type, cause: result.cause });
    }
    if (!entry.hysteresis.record(result.ok)) return;
    const up = entry.hysteresis.up;
    const fields = {
      service: this.#service.name,
      pool: entry.pool,
      backend: entry.backend.name,
      address: this.#hc.type === 'icmp' ? entry.target.address : `${hostPart(entry.target.address)}:${entry.target.port}`,
      cause: result.cause,
      checks: entry.hysteresis.progress(),
    };
    if (up) this.#log.info('backend_up', fields);
    else this.#log.warn('backend_down', fields);
    try {
      this.#onChange(entry.pool, entry.backend.name, up, result.cause);
    } catch (err) {
      this.#log.error('health_on_change_failed', { ...fields, error: err instanceof Error ? err.message : String(err) });
    }
  }
}

const DEFAULT_PROBES: ProbeMap = { tcp: tcpProbe, http: httpProbe, icmp: icmpProbe };

function hostPart(address: string): string {
  return address.includes(':') ? `[${address}]` : address;
}
