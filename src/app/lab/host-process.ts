/**
 * The one process each lab host runs (`halo run` on lbK, `halo demo-backend` on beK):
 * spawned detached inside its namespace with output appended to its log, so it outlives
 * the `halo lab` command that started it; found again later by PID.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, statSync } from 'node:fs';
import { HaloError } from '../../core/errors.js';
import { BACKEND_HTTP_PORT, BACKEND_UDP_PORT } from './plan.js';
import type { HostState } from './state.js';
import { isAlive, netnsPids, sleep } from './system.js';
import { lastLines } from './logs.js';

export const READY_TIMEOUT_MS = 15_000;

/** The program and arguments the host's process runs (after `ip netns exec NS`). */
export function hostArgv(haloCommand: readonly string[], host: HostState): string[] {
  if (host.role === 'lb') {
    if (host.config === undefined) throw new HaloError('HALO_ERR_LAB', `${host.name} has no config file in the lab state`);
    return [...haloCommand, 'run', '--config', host.config];
  }
  if (host.role === 'backend') return [...haloCommand, 'demo-backend', '--name', host.name, '--http', String(BACKEND_HTTP_PORT), '--udp', String(BACKEND_UDP_PORT)];
  throw new HaloError('HALO_ERR_LAB', `${host.name} runs no process`);
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

/** Start the host's process; resolves with its PID once it says it is ready. */
export async function startHostProcess(haloCommand: readonly string[], host: HostState): Promise<number> {
  if (host.log === undefined) throw new HaloError('HALO_ERR_LAB', `${host.name} has no log file in the lab state`);
  const argv = hostArgv(haloCommand, host);
  const from = fileSize(host.log);
  const fd = openSync(host.log, 'a', 0o640);
  let pid: number;
  try {
    // `ip netns exec` execs in place: the PID is the node process's own.
    const child = spawn('ip', ['netns', 'exec', host.namespace, ...argv], { detached: true, stdio: ['ignore', fd, fd] });
    pid = await new Promise<number>((resolve, reject) => {
      child.once('error', (err) => reject(new HaloError('HALO_ERR_LAB', `cannot start ${host.name}: ${err.message}`)));
      child.once('spawn', () => resolve(child.pid ?? 0));
    });
    child.unref();
  } finally {
    closeSync(fd);
  }
  await waitReady(host, pid, from);
  return pid;
}

type Readiness = 'ready' | 'failed' | undefined;

function readiness(host: HostState, text: string): Readiness {
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    let e: Record<string, unknown>;
    try {
      e = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    if (host.role === 'backend' && e['event'] === 'demo_backend_ready') return 'ready';
    if (host.role === 'lb' && e['message'] === 'node_started') return 'ready';
    if (host.role === 'lb' && e['message'] === 'start_failed') return 'failed';
  }
  return undefined;
}

async function waitReady(host: HostState, pid: number, from: number): Promise<void> {
  const log = host.log as string;
  const deadline = Date.now() + READY_TIMEOUT_MS;
  const tail = () => lastLines(log, 15).lines.join('\n  ');
  for (;;) {
    let text = '';
    try {
      text = readFileSync(log).subarray(from).toString('utf8');
    } catch {
      // not created yet
    }
    const r = readiness(host, text);
    if (r === 'ready') return;
    if (r === 'failed') throw new HaloError('HALO_ERR_LAB', `${host.name} failed to start (log ${log}):\n  ${tail()}`);
    if (!isAlive(pid)) throw new HaloError('HALO_ERR_LAB', `${host.name} exited while starting (log ${log}):\n  ${tail()}`);
    if (Date.now() > deadline) throw new HaloError('HALO_ERR_LAB', `${host.name} did not say it was ready within ${READY_TIMEOUT_MS} ms (log ${log}):\n  ${tail()}`);
    await sleep(50);
  }
}

/**
 * Whether `pid` is still this host's process: alive, in the host's namespace, and running
 * the command the lab started (a PID can be reused by anything after a crash).
 */
export async function isHostProcess(haloCommand: readonly string[], host: HostState, pid: number | undefined): Promise<boolean> {
  if (pid === undefined || !isAlive(pid)) return false;
  if (!(await netnsPids(host.namespace)).includes(pid)) return false;
  return cmdlineIs(pid, hostArgv(haloCommand, host));
}

export function cmdlineIs(pid: number, argv: readonly string[]): boolean {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    if (cmdline[cmdline.length - 1] === '') cmdline.pop();
    return cmdline.length === argv.length && cmdline.every((a, i) => a === argv[i]);
  } catch {
    return false;
  }
}
