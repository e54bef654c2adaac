/**
 * The failover benchmark's report: per system and scenario the client-observed outage
 * and failback outage, the issue's goals marked met / not met, and the "Failover"
 * section of docs/benchmarks.md (between markers, so the data-plane sections and their
 * harness are left alone). Pure: the repetitions' results come in, markdown goes out.
 */
import { spread, type Spread } from './failover-measure.js';
import type { RepResult } from './failover-run.js';
import { SCENARIOS, SYSTEMS, type Scenario, type SystemId } from './failover-systems.js';
import { measuredHeader, type ReportContext } from './report.js';

export interface Cell {
  system: SystemId;
  scenario: Scenario;
  reps: number;
  failures: number;
  /** over repetitions where lb2 took over in time */
  outage?: Spread;
  /** over repetitions where lb1 served again in time */
  failback?: Spread;
  /** sigkill: repetitions where the killed node still held the VIP after the takeover */
  vipLeft: number;
  /** repetitions that ended with the VIP on more than one node, or none */
  notOneHolder: number;
  /** partition: repetitions with an ARP result, and those where it pointed at the master in time */
  arpChecked: number;
  arpInTime: number;
  /** the slowest ARP move seen, ms (undefined: never moved in one of them) */
  arpWorstMs?: number;
  arpNeverMoved: number;
}

export function summarize(results: readonly RepResult[], system: SystemId, scenario: Scenario): Cell | undefined {
  const mine = results.filter((r) => r.system === system && r.scenario === scenario);
  if (mine.length === 0) return undefined;
  const outage = spread(mine.flatMap((r) => (r.takeover?.complete === true ? [r.takeover.ms] : [])));
  const failback = spread(mine.flatMap((r) => (r.failback?.complete === true ? [r.failback.ms] : [])));
  const arps = mine.flatMap((r) => (r.arp !== undefined ? [r.arp] : []));
  const moved = arps.flatMap((a) => (a.toMasterMs !== undefined ? [a.toMasterMs] : []));
  return {
    system,
    scenario,
    reps: mine.length,
    failures: mine.filter((r) => r.failure !== undefined).length,
    ...(outage !== undefined ? { outage } : {}),
    ...(failback !== undefined ? { failback } : {}),
    vipLeft: mine.filter((r) => r.vipLeftOnFailedNode === true).length,
    notOneHolder: mine.filter((r) => r.vipHoldersAfter !== undefined && r.vipHoldersAfter.length !== 1).length,
    arpChecked: arps.length,
    arpInTime: arps.filter((a) => a.inTime).length,
    ...(moved.length > 0 ? { arpWorstMs: Math.max(...moved) } : {}),
    arpNeverMoved: arps.length - moved.length,
  };
}

export function summarizeAll(results: readonly RepResult[], systems: readonly SystemId[], scenarios: readonly Scenario[] = SCENARIOS): Cell[] {
  return systems.flatMap((sys) => scenarios.flatMap((sc) => summarize(results, sys, sc) ?? []));
}

const ms = (n: number) => String(Math.round(n));

function notes(c: Cell): string {
  const out: string[] = [];
  if (c.scenario === 'sigkill') out.push(`VIP left on the killed node: ${c.vipLeft}/${c.reps}`);
  // After link up the preempt waits for timers first, so only the heal has a bound to hold the ARP to.
  if (c.arpChecked > 0 && c.scenario === 'partition') {
    const bound = SYSTEMS[c.system].advertIntervalMs;
    const worst = c.arpNeverMoved > 0 ? `, ${c.arpNeverMoved} never moved` : c.arpWorstMs !== undefined ? `, slowest ${ms(c.arpWorstMs)} ms` : '';
    out.push(`client ARP at the master within ${bound} ms + margin of the heal: ${c.arpInTime}/${c.arpChecked}${worst}`);
  }
  if (c.notOneHolder > 0) out.push(`VIP not on exactly one node at the end: ${c.notOneHolder}`);
  return out.join('; ');
}

export function renderTable(cells: readonly Cell[]): string {
  const lines = [
    '| system | scenario | reps | outage ms: min / median / p95 / max | failback ms: median / max | failures | notes |',
    '|---|---|---:|---:|---:|---:|---|',
  ];
  for (const c of cells) {
    const o = c.outage === undefined ? '—' : `${ms(c.outage.min)} / **${ms(c.outage.median)}** / ${ms(c.outage.p95)} / ${ms(c.outage.max)}`;
    const f = c.failback === undefined ? '—' : `${ms(c.failback.median)} / ${ms(c.failback.max)}`;
    lines.push(`| ${SYSTEMS[c.system].label} | ${c.scenario} | ${c.reps} | ${o} | ${f} | ${c.failures} | ${notes(c)} |`);
  }
  return lines.join('\n');
}

export interface GoalResult {
  goal: string;
  value: string;
  required: string;
  /** undefined: not measured */
  met?: boolean;
  why?: string;
}

const find = (cells: readonly Cell[], system: SystemId, scenario: Scenario) => cells.find((c) => c.system === system && c.scenario === scenario);

