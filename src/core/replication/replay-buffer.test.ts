import { describe, expect, it } from 'vitest';
import { HaloError } from '../errors.js';
import { ReplicationFrameError } from './frame-error.js';
import { ReplayBuffer } from './replay-buffer.js';

/** A fake encoded frame whose first byte tells which frame it is. */
const frame = (tag: number, size = 10): Uint8Array => new Uint8Array(size).fill(tag);
const tags = (r: ReturnType<ReplayBuffer['since']>): number[] => {
  if (typeof r === 'string' || !('frames' in r)) throw new Error(`expected frames, got ${JSON.stringify(r)}`);
  return r.frames.map((f) => f[0]!);
};

describe('ReplayBuffer', () => {
  it('returns the frames covering seq+1..latest, whole frames, first one possibly overlapping', () => {
    const b = new ReplayBuffer({ maxBytes: 1000, maxFrames: 10 });
    b.append(1, 3, frame(1)); // 1-3
    b.append(4, 1, frame(2)); // 4
    b.append(5, 5, frame(3)); // 5-9
    expect(tags(b.since(0))).toEqual([1, 2, 3]);
    expect(tags(b.since(2))).toEqual([1, 2, 3]);
    expect(tags(b.since(3))).toEqual([2, 3]);
    expect(tags(b.since(4))).toEqual([3]);
    expect(tags(b.since(8))).toEqual([3]);
    expect(b.since(9)).toEqual({ frames: [] });
  });

  it('a seq ahead of the latest, or not a seq, is an error result, not a throw', () => {
    const b = new ReplayBuffer({ maxBytes: 1000, maxFrames: 10 });
    b.append(1, 2, frame(1));
    expect(b.since(3)).toEqual({ error: 'ahead', message: 'seq 3 is ahead of the latest seq 2' });
    expect(b.since(-1)).toMatchObject({ error: 'invalid' });
    expect(b.since(1.5)).toMatchObject({ error: 'invalid' });
  });

  it('drops the oldest frames past maxFrames; older seqs are then gone', () => {
    const b = new ReplayBuffer({ maxBytes: 1_000_000, maxFrames: 3 });
    for (let i = 1; i <= 5; i++) b.append(i, 1, frame(i));
    expect(b.stats).toEqual({ frames: 3, bytes: 30, oldestSeq: 3, latestSeq: 5, dropped: 2 });
    expect(b.since(1)).toBe('gone');
    expect(tags(b.since(2))).toEqual([3, 4, 5]);
  });

  it('drops the oldest frames past maxBytes', () => {
    const b = new ReplayBuffer({ maxBytes: 25, maxFrames: 100 });
    b.append(1, 10, frame(1));
    b.append(11, 10, frame(2));
    b.append(21, 10, frame(3));
    expect(b.stats).toMatchObject({ frames: 2, bytes: 20, oldestSeq: 11, latestSeq: 30 });
    expect(b.since(9)).toBe('gone');
    expect(tags(b.since(10))).toEqual([2, 3]);
  });

  it('a frame larger than maxBytes is not kept but still moves latestSeq', () => {
    const b = new ReplayBuffer({ maxBytes: 25, maxFrames: 100 });
    b.append(1, 1, frame(1));
    b.append(2, 1, frame(2, 30));
    expect(b.stats).toMatchObject({ frames: 0, bytes: 0, oldestSeq: null, latestSeq: 2 });
    expect(b.since(2)).toEqual({ frames: [] });
    expect(b.since(1)).toBe('gone');
    b.append(3, 1, frame(3));
    expect(tags(b.since(2))).toEqual([3]);
  });

  it('starts at startSeq: up to date there, gone before it', () => {
    const b = new ReplayBuffer({ maxBytes: 100, maxFrames: 10, startSeq: 500 });
    expect(b.since(500)).toEqual({ frames: [] });
    expect(b.since(499)).toBe('gone');
    expect(() => b.append(1, 1, frame(1))).toThrow(ReplicationFrameError);
    b.append(501, 2, frame(9));
    expect(tags(b.since(500))).toEqual([9]);
  });

  it('refuses a gap, an overlap or an empty frame', () => {
    const b = new ReplayBuffer({ maxBytes: 100, maxFrames: 10 });
    b.append(1, 2, frame(1));
    expect(() => b.append(4, 1, frame(2))).toThrow('replay buffer: firstSeq 4 does not follow latest seq 2');
    expect(() => b.append(2, 1, frame(2))).toThrow(ReplicationFrameError);
    expect(() => b.append(3, 0, frame(2))).toThrow('count 0');
    expect(b.stats.latestSeq).toBe(2);
  });

  it('rejects bounds that are not positive integers', () => {
    expect(() => new ReplayBuffer({ maxBytes: 0, maxFrames: 1 })).toThrow(HaloError);
    expect(() => new ReplayBuffer({ maxBytes: 1, maxFrames: 1.5 })).toThrow(/maxFrames 1.5/);
  });

  it('stays bounded and answers correctly over a long run (compaction included)', () => {
    const b = new ReplayBuffer({ maxBytes: 10_000, maxFrames: 700 });
    let seq = 0;
    for (let i = 0; i < 20_000; i++) {
      const count = 1 + (i % 7);
      b.append(seq + 1, count, frame(i & 0xff, 5 + (i % 11)));
      seq += count;
      expect(b.stats.frames).toBeLessThanOrEqual(700);
      expect(b.stats.bytes).toBeLessThanOrEqual(10_000);
    }
    const { oldestSeq, latestSeq, frames } = b.stats;
    expect(latestSeq).toBe(seq);
    expect(b.since(oldestSeq! - 2)).toBe('gone');
    const all = b.since(oldestSeq! - 1);
    expect(typeof all !== 'string' && 'frames' in all && all.frames.length).toBe(frames);
    const last = b.since(seq - 1);
    expect(typeof last !== 'string' && 'frames' in last && last.frames.length).toBe(1);
  });

  it('drops frames appended before a cutoff, oldest first, and stops at the first newer one', () => {
    const b = new ReplayBuffer({ maxBytes: 1000, maxFrames: 10 });
    b.append(1, 2, frame(1), 100);
    b.append(3, 1, frame(2), 150);
    b.append(4, 1, frame(3), 200);
    expect(b.dropOlderThan(100)).toBe(0);
    expect(b.dropOlderThan(151)).toBe(2);
    expect(b.stats).toEqual({ frames: 1, bytes: 10, oldestSeq: 4, latestSeq: 4, dropped: 2 });
    expect(b.since(2)).toBe('gone');
    expect(tags(b.since(3))).toEqual([3]);
    expect(b.dropOlderThan(1000)).toBe(1);
    expect(b.since(3)).toBe('gone');
    expect(b.since(4)).toEqual({ frames: [] });
  });

  it('a frame appended without a time never ages out', () => {
    const b = new ReplayBuffer({ maxBytes: 1000, maxFrames: 10 });
    b.append(1, 1, frame(1));
    expect(b.dropOlderThan(Number.MAX_SAFE_INTEGER)).toBe(0);
    expect(tags(b.since(0))).toEqual([1]);
  });
});
