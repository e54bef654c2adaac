import { describe, it, expect } from 'vitest';
import { DEFAULT_DOWN_ADVERTS, RFC_SKEW_REFERENCE, masterDownInterval, skewTime } from './timers.js';

describe('RFC 5798 6.1 timers', () => {
  it('6.1: Skew_Time = ((256 - priority) x interval) / 256', () => {
    expect(skewTime(100, 100)).toBe(60.9375);
    expect(skewTime(150, 100)).toBe(41.40625);
    expect(skewTime(254, 1000)).toBe(7.8125);
    expect(skewTime(1, 1000)).toBe(996.09375);
  });

  it('6.1: priority 255 (the address owner) skews by interval/256', () => {
    expect(skewTime(255, 256)).toBe(1);
  });

  it('6.1: Master_Down_Interval = 3 x interval + Skew_Time by default', () => {
    expect(DEFAULT_DOWN_ADVERTS).toBe(3);
    expect(masterDownInterval(100, 100)).toBe(300 + 60.9375);
    expect(masterDownInterval(100, 1000)).toBe(3000 + 609.375);
  });

  it('6.1: down_adverts is configurable (halo extension)', () => {
    expect(masterDownInterval(100, 100, 1)).toBe(100 + 60.9375);
    expect(masterDownInterval(100, 100, 5)).toBe(500 + 60.9375);
  });

  it('6.1: a higher priority always has the shorter Master_Down_Interval', () => {
    for (let p = 1; p < 255; p++) {
      expect(masterDownInterval(p + 1, 100)).toBeLessThan(masterDownInterval(p, 100));
    }
  });

  it('6.1: sub-second and fractional intervals are allowed', () => {
    expect(skewTime(128, 50)).toBe(25);
    expect(masterDownInterval(128, 12.5)).toBe(37.5 + 6.25);
  });

  it('6.1: rejects priority 0 (only ever sent, never a local priority), 256 and non-integers', () => {
    for (const p of [0, -1, 256, 1.5, Number.NaN]) {
      expect(() => skewTime(p, 100)).toThrow(RangeError);
      expect(() => masterDownInterval(p, 100)).toThrow(RangeError);
    }
  });

  it('6.1: rejects intervals that are not finite and positive', () => {
    for (const i of [0, -100, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => skewTime(100, i)).toThrow(RangeError);
      expect(() => masterDownInterval(100, i)).toThrow(RangeError);
    }
  });

  it('6.1: rejects down_adverts below 1 or not an integer', () => {
    for (const d of [0, -3, 2.5, Number.NaN]) {
      expect(() => masterDownInterval(100, 100, d)).toThrow(RangeError);
    }
  });

  it('6.1 + relative skew (halo): measured from a reference, the gap between two priorities is the RFC one', () => {
    expect(RFC_SKEW_REFERENCE).toBe(256);
    expect(skewTime(100, 100, 256)).toBe(skewTime(100, 100));
    expect(skewTime(100, 100, 150)).toBe(19.53125);
    expect(masterDownInterval(100, 100, 3, 150)).toBe(300 + 19.53125);
    for (const ref of [1, 100, 150, 200, 255, 256]) {
      for (let p = 1; p < Math.min(ref, 255); p++) {
        // What orders backups is the difference of their skews: the same whatever the reference.
        expect(skewTime(p, 100, ref) - skewTime(p + 1, 100, ref)).toBeCloseTo(skewTime(p, 100) - skewTime(p + 1, 100), 12);
      }
    }
  });

  it('6.1 + relative skew (halo): at or above the reference no skew is waited; bad references are rejected', () => {
    expect(skewTime(150, 100, 150)).toBe(0);
    expect(skewTime(200, 100, 150)).toBe(0);
    expect(masterDownInterval(200, 40, 5, 150)).toBe(200);
    for (const r of [0, 257, 100.5, Number.NaN]) {
      expect(() => skewTime(100, 100, r)).toThrow(/skew reference must be an integer from 1 to 256/);
    }
  });
});