/** The issue's goals: halo's medians, no failback failure longer than one advert, halo/keepalived at equal interval. */
export function evaluateGoals(cells: readonly Cell[]): GoalResult[] {
  const out: GoalResult[] = [];
  const medianGoals: Array<[Scenario, number]> = [['sigkill', 250], ['linkdown', 250], ['sigterm', 50]];
  for (const [scenario, limit] of medianGoals) {
    const c = find(cells, 'halo', scenario);
    const goal = `halo defaults, ${scenario}: median outage`;
    if (c?.outage === undefined) out.push({ goal, value: '—', required: `<= ${limit} ms`, why: c === undefined ? 'not measured' : 'no repetition recovered' });
    else out.push({ goal, value: `${ms(c.outage.median)} ms`, required: `<= ${limit} ms`, met: c.outage.median <= limit && c.failures === 0, ...(c.failures > 0 ? { why: `${c.failures} failed repetition(s)` } : {}) });
  }
  const fast = find(cells, 'halo-fast', 'sigkill');
  if (fast !== undefined) {
    const goal = 'halo fast profile, sigkill: median outage';
    if (fast.outage === undefined) out.push({ goal, value: '—', required: '<= 100 ms', why: 'no repetition recovered' });
    else out.push({ goal, value: `${ms(fast.outage.median)} ms`, required: '<= 100 ms', met: fast.outage.median <= 100 && fast.failures === 0 });
  }
  for (const system of ['halo', 'halo-fast', 'halo-100', 'halo-1s'] as const) {
    const interval = SYSTEMS[system].advertIntervalMs;
    for (const scenario of SCENARIOS) {
      const c = find(cells, system, scenario);
      if (c === undefined) continue;
      const undo = scenario === 'partition' ? 'heal' : scenario === 'linkdown' ? 'link up' : 'restart';
      const goal = `${SYSTEMS[system].label}, failback after ${scenario} (${undo}): longest client failure`;
      if (c.failback === undefined) out.push({ goal, value: '—', required: `<= ${interval} ms`, met: false, why: 'lb1 never served again in time' });
      else out.push({ goal, value: `${ms(c.failback.max)} ms`, required: `<= ${interval} ms`, met: c.failback.max <= interval && c.failback.n === c.reps, ...(c.failback.n < c.reps ? { why: `${c.reps - c.failback.n} repetition(s) without failback in time` } : {}) });
    }
  }
  const pairs = [
    ['halo-100', 'keepalived', 'halo 100 ms / keepalived 0.1 s'],
    ['halo-1s', 'keepalived-1s', 'halo 1 s / keepalived 1 s'],
  ] as const;
  for (const [haloId, keepalivedId, title] of pairs) {
    for (const scenario of SCENARIOS) {
      const h = find(cells, haloId, scenario);
      const k = find(cells, keepalivedId, scenario);
      if (h === undefined || k === undefined) continue;
      const goal = `${title}, ${scenario}: ratio of median outages`;
      if (h.outage === undefined || k.outage === undefined) {
        out.push({ goal, value: '—', required: '<= 1.0', why: `not measured: ${h.outage === undefined ? haloId : keepalivedId}` });
        continue;
      }
      const r = ratio(h.outage.median, k.outage.median);
      out.push({ goal, value: r === Infinity ? '∞' : `${(Math.ceil(r * 100) / 100).toFixed(2)}x`, required: '<= 1.0', met: r <= 1 });
    }
  }
  return out;
}

/** halo / keepalived; both 0 counts as equal, halo > 0 against 0 as infinitely worse. */
export function ratio(halo: number, keepalived: number): number {
  if (keepalived === 0) return halo === 0 ? 1 : Infinity;
  return halo / keepalived;
}

export function renderGoals(goals: readonly GoalResult[]): string {
  const lines = ['| goal | measured | required | result |', '|---|---:|---:|---|'];
  for (const g of goals) {
    const result = g.met === undefined ? (g.why ?? 'not measured') : `${g.met ? 'met' : 'not met'}${g.why !== undefined ? ` (${g.why})` : ''}`;
    lines.push(`| ${g.goal} | ${g.value} | ${g.required} | ${result} |`);
  }
  return lines.join('\n');
}

/** One line per failed repetition, for the Notes. */
export function failureNotes(results: readonly RepResult[]): string[] {
  return results.filter((r) => r.failure !== undefined).map((r) => `${SYSTEMS[r.system].label}, ${r.scenario} #${r.rep}: ${r.failure as string}`);
}

export type FailoverContext = ReportContext;

export const BEGIN_MARKER = '<!-- bench:failover:begin (written by `npm run bench:failover -- --write`) -->';
export const END_MARKER = '<!-- bench:failover:end -->';

export function renderSection(results: readonly RepResult[], systems: readonly SystemId[], ctx: FailoverContext): string {
  const cells = summarizeAll(results, systems);
  const notes = [...ctx.notes, ...failureNotes(results)];
  return [
    BEGIN_MARKER,
    ...measuredHeader(ctx),
    renderTable(cells),
    '',
    renderGoals(evaluateGoals(cells)),
    ...(notes.length > 0 ? ['', 'Notes:', '', ...notes.map((n) => `- ${n}`)] : []),
    END_MARKER,
  ].join('\n');
}

/**
 * Replaces what is between the markers (markers included); without them, appends a
 * "## Failover" section at the end. Everything else in the file stays byte for byte.
 */
export function replaceFailoverSection(existing: string | undefined, block: string): string {
  const doc = existing ?? '';
  const start = doc.indexOf(BEGIN_MARKER);
  const end = doc.indexOf(END_MARKER);
  if (start >= 0 && end > start) return `${doc.slice(0, start)}${block.trim()}${doc.slice(end + END_MARKER.length)}`;
  const base = doc.trimEnd();
  return `${base}${base.length > 0 ? '\n\n' : ''}## Failover\n\n${block.trim()}\n`;
}
