import { describe, expect, it } from 'vitest';
import { createWeightedRoundRobin } from './weighted-round-robin.js';

const at = { now: 0 };

describe('smooth weighted round robin', () => {
  it('interleaves weights 5,1,1 as a a b a c a a instead of a burst', () => {
    const b = createWeightedRoundRobin([{ name: 'a', weight: 5 }, { name: 'b', weight: 1 }, { name: 'c', weight: 1 }]);
    const seq = Array.from({ length: 14 }, () => b.pick(at)).join('');
    expect(seq).toBe('aabacaa'.repeat(2));
    // Within a cycle a never runs more than twice; a bursty scheduler would run it 5 times.
    expect(seq.slice(0, 7)).not.toContain('aaa');
  });

  it('gives exact proportions over 7000 picks', () => {
    const b = createWeightedRoundRobin([{ name: 'a', weight: 5 }, { name: 'b', weight: 1 }, { name: 'c', weight: 1 }]);
    const counts: Record<string, number> = {};
    for (let i = 0; i < 7000; i++) {
      const n = b.pick(at) ?? 'none';
      counts[n] = (counts[n] ?? 0) + 1;
    }
    expect(counts).toEqual({ a: 5000, b: 1000, c: 1000 });
  });

  it('never picks any backend more than twice in a row with weights 2,1,1', () => {
    const b = createWeightedRoundRobin([{ name: 'a', weight: 2 }, { name: 'b', weight: 1 }, { name: 'c', weight: 1 }]);
    const seq = Array.from({ length: 400 }, () => b.pick(at)).join('');
    expect(seq).not.toMatch(/(.)\1\1/);
  });

  it('follows weight changes with exact shares from the next cycle', () => {
    const b = createWeightedRoundRobin([{ name: 'a', weight: 1 }, { name: 'b', weight: 1 }]);
    b.pick(at);
    b.onWeight('b', 3);
    const counts: Record<string, number> = {};
    for (let i = 0; i < 400; i++) {
      const n = b.pick(at) ?? 'none';
      counts[n] = (counts[n] ?? 0) + 1;
    }
    expect(counts).toEqual({ a: 100, b: 300 });
  });

  it('keeps exact shares among the rest while one backend is down', () => {
    const b = createWeightedRoundRobin([{ name: 'a', weight: 3 }, { name: 'b', weight: 2 }, { name: 'c', weight: 1 }]);
    b.onDown('b');
    const counts: Record<string, number> = {};
    for (let i = 0; i < 400; i++) {
      const n = b.pick(at) ?? 'none';
      counts[n] = (counts[n] ?? 0) + 1;
    }
    expect(counts).toEqual({ a: 300, c: 100 });
  });
});
