import { describe, it, expect } from 'vitest';
import { ConnectionTable, type ConnectionEntry } from './connection-table.js';
import type { TableEvent } from './table-event.js';

const info = { clientIp: '10.0.0.9', clientPort: 50123, pool: 'default', backend: 'web-1' };

describe('ConnectionTable', () => {
  it('emits one set at open and one delete at close, none for byte counts', () => {
    const t = new ConnectionTable({ name: 'svc/connections' });
    const events: TableEvent<ConnectionEntry>[] = [];
    t.onEvent((e) => events.push(e));
    const entry = t.open('c1', info, 1000);
    expect(entry).toMatchObject({ ...info, startedAt: 1000, bytesIn: 0, bytesOut: 0 });
    expect(t.addBytes('c1', 'to_backend', 100)).toBe(true);
    expect(t.addBytes('c1', 'to_client', 2500)).toBe(true);
    if (entry) entry.bytesOut += 5; // the hot path holds the entry and bumps it directly
    expect(t.get('c1')).toMatchObject({ bytesIn: 100, bytesOut: 2505 });
    const closed = t.close('c1', 2000);
    expect(closed).toMatchObject({ bytesIn: 100, bytesOut: 2505 });
    expect(t.close('c1', 2001)).toBeUndefined();
    expect(events.map((e) => [e.op, e.key, e.seq])).toEqual([
      ['set', 'c1', 1],
      ['delete', 'c1', 2],
    ]);
    expect(events[0]).toMatchObject({ kind: 'connections', expiresAt: null });
    expect(events[1]).toMatchObject({ reason: 'removed' });
    expect(t.size).toBe(0);
  });

  it('refuses a duplicate id and counts nothing for unknown ids', () => {
    const t = new ConnectionTable({ name: 'c' });
    expect(t.open('c1', info, 0)).toBeDefined();
    expect(t.open('c1', { ...info, backend: 'web-2' }, 1)).toBeUndefined();
    expect(t.get('c1')?.backend).toBe('web-1');
    expect(t.addBytes('nope', 'to_backend', 1)).toBe(false);
    expect(t.seq).toBe(1);
  });

  it('connections never expire; a full table refuses new ones', () => {
    const t = new ConnectionTable({ name: 'c', maxEntries: 2 });
    t.open('a', info, 0);
    t.open('b', info, 0);
    expect(t.open('c', info, 1e12)).toBeUndefined();
    expect([...t.entries()].map((e) => e.key)).toEqual(['a', 'b']);
  });

  it('restore installs or overwrites a replicated connection with its age, never expiring', () => {
    const t = new ConnectionTable({ name: 'svc/connections' });
    const events: TableEvent<ConnectionEntry>[] = [];
    t.onEvent((e) => events.push(e));
    const first = t.restore('ab12-1', info, 50_000, 1200);
    expect(first).toMatchObject({ ...info, startedAt: 48_800, replicated: true, bytesIn: 0 });
    const again = t.restore('ab12-1', { ...info, backend: 'web-2' }, 50_010, 1210);
    expect(events.map((e) => [e.op, e.key])).toEqual([
      ['set', 'ab12-1'],
      ['set', 'ab12-1'],
    ]);
    expect(events[1]).toMatchObject({ previous: first, value: again, expiresAt: null });
    expect(t.get('ab12-1')?.backend).toBe('web-2');
    expect(t.close('ab12-1', 60_000)).toBe(again);
    expect(t.size).toBe(0);
  });

  it('restore into a full table is refused', () => {
    const t = new ConnectionTable({ name: 'c', maxEntries: 1 });
    expect(t.open('a', info, 0)).toBeDefined();
    expect(t.restore('b', info, 0, 0)).toBeUndefined();
  });
});
