import { describe, expect, it } from 'vitest';
import { isHaloError } from '../../errors.js';
import { createFastestResponse } from './fastest-response.js';

const three = [
  { name: 'a', weight: 1 },
  { name: 'b', weight: 1 },
  { name: 'c', weight: 1 },
];

describe('fastest response', () => {
  it('keeps an EWMA with alpha 0.3 by default, the first sample setting it', () => {
    const b = createFastestResponse(three);
    expect(b.ewma('a')).toBeUndefined();
    b.onSample('a', 100, 0);
    expect(b.ewma('a')).toBe(100);
    b.onSample('a', 0, 1);
    expect(b.ewma('a')).toBeCloseTo(70, 10);
    const fast = createFastestResponse(three, { alpha: 1 });
    fast.onSample('a', 100, 0);
    fast.onSample('a', 20, 1);
    expect(fast.ewma('a')).toBe(20);
  });

  it('prefers the backend with the lowest EWMA', () => {
    const b = createFastestResponse(three);
    b.onSample('a', 50, 0);
    b.onSample('b', 10, 0);
    b.onSample('c', 30, 0);
    expect(b.pick({ now: 10 })).toBe('b');
    expect(b.pick({ now: 10 }, new Set(['b']))).toBe('c');
  });

  it('probes an unsampled backend first, then waits for its sample instead of piling on', () => {
    const b = createFastestResponse(three);
    b.onSample('a', 50, 0);
    b.onSample('b', 10, 0);
    expect(b.pick({ now: 10 })).toBe('c');
    // c's probe is in flight: it is scored with the mean of the others (30), behind b (10).
    expect(b.pick({ now: 11 })).toBe('b');
    b.onSample('c', 5, 12);
    expect(b.pick({ now: 13 })).toBe('c');
  });

  it('probes again when a probe brings no sample within probeRetryMs', () => {
    const b = createFastestResponse(three, { probeRetryMs: 500 });
    b.onSample('a', 10, 0);
    b.onSample('b', 10, 0);
    expect(b.pick({ now: 0 })).toBe('c');
    b.onSample('a', 10, 100);
    b.onSample('b', 10, 100);
    expect(b.pick({ now: 100 })).not.toBe('c');
    expect(b.pick({ now: 600 })).toBe('c');
  });

  it('gives every backend a sample before settling, when none has one', () => {
    const b = createFastestResponse(three);
    const first = [b.pick({ now: 0 }), b.pick({ now: 0 }), b.pick({ now: 0 })];
    expect(new Set(first)).toEqual(new Set(['a', 'b', 'c']));
  });

  it('re-measures a backend whose only sample went stale instead of starving it', () => {
    const b = createFastestResponse(three, { staleAfterMs: 1000 });
    b.onSample('a', 500, 0);
    b.onSample('b', 10, 0);
    b.onSample('c', 10, 0);
    expect(b.pick({ now: 100 })).not.toBe('a');
    b.onSample('b', 10, 900);
    b.onSample('c', 10, 900);
    expect(b.pick({ now: 1200 })).toBe('a');
    // The fresh sample replaces the stale average rather than being blended into it.
    b.onSample('a', 8, 1300);
    expect(b.ewma('a')).toBe(8);
    expect(b.pick({ now: 1400 })).toBe('a');
  });

  it('forgets its measurement when a backend comes back from down', () => {
    const b = createFastestResponse(three);
    for (const n of ['a', 'b', 'c']) b.onSample(n, n === 'c' ? 900 : 10, 0);
    b.onDown('c');
    b.onUp('c');
    expect(b.ewma('c')).toBeUndefined();
    expect(b.pick({ now: 10 })).toBe('c');
  });

  it('spreads concurrent connections in inverse proportion to EWMA instead of herding', () => {
    const b = createFastestResponse([{ name: 'fast', weight: 1 }, { name: 'slow', weight: 1 }]);
    b.onSample('fast', 10, 0);
    b.onSample('slow', 20, 0);
    const counts: Record<string, number> = {};
    for (let i = 0; i < 30; i++) {
      const n = b.pick({ now: 1 });
      if (n === undefined) throw new Error('no pick');
      b.onConnStart(n);
      counts[n] = (counts[n] ?? 0) + 1;
    }
    // 10 * (k + 1) vs 20 * (m + 1): the fast one holds about twice as many.
    expect(counts).toEqual({ fast: 20, slow: 10 });
  });

  it('lets weight tilt the choice', () => {
    const b = createFastestResponse([{ name: 'a', weight: 1 }, { name: 'b', weight: 4 }]);
    b.onSample('a', 10, 0);
    b.onSample('b', 30, 0);
    // a: 10/1 = 10, b: 30/4 = 7.5
    expect(b.pick({ now: 1 })).toBe('b');
  });

  it('rotates between backends with identical scores', () => {
    const b = createFastestResponse(three);
    for (const n of ['a', 'b', 'c']) b.onSample(n, 10, 0);
    expect(Array.from({ length: 6 }, () => b.pick({ now: 1 }))).toEqual(['a', 'b', 'c', 'a', 'b', 'c']);
  });

  it('refuses an alpha outside (0, 1]', () => {
    for (const alpha of [0, -0.1, 1.5, Number.NaN]) {
      let caught: unknown;
      try {
        createFastestResponse(three, { alpha });
      } catch (err) {
        caught = err;
      }
      expect(isHaloError(caught) && caught.code === 'HALO_ERR_CONFIG_INVALID').toBe(true);
    }
  });
});
