import { describe, expect, it } from 'vitest';
import { createBandwidth } from './bandwidth.js';

const two = [
  { name: 'a', weight: 1 },
  { name: 'b', weight: 1 },
];

describe('least bandwidth', () => {
  it('prefers the backend moving the fewest bytes per second', () => {
    const b = createBandwidth([...two, { name: 'c', weight: 1 }]);
    b.onBytes('a', 5000, 0);
    b.onBytes('b', 1000, 0);
    b.onBytes('c', 3000, 0);
    expect(b.pick({ now: 500 })).toBe('b');
    b.onBytes('b', 4000, 600);
    expect(b.pick({ now: 700 })).toBe('c');
  });

  it('reports bytes per second over the 10 s window', () => {
    const b = createBandwidth(two);
    b.onBytes('a', 10_000, 0);
    b.onBytes('a', 10_000, 4_500);
    expect(b.rate('a', 5_000)).toBe(2_000);
    expect(b.rate('b', 5_000)).toBe(0);
    expect(b.rate('ghost', 5_000)).toBeUndefined();
  });

  it('forgets buckets that slid out of the window', () => {
    const b = createBandwidth(two);
    b.onBytes('a', 1_000_000, 0);
    b.onBytes('b', 10, 9_000);
    expect(b.pick({ now: 9_500 })).toBe('b');
    expect(b.rate('a', 9_999)).toBe(100_000);
    // At 10 s the bucket [0, 1 s) has left the window: a is idle now, b still has 10 bytes.
    expect(b.rate('a', 10_000)).toBe(0);
    expect(b.pick({ now: 10_000 })).toBe('a');
  });

  it('reuses a bucket slot for a new second without keeping the old bytes', () => {
    const b = createBandwidth(two, { windowMs: 3_000, bucketMs: 1_000 });
    b.onBytes('a', 900, 100);
    b.onBytes('a', 30, 3_100); // same slot as t=100, three buckets later
    expect(b.rate('a', 3_200)).toBe(10);
  });

  it('divides by weight', () => {
    const b = createBandwidth([{ name: 'a', weight: 4 }, { name: 'b', weight: 1 }]);
    b.onBytes('a', 3000, 0);
    b.onBytes('b', 1000, 0);
    // a: 3000/4 = 750 < b: 1000
    expect(b.pick({ now: 1 })).toBe('a');
  });

  it('rotates among ties', () => {
    const b = createBandwidth([...two, { name: 'c', weight: 1 }]);
    expect(Array.from({ length: 6 }, () => b.pick({ now: 0 }))).toEqual(['a', 'b', 'c', 'a', 'b', 'c']);
  });

  it('ignores reports older than what a slot already holds', () => {
    const b = createBandwidth(two, { windowMs: 2_000, bucketMs: 1_000 });
    b.onBytes('a', 100, 2_500);
    b.onBytes('a', 1e9, 500); // slot 0 holds second 2: this late report is outside the window
    expect(b.rate('a', 2_600)).toBe(50);
  });
});
