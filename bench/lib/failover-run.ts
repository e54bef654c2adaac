/**
 * One repetition of one failover scenario on one system: lb1 serving, fault, takeover by
 * lb2 (the outage), undo the fault, lb1 back (the failback outage), and what is left
 * behind (VIP holders, where the client's ARP points). Every wait is bounded; a step
 * that does not happen in time makes the repetition a failure with the nodes' log tails.
 */
import { performance } from 'node:perf_hooks';
import { outageBetween, stableRun, firstServedBy, type Outage } from './failover-measure.js';
import { ProbeSession } from './failover-probe.js';
import { BACKUP, MASTER, type Scenario, type SystemId, type SystemUnderTest } from './failover-systems.js';

export interface RepOptions {
  /** how long lb1 must serve without a failure before the fault */
  servingMs: number;
  /** how long the new server must serve without a failure to count as recovered */
  stableMs: number;
  /** bound for lb1 to be serving at the start */
  startMs: number;
  /** bound for lb2 to take over after the fault */
  recoverMs: number;
  /** bound for lb1 to serve again after start / linkup */
  failbackMs: number;
  /** the same after a heal: a stale ARP entry can take the client a minute to drop */
  healMs: number;
  /** added to one advert interval for the ARP check after a heal */
  arpMarginMs: number;
  signal: AbortSignal;
}

export interface OutageRecord {
  ms: number;
  failures: number;
  windows: number;
  /** the longest window's errors, first one first */
  errors: string[];
  /** who answered just before and just after the longest window */
  nodeBefore?: string;
  nodeAfter?: string;
  /** ms from the fault (or the restore) to the first success through the node that took over */
  servedAfterMs?: number;
  /** ms from the fault (or the restore) to the start of the longest window (its last success before) */
  windowAfterMs?: number;
  /** the node served steadily within the bound; false: the numbers run to when we gave up */
  complete: boolean;
}

export interface RepResult {
  system: SystemId;
  scenario: Scenario;
  rep: number;
  /** ISO time the repetition started */
  at: string;
  /** why the repetition failed; undefined when every step happened in time */
  failure?: string;
  takeover?: OutageRecord;
  failback?: OutageRecord;
  /** the failed node still held the VIP once lb2 had taken over */
  vipLeftOnFailedNode?: boolean;
  /** that VIP had to be removed by hand before restarting (keepalived after SIGKILL) */
  removedStaleVip?: boolean;
  /** who held the VIP once lb1 served again (one node expected) */
  vipHoldersAfter?: string[];
  /** partition and linkdown: when the client's ARP entry for the VIP pointed at the master after the heal / link up */
  arp?: { master: string; toMasterMs?: number; boundMs: number; inTime: boolean };
  /** the probe agent failed (its samples so far were still used) */
  probeError?: string;
  logTail?: string[];
}

const SLICE_BEFORE_MS = 200;
const PROBE_MAX_S = 300;

function record(o: Outage, complete: boolean, servedAt: number | undefined, from: number | undefined): OutageRecord {
  return {
    complete,
    ms: o.ms,
    failures: o.failures,
    windows: o.windows,
    errors: o.longest?.errors ?? [],
    ...(o.longest?.nodeBefore !== undefined ? { nodeBefore: o.longest.nodeBefore } : {}),
    ...(o.longest?.nodeAfter !== undefined ? { nodeAfter: o.longest.nodeAfter } : {}),
    ...(servedAt !== undefined && from !== undefined ? { servedAfterMs: Math.round(servedAt - from) } : {}),
    ...(o.longest !== undefined && from !== undefined ? { windowAfterMs: Math.round(o.longest.start - from) } : {}),
  };
}

async function waitAsync<T>(check: () => Promise<T | undefined>, timeoutMs: number, pollMs: number): Promise<T | undefined> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined || performance.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ').slice(0, 400);

/** Runs a step in the background; `failed` says why once it has thrown. */
function background(p: Promise<unknown>): { done: Promise<void>; failed: () => string | undefined } {
  let error: string | undefined;
  const done = p.then(
    () => undefined,
    (err: unknown) => {
      error = message(err);
    },
  );
  return { done, failed: () => error };
}

export async function runRep(sut: SystemUnderTest, scenario: Scenario, rep: number, opts: RepOptions): Promise<RepResult> {
  const result: RepResult = { system: sut.spec.id, scenario, rep, at: new Date().toISOString() };
  const fail = (why: string): RepResult => {
    result.failure ??= why;
    // The first failure's moment is the one worth reading; later steps only repair.
    result.logTail ??= sut.logTail(12);
    return result;
  };
  try {
    await sut.repair();
  } catch (err) {
    return fail(`repair before the repetition failed: ${message(err)}`);
  }
  const probe = new ProbeSession(sut.lab, PROBE_MAX_S);
  try {
    return await steps(sut, scenario, opts, probe, result, fail);
  } finally {
    const err = await probe.end();
    if (err !== undefined) result.probeError = message(err);
  }
}

