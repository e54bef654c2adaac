/**
 * The two phases of the replication benchmark, each with its own pair of node processes
 * (sync-node.ts) on loopback: the master on 127.0.0.1, the standby on 127.0.0.2, the same
 * free port.
 *
 *   sustained  a standby synced to an empty master; per target rate, the master sets
 *              persistence entries for N seconds while both sides count, then the
 *              standby's sample apply times are joined with the master's set times.
 *   snapshot   a master filled to each size in turn; for each, a fresh standby follows
 *              it and is timed from follow to synced. Heap per entry on both sides.
 */
import { join } from 'node:path';
import { freePorts } from './procs.js';
import { SyncChild } from './sync-child.js';
import type { Counters } from './sync-protocol.js';
import { lagStats, type SnapshotRun, type SustainedStep } from './sync-report.js';

export interface RunSettings {
  readonly repo: string;
  readonly keyHex: string;
  readonly hrBase: bigint;
  readonly cores: { readonly master: number | undefined; readonly standby: number | undefined };
  /** Base directory for --cpu-prof profiles (one sub-directory per process); undefined: off. */
  readonly profileDir: string | undefined;
  readonly log: (msg: string) => void;
  readonly signal: AbortSignal;
}

const MASTER_ADDRESS = '127.0.0.1';
const STANDBY_ADDRESS = '127.0.0.2';
/** Lag samples per second of load: enough for a p99 of every step. */
const SAMPLES_PER_SECOND = 2000;
const CATCH_UP_WAIT_MS = 30_000;
const SYNC_WAIT_MS = 120_000;
const REQUEST_MS = 30_000;

export function sampleEvery(rate: number): number {
  return Math.max(1, Math.round(rate / SAMPLES_PER_SECOND));
}

/** Every node process the bench started, so a failure or Ctrl-C ends them all by pid. */
export class Children {
  readonly #all = new Set<SyncChild>();
  #seq = 0;

  constructor(private readonly settings: RunSettings) {}

