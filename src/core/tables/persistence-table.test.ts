import { describe, it, expect } from 'vitest';
import { PersistenceTable, type PersistenceEntry } from './persistence-table.js';
import type { TableEvent } from './table-event.js';

function table(maxEntries = 100): { t: PersistenceTable; events: TableEvent<PersistenceEntry>[] } {
  const t = new PersistenceTable({ name: 'web/source', kind: 'persist_source', ttlMs: 10_000, maxEntries });
  const events: TableEvent<PersistenceEntry>[] = [];
  t.onEvent((e) => events.push(e));
  return { t, events };
}

describe('PersistenceTable', () => {
  it('sticks a key to a backend for ttlMs after its last use', () => {
    const { t } = table();
    expect(t.stick('10.0.0.1', 'default', 'web-1', 0)).toBe(true);
    expect(t.lookup('10.0.0.1', 9_999)).toEqual({ pool: 'default', backend: 'web-1' });
    expect(t.stick('10.0.0.1', 'default', 'web-1', 9_000)).toBe(true); // slides to 19_000
    expect(t.lookup('10.0.0.1', 18_999)).toBeDefined();
    expect(t.lookup('10.0.0.1', 19_000)).toBeUndefined();
    expect(t.expire(19_000)).toEqual(['10.0.0.1']);
  });

  it('same backend slides quietly; another backend is a set event at once', () => {
    const { t, events } = table();
    t.stick('k', 'default', 'web-1', 0);
    t.stick('k', 'default', 'web-1', 1000); // moved 1000 <= 2500
    expect(events).toHaveLength(1);
    t.stick('k', 'default', 'web-1', 2501); // moved 2501 > 2500
    expect(events).toHaveLength(2);
    t.stick('k', 'default', 'web-2', 2502);
    expect(events).toHaveLength(3);
    expect(events[2]).toMatchObject({ op: 'set', kind: 'persist_source', key: 'k', value: { pool: 'default', backend: 'web-2' }, expiresAt: 12_502 });
    t.forget('k', 3000);
    expect(events[3]).toMatchObject({ op: 'delete', reason: 'removed' });
    expect(t.lookup('k', 3000)).toBeUndefined();
  });

  it('shares one frozen value per backend', () => {
    const { t } = table();
    t.stick('a', 'api', 'x', 0);
    t.stick('b', 'api', 'x', 0);
    const a = t.lookup('a', 0);
    expect(a).toBe(t.lookup('b', 0));
    expect(Object.isFrozen(a)).toBe(true);
  });

  it('a full table evicts the entry closest to expiry', () => {
    const { t, events } = table(2);
    t.stick('old', 'default', 'web-1', 0);
    t.stick('new', 'default', 'web-1', 5000);
    expect(t.stick('newest', 'default', 'web-2', 6000)).toBe(true);
    expect(t.lookup('old', 6000)).toBeUndefined();
    expect(t.size).toBe(2);
    expect(events.find((e) => e.op === 'delete')).toMatchObject({ key: 'old', reason: 'expired' });
  });

  it('carries the cookie kind in its events', () => {
    const t = new PersistenceTable({ name: 'web/cookie', kind: 'persist_cookie', ttlMs: 1000, maxEntries: 10 });
    const kinds: string[] = [];
    t.onEvent((e) => kinds.push(e.kind));
    t.stick('c', 'default', 'web-1', 0);
    expect(kinds).toEqual(['persist_cookie']);
  });

  it('restore installs a replicated entry with the given ttl, always as a set event', () => {
    const { t, events } = table();
    expect(t.restore('10.0.0.1', 'default', 'web-2', 1000, 4500)).toBe(true);
    expect(t.lookup('10.0.0.1', 5499)).toEqual({ pool: 'default', backend: 'web-2' });
    expect(t.lookup('10.0.0.1', 5500)).toBeUndefined();
    // The same value again (a master's refresh) is still an event: the replica's log mirrors what it applied.
    expect(t.restore('10.0.0.1', 'default', 'web-2', 2000, 4500)).toBe(true);
    expect(events.map((e) => [e.op, e.op === 'set' ? e.expiresAt : null])).toEqual([
      ['set', 5500],
      ['set', 6500],
    ]);
    expect(t.restore('k', 'default', 'web-1', 0, null)).toBe(true);
    expect(t.expire(1e12)).toEqual(['10.0.0.1']);
    expect(t.lookup('k', 1e12)).toBeDefined();
    expect(t.forget('k', 0)).toBe(true);
    expect(t.size).toBe(0);
  });
});
