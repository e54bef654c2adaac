import { describe, expect, it } from 'vitest';
import { replaceSection } from './report.js';
import { BEGIN_MARKER, END_MARKER, evaluateGoals, ratio, renderSection, renderTable, replaceFailoverSection, summarize, summarizeAll } from './failover-report.js';
import type { RepResult } from './failover-run.js';
import type { Scenario, SystemId } from './failover-systems.js';

function rep(system: SystemId, scenario: Scenario, outage: number, failback: number, extra: Partial<RepResult> = {}): RepResult {
  return {
    system,
    scenario,
    rep: 1,
    at: '2026-11-27T12:00:00.000Z',
    takeover: { complete: true, ms: outage, failures: Math.round(outage / 10), windows: outage > 0 ? 1 : 0, errors: ['timeout'] },
    failback: { complete: true, ms: failback, failures: 0, windows: 0, errors: [] },
    vipHoldersAfter: ['lb1'],
    ...extra,
  };
}

describe('summarize', () => {
  it('spreads outages over recovered repetitions only, and counts failures, stale VIPs and ARP results', () => {
    const results = [
      rep('keepalived', 'sigkill', 340, 0, { vipLeftOnFailedNode: true }),
      rep('keepalived', 'sigkill', 360, 10, { vipLeftOnFailedNode: true }),
      rep('keepalived', 'sigkill', 9000, 0, { failure: 'lb2 did not serve', takeover: { complete: false, ms: 9000, failures: 900, windows: 1, errors: ['timeout'] } }),
      rep('halo', 'sigkill', 100, 0),
    ];
    const c = summarize(results, 'keepalived', 'sigkill');
    expect(c?.reps).toBe(3);
    expect(c?.failures).toBe(1);
    expect(c?.outage).toEqual({ n: 2, min: 340, median: 350, p95: 360, max: 360 });
    expect(c?.failback?.max).toBe(10);
    expect(c?.vipLeft).toBe(2);
    expect(summarize(results, 'halo', 'linkdown')).toBeUndefined();
  });

  it('partition: ARP in time, the slowest move and the ones that never moved', () => {
    const results = [
      rep('halo', 'partition', 200, 0, { arp: { master: 'lb1', toMasterMs: 12, boundMs: 150, inTime: true } }),
      rep('halo', 'partition', 200, 0, { arp: { master: 'lb1', toMasterMs: 170, boundMs: 150, inTime: false } }),
      rep('halo', 'partition', 200, 0, { arp: { master: 'lb1', boundMs: 150, inTime: false }, vipHoldersAfter: ['lb1', 'lb2'] }),
    ];
    const c = summarize(results, 'halo', 'partition');
    expect(c).toMatchObject({ arpChecked: 3, arpInTime: 1, arpWorstMs: 170, arpNeverMoved: 1, notOneHolder: 1 });
    expect(renderTable([c as NonNullable<typeof c>])).toContain('1/3, 1 never moved');
  });
});

describe('evaluateGoals', () => {
  const results: RepResult[] = [
    rep('halo', 'sigkill', 200, 0),
    rep('halo', 'sigkill', 240, 0),
    rep('halo', 'sigterm', 60, 0),
    rep('halo', 'linkdown', 200, 70),
    rep('halo-100', 'sigkill', 300, 0),
    rep('keepalived', 'sigkill', 350, 0),
    rep('halo-100', 'sigterm', 20, 0),
    rep('keepalived', 'sigterm', 0, 0),
  ];
  const goals = evaluateGoals(summarizeAll(results, ['halo', 'halo-100', 'keepalived']));
  const goal = (text: string) => goals.find((g) => g.goal.includes(text));

  it('marks halo medians against 250 ms (sigkill, link down) and 50 ms (sigterm)', () => {
    expect(goal('halo defaults, sigkill')).toMatchObject({ value: '220 ms', met: true });
    expect(goal('halo defaults, sigterm')).toMatchObject({ value: '60 ms', met: false });
    expect(goal('halo defaults, linkdown')).toMatchObject({ met: true });
  });

  it('no failback failure longer than one advert interval', () => {
    expect(goal('5 missed), failback after linkdown (link up)')).toMatchObject({ value: '70 ms', required: '<= 40 ms', met: false });
    expect(goal('5 missed), failback after sigkill (restart)')).toMatchObject({ met: true });
  });

  it('halo-100 / keepalived ratio of medians, keepalived at 0 with halo above it is not met', () => {
    expect(goal('keepalived 0.1 s, sigkill')).toMatchObject({ value: '0.86x', met: true });
    expect(goal('keepalived 0.1 s, sigterm')).toMatchObject({ value: '∞', met: false });
    expect(goal('keepalived 0.1 s, linkdown')).toBeUndefined();
  });

  it('ratio', () => {
    expect(ratio(0, 0)).toBe(1);
    expect(ratio(5, 0)).toBe(Infinity);
    expect(ratio(50, 100)).toBe(0.5);
  });
});

describe('replaceFailoverSection', () => {
  const ctx = { command: 'npm run bench:failover -- --quick', date: '2026-11-27 12:00 UTC', machine: 'Machine: 2 cores.', versions: 'Versions: x.', method: 'Method: y.', notes: ['a note'] };
  const block = renderSection([rep('halo', 'sigkill', 100, 0)], ['halo'], ctx);
  const doc = '# halo benchmarks\n\nintro\n\n## Data plane\n\nold table\n\n## Data plane: why\n\ntext\n';

  it('appends a Failover section when there is none, leaving the rest as it was', () => {
    const out = replaceFailoverSection(doc, block);
    expect(out.startsWith(doc.trimEnd())).toBe(true);
    expect(out).toContain(`## Failover\n\n${BEGIN_MARKER}`);
    expect(out.trimEnd().endsWith(END_MARKER)).toBe(true);
  });

  it('replaces only what is between the markers', () => {
    const first = replaceFailoverSection(doc, block);
    const withTail = `${first}\n## Later\n\nkept\n`;
    const second = replaceFailoverSection(withTail, block.replace('--quick', '--reps 20'));
    expect(second).toContain('--reps 20');
    expect(second).not.toContain('--quick');
    expect(second.split(BEGIN_MARKER).length).toBe(2);
    expect(second).toContain('## Later\n\nkept\n');
    expect(second.startsWith(doc.trimEnd())).toBe(true);
  });

  it('survives the data-plane harness rewriting its own section', () => {
    const withFailover = replaceFailoverSection(doc, block);
    const rewritten = replaceSection(withFailover, '## Data plane\n\nnew table\n');
    expect(rewritten).toContain('new table');
    expect(rewritten).toContain(block.trim());
  });
});
