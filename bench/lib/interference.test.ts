import { describe, it, expect } from 'vitest';
import { foreignPercent, parseCoreLine, parseProcessTicks } from './interference.js';

describe('parseCoreLine', () => {
  const stat = 'cpu  10 0 10 100 0 0 0 0 0 0\ncpu0 5 1 4 50 2 0 3 0 0 0\ncpu1 5 0 6 50 0 0 0 0 0 0\n';
  it('takes user+nice+system as busy and every column as total', () => {
    expect(parseCoreLine(stat, 0)).toEqual({ busy: 10, total: 65 });
    expect(parseCoreLine(stat, 1)).toEqual({ busy: 11, total: 61 });
  });
  it('says nothing for a core that is not there', () => {
    expect(parseCoreLine(stat, 2)).toBeUndefined();
  });
});

describe('parseProcessTicks', () => {
  it('adds utime and stime, even when the name has spaces and parentheses', () => {
    const line = '1234 (node (x) y) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 70 0 0 20 0 11 0 5 0 0';
    expect(parseProcessTicks(line)).toBe(320);
  });
});

describe('foreignPercent', () => {
  it('is the busy time of the core not spent in our processes', () => {
    expect(foreignPercent({ busy: 0, total: 0, ours: 0 }, { busy: 900, total: 1000, ours: 800 })).toBe(10);
  });
  it('never goes below zero when our processes were counted on other cores too', () => {
    expect(foreignPercent({ busy: 0, total: 0, ours: 0 }, { busy: 100, total: 1000, ours: 150 })).toBe(0);
  });
});
