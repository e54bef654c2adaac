/**
 * Test helpers around `Lab` (src/app/lab): unique lab names, reading a node's JSON log,
 * and measuring a failover with the client probe.
 */
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll } from 'vitest';
import { Lab, type LabOptions, type LabStatus } from '../../src/app/lab/index.js';
import { waitForAsync } from './wait.js';
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

/** A lab for one describe block: built in beforeAll, removed in afterAll (also after a failure). */
export function useLab(tag: string, opts: Omit<LabOptions, 'name'> = {}): Lab {
  const lab = new Lab({ name: newLabName(tag), nodes: 2, ...opts });
  beforeAll(async () => {
    await lab.up();
  }, 60_000);
  afterAll(async () => {
    await lab.down();
  }, 60_000);
  return lab;
}

export function labNode(s: LabStatus, name: string): LabStatus['nodes'][number] {
  const n = s.nodes.find((x) => x.name === name);
  if (!n) throw new Error(`no node ${name} in the lab status`);
  return n;
}

export function labNamespace(lab: Lab, host: string): string {
  const h = lab.state().hosts.find((x) => x.name === host);
  if (!h) throw new Error(`no host ${host} in lab ${lab.name}`);
  return h.namespace;
}

/** Wait until `name` is MASTER and the only running node holding the VIP. */
export async function waitMaster(lab: Lab, name: string, timeoutMs = 8000): Promise<LabStatus> {
  let last: LabStatus | undefined;
  await waitForAsync(
    async () => {
      last = await lab.status();
      // A SIGKILLed node's kernel keeps the VIP until its lifetime ends (or the node restarts).
      const holders = last.nodes.filter((n) => n.holdsVip && n.running).map((n) => n.name);
      return labNode(last, name).state === 'MASTER' && holders.length === 1 && holders[0] === name;
    },
    `${name} to be the only master holding the VIP`,
    timeoutMs,
  ).catch((err: Error) => {
    throw new Error(`${err.message}; last status: ${JSON.stringify(last?.nodes.map((n) => ({ n: n.name, state: n.state, vip: n.holdsVip, running: n.running })))}`);
  });
  return last as LabStatus;
}
