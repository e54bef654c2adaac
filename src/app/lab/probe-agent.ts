/**
 * The client side of `halo lab probe`, run inside the client namespace as the hidden
 * `halo lab probe-agent`: every interval it opens a NEW connection (no keep-alive, so
 * every attempt goes through whoever holds the VIP now), GET /, and writes one JSON line
 * per attempt. A last line {"done":true,...} counts attempts and skipped ticks.
 */
import { request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { nodeForAddress } from './plan.js';
import type { ProbeSample } from './outages.js';

export interface ProbeAgentOptions {
  host: string;
  port: number;
  /** how long to probe; ticks stop then, attempts in flight finish (each bounded by timeoutMs) */
  durationMs: number;
  intervalMs?: number;
  timeoutMs?: number;
  /** a tick with more attempts than this in flight is skipped, not queued */
  maxInFlight?: number;
  write: (line: string) => void;
  /** stop early (SIGTERM/SIGINT): no new attempts, the summary still comes */
  stop?: AbortSignal;
}

export interface ProbeAgentSummary {
  done: true;
  attempts: number;
  skipped: number;
  durationMs: number;
}

/** A timer this late means the probe process was not running (CPU starvation, not the network). */
const PROBE_STALL_MS = 15;

function attempt(host: string, port: number, timeoutMs: number, t: number): Promise<ProbeSample> {
  const started = performance.now();
  return new Promise((resolve) => {
    let settled = false;
    const finish = (s: Omit<ProbeSample, 't' | 'ms'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ t, ...s, ms: Math.round((performance.now() - started) * 10) / 10 });
    };
    const req = request({ host, port, path: '/', agent: false, headers: { connection: 'close' } }, (res) => {
      const backend = res.headers['x-backend'];
      const peer = res.headers['x-peer'];
      const node = nodeForAddress(typeof peer === 'string' ? peer : undefined);
      res.resume();
      res.on('error', (e: NodeJS.ErrnoException) => finish({ ok: false, error: e.code ?? e.message }));
      res.on('end', () => {
        const who = { ...(typeof backend === 'string' ? { backend } : {}), ...(node !== undefined ? { node } : {}) };
        finish(res.statusCode === 200 ? { ok: true, ...who } : { ok: false, error: `status-${res.statusCode ?? 0}`, ...who });
      });
    });
    // One deadline for the whole exchange (connect, answer, body), not per socket event.
    // It counts only time this process ran: on a shared lab machine the probe itself can
    // be starved (a node restarting beside it), and after such a stall its timer would run
    // before the answer already waiting in the socket, or before the next round trip.
    // A timer that fires late gives the stall back; the verdict waits for the poll phase.
    let due = started + timeoutMs;
    let timer: NodeJS.Timeout;
    const check = () => {
      const late = performance.now() - due;
      if (late > PROBE_STALL_MS) {
        due += late;
        timer = setTimeout(check, late);
        return;
      }
      setImmediate(() => {
        finish({ ok: false, error: 'timeout' });
        req.destroy();
      });
    };
    timer = setTimeout(check, timeoutMs);
    req.on('error', (e: NodeJS.ErrnoException) => finish({ ok: false, error: e.code ?? e.message }));
    req.end();
  });
}

export async function runProbeAgent(opts: ProbeAgentOptions): Promise<ProbeAgentSummary> {
  const interval = opts.intervalMs ?? 10;
  const timeout = opts.timeoutMs ?? 100;
  // Enough that attempts timing out during an outage never crowd out a tick.
  const maxInFlight = opts.maxInFlight ?? Math.ceil(timeout / interval) + 1;
  const t0 = performance.now();
  const pending = new Set<Promise<void>>();
  let attempts = 0;
  let skipped = 0;
  const round = (n: number) => Math.round(n * 10) / 10;

  // Ticks are scheduled against t0, so a slow tick does not push every later one back.
  for (let tick = 0; tick * interval < opts.durationMs; tick++) {
    const wait = t0 + tick * interval - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    if (opts.stop?.aborted) break;
    if (pending.size > maxInFlight) {
      skipped++;
      continue;
    }
    attempts++;
    const p = attempt(opts.host, opts.port, timeout, round(performance.now() - t0)).then((s) => {
      opts.write(JSON.stringify(s));
      pending.delete(p);
    });
    pending.add(p);
  }
  await Promise.all(pending);
  const summary: ProbeAgentSummary = { done: true, attempts, skipped, durationMs: round(performance.now() - t0) };
  opts.write(JSON.stringify(summary));
  return summary;
}
