/**
 * The flood bench's figures: halo's /metrics parsed into what a phase needs (active
 * connections or flows per service, limit counters), one row per flood, and the
 * markdown table. Pure, so it is tested without a namespace.
 */

export type LegitKind = 'http' | 'tcp' | 'udp_new' | 'udp_flow';
export type LegitCounts = Record<LegitKind, { ok: number; total: number }>;

export interface MetricSample {
  /** halo_service_connections_active per service: connections (tcp, http) or flows (udp). */
  readonly active: Record<string, number>;
  /** halo_service_rejections_total, "service/reason" -> count. */
  readonly rejections: Record<string, number>;
}

export interface PhaseResult {
  readonly name: string;
  readonly volume: string;
  readonly ms: number;
  /** kB. */
  readonly rss: { readonly before: number | undefined; readonly peak: number; readonly after: number | undefined };
  /** Per service: the largest table sampled during the flood, and its cap (0 = none). */
  readonly tables: ReadonlyArray<{ readonly service: string; readonly peak: number; readonly cap: number }>;
  /** Limit counters that moved during the phase, "service/reason" -> delta. */
  readonly limits: Record<string, number>;
  readonly during: LegitCounts;
  readonly detail: string;
  readonly alive: boolean;
}

const LINE = /^(halo_service_connections_active|halo_service_rejections_total)\{([^}]*)\}\s+(\S+)$/;

export function parseMetrics(text: string): MetricSample {
  const active: Record<string, number> = {};
  const rejections: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = LINE.exec(line);
    if (m === null) continue;
    const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    const value = Number(m[3]);
    const service = labels['service'] ?? '';
    if (m[1] === 'halo_service_connections_active') active[service] = value;
    else rejections[`${service}/${labels['reason'] ?? ''}`] = value;
  }
  return { active, rejections };
}

export interface PhaseInputs {
  readonly name: string;
  readonly volume: string;
  readonly ms: number;
  readonly before: number | undefined;
  readonly peak: number;
  readonly after: number | undefined;
  readonly caps: Record<string, number>;
  readonly tablePeaks: Record<string, number>;
  readonly startMetrics: MetricSample | undefined;
  readonly endMetrics: MetricSample | undefined;
  readonly during: LegitCounts;
  readonly detail: string;
  readonly alive: boolean;
}

export function phaseRow(i: PhaseInputs): PhaseResult {
  const limits: Record<string, number> = {};
  for (const [k, v] of Object.entries(i.endMetrics?.rejections ?? {})) {
    const d = v - (i.startMetrics?.rejections[k] ?? 0);
    if (d > 0) limits[k] = d;
  }
  const tables = Object.entries(i.caps).map(([service, cap]) => ({ service, peak: i.tablePeaks[service] ?? 0, cap }));
  return { name: i.name, volume: i.volume, ms: i.ms, rss: { before: i.before, peak: i.peak, after: i.after }, tables, limits, during: i.during, detail: i.detail, alive: i.alive };
}

const mb = (kb: number | undefined): string => (kb === undefined || !Number.isFinite(kb) ? '?' : (kb / 1024).toFixed(0));
const pct = (c: { ok: number; total: number }): string => (c.total === 0 ? '-' : `${((100 * c.ok) / c.total).toFixed(0)}% (${c.ok}/${c.total})`);

export function legitLine(c: LegitCounts): string {
  return `http ${pct(c.http)}, tcp ${pct(c.tcp)}, udp new ${pct(c.udp_new)}, udp flow ${pct(c.udp_flow)}`;
}

export function renderFloodTable(phases: readonly PhaseResult[], after: LegitCounts, alive: boolean): string {
  const rows = phases.map((p) => {
    const tables = p.tables.map((t) => `${t.service} ${t.peak.toLocaleString('en-US')}/${t.cap > 0 ? t.cap.toLocaleString('en-US') : 'none'}`).join(', ');
    const limits = Object.entries(p.limits)
      .map(([k, v]) => `${k} ${v.toLocaleString('en-US')}`)
      .join(', ');
    return `| ${p.name} | ${p.volume} | ${(p.ms / 1000).toFixed(1)} s | ${mb(p.rss.before)} / ${mb(p.rss.peak)} / ${mb(p.rss.after)} | ${tables} | ${limits || '-'} | ${legitLine(p.during)} | ${p.detail}${p.alive ? '' : ' **halo died**'} |`;
  });
  return [
    '| flood | volume | duration | halo RSS MB before / peak / after | peak table / cap (flows, connections) | limits hit | legitimate client during the flood | notes |',
    '|---|---|---|---|---|---|---|---|',
    ...rows,
    '',
    `After every flood: ${legitLine(after)}; halo ${alive ? 'still running' : '**not running**'}.`,
  ].join('\n');
}
