/**
 * Runs the configured track scripts (cluster.track.scripts), each on its own interval,
 * never two runs of one script at once, and reports only state changes after rise/fall
 * hysteresis: onChange(name, ok, cause). The caller logs the change and feeds it to the
 * Tracker; nothing here logs per run, so a script failing every 2 s for a week does not
 * flood the log.
 *
 * Scripts start OK (keepalived's default without init_fail): a failing one is reported
 * after `fall` failed runs. Exit 0 is success; any other status, a signal, a timeout or a
 * program that cannot be started is a failure.
 */
import type { TrackScriptConfig } from '../config/cluster-schema.js';
import { Hysteresis } from '../core/health/hysteresis.js';
import type { Logger } from './logger.js';
import { describeResult, runCommand } from './run-command.js';

export type TrackScriptChange = (name: string, ok: boolean, cause: string) => void;

export interface TrackScriptsOptions {
  scripts: readonly TrackScriptConfig[];
  onChange: TrackScriptChange;
  /** Only for a failing onChange callback; runs and changes are the caller's to log. */
  log: Logger;
}

export interface TrackScriptStatus {
  name: string;
  ok: boolean;
  /** HAProxy-style x/y, see Hysteresis.progress(). */
  progress: string;
  runs: number;
  /** Result of the last finished run ('' before the first). */
  lastResult: string;
  running: boolean;
}

interface Script {
  readonly cfg: TrackScriptConfig;
  readonly health: Hysteresis;
  timer: NodeJS.Timeout | undefined;
  abort: AbortController | undefined;
  running: Promise<void> | undefined;
  runs: number;
  lastResult: string;
}

export class TrackScripts {
  readonly #scripts: Script[];
  readonly #onChange: TrackScriptChange;
  readonly #log: Logger;
  #started = false;
  #stopped = false;

  constructor(opts: TrackScriptsOptions) {
    const names = new Set<string>();
    for (const s of opts.scripts) {
      if (names.has(s.name)) throw new RangeError(`track script ${s.name} is configured twice`);
      names.add(s.name);
      if (s.command.length === 0) throw new RangeError(`track script ${s.name} has no command`);
      if (!(s.interval_ms > 0) || !(s.timeout_ms > 0)) throw new RangeError(`track script ${s.name} needs interval_ms and timeout_ms > 0`);
    }
    this.#scripts = opts.scripts.map((cfg) => ({
      cfg,
      health: new Hysteresis({ rise: cfg.rise, fall: cfg.fall }),
      timer: undefined,
      abort: undefined,
      running: undefined,
      runs: 0,
      lastResult: '',
    }));
    this.#onChange = opts.onChange;
    this.#log = opts.log;
  }

  /** Run every script now, then each on its interval. Idempotent; no restart after stop(). */
  start(): void {
    if (this.#started || this.#stopped) return;
    this.#started = true;
    for (const s of this.#scripts) this.#schedule(s, 0);
  }

  /** No further runs or changes; kills the runs in progress (process group) and waits for them. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const s of this.#scripts) {
      if (s.timer !== undefined) clearTimeout(s.timer);
      s.timer = undefined;
      s.abort?.abort();
    }
    await Promise.all(this.#scripts.map((s) => s.running));
  }

  status(): TrackScriptStatus[] {
    return this.#scripts.map((s) => ({
      name: s.cfg.name,
      ok: s.health.up,
      progress: s.health.progress(),
      runs: s.runs,
      lastResult: s.lastResult,
      running: s.running !== undefined,
    }));
  }

  #schedule(s: Script, delayMs: number): void {
    s.timer = setTimeout(() => {
      s.timer = undefined;
      s.running = this.#run(s).finally(() => {
        s.running = undefined;
      });
    }, delayMs);
  }

  async #run(s: Script): Promise<void> {
    if (this.#stopped) return;
    const { cfg } = s;
    const started = performance.now();
    const abort = new AbortController();
    s.abort = abort;
    const result = await runCommand(cfg.command, { timeoutMs: cfg.timeout_ms, signal: abort.signal });
    s.abort = undefined;
    // A run cut short by stop() says nothing about the script.
    if (this.#stopped) return;
    s.runs += 1;
    const cause = describeResult(result, cfg.command, cfg.timeout_ms);
    s.lastResult = cause;
    if (s.health.record(result.ok)) {
      try {
        this.#onChange(cfg.name, s.health.up, cause);
      } catch (err) {
        this.#log.error('track_script_callback_failed', { script: cfg.name, cause: err instanceof Error ? err.message : String(err) });
      }
    }
    if (this.#stopped) return;
    // From the start of this run, so the interval is the period; a run longer than the
    // interval is followed at once by the next, never overlapped by it.
    this.#schedule(s, Math.max(0, cfg.interval_ms - (performance.now() - started)));
  }
}
