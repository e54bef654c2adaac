import { describe, expect, it } from 'vitest';
import { advertGaps, missingRuns, type AdvertArrival } from './advert-recorder.js';

const a = (at: number, seq: number, node = 'lb1'): AdvertArrival => ({ at, seq, node, priority: 150 });

describe('advertGaps', () => {
  it('tells dropped adverts (sequence gap) from late ones (time gap only)', () => {
    const gaps = advertGaps([a(0, 1), a(50, 2), a(200, 5), a(310, 6)], 'lb1');
    expect(gaps).toEqual([
      { at: 50, ms: 50, missing: 0 },
      { at: 200, ms: 150, missing: 2 },
      { at: 310, ms: 110, missing: 0 },
    ]);
  });

  it('only looks at the named sender, in arrival order, and skips a restart (sequence going back)', () => {
    const gaps = advertGaps([a(100, 3), a(0, 1), a(60, 900, 'lb2'), a(50, 2), a(150, 1)], 'lb1');
    expect(gaps).toEqual([
      { at: 50, ms: 50, missing: 0 },
      { at: 100, ms: 50, missing: 0 },
    ]);
  });
});

describe('missingRuns', () => {
  it('counts runs of consecutive losses, the last bucket holding the longer ones', () => {
    const gaps = [1, 0, 2, 1, 3, 5].map((missing, i) => ({ at: i, ms: 50, missing }));
    expect(missingRuns(gaps, 3)).toBe('1:2 2:1 3+:2');
  });
});
