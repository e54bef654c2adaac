/**
 * Starting short commands (`ip`, `arping`) without forking halo itself.
 *
 * fork() copies the page tables of the whole process: with a 500 MB data plane a spawn
 * costs ~20 ms, against ~1.4 ms through a small co-process that spawns for us
 * (spawn-server.ts; `npx tsx bench/spawn-latency.ts` measures both). SpawnClient talks to
 * that co-process and hands back a ChildProcess look-alike; directSpawner is the plain
 * child_process path with the same interface (tests, and the fallback).
 *
 * Failure: if the co-process dies, its pending children end with an 'error'
 * (code ESPAWNSERVER) and a 'close', and the ones it had started are killed; requests it
 * never read (it died before it was ready) run directly instead. The next spawn restarts
 * it, at most once per restartIntervalMs; spawns in between go direct.
 */
import { spawn as spawnChild, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import { finished, Readable } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Logger } from './logger.js';
import type { SpawnEvent, SpawnRequest } from './spawn-server.js';

/** The `code` of the error a child gets when the co-process died under it. */
export const SPAWN_SERVER_LOST = 'ESPAWNSERVER';

const DEFAULT_RESTART_INTERVAL_MS = 1000;
const SERVER_HEAP_MB = 32;
/** Starts in a row that never got to 'ready' before we stop trying: a broken install, not a crash. */
const MAX_FAILED_STARTS = 3;
const RUN_MAX_CHARS = 1024 * 1024;
const CLOSE_TIMEOUT_MS = 2000;
const STDERR_KEEP_CHARS = 2000;

export interface SpawnOptions {
  /** SIGKILL after this long; the child then ends with timedOut set. */
  timeoutMs?: number;
}

/** What vip-iproute needs of a ChildProcess (stdio: ignore, pipe, pipe). */
export interface SpawnedChild {
  /** Undefined until the child runs, and for good if it could not be started. */
  readonly pid: number | undefined;
  readonly exitCode: number | null;
  readonly signalCode: NodeJS.Signals | null;
  readonly timedOut: boolean;
  readonly stdout: Readable;
  readonly stderr: Readable;
  kill(signal?: NodeJS.Signals): boolean;
  on(event: 'spawn', listener: () => void): this;
  on(event: 'error', listener: (err: NodeJS.ErrnoException) => void): this;
  on(event: 'exit' | 'close', listener: (code: number | null, signal: NodeJS.Signals | null) => void): this;
  once(event: 'spawn', listener: () => void): this;
  once(event: 'error', listener: (err: NodeJS.ErrnoException) => void): this;
  once(event: 'exit' | 'close', listener: (code: number | null, signal: NodeJS.Signals | null) => void): this;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
}

export interface Spawner {
  spawn(file: string, args: readonly string[], opts?: SpawnOptions): SpawnedChild;
  /** Like execFile: resolves on any exit; rejects only when the child could not be run (err.code). */
  run(file: string, args: readonly string[], timeoutMs: number): Promise<RunResult>;
}

/** The child as the caller sees it, whoever runs it. Events follow ChildProcess: 'error' (+ 'close') or 'spawn' ... 'close'. */
class ChildHandle extends EventEmitter implements SpawnedChild {
  pid: number | undefined = undefined;
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  timedOut = false;
  readonly stdout = new Readable({ read() {} });
  readonly stderr = new Readable({ read() {} });
  /** Carries a kill to whoever runs the child. */
  killer: ((signal: NodeJS.Signals) => boolean) | undefined;
  /** The last kill asked for, for a child that is started again elsewhere. */
  killedWith: NodeJS.Signals | undefined;
  #ended = false;

