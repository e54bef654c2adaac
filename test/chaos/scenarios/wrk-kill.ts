/**
 * Chaos scenario "wrk-kill" (issue 6): wrk drives keep-alive load at the VIP from the
 * client namespace while the master is SIGKILLed. wrk cannot say when an error
 * happened, so it runs in 1-second slices (each slice's errors and rate are known) and
 * the lab's probe (a new connection every 10 ms) defines the outage: from the kill to
 * the first answer through the new master, plus a margin. Checks: every other process
 * still runs, errors only in slices that overlap the outage, and the new master serves
 * at >= 80% of the old master's rate (medians of whole slices before and after).
 */
import { execFile, execFileSync } from 'node:child_process';
import { LAB_HTTP_PORT, LAB_VIP, type Lab, type ProbeSample } from '../../../src/app/lab/index.js';
import type { ScenarioOptions, ScenarioResult } from '../types.js';
import { Violations, scenarioLabName, withLab } from './scenario-lab.js';
import { describeStatus, lbHosts, load1, median, processCpuMs, seededRandom, soleMaster, waitSoleMaster, waitUntil } from './util.js';

const NAME = 'wrk-kill';
const NODES = 2;
const WRK_THREADS = 2;
const WRK_CONNECTIONS = 16;
/** Slices before the kill (the first is warm-up and not counted) and in all. */
const SHORT = { before: 4, total: 11 };
const LONG = { before: 10, total: 30 };
/** After the first answer through the new master, slices still overlapping this are allowed errors. */
const RECOVERY_MARGIN_MS = 1000;
const MIN_RATE_RATIO = 0.8;

export interface WrkSlice {
  i: number;
  /** wall ms around the wrk process */
  start: number;
  end: number;
  requests: number;
  rps: number;
  errors: { connect: number; read: number; write: number; timeout: number; status: number };
  /** CPU ms each lb node used during the slice (absent: not running) */
  cpuMs: Record<string, number>;
  /** the machine's 1-minute load average at the end */
  load: number;
}

const num = (re: RegExp, text: string): number => Number(re.exec(text)?.[1] ?? 0);

/** wrk's summary as numbers; a run that printed no summary reads as 0 requests. */
export function parseWrk(text: string): Omit<WrkSlice, 'i' | 'start' | 'end' | 'cpuMs' | 'load'> {
  const m = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  return {
    requests: num(/(\d+) requests in/, text),
    rps: num(/Requests\/sec:\s+([\d.]+)/, text),
    errors: {
      connect: Number(m?.[1] ?? 0),
      read: Number(m?.[2] ?? 0),
      write: Number(m?.[3] ?? 0),
      timeout: Number(m?.[4] ?? 0),
      status: num(/Non-2xx or 3xx responses: (\d+)/, text),
    },
  };
}

export const sliceErrors = (s: WrkSlice): number => s.errors.connect + s.errors.read + s.errors.write + s.errors.timeout + s.errors.status;

function wrkSlice(namespace: string, i: number, pids: Record<string, number | undefined>): Promise<WrkSlice> {
  const cpu0 = Object.fromEntries(Object.entries(pids).map(([n, p]) => [n, processCpuMs(p)]));
  const args = ['netns', 'exec', namespace, 'wrk', '-t', String(WRK_THREADS), '-c', String(WRK_CONNECTIONS), '-d', '1s', '--timeout', '1s', `http://${LAB_VIP}:${LAB_HTTP_PORT}/`];
  const start = Date.now();
  return new Promise((resolve) => {
    // A hung wrk is killed at 10 s; whatever it printed is still parsed.
    execFile('ip', args, { timeout: 10_000 }, (_err, stdout) => {
      const cpuMs: Record<string, number> = {};
      for (const [n, p] of Object.entries(pids)) {
        const [a, b] = [cpu0[n], processCpuMs(p)];
        if (a !== undefined && b !== undefined) cpuMs[n] = b - a;
      }
      resolve({ i, start, end: Date.now(), ...parseWrk(String(stdout)), cpuMs, load: load1() });
    });
  });
}

/** wrk --version exits 1 after printing its version; a missing wrk has no status. */
function hasWrk(): boolean {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore', timeout: 5000 });
    return true;
  } catch (err) {
    return (err as { status?: number }).status === 1;
  }
}

