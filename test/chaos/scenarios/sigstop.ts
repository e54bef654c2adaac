/**
 * Chaos scenario "sigstop" (issue 6): the master is frozen with SIGSTOP for 2 s, then
 * resumed with SIGCONT. While it is frozen a backup must take over within its own
 * Master_Down_Interval + 1 s; after it resumes there are briefly two masters (the
 * frozen one never saw the takeover), and within the settle bound exactly one node may
 * be MASTER, alone holding the VIP, with the client's ARP entry and its requests on it.
 * The node that stepped down must say why in its log. Repeated: 3 cycles in the short
 * form, as many as the minutes allow in the long form.
 */
import type { Lab } from '../../../src/app/lab/index.js';
import type { ScenarioOptions, ScenarioResult } from '../types.js';
import { Violations, scenarioLabName, withLab } from './scenario-lab.js';
import {
  budgetMs,
  describeStatus,
  formatChange,
  lbHosts,
  median,
  nodeMasterDownMs,
  seededRandom,
  servedBy,
  signalNode,
  sleep,
  soleMaster,
  stateChangesSince,
  vipHolders,
  waitSoleMaster,
  waitUntil,
  type StateChange,
} from './util.js';

const NAME = 'sigstop';
const NODES = 3;
const STOP_MS = 2000;
/** After SIGCONT: one master, one VIP holder, ARP on it, within this (the check's bound). */
const SETTLE_MS = 3000;
/** How long we keep looking past SETTLE_MS, only so the report says how long it really took. */
const SETTLE_OBSERVE_MS = 10_000;
/** The settled state must hold this long to count as settled. */
const STABLE_MS = 1000;
/** After settling, the VIP is sampled this long more: it must stay on the master alone. */
const STEADY_MS = 1000;
const SHORT_CYCLES = 3;
const MAX_CYCLES = 500;
/** Longest a cycle can take (settle, steady, the next master): the long form stops starting cycles this close to its end. */
const CYCLE_MS = 20_000;

interface CycleResult {
  takeoverMs?: number;
  settleMs?: number;
  master?: string;
  stepDowns: string[];
  /** state changes on any node between SIGCONT and settling: 1 is a clean return, more is flapping */
  changesAfterResume?: number;
}

