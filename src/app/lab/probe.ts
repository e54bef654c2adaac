/**
 * The lab side of the probe: start the agent in the client namespace, read its JSON
 * lines as they come, and turn them into outage windows when it is done.
 */
import { spawn } from 'node:child_process';
import { HaloError } from '../../core/errors.js';
import { findOutages, type OutageReport, type ProbeSample } from './outages.js';
import { isAlive, signal } from './system.js';

export const MAX_PROBE_SECONDS = 3600;

export interface ProbeOptions {
  /** the namespace to probe from (the lab's client) */
  namespace: string;
  haloCommand: readonly string[];
  host: string;
  port: number;
  seconds: number;
  /** ms between attempts (the agent's default: 10) */
  intervalMs?: number;
  /** every sample as it arrives (completion order) */
  onSample?: (s: ProbeSample) => void;
  /** end early: the agent is told to stop and its samples so far are reported */
  stop?: AbortSignal;
}

export interface ProbeResult {
  samples: ProbeSample[];
  /** ticks the agent skipped because too many attempts were in flight */
  skipped: number;
  report: OutageReport;
}

function isSample(v: unknown): v is ProbeSample {
  return typeof v === 'object' && v !== null && typeof (v as ProbeSample).t === 'number' && typeof (v as ProbeSample).ok === 'boolean';
}

export function runProbe(opts: ProbeOptions): Promise<ProbeResult> {
  if (!(Number.isInteger(opts.seconds) && opts.seconds > 0 && opts.seconds <= MAX_PROBE_SECONDS)) {
    // the agent's --seconds takes whole seconds: refuse here, with the reason, not in the agent
    return Promise.reject(new HaloError('HALO_ERR_LAB', `probe seconds must be a whole number 1-${MAX_PROBE_SECONDS}, got ${opts.seconds}`));
  }
  const [cmd, ...cmdArgs] = opts.haloCommand;
  if (cmd === undefined) return Promise.reject(new HaloError('HALO_ERR_LAB', 'haloCommand is empty'));
  const args = ['netns', 'exec', opts.namespace, cmd, ...cmdArgs, 'lab', 'probe-agent', '--target', `${opts.host}:${opts.port}`, '--seconds', String(opts.seconds), ...(opts.intervalMs !== undefined ? ['--interval-ms', String(opts.intervalMs)] : [])];
  const child = spawn('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const samples: ProbeSample[] = [];
  let skipped = 0;
  let done = false;
  let stderr = '';
  let buf = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        continue;
      }
      if (isSample(parsed)) {
        samples.push(parsed);
        opts.onSample?.(parsed);
      } else if (typeof parsed === 'object' && parsed !== null && (parsed as { done?: unknown }).done === true) {
        done = true;
        skipped = Number((parsed as { skipped?: unknown }).skipped) || 0;
      }
    }
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    if (stderr.length < 64 * 1024) stderr += chunk;
  });
  // The agent stops by itself; this only catches a hung one.
  const limitMs = opts.seconds * 1000 + 15_000;
  const guard = setTimeout(() => {
    if (child.pid !== undefined && isAlive(child.pid)) signal(child.pid, 'SIGKILL');
  }, limitMs);
  const onStop = () => {
    if (child.pid !== undefined) signal(child.pid, 'SIGTERM');
  };
  opts.stop?.addEventListener('abort', onStop, { once: true });
  return new Promise((resolve, reject) => {
    child.on('error', (err) => {
      clearTimeout(guard);
      opts.stop?.removeEventListener('abort', onStop);
      reject(new HaloError('HALO_ERR_LAB', `cannot start the probe agent: ${err.message}`));
    });
    child.on('close', (code, sig) => {
      clearTimeout(guard);
      opts.stop?.removeEventListener('abort', onStop);
      if (!done) {
        const why = sig !== null ? `killed by ${sig}${sig === 'SIGKILL' ? ` (no end after ${limitMs} ms)` : ''}` : `exit ${code}`;
        reject(new HaloError('HALO_ERR_LAB', `probe agent in ${opts.namespace} ended without finishing (${why}): ${stderr.trim().slice(-2000)}`));
        return;
      }
      resolve({ samples, skipped, report: findOutages(samples) });
    });
  });
}
