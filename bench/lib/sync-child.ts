/**
 * The parent's handle on one bench node process (sync-node.ts): spawned with an IPC
 * channel, optionally pinned to a core with taskset (which execs node, so the channel
 * and the pid carry over), asked things with a timeout on every request, and killed by
 * pid on stop() or, at the latest, on the bench's exit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { ChildMessage, Command, Counters, LoadResult, Memory, SyncTiming } from './sync-protocol.js';
import { tail } from './procs.js';

/** Output kept for error messages. */
const MAX_OUTPUT = 16 * 1024;

export interface ChildOptions {
  readonly label: string;
  readonly repo: string;
  /** Core to pin to (taskset -c), undefined: not pinned. */
  readonly cpu: number | undefined;
  /** Directory for a --cpu-prof profile; undefined: no profile. */
  readonly profileDir: string | undefined;
  readonly onLog: (line: string) => void;
}

/** The node flags of bin/halo.js's shebang (and its glibc settings), plus what the bench needs. */
export const NODE_FLAGS = ['--max-semi-space-size=32', '--expose-gc', '--import', 'tsx'];
export const NODE_ENV = { MALLOC_TOP_PAD_: '33554432', MALLOC_TRIM_THRESHOLD_: '134217728' };

interface Pending {
  readonly resolve: (v: unknown) => void;
  readonly reject: (e: Error) => void;
  readonly timer: NodeJS.Timeout;
  readonly what: string;
}

export class SyncChild {
  readonly label: string;
  readonly #child: ChildProcess;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #output = '';
  #exited = false;
  readonly exited: Promise<number | null>;

  constructor(opts: ChildOptions) {
    this.label = opts.label;
    const script = join(opts.repo, 'bench', 'lib', 'sync-node.ts');
    const prof = opts.profileDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', opts.profileDir];
    const args = [...NODE_FLAGS, ...prof, script];
    const [file, argv] = opts.cpu === undefined ? [process.execPath, args] : ['taskset', ['-c', String(opts.cpu), process.execPath, ...args]];
    this.#child = spawn(file, argv, {
      cwd: opts.repo,
      env: { ...process.env, ...NODE_ENV },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      // Float64Arrays of sample times go through the channel as they are.
      serialization: 'advanced',
    });
    const keep = (b: Buffer): void => {
      this.#output = (this.#output + b.toString('utf8')).slice(-MAX_OUTPUT);
    };
    this.#child.stdout?.on('data', keep);
    this.#child.stderr?.on('data', keep);
    this.#child.on('message', (m: ChildMessage) => {
      if ('event' in m) {
        opts.onLog(m.line);
        return;
      }
      const p = this.#pending.get(m.id);
      if (p === undefined) return;
      this.#pending.delete(m.id);
      clearTimeout(p.timer);
      if (m.ok) p.resolve(m.result);
      else p.reject(new Error(`${this.label}: ${p.what}: ${m.error}`));
    });
    this.exited = new Promise((resolve) => {
      this.#child.once('error', (err) => {
        this.#output += `\nspawn failed: ${err.message}`;
        this.#gone();
        resolve(null);
      });
      this.#child.once('exit', (code) => {
        this.#gone();
        resolve(code);
      });
    });
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  get running(): boolean {
    return !this.#exited;
  }

  request(cmd: Extract<Command, { type: 'init' }>, timeoutMs: number): Promise<{ port: number | undefined }>;
  request(cmd: Extract<Command, { type: 'follow' }>, timeoutMs: number): Promise<{ followNs: number }>;
  request(cmd: Extract<Command, { type: 'waitSynced' }>, timeoutMs: number): Promise<SyncTiming>;
  request(cmd: Extract<Command, { type: 'load' }>, timeoutMs: number): Promise<LoadResult>;
  request(cmd: Extract<Command, { type: 'fill' }>, timeoutMs: number): Promise<{ entries: number; ms: number }>;
  request(cmd: Extract<Command, { type: 'counters' }>, timeoutMs: number): Promise<Counters>;
  request(cmd: Extract<Command, { type: 'samples' }>, timeoutMs: number): Promise<{ applyNs: Float64Array }>;
  request(cmd: Extract<Command, { type: 'memory' }>, timeoutMs: number): Promise<Memory>;
  request(cmd: Extract<Command, { type: 'elect' | 'resetPhase' | 'settle' | 'stop' }>, timeoutMs: number): Promise<unknown>;
  request(cmd: Command, timeoutMs: number): Promise<unknown> {
    if (this.#exited || !this.#child.connected) return Promise.reject(new Error(`${this.label} is not running: ${tail(this.#output)}`));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`${this.label}: ${cmd.type}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, { resolve, reject, timer, what: cmd.type });
      this.#child.send({ id, cmd });
    });
  }

  /** Ask it to stop (node.stop(), exit: a --cpu-prof profile is written), SIGKILL if that fails or takes over graceMs. */
  async stop(graceMs: number): Promise<void> {
    if (this.#exited) return;
    try {
      await this.request({ type: 'stop' }, graceMs);
      await Promise.race([this.exited, new Promise((r) => setTimeout(r, graceMs))]);
    } catch {
      // killed below
    }
    this.killNow();
    await this.exited;
  }

  /** Synchronous last resort (process 'exit', a second Ctrl-C). */
  killNow(): void {
    if (!this.#exited && this.#child.pid !== undefined) this.#child.kill('SIGKILL');
  }

  output(): string {
    return tail(this.#output);
  }

  #gone(): void {
    this.#exited = true;
    for (const [id, p] of this.#pending) {
      clearTimeout(p.timer);
      p.reject(new Error(`${this.label} exited during ${p.what}: ${tail(this.#output)}`));
      this.#pending.delete(id);
    }
  }
}