async function cycle(lab: Lab, n: number, rand: () => number, opts: ScenarioOptions, v: Violations, faults: { count: number }): Promise<CycleResult | undefined> {
  const { log, signal } = opts;
  const out: CycleResult = { stepDowns: [] };
  const master = await waitSoleMaster(lab, 15_000, signal);
  if (master === undefined) {
    if (!signal.aborted) v.add('no_master', `cycle ${n}: no single master holding the VIP within 15 s before the fault: ${describeStatus((await soleMaster(lab)).status)}`, n);
    return undefined;
  }
  // The client talks to the VIP first, so it has an ARP entry that the takeovers must move (GARP).
  let pre: { node?: string; error?: string } = {};
  if (!(await waitUntil(async () => (pre = await servedBy(lab)).node === master, 5000, 100, signal))) {
    if (!signal.aborted) v.add('served_by_wrong', `cycle ${n}: before the fault the client was served by ${pre.node ?? `nobody (${pre.error ?? '?'})`}, master is ${master}`, n);
    return undefined;
  }
  // A random phase against the advert timer, from the seed, so a failing cycle replays.
  const delay = Math.floor(rand() * 500);
  await sleep(delay, signal);
  if (signal.aborted) return undefined;
  const others = lbHosts(lab).map((h) => h.name).filter((x) => x !== master);
  const boundMs = Math.max(...others.map((o) => nodeMasterDownMs(lab, o))) + 1000;

  const tStop = Date.now();
  if (!signalNode(lab, master, 'SIGSTOP')) {
    v.add('fault_failed', `cycle ${n}: could not SIGSTOP ${master}`, n);
    return undefined;
  }
  faults.count++;
  log.event('fault', { cycle: n, kind: 'sigstop', node: master, delayMs: delay, stopMs: STOP_MS });
  let tCont: number;
  let takeover: StateChange | undefined;
  try {
    // Polled until just before SIGCONT: a slow takeover still counts, and is reported as slow.
    await waitUntil(() => (takeover = stateChangesSince(lab, tStop).find((c) => c.node !== master && c.state === 'MASTER')) !== undefined, STOP_MS - 150, 50);
    const holders = await vipHolders(lab);
    log.event('check', { cycle: n, check: 'takeover_while_stopped', takeover: takeover === undefined ? null : formatChange(takeover), holders });
    if (takeover === undefined) {
      v.add('no_takeover', `cycle ${n}: no backup became MASTER while ${master} was stopped for ${STOP_MS} ms; VIP on ${holders.join(', ') || 'nobody'}`, n);
    } else {
      out.takeoverMs = takeover.t - tStop;
      if (out.takeoverMs > boundMs) v.add('takeover_slow', `cycle ${n}: ${takeover.node} took over ${out.takeoverMs} ms after SIGSTOP of ${master}, bound ${boundMs} ms (MDI + 1 s)`, n);
      if (!holders.includes(takeover.node)) v.add('vip_not_moved', `cycle ${n}: ${takeover.node} is MASTER but the VIP is on ${holders.join(', ') || 'nobody'}`, n);
    }
    await sleep(tStop + STOP_MS - Date.now());
  } finally {
    tCont = Date.now();
    // Always: a frozen node left behind would outlive the lab's own teardown checks.
    signalNode(lab, master, 'SIGCONT');
  }
  log.event('fault', { cycle: n, kind: 'sigcont', node: master, stoppedMs: tCont - tStop });

  // Settled = one MASTER alone on the VIP with the client's ARP on it, holding for
  // STABLE_MS: a resumed master may fault, recover and preempt, so the first good
  // sample is not yet the end of it. The settle time is when that stable stretch began.
  let last = '';
  let since: number | undefined;
  let settledAt: number | undefined;
  let settledOn: string | undefined;
  await waitUntil(
    async () => {
      const t = Date.now();
      const { master: m, status } = await soleMaster(lab);
      last = describeStatus(status);
      if (m === undefined || status.clientArp?.node !== m) {
        since = undefined;
        return false;
      }
      if (since === undefined || settledOn !== m) [since, settledOn] = [t, m];
      if (Date.now() - since < STABLE_MS) return false;
      settledAt = since;
      return true;
    },
    SETTLE_OBSERVE_MS,
    100,
  );
  const changes = stateChangesSince(lab, tStop);
  log.event('check', { cycle: n, check: 'settle', settled: settledOn ?? null, settleMs: settledAt === undefined ? null : settledAt - tCont, status: last, changes: changes.map(formatChange) });
  if (settledAt === undefined || settledOn === undefined) {
    v.add('not_settled', `cycle ${n}: ${SETTLE_OBSERVE_MS} ms after SIGCONT of ${master} still not one master alone on the VIP with the client's ARP on it: ${last}; changes: ${changes.map(formatChange).join('; ')}`, n);
    return out;
  }
  out.settleMs = settledAt - tCont;
  out.master = settledOn;
  if (out.settleMs > SETTLE_MS) v.add('settle_slow', `cycle ${n}: settled on ${settledOn} ${out.settleMs} ms after SIGCONT, bound ${SETTLE_MS} ms; changes: ${changes.map(formatChange).join('; ')}`, n);

  // Two masters met when the frozen one resumed: one of them must have stepped down, saying why.
  const stepDowns = changes.filter((c) => c.from === 'MASTER' && c.t >= tCont);
  out.changesAfterResume = changes.filter((c) => c.t >= tCont).length;
  out.stepDowns = stepDowns.map((c) => `${c.node} ${c.from}->${c.state}: ${c.cause}`);
  log.event('check', { cycle: n, check: 'step_down_cause', stepDowns: out.stepDowns });
  if (takeover !== undefined && stepDowns.length === 0) v.add('no_step_down', `cycle ${n}: two masters after SIGCONT of ${master}, yet no node logged leaving MASTER; changes: ${changes.map(formatChange).join('; ')}`, n);
  for (const c of stepDowns) if (c.cause.trim() === '') v.add('step_down_no_cause', `cycle ${n}: ${c.node} left MASTER for ${c.state} without a cause in its log`, n);

  // Make sure it stays settled: one VIP holder at every sample, and the client served by the master.
  const both: string[] = [];
  const elsewhere: string[] = [];
  for (let i = 0; i < Math.ceil(STEADY_MS / 250); i++) {
    const holders = await vipHolders(lab);
    const at = `${new Date().toISOString().slice(11, 23)} ${holders.join('+') || 'nobody'}`;
    if (holders.length > 1) both.push(at);
    else if (holders[0] !== settledOn) elsewhere.push(at);
    await sleep(250);
  }
  const served = await servedBy(lab);
  log.event('check', { cycle: n, check: 'steady', master: settledOn, vipOnBoth: both, vipElsewhere: elsewhere, servedBy: served.node ?? null, error: served.error ?? null });
  if (both.length > 0) v.add('vip_on_both', `cycle ${n}: after settling on ${settledOn}, the VIP was on more than one node: ${both.join(', ')}`, n);
  if (elsewhere.length > 0) v.add('vip_not_on_master', `cycle ${n}: after settling on ${settledOn}, VIP holders were ${elsewhere.join(', ')}`, n);
  if (served.node !== settledOn) v.add('served_by_wrong', `cycle ${n}: the client was served by ${served.node ?? `nobody (${served.error ?? '?'})`}, master is ${settledOn}`, n);
  return out;
}

