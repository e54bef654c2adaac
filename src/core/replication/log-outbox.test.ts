import { describe, expect, it } from 'vitest';
import { parseControl } from './handshake-messages.js';
import type { LogLine } from './log-messages.js';
import { LineDedupe, LogOutbox } from './log-outbox.js';

const line = (seq: number, node = 'lb1', boot = 1): LogLine => ({ node, boot, seq, at: 1000 + seq, level: 'info', message: 'e', fields: {} });
const seqs = (texts: string[]) => texts.flatMap((t) => { const m = parseControl(t); return m.type === 'logs' ? m.lines.map((l) => l.seq) : []; });

describe('LogOutbox', () => {
  it('is due when the flush interval has passed with lines queued, or a batch is full', () => {
    const box = new LogOutbox(0, { flushEveryMs: 100, maxLinesPerMessage: 10 });
    expect(box.due(500)).toBe(false);
    box.push([line(1)]);
    expect(box.due(99)).toBe(false);
    expect(box.due(100)).toBe(true);
    expect(seqs(box.take(100))).toEqual([1]);
    box.push(Array.from({ length: 10 }, (_, i) => line(i + 2)));
    expect(box.due(101)).toBe(true);
    expect(box.take(101)).toHaveLength(1);
    expect(box.stats()).toMatchObject({ queued: 0, sent: 11, dropped: 0 });
  });

  it('keeps at most maxQueued lines: the oldest go, counted', () => {
    const box = new LogOutbox(0, { maxQueued: 5 });
    box.push(Array.from({ length: 8 }, (_, i) => line(i + 1)));
    expect(box.stats()).toMatchObject({ queued: 5, dropped: 3 });
    expect(seqs(box.take(1000))).toEqual([4, 5, 6, 7, 8]);
  });

  it('sends no more than the token bucket allows; the rest waits for the refill', () => {
    const box = new LogOutbox(0, { ratePerSec: 100, burst: 10, maxQueued: 1000 });
    box.push(Array.from({ length: 30 }, (_, i) => line(i + 1)));
    expect(seqs(box.take(0))).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
    expect(box.take(0)).toEqual([]);
    // 50 ms at 100 lines/s: 5 more
    expect(seqs(box.take(50))).toEqual([11, 12, 13, 14, 15]);
    // never more than the burst, however long the pause
    expect(seqs(box.take(60_000))).toHaveLength(10);
    expect(box.stats()).toMatchObject({ queued: 5, sent: 25 });
  });

  it('stays bounded under a long flood (compaction keeps the order)', () => {
    const box = new LogOutbox(0, { maxQueued: 50 });
    for (let i = 0; i < 5000; i++) box.push([line(i + 1)]);
    expect(box.stats()).toMatchObject({ queued: 50, dropped: 4950 });
    expect(seqs(box.take(1000))).toEqual(Array.from({ length: 50 }, (_, i) => 4951 + i));
  });
});

describe('LineDedupe', () => {
  it('admits each (node, boot, seq) once, in order per origin', () => {
    const d = new LineDedupe();
    expect([1, 2, 2, 1, 3].map((s) => d.admit(line(s)))).toEqual([true, true, false, false, true]);
    // another node, and the same node after a restart (new boot), are other origins
    expect(d.admit(line(1, 'lb2'))).toBe(true);
    expect(d.admit(line(1, 'lb1', 2))).toBe(true);
    expect(d.admit(line(3, 'lb1', 1))).toBe(false);
  });

  it('forgets the least recently seen origin past maxOrigins', () => {
    const d = new LineDedupe(2);
    d.admit(line(5, 'a'));
    d.admit(line(5, 'b'));
    d.admit(line(6, 'a'));
    d.admit(line(5, 'c'));
    expect(d.origins).toBe(2);
    // a was seen after b: b was forgotten, a was not
    expect(d.admit(line(6, 'a'))).toBe(false);
    expect(d.admit(line(5, 'c'))).toBe(false);
    expect(d.admit(line(5, 'b'))).toBe(true);
  });
});
