import { describe, expect, it } from 'vitest';
import { AgentClock, firstServedBy, outageBetween, percentile, spread, stableRun, type ProbeSample } from './failover-measure.js';

/** One attempt every 10 ms from `from`; `who(t)` says which node answered, or undefined for a failure. */
function samples(from: number, to: number, who: (t: number) => string | undefined): ProbeSample[] {
  const out: ProbeSample[] = [];
  for (let t = from; t <= to; t += 10) {
    const node = who(t);
    out.push(node === undefined ? { t, ok: false, error: 'timeout' } : { t, ok: true, node, backend: 'be1', ms: 1 });
  }
  return out;
}

describe('stableRun', () => {
  it('finds the first run through the node that spans the time asked for', () => {
    const s = samples(0, 1000, (t) => (t < 300 ? 'lb1' : t < 500 ? undefined : 'lb2'));
    expect(stableRun(s, 'lb2', 0, 300)).toEqual({ first: 500, last: 800 });
    expect(stableRun(s, 'lb1', 0, 200)).toEqual({ first: 0, last: 200 });
    expect(stableRun(s, 'lb1', 0, 300)).toBeUndefined();
  });

  it('a failure or an answer from another node in between starts the run over', () => {
    const s = samples(0, 1000, (t) => (t === 200 ? undefined : t === 400 ? 'lb1' : 'lb2'));
    expect(stableRun(s, 'lb2', 0, 300)).toEqual({ first: 410, last: 710 });
  });

  it('ignores attempts before `from` and reads attempts in start order, not arrival order', () => {
    const s = samples(0, 600, () => 'lb2').reverse();
    expect(stableRun(s, 'lb2', 250, 300)).toEqual({ first: 250, last: 550 });
  });
});

describe('firstServedBy', () => {
  it('is the earliest success through the node at or after `from`', () => {
    const s = samples(0, 500, (t) => (t < 200 ? 'lb1' : t < 300 ? undefined : 'lb2'));
    expect(firstServedBy(s, 'lb2', 0)?.t).toBe(300);
    expect(firstServedBy(s, 'lb1', 150)?.t).toBe(150);
    expect(firstServedBy(s, 'lb1', 200)).toBeUndefined();
  });
});

describe('outageBetween', () => {
  it('is the longest window in the span: last success before to first success after', () => {
    const s = samples(0, 2000, (t) => (t < 1000 ? 'lb1' : t < 1250 ? undefined : 'lb2'));
    const o = outageBetween(s, 800, 1600);
    expect(o.ms).toBe(260); // 990 (last lb1) -> 1250 (first lb2)
    expect(o.failures).toBe(25);
    expect(o.windows).toBe(1);
    expect(o.longest?.nodeBefore).toBe('lb1');
    expect(o.longest?.nodeAfter).toBe('lb2');
  });

  it('leaves out windows outside the span and is 0 without failures', () => {
    const s = samples(0, 2000, (t) => (t >= 100 && t < 500 ? undefined : 'lb1'));
    expect(outageBetween(s, 1000, 2000)).toEqual({ ms: 0, failures: 0, windows: 0 });
    expect(outageBetween(s, 0, 2000).ms).toBe(410);
  });

  it('a span that ends still failing measures up to its last failure', () => {
    const s = samples(0, 1000, (t) => (t < 500 ? 'lb1' : undefined));
    const o = outageBetween(s, 300, 1000);
    expect(o.ms).toBe(510);
    expect(o.longest?.ongoing).toBe(true);
  });
});

describe('AgentClock', () => {
  it('keeps the smallest arrival - t - ms seen and maps local time with it', () => {
    const c = new AgentClock();
    expect(c.at(1000)).toBeUndefined();
    c.observe({ t: 0, ok: true, ms: 2 }, 1010); // offset 1008
    c.observe({ t: 10, ok: true, ms: 2 }, 1015); // offset 1003: less delay in the pipe
    c.observe({ t: 20, ok: true, ms: 1 }, 1040); // offset 1019: ignored
    expect(c.at(1103)).toBe(100);
  });
});

describe('spread and percentile', () => {
  it('min, median, nearest-rank p95 and max', () => {
    const values = Array.from({ length: 20 }, (_, i) => (i + 1) * 10);
    expect(spread(values)).toEqual({ n: 20, min: 10, median: 105, p95: 190, max: 200 });
    expect(spread([5])).toEqual({ n: 1, min: 5, median: 5, p95: 5, max: 5 });
    expect(spread([])).toBeUndefined();
    expect(percentile([1, 2, 3], 95)).toBe(3);
    expect(percentile([1, 2, 3], 0)).toBe(1);
  });
});
