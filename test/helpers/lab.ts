/**
 * Test helpers around `Lab` (src/app/lab): unique lab names, reading a node's JSON log,
 * and measuring a failover with the client probe.
 */
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { Lab } from '../../src/app/lab/index.js';
import type { OutageReport, ProbeSample } from '../../src/app/lab/outages.js';

/** Short and unique per run: lab names prefix every namespace. */
export function newLabName(tag: string): string {
  return `ht${process.pid % 10000}${randomBytes(2).toString('hex')}${tag}`;
}

/** Every JSON line of a node's log so far (non-JSON lines skipped). */
export function labLogEvents(lab: Lab, node: string): Record<string, unknown>[] {
  const host = lab.state().hosts.find((h) => h.name === node);
  if (host?.log === undefined) throw new Error(`lab ${lab.name} has no log for ${node}`);
  const out: Record<string, unknown>[] = [];
  for (const line of readFileSync(host.log, 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // a line cut by a kill
    }
  }
  return out;
}

/** Wall-clock ms of a log event (winston's ISO timestamp). */
export function eventTime(e: Record<string, unknown> | undefined): number {
  const t = e?.['timestamp'];
  if (typeof t !== 'string') throw new Error(`log event without timestamp: ${JSON.stringify(e)}`);
  return Date.parse(t);
}

/**
 * Probe the VIP; once it is served, inject the fault; stop once `to` has served 20
 * answers in a row. Bounded: 5 s to the first answer, 15 s for the whole run.
 */
export async function measureFailover(lab: Lab, to: string, fault: () => Promise<void>): Promise<OutageReport> {
  const stop = new AbortController();
  let firstOk: () => void = () => undefined;
  const served = new Promise<void>((r) => (firstOk = r));
  let recovered: () => void = () => undefined;
  const done = new Promise<void>((r) => (recovered = r));
  let faulted = false;
  let streak = 0;
  const onSample = (s: ProbeSample) => {
    if (s.ok) firstOk();
    if (!faulted) return;
    streak = s.ok && s.node === to ? streak + 1 : 0;
    if (streak >= 20) recovered();
  };
  const probe = lab.probe({ seconds: 15, onSample, stop: stop.signal });
  const bounded = (p: Promise<void>, ms: number, what: string) =>
    Promise.race([p, new Promise<void>((_, reject) => setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms).unref())]);
  try {
    await bounded(served, 5000, 'the probe to get a first answer');
    await new Promise((r) => setTimeout(r, 200));
    faulted = true;
    await fault();
    await bounded(done, 10_000, `${to} to serve 20 answers in a row after the fault`);
  } finally {
    stop.abort();
  }
  return (await probe).report;
}
