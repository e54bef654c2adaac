/**
 * The spawn co-process: a small Node program that starts commands for halo.
 *
 * Why: fork() copies the page tables of the whole process, so from a halo whose data
 * plane holds 500 MB a spawn costs ~20 ms (2 ms when small). The election worker lives in
 * that process, and a takeover spawns `ip addr replace` and then `arping`. This process is
 * started once, early, with a small heap; each spawn through it forks only it (~1.4 ms).
 *
 * Protocol (remote-spawn.ts is the other side), one JSON object per line:
 *   in:  { id, op: 'spawn', file, args, timeoutMs?, env? } | { id, op: 'kill', signal }
 *   out: { ev: 'ready', pid } once, before anything else; then per id:
 *        { id, ev: 'spawn', pid } | { id, ev: 'out' | 'err', data } (utf8 chunks)
 *        | { id, ev: 'error', code, message, errno? } (the spawn failed: the end, no close)
 *        | { id, ev: 'close', code, signal, timedOut } (the end)
 * No shell. It exits, killing its children, when its stdin closes: halo ended or died.
 *
 * node:* imports only: it must start fast and load nothing of halo.
 */
import { spawn, type ChildProcess } from 'node:child_process';

export type SpawnRequest =
  | { id: number; op: 'spawn'; file: string; args: string[]; timeoutMs?: number; env?: Record<string, string> }
  | { id: number; op: 'kill'; signal: NodeJS.Signals };

export type SpawnEvent =
  | { ev: 'ready'; pid: number }
  | { id: number; ev: 'spawn'; pid: number }
  | { id: number; ev: 'out' | 'err'; data: string }
  | { id: number; ev: 'error'; code: string; message: string; errno?: number }
  | { id: number; ev: 'close'; code: number | null; signal: NodeJS.Signals | null; timedOut: boolean };

/** Enough to reject a runaway line without holding megabytes; requests are a few hundred bytes. */
const MAX_LINE_CHARS = 1024 * 1024;

const children = new Map<number, ChildProcess>();

function send(ev: SpawnEvent): void {
  // A pipe: process.stdout writes are synchronous on Linux, so events keep their order.
  process.stdout.write(`${JSON.stringify(ev)}\n`);
}

function startChild(req: Extract<SpawnRequest, { op: 'spawn' }>): void {
  const { id } = req;
  let child: ChildProcess;
  try {
    child = spawn(req.file, req.args, { stdio: ['ignore', 'pipe', 'pipe'], env: req.env ?? process.env });
  } catch (err) {
    // spawn throws synchronously on arguments it cannot pass (a NUL byte, for one)
    const e = err as NodeJS.ErrnoException;
    send({ id, ev: 'error', code: e.code ?? 'EINVAL', message: e.message });
    return;
  }
  const pid = child.pid;
  const spawned = pid !== undefined;
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  if (spawned) {
    children.set(id, child);
    send({ id, ev: 'spawn', pid });
    if (req.timeoutMs !== undefined && req.timeoutMs > 0) {
      timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, req.timeoutMs);
    }
  }
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (data: string) => send({ id, ev: 'out', data }));
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (data: string) => send({ id, ev: 'err', data }));
  child.on('error', (err: NodeJS.ErrnoException) => {
    // After a successful spawn an 'error' is a failed kill: 'close' still reports the end.
    if (spawned) return;
    send({ id, ev: 'error', code: err.code ?? 'EUNKNOWN', message: err.message, ...(typeof err.errno === 'number' ? { errno: err.errno } : {}) });
  });
  child.on('close', (code, signal) => {
    if (timer) clearTimeout(timer);
    if (!spawned) return; // the 'error' above was the end
    children.delete(id);
    send({ id, ev: 'close', code, signal, timedOut });
  });
}

function handle(line: string): void {
  let req: SpawnRequest;
  try {
    req = JSON.parse(line) as SpawnRequest;
  } catch {
    process.stderr.write(`spawn-server: ignoring a line that is not JSON: ${line.slice(0, 200)}\n`);
    return;
  }
  if (typeof req !== 'object' || req === null || typeof req.id !== 'number') {
    process.stderr.write(`spawn-server: ignoring a request without an id: ${line.slice(0, 200)}\n`);
    return;
  }
  if (req.op === 'kill') {
    children.get(req.id)?.kill(req.signal);
  } else if (req.op === 'spawn' && typeof req.file === 'string' && Array.isArray(req.args) && req.args.every((a) => typeof a === 'string')) {
    startChild(req);
  } else {
    send({ id: req.id, ev: 'error', code: 'EINVAL', message: `spawn-server: malformed request: ${line.slice(0, 200)}` });
  }
}

let stopping = false;
function stop(): void {
  if (stopping) return;
  stopping = true;
  for (const child of children.values()) child.kill('SIGKILL');
  process.exit(0);
}

// Our end is halo's end (stdin EOF, or the IPC channel if one was given), never a signal:
// Ctrl-C or a SIGTERM sent to the whole group or cgroup reaches us too, while halo still
// needs us to run `ip addr del` on its way out.
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => {});
process.on('disconnect', stop);
process.stdout.on('error', stop);

send({ ev: 'ready', pid: process.pid });

let buffered = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk: string) => {
  buffered += chunk;
  let nl: number;
  while ((nl = buffered.indexOf('\n')) >= 0) {
    const line = buffered.slice(0, nl);
    buffered = buffered.slice(nl + 1);
    if (line.trim() !== '') handle(line);
  }
  if (buffered.length > MAX_LINE_CHARS) {
    process.stderr.write(`spawn-server: dropping a line longer than ${MAX_LINE_CHARS} characters\n`);
    buffered = '';
  }
});
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.on('error', stop);
