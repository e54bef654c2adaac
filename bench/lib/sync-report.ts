/**
 * The replication benchmark's numbers and its markdown: lag statistics from the sample
 * times of both processes, the issue's goals (met / not met), and the "Replication"
 * section of docs/benchmarks.md between its markers.
 */
import { measuredHeader, type ReportContext } from './report.js';

export const START_MARKER = '<!-- bench:sync:start -->';
export const END_MARKER = '<!-- bench:sync:end -->';

export const GOALS = {
  updatesPerSecond: 50_000,
  lagP99Ms: 50,
  snapshotEntries: 1_000_000,
  snapshotSeconds: 5,
  bytesPerUpdate: 64,
  bytesPerEntry: 200,
} as const;

/** A step holds its target when the standby applied at least this share of it. */
export const HELD_SHARE = 0.99;

export interface LagStats {
  readonly samples: number;
  /** Samples set on the master that the standby never applied. */
  readonly missing: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

/** Nearest-rank percentile of ascending values; undefined when empty. */
export function percentile(sorted: readonly number[], p: number): number | undefined {
  if (sorted.length === 0) return undefined;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

/** Lags (ms) of the samples both sides timed (ns, same clock); NaN on the standby = never applied. */
export function lagStats(setNs: ArrayLike<number>, applyNs: ArrayLike<number>): LagStats | undefined {
  const lags: number[] = [];
  let missing = 0;
  for (let i = 0; i < setNs.length; i++) {
    const set = setNs[i] as number;
    const applied = i < applyNs.length ? (applyNs[i] as number) : Number.NaN;
    if (Number.isNaN(set)) continue;
    if (Number.isNaN(applied)) missing++;
    else lags.push((applied - set) / 1e6);
  }
  if (lags.length === 0) return undefined;
  lags.sort((a, b) => a - b);
  return { samples: lags.length, missing, p50Ms: percentile(lags, 50) as number, p99Ms: percentile(lags, 99) as number, maxMs: lags[lags.length - 1] as number };
}

export interface SustainedStep {
  readonly target: number;
  readonly seconds: number;
  /** Sets the master made, and per second of its load loop. */
  readonly sets: number;
  readonly sentPerSecond: number;
  /** Records the standby applied in the phase, per second between its first and last apply. */
  readonly applied: number;
  readonly appliedPerSecond: number | undefined;
  readonly lag: LagStats | undefined;
  /** Master's replication socket bytes written per update applied (ws framing included, TCP/IP headers not). */
  readonly bytesPerUpdate: number | undefined;
  /** The standby's acks, the other way. */
  readonly ackBytesPerUpdate: number | undefined;
  /** From the end of the load to the standby applying its last update; undefined: not within the wait. */
  readonly catchUpMs: number | undefined;
  /** Percent of one core over the phase. */
  readonly masterCpu: number;
  readonly standbyCpu: number;
  readonly masterLoopP99Ms: number;
  readonly standbyLoopP99Ms: number;
  readonly masterLoopMaxMs: number;
  readonly standbyLoopMaxMs: number;
  /** Longest GC pause (any kind), and all pauses together, over the step. */
  readonly masterGcMaxMs: number;
  readonly standbyGcMaxMs: number;
  readonly masterGcMs: number;
  readonly standbyGcMs: number;
  /** The master cut the standby off (behind), sent it a snapshot, or the standby reset the link. */
  readonly cuts: number;
  readonly snapshots: number;
  readonly resets: number;
}

export interface SnapshotRun {
  readonly entries: number;
  readonly fillMs: number;
  /** follow -> dial and handshake done. */
  readonly connectMs: number;
  /** follow -> synced (snapshot applied). */
  readonly syncedMs: number;
  readonly standbyEntries: number;
  /** Snapshot bytes the master wrote per entry. */
  readonly wireBytesPerEntry: number | undefined;
  /** heapUsed after GC with the entries, minus before, per entry. */
  readonly masterHeapPerEntry: number;
  readonly standbyHeapPerEntry: number;
  /** external + arrayBuffers the same way (the replay buffer's frames live there). */
  readonly masterExternalPerEntry: number;
  readonly standbyExternalPerEntry: number;
  readonly standbyCpuMs: number;
}

export interface SyncResults {
  readonly steps: readonly SustainedStep[];
  readonly snapshots: readonly SnapshotRun[];
  readonly problems: readonly string[];
}

export function keptUp(s: SustainedStep): boolean {
  return s.cuts === 0 && s.snapshots === 0 && s.resets === 0 && s.catchUpMs !== undefined && (s.lag?.missing ?? 1) === 0;
}

export function held(s: SustainedStep): boolean {
  return keptUp(s) && s.lag !== undefined && s.lag.p99Ms <= GOALS.lagP99Ms && (s.appliedPerSecond ?? 0) >= HELD_SHARE * s.target;
}

export interface GoalRow {
  readonly what: string;
  readonly measured: string;
  readonly required: string;
  readonly met: boolean | undefined;
}

function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function evaluateGoals(r: SyncResults): GoalRow[] {
  const rows: GoalRow[] = [];
  const best = [...r.steps].filter(held).sort((a, b) => b.target - a.target)[0];
  rows.push({
    what: 'sustained updates/s, standby keeping up with lag p99 <= 50 ms',
    measured:
      best === undefined
        ? r.steps.length === 0
          ? 'not measured'
          : 'no step held'
        : `${fmt(best.target)}${best.target === Math.max(...r.steps.map((s) => s.target)) ? ', the highest rate tried' : ''} (applied ${fmt(best.appliedPerSecond ?? 0)}/s, p99 ${fmt(best.lag?.p99Ms ?? 0, 1)} ms)`,
    required: `>= ${fmt(GOALS.updatesPerSecond)}`,
    met: r.steps.length === 0 ? undefined : best !== undefined && best.target >= GOALS.updatesPerSecond,
  });
  const big = r.snapshots.find((s) => s.entries === GOALS.snapshotEntries);
  rows.push({
    what: '1M-entry snapshot applied (connect to synced)',
    measured: big === undefined ? 'not measured (no 1M run)' : `${fmt(big.syncedMs / 1000, 2)} s`,
    required: `<= ${GOALS.snapshotSeconds} s`,
    met: big === undefined ? undefined : big.syncedMs <= GOALS.snapshotSeconds * 1000 && big.standbyEntries === big.entries,
  });
  const bytes = r.steps.map((s) => s.bytesPerUpdate).filter((b): b is number => b !== undefined);
  const worst = bytes.length === 0 ? undefined : Math.max(...bytes);
  rows.push({
    what: 'bytes per update on the wire (worst step)',
    measured: worst === undefined ? 'not measured' : fmt(worst, 1),
    required: `<= ${GOALS.bytesPerUpdate}`,
    met: worst === undefined ? undefined : worst <= GOALS.bytesPerUpdate,
  });
  const largest = [...r.snapshots].sort((a, b) => b.entries - a.entries)[0];
  for (const side of ['master', 'standby'] as const) {
    const v = largest === undefined ? undefined : side === 'master' ? largest.masterHeapPerEntry : largest.standbyHeapPerEntry;
    rows.push({
      what: `memory per persistence entry, ${side} (heap, ${largest === undefined ? '?' : fmt(largest.entries)} entries)`,
      measured: v === undefined ? 'not measured' : `${fmt(v)} B`,
      required: `<= ${GOALS.bytesPerEntry} B`,
      met: v === undefined ? undefined : v <= GOALS.bytesPerEntry,
    });
  }
  return rows;
}

export function renderGoals(rows: readonly GoalRow[]): string {
  const lines = ['| goal | measured | required | result |', '|---|---:|---:|---|'];
  for (const g of rows) lines.push(`| ${g.what} | ${g.measured} | ${g.required} | ${g.met === undefined ? 'not measured' : g.met ? 'met' : 'not met'} |`);
  return lines.join('\n');
}

const opt = (v: number | undefined, digits = 0): string => (v === undefined ? '—' : fmt(v, digits));

export function renderSteps(steps: readonly SustainedStep[]): string {
  const lines = [
    '| target/s | sent/s | applied/s | lag p50 / p99 / max ms (samples) | bytes/update | ack bytes/update | catch-up ms | CPU % master / standby | loop delay p99 / max ms, master; standby | GC longest / total ms, master; standby | kept up |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const s of steps) {
    const lag = s.lag === undefined ? '—' : `${fmt(s.lag.p50Ms, 1)} / ${fmt(s.lag.p99Ms, 1)} / ${fmt(s.lag.maxMs, 1)} (${fmt(s.lag.samples)}${s.lag.missing > 0 ? `, ${fmt(s.lag.missing)} missing` : ''})`;
    const trouble = [s.cuts > 0 ? `${s.cuts} cut(s)` : '', s.snapshots > 0 ? `${s.snapshots} snapshot(s)` : '', s.resets > 0 ? `${s.resets} reset(s)` : '', s.catchUpMs === undefined ? 'never caught up' : ''].filter((x) => x !== '');
    lines.push(
      `| ${fmt(s.target)} | ${fmt(s.sentPerSecond)} | ${opt(s.appliedPerSecond)} | ${lag} | ${opt(s.bytesPerUpdate, 1)} | ${opt(s.ackBytesPerUpdate, 2)} | ${opt(s.catchUpMs, 1)} | ${fmt(s.masterCpu)} / ${fmt(s.standbyCpu)} | ${fmt(s.masterLoopP99Ms, 1)} / ${fmt(s.masterLoopMaxMs, 1)}; ${fmt(s.standbyLoopP99Ms, 1)} / ${fmt(s.standbyLoopMaxMs, 1)} | ${fmt(s.masterGcMaxMs, 1)} / ${fmt(s.masterGcMs)}; ${fmt(s.standbyGcMaxMs, 1)} / ${fmt(s.standbyGcMs)} | ${keptUp(s) ? 'yes' : `no: ${trouble.join(', ') || 'samples missing'}`} |`,
    );
  }
  return lines.join('\n');
}

export function renderSnapshots(runs: readonly SnapshotRun[]): string {
  const lines = [
    '| entries | connect to synced s | of which dial + handshake ms | entries on the standby | snapshot bytes/entry | heap B/entry master / standby | external B/entry master / standby | standby CPU s |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of runs) {
    lines.push(
      `| ${fmt(r.entries)} | ${fmt(r.syncedMs / 1000, 2)} | ${fmt(r.connectMs, 1)} | ${fmt(r.standbyEntries)} | ${opt(r.wireBytesPerEntry, 1)} | ${fmt(r.masterHeapPerEntry)} / ${fmt(r.standbyHeapPerEntry)} | ${fmt(r.masterExternalPerEntry)} / ${fmt(r.standbyExternalPerEntry)} | ${fmt(r.standbyCpuMs / 1000, 2)} |`,
    );
  }
  return lines.join('\n');
}

/** The section: heading, then everything `--write` owns between the markers. */
export function renderSection(r: SyncResults, ctx: ReportContext): string {
  const notes = [...ctx.notes, ...r.problems];
  return [
    '## Replication',
    '',
    START_MARKER,
    ...measuredHeader(ctx),
    renderGoals(evaluateGoals(r)),
    '',
    'Sustained updates (one step per target rate):',
    '',
    renderSteps(r.steps),
    '',
    'Snapshot to a fresh standby, and memory:',
    '',
    renderSnapshots(r.snapshots),
    ...(notes.length > 0 ? ['', 'Notes:', '', ...notes.map((n) => `- ${n}`)] : []),
    END_MARKER,
    '',
  ].join('\n');
}

/**
 * Replaces what lies between the markers (the markers included) with the section's own
 * marked part, leaving the rest of the file as it is; appends the whole section when
 * the markers are absent.
 */
export function replaceSyncSection(existing: string | undefined, section: string): string {
  const doc = existing ?? '';
  const begin = section.indexOf(START_MARKER);
  const finish = section.indexOf(END_MARKER);
  const marked = begin >= 0 && finish > begin ? section.slice(begin, finish + END_MARKER.length) : section.trim();
  const start = doc.indexOf(START_MARKER);
  const end = start < 0 ? -1 : doc.indexOf(END_MARKER, start);
  if (start >= 0 && end > start) return `${doc.slice(0, start)}${marked}${doc.slice(end + END_MARKER.length)}`;
  const base = doc.trimEnd();
  return `${base}${base.length > 0 ? '\n\n' : ''}${section.trim()}\n`;
}
