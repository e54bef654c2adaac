/**
 * A node's own view of itself, until the admin API exists: `kill -USR2` makes `halo run`
 * log one `status` line (election, replication, replica), and this reads back the first
 * one written after the signal. Only lb nodes: the demo backend has no handler, and
 * SIGUSR2's default action would end it.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { HaloError } from '../../core/errors.js';
import type { ReplicationStatus } from '../replication/replication-node.js';
import type { ReplicaStatus } from '../../core/service/replica-types.js';
import { isHostProcess } from './host-process.js';
import type { HostState } from './state.js';
import { signal, sleep } from './system.js';

export const STATUS_TIMEOUT_MS = 3000;

/** The `status` line as JSON: what `halo run` logs on SIGUSR2 (src/app/run.ts). */
export interface NodeStatusLine {
  timestamp: string;
  node?: string;
  election?: { state?: string; synced?: boolean; priority?: number; [k: string]: unknown };
  replication?: ReplicationStatus;
  replica?: Record<string, ReplicaStatus>;
}

/** The first complete `status` line in a stretch of log text. */
export function firstStatusLine(text: string): NodeStatusLine | undefined {
  const complete = text.slice(0, text.lastIndexOf('\n') + 1);
  for (const line of complete.split('\n')) {
    if (!line.startsWith('{') || !line.includes('"status"')) continue;
    try {
      const e = JSON.parse(line) as Record<string, unknown>;
      if (e['message'] === 'status' && typeof e['timestamp'] === 'string') return e as unknown as NodeStatusLine;
    } catch {
      // a line that only mentions it
    }
  }
  return undefined;
}

function readFrom(path: string, from: number): string {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return '';
  }
  try {
    const len = Math.max(0, statSync(path).size - from);
    const buf = Buffer.alloc(len);
    const n = readSync(fd, buf, 0, len, from);
    return buf.subarray(0, n).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** Signal the node and wait (bounded) for the status line it logs in answer. */
export async function requestStatusLine(haloCommand: readonly string[], host: HostState, timeoutMs = STATUS_TIMEOUT_MS): Promise<NodeStatusLine> {
  if (host.role !== 'lb' || host.log === undefined) throw new HaloError('HALO_ERR_LAB', `${host.name} is not a halo node: only lb nodes log a status line`, { node: host.name });
  if (!(await isHostProcess(haloCommand, host, host.pid))) throw new HaloError('HALO_ERR_LAB', `${host.name} is not running`, { node: host.name });
  let from: number;
  try {
    from = statSync(host.log).size;
  } catch {
    from = 0;
  }
  signal(host.pid as number, 'SIGUSR2');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = firstStatusLine(readFrom(host.log, from));
    if (line !== undefined) return line;
    if (Date.now() > deadline) throw new HaloError('HALO_ERR_LAB', `${host.name} logged no status line within ${timeoutMs} ms of SIGUSR2 (log ${host.log})`, { node: host.name });
    await sleep(10);
  }
}
