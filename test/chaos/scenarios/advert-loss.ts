/**
 * Chaos scenario "advert-loss" (issue 6): 5% of adverts dropped at random (iptables
 * `statistic`, INPUT of every lb namespace) for 5 minutes in the long form, ~50 s in the
 * short one, with the lab's default election settings. Checks: no state change on any
 * node while the loss lasts, and the VIP stays on the same single node (sampled every
 * 250 ms). Reports the adverts seen and dropped from the rules' counters.
 *
 * The kernel draws the losses, not our seed: a failing run replays its settings, not its
 * exact losses. A takeover needs down_adverts consecutive losses at one backup, so the
 * report also gives how many such runs the seen adverts make likely (n * (1-p) * p^k).
 */
import type { Lab } from '../../../src/app/lab/index.js';
import { sh } from '../../../src/app/lab/system.js';
import type { ScenarioOptions, ScenarioResult } from '../types.js';
import { AdvertRecorder, advertGaps, missingRuns, type AdvertGap } from './advert-recorder.js';
import { Violations, scenarioLabName, withLab } from './scenario-lab.js';
import {
  budgetMs,
  clusterConfig,
  describeStatus,
  formatChange,
  lbHosts,
  nodeMasterDownMs,
  sleep,
  soleMaster,
  stateChangesSince,
  VipSampler,
  waitSoleMaster,
} from './util.js';

const NAME = 'advert-loss';
/** A pair, as most deployments (and the README's walk-through) run: one backup exposed to the loss. */
const NODES = 2;
const LOSS = 0.05;
const SHORT_MS = 50_000;
const LONG_CAP_MS = 5 * 60_000;
const SAMPLE_MS = 250;
/** After the loss ends, a takeover decided on the last losses could still land: look this long past it. */
const TAIL_MS = 1000;
const SEEN = 'halo-chaos-advert-seen';
const DROP = 'halo-chaos-advert-loss';
const LOCK_WAIT_S = '5';

const iptables = (ns: string, args: string[]) => sh('ip', ['netns', 'exec', ns, 'iptables', '-w', LOCK_WAIT_S, ...args]);

/** The two rules, chain first: a counter of every advert, then the random drop. */
export function lossRules(port: number, probability: number): string[][] {
  const match = ['-p', 'udp', '--dport', String(port)];
  return [
    ['INPUT', ...match, '-m', 'comment', '--comment', SEEN],
    ['INPUT', ...match, '-m', 'statistic', '--mode', 'random', '--probability', String(probability), '-m', 'comment', '--comment', DROP, '-j', 'DROP'],
  ];
}

/** Packet counters of our two rules from `iptables -L INPUT -v -x -n` output. */
export function ruleCounters(listing: string): { seen: number; dropped: number } {
  const count = (comment: string) => {
    const line = listing.split('\n').find((l) => l.includes(`/* ${comment} */`));
    return Number(line?.trim().split(/\s+/)[0] ?? 0) || 0;
  };
  return { seen: count(SEEN), dropped: count(DROP) };
}

async function removeRules(ns: string): Promise<number> {
  const ours = (await iptables(ns, ['-S', 'INPUT']))
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((w) => w[0] === '-A' && (w.includes(SEEN) || w.includes(DROP)));
  for (const w of ours) await iptables(ns, ['-D', ...w.slice(1)]);
  return ours.length;
}

interface NodeCount {
  node: string;
  seen: number;
  dropped: number;
}

