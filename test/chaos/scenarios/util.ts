/**
 * What the fixed chaos scenarios share (the lab's life and the violations are in
 * scenario-lab.ts): the nodes' election history read back from their own logs, VIP
 * holders sampled from the kernel, and signals the Lab API does not offer (SIGSTOP /
 * SIGCONT). Every wait here is bounded in time and count.
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { LAB_HTTP_PORT, LAB_IFNAME, LAB_VIP, type HostState, type Lab, type LabStatus } from '../../../src/app/lab/index.js';
import { ipJson, isAlive, signal } from '../../../src/app/lab/system.js';
import { parseConfig } from '../../../src/config/load.js';
import type { ClusterConfig } from '../../../src/config/cluster-schema.js';
import { masterDownInterval } from '../../../src/core/election/timers.js';
import type { ScenarioOptions } from '../types.js';

export { seededRandom } from '../../helpers/seeded-random.js';

/** Resolves after ms, or at once when the signal aborts (the caller checks it). */
export function sleep(ms: number, stop?: AbortSignal): Promise<void> {
  if (stop?.aborted === true) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      stop?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, ms));
    stop?.addEventListener('abort', done, { once: true });
  });
}

/** Poll cond every everyMs until it holds (true) or timeoutMs passes or stop aborts (false). */
export async function waitUntil(cond: () => Promise<boolean> | boolean, timeoutMs: number, everyMs = 50, stop?: AbortSignal): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  // The count bound backs up the clock bound should a condition return instantly forever.
  const maxPolls = Math.ceil(timeoutMs / Math.max(1, everyMs)) + 2;
  for (let i = 0; i < maxPolls; i++) {
    if (await cond()) return true;
    if (Date.now() >= deadline || stop?.aborted === true) return false;
    await sleep(everyMs, stop);
  }
  return false;
}

/** CPU time (user + system, ms) a process has used so far; undefined when it is gone. */
export function processCpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after "(comm)": state is field 3, utime 14, stime 15 (clock ticks, 100 per second on Linux).
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return undefined;
  }
}

/** The machine's 1-minute load average: shared CI machines make rates noisy, and this says how noisy. */
export const load1 = (): number => Math.round((loadavg()[0] ?? 0) * 100) / 100;

export function lbHosts(lab: Lab): HostState[] {
  return lab.state().hosts.filter((h) => h.role === 'lb');
}

/** A node's `cluster` section as halo reads it (defaults filled in), from the lab's generated config. */
export function clusterConfig(lab: Lab, node: string): ClusterConfig {
  const host = lab.state().hosts.find((h) => h.name === node);
  if (host?.config === undefined) throw new Error(`lab ${lab.name} has no config for ${node}`);
  const cluster = parseConfig(readFileSync(host.config, 'utf8'), host.config).cluster;
  if (cluster === undefined) throw new Error(`${node}'s config has no cluster section`);
  return cluster;
}

/**
 * The node's own Master_Down_Interval (ms), from its config: while it follows `master`
 * (relative skew, the default, is measured from the master's priority), or the RFC's,
 * the longest it can be, when no master is named.
 */
export function nodeMasterDownMs(lab: Lab, node: string, master?: string): number {
  const c = clusterConfig(lab, node);
  const reference = master !== undefined && c.skew === 'relative' ? clusterConfig(lab, master).priority : undefined;
  return masterDownInterval(c.priority, c.advert_interval_ms, c.down_adverts, reference);
}

/** Every JSON line of a node's log so far (a line cut by a kill is skipped). */
export function logEvents(lab: Lab, node: string): Record<string, unknown>[] {
  const host = lab.state().hosts.find((h) => h.name === node);
  if (host?.log === undefined) return [];
  let text: string;
  try {
    text = readFileSync(host.log, 'utf8');
  } catch {
    return [];
  }
  const out: Record<string, unknown>[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // a line cut by a kill
    }
  }
  return out;
}

export interface StateChange {
  /** wall ms, from the node's own log timestamp */
  t: number;
  node: string;
  from: string;
  state: string;
  cause: string;
}

/** Every election state change of the lab's lb nodes stamped at or after sinceMs, in time order. */
export function stateChangesSince(lab: Lab, sinceMs: number): StateChange[] {
  const out: StateChange[] = [];
  for (const h of lbHosts(lab)) {
    for (const e of logEvents(lab, h.name)) {
      if (e['message'] !== 'state_change' || typeof e['timestamp'] !== 'string') continue;
      const t = Date.parse(e['timestamp']);
      if (!(t >= sinceMs)) continue;
      out.push({ t, node: h.name, from: String(e['from']), state: String(e['state']), cause: typeof e['cause'] === 'string' ? e['cause'] : '' });
    }
  }
  return out.sort((a, b) => a.t - b.t);
}

export const formatChange = (c: StateChange): string => `${new Date(c.t).toISOString().slice(11, 23)} ${c.node} ${c.from}->${c.state} (${c.cause})`;

