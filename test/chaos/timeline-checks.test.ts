import { describe, expect, it } from 'vitest';
import { checkTimelines, type NodeTimeline } from './timeline-checks.js';

const limits = { graceMs: 100, vipGraceMs: 300, boundMs: 1000 };
const win = { from: 0, to: 10_000 };

function node(name: string, states: Array<[number, string]>, vip: Array<[number, boolean]>, out: Array<[number, number | undefined]> = []): NodeTimeline {
  return {
    node: name,
    states: states.map(([t, state]) => ({ t, state })),
    vip: vip.map(([t, holds]) => ({ t, holds })),
    out: out.map(([from, to]) => (to === undefined ? { from } : { from, to })),
  };
}

describe('chaos timeline checks', () => {
  it('a clean takeover after the master is killed, then its return and preemption: nothing to report', () => {
    const lb1 = node('lb1', [[0, 'MASTER'], [3500, 'BACKUP'], [3690, 'MASTER']], [[0, true], [3500, false], [3690, true]], [[2000, 3500]]);
    // lb2 hears lb1's first advert 10 ms after lb1 became MASTER; it keeps the VIP 150 ms more (make-before-break)
    const lb2 = node('lb2', [[0, 'BACKUP'], [2200, 'MASTER'], [3700, 'BACKUP']], [[0, false], [2200, true], [3850, false]]);
    expect(checkTimelines([lb1, lb2], win, limits)).toEqual([]);
  });

  it('two masters past the grace, and a VIP kept past the handover grace, are reported', () => {
    const lb1 = node('lb1', [[0, 'MASTER'], [3500, 'BACKUP'], [3690, 'MASTER']], [[0, true], [3500, false], [3690, true]], [[2000, 3500]]);
    // lb2 steps down only 400 ms after lb1 became MASTER, and keeps the VIP 400 ms after that
    const lb2 = node('lb2', [[0, 'BACKUP'], [2200, 'MASTER'], [4090, 'BACKUP']], [[0, false], [2200, true], [4490, false]]);
    expect(checkTimelines([lb1, lb2], win, limits).map((x) => [x.check, x.from, x.to, x.nodes])).toEqual([
      ['two_masters', 3790, 4090, ['lb1', 'lb2']],
      ['two_vip_holders', 3990, 4090, ['lb1', 'lb2']],
      ['two_vip_holders', 4390, 4490, ['lb1', 'lb2']],
    ]);
  });

  it('a partitioned master keeps its VIP and state: not counted until the heal plus the grace', () => {
    const lb1 = node('lb1', [[0, 'MASTER'], [5080, 'BACKUP']], [[0, true], [5250, false]], [[2000, 5000]]);
    const lb2 = node('lb2', [[0, 'BACKUP'], [2200, 'MASTER']], [[0, false], [2200, true]]);
    expect(checkTimelines([lb1, lb2], win, limits)).toEqual([]);
    // lb1 steps down late: 5000 + 100 grace, still MASTER until 5400
    const late = node('lb1', [[0, 'MASTER'], [5400, 'BACKUP']], [[0, true], [5450, false]], [[2000, 5000]]);
    const v = checkTimelines([late, lb2], win, limits);
    expect(v.map((x) => [x.check, x.from, x.to, x.nodes])).toEqual([
      ['two_masters', 5100, 5400, ['lb1', 'lb2']],
      ['two_vip_holders', 5300, 5400, ['lb1', 'lb2']],
    ]);
  });

  it('no master in play for longer than the bound', () => {
    const lb1 = node('lb1', [[0, 'MASTER']], [[0, true]], [[2000, undefined]]);
    const lb2 = node('lb2', [[0, 'BACKUP'], [3200, 'MASTER']], [[0, false], [3200, true]]);
    const v = checkTimelines([lb1, lb2], win, limits);
    expect(v.map((x) => [x.check, x.from, x.to])).toEqual([['no_master_too_long', 2000, 3200]]);
    const fast = node('lb2', [[0, 'BACKUP'], [2900, 'MASTER']], [[0, false], [2900, true]]);
    expect(checkTimelines([lb1, fast], win, limits)).toEqual([]);
  });

  it('a gap still open at the end of the window counts to the end', () => {
    const lb1 = node('lb1', [[0, 'MASTER'], [8000, 'FAULT']], [[0, true]]);
    const v = checkTimelines([lb1], win, limits);
    expect(v.map((x) => [x.check, x.from, x.to])).toEqual([['no_master_too_long', 8000, 10_000]]);
  });
});
