import { describe, expect, it } from 'vitest';
import { GhostConnections } from './ghost-connections.js';

const g = (clientIp: string, backend: string, startedAt: number) => ({ clientIp, pool: 'default', backend, startedAt });

describe('GhostConnections', () => {
  it('a reconnect claims the ghost on its backend, else the oldest of its client', () => {
    const book = new GhostConnections();
    book.addBatch([g('10.0.0.1', 'b', 300), g('10.0.0.1', 'a', 200), g('10.0.0.1', 'c', 100)], 1000);
    expect(book.claim('10.0.0.1', 'default', 'a')).toMatchObject({ backend: 'a', ended: true });
    expect(book.claim('10.0.0.1', 'default', 'zz')).toMatchObject({ backend: 'c' }); // oldest
    expect(book.claim('10.0.0.1', 'other-pool', 'b')).toMatchObject({ backend: 'b' });
    expect(book.claim('10.0.0.1', 'default', 'b')).toBeUndefined();
    expect(book.claim('10.9.9.9', 'default', 'a')).toBeUndefined();
    expect(book.live).toBe(0);
    expect(book.endedByReconnect).toBe(3);
    expect(book.expire(5000)).toEqual([]); // claimed ghosts do not time out again
  });

  it('each batch times out at its own deadline, skipping claimed ghosts', () => {
    const book = new GhostConnections();
    book.addBatch([g('10.0.0.1', 'a', 0), g('10.0.0.2', 'a', 0)], 1000);
    book.addBatch([g('10.0.0.1', 'b', 1500)], 600);
    book.addBatch([], 10); // nothing to ghost: no batch
    book.claim('10.0.0.2', 'default', 'a');
    expect(book.expire(599)).toEqual([]);
    expect(book.expire(600).map((x) => x.backend)).toEqual(['b']);
    expect(book.expire(1000).map((x) => x.clientIp)).toEqual(['10.0.0.1']);
    expect(book.live).toBe(0);
    expect(book.endedByTimeout).toBe(2);
    expect(book.claim('10.0.0.1', 'default', 'a')).toBeUndefined();
  });

  it('clear ends every live ghost once', () => {
    const book = new GhostConnections();
    book.addBatch([g('10.0.0.1', 'a', 0), g('10.0.0.1', 'b', 0), g('10.0.0.2', 'a', 0)], 1000);
    book.claim('10.0.0.1', 'default', 'b');
    expect(book.clear()).toHaveLength(2);
    expect(book.clear()).toHaveLength(0);
    expect(book.expire(1e9)).toEqual([]);
    expect({ live: book.live, clear: book.endedByClear, reconnect: book.endedByReconnect }).toEqual({ live: 0, clear: 2, reconnect: 1 });
  });

  it('a NAT address with many ghosts times out in one pass', () => {
    const book = new GhostConnections();
    const many = Array.from({ length: 20_000 }, (_, i) => g('203.0.113.1', i % 2 === 0 ? 'a' : 'b', i));
    book.addBatch(many, 100);
    const t0 = performance.now();
    expect(book.expire(100)).toHaveLength(20_000);
    // Quadratic removal would take seconds here.
    expect(performance.now() - t0).toBeLessThan(1000);
  });
});