async function steps(sut: SystemUnderTest, scenario: Scenario, opts: RepOptions, probe: ProbeSession, result: RepResult, fail: (why: string) => RepResult): Promise<RepResult> {
  const { signal } = opts;
  const serving = await probe.waitFor(() => stableRun(probe.samples, MASTER, 0, opts.servingMs), opts.startMs, signal);
  if (signal.aborted) return fail('interrupted');
  if (serving === undefined) return fail(`${MASTER} was not serving steadily within ${opts.startMs} ms before the fault`);

  // The fault and the wait for lb2 run together: a SIGTERM'd halo drains while the VIP moves.
  const faultAt = probe.now() ?? serving.last;
  const fault = background(sut.fault(scenario, MASTER));
  const recovered = await probe.waitFor(() => (fault.failed() !== undefined ? null : stableRun(probe.samples, BACKUP, faultAt, opts.stableMs)), opts.recoverMs, signal);
  await fault.done;
  if (fault.failed() !== undefined) return fail(`injecting ${scenario} failed: ${fault.failed() as string}`);
  if (signal.aborted) return fail('interrupted');
  if (recovered === undefined || recovered === null) {
    result.takeover = record(outageBetween(probe.samples, faultAt - SLICE_BEFORE_MS, probe.now() ?? Number.MAX_SAFE_INTEGER), false, undefined, faultAt);
    fail(`${BACKUP} did not serve steadily within ${opts.recoverMs} ms of the fault`);
  } else {
    result.takeover = record(outageBetween(probe.samples, faultAt - SLICE_BEFORE_MS, recovered.last), true, firstServedBy(probe.samples, BACKUP, faultAt)?.t, faultAt);
  }
  result.vipLeftOnFailedNode = await sut.holdsVip(MASTER).catch(() => false);

  // Link up too: the JSON then says whether a failback outage is the client's ARP lagging.
  const arp = scenario === 'partition' || scenario === 'linkdown' ? sut.watchClientArp() : undefined;
  try {
    if (arp !== undefined) await arp.ready();
    const restoreAt = probe.now() ?? 0;
    const restoreLocal = performance.now();
    let removedStaleVip = false;
    const restore = background(
      sut.restore(scenario, MASTER).then((r) => {
        removedStaleVip = r.removedStaleVip;
      }),
    );
    const bound = scenario === 'partition' ? opts.healMs : opts.failbackMs;
    const back = await probe.waitFor(() => (restore.failed() !== undefined ? null : stableRun(probe.samples, MASTER, restoreAt, opts.servingMs)), bound, signal);
    await restore.done;
    result.removedStaleVip = removedStaleVip;
    if (restore.failed() !== undefined) return fail(`undoing ${scenario} failed: ${restore.failed() as string}`);
    if (signal.aborted) return fail('interrupted');
    const backOk = back !== undefined && back !== null;
    const until = backOk ? back.last : (probe.now() ?? Number.MAX_SAFE_INTEGER);
    result.failback = record(outageBetween(probe.samples, restoreAt - SLICE_BEFORE_MS, until), backOk, firstServedBy(probe.samples, MASTER, restoreAt)?.t, restoreAt);

    const holders = await waitAsync(async () => {
      const h = await sut.vipHolders();
      return h.length === 1 ? h : undefined;
    }, 3000, 50);
    result.vipHoldersAfter = holders ?? (await sut.vipHolders());

    if (arp !== undefined) {
      const master = result.vipHoldersAfter.length === 1 ? (result.vipHoldersAfter[0] as string) : MASTER;
      const mac = (await sut.macs()).get(master);
      const at = mac === undefined ? undefined : arp.firstAt(mac, restoreLocal);
      const boundMs = sut.spec.advertIntervalMs + opts.arpMarginMs;
      const toMasterMs = at === undefined ? undefined : Math.round(at - restoreLocal);
      result.arp = { master, ...(toMasterMs !== undefined ? { toMasterMs } : {}), boundMs, inTime: toMasterMs !== undefined && toMasterMs <= boundMs };
    }
    if (!backOk) return fail(`${MASTER} did not serve steadily again within ${bound} ms of undoing ${scenario}`);
    if (result.vipHoldersAfter.length !== 1) return fail(`after undoing ${scenario} the VIP is on ${result.vipHoldersAfter.join(' and ') || 'no node'}`);
    if (result.failure !== undefined) return fail(result.failure);
    return result;
  } finally {
    arp?.stop();
  }
}
