import { describe, it, expect } from 'vitest';
import { ClientConnectionLimiter } from './client-connections.js';

describe('ClientConnectionLimiter', () => {
  it('caps concurrent connections per address, independently', () => {
    const l = new ClientConnectionLimiter(2);
    expect(l.acquire('10.0.0.1')).toBe(true);
    expect(l.acquire('10.0.0.1')).toBe(true);
    expect(l.acquire('10.0.0.1')).toBe(false);
    expect(l.acquire('10.0.0.2')).toBe(true);
    expect(l.count('10.0.0.1')).toBe(2);
    expect(l.rejections).toBe(1);
    l.release('10.0.0.1');
    expect(l.acquire('10.0.0.1')).toBe(true);
  });

  it('never goes negative and forgets addresses at zero', () => {
    const l = new ClientConnectionLimiter(3);
    for (let i = 0; i < 1000; i++) expect(l.acquire(`10.0.${i >> 8}.${i & 255}`)).toBe(true);
    expect(l.trackedClients).toBe(1000);
    for (let i = 0; i < 1000; i++) l.release(`10.0.${i >> 8}.${i & 255}`);
    expect(l.trackedClients).toBe(0);
    l.release('10.0.0.1');
    l.release('never-seen');
    expect(l.count('10.0.0.1')).toBe(0);
    expect(l.trackedClients).toBe(0);
    // An extra release did not bank credit: the cap still holds.
    for (let i = 0; i < 3; i++) expect(l.acquire('10.0.0.1')).toBe(true);
    expect(l.acquire('10.0.0.1')).toBe(false);
  });

  it('0 means unlimited and tracks nothing', () => {
    const l = new ClientConnectionLimiter(0);
    for (let i = 0; i < 100; i++) expect(l.acquire('10.0.0.1')).toBe(true);
    expect(l.trackedClients).toBe(0);
    l.release('10.0.0.1');
    expect(l.trackedClients).toBe(0);
  });
});