  kill(signal: NodeJS.Signals = 'SIGTERM'): boolean {
    if (this.#ended) return false;
    this.killedWith = signal;
    return this.killer?.(signal) ?? false;
  }

  spawned(pid: number, deferEvent: boolean): void {
    this.pid = pid;
    if (deferEvent) process.nextTick(() => this.emit('spawn'));
    else this.emit('spawn');
  }

  /** 'error', then 'close' (with the signal we killed it with, if it had run). */
  failed(err: NodeJS.ErrnoException, signal: NodeJS.Signals | null = null): void {
    if (this.#ended) return;
    // Unlike ChildProcess an unobserved 'error' is not thrown: 'close' reports the end anyway.
    if (this.listenerCount('error') > 0) this.emit('error', err);
    this.ended(signal === null ? (typeof err.errno === 'number' ? err.errno : -1) : null, signal, false);
  }

  ended(code: number | null, signal: NodeJS.Signals | null, timedOut: boolean): void {
    if (this.#ended) return;
    this.#ended = true;
    this.killer = undefined;
    this.exitCode = code;
    this.signalCode = signal;
    this.timedOut = timedOut;
    this.stdout.push(null);
    this.stderr.push(null);
    // 'close' after the last 'data', as ChildProcess does; a stream nobody reads never ends.
    const reading = [this.stdout, this.stderr].filter((s) => s.readableFlowing === true);
    let left = reading.length;
    const done = (): void => {
      this.emit('exit', code, signal);
      this.emit('close', code, signal);
    };
    if (left === 0) process.nextTick(done);
    for (const s of reading) finished(s, () => --left === 0 && done());
  }
}

function attachDirect(h: ChildHandle, file: string, args: readonly string[], timeoutMs: number | undefined): void {
  let child: ChildProcess;
  try {
    child = spawnChild(file, [...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    // spawn throws synchronously on arguments it cannot pass (a NUL byte, for one)
    process.nextTick(() => h.failed(err as NodeJS.ErrnoException));
    return;
  }
  let timedOut = false;
  const timer =
    timeoutMs !== undefined && timeoutMs > 0
      ? setTimeout(() => {
          timedOut = true;
          child.kill('SIGKILL');
        }, timeoutMs)
      : undefined;
  h.killer = (signal) => child.kill(signal);
  if (child.pid !== undefined) h.spawned(child.pid, true);
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (data: string) => h.stdout.push(data));
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (data: string) => h.stderr.push(data));
  child.on('error', (err) => {
    // after a successful spawn an 'error' is a failed kill: 'close' still reports the end
    if (child.pid !== undefined) return;
    clearTimeout(timer);
    h.failed(err);
  });
  child.on('close', (code, signal) => {
    clearTimeout(timer);
    h.ended(code, signal, timedOut);
  });
}

function directSpawn(file: string, args: readonly string[], opts: SpawnOptions = {}): SpawnedChild {
  const h = new ChildHandle();
  attachDirect(h, file, args, opts.timeoutMs);
  return h;
}

/** Collects a child's output; at most 1 MiB of each stream is kept. */
export function collect(child: SpawnedChild): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    let failure: NodeJS.ErrnoException | undefined;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (s: string) => {
      if (stdout.length < RUN_MAX_CHARS) stdout += s;
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => {
      if (stderr.length < RUN_MAX_CHARS) stderr += s;
    });
    child.on('error', (err) => (failure ??= err));
    child.on('close', (code, signal) => {
      if (failure) reject(failure);
      else resolve({ stdout, stderr, code, signal, timedOut: child.timedOut });
    });
  });
}

/** child_process in this process: a fork of all of it. */
export const directSpawner: Spawner = {
  spawn: directSpawn,
  run: (file, args, timeoutMs) => collect(directSpawn(file, args, { timeoutMs })),
};

function spawnError(code: string, message: string, errno: number | undefined, file: string, args: readonly string[]): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code, ...(errno === undefined ? {} : { errno }), syscall: `spawn ${file}`, path: file, spawnargs: [...args] });
}

/**
 * How to start the co-process: compiled (dist/) it is the .js next to this module; from
 * src/ (tsx, vitest) the .ts, through tsx's loader, which this module resolves itself
 * because the caller's flags may hold another runner's (vitest's) and not tsx.
 */
export function spawnServerCommand(serverPath?: string): { file: string; args: string[] } {
  const js = fileURLToPath(new URL('./spawn-server.js', import.meta.url));
  const path = serverPath ?? (existsSync(js) ? js : fileURLToPath(new URL('./spawn-server.ts', import.meta.url)));
  const loader = path.endsWith('.ts') ? ['--import', pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href] : [];
  return { file: process.execPath, args: [`--max-old-space-size=${SERVER_HEAP_MB}`, ...loader, path] };
}

export interface SpawnClientOptions {
  log: Logger;
  /** Tests: another server program (a missing one shows the fallback). */
  serverPath?: string;
  /** Least time between two starts of the co-process (default 1000 ms). */
  restartIntervalMs?: number;
}

interface Pending {
  readonly handle: ChildHandle;
  readonly file: string;
  readonly args: readonly string[];
  readonly timeoutMs: number | undefined;
}

/** The env to pass when it differs from the co-process's own (set at its start), as child_process would. */
function envSnapshot(): string {
  return JSON.stringify(process.env);
}