interface Timed {
  sample: ProbeSample;
  /** wall ms when the attempt began */
  at: number;
}

export async function run(opts: ScenarioOptions): Promise<ScenarioResult> {
  const startedAt = Date.now();
  const { log, signal } = opts;
  const v = new Violations(opts.log);
  const rand = seededRandom(opts.seed);
  const plan = opts.form === 'short' ? SHORT : { before: LONG.before, total: Math.max(LONG.before + 5, Math.min(LONG.total, Math.floor(opts.minutes * 60) - 20)) };
  const figures: Record<string, number | string> = {};
  let faults = 0;
  const slices: WrkSlice[] = [];
  try {
    if (!hasWrk()) throw new Error('wrk is not installed (the Debian package wrk; .ci/run installs it)');
    await withLab(opts, v, { name: scenarioLabName(opts, 'wk'), nodes: NODES }, async (lab: Lab) => {
      const master = await waitSoleMaster(lab, 15_000, signal);
      if (master === undefined) throw new Error(`no single master holding the VIP within 15 s: ${describeStatus((await soleMaster(lab)).status)}`);
      const client = lab.state().hosts.find((h) => h.role === 'client');
      if (client === undefined) throw new Error('the lab has no client host');

      // Probe samples carry agent-relative times; the agent's start in wall time is the
      // earliest (arrival - t - duration) over all samples (a pipe only adds delay).
      const arrivals: Array<{ sample: ProbeSample; arrived: number }> = [];
      const stopProbe = new AbortController();
      const probe = lab.probe({ seconds: plan.total + 30, stop: stopProbe.signal, onSample: (sample) => arrivals.push({ sample, arrived: Date.now() }) });
      probe.catch(() => undefined);
      let tKill: number | undefined;
      try {
        if (!(await waitUntil(() => arrivals.some((a) => a.sample.ok), 10_000, 50, signal))) throw new Error('the probe got no answer from the VIP within 10 s');
        // The kill lands at a seeded point inside the first slice after `before`.
        const pids = Object.fromEntries(lbHosts(lab).map((h) => [h.name, h.pid]));
        const killOffset = 200 + Math.floor(rand() * 500);
        for (let i = 0; i < plan.total && !signal.aborted; i++) {
          const slice = wrkSlice(client.namespace, i, pids);
          if (i === plan.before) {
            await new Promise((r) => setTimeout(r, killOffset));
            tKill = Date.now();
            faults++;
            log.event('fault', { step: i, kind: 'sigkill', node: master, offsetMs: killOffset });
            await lab.kill(master);
          }
          const s = await slice;
          slices.push(s);
          log.event('slice', { ...s, errorsTotal: sliceErrors(s) });
        }
        await new Promise((r) => setTimeout(r, 300));
      } finally {
        stopProbe.abort();
      }
      const samples = (await probe.catch(() => undefined))?.samples ?? arrivals.map((a) => a.sample);
      const anchor = Math.min(...arrivals.map((a) => a.arrived - a.sample.t - (a.sample.ms ?? 0)));
      const timed: Timed[] = samples.map((sample) => ({ sample, at: anchor + sample.t })).sort((a, b) => a.at - b.at);
      if (tKill === undefined) return;
      const kill = tKill;

      const after = await waitSoleMaster(lab, 10_000);
      const status = (await soleMaster(lab)).status;
      const down = [...status.nodes, ...status.backends].filter((h) => h.name !== master && !h.running).map((h) => h.name);
      log.event('check', { check: 'alive', status: describeStatus(status), down });
      if (down.length > 0) v.add('crash', `processes not running after the kill of ${master}: ${down.join(', ')}`);
      if (after === undefined || after === master) {
        v.add('no_new_master', `no other node became the sole master after ${master} was killed: ${describeStatus(status)}`);
        return;
      }
      const lastOkBefore = timed.filter((x) => x.at < kill && x.sample.ok).at(-1);
      const recovered = timed.find((x) => x.at >= kill && x.sample.ok && x.sample.node === after);
      log.event('check', { check: 'outage', newMaster: after, lastOkBefore: lastOkBefore?.at ?? null, recoveredAt: recovered?.at ?? null, killAt: kill });
      if (recovered === undefined) {
        v.add('no_recovery', `the probe never got an answer through ${after} after the kill of ${master}`);
        return;
      }
      const windowEnd = recovered.at + RECOVERY_MARGIN_MS;
      const overlaps = (s: WrkSlice) => s.end >= kill && s.start <= windowEnd;
      const inWindow = slices.filter(overlaps);
      const outside = slices.filter((s) => !overlaps(s));
      for (const s of outside) {
        if (sliceErrors(s) > 0) v.add('errors_outside_outage', `slice ${s.i} (${s.start - kill} to ${s.end - kill} ms from the kill) had ${JSON.stringify(s.errors)} outside the outage window [0, ${windowEnd - kill}] ms`, s.i);
      }
      const rateBefore = median(slices.filter((s) => s.i > 0 && s.end < kill).map((s) => s.rps)) ?? 0;
      const rateAfter = median(slices.filter((s) => s.start > windowEnd).map((s) => s.rps)) ?? 0;
      // CPU per request of the serving node separates a slower new master from a machine
      // that other work keeps busy (a shared 2-core CI machine swings the raw rate 2x).
      const cpuPerReq = (ss: WrkSlice[], node: string) => median(ss.filter((s) => s.requests > 0 && s.cpuMs[node] !== undefined).map((s) => ((s.cpuMs[node] as number) * 1000) / s.requests));
      const cpuBefore = cpuPerReq(slices.filter((s) => s.i > 0 && s.end < kill), master);
      const cpuAfter = cpuPerReq(slices.filter((s) => s.start > windowEnd), after);
      const rateRatio = rateBefore > 0 ? rateAfter / rateBefore : 0;
      const cpuRatio = cpuBefore !== undefined && cpuAfter !== undefined && cpuAfter > 0 ? cpuBefore / cpuAfter : 0;
      log.event('check', { check: 'rate', rateBefore, rateAfter, rateRatio, cpuUsPerReqBefore: cpuBefore ?? null, cpuUsPerReqAfter: cpuAfter ?? null, cpuRatio });
      let rateCheck = 'raw rate';
      if (rateRatio < MIN_RATE_RATIO) {
        if (cpuRatio >= MIN_RATE_RATIO) rateCheck = 'CPU per request (raw rate low: machine busy)';
        else v.add('rate_after_low', `${after} serves ${rateAfter.toFixed(0)} req/s after recovery, ${master} served ${rateBefore.toFixed(0)} before the kill (< ${MIN_RATE_RATIO * 100}%), and needs ${cpuAfter?.toFixed(0) ?? '?'} us CPU per request against ${cpuBefore?.toFixed(0) ?? '?'}`);
      }
      Object.assign(figures, {
        cpuUsPerReqBefore: Math.round(cpuBefore ?? -1),
        cpuUsPerReqAfter: Math.round(cpuAfter ?? -1),
        cpuRatio: Math.round(cpuRatio * 100) / 100,
        rateCheck,
        loadBefore: median(slices.filter((s) => s.end < kill).map((s) => s.load)) ?? -1,
        loadAfter: median(slices.filter((s) => s.start > windowEnd).map((s) => s.load)) ?? -1,
        oldMaster: master,
        newMaster: after,
        rateBeforeRps: Math.round(rateBefore),
        rateAfterRps: Math.round(rateAfter),
        rateRatio: Math.round(rateRatio * 100) / 100,
        errorsInWindow: inWindow.reduce((n, s) => n + sliceErrors(s), 0),
        errorsOutsideWindow: outside.reduce((n, s) => n + sliceErrors(s), 0),
        outageMs: Math.round(recovered.at - kill),
        probeOutageMs: lastOkBefore === undefined ? -1 : Math.round(recovered.at - lastOkBefore.at),
        slicesInWindow: inWindow.length,
        requests: slices.reduce((n, s) => n + s.requests, 0),
      });
    });
  } catch (err) {
    v.add('scenario_error', err instanceof Error ? err.message : String(err));
  }
  figures['slices'] = slices.length;
  return { name: NAME, seed: opts.seed, startedAt, durationMs: Date.now() - startedAt, cycles: slices.length, faults: { sigkill: faults }, violations: v.list, figures: opts.signal.aborted ? { ...figures, aborted: 'yes: stopped early, checks cover only what ran' } : figures };
}
