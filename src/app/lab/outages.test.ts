import { describe, expect, it } from 'vitest';
import { findOutages, formatSummary, formatWindow, type ProbeSample } from './outages.js';

const ok = (t: number, node: string, backend = 'be1'): ProbeSample => ({ t, ok: true, node, backend });
const fail = (t: number, error = 'timeout'): ProbeSample => ({ t, ok: false, error });

describe('findOutages', () => {
  it('no failures: no window, serving node unchanged', () => {
    const r = findOutages([ok(0, 'lb1'), ok(10, 'lb1', 'be2'), ok(20, 'lb1')]);
    expect(r.windows).toEqual([]);
    expect(r.longest).toBeUndefined();
    expect(r).toMatchObject({ attempts: 3, successes: 3, failures: 0, servingNodes: ['lb1'], nodeChanged: false, backends: { be1: 2, be2: 1 } });
  });

  it('a failover: from the last success through the old node to the first through the new one', () => {
    const r = findOutages([ok(0, 'lb1'), ok(10, 'lb1', 'be2'), fail(20), fail(30, 'ECONNREFUSED'), fail(40), ok(50, 'lb2', 'be1'), ok(60, 'lb2')]);
    expect(r.windows).toHaveLength(1);
    expect(r.windows[0]).toEqual({
      start: 10,
      end: 50,
      duration: 40,
      failures: 3,
      errors: ['timeout', 'ECONNREFUSED'],
      nodeBefore: 'lb1',
      nodeAfter: 'lb2',
      backendBefore: 'be2',
      backendAfter: 'be1',
      fromStart: false,
      ongoing: false,
    });
    expect(r.longest).toBe(r.windows[0]);
    expect(r.servingNodes).toEqual(['lb1', 'lb2']);
    expect(r.nodeChanged).toBe(true);
  });

  it('sorts by start time: answers arrive out of order', () => {
    const r = findOutages([ok(0, 'lb1'), fail(30), ok(50, 'lb2'), fail(20), ok(10, 'lb1')]);
    expect(r.windows).toHaveLength(1);
    expect(r.windows[0]).toMatchObject({ start: 10, end: 50, failures: 2 });
  });

  it('several windows; longest is the longest, not the one with most failures', () => {
    const r = findOutages([ok(0, 'lb1'), fail(10), fail(11), fail(12), ok(20, 'lb1'), fail(30), ok(100, 'lb2')]);
    expect(r.windows.map((w) => [w.start, w.duration, w.failures])).toEqual([
      [0, 20, 3],
      [20, 80, 1],
    ]);
    expect(r.longest).toMatchObject({ start: 20, duration: 80 });
  });

  it('failing from the start and at the end: open windows say so', () => {
    const r = findOutages([fail(0), fail(10), ok(20, 'lb1'), fail(30), fail(45)]);
    expect(r.windows[0]).toMatchObject({ start: 0, end: 20, duration: 20, fromStart: true, ongoing: false, nodeAfter: 'lb1' });
    expect(r.windows[0]?.nodeBefore).toBeUndefined();
    expect(r.windows[1]).toMatchObject({ start: 20, duration: 25, fromStart: false, ongoing: true, nodeBefore: 'lb1' });
    expect(r.windows[1]?.end).toBeUndefined();
  });

  it('nothing ever answered: one window, no serving node', () => {
    const r = findOutages([fail(0), fail(10)]);
    expect(r.windows).toHaveLength(1);
    expect(r.windows[0]).toMatchObject({ fromStart: true, ongoing: true, duration: 10, failures: 2 });
    expect(r.servingNodes).toEqual([]);
    expect(r.nodeChanged).toBe(false);
    expect(formatSummary(r)).toContain('no node answered');
  });

  it('serving node back to the first one counts as unchanged, but the sequence shows the trip', () => {
    const r = findOutages([ok(0, 'lb1'), fail(10), ok(20, 'lb2'), fail(30), ok(40, 'lb1')]);
    expect(r.servingNodes).toEqual(['lb1', 'lb2', 'lb1']);
    expect(r.nodeChanged).toBe(false);
  });

  it('empty input', () => {
    expect(findOutages([])).toMatchObject({ attempts: 0, windows: [], servingNodes: [], nodeChanged: false });
  });
});

describe('formatting', () => {
  it('a window line names time, duration, failures and the path before and after', () => {
    const r = findOutages([ok(100, 'lb1', 'be1'), fail(110), ok(412.4, 'lb2', 'be2')]);
    expect(formatWindow(r.windows[0]!, 0)).toBe('outage 1: at 100 ms, 312 ms, 1 failed (timeout), lb1/be1 -> lb2/be2');
    expect(formatSummary(r)).toBe('3 attempts, 2 ok, 1 failed; 1 outage, longest 312 ms; served by lb1 -> lb2 (serving node changed); backends: be1 1, be2 1');
  });
});
