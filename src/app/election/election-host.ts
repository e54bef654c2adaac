/**
 * The data plane's side of the election worker: starts it, ticks it (liveness), tells it
 * when a service loses or regains its last healthy backend, and stops it first on a
 * planned shutdown so the VIP moves before connections drain.
 */
import { Worker } from 'node:worker_threads';
import { envWithout } from '../../config/secret-env.js';
import type { ClusterConfig } from '../../config/cluster-schema.js';
import type { LogEntry, Logger, LogFormat, LogLevel } from '../../adapters/logger.js';
import { HaloError, type ErrorCode } from '../../core/errors.js';
import type { ElectionNodeStatus } from './election-node.js';
import type { ElectionWorkerData, FromWorker, ToWorker } from './worker-protocol.js';
import type { WorkerControlRequest } from './worker-control.js';
import type { ControlResult } from '../control/control-types.js';

export interface ElectionHostOptions {
  cluster: ClusterConfig;
  nodeName: string;
  logLevel: LogLevel;
  logFormat: LogFormat;
  log: Logger;
  /** The worker died or failed after start: the caller must stop the node. */
  onFatal(err: HaloError): void;
  /** False when replication runs (default true): no preempting before the first sync. */
  startSynced?: boolean;
  /** Every status the worker posts (state changes, the master followed). */
  onStatus?(status: ElectionNodeStatus): void;
  /** Can the data plane reach its backends right now (fresh probes)? */
  verifyBackends(timeoutMs: number): Promise<{ ok: boolean; cause: string }>;
  /**
   * Environment variables holding secrets (secret-env.ts): the worker starts without them,
   * but for cluster.key_env, which it reads once and then drops, so the hooks, scripts and
   * `ip`/`arping` it starts never inherit a secret.
   */
  secretEnv?: readonly string[];
}

const STOP_TIMEOUT_MS = 15_000;
/** A failover waits for the new master to be heard; with the slowest timers allowed that is ~10 s (worker-control.ts bounds it). */
const CONTROL_TIMEOUT_MS = 70_000;

/** What the host re-emits from the worker, for the admin API (event stream, status). */
export type ElectionHostEvent = { type: 'log'; entry: LogEntry } | { type: 'status'; status: ElectionNodeStatus };

export class ElectionHost {
  #worker: Worker | undefined;
  #tick: NodeJS.Timeout | undefined;
  #status: ElectionNodeStatus | undefined;
  #stopping = false;
  #stopped: Promise<void> | undefined;
  #statusAt = 0;
  #nextControlId = 0;
  readonly #controls = new Map<number, (result: ControlResult) => void>();
  readonly #listeners = new Set<(event: ElectionHostEvent) => void>();

  constructor(private readonly opts: ElectionHostOptions) {}

  get status(): ElectionNodeStatus | undefined {
    return this.#status;
  }

  /** How old `status` is (the worker posts one at least every advert interval while BACKUP or MASTER). */
  get statusAgeMs(): number {
    return this.#status === undefined ? 0 : Math.max(0, performance.now() - this.#statusAt);
  }

