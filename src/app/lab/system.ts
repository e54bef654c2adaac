/**
 * The lab's hands: `ip`, `bridge` and signals by PID, each bounded in time. Everything
 * here acts inside the lab's own namespaces; nothing touches the host's interfaces.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { HaloError } from '../../core/errors.js';

const COMMAND_TIMEOUT_MS = 10_000;

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Run a program (no shell); resolves with stdout, rejects with a HaloError quoting stderr. */
export function sh(cmd: string, args: string[], timeoutMs = COMMAND_TIMEOUT_MS): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 8 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) {
        const why = stderr.trim() || (err.killed ? `timed out after ${timeoutMs} ms` : err.message);
        reject(new HaloError('HALO_ERR_LAB', `${cmd} ${args.join(' ')}: ${why}`, { cmd, args }));
      } else resolve(stdout);
    });
  });
}

export const ip = (...args: string[]): Promise<string> => sh('ip', args);

/** `ip -j ...` parsed; an empty answer is an empty list. */
export async function ipJson<T>(...args: string[]): Promise<T[]> {
  const out = (await sh('ip', ['-j', ...args])).trim();
  if (out === '') return [];
  const parsed: unknown = JSON.parse(out);
  return Array.isArray(parsed) ? (parsed as T[]) : [];
}

export async function netnsList(): Promise<string[]> {
  const out = await sh('ip', ['netns', 'list']);
  // "name (id: 3)" or just "name"
  return out.split('\n').map((l) => l.trim().split(/\s+/)[0] ?? '').filter((n) => n !== '');
}

export async function netnsPids(ns: string): Promise<number[]> {
  const out = await sh('ip', ['netns', 'pids', ns]).catch(() => '');
  return out.split(/\s+/).map(Number).filter((p) => Number.isInteger(p) && p > 0);
}

/** Alive and not a zombie (a zombie answers kill 0 but is gone for every purpose here). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) S ...": comm may hold spaces and parentheses, so read after the last ')'
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

export function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

/** Poll until the process is gone; true if it went within timeoutMs. */
export async function waitGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(25);
  }
  return true;
}

/**
 * SIGKILL every process in the namespace (by PID, never by name) until none is left,
 * bounded. A namespace with a process in it outlives `ip netns del`.
 */
export async function killNamespaceProcesses(ns: string, timeoutMs = 5000): Promise<number[]> {
  const killed = new Set<number>();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pids = (await netnsPids(ns)).filter((p) => p !== process.pid && isAlive(p));
    if (pids.length === 0) return [...killed];
    if (Date.now() > deadline) throw new HaloError('HALO_ERR_LAB', `processes ${pids.join(', ')} in namespace ${ns} survived SIGKILL for ${timeoutMs} ms`, { ns, pids });
    for (const p of pids) if (signal(p, 'SIGKILL')) killed.add(p);
    await sleep(50);
  }
}

export async function deleteNamespace(ns: string): Promise<void> {
  await killNamespaceProcesses(ns);
  await sh('ip', ['netns', 'del', ns]).catch(async (err: unknown) => {
    if ((await netnsList()).includes(ns)) throw err;
  });
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}
