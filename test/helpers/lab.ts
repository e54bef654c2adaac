/**
 * Test helpers around `Lab` (src/app/lab): unique lab names, reading a node's JSON log,
 * measuring a failover with the client probe, and for replication: nodes' status lines
 * (SIGUSR2), tables in step, client jobs.
 */
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll } from 'vitest';
import { LAB_HTTP_PORT, LAB_VIP, Lab, type ClientEvent, type HttpJob, type LabOptions, type LabStatus, type NodeStatusLine } from '../../src/app/lab/index.js';
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

/** A node's log events stamped at or after `sinceMs` (wall clock), in file order. */
export function labLogEventsSince(lab: Lab, node: string, sinceMs: number): Record<string, unknown>[] {
  return labLogEvents(lab, node).filter((e) => typeof e['timestamp'] === 'string' && Date.parse(e['timestamp']) >= sinceMs);
}

export function isSyncedStandby(s: NodeStatusLine): boolean {
  return s.replication?.role === 'standby' && s.replication.synced;
}

/** Poll the node's SIGUSR2 status line every 100 ms until `cond` holds (bounded). */
export async function waitNodeStatus(lab: Lab, node: string, cond: (s: NodeStatusLine) => boolean, what: string, timeoutMs = 10_000): Promise<NodeStatusLine> {
  let last: NodeStatusLine | undefined;
  await waitForAsync(async () => cond((last = await lab.nodeStatus(node))), `${node}: ${what}`, timeoutMs, 100).catch((err: Error) => {
    throw new Error(`${err.message}; last replication status: ${JSON.stringify({ election: last?.election?.state, replication: { ...last?.replication, log: undefined } })}`);
  });
  return last as NodeStatusLine;
}

export interface InStep {
  master: NodeStatusLine;
  standby: NodeStatusLine;
}

/**
 * Until the standby is synced and reports the same entries and digest as the master
 * for each table (and `entries` of them when given): both nodes are asked at once.
 */
export async function waitTablesInStep(lab: Lab, tables: string[], opts: { entries?: number; master?: string; standby?: string; timeoutMs?: number } = {}): Promise<InStep> {
  const master = opts.master ?? 'lb1';
  const standby = opts.standby ?? 'lb2';
  let last: InStep | undefined;
  const inStep = (p: InStep) =>
    isSyncedStandby(p.standby) &&
    tables.every((t) => {
      const m = p.master.replication?.tables[t];
      const s = p.standby.replication?.tables[t];
      return m !== undefined && s !== undefined && m.digest === s.digest && m.entries === s.entries && (opts.entries === undefined || s.entries === opts.entries);
    });
  await waitForAsync(
    async () => {
      const [m, s] = await Promise.all([lab.nodeStatus(master), lab.nodeStatus(standby)]);
      last = { master: m, standby: s };
      return inStep(last);
    },
    `${standby} synced with ${master} on ${tables.join(', ')}${opts.entries !== undefined ? ` (${opts.entries} entries)` : ''}`,
    opts.timeoutMs ?? 10_000,
    100,
  ).catch((err: Error) => {
    const view = (s: NodeStatusLine | undefined) => ({ synced: s?.replication?.synced, role: s?.replication?.role, tables: Object.fromEntries(tables.map((t) => [t, s?.replication?.tables[t]])) });
    throw new Error(`${err.message}; last: ${master} ${JSON.stringify(view(last?.master))}, ${standby} ${JSON.stringify(view(last?.standby))}`);
  });
  return last as InStep;
}

/** Every table both nodes list, for comparing whole replicas. */
export function tableNames(s: NodeStatusLine): string[] {
  return Object.keys(s.replication?.tables ?? {}).sort();
}

export type HttpResult = Extract<ClientEvent, { type: 'http' }>;

/** Run an http client job to the end; its results in request order. */
export async function httpRequests(lab: Lab, job: Omit<HttpJob, 'mode'>): Promise<HttpResult[]> {
  const events = await lab.client({ mode: 'http', ...job }).done;
  return events.flatMap((e) => (e.type === 'http' ? [e] : [])).sort((a, b) => a.i - b.i);
}

/** Until a request from the client's own address to the VIP is served through `node` (after a takeover: ARP settled). */
export async function waitServedBy(lab: Lab, node: string, port = LAB_HTTP_PORT, timeoutMs = 8000): Promise<void> {
  let last: HttpResult | undefined;
  await waitForAsync(
    async () => {
      [last] = await httpRequests(lab, { host: LAB_VIP, port, requests: [{}], timeoutMs: 500 });
      return last?.ok === true && last.node === node;
    },
    `the VIP (port ${port}) to be served through ${node}`,
    timeoutMs,
    50,
  ).catch((err: Error) => {
    throw new Error(`${err.message}; last answer: ${JSON.stringify(last)}`);
  });
}

/** Every lb node running, `master` the master holding the VIP, `standby` synced with it: the state each replication test starts from. */
export async function ensureReplicatedPair(lab: Lab, master = 'lb1', standby = 'lb2', timeoutMs = 20_000): Promise<void> {
  lab.stopClients();
  const s = await lab.status();
  for (const n of s.nodes) if (!n.running) await lab.start(n.name);
  await waitMaster(lab, master, timeoutMs);
  await waitNodeStatus(lab, standby, isSyncedStandby, `synced standby of ${master}`, timeoutMs);
}
