import { describe, expect, it } from 'vitest';
import type { ShownLine } from './logs-text.js';
import { ReorderWindow } from './reorder-window.js';

const line = (node: string, at: number, seq = 0): ShownLine => ({ node, at, boot: 1, seq, entry: {} });
const names = (ls: ShownLine[]) => ls.map((l) => `${l.node}@${l.at}`);

describe('ReorderWindow', () => {
  it('holds each line windowMs after it arrived and lets lines out in time-stamp order', () => {
    const w = new ReorderWindow(300);
    // lb2's own line arrives first; lb1's earlier line comes 150 ms later through the relay
    w.push(line('lb2', 1100), 1000);
    w.push(line('lb1', 1050), 1150);
    expect(w.drain(1299)).toEqual([]);
    // lb1's line is oldest but not yet due: it holds lb2's back
    expect(w.drain(1300)).toEqual([]);
    expect(names(w.drain(1450))).toEqual(['lb1@1050', 'lb2@1100']);
    expect(w.size).toBe(0);
    expect(w.nextDue()).toBeUndefined();
  });

  it('prints a line that arrives too late anyway (out of order), never drops it', () => {
    const w = new ReorderWindow(100);
    w.push(line('lb2', 500), 500);
    expect(names(w.drain(600))).toEqual(['lb2@500']);
    w.push(line('lb1', 400), 700);
    expect(names(w.drain(800))).toEqual(['lb1@400']);
  });

  it('orders equal times by node, then by sequence', () => {
    const w = new ReorderWindow(0);
    w.push(line('lb2', 5, 2), 0);
    w.push(line('lb2', 5, 1), 0);
    w.push(line('lb1', 5, 9), 0);
    expect(w.drain(0).map((l) => `${l.node}/${l.seq}`)).toEqual(['lb1/9', 'lb2/1', 'lb2/2']);
  });

  it('is bounded: past maxHeld the oldest leave at once; flush empties it in order', () => {
    const w = new ReorderWindow(1000, 3);
    expect(w.push(line('a', 3), 0)).toEqual([]);
    w.push(line('a', 1), 0);
    w.push(line('a', 2), 0);
    expect(names(w.push(line('a', 0), 0))).toEqual(['a@0']);
    expect(w.nextDue()).toBe(1000);
    expect(names(w.flush())).toEqual(['a@1', 'a@2', 'a@3']);
  });
});
