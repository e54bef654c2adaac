import { describe, it, expect } from 'vitest';
import { RateLimiter } from './rate-limiter.js';

function allowed(l: RateLimiter, ip: string, now: number, n: number): number {
  let ok = 0;
  for (let i = 0; i < n; i++) if (l.allow(ip, now)) ok++;
  return ok;
}

describe('RateLimiter', () => {
  it('allows a burst of `rate`, then refills at `rate` per second', () => {
    const l = new RateLimiter({ ratePerSecond: 10 });
    expect(allowed(l, 'a', 0, 25)).toBe(10);
    expect(l.rejections).toBe(15);
    expect(allowed(l, 'a', 100, 5)).toBe(1); // 100 ms = 1 token
    expect(allowed(l, 'a', 550, 10)).toBe(4); // 450 ms = 4.5 tokens
    expect(allowed(l, 'a', 5000, 50)).toBe(10); // never more than the burst
  });

  it('holds a steady rate over time', () => {
    const l = new RateLimiter({ ratePerSecond: 5 });
    let ok = 0;
    // A client asking every 10 ms for 10 s: the burst of 5 is spent by t=40, then
    // (9990 - 40) ms x 5/s = 49.75 tokens refill, so 49 more.
    for (let now = 0; now < 10_000; now += 10) if (l.allow('a', now)) ok++;
    expect(ok).toBe(54);
  });

  it('keeps clients apart and honours a separate burst', () => {
    const l = new RateLimiter({ ratePerSecond: 1, burst: 3 });
    expect(allowed(l, 'a', 0, 5)).toBe(3);
    expect(allowed(l, 'b', 0, 5)).toBe(3);
    expect(allowed(l, 'a', 999, 1)).toBe(0);
    expect(allowed(l, 'a', 1000, 1)).toBe(1);
  });

  it('a clock stepping back neither refills nor breaks the bucket', () => {
    const l = new RateLimiter({ ratePerSecond: 2 });
    expect(allowed(l, 'a', 10_000, 3)).toBe(2);
    expect(allowed(l, 'a', 5_000, 3)).toBe(0);
    expect(allowed(l, 'a', 10_500, 3)).toBe(1);
  });

  it('prune(now) forgets only buckets that are full again, and memory returns to 0', () => {
    const l = new RateLimiter({ ratePerSecond: 10 });
    for (let i = 0; i < 500; i++) l.allow(`c${i}`, i);
    expect(l.trackedClients).toBe(500);
    expect(l.prune(1000)).toBe(1); // only c0 has been idle for a full second
    expect(l.prune(1250)).toBe(250);
    l.allow('c300', 1250); // used again: kept
    expect(l.prune(1499)).toBe(248);
    expect(l.trackedClients).toBe(1);
    expect(l.prune(2250)).toBe(1);
    expect(l.trackedClients).toBe(0);
  });

  it('caps tracked clients, evicting the least recently used', () => {
    const l = new RateLimiter({ ratePerSecond: 1, maxClients: 3 });
    l.allow('a', 0);
    l.allow('b', 0);
    l.allow('c', 0);
    l.allow('a', 10); // a is now the most recent; b is the oldest
    l.allow('d', 20);
    expect(l.trackedClients).toBe(3);
    expect(l.evictions).toBe(1);
    // a kept its (empty) bucket; b was forgotten and gets a fresh one.
    expect(l.allow('a', 20)).toBe(false);
    expect(l.allow('b', 20)).toBe(true);
  });

  it('at the cap, an idle full bucket is reclaimed before a live one is evicted', () => {
    const l = new RateLimiter({ ratePerSecond: 1, maxClients: 2 });
    l.allow('idle', 0);
    l.allow('busy', 1500);
    l.allow('new', 1500);
    expect(l.evictions).toBe(0);
    expect(l.trackedClients).toBe(2);
    expect(l.allow('busy', 1500)).toBe(false);
  });

  it('0 means unlimited and tracks nothing', () => {
    const l = new RateLimiter({ ratePerSecond: 0 });
    expect(allowed(l, 'a', 0, 1000)).toBe(1000);
    expect(l.trackedClients).toBe(0);
  });
});
