import { describe, it, expect } from 'vitest';
import { RateWindow } from './rate-window.js';

describe('RateWindow', () => {
  it('reads a steady stream as steady, at bucket edges and mid-bucket', () => {
    const w = new RateWindow(); // 10 x 1 s
    // 20 events per second, spread evenly (every 50 ms), for 12 s.
    for (let now = 0; now < 12_000; now += 50) w.add(1, now);
    expect(w.rate(12_000)).toBeCloseTo(20, 6);
    w.add(0, 12_500);
    for (let now = 12_000; now < 12_500; now += 50) w.add(1, now);
    expect(w.rate(12_500)).toBeCloseTo(20, 6);
  });

  it('counts amounts, not calls', () => {
    const w = new RateWindow({ buckets: 5, bucketMs: 1000 });
    w.add(1500, 0);
    w.add(500, 3000);
    // 2000 over 4 full buckets + 0 ms of the current one = 4 s.
    expect(w.rate(4000)).toBeCloseTo(500, 6);
  });

  it('ages out: events leave the window bucket by bucket', () => {
    const w = new RateWindow({ buckets: 10, bucketMs: 1000 });
    w.add(90, 0); // bucket 0
    w.add(90, 5000); // bucket 5
    expect(w.rate(9000)).toBeCloseTo(20, 6); // 180 over 9 s
    expect(w.rate(10_000)).toBeCloseTo(10, 6); // bucket 0 dropped: 90 over 9 s
    expect(w.rate(14_999)).toBeCloseTo(90 / 9.999, 6);
    expect(w.rate(15_000)).toBe(0);
  });

  it('a long silence clears everything at once', () => {
    const w = new RateWindow();
    for (let s = 0; s < 10; s++) w.add(5, s * 1000);
    expect(w.rate(1_000_000_000)).toBe(0);
    w.add(9, 1_000_000_000);
    expect(w.rate(1_000_000_000)).toBeCloseTo(1, 6); // 9 over 9 s
  });

  it('time stepping back counts into the current bucket', () => {
    const w = new RateWindow({ buckets: 2, bucketMs: 1000 });
    w.add(1, 5000);
    w.add(1, 3000);
    expect(w.rate(5000)).toBeCloseTo(2, 6); // 2 over 1 s
  });

  it('is zero before anything happened', () => {
    expect(new RateWindow().rate(123)).toBe(0);
  });
});
