/**
 * The three load generators and the parsers of their output: wrk (requests/s and p99),
 * iperf3 (bulk MB/s, JSON output) and bench/udp/udp-load.c (datagrams/s, one JSON line).
 * A run that fails or shows errors says so in `problem`; the value is still kept when
 * there is one, so the report can show it next to the warning.
 */
import type { ProcessGroup } from './procs.js';
import { tail } from './procs.js';

export interface WrkResult {
  readonly requestsPerSecond: number;
  readonly p99Ms: number;
  readonly requests: number;
  readonly socketErrors: number;
  readonly non2xx: number;
}

export interface Sample {
  readonly value: number;
  /** Secondary value (p99 ms for wrk). */
  readonly extra?: number;
  readonly problem?: string;
  /** Percent of the proxy's core taken by other work meanwhile (see interference.ts). */
  readonly foreign?: number;
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

/** "1.23ms" / "645.12us" / "2.00s" -> milliseconds. */
export function durationToMs(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  if (!m || m[1] === undefined || m[2] === undefined) throw new Error(`not a wrk duration: "${text}"`);
  const factor = UNIT_MS[m[2]];
  if (factor === undefined) throw new Error(`not a wrk duration unit: "${text}"`);
  return Number(m[1]) * factor;
}

export function parseWrk(output: string): WrkResult {
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(output);
  const p99 = /^\s+99%\s+(\S+)/m.exec(output);
  const total = /^\s*(\d+) requests in /m.exec(output);
  if (!rps?.[1] || !p99?.[1] || !total?.[1]) throw new Error(`cannot read wrk output (needs --latency): ${tail(output)}`);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const socketErrors = sock ? sock.slice(1, 5).reduce((sum, n) => sum + Number(n), 0) : 0;
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(output)?.[1] ?? 0);
  return { requestsPerSecond: Number(rps[1]), p99Ms: durationToMs(p99[1]), requests: Number(total[1]), socketErrors, non2xx };
}

/** Receiver-side throughput in MB/s (10^6 bytes) from `iperf3 -J`. */
export function parseIperfJson(output: string): number {
  let doc: unknown;
  try {
    doc = JSON.parse(output);
  } catch {
    throw new Error(`iperf3 did not print JSON: ${tail(output)}`);
  }
  const d = doc as { error?: string; end?: { sum_received?: { bits_per_second?: number } } };
  if (typeof d.error === 'string') throw new Error(`iperf3: ${d.error}`);
  const bps = d.end?.sum_received?.bits_per_second;
  if (typeof bps !== 'number' || !Number.isFinite(bps)) throw new Error('iperf3 JSON has no end.sum_received.bits_per_second');
  return bps / 8 / 1e6;
}

export interface UdpLoadResult {
  readonly replies: number;
  readonly seconds: number;
  readonly perSecond: number;
  readonly sent: number;
  readonly bad: number;
  readonly refills: number;
  readonly errors: number;
}

export function parseUdpLoad(output: string): UdpLoadResult {
  const line = output.split('\n').find((l) => l.startsWith('{"replies"'));
  if (!line) throw new Error(`udp-load printed no result: ${tail(output)}`);
  const r = JSON.parse(line) as Record<string, unknown>;
  const num = (k: string) => {
    const v = r[k];
    if (typeof v !== 'number') throw new Error(`udp-load result has no number "${k}"`);
    return v;
  };
  return { replies: num('replies'), seconds: num('seconds'), perSecond: num('per_second'), sent: num('sent'), bad: num('bad'), refills: num('refills'), errors: num('errors') };
}

export interface LoadSettings {
  readonly seconds: number;
  /** Core for the load generator, undefined = not pinned. */
  readonly cpu: number | undefined;
}

/** Time allowed beyond the test itself before a tool is killed. */
const GRACE_MS = 15_000;

export async function runWrk(group: ProcessGroup, port: number, s: LoadSettings): Promise<Sample> {
  const args = ['-t1', '-c50', `-d${s.seconds}s`, '--latency', `http://127.0.0.1:${port}/`];
  const r = await group.run('wrk', 'wrk', args, s.seconds * 1000 + GRACE_MS, { cpu: s.cpu });
  if (r.code !== 0) return { value: 0, problem: `wrk exited ${r.code}${r.timedOut ? ' (timed out)' : ''}: ${tail(r.stderr || r.stdout)}` };
  try {
    const w = parseWrk(r.stdout);
    const issues: string[] = [];
    if (w.non2xx > 0) issues.push(`${w.non2xx} non-2xx`);
    if (w.socketErrors > 0) issues.push(`${w.socketErrors} socket errors`);
    return issues.length ? { value: w.requestsPerSecond, extra: w.p99Ms, problem: issues.join(', ') } : { value: w.requestsPerSecond, extra: w.p99Ms };
  } catch (err) {
    return { value: 0, problem: (err as Error).message };
  }
}

export async function runIperf(group: ProcessGroup, port: number, s: LoadSettings): Promise<Sample> {
  const args = ['-c', '127.0.0.1', '-p', String(port), '-t', String(s.seconds), '-J'];
  const r = await group.run('iperf3 client', 'iperf3', args, s.seconds * 1000 + GRACE_MS, { cpu: s.cpu });
  try {
    const mbps = parseIperfJson(r.stdout);
    return r.code === 0 ? { value: mbps } : { value: mbps, problem: `iperf3 exited ${r.code}` };
  } catch (err) {
    return { value: 0, problem: `${(err as Error).message}${r.timedOut ? ' (timed out)' : ''}` };
  }
}

export interface UdpSettings extends LoadSettings {
  readonly binary: string;
  readonly inflight: number;
  readonly flows: number;
  readonly size: number;
}

export async function runUdpLoad(group: ProcessGroup, port: number, s: UdpSettings): Promise<Sample> {
  const args = ['127.0.0.1', String(port), String(s.seconds), String(s.inflight), String(s.flows), String(s.size)];
  const r = await group.run('udp-load', s.binary, args, s.seconds * 1000 + GRACE_MS, { cpu: s.cpu });
  try {
    const u = parseUdpLoad(r.stdout);
    const issues: string[] = [];
    if (r.code !== 0) issues.push(`udp-load exited ${r.code}`);
    if (u.bad > 0) issues.push(`${u.bad} replies of the wrong size`);
    if (u.replies === 0) issues.push(`no replies (${u.errors} socket errors)`);
    // Some loss is normal under overload; a lot means the window was mostly empty.
    if (u.refills > u.seconds * 10) issues.push(`${u.refills} stalled windows refilled`);
    return issues.length ? { value: u.perSecond, problem: issues.join(', ') } : { value: u.perSecond };
  } catch (err) {
    return { value: 0, problem: (err as Error).message };
  }
}
