/**
 * The chaos suite's random runner (issue 6): a 3-node lab, one random fault on a random
 * node per cycle (SIGKILL, SIGTERM, SIGSTOP/SIGCONT, link down/up, silent partition/heal,
 * replication cut/restore), a client probing the VIP and 50 persistent clients (source-IP
 * persistence, one source address each). After every cycle:
 * - the timelines (timeline-checks.ts): never two masters once healed for an advert
 *   interval, never no master for longer than the failover bound;
 * - the client's ARP entry for the VIP names the master's MAC;
 * - every persistent client keeps its backend, unless a master that took over during the
 *   cycle said it was not synced (its takeover is `degraded`), which is counted instead;
 * - the cluster converges: every node running, one master (the preferred one: preempt is
 *   on), the VIP on it alone, every standby synced.
 * The faults come from the seed (fault-plan.ts), so a failing cycle is replayed with
 * `npm run chaos -- --scenario random --seed S --from-cycle K --cycles 1`.
 */
import { LAB_VIP, Lab, type ProbeSample } from '../../src/app/lab/index.js';
import { findOutages } from '../../src/app/lab/outages.js';
import { ipJson, signal, sleep } from '../../src/app/lab/system.js';
import { httpRequests, isSyncedStandby } from '../helpers/lab.js';
import { planFaults, restarts, type FaultKind, type PlannedFault } from './fault-plan.js';
import { NodeLogReader } from './node-log-reader.js';
import { checkTimelines, type NodeTimeline, type PlayInterval } from './timeline-checks.js';
import type { ScenarioOptions, ScenarioResult, Violation } from './types.js';
import { saveLogs } from './save-logs.js';
import { VipMonitor } from './vip-monitor.js';

export interface RandomFaultsOptions extends ScenarioOptions {
  /** default: 100 in the short form; the long form runs until `minutes` are up */
  cycles?: number;
  /** replay from this cycle of the seed's plan (0-based) */
  fromCycle?: number;
}

const NODES = 3;
const CLIENTS = 50;
/** the lab's default advert interval (cluster-schema.ts), which this scenario keeps */
const ADVERT_INTERVAL_MS = 40;
const HANDOVER_GRACE_MS = 150;
/** slack for log timestamps and `ip` on a loaded 2-core machine */
const SLACK_MS = 200;
export const LIMITS = {
  graceMs: ADVERT_INTERVAL_MS + SLACK_MS,
  vipGraceMs: ADVERT_INTERVAL_MS + HANDOVER_GRACE_MS + SLACK_MS,
  /** "sub-second failover by default": the longest time with no master in play */
  boundMs: 1000,
};
/** a client turned away for longer than this is reported even when the election looked fine */
const CLIENT_OUTAGE_LIMIT_MS = 2000;
const CONVERGE_TIMEOUT_MS = 20_000;
const BACK_TIMEOUT_MS = 10_000;

interface Converged {
  master: string;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : (s[Math.floor((s.length - 1) / 2)] as number);
}