export async function run(opts: ScenarioOptions): Promise<ScenarioResult> {
  const startedAt = Date.now();
  const { log, signal } = opts;
  const v = new Violations(opts.log);
  const durationMs = budgetMs(opts, SHORT_MS, LONG_CAP_MS);
  const figures: Record<string, number | string> = { lossProbability: LOSS, plannedMs: durationMs };
  let faults = 0;
  let samples = 0;
  try {
    await withLab(opts, v, { name: scenarioLabName(opts, 'al'), nodes: NODES }, async (lab: Lab) => {
      const master = await waitSoleMaster(lab, 15_000, signal);
      if (master === undefined) throw new Error(`no single master holding the VIP within 15 s: ${describeStatus((await soleMaster(lab)).status)}`);
      const cluster = clusterConfig(lab, master);
      const port = cluster.transport.port;
      Object.assign(figures, { transport: `${cluster.transport.mode} udp/${port}`, advertIntervalMs: cluster.advert_interval_ms, downAdverts: cluster.down_adverts, master });
      const hosts = lbHosts(lab);
      let bad = 0;
      const sampler = new VipSampler(lab, SAMPLE_MS, durationMs + TAIL_MS + 5000, (s) => {
        if (s.holders.length === 1 && s.holders[0] === master) return;
        bad++;
        // The first few go to the log as they happen; the count covers the rest.
        if (bad <= 5) v.add('vip_moved', `VIP on ${s.holders.join(', ') || 'nobody'} at ${new Date(s.t).toISOString().slice(11, 23)}, expected ${master} alone`);
      });
      const counts: NodeCount[] = [];
      // What each backup actually received, to tell a takeover by loss alone from one helped by a late master.
      const recorders = new Map<string, AdvertRecorder>();
      if (cluster.transport.mode === 'multicast') {
        for (const h of hosts.filter((x) => x.name !== master)) recorders.set(h.name, new AdvertRecorder(h.namespace, cluster.transport.group, port, h.address, durationMs + 60_000));
        const ready = await Promise.all([...recorders.values()].map((r) => Promise.race([r.ready, sleep(10_000).then(() => false)])));
        if (ready.includes(false)) log.event('recorder_failed', { nodes: [...recorders.keys()] });
      }
      const t0 = Date.now();
      try {
        for (const h of hosts) for (const rule of lossRules(port, LOSS)) await iptables(h.namespace, ['-A', ...rule]);
        faults = hosts.length;
        log.event('fault', { kind: 'advert_loss', probability: LOSS, port, nodes: hosts.map((h) => h.name), durationMs });
        sampler.start();
        // Progress every 10 s with the counters so far, so a long run shows where it went wrong.
        for (let i = 0; i < Math.ceil(durationMs / 10_000) && !signal.aborted; i++) {
          await sleep(Math.min(10_000, t0 + durationMs - Date.now()), signal);
          const so = await Promise.all(hosts.map(async (h) => ({ node: h.name, ...ruleCounters(await iptables(h.namespace, ['-L', 'INPUT', '-v', '-x', '-n'])) })));
          log.event('check', { check: 'progress', elapsedMs: Date.now() - t0, counters: so, changes: stateChangesSince(lab, t0).map(formatChange) });
        }
      } finally {
        for (const h of hosts) {
          const c = ruleCounters(await iptables(h.namespace, ['-L', 'INPUT', '-v', '-x', '-n']).catch(() => ''));
          counts.push({ node: h.name, ...c });
          const removed = await removeRules(h.namespace).catch(() => -1);
          log.event('fault_end', { kind: 'advert_loss', node: h.name, removed, ...c });
        }
      }
      const tEnd = Date.now();
      await sleep(TAIL_MS);
      const gaps = new Map<string, AdvertGap[]>();
      for (const [node, r] of recorders) gaps.set(node, advertGaps((await r.stop()).filter((a) => a.at >= t0 && a.at <= tEnd), master));
      samples = (await sampler.stop()).length;
      if (bad > 5) v.add('vip_moved', `${bad} of ${samples} VIP samples were not ${master} alone (first 5 above)`);

      const changes = stateChangesSince(lab, t0);
      log.event('check', { check: 'no_state_change', changes: changes.map(formatChange) });
      for (const c of changes) {
        // The gap in the master's adverts this node was in when it changed state: dropped vs late.
        const gap = (gaps.get(c.node) ?? []).find((g) => g.at - g.ms <= c.t && c.t <= g.at + 5);
        const why = gap === undefined ? '' : `; ${c.node} heard nothing from ${master} for ${gap.ms.toFixed(0)} ms, ${gap.missing} advert(s) dropped in that gap`;
        v.add('takeover_under_loss', `${formatChange(c)} during ${LOSS * 100}% advert loss${why}`);
      }
      const gapFigures: Record<string, string | number> = {};
      for (const [node, gs] of gaps) {
        const mdi = nodeMasterDownMs(lab, node, master);
        const over = gs.filter((g) => g.ms > mdi);
        const clean = gs.filter((g) => g.missing === 0);
        Object.assign(gapFigures, {
          [`${node}AdvertsHeard`]: gs.length + 1,
          [`${node}MissingRuns`]: missingRuns(gs, cluster.down_adverts),
          [`${node}MaxGapMs`]: Math.round(Math.max(0, ...gs.map((g) => g.ms))),
          [`${node}MaxGapNoLossMs`]: Math.round(Math.max(0, ...clean.map((g) => g.ms))),
          [`${node}GapsOverMdi`]: over.length === 0 ? `none (MDI ${mdi.toFixed(0)} ms)` : over.map((g) => `${new Date(g.at).toISOString().slice(11, 23)} ${g.ms.toFixed(0)} ms/${g.missing} dropped`).join(', '),
        });
      }

      const backups = counts.filter((c) => c.node !== master);
      const seen = counts.reduce((n, c) => n + c.seen, 0);
      const dropped = counts.reduce((n, c) => n + c.dropped, 0);
      const k = cluster.down_adverts;
      const expected = backups.reduce((n, c) => n + c.seen * (1 - LOSS) * LOSS ** k, 0);
      Object.assign(figures, {
        lossMs: tEnd - t0,
        seen,
        dropped,
        lossPct: seen > 0 ? Math.round((dropped / seen) * 10_000) / 100 : 0,
        backupAdvertsSeen: backups.reduce((n, c) => n + c.seen, 0),
        expectedTakeoverRuns: Math.round(expected * 1000) / 1000,
        stateChanges: changes.length,
        vipSamples: samples,
        vipSamplesWrong: bad,
        perNode: counts.map((c) => `${c.node} ${c.dropped}/${c.seen}`).join(', '),
        ...gapFigures,
      });
    });
  } catch (err) {
    v.add('scenario_error', err instanceof Error ? err.message : String(err));
  }
  return { name: NAME, seed: opts.seed, startedAt, durationMs: Date.now() - startedAt, cycles: 1, faults: { advert_loss: faults }, violations: v.list, figures: opts.signal.aborted ? { ...figures, aborted: 'yes: stopped early, checks cover only what ran' } : figures };
}
