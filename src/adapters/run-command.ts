/**
 * Run one external program (track script, notify hook) without a shell, with a hard
 * timeout, and never throw: every way it can go wrong comes back as a RunResult.
 *
 * The child is a process-group leader (detached), so a timeout or an abort kills the
 * whole group with SIGKILL: a script that started `sleep 30` or a pipeline does not leave
 * it running. A program that exits normally is not touched, nor is anything it left
 * behind on purpose (a notify hook may start a daemon).
 */
import { spawn } from 'node:child_process';
import { Socket } from 'node:net';

export interface RunOptions {
  timeoutMs: number;
  /** Default: process.env. */
  env?: NodeJS.ProcessEnv;
  /** Keep the first this-many bytes of stderr (default 0: stderr goes to /dev/null). */
  stderrBytes?: number;
  /** Aborting kills the process group, as a timeout does. */
  signal?: AbortSignal;
}

export interface RunResult {
  /** Exited with status 0. */
  ok: boolean;
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  aborted: boolean;
  /** Set when the program could not be started at all: 'ENOENT', 'EACCES', ... */
  spawnError: string | undefined;
  durationMs: number;
  stderr: string;
}

/** How long to keep reading stderr after the exit; a child left behind may hold it open for good. */
const STDERR_GRACE_MS = 100;
/** After SIGKILL, how long to wait for the exit before giving up on it (a process stuck in D state). */
const KILL_GRACE_MS = 2000;

export function runCommand(argv: readonly string[], opts: RunOptions): Promise<RunResult> {
  const started = performance.now();
  const file = argv[0];
  const base = { ok: false, code: null, signal: null, timedOut: false, aborted: false, stderr: '' };
  if (file === undefined || file === '') {
    return Promise.resolve({ ...base, spawnError: 'EINVAL', durationMs: 0 });
  }
  const keep = Math.max(0, opts.stderrBytes ?? 0);

  return new Promise<RunResult>((resolve) => {
    let child;
    try {
      child = spawn(file, argv.slice(1), {
        detached: true,
        shell: false,
        stdio: ['ignore', 'ignore', keep > 0 ? 'pipe' : 'ignore'],
        env: opts.env ?? process.env,
      });
    } catch (err) {
      // spawn throws synchronously on arguments it cannot pass (a NUL byte, for one).
      resolve({ ...base, spawnError: errCode(err), durationMs: performance.now() - started });
      return;
    }

    let timedOut = false;
    let aborted = false;
    let settled = false;
    const chunks: Buffer[] = [];
    let kept = 0;
    const stderr = child.stderr;
    const onData = (chunk: Buffer): void => {
      if (kept >= keep) return;
      const part = chunk.subarray(0, keep - kept);
      chunks.push(part);
      kept += part.length;
    };
    stderr?.on('data', onData);
    const stderrClosed = stderr ? new Promise<void>((r) => stderr.once('close', () => r())) : Promise.resolve();

    let killGuard: NodeJS.Timeout | undefined;
    const killGroup = (): void => {
      const pid = child.pid;
      if (pid === undefined) return;
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        try {
          child.kill('SIGKILL');
        } catch {
          // already gone
        }
      }
      killGuard ??= setTimeout(() => finish(null, 'SIGKILL'), KILL_GRACE_MS);
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, opts.timeoutMs);
    const onAbort = (): void => {
      aborted = true;
      killGroup();
    };
    if (opts.signal?.aborted) onAbort();
    else opts.signal?.addEventListener('abort', onAbort, { once: true });

    const finish = (code: number | null, signal: NodeJS.Signals | null, spawnError?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (killGuard !== undefined) clearTimeout(killGuard);
      opts.signal?.removeEventListener('abort', onAbort);
      const durationMs = performance.now() - started;
      void waitAtMost(stderrClosed, spawnError === undefined ? STDERR_GRACE_MS : 0).then(() => {
        if (stderr) {
          // Keep draining rather than closing: a daemon the program started may still
          // write to this pipe, and closing it would kill that daemon with SIGPIPE.
          stderr.off('data', onData);
          stderr.resume();
          if (stderr instanceof Socket) stderr.unref();
        }
        resolve({
          ok: spawnError === undefined && !timedOut && !aborted && code === 0,
          code,
          signal,
          timedOut,
          aborted,
          spawnError,
          durationMs,
          stderr: Buffer.concat(chunks).toString('utf8'),
        });
      });
    };

    child.once('exit', (code, signal) => finish(code, signal));
    child.on('error', (err) => {
      // Without a pid the program never started; later errors (a failed kill) change nothing.
      if (child.pid === undefined) finish(null, null, errCode(err));
    });
  });
}

/**
 * One short line for logs and fault reasons: "exit 1", "killed by SIGTERM",
 * "timed out after 1000 ms", "cannot run: ENOENT /x".
 */
export function describeResult(r: RunResult, argv: readonly string[], timeoutMs: number): string {
  if (r.spawnError !== undefined) return `cannot run: ${r.spawnError} ${argv[0] ?? ''}`.trimEnd();
  if (r.timedOut) return `timed out after ${timeoutMs} ms`;
  if (r.aborted) return 'stopped';
  if (r.signal !== null) return `killed by ${r.signal}`;
  return `exit ${r.code ?? 'unknown'}`;
}

function errCode(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : 'EUNKNOWN';
}

function waitAtMost(p: Promise<void>, ms: number): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  let t: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<void>((r) => (t = setTimeout(r, ms)))]).finally(() => clearTimeout(t));
}
