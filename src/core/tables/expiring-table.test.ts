import { describe, it, expect } from 'vitest';
import { ExpiringTable } from './expiring-table.js';
import type { TableEvent } from './table-event.js';

function recorded<V>(t: ExpiringTable<V>): TableEvent<V>[] {
  const events: TableEvent<V>[] = [];
  t.onEvent((e) => events.push(e));
  return events;
}

describe('ExpiringTable', () => {
  it('expires exactly at the boundary: alive at expiry-1, gone at expiry', () => {
    const t = new ExpiringTable<string>({ name: 't', kind: 'persist_source' });
    t.set('a', 'x', 1000, 500);
    expect(t.get('a', 1499)).toBe('x');
    expect(t.get('a', 1500)).toBeUndefined();
    expect(t.expire(1499)).toEqual([]);
    expect(t.size).toBe(1);
    expect(t.expire(1500)).toEqual(['a']);
    expect(t.size).toBe(0);
  });

  it('a null ttl never expires; a zero or negative ttl is due at once', () => {
    const t = new ExpiringTable<number>({ name: 't', kind: 'connections' });
    t.set('forever', 1, 0, null);
    t.set('zero', 2, 0, 0);
    t.set('neg', 3, 0, -5);
    expect(t.get('forever', 1e12)).toBe(1);
    expect(t.get('zero', 0)).toBeUndefined();
    expect(t.expire(0).sort()).toEqual(['neg', 'zero']);
    expect(t.expire(1e12)).toEqual([]);
    expect(t.expiresAt('forever')).toBeNull();
  });

  it('emits set and delete events with strictly increasing seq and absolute expiry', () => {
    const t = new ExpiringTable<string>({ name: 'sticky', kind: 'persist_source' });
    const events = recorded(t);
    t.set('a', 'b1', 100, 1000);
    t.set('b', 'b2', 200, 1000);
    t.set('a', 'b3', 300, 1000);
    t.delete('b', 400);
    t.expire(5000);
    expect(events.map((e) => [e.op, e.key, e.seq])).toEqual([
      ['set', 'a', 1],
      ['set', 'b', 2],
      ['set', 'a', 3],
      ['delete', 'b', 4],
      ['delete', 'a', 5],
    ]);
    const first = events[0];
    expect(first).toMatchObject({ table: 'sticky', kind: 'persist_source', value: 'b1', expiresAt: 1100 });
    expect(events[3]).toMatchObject({ reason: 'removed' });
    expect(events[4]).toMatchObject({ reason: 'expired' });
    expect(t.seq).toBe(5);
  });

  it('records the per-entry seq of its last set event', () => {
    const t = new ExpiringTable<string>({ name: 't', kind: 'persist_source' });
    t.set('a', 'x', 0, 100);
    t.set('b', 'y', 0, 100);
    t.set('a', 'z', 0, 100);
    const entries = Object.fromEntries([...t.entries()].map((e) => [e.key, e.seq]));
    expect(entries).toEqual({ a: 3, b: 2 });
  });

  it('deleting a missing key is false and emits nothing', () => {
    const t = new ExpiringTable<string>({ name: 't', kind: 'persist_source' });
    const events = recorded(t);
    expect(t.delete('nope', 0)).toBe(false);
    expect(events).toEqual([]);
    expect(t.seq).toBe(0);
  });

  it('expire() returns the keys in expiry order and honours the limit', () => {
    const t = new ExpiringTable<number>({ name: 't', kind: 'udp_flows' });
    for (let i = 0; i < 10; i++) t.set(`k${i}`, i, 0, 100 - i * 5);
    expect(t.expire(90, 3)).toEqual(['k9', 'k8', 'k7']);
    expect(t.expire(90)).toEqual(['k6', 'k5', 'k4', 'k3', 'k2']);
    expect(t.size).toBe(2);
  });

  it('expire() looks at the top only when nothing is due, whatever the size', () => {
    const t = new ExpiringTable<number>({ name: 't', kind: 'persist_source' });
    for (let i = 0; i < 50_000; i++) t.set(`k${i}`, i, 0, 60_000 + i);
    const before = t.expireWork;
    for (let s = 1; s <= 30; s++) expect(t.expire(s * 1000)).toEqual([]);
    expect(t.expireWork - before).toBe(30);
  });

  it('touched entries cost one re-sift when their stale key comes due, not one per expire()', () => {
    const t = new ExpiringTable<number>({ name: 't', kind: 'udp_flows' });
    for (let i = 0; i < 1000; i++) t.set(`k${i}`, i, 0, 1000);
    for (let i = 0; i < 1000; i++) t.touch(`k${i}`, 900, 1000); // all now expire at 1900
    let before = t.expireWork;
    expect(t.expire(1000)).toEqual([]); // every stale heap key comes due once
    expect(t.expireWork - before).toBe(1001);
    before = t.expireWork;
    for (let s = 0; s < 8; s++) expect(t.expire(1100 + s * 100)).toEqual([]);
    expect(t.expireWork - before).toBe(8);
    expect(t.expire(1900)).toHaveLength(1000);
  });

  it('set with an earlier expiry moves the entry forward in the heap', () => {
    const t = new ExpiringTable<number>({ name: 't', kind: 'persist_source' });
    t.set('a', 1, 0, 10_000);
    t.set('b', 2, 0, 5000);
    t.set('a', 1, 0, 100);
    expect(t.expire(100)).toEqual(['a']);
    t.set('b', 2, 100, null);
    expect(t.expire(1e9)).toEqual([]);
    expect(t.get('b', 1e9)).toBe(2);
  });

  it('touch extends without an event until the expiry moved past refreshMs', () => {
    const t = new ExpiringTable<string>({ name: 't', kind: 'udp_flows' });
    const events = recorded(t);
    t.set('f', 'v', 0, 1000); // emitted expiry 1000; default refresh = 1000/4 = 250
    expect(t.touch('f', 100, 1000)).toBe('v'); // 1100: moved 100
    expect(t.touch('f', 250, 1000)).toBe('v'); // 1250: moved exactly 250, not more
    expect(events).toHaveLength(1);
    expect(t.expiresAt('f')).toBe(1250);
    expect(t.lastEmittedExpiry('f')).toBe(1000);
    t.touch('f', 251, 1000); // 1251: moved 251
    expect(events).toHaveLength(2);
    expect(events[1]).toMatchObject({ op: 'set', key: 'f', expiresAt: 1251, seq: 2 });
    expect(t.lastEmittedExpiry('f')).toBe(1251);
    t.touch('f', 400, 1000);
    expect(events).toHaveLength(2);
  });

  it('touch honours an explicit refreshMs and keeps the entry alive past its first expiry', () => {
    const t = new ExpiringTable<string>({ name: 't', kind: 'udp_flows', refreshMs: 50 });
    const events = recorded(t);
    t.set('f', 'v', 0, 100);
    t.touch('f', 40, 100); // 140: moved 40
    t.touch('f', 60, 100); // 160: moved 60 > 50
    expect(events).toHaveLength(2);
    expect(t.expire(150)).toEqual([]);
    expect(t.get('f', 159)).toBe('v');
    expect(t.expire(160)).toEqual(['f']);
  });

  it('touch does not revive an expired entry and ignores unknown keys', () => {
    const t = new ExpiringTable<string>({ name: 't', kind: 'udp_flows' });
    const events = recorded(t);
    t.set('f', 'v', 0, 100);
    expect(t.touch('f', 100, 100)).toBeUndefined();
    expect(t.touch('nope', 0, 100)).toBeUndefined();
    expect(t.expire(100)).toEqual(['f']);
    expect(events.map((e) => e.op)).toEqual(['set', 'delete']);
  });

  describe('maxEntries', () => {
    it('evict (default): a new key pushes out the entry closest to expiry, with a delete "expired"', () => {
      const t = new ExpiringTable<number>({ name: 't', kind: 'persist_source', maxEntries: 3 });
      const events = recorded(t);
      t.set('a', 1, 0, 300);
      t.set('b', 2, 0, 100);
      t.set('c', 3, 0, 200);
      expect(t.set('d', 4, 10, 1000)).toBe(true);
      expect(t.size).toBe(3);
      expect(t.get('b', 10)).toBeUndefined();
      expect(events.at(-2)).toMatchObject({ op: 'delete', key: 'b', reason: 'expired' });
      expect(events.at(-1)).toMatchObject({ op: 'set', key: 'd' });
      // Updating an existing key at the cap evicts nothing.
      expect(t.set('a', 9, 10, 1000)).toBe(true);
      expect([...t.entries()].map((e) => e.key).sort()).toEqual(['a', 'c', 'd']);
    });

    it('evict picks by real expiry, not by a stale heap key left by touch', () => {
      const t = new ExpiringTable<number>({ name: 't', kind: 'persist_source', maxEntries: 2 });
      t.set('a', 1, 0, 100);
      t.set('b', 2, 0, 200);
      t.touch('a', 50, 1000); // a now expires at 1050, later than b
      t.set('c', 3, 60, 1000);
      expect(t.get('a', 60)).toBe(1);
      expect(t.get('b', 60)).toBeUndefined();
    });

    it('refuse: a new key is refused while every entry is alive, admitted once one is due', () => {
      const t = new ExpiringTable<number>({ name: 't', kind: 'udp_flows', maxEntries: 2, whenFull: 'refuse' });
      const events = recorded(t);
      t.set('a', 1, 0, 100);
      t.set('b', 2, 0, 200);
      expect(t.set('c', 3, 50, 100)).toBe(false);
      expect(t.get('c', 50)).toBeUndefined();
      expect(events).toHaveLength(2);
      // 'a' is due at 100 but expire() has not run: it is reclaimed for the new key.
      expect(t.set('c', 3, 100, 100)).toBe(true);
      expect(events.slice(2).map((e) => [e.op, e.key])).toEqual([
        ['delete', 'a'],
        ['set', 'c'],
      ]);
    });

    it('evictClosest removes the live entry closest to expiry with reason evicted, by real expiry', () => {
      const t = new ExpiringTable<number>({ name: 't', kind: 'udp_flows', maxEntries: 3, whenFull: 'refuse' });
      const events = recorded(t);
      t.set('a', 1, 0, 100);
      t.set('b', 2, 10, 100);
      t.set('n', 3, 0, null);
      t.touch('a', 50, 100); // a now expires at 150, after b (110)
      expect(t.evictClosest(60)).toMatchObject({ key: 'b', value: 2, expiresAt: 110 });
      expect(events.at(-1)).toMatchObject({ op: 'delete', key: 'b', reason: 'evicted' });
      expect(t.evictClosest(60)?.key).toBe('a');
      // An entry without expiry is never evicted.
      expect(t.evictClosest(60)).toBeUndefined();
      expect(t.size).toBe(1);
    });

    it('never evicts entries without expiry', () => {
      const t = new ExpiringTable<number>({ name: 't', kind: 'connections', maxEntries: 1 });
      t.set('a', 1, 0, null);
      expect(t.set('b', 2, 0, 100)).toBe(false);
      expect(t.get('a', 0)).toBe(1);
    });
  });

  it('entries(now) skips expired ones and is JSON-able', () => {
    const t = new ExpiringTable<{ backend: string }>({ name: 't', kind: 'persist_source' });
    t.set('a', { backend: 'x' }, 0, 100);
    t.set('b', { backend: 'y' }, 0, 300);
    expect(JSON.parse(JSON.stringify([...t.entries(200)]))).toEqual([{ key: 'b', value: { backend: 'y' }, expiresAt: 300, seq: 2 }]);
    expect([...t.entries()]).toHaveLength(2);
  });

  it('unsubscribe stops events; a throwing listener is counted and does not stop the others', () => {
    const t = new ExpiringTable<number>({ name: 't', kind: 'persist_source' });
    const seen: string[] = [];
    const errors: unknown[] = [];
    const t2 = new ExpiringTable<number>({ name: 't2', kind: 'persist_source', onListenerError: (err) => errors.push(err) });
    const off = t.onEvent((e) => seen.push(e.key));
    t.set('a', 1, 0, 10);
    off();
    t.set('b', 1, 0, 10);
    expect(seen).toEqual(['a']);

    t2.onEvent(() => {
      throw new Error('boom');
    });
    t2.onEvent((e) => seen.push(`t2:${e.key}`));
    expect(t2.set('c', 1, 0, 10)).toBe(true);
    expect(seen).toEqual(['a', 't2:c']);
    expect(t2.listenerErrors).toBe(1);
    expect(errors).toHaveLength(1);
    expect(t2.get('c', 0)).toBe(1);
  });

  it('stays consistent under a mixed workload (heap vs a brute-force model)', () => {
    const t = new ExpiringTable<number>({ name: 't', kind: 'udp_flows', maxEntries: 64 });
    const deleted: string[] = [];
    t.onEvent((e) => {
      if (e.op === 'delete') deleted.push(e.key);
    });
    const model = new Map<string, number>();
    let seed = 12345;
    const rand = (n: number): number => {
      // xorshift32: deterministic, and unlike a power-of-two LCG its low bits are not periodic.
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    let now = 0;
    let evictions = 0;
    for (let step = 0; step < 20_000; step++) {
      now += rand(5);
      const key = `k${rand(200)}`;
      const roll = rand(10);
      const op = roll < 4 ? 0 : roll < 7 ? 1 : roll < 8 ? 2 : 3;
      deleted.length = 0;
      if (op === 0) {
        const ttl = 1 + rand(3000);
        const wasNew = !model.has(key);
        expect(t.set(key, 0, now, ttl)).toBe(true);
        if (wasNew && model.size >= 64) {
          // The victim must be an entry closest to expiry (ties may go either way).
          expect(deleted).toHaveLength(1);
          const victim = deleted[0] as string;
          expect(model.get(victim)).toBe(Math.min(...model.values()));
          model.delete(victim);
          evictions++;
        } else expect(deleted).toEqual([]);
        model.set(key, now + ttl);
      } else if (op === 1) {
        const exp = model.get(key);
        const got = t.touch(key, now, 300);
        if (exp !== undefined && now < exp) {
          expect(got).toBe(0);
          model.set(key, now + 300);
        } else expect(got).toBeUndefined();
      } else if (op === 2) {
        const removed = t.expire(now).sort();
        const due = [...model].filter(([, exp]) => exp <= now).map(([k]) => k).sort();
        expect(removed).toEqual(due);
        for (const k of due) model.delete(k);
      } else {
        expect(t.delete(key, now)).toBe(model.delete(key));
      }
      expect(t.size).toBe(model.size);
    }
    expect(evictions).toBeGreaterThan(0);
  });
});

describe('events carry what digests need', () => {
  it('a set names the value it replaced, a delete the value it removed', () => {
    const t = new ExpiringTable<string>({ name: 't', kind: 'persist_source' });
    const events: unknown[] = [];
    t.onEvent((e) => events.push(e));
    t.set('k', 'a', 0, 1000);
    t.set('k', 'b', 1, 1000);
    t.delete('k', 2);
    expect(events).toMatchObject([
      { op: 'set', value: 'a', previous: undefined },
      { op: 'set', value: 'b', previous: 'a' },
      { op: 'delete', value: 'b', reason: 'removed' },
    ]);
  });
});
