import { describe, it, expect } from 'vitest';
import { Hysteresis } from './hysteresis.js';

/** Feed a sequence and return the indexes (0-based) at which the state changed. */
function changes(h: Hysteresis, seq: boolean[]): number[] {
  const at: number[] = [];
  seq.forEach((ok, i) => {
    if (h.record(ok)) at.push(i);
  });
  return at;
}

describe('Hysteresis', () => {
  it('starts up with the counter at max by default', () => {
    const h = new Hysteresis({ rise: 2, fall: 3 });
    expect(h.up).toBe(true);
    expect(h.max).toBe(4);
    expect(h.counter).toBe(4);
    expect(h.progress()).toBe('3/3');
  });

  it('can start down with the counter at 0', () => {
    const h = new Hysteresis({ rise: 2, fall: 3, startUp: false });
    expect(h.up).toBe(false);
    expect(h.counter).toBe(0);
    expect(h.progress()).toBe('0/2');
  });

  it('rise=2 fall=3: an up backend goes down on exactly the 3rd failure', () => {
    const h = new Hysteresis({ rise: 2, fall: 3 });
    expect(h.record(false)).toBe(false);
    expect(h.up).toBe(true);
    expect(h.progress()).toBe('2/3');
    expect(h.record(false)).toBe(false);
    expect(h.up).toBe(true);
    expect(h.record(false)).toBe(true);
    expect(h.up).toBe(false);
    expect(h.counter).toBe(0);
    expect(h.progress()).toBe('0/2');
    // further failures change nothing
    expect(h.record(false)).toBe(false);
    expect(h.counter).toBe(0);
  });

  it('rise=2 fall=3: a down backend comes up on exactly the 2nd success', () => {
    const h = new Hysteresis({ rise: 2, fall: 3, startUp: false });
    expect(h.record(true)).toBe(false);
    expect(h.up).toBe(false);
    expect(h.progress()).toBe('1/2');
    expect(h.record(true)).toBe(true);
    expect(h.up).toBe(true);
    expect(h.counter).toBe(4);
    // further successes change nothing, the counter stays capped
    expect(h.record(true)).toBe(false);
    expect(h.counter).toBe(4);
  });

  it('a backend that just went down needs rise successes, not one', () => {
    const h = new Hysteresis({ rise: 2, fall: 3 });
    expect(changes(h, [false, false, false])).toEqual([2]);
    expect(h.record(true)).toBe(false);
    expect(h.up).toBe(false);
    expect(h.record(true)).toBe(true);
    expect(h.up).toBe(true);
  });

  it('a backend that just came up needs fall failures, not one', () => {
    const h = new Hysteresis({ rise: 2, fall: 3, startUp: false });
    expect(changes(h, [true, true])).toEqual([1]);
    expect(changes(h, [false, false])).toEqual([]);
    expect(h.up).toBe(true);
    expect(changes(h, [false])).toEqual([0]);
    expect(h.up).toBe(false);
  });

  it('alternating results do not flap an up backend', () => {
    const h = new Hysteresis({ rise: 2, fall: 3 });
    const flapping = Array.from({ length: 40 }, (_, i) => i % 2 === 0 ? false : true);
    expect(changes(h, flapping)).toEqual([]);
    expect(h.up).toBe(true);
  });

  it('alternating results do not flap a down backend', () => {
    const h = new Hysteresis({ rise: 2, fall: 3, startUp: false });
    const flapping = Array.from({ length: 40 }, (_, i) => i % 2 === 0);
    expect(changes(h, flapping)).toEqual([]);
    expect(h.up).toBe(false);
  });

  it('failures net of successes count: ok,fail pairs interleaved with extra failures', () => {
    const h = new Hysteresis({ rise: 2, fall: 3 });
    // net: -1, 0, -1, -2, -1, -2, -3 -> down at the last one
    expect(changes(h, [false, true, false, false, true, false, false])).toEqual([6]);
  });

  it('rise=1 fall=1 follows every result', () => {
    const h = new Hysteresis({ rise: 1, fall: 1 });
    expect(changes(h, [false, true, false, true])).toEqual([0, 1, 2, 3]);
  });

  it('rejects rise or fall below 1', () => {
    expect(() => new Hysteresis({ rise: 0, fall: 3 })).toThrow(RangeError);
    expect(() => new Hysteresis({ rise: 2, fall: 0 })).toThrow(RangeError);
    expect(() => new Hysteresis({ rise: 1.5, fall: 2 })).toThrow(RangeError);
  });
});