  start(label: string, cpu: number | undefined): SyncChild {
    const dir = this.settings.profileDir === undefined ? undefined : join(this.settings.profileDir, `${++this.#seq}-${label.replace(/\W+/g, '-')}`);
    const child = new SyncChild({ label, repo: this.settings.repo, cpu, profileDir: dir, onLog: (line) => this.settings.log(line) });
    this.#all.add(child);
    void child.exited.then(() => this.#all.delete(child));
    return child;
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.#all].map((c) => c.stop(5000)));
  }

  killAllNow(): void {
    for (const c of this.#all) c.killNow();
  }
}

async function startMaster(s: RunSettings, children: Children, masterLabel: string, maxEntries: number): Promise<{ master: SyncChild; port: number }> {
  const [port] = await freePorts(1);
  if (port === undefined) throw new Error('no free port');
  const master = children.start(masterLabel, s.cores.master);
  await master.request({ type: 'init', role: 'master', name: masterLabel, address: MASTER_ADDRESS, port, keyHex: s.keyHex, hrBase: String(s.hrBase), maxEntries, sampleCapacity: 1 }, REQUEST_MS);
  await master.request({ type: 'elect' }, REQUEST_MS);
  return { master, port };
}

async function startStandby(s: RunSettings, children: Children, label: string, port: number, sampleCapacity: number, maxEntries: number): Promise<SyncChild> {
  const standby = children.start(label, s.cores.standby);
  await standby.request({ type: 'init', role: 'standby', name: label, address: STANDBY_ADDRESS, port, keyHex: s.keyHex, hrBase: String(s.hrBase), maxEntries, sampleCapacity }, REQUEST_MS);
  return standby;
}

const gcLine = (g: Counters['gc']): string => `${g.minorCount} minor ${g.minorMs.toFixed(0)} ms (longest ${g.minorMaxMs.toFixed(1)}), ${g.majorCount} major ${g.majorMs.toFixed(0)} ms (longest ${g.majorMaxMs.toFixed(1)})`;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const delta = (a: Counters, b: Counters, event: string): number => (b.events[event] ?? 0) - (a.events[event] ?? 0);
const cpuMs = (a: Counters, b: Counters): number => (b.cpuUserUs + b.cpuSystemUs - a.cpuUserUs - a.cpuSystemUs) / 1000;

/** Until the standby applied up to `seq`, at most CATCH_UP_WAIT_MS; its counters then, and whether it got there. */
async function catchUp(standby: SyncChild, seq: number): Promise<{ counters: Counters; reached: boolean }> {
  const deadline = performance.now() + CATCH_UP_WAIT_MS;
  for (;;) {
    const c = await standby.request({ type: 'counters' }, REQUEST_MS);
    if ((c.appliedSeq ?? -1) >= seq) return { counters: c, reached: true };
    if (performance.now() > deadline) return { counters: c, reached: false };
    await sleep(20);
  }
}

export interface SustainedPlan {
  readonly rates: readonly number[];
  readonly seconds: number;
  readonly warmSeconds: number;
  readonly keySpace: number;
}

export async function runSustained(s: RunSettings, children: Children, plan: SustainedPlan): Promise<SustainedStep[]> {
  const runs = [...(plan.warmSeconds > 0 ? [{ rate: plan.rates[0] ?? 10_000, seconds: plan.warmSeconds, warm: true }] : []), ...plan.rates.map((rate) => ({ rate, seconds: plan.seconds, warm: false }))];
  const capacity = runs.reduce((n, r) => n + Math.ceil((r.rate * r.seconds) / sampleEvery(r.rate)) + 2, 0);
  const maxEntries = 1_000_000;
  const { master, port } = await startMaster(s, children, 'm1', maxEntries);
  const standby = await startStandby(s, children, 's1', port, capacity, maxEntries);
  await standby.request({ type: 'follow', masterName: 'm1', masterAddress: MASTER_ADDRESS }, REQUEST_MS);
  const synced = await standby.request({ type: 'waitSynced', timeoutMs: 10_000 }, REQUEST_MS);
  s.log(`sustained: standby s1 synced in ${((synced.syncedNs - synced.followNs) / 1e6).toFixed(1)} ms (port ${port})`);

  const steps: SustainedStep[] = [];
  let sampleFrom = 0;
  for (const run of runs) {
    if (s.signal.aborted) break;
    await Promise.all([master.request({ type: 'resetPhase' }, REQUEST_MS), standby.request({ type: 'resetPhase' }, REQUEST_MS)]);
    const [m0, s0] = await Promise.all([master.request({ type: 'counters' }, REQUEST_MS), standby.request({ type: 'counters' }, REQUEST_MS)]);
    const wall0 = performance.now();
    const every = sampleEvery(run.rate);
    const r = await master.request({ type: 'load', rate: run.rate, seconds: run.seconds, keySpace: plan.keySpace, sampleEvery: every, sampleFrom }, run.seconds * 1000 + REQUEST_MS);
    const caught = await catchUp(standby, r.seqAfter);
    const m1 = await master.request({ type: 'counters' }, REQUEST_MS);
    const wall = performance.now() - wall0;
    const s1 = caught.counters;
    const { applyNs } = await standby.request({ type: 'samples', from: sampleFrom, count: r.samples }, REQUEST_MS);
    sampleFrom += r.samples;
    const applied = s1.applied;
    const window = (s1.lastApplyNs - s1.firstApplyNs) / 1e9;
    const step: SustainedStep = {
      target: run.rate,
      seconds: run.seconds,
      sets: r.sets,
      sentPerSecond: r.sets / (r.elapsedMs / 1000),
      applied,
      appliedPerSecond: applied > 0 && window > 0 ? applied / window : undefined,
      lag: lagStats(r.setNs, applyNs),
      bytesPerUpdate: applied > 0 ? (m1.bytesWritten - m0.bytesWritten) / applied : undefined,
      ackBytesPerUpdate: applied > 0 ? (s1.bytesWritten - s0.bytesWritten) / applied : undefined,
      catchUpMs: caught.reached && s1.lastApplyNs > 0 ? Math.max(0, (s1.lastApplyNs - r.lastSetNs) / 1e6) : undefined,
      masterCpu: (100 * cpuMs(m0, m1)) / wall,
      standbyCpu: (100 * cpuMs(s0, s1)) / wall,
      masterLoopP99Ms: m1.loopDelayP99Ms,
      standbyLoopP99Ms: s1.loopDelayP99Ms,
      masterLoopMaxMs: m1.loopDelayMaxMs,
      standbyLoopMaxMs: s1.loopDelayMaxMs,
      masterGcMaxMs: Math.max(m1.gc.minorMaxMs, m1.gc.majorMaxMs),
      standbyGcMaxMs: Math.max(s1.gc.minorMaxMs, s1.gc.majorMaxMs),
      masterGcMs: m1.gc.minorMs + m1.gc.majorMs,
      standbyGcMs: s1.gc.minorMs + s1.gc.majorMs,
      cuts: delta(m0, m1, 'replication_peer_behind'),
      snapshots: delta(m0, m1, 'replication_snapshot'),
      resets: delta(s0, s1, 'replication_reset') + delta(s0, s1, 'replication_link_lost'),
    };
    const lag = step.lag === undefined ? 'no lag samples' : `lag p50 ${step.lag.p50Ms.toFixed(1)} p99 ${step.lag.p99Ms.toFixed(1)} max ${step.lag.maxMs.toFixed(1)} ms`;
    s.log(
      `${run.warm ? 'warm-up' : 'step'} ${run.rate}/s x ${run.seconds} s: sent ${Math.round(step.sentPerSecond)}/s (largest burst ${r.maxBurst}), applied ${Math.round(step.appliedPerSecond ?? 0)}/s, ${lag}, ` +
        `${step.bytesPerUpdate?.toFixed(1) ?? '?'} B/update, catch-up ${step.catchUpMs?.toFixed(1) ?? 'never'} ms, cpu ${step.masterCpu.toFixed(0)}% / ${step.standbyCpu.toFixed(0)}%, loop max ${step.masterLoopMaxMs.toFixed(0)} / ${step.standbyLoopMaxMs.toFixed(0)} ms, gc ${gcLine(m1.gc)} / ${gcLine(s1.gc)}, cuts ${step.cuts}, snapshots ${step.snapshots}, resets ${step.resets}`,
    );
    if (!run.warm) steps.push(step);
  }
  await Promise.all([standby.stop(10_000), master.stop(10_000)]);
  return steps;
}

export async function runSnapshots(s: RunSettings, children: Children, sizes: readonly number[]): Promise<SnapshotRun[]> {
  const sorted = [...new Set(sizes)].sort((a, b) => a - b);
  const maxEntries = Math.max(1_000_000, sorted[sorted.length - 1] ?? 0);
  const { master, port } = await startMaster(s, children, 'm2', maxEntries);
  const base = await master.request({ type: 'memory' }, REQUEST_MS);
  const runs: SnapshotRun[] = [];
  let filled = 0;
  for (const [i, size] of sorted.entries()) {
    if (s.signal.aborted) break;
    const f = await master.request({ type: 'fill', from: filled, count: size - filled, batch: 10_000 }, 300_000);
    filled = size;
    const mem = await master.request({ type: 'memory' }, REQUEST_MS);
    s.log(`snapshot: master holds ${f.entries} entries (filled ${size - (i === 0 ? 0 : (sorted[i - 1] ?? 0))} in ${f.ms.toFixed(0)} ms), heap ${((mem.heapUsed - base.heapUsed) / size).toFixed(0)} B/entry`);
    const label = `s${i + 2}`;
    const standby = await startStandby(s, children, label, port, 1, maxEntries);
    try {
      const sBase = await standby.request({ type: 'memory' }, REQUEST_MS);
      const [m0, s0] = await Promise.all([master.request({ type: 'counters' }, REQUEST_MS), standby.request({ type: 'counters' }, REQUEST_MS)]);
      await standby.request({ type: 'follow', masterName: 'm2', masterAddress: MASTER_ADDRESS }, REQUEST_MS);
      const t = await standby.request({ type: 'waitSynced', timeoutMs: SYNC_WAIT_MS }, SYNC_WAIT_MS + REQUEST_MS);
      const [m1, s1] = await Promise.all([master.request({ type: 'counters' }, REQUEST_MS), standby.request({ type: 'counters' }, REQUEST_MS)]);
      // The standby's own log re-encodes what it applied (it serves the day it becomes master): let it flush first.
      await standby.request({ type: 'settle', timeoutMs: 10_000 }, REQUEST_MS);
      const sMem = await standby.request({ type: 'memory' }, REQUEST_MS);
      const run: SnapshotRun = {
        entries: size,
        fillMs: f.ms,
        connectMs: t.connectedNs > 0 ? (t.connectedNs - t.followNs) / 1e6 : 0,
        syncedMs: (t.syncedNs - t.followNs) / 1e6,
        standbyEntries: t.entries,
        wireBytesPerEntry: (m1.bytesWritten - m0.bytesWritten) / size,
        masterHeapPerEntry: (mem.heapUsed - base.heapUsed) / size,
        standbyHeapPerEntry: (sMem.heapUsed - sBase.heapUsed) / size,
        masterExternalPerEntry: (mem.external + mem.arrayBuffers - base.external - base.arrayBuffers) / size,
        standbyExternalPerEntry: (sMem.external + sMem.arrayBuffers - sBase.external - sBase.arrayBuffers) / size,
        standbyCpuMs: cpuMs(s0, s1),
      };
      s.log(
        `snapshot ${size}: synced ${(run.syncedMs / 1000).toFixed(2)} s after follow (dial + handshake ${run.connectMs.toFixed(1)} ms), standby holds ${run.standbyEntries}, ` +
          `${run.wireBytesPerEntry?.toFixed(1) ?? '?'} B/entry on the wire, heap ${run.masterHeapPerEntry.toFixed(0)} / ${run.standbyHeapPerEntry.toFixed(0)} B/entry (master / standby), standby cpu ${(run.standbyCpuMs / 1000).toFixed(2)} s`,
      );
      runs.push(run);
    } finally {
      await standby.stop(10_000);
    }
  }
  await master.stop(10_000);
  return runs;
}