export async function run(opts: ScenarioOptions): Promise<ScenarioResult> {
  const startedAt = Date.now();
  const v = new Violations(opts.log);
  const rand = seededRandom(opts.seed);
  const budget = budgetMs(opts, 0);
  const results: CycleResult[] = [];
  const faults = { count: 0 };
  const labName = scenarioLabName(opts, 'st');
  try {
    await withLab(opts, v, { name: labName, nodes: NODES }, async (lab) => {
      for (let n = 1; n <= MAX_CYCLES && !opts.signal.aborted; n++) {
        if (opts.form === 'short' ? n > SHORT_CYCLES : Date.now() - startedAt + CYCLE_MS > budget) break;
        const r = await cycle(lab, n, rand, opts, v, faults);
        if (r === undefined) break;
        results.push(r);
      }
      const status = await lab.status();
      const down = [...status.nodes, ...status.backends].filter((h) => !h.running).map((h) => h.name);
      if (down.length > 0) v.add('crash', `processes not running at the end: ${down.join(', ')}`);
    });
  } catch (err) {
    v.add('scenario_error', err instanceof Error ? err.message : String(err));
  }
  const takeovers = results.flatMap((r) => (r.takeoverMs !== undefined ? [r.takeoverMs] : []));
  const settles = results.flatMap((r) => (r.settleMs !== undefined ? [r.settleMs] : []));
  const figures: Record<string, number | string> = {
    cycles: results.length,
    takeoverMsMedian: median(takeovers) ?? -1,
    takeoverMsMax: takeovers.length > 0 ? Math.max(...takeovers) : -1,
    settleMsMedian: median(settles) ?? -1,
    settleMsMax: settles.length > 0 ? Math.max(...settles) : -1,
    mastersAfter: results.slice(0, 50).map((r) => r.master ?? '?').join(',') + (results.length > 50 ? ',...' : ''),
  };
  const flaps = results.flatMap((r) => (r.changesAfterResume !== undefined ? [r.changesAfterResume] : []));
  figures['changesAfterResumeMedian'] = median(flaps) ?? -1;
  figures['changesAfterResumeMax'] = flaps.length > 0 ? Math.max(...flaps) : -1;
  // The first cycles' step-downs verbatim; a long run's later ones are in the event log.
  results.slice(0, 10).forEach((r, i) => (figures[`cycle${i + 1}StepDown`] = r.stepDowns.join(' | ') || '(none)'));
  return { name: NAME, seed: opts.seed, startedAt, durationMs: Date.now() - startedAt, cycles: results.length, faults: { sigstop: faults.count }, violations: v.list, figures: opts.signal.aborted ? { ...figures, aborted: 'yes: stopped early, checks cover only what ran' } : figures };
}