export async function run(opts: RandomFaultsOptions): Promise<ScenarioResult> {
  const startedAt = Date.now();
  const log = (event: string, fields: Record<string, unknown> = {}) => opts.log.event(event, { scenario: 'random', ...fields });
  const deadline = opts.form === 'long' ? startedAt + opts.minutes * 60_000 : Number.POSITIVE_INFINITY;
  const cycles = opts.cycles ?? (opts.form === 'short' ? 100 : 1_000_000);
  const plan = planFaults(opts.seed, NODES, (opts.fromCycle ?? 0) + cycles).slice(opts.fromCycle ?? 0);
  const violations: Violation[] = [];
  const faults: Record<string, number> = {};
  const outagesByKind = new Map<string, number[]>();
  const gaps: number[] = [];
  let takeovers = 0;
  let unsyncedTakeovers = 0;
  let reassigned = 0;
  let healthReroutes = 0;
  let done = 0;
  const violate = (v: Omit<Violation, 't'> & { t?: number }) => {
    const full: Violation = { t: v.t ?? Date.now(), check: v.check, message: v.message, ...(v.cycle !== undefined ? { cycle: v.cycle } : {}) };
    violations.push(full);
    log('violation', { ...full });
  };

  const lab = new Lab({ name: opts.labName, nodes: NODES, backends: 3, services: { web: { persistence: { type: 'source_ip', ttl_ms: 86_400_000 } } } });
  const names = ['lb1', 'lb2', 'lb3'];
  let monitor: VipMonitor | undefined;
  const stopped = new Set<string>();
  try {
    const state = await lab.up();
    log('lab_up', { lab: lab.name, seed: opts.seed, cycles: plan.length, fromCycle: opts.fromCycle ?? 0 });
    const sources = await lab.addClientAddresses(CLIENTS);
    const readers = new Map(names.map((n) => [n, new NodeLogReader(n, state.hosts.find((h) => h.name === n)?.log as string)]));
    const pollLogs = () => {
      for (const r of readers.values()) r.poll();
    };
    const lbHosts = state.hosts.filter((h) => h.role === 'lb');
    monitor = await VipMonitor.start(lbHosts.map((h) => ({ node: h.name, namespace: h.namespace })), LAB_VIP);
    const status = await lab.status();
    const macs = new Map(status.nodes.map((n) => [n.name, n.mac]));
    const clientNs = state.hosts.find((h) => h.role === 'client')?.namespace as string;

    const converge = async (cycle: number): Promise<Converged | undefined> => {
      const until = Date.now() + CONVERGE_TIMEOUT_MS;
      let last = '';
      for (let i = 0; i < 1000 && Date.now() < until; i++) {
        pollLogs();
        const masters = names.filter((n) => readers.get(n)?.changes.at(-1)?.state === 'MASTER');
        const holders = monitor?.holders() ?? [];
        const st = await lab.status();
        const allRunning = st.nodes.every((n) => n.running);
        last = `masters=${masters.join(',') || 'none'} vip=${holders.join(',') || 'none'} running=${st.nodes.filter((n) => n.running).map((n) => n.name).join(',')}`;
        if (allRunning && masters.length === 1 && masters[0] === 'lb1' && holders.length === 1 && holders[0] === 'lb1') {
          const standbys = await Promise.all(names.filter((n) => n !== 'lb1').map((n) => lab.nodeStatus(n).catch(() => undefined)));
          const unsynced = names.filter((n, i) => n !== 'lb1' && !(standbys[i - 1] !== undefined && isSyncedStandby(standbys[i - 1] as NonNullable<(typeof standbys)[number]>)));
          last += ` unsynced=${unsynced.join(',') || 'none'}`;
          if (unsynced.length === 0) return { master: 'lb1' };
        }
        await sleep(150);
      }
      violate({ check: 'not_converged', cycle, message: `no single synced master (lb1, preempt on) within ${CONVERGE_TIMEOUT_MS} ms: ${last}` });
      return undefined;
    };

    const persistentRound = async (): Promise<Map<string, string | undefined>> => {
      const job = { host: LAB_VIP, port: 80, requests: sources.map((source) => ({ source })), concurrency: 10, timeoutMs: 2000 };
      let results = await httpRequests(lab, job);
      const failed = results.filter((r) => !r.ok);
      if (failed.length > 0) {
        await sleep(500);
        const retry = await httpRequests(lab, { ...job, requests: failed.map((r) => ({ source: r.source as string })) });
        results = results.map((r) => (r.ok ? r : (retry.find((x) => x.source === r.source) ?? r)));
      }
      return new Map(results.map((r) => [r.source as string, r.ok ? r.backend : undefined]));
    };

    const arpOwner = async (): Promise<string | undefined> => {
      const [row] = await ipJson<{ lladdr?: string }>('-n', clientNs, 'neigh', 'show', LAB_VIP).catch(() => []);
      return [...macs].find(([, mac]) => mac !== undefined && mac === row?.lladdr)?.[0];
    };

    let current = await converge(-1);
    if (current === undefined) throw new Error('the lab never converged before the first fault');
    let sticky = await persistentRound();
    const unserved = [...sticky].filter(([, b]) => b === undefined).map(([s]) => s);
    if (unserved.length > 0) throw new Error(`persistent clients not served before the first fault: ${unserved.join(', ')}`);
    log('baseline', { master: current.master, backends: Object.fromEntries(sticky) });

    for (const p of plan) {
      if (opts.signal.aborted || Date.now() >= deadline) break;
      const result = await runCycle(p);
      done++;
      if (result === 'stop') break;
    }

    async function runCycle(p: PlannedFault): Promise<'ok' | 'stop'> {
      const target = names[p.node] as string;
      const role = target === current?.master ? 'master' : 'backup';
      const cycleStart = Date.now();
      faults[p.kind] = (faults[p.kind] ?? 0) + 1;
      const samples: ProbeSample[] = [];
      const probeStop = new AbortController();
      let firstSample: () => void = () => undefined;
      const sampled = new Promise<void>((r) => (firstSample = r));
      // The probe's times are its own (ms since it started): this maps them to the wall clock, to within a few ms.
      let probeWall0: number | undefined;
      const onSample = (s: ProbeSample) => {
        probeWall0 ??= Date.now() - s.t - (s.ms ?? 0);
        samples.push(s);
        firstSample();
      };
      const probe = lab.probe({ seconds: 120, stop: probeStop.signal, onSample }).catch(() => undefined);
      await Promise.race([sampled, sleep(5000)]);

      const out: Array<{ node: string; iv: PlayInterval }> = [];
      const t0 = Date.now();
      log('fault', { cycle: p.cycle, kind: p.kind, node: target, role, holdMs: p.holdMs, seed: opts.seed });
      await inject(p.kind, target);
      await sleep(p.holdMs);
      const t1 = Date.now();
      let backAt = t1;
      await undo(p.kind, target);
      if (restarts(p.kind)) {
        const until = Date.now() + BACK_TIMEOUT_MS;
        for (let i = 0; i < 200 && Date.now() < until; i++) {
          readers.get(target)?.poll();
          const first = readers.get(target)?.changes.find((c) => c.t >= t1);
          if (first !== undefined) {
            backAt = first.t;
            break;
          }
          await sleep(50);
        }
      }
      if (p.kind !== 'replcut') out.push({ node: target, iv: { from: t0, to: backAt } });
      log('undone', { cycle: p.cycle, kind: p.kind, node: target, heldMs: t1 - t0, backAt });

      const converged = await converge(p.cycle);
      const tEnd = Date.now();
      probeStop.abort();
      await probe;
      pollLogs();
      const timelines: NodeTimeline[] = names.map((n) => ({
        node: n,
        states: readers.get(n)?.changes ?? [],
        vip: monitor?.points.get(n) ?? [],
        out: out.filter((o) => o.node === n).map((o) => o.iv),
      }));
      for (const v of checkTimelines(timelines, { from: cycleStart, to: tEnd }, LIMITS)) violate({ t: v.from, check: v.check, cycle: p.cycle, message: `${v.message} (from ${new Date(v.from).toISOString()})` });
      const gap = Math.max(0, ...checkTimelines(timelines, { from: cycleStart, to: tEnd }, { ...LIMITS, boundMs: 0 }).filter((v) => v.check === 'no_master_too_long').map((v) => v.to - v.from));
      if (gap > 0) gaps.push(gap);
      const report = findOutages(samples);
      const outage = report.longest?.duration ?? 0;
      const windows = report.windows.map((w) => ({
        atMs: probeWall0 === undefined ? undefined : Math.round(probeWall0 + w.start - t0),
        ms: Math.round(w.duration),
        failures: w.failures,
        errors: w.errors,
        nodes: `${w.nodeBefore ?? '?'}->${w.nodeAfter ?? '?'}`,
      }));
      outagesByKind.set(`${p.kind}/${role}`, [...(outagesByKind.get(`${p.kind}/${role}`) ?? []), Math.round(outage)]);
      if (outage > CLIENT_OUTAGE_LIMIT_MS) violate({ check: 'client_outage_too_long', cycle: p.cycle, message: `the VIP probe failed for ${outage} ms (limit ${CLIENT_OUTAGE_LIMIT_MS}): ${JSON.stringify(report.longest)}` });

      // A node that became MASTER while cut off (partitioned, link down) served nobody: not a takeover.
      const inPlay = (n: string, t: number) => !out.some((o) => o.node === n && t >= o.iv.from && (o.iv.to === undefined || t < o.iv.to));
      const becameMaster = names.flatMap((n) => (readers.get(n)?.changes ?? []).filter((c) => c.t >= t0 && c.state === 'MASTER' && inPlay(n, c.t)).map((c) => ({ node: n, degraded: c.degraded, cause: c.cause })));
      takeovers += becameMaster.length;
      const degraded = becameMaster.filter((b) => b.degraded);
      unsyncedTakeovers += degraded.length;
      if (role === 'backup' && p.kind !== 'partition' && becameMaster.length > 0) {
        violate({ check: 'needless_takeover', cycle: p.cycle, message: `${p.kind} of backup ${target} moved the master: ${JSON.stringify(becameMaster)}` });
      }

      let arp: string | undefined;
      let persistence = 'skipped';
      if (converged !== undefined) {
        for (let i = 0; i < 30; i++) {
          arp = await arpOwner();
          if (arp === converged.master) break;
          await sleep(100);
        }
        if (arp !== converged.master) violate({ check: 'arp_wrong', cycle: p.cycle, message: `the client's ARP entry for the VIP names ${arp ?? 'no lab node'}, the master is ${converged.master}` });
        const now = await persistentRound();
        // A health check in flight during the fault may mark a backend down after the heal,
        // while the round runs: read the master's log as of the round's end.
        pollLogs();
        const moved = [...now].filter(([s, b]) => b !== undefined && b !== sticky.get(s));
        const lost = [...now].filter(([, b]) => b === undefined).map(([s]) => s);
        if (lost.length > 0) violate({ check: 'client_unserved', cycle: p.cycle, message: `${lost.length} persistent clients got no answer after convergence: ${lost.slice(0, 5).join(', ')}` });
        // Health wins over persistence: a client whose backend the serving master marked
        // down (its probes failed, e.g. while it was cut off itself) is sent elsewhere by design.
        const downs = new Set((readers.get(converged.master)?.backendDowns ?? []).filter((d) => d.t >= t0 && d.service === 'web').map((d) => d.backend));
        const rerouted = moved.filter(([s]) => downs.has(sticky.get(s) as string));
        healthReroutes += rerouted.length;
        if (rerouted.length > 0) log('health_reroute', { cycle: p.cycle, master: converged.master, backendsDown: [...downs], clients: rerouted.length });
        const lostBackend = moved.filter(([s]) => !downs.has(sticky.get(s) as string));
        if (lostBackend.length > 0 && degraded.length === 0) {
          violate({ check: 'persistence_lost', cycle: p.cycle, message: `${lostBackend.length} persistent clients changed backend although every takeover was synced and their backend was never marked down: ${lostBackend.slice(0, 5).map(([s, b]) => `${s} ${sticky.get(s)}->${b}`).join(', ')}` });
        }
        if (degraded.length > 0) reassigned += moved.length;
        for (const [s, b] of now) if (b !== undefined) sticky.set(s, b);
        persistence = moved.length === 0 ? 'kept' : degraded.length > 0 ? `reassigned ${moved.length} after an unsynced takeover` : lostBackend.length === 0 ? `rerouted ${moved.length} (backend marked down)` : `lost ${lostBackend.length}`;
        current = converged;
      } else {
        // Put the lab back as it should be before the next cycle: a missing node restarted.
        for (const n of (await lab.status()).nodes) if (!n.running) await lab.start(n.name).catch(() => undefined);
        current = (await converge(p.cycle)) ?? current;
      }
      log('cycle', { cycle: p.cycle, kind: p.kind, node: target, role, holdMs: p.holdMs, outageMs: Math.round(outage), windows, noMasterMs: gap, takeovers: becameMaster, arp, persistence, ms: Date.now() - cycleStart });
      for (const r of readers.values()) r.trim(tEnd - 1000);
      monitor?.trim(tEnd - 1000);
      if (converged === undefined && current === undefined) return 'stop';
      await sleep(p.restMs);
      return 'ok';
    }

    async function inject(kind: FaultKind, node: string): Promise<void> {
      const pid = lab.state().hosts.find((h) => h.name === node)?.pid;
      switch (kind) {
        case 'sigkill':
          await lab.kill(node);
          return;
        case 'sigterm':
          await lab.stop(node);
          return;
        case 'sigstop':
          if (pid !== undefined && signal(pid, 'SIGSTOP')) stopped.add(node);
          return;
        case 'linkdown':
          return lab.linkdown(node);
        case 'partition':
          return lab.partition(node);
        case 'replcut':
          return lab.cutReplication(node);
      }
    }

    async function undo(kind: FaultKind, node: string): Promise<void> {
      const pid = lab.state().hosts.find((h) => h.name === node)?.pid;
      switch (kind) {
        case 'sigkill':
        case 'sigterm':
          await lab.start(node);
          return;
        case 'sigstop':
          if (pid !== undefined) signal(pid, 'SIGCONT');
          stopped.delete(node);
          return;
        case 'linkdown':
          return lab.linkup(node);
        case 'partition':
          return lab.heal(node);
        case 'replcut':
          await lab.restoreReplication(node);
          return;
      }
    }
  } finally {
    monitor?.stop();
    if (opts.artifactsDir !== undefined && lab.exists()) saveLogs(lab, opts.artifactsDir, `chaos-${opts.seed}-random`);
    for (const node of stopped) {
      const pid = lab.exists() ? lab.state().hosts.find((h) => h.name === node)?.pid : undefined;
      if (pid !== undefined) signal(pid, 'SIGCONT');
    }
    await lab.down().catch((err: unknown) => log('cleanup_failed', { error: String(err) }));
  }

  const figures: Record<string, number | string> = {
    cycles: done,
    takeovers,
    unsynced_takeovers: unsyncedTakeovers,
    clients_reassigned_after_unsynced_takeover: reassigned,
    clients_rerouted_backend_marked_down: healthReroutes,
    no_master_ms_median: median(gaps),
    no_master_ms_max: Math.max(0, ...gaps),
  };
  for (const [k, xs] of [...outagesByKind].sort()) {
    figures[`client_outage_ms_${k}`] = `median ${median(xs)}, max ${Math.max(...xs)} (${xs.length})`;
  }
  return { name: 'random', seed: opts.seed, startedAt, durationMs: Date.now() - startedAt, cycles: done, faults, violations, figures };
}
