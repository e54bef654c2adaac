import { describe, expect, it } from 'vitest';
import { budgetMs, median, waitUntil } from './util.js';
import type { ScenarioOptions } from '../types.js';

const opts = (form: 'short' | 'long', minutes: number): ScenarioOptions => ({
  labName: 'x',
  seed: 1,
  form,
  minutes,
  log: { event: () => undefined },
  signal: new AbortController().signal,
});

describe('scenario helpers', () => {
  it('median of odd and even lists, undefined for none', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeUndefined();
  });

  it('budget: the short form its fixed length, the long form its minutes up to the cap', () => {
    expect(budgetMs(opts('short', 30), 50_000, 300_000)).toBe(50_000);
    expect(budgetMs(opts('long', 2), 50_000, 300_000)).toBe(120_000);
    expect(budgetMs(opts('long', 30), 50_000, 300_000)).toBe(300_000);
    expect(budgetMs(opts('long', 0), 50_000)).toBe(300_000);
  });

  it('waitUntil gives up after its bound and reports false', async () => {
    let polls = 0;
    const t0 = Date.now();
    const ok = await waitUntil(() => (polls++, false), 100, 20);
    expect(ok).toBe(false);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(90);
    expect(polls).toBeLessThanOrEqual(8);
    expect(await waitUntil(() => polls++ > 9, 1000, 1)).toBe(true);
  });
});
