import { describe, expect, it } from 'vitest';
import { createRoundRobin } from './round-robin.js';

const at = { now: 0 };

describe('round robin', () => {
  it('rotates in config order, ignoring weights above zero', () => {
    const b = createRoundRobin([{ name: 'a', weight: 5 }, { name: 'b', weight: 1 }, { name: 'c', weight: 1 }]);
    expect(Array.from({ length: 7 }, () => b.pick(at))).toEqual(['a', 'b', 'c', 'a', 'b', 'c', 'a']);
  });

  it('skips a down backend without giving its turn to one neighbour twice in a row', () => {
    const b = createRoundRobin([{ name: 'a', weight: 1 }, { name: 'b', weight: 1 }, { name: 'c', weight: 1 }]);
    b.onDown('b');
    expect(Array.from({ length: 6 }, () => b.pick(at))).toEqual(['a', 'c', 'a', 'c', 'a', 'c']);
  });

  it('a retry with avoid takes the next backend and the rotation carries on from there', () => {
    const b = createRoundRobin([{ name: 'a', weight: 1 }, { name: 'b', weight: 1 }, { name: 'c', weight: 1 }]);
    expect(b.pick(at)).toBe('a');
    expect(b.pick(at, new Set(['b']))).toBe('c');
    expect(b.pick(at)).toBe('a');
  });
});
