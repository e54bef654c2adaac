import { describe, expect, it } from 'vitest';
import { END_MARKER, evaluateGoals, held, lagStats, percentile, renderGoals, renderSection, replaceSyncSection, START_MARKER, type SnapshotRun, type SustainedStep } from './sync-report.js';

describe('percentile and lagStats', () => {
  it('nearest rank', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(xs, 50)).toBe(50);
    expect(percentile(xs, 99)).toBe(99);
    expect(percentile(xs, 100)).toBe(100);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeUndefined();
  });
  it('joins the two sides by sample index, in ms, and counts what never arrived', () => {
    const set = [0, 1e6, 2e6, 3e6];
    const apply = [2e6, 4e6, Number.NaN, 13e6];
    expect(lagStats(set, apply)).toEqual({ samples: 3, missing: 1, p50Ms: 3, p99Ms: 10, maxMs: 10 });
    expect(lagStats([0], [Number.NaN])).toBeUndefined();
    expect(lagStats([0, 1], [5e6])).toMatchObject({ samples: 1, missing: 1 });
  });
});

function step(over: Partial<SustainedStep>): SustainedStep {
  return {
    target: 50_000, seconds: 10, sets: 500_000, sentPerSecond: 50_000, applied: 500_000, appliedPerSecond: 50_010,
    lag: { samples: 100, missing: 0, p50Ms: 4, p99Ms: 12, maxMs: 20 }, bytesPerUpdate: 29, ackBytesPerUpdate: 0.01, catchUpMs: 4,
    masterCpu: 20, standbyCpu: 20, masterLoopP99Ms: 2, standbyLoopP99Ms: 2, masterLoopMaxMs: 9, standbyLoopMaxMs: 9,
    masterGcMaxMs: 3, standbyGcMaxMs: 3, masterGcMs: 30, standbyGcMs: 30, cuts: 0, snapshots: 0, resets: 0, ...over,
  };
}

const snap = (entries: number, over: Partial<SnapshotRun> = {}): SnapshotRun => ({
  entries, fillMs: 100, connectMs: 10, syncedMs: 2000, standbyEntries: entries, wireBytesPerEntry: 27, masterHeapPerEntry: 150,
  standbyHeapPerEntry: 180, masterExternalPerEntry: 50, standbyExternalPerEntry: 50, standbyCpuMs: 1500, ...over,
});

describe('goals', () => {
  it('a step holds only when the standby kept up at its rate within the lag bound', () => {
    expect(held(step({}))).toBe(true);
    expect(held(step({ lag: { samples: 100, missing: 0, p50Ms: 4, p99Ms: 51, maxMs: 90 } }))).toBe(false);
    expect(held(step({ cuts: 1 }))).toBe(false);
    expect(held(step({ catchUpMs: undefined }))).toBe(false);
    expect(held(step({ appliedPerSecond: 40_000 }))).toBe(false);
    expect(held(step({ lag: { samples: 99, missing: 1, p50Ms: 4, p99Ms: 12, maxMs: 20 } }))).toBe(false);
  });

  it('are met or not from the best held step, the 1M snapshot, the worst bytes, the largest size', () => {
    const rows = evaluateGoals({ steps: [step({ target: 25_000 }), step({}), step({ target: 100_000, cuts: 2, bytesPerUpdate: 70 })], snapshots: [snap(100_000, { masterHeapPerEntry: 100 }), snap(1_000_000, { standbyHeapPerEntry: 250 })], problems: [] });
    expect(rows.map((r) => r.met)).toEqual([true, true, false, true, false]);
    expect(rows[0]?.measured).toContain('50,000 (applied');
    expect(evaluateGoals({ steps: [step({})], snapshots: [], problems: [] })[0]?.measured).toContain('50,000, the highest rate tried (applied');
    expect(rows[2]?.measured).toBe('70.0');
    expect(rows[4]?.measured).toBe('250 B');
  });

  it('say "not measured" rather than met when a phase is missing', () => {
    const rows = evaluateGoals({ steps: [], snapshots: [snap(100_000)], problems: ['x'] });
    expect(rows[0]?.met).toBeUndefined();
    expect(rows[1]?.met).toBeUndefined();
    expect(renderGoals(rows)).toContain('| not measured |');
    expect(evaluateGoals({ steps: [step({ target: 25_000 })], snapshots: [snap(1_000_000, { syncedMs: 6000 })], problems: [] }).map((r) => r.met).slice(0, 2)).toEqual([false, false]);
  });
});

describe('the docs section', () => {
  const ctx = { command: 'npm run bench:sync', date: 'today', machine: 'Machine: 2 cores.', versions: 'Versions: node.', method: 'Method: m.', notes: ['a note'] };
  const section = renderSection({ steps: [step({})], snapshots: [snap(1_000_000)], problems: ['a problem'] }, ctx);

  it('holds the heading, the markers, the tables and the notes', () => {
    expect(section.startsWith('## Replication\n')).toBe(true);
    expect(section).toContain(START_MARKER);
    expect(section).toContain(END_MARKER);
    expect(section).toContain('- a note\n- a problem');
    expect(section).toContain('| 1,000,000 | 2.00 |');
  });

  it('is appended when the markers are absent, and replaces only what lies between them', () => {
    const first = replaceSyncSection('# halo benchmarks\n\n## Failover\n\nold failover\n', section);
    expect(first).toContain('## Failover\n\nold failover\n\n## Replication\n');
    const edited = `${first}\n## Later section\n\nkept\n`;
    const again = replaceSyncSection(edited, section.replace('a note', 'new note'));
    expect(again).toContain('new note');
    expect(again).not.toContain('a note');
    expect(again).toContain('## Later section\n\nkept\n');
    expect(again.match(/## Replication/g)).toHaveLength(1);
    expect(again.startsWith('# halo benchmarks\n\n## Failover\n\nold failover\n')).toBe(true);
  });
});