interface AddrRow {
  addr_info?: Array<{ family?: string; local?: string }>;
}

/** The lb nodes whose eth0 holds the VIP now (the kernel's view, whatever the process thinks). */
export async function vipHolders(lab: Lab): Promise<string[]> {
  const hosts = lbHosts(lab);
  const held = await Promise.all(
    hosts.map(async (h) => {
      const rows = await ipJson<AddrRow>('-n', h.namespace, 'addr', 'show', 'dev', LAB_IFNAME).catch(() => []);
      return rows.some((r) => (r.addr_info ?? []).some((a) => a.family === 'inet' && a.local === LAB_VIP));
    }),
  );
  return hosts.filter((_, i) => held[i] === true).map((h) => h.name);
}

export interface VipSample {
  t: number;
  holders: string[];
}

/**
 * Samples the VIP holders every everyMs until stopped (or maxMs): each sample goes to
 * onSample as it comes, so a scenario can flag a bad one with its time.
 */
export class VipSampler {
  readonly samples: VipSample[] = [];
  readonly #stop = new AbortController();
  #running: Promise<void> | undefined;

  constructor(
    private readonly lab: Lab,
    private readonly everyMs: number,
    private readonly maxMs: number,
    private readonly onSample?: (s: VipSample) => void,
  ) {}

  start(): void {
    this.#running ??= this.#loop();
  }

  async #loop(): Promise<void> {
    const end = Date.now() + this.maxMs;
    const maxSamples = Math.ceil(this.maxMs / this.everyMs) + 1;
    for (let i = 0; i < maxSamples && !this.#stop.signal.aborted && Date.now() < end; i++) {
      const t0 = Date.now();
      const s = { t: t0, holders: await vipHolders(this.lab) };
      this.samples.push(s);
      this.onSample?.(s);
      await sleep(this.everyMs - (Date.now() - t0), this.#stop.signal);
    }
  }

  async stop(): Promise<VipSample[]> {
    this.#stop.abort();
    await this.#running;
    return this.samples;
  }
}

export function nodePid(lab: Lab, node: string): number | undefined {
  return lab.state().hosts.find((h) => h.name === node)?.pid;
}

/** SIGSTOP / SIGCONT a node by its recorded PID (the Lab API has kill and stop, not these). */
export function signalNode(lab: Lab, node: string, sig: 'SIGSTOP' | 'SIGCONT'): boolean {
  const pid = nodePid(lab, node);
  return pid !== undefined && isAlive(pid) && signal(pid, sig);
}

/** The single running MASTER that alone holds the VIP, or undefined (with the status it saw). */
export async function soleMaster(lab: Lab): Promise<{ master: string | undefined; status: LabStatus }> {
  const status = await lab.status();
  const masters = status.nodes.filter((n) => n.running && n.state === 'MASTER').map((n) => n.name);
  const holders = status.nodes.filter((n) => n.running && n.holdsVip).map((n) => n.name);
  const master = masters.length === 1 && holders.length === 1 && masters[0] === holders[0] ? masters[0] : undefined;
  return { master, status };
}

/** Wait (bounded) until one node is MASTER and alone holds the VIP; which one, or undefined. */
export async function waitSoleMaster(lab: Lab, timeoutMs: number, stop?: AbortSignal): Promise<string | undefined> {
  let found: string | undefined;
  await waitUntil(async () => (found = (await soleMaster(lab)).master) !== undefined, timeoutMs, 100, stop);
  return found;
}

export const describeStatus = (s: LabStatus): string =>
  s.nodes.map((n) => `${n.name}:${n.state}${n.holdsVip ? '+vip' : ''}${n.running ? '' : '(down)'}`).join(' ') + ` arp=${s.clientArp?.node ?? s.clientArp?.mac ?? 'none'}`;

/** One request from the client's own address to the VIP: the node that proxied it, or why not. */
export async function servedBy(lab: Lab, timeoutMs = 1000): Promise<{ node?: string; error?: string }> {
  const events = await lab.client({ mode: 'http', host: LAB_VIP, port: LAB_HTTP_PORT, requests: [{}], timeoutMs }).done;
  const r = events.find((e) => e.type === 'http');
  if (r === undefined || r.type !== 'http') return { error: 'no answer from the client agent' };
  if (!r.ok) return { error: r.error ?? `status ${r.status ?? '?'}` };
  return r.node !== undefined ? { node: r.node } : { error: 'answer without x-peer' };
}

/** Median of a list (undefined when empty). */
export function median(xs: readonly number[]): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** How long the scenario may run: the short form's fixed length, or the long form's minutes. */
export function budgetMs(opts: ScenarioOptions, shortMs: number, longCapMs = Number.POSITIVE_INFINITY): number {
  if (opts.form === 'short') return shortMs;
  const minutes = Number.isFinite(opts.minutes) && opts.minutes > 0 ? opts.minutes : 5;
  return Math.min(minutes * 60_000, longCapMs);
}
