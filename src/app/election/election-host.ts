/**
 * The data plane's side of the election worker: starts it, ticks it (liveness), tells it
 * when a service loses or regains its last healthy backend, and stops it first on a
 * planned shutdown so the VIP moves before connections drain.
 */
import { Worker } from 'node:worker_threads';
import type { ClusterConfig } from '../../config/cluster-schema.js';
import type { Logger, LogFormat, LogLevel } from '../../adapters/logger.js';
import { HaloError, type ErrorCode } from '../../core/errors.js';
import type { ElectionNodeStatus } from './election-node.js';
import type { ElectionWorkerData, FromWorker, ToWorker } from './worker-protocol.js';

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
}

const STOP_TIMEOUT_MS = 15_000;

export class ElectionHost {
  #worker: Worker | undefined;
  #tick: NodeJS.Timeout | undefined;
  #status: ElectionNodeStatus | undefined;
  #stopping = false;
  #stopped: Promise<void> | undefined;

  constructor(private readonly opts: ElectionHostOptions) {}

  get status(): ElectionNodeStatus | undefined {
    return this.#status;
  }

  /** Resolves once the worker is running as BACKUP (or FAULT); rejects with its start error. */
  start(): Promise<void> {
    const data: ElectionWorkerData = { cluster: this.opts.cluster, nodeName: this.opts.nodeName, logLevel: this.opts.logLevel, logFormat: this.opts.logFormat, startSynced: this.opts.startSynced ?? true };
    // Inherit the process's flags except those that only make sense for an eval'd main script.
    const execArgv = process.execArgv.filter((a) => !a.startsWith('--input-type'));
    const worker = new Worker(new URL('./election-worker.js', import.meta.url), { workerData: data, name: 'halo-election', execArgv });
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
            this.opts.onStatus?.(msg.status);
            this.#startTicking();
            resolve();
            break;
          case 'status':
            this.#status = msg.status;
            this.opts.onStatus?.(msg.status);
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
        exited();
        if (!this.#stopping) fail(new HaloError('HALO_ERR_ELECTION', `election worker exited with code ${code}`));
      });
    });
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
