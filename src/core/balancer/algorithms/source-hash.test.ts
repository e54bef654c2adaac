import { describe, expect, it } from 'vitest';
import type { BackendSpec } from '../balancer.js';
import { createSourceHash, hash32 } from './source-hash.js';

const KEYS = 10_000;
const key = (i: number): string => `192.168.${(i >> 8) & 255}.${i & 255}`;
const five = (): BackendSpec[] => ['s1', 's2', 's3', 's4', 's5'].map((name) => ({ name, weight: 1 }));

function mapAll(pick: (k: string) => string | undefined): (string | undefined)[] {
  return Array.from({ length: KEYS }, (_, i) => pick(key(i)));
}

describe('source hash (consistent ring)', () => {
  it('hash32 is a stable 32-bit value', () => {
    expect(hash32('10.0.0.1')).toBe(hash32('10.0.0.1'));
    expect(hash32('10.0.0.1')).not.toBe(hash32('10.0.0.2'));
    for (const s of ['', 'a', '::1', 'ünïcödé']) {
      const h = hash32(s);
      expect(Number.isInteger(h) && h >= 0 && h < 2 ** 32).toBe(true);
    }
  });

  it('maps the same key to the same backend, across picks and instances', () => {
    const a = createSourceHash(five());
    const b = createSourceHash(five());
    const first = mapAll((k) => a.pick({ now: 0, key: k }));
    expect(mapAll((k) => a.pick({ now: 1, key: k }))).toEqual(first);
    expect(mapAll((k) => b.pick({ now: 2, key: k }))).toEqual(first);
  });

  it('does not depend on config order, so every node agrees', () => {
    const a = createSourceHash(five());
    const b = createSourceHash([...five()].reverse());
    expect(mapAll((k) => b.pick({ now: 0, key: k }))).toEqual(mapAll((k) => a.pick({ now: 0, key: k })));
  });

  it('spreads 10k keys evenly: each backend within 30% of the mean', () => {
    const b = createSourceHash(five());
    const counts = new Map<string, number>();
    for (const n of mapAll((k) => b.pick({ now: 0, key: k }))) counts.set(n ?? 'none', (counts.get(n ?? 'none') ?? 0) + 1);
    expect(counts.size).toBe(5);
    for (const c of counts.values()) {
      expect(c).toBeGreaterThan(KEYS / 5 * 0.7);
      expect(c).toBeLessThan(KEYS / 5 * 1.3);
    }
  });

  it('removing one of 5 moves only its own keys (< 25% of all), and they come back', () => {
    const b = createSourceHash(five());
    const before = mapAll((k) => b.pick({ now: 0, key: k }));
    b.onDown('s3');
    const during = mapAll((k) => b.pick({ now: 0, key: k }));
    let moved = 0;
    for (let i = 0; i < KEYS; i++) {
      if (before[i] !== during[i]) {
        moved += 1;
        expect(before[i]).toBe('s3');
      }
    }
    expect(during).not.toContain('s3');
    expect(moved).toBe(before.filter((n) => n === 's3').length);
    expect(moved / KEYS).toBeLessThan(0.25);
    // The orphaned keys spread over the survivors instead of all landing on one neighbour.
    const heirs = new Set(during.filter((_, i) => before[i] === 's3'));
    expect(heirs.size).toBe(4);
    b.onUp('s3');
    expect(mapAll((k) => b.pick({ now: 0, key: k }))).toEqual(before);
  });

  it('walks to the next distinct backend when the owner is avoided', () => {
    const b = createSourceHash(five());
    for (let i = 0; i < 200; i++) {
      const owner = b.pick({ now: 0, key: key(i) });
      expect(owner).toBeDefined();
      const retry = b.pick({ now: 0, key: key(i) }, new Set([owner ?? '']));
      expect(retry).toBeDefined();
      expect(retry).not.toBe(owner);
      // The retry target is also stable, and it is where the key goes if the owner dies.
      expect(b.pick({ now: 0, key: key(i) }, new Set([owner ?? '']))).toBe(retry);
    }
    const c = createSourceHash(five());
    const owner = c.pick({ now: 0, key: key(7) }) ?? '';
    const retry = c.pick({ now: 0, key: key(7) }, new Set([owner]));
    c.onDown(owner);
    expect(c.pick({ now: 0, key: key(7) })).toBe(retry);
  });

  it('gives weight 3 about three times the keys of weight 1', () => {
    const b = createSourceHash([{ name: 'big', weight: 3 }, { name: 'small', weight: 1 }]);
    const big = mapAll((k) => b.pick({ now: 0, key: k })).filter((n) => n === 'big').length;
    expect(big / KEYS).toBeGreaterThan(0.7);
    expect(big / KEYS).toBeLessThan(0.8);
  });

  it('a drained backend loses only its keys, and gets them back when undrained', () => {
    const b = createSourceHash(five());
    const before = mapAll((k) => b.pick({ now: 0, key: k }));
    b.onWeight('s2', 0);
    const during = mapAll((k) => b.pick({ now: 0, key: k }));
    for (let i = 0; i < KEYS; i++) if (before[i] !== 's2') expect(during[i]).toBe(before[i]);
    expect(during).not.toContain('s2');
    b.onWeight('s2', 1);
    expect(mapAll((k) => b.pick({ now: 0, key: k }))).toEqual(before);
  });

  it('returns undefined after meeting every backend on the ring refused', () => {
    const b = createSourceHash(five());
    for (const s of five()) b.onDown(s.name);
    expect(b.pick({ now: 0, key: 'x' })).toBeUndefined();
    b.onUp('s4');
    expect(b.pick({ now: 0, key: 'x' })).toBe('s4');
  });

  it('rotates when there is no key', () => {
    const b = createSourceHash(five());
    expect(Array.from({ length: 6 }, () => b.pick({ now: 0 }))).toEqual(['s1', 's2', 's3', 's4', 's5', 's1']);
    expect(b.pick({ now: 0, key: '' })).toBe('s2');
  });
});
