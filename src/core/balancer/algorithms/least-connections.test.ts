import { describe, expect, it } from 'vitest';
import { createLeastConnections } from './least-connections.js';

const at = { now: 0 };

describe('weighted least connections', () => {
  it('prefers the backend with fewer active connections', () => {
    const b = createLeastConnections([{ name: 'a', weight: 1 }, { name: 'b', weight: 1 }, { name: 'c', weight: 1 }]);
    b.onConnStart('a');
    b.onConnStart('a');
    b.onConnStart('b');
    expect(b.pick(at)).toBe('c');
    b.onConnStart('c');
    b.onConnStart('c');
    expect(b.pick(at)).toBe('b');
    b.onConnEnd('a');
    b.onConnEnd('a');
    expect(b.pick(at)).toBe('a');
  });

  it('weighs active counts: weight 3 with 1 active beats weight 1 with none', () => {
    const b = createLeastConnections([{ name: 'light', weight: 1 }, { name: 'heavy', weight: 3 }]);
    b.onConnStart('heavy');
    // heavy: (1+1)/3 = 0.67 < light: (0+1)/1 = 1
    expect(b.pick(at)).toBe('heavy');
    b.onConnStart('heavy');
    b.onConnStart('heavy');
    // heavy: (3+1)/3 = 1.33 > light: 1
    expect(b.pick(at)).toBe('light');
  });

  it('holds connections in proportion to weight when every pick stays open', () => {
    const b = createLeastConnections([{ name: 'a', weight: 1 }, { name: 'b', weight: 3 }]);
    const counts: Record<string, number> = {};
    for (let i = 0; i < 400; i++) {
      const n = b.pick(at);
      if (n === undefined) throw new Error('no pick');
      b.onConnStart(n);
      counts[n] = (counts[n] ?? 0) + 1;
    }
    expect(counts).toEqual({ a: 100, b: 300 });
  });

  it('rotates among ties so idle equal backends share evenly', () => {
    const b = createLeastConnections([{ name: 'a', weight: 1 }, { name: 'b', weight: 1 }, { name: 'c', weight: 1 }]);
    expect(Array.from({ length: 6 }, () => b.pick(at))).toEqual(['a', 'b', 'c', 'a', 'b', 'c']);
  });

  it('does not let unmatched ends make a backend look emptier than idle', () => {
    const b = createLeastConnections([{ name: 'a', weight: 1 }, { name: 'b', weight: 1 }]);
    for (let i = 0; i < 5; i++) b.onConnEnd('a');
    b.onConnStart('a');
    expect(b.pick(at)).toBe('b');
  });

  it('keeps counts across down and up, since those connections are still open', () => {
    const b = createLeastConnections([{ name: 'a', weight: 1 }, { name: 'b', weight: 1 }]);
    b.onConnStart('a');
    b.onConnStart('a');
    b.onDown('a');
    b.onUp('a');
    b.onConnStart('b');
    expect(b.pick(at)).toBe('b');
  });
});
