/**
 * One long-running `ip -o monitor OBJECT...` child, kept alive: its stdout lines go to
 * the caller, and when it exits on its own it is restarted with a bounded backoff and
 * the caller is told, so it can re-read what changed while no monitor ran. The link and
 * address monitors are both built on it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { HaloError, type ErrorCode } from '../core/errors.js';
import type { LogFields, Logger } from './logger.js';

export type IpMonitorObject = 'link' | 'address' | 'route' | 'neigh';

export interface RestartBackoff {
  /** Never restart sooner than this after an exit: a child that dies at once does not spin. */
  readonly minMs: number;
  /** Bound of the doubling, and the retry delay when `ip` cannot be started at all. */
  readonly maxMs: number;
  /** A child that ran this long before exiting restarts after minMs again. */
  readonly stableRunMs: number;
}

export interface IpMonitorOptions {
  readonly objects: readonly IpMonitorObject[];
  /** `ip -4` / `ip -6`: only that family's messages. */
  readonly family?: 4 | 6;
  /** Run `ip -n NETNS`: tests observe a namespace they made. halo runs inside its own and passes none. */
  readonly netns?: string;
  /** Path of the ip binary (default: `ip` from PATH). */
  readonly ipCommand?: string;
  onLine(line: string): void;
  /**
   * After a restart, once the new child runs: re-read the state, since changes in the gap
   * were not reported. A rejection is logged as `<event>_failed`.
   */
  onRestart(): Promise<void>;
  readonly log: Logger;
  /** Log event prefix: `<event>_restart` (warn) and `<event>_failed` (error). */
  readonly event: string;
  /** Fields every restart and failure log line carries (what is being watched). */
  readonly logFields?: LogFields;
  /** Code of the HaloError start() rejects with. */
  readonly errorCode: ErrorCode;
  readonly backoff: RestartBackoff;
}

const STOP_WAIT_MS = 2000;

/**
 * Backoff for the next restart: never under minMs, doubling up to maxMs while the child
 * keeps dying, back to minMs after a run of stableRunMs.
 */
export function nextRestartDelay(prevDelayMs: number, ranMs: number, b: RestartBackoff): { delayMs: number; nextDelayMs: number } {
  const delayMs = ranMs >= b.stableRunMs ? b.minMs : Math.min(Math.max(b.minMs, prevDelayMs), b.maxMs);
  return { delayMs, nextDelayMs: Math.min(delayMs * 2, b.maxMs) };
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class IpMonitor {
  private readonly opts: IpMonitorOptions;
  private readonly ip: string;
  private readonly args: string[];
  private child: ChildProcess | undefined;
  private childStartedAt = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private nextDelayMs: number;
  private restartCount = 0;
  private isRunning = false;

  constructor(opts: IpMonitorOptions) {
    this.opts = opts;
    this.ip = opts.ipCommand ?? 'ip';
    const family = opts.family === undefined ? [] : [`-${opts.family}`];
    const tail = ['-o', ...family, 'monitor', ...opts.objects];
    this.args = opts.netns ? ['-n', opts.netns, ...tail] : tail;
    this.nextDelayMs = opts.backoff.minMs;
  }

  /** Between start() and stop(), restarts included. */
  get running(): boolean {
    return this.isRunning;
  }

  /** How often the child was restarted after exiting on its own. */
  get restarts(): number {
    return this.restartCount;
  }

  /** The running child's pid (tests kill it to exercise the restart). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Resolves once the child runs; rejects with `errorCode` when `ip` cannot be started. */
  async start(): Promise<void> {
    if (this.isRunning) throw new HaloError(this.opts.errorCode, `${this.opts.objects.join(' ')} monitor already started`);
    this.isRunning = true;
    try {
      await this.spawnChild();
    } catch (err) {
      this.isRunning = false;
      throw err;
    }
  }

  /** Kill the child (SIGTERM, SIGKILL after a bounded wait) and cancel a pending restart. */
  async stop(): Promise<void> {
    this.isRunning = false;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve();
      }, STOP_WAIT_MS);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill('SIGTERM');
    });
  }

  private spawnChild(): Promise<void> {
    const command = `${this.ip} ${this.args.join(' ')}`;
    const child = spawn(this.ip, this.args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.childStartedAt = performance.now();
    let lastStderr = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      const lines = chunk.trim().split('\n');
      lastStderr = (lines[lines.length - 1] ?? '').slice(0, 300);
    });
    if (child.stdout) createInterface({ input: child.stdout }).on('line', (line) => this.opts.onLine(line));
    return new Promise<void>((resolve, reject) => {
      let spawned = false;
      child.once('spawn', () => {
        spawned = true;
        // 'close', not 'exit': by then stderr is drained, so the log names the real cause
        child.once('close', (code, signal) => this.onExit(child, code, signal, lastStderr));
        resolve();
      });
      child.on('error', (err) => {
        // after a successful spawn only kill() can fail, and the exit handler covers that
        if (spawned) return;
        if (this.child === child) this.child = undefined;
        reject(new HaloError(this.opts.errorCode, `cannot run \`${command}\`: ${err.message}`, { command }, { cause: err }));
      });
    });
  }

  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null, stderr: string): void {
    if (this.child !== child) return;
    this.child = undefined;
    if (!this.isRunning) return;
    const ranMs = performance.now() - this.childStartedAt;
    const { delayMs, nextDelayMs } = nextRestartDelay(this.nextDelayMs, ranMs, this.opts.backoff);
    this.nextDelayMs = nextDelayMs;
    this.restartCount++;
    this.opts.log.warn(`${this.opts.event}_restart`, {
      ...this.opts.logFields,
      exit_code: code,
      signal,
      ran_ms: Math.round(ranMs),
      delay_ms: Math.round(delayMs),
      restarts: this.restartCount,
      cause: stderr || `\`ip monitor ${this.opts.objects.join(' ')}\` exited (${signal ?? `code ${String(code)}`})`,
    });
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      void this.restart();
    }, delayMs);
  }

  private async restart(): Promise<void> {
    if (!this.isRunning) return;
    try {
      await this.spawnChild();
    } catch (err) {
      // `ip` vanished from under us: the caller keeps its last known state, try again later
      this.opts.log.error(`${this.opts.event}_failed`, { ...this.opts.logFields, cause: errorMessage(err) });
      if (this.isRunning) this.restartTimer = setTimeout(() => void this.restart(), this.opts.backoff.maxMs);
      return;
    }
    try {
      await this.opts.onRestart();
    } catch (err) {
      this.opts.log.error(`${this.opts.event}_failed`, { ...this.opts.logFields, cause: errorMessage(err) });
    }
  }
}
