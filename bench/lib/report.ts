/**
 * Turns the samples into the markdown report: one row per target (median of the runs,
 * then every run's value), the halo/reference ratios against the issue's goals, and the
 * "Data plane" section of docs/benchmarks.md.
 */
import type { Sample } from './measure.js';

export type Metric = 'rps' | 'mbps' | 'dps';

export interface Row {
  readonly label: string;
  /** Why this target was not measured at all. */
  readonly skipped?: string;
  readonly samples: Partial<Record<Metric, Sample[]>>;
}

export interface Goal {
  readonly what: string;
  readonly halo: string;
  readonly reference: string;
  readonly metric: Metric;
  readonly atLeast: number;
}

export const GOALS: readonly Goal[] = [
  { what: 'http req/s', halo: 'halo http', reference: 'HAProxy http', metric: 'rps', atLeast: 0.5 },
  { what: 'tcp req/s', halo: 'halo tcp', reference: 'HAProxy tcp', metric: 'rps', atLeast: 0.9 },
  { what: 'tcp MB/s', halo: 'halo tcp', reference: 'HAProxy tcp', metric: 'mbps', atLeast: 0.8 },
  { what: 'udp datagrams/s', halo: 'halo udp', reference: 'nginx udp', metric: 'dps', atLeast: 0.5 },
];

/** Samples that produced a number (a failed run gives 0 and a problem). */
function usable(samples: readonly Sample[] | undefined): Sample[] {
  return (samples ?? []).filter((s) => s.value > 0);
}

export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const hi = sorted[mid] as number;
  return sorted.length % 2 === 1 ? hi : ((sorted[mid - 1] as number) + hi) / 2;
}

export function medianOf(row: Row | undefined, metric: Metric): number | undefined {
  return row ? median(usable(row.samples[metric]).map((s) => s.value)) : undefined;
}

function fmt(n: number, digits: number): string {
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** "78,100 (77,900 / 78,100 / 79,000)"; a failed run shows as "failed". */
export function cell(samples: readonly Sample[] | undefined, digits: number, pick: (s: Sample) => number | undefined = (s) => s.value): string {
  if (!samples || samples.length === 0) return '';
  const values = samples.map((s) => (s.value > 0 ? pick(s) : undefined));
  const ok = values.filter((v): v is number => v !== undefined);
  const m = median(ok);
  if (m === undefined) return 'failed';
  const each = values.map((v) => (v === undefined ? 'failed' : fmt(v, digits)));
  return samples.length === 1 ? fmt(m, digits) : `${fmt(m, digits)} (${each.join(' / ')})`;
}

export interface GoalResult {
  readonly goal: Goal;
  readonly ratio?: number;
  readonly met?: boolean;
  readonly why?: string;
}

export function evaluateGoals(rows: readonly Row[]): GoalResult[] {
  return GOALS.map((goal) => {
    const halo = rows.find((r) => r.label === goal.halo);
    const ref = rows.find((r) => r.label === goal.reference);
    const h = medianOf(halo, goal.metric);
    const r = medianOf(ref, goal.metric);
    if (h === undefined || r === undefined) {
      const missing = h === undefined ? halo : ref;
      return { goal, why: `not measured${missing?.skipped ? `: ${missing.skipped}` : ''}` };
    }
    const ratio = h / r;
    return { goal, ratio, met: ratio >= goal.atLeast };
  });
}

export interface ReportContext {
  readonly command: string;
  readonly date: string;
  readonly machine: string;
  readonly versions: string;
  readonly method: string;
  readonly notes: readonly string[];
}

/** The lines every benchmark section starts with: when, the exact command, machine, versions, method. */
export function measuredHeader(ctx: ReportContext): string[] {
  return [`Measured ${ctx.date} with:`, '', '```', ctx.command, '```', '', ctx.machine, '', ctx.versions, '', ctx.method, ''];
}

export function renderTable(rows: readonly Row[]): string {
  const lines = [
    '| target | req/s (wrk) | p99 ms (wrk) | MB/s (iperf3) | datagrams/s (udp-load) |',
    '|---|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    if (r.skipped !== undefined) {
      lines.push(`| ${r.label} | skipped: ${r.skipped.replace(/\|/g, '/')} | | | |`);
      continue;
    }
    const s = r.samples;
    lines.push(`| ${r.label} | ${cell(s.rps, 0)} | ${cell(s.rps, 2, (x) => x.extra)} | ${cell(s.mbps, 0)} | ${cell(s.dps, 0)} |`);
  }
  return lines.join('\n');
}

export function renderGoals(results: readonly GoalResult[]): string {
  const lines = ['| goal | ratio (medians) | required | result |', '|---|---:|---:|---|'];
  for (const g of results) {
    const name = `${g.goal.halo} / ${g.goal.reference}, ${g.goal.what}`;
    // Truncated, not rounded: 0.897 must not print as 0.90x next to "not met" for >= 0.9x.
    const ratio = g.ratio === undefined ? '—' : `${(Math.floor(g.ratio * 100) / 100).toFixed(2)}x`;
    const result = g.met === undefined ? (g.why ?? 'not measured') : g.met ? 'met' : 'not met';
    lines.push(`| ${name} | ${ratio} | >= ${g.goal.atLeast}x | ${result} |`);
  }
  return lines.join('\n');
}

/** Problems seen in individual runs (non-2xx answers, socket errors, lost windows...). */
export function problems(rows: readonly Row[]): string[] {
  const out: string[] = [];
  for (const r of rows) {
    for (const [metric, samples] of Object.entries(r.samples)) {
      (samples ?? []).forEach((s, i) => {
        if (s.problem !== undefined) out.push(`${r.label}, ${metric} run ${i + 1}: ${s.problem}`);
      });
    }
  }
  return out;
}

export function renderSection(rows: readonly Row[], ctx: ReportContext): string {
  const issues = problems(rows);
  const notes = [...ctx.notes, ...issues];
  return [
    '## Data plane',
    '',
    ...measuredHeader(ctx),
    renderTable(rows),
    '',
    renderGoals(evaluateGoals(rows)),
    ...(notes.length ? ['', 'Notes:', '', ...notes.map((n) => `- ${n}`)] : []),
    '',
  ].join('\n');
}

const TITLE = '# halo benchmarks\n\nNumbers from the harnesses under `bench/`. They are measurements of one machine at one time, not tests: rerun them before drawing conclusions.\n';

/** Replaces (or appends) the "## Data plane" section, leaving the rest of the file as it is. */
export function replaceSection(existing: string | undefined, section: string): string {
  const doc = existing && existing.trim().length > 0 ? existing : TITLE;
  const start = doc.search(/^## Data plane\s*$/m);
  if (start < 0) return `${doc.trimEnd()}\n\n${section.trimEnd()}\n`;
  const after = doc.slice(start + 1).search(/^## /m);
  const end = after < 0 ? doc.length : start + 1 + after;
  const rest = doc.slice(end);
  return `${doc.slice(0, start)}${section.trimEnd()}\n${rest.length ? `\n${rest}` : ''}`;
}