export class SpawnClient implements Spawner {
  readonly #log: Logger;
  readonly #serverPath: string | undefined;
  readonly #restartIntervalMs: number;
  readonly #pending = new Map<number, Pending>();
  #proc: ChildProcess | undefined;
  #ready = false;
  #readyWaiters: Array<(ok: boolean) => void> = [];
  #startedAt = Number.NEGATIVE_INFINITY;
  #starts = 0;
  #failedStarts = 0;
  #closed = false;
  #nextId = 0;
  #env = '';
  #stderrTail = '';

  constructor(opts: SpawnClientOptions) {
    this.#log = opts.log;
    this.#serverPath = opts.serverPath;
    this.#restartIntervalMs = opts.restartIntervalMs ?? DEFAULT_RESTART_INTERVAL_MS;
  }

  /** The co-process, while it runs. */
  get serverPid(): number | undefined {
    return this.#proc?.pid;
  }

  /** Starts after the first. */
  get restarts(): number {
    return Math.max(0, this.#starts - 1);
  }

  /** Starts the co-process now if it is not running (ignores the restart interval); false if it cannot be. */
  start(): boolean {
    if (this.#proc) return true;
    if (this.#closed || this.#failedStarts >= MAX_FAILED_STARTS) return false;
    let proc: ChildProcess;
    try {
      const cmd = spawnServerCommand(this.#serverPath);
      proc = spawnChild(cmd.file, cmd.args, { stdio: ['pipe', 'pipe', 'pipe'] });
    } catch (err) {
      this.#failedStarts = MAX_FAILED_STARTS;
      this.#log.warn('spawn_server_unavailable', { cause: `cannot start the spawn co-process, spawning directly: ${(err as Error).message}` });
      return false;
    }
    this.#proc = proc;
    this.#ready = false;
    this.#startedAt = performance.now();
    this.#starts++;
    this.#env = envSnapshot();
    this.#stderrTail = '';
    let buffered = '';
    proc.stdout?.setEncoding('utf8');
    proc.stdout?.on('data', (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        this.#onLine(line);
      }
    });
    proc.stderr?.setEncoding('utf8');
    proc.stderr?.on('data', (s: string) => (this.#stderrTail = (this.#stderrTail + s).slice(-STDERR_KEEP_CHARS)));
    proc.stdin?.on('error', () => {}); // EPIPE when it died: 'close' below deals with that
    proc.on('error', (err) => (this.#stderrTail ||= err.message)); // a failed spawn: 'close' follows
    proc.on('close', (code, signal) => this.#onGone(proc, code, signal));
    this.#updateRef();
    return true;
  }

  /** Resolves true once the co-process answers (starting it if need be), false if it died or timeoutMs passed. */
  ready(timeoutMs: number): Promise<boolean> {
    if (this.#ready) return Promise.resolve(true);
    if (!this.start()) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (ok: boolean): void => {
        clearTimeout(timer);
        this.#readyWaiters = this.#readyWaiters.filter((w) => w !== done);
        this.#updateRef();
        resolve(ok);
      };
      const timer = setTimeout(() => done(false), timeoutMs);
      this.#readyWaiters.push(done);
      this.#updateRef();
    });
  }

  spawn(file: string, args: readonly string[], opts: SpawnOptions = {}): SpawnedChild {
    const handle = new ChildHandle();
    // a co-process on its way out (stdin closed, 'close' not yet seen) could not take it
    if (!this.#serverUp() || this.#proc?.stdin?.writable !== true) {
      attachDirect(handle, file, args, opts.timeoutMs);
      return handle;
    }
    const id = ++this.#nextId;
    this.#pending.set(id, { handle, file, args: [...args], timeoutMs: opts.timeoutMs });
    handle.killer = (signal) => this.#send({ id, op: 'kill', signal });
    const env = envSnapshot();
    this.#send({
      id,
      op: 'spawn',
      file,
      args: [...args],
      ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
      ...(env !== this.#env ? { env: JSON.parse(env) as Record<string, string> } : {}),
    });
    this.#updateRef();
    return handle;
  }

  run(file: string, args: readonly string[], timeoutMs: number): Promise<RunResult> {
    return collect(this.spawn(file, args, { timeoutMs }));
  }

  /** Ends the co-process (it kills what it still runs); later spawns go direct. */
  async close(): Promise<void> {
    this.#closed = true;
    const proc = this.#proc;
    if (!proc) return;
    proc.stdin?.end();
    if (!(await this.#gone(proc, CLOSE_TIMEOUT_MS))) {
      proc.kill('SIGKILL');
      await this.#gone(proc, CLOSE_TIMEOUT_MS);
    }
  }

  // ---- internals -----------------------------------------------------------------

  #serverUp(): boolean {
    if (this.#proc) return true;
    if (this.#closed || performance.now() - this.#startedAt < this.#restartIntervalMs) return false;
    const again = this.#starts > 0;
    if (!this.start()) return false;
    if (again) this.#log.info('spawn_server_restart', { restarts: this.restarts, cause: 'the spawn co-process had exited; spawns went direct meanwhile' });
    return true;
  }

  #send(req: SpawnRequest): boolean {
    const stdin = this.#proc?.stdin;
    if (!stdin?.writable) return false;
    stdin.write(`${JSON.stringify(req)}\n`);
    return true;
  }

  #onLine(line: string): void {
    let ev: SpawnEvent;
    try {
      ev = JSON.parse(line) as SpawnEvent;
    } catch {
      this.#log.warn('spawn_server_garbage', { line: line.slice(0, 200), cause: 'the spawn co-process wrote a line that is not JSON' });
      return;
    }
    if (!('id' in ev)) {
      if (ev.ev === 'ready') {
        this.#ready = true;
        this.#failedStarts = 0;
        for (const w of [...this.#readyWaiters]) w(true);
      }
      return;
    }
    const p = this.#pending.get(ev.id);
    if (!p) return;
    switch (ev.ev) {
      case 'spawn':
        p.handle.spawned(ev.pid, false);
        break;
      case 'out':
        p.handle.stdout.push(ev.data);
        break;
      case 'err':
        p.handle.stderr.push(ev.data);
        break;
      case 'error':
        this.#pending.delete(ev.id);
        this.#updateRef();
        p.handle.failed(spawnError(ev.code, ev.message, ev.errno, p.file, p.args));
        break;
      case 'close':
        this.#pending.delete(ev.id);
        this.#updateRef();
        p.handle.ended(ev.code, ev.signal, ev.timedOut);
        break;
    }
  }

  #onGone(proc: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.#proc !== proc) return;
    const wasReady = this.#ready;
    this.#proc = undefined;
    this.#ready = false;
    for (const w of [...this.#readyWaiters]) w(false);
    if (!wasReady) this.#failedStarts++;
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    if (!this.#closed) {
      const how = signal ?? `exit ${String(code)}`;
      const stderr = this.#stderrTail.trim();
      this.#log.warn('spawn_server_exited', {
        pid: proc.pid,
        pending: pending.length,
        cause: wasReady
          ? `the spawn co-process ended (${how})${stderr ? `: ${stderr}` : ''}; the commands it was running failed`
          : `the spawn co-process ended before it was ready (${how})${stderr ? `: ${stderr}` : ''}; its requests ran directly`,
        ...(this.#failedStarts >= MAX_FAILED_STARTS ? { disabled: true } : {}),
      });
    }
    for (const p of pending) {
      if (!wasReady) {
        // It read nothing before 'ready': none of these ran, so they can run here.
        if (p.handle.killedWith !== undefined) p.handle.ended(null, p.handle.killedWith, false);
        else attachDirect(p.handle, p.file, p.args, p.timeoutMs);
        continue;
      }
      const pid = p.handle.pid;
      if (pid !== undefined) {
        try {
          // orphaned, with its output going nowhere: end it rather than let it run on unseen
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      const err = spawnError(SPAWN_SERVER_LOST, `the spawn co-process ended (${signal ?? `exit ${String(code)}`}) while \`${[p.file, ...p.args].join(' ')}\` ${pid === undefined ? 'was starting' : 'ran'}`, undefined, p.file, p.args);
      p.handle.failed(err, pid === undefined ? null : 'SIGKILL');
    }
  }

  #gone(proc: ChildProcess, timeoutMs: number): Promise<boolean> {
    if (this.#proc !== proc) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      proc.once('close', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /** Idle, the co-process must not keep halo (or a test) running; busy, it must. */
  #updateRef(): void {
    const proc = this.#proc;
    if (!proc) return;
    const busy = this.#pending.size > 0 || this.#readyWaiters.length > 0;
    for (const h of [proc, proc.stdout as Socket | null, proc.stderr as Socket | null]) {
      if (busy) h?.ref();
      else h?.unref();
    }
  }
}