  /** The worker's log lines and statuses as they arrive; returns the unsubscribe function. */
  subscribe(listener: (event: ElectionHostEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #emit(event: ElectionHostEvent): void {
    for (const l of this.#listeners) {
      try {
        l(event);
      } catch {
        // A listener's failure is its own: the election must not notice it.
      }
    }
  }

  /** Resolves once the worker is running as BACKUP (or FAULT); rejects with its start error. */
  start(): Promise<void> {
    const data: ElectionWorkerData = { cluster: this.opts.cluster, nodeName: this.opts.nodeName, logLevel: this.opts.logLevel, logFormat: this.opts.logFormat, startSynced: this.opts.startSynced ?? true };
    // Inherit the process's flags except those that only make sense for an eval'd main script.
    const execArgv = workerExecArgv(process.execArgv);
    const keep = this.opts.cluster.key_env;
    const env = envWithout(process.env, (this.opts.secretEnv ?? []).filter((n) => n !== keep));
    const worker = new Worker(new URL('./election-worker.js', import.meta.url), { workerData: data, name: 'halo-election', execArgv, env });
    this.#worker = worker;
    let exited!: () => void;
    this.#stopped = new Promise<void>((resolve) => (exited = resolve));
    return new Promise<void>((resolve, reject) => {
      let ready = false;
      const fail = (err: HaloError) => {
        if (!ready) reject(err);
        else if (!this.#stopping) this.opts.onFatal(err);
      };
      worker.on('message', (msg: FromWorker) => {
        switch (msg.type) {
          case 'ready':
            ready = true;
            this.#status = msg.status;
            this.#statusAt = performance.now();
            this.opts.onStatus?.(msg.status);
            this.#emit({ type: 'status', status: msg.status });
            this.#startTicking();
            resolve();
            break;
          case 'status':
            this.#status = msg.status;
            this.#statusAt = performance.now();
            this.opts.onStatus?.(msg.status);
            this.#emit({ type: 'status', status: msg.status });
            break;
          case 'log':
            this.#emit({ type: 'log', entry: msg.entry });
            break;
          case 'control_result':
            this.#controls.get(msg.id)?.(msg.result);
            break;
          case 'fatal':
            fail(new HaloError(msg.code as ErrorCode, msg.message));
            break;
          case 'stopped':
            break;
          case 'verify':
            void this.opts.verifyBackends(msg.timeoutMs).then(
              (r) => this.#post({ type: 'verified', ok: r.ok, cause: r.cause }),
              (err: unknown) => this.#post({ type: 'verified', ok: false, cause: `verification failed: ${(err as Error).message}` }),
            );
            break;
        }
      });
      worker.on('error', (err) => fail(new HaloError('HALO_ERR_ELECTION', `election worker crashed: ${err.message}`, {}, { cause: err })));
      worker.on('exit', (code) => {
        this.#stopTicking();
        for (const done of [...this.#controls.values()]) done({ ok: false, message: `the election worker exited (code ${code})` });
        exited();
        if (!this.#stopping) fail(new HaloError('HALO_ERR_ELECTION', `election worker exited with code ${code}`));
      });
    });
  }

  /** An operator's request to the election (failover, release, reload); never rejects. */
  control(request: WorkerControlRequest): Promise<ControlResult> {
    if (this.#worker === undefined || this.#stopping) return Promise.resolve({ ok: false, message: 'the election is not running' });
    const id = ++this.#nextControlId;
    return new Promise<ControlResult>((resolve) => {
      const timer = setTimeout(() => done({ ok: false, message: `the election worker did not answer within ${CONTROL_TIMEOUT_MS} ms` }), CONTROL_TIMEOUT_MS);
      const done = (result: ControlResult) => {
        clearTimeout(timer);
        this.#controls.delete(id);
        resolve(result);
      };
      this.#controls.set(id, done);
      this.#post({ type: 'control', id, request });
    });
  }

  /** Replication saw the master's link die without a close frame: take over sooner if no advert disproves it. */
  masterLost(nodeId: string, cause: string): void {
    this.#post({ type: 'master_lost', nodeId, cause });
  }

  /** Replication's verdict, for the advert flag and the preemption gate. */
  synced(synced: boolean, cause: string): void {
    this.#post({ type: 'synced', synced, cause });
  }

  serviceHealth(name: string, healthy: boolean): void {
    this.#post({ type: 'service', name, healthy });
  }

  /** Release the VIP (priority 0 first), run the stop hook, end the worker. */
  async stop(cause: string): Promise<void> {
    if (this.#worker === undefined || this.#stopping) return this.#stopped;
    this.#stopping = true;
    this.#stopTicking();
    this.#post({ type: 'shutdown', cause });
    const timeout = setTimeout(() => {
      this.opts.log.error('election_stop_timeout', { cause: `the election worker did not stop within ${STOP_TIMEOUT_MS} ms; terminating it` });
      void this.#worker?.terminate();
    }, STOP_TIMEOUT_MS);
    await this.#stopped;
    clearTimeout(timeout);
  }

  #post(msg: ToWorker): void {
    this.#worker?.postMessage(msg);
  }

  #startTicking(): void {
    // Four ticks per liveness period: a stall is a gap of several missed ticks, never one late timer.
    const every = Math.max(25, Math.min(250, Math.floor(this.opts.cluster.liveness_timeout_ms / 4)));
    this.#tick = setInterval(() => this.#post({ type: 'tick' }), every);
    this.#tick.unref();
  }

  #stopTicking(): void {
    if (this.#tick) clearInterval(this.#tick);
    this.#tick = undefined;
  }
}

/**
 * The parent's flags a worker may take: module loaders (tsx in tests), conditions, warnings
 * and experimental switches. Node refuses per-process and V8 heap flags in a worker
 * (ERR_WORKER_INVALID_EXEC_ARGV): bin/halo.js's shebang passes --max-semi-space-size=32,
 * and handing that on made `bin/halo.js run` fail at start with any cluster section.
 */
export function workerExecArgv(parent: readonly string[]): string[] {
  const withValue = new Set(['--import', '--require', '-r', '--loader', '--experimental-loader', '--conditions', '-C']);
  const alone = /^(--enable-source-maps|--no-warnings|--no-deprecation|--experimental-[a-z-]+|--(import|require|loader|experimental-loader|conditions)=.+)$/;
  const out: string[] = [];
  for (let i = 0; i < parent.length; i++) {
    const a = parent[i] ?? '';
    if (withValue.has(a) && i + 1 < parent.length) {
      out.push(a, parent[i + 1] ?? '');
      i++;
    } else if (alone.test(a)) {
      out.push(a);
    }
  }
  return out;
}
