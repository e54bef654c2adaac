import { describe, it, expect } from 'vitest';
import { UdpFlowTable, type UdpFlowEntry } from './udp-flow-table.js';
import type { TableEvent } from './table-event.js';

const info = { clientIp: '10.0.0.9', clientPort: 5353, pool: 'default', backend: 'dns-1' };

function table(maxFlows = 100): { t: UdpFlowTable; events: TableEvent<UdpFlowEntry>[] } {
  const t = new UdpFlowTable({ name: 'dns/flows', idleMs: 1000, maxFlows });
  const events: TableEvent<UdpFlowEntry>[] = [];
  t.onEvent((e) => events.push(e));
  return { t, events };
}

describe('UdpFlowTable', () => {
  it('keys flows by ip:port, bracketing IPv6', () => {
    expect(UdpFlowTable.key('10.0.0.9', 5353)).toBe('10.0.0.9:5353');
    expect(UdpFlowTable.key('::1', 53)).toBe('[::1]:53');
  });

  it('counts datagrams both ways and expires after idleMs without one', () => {
    const { t, events } = table();
    const key = UdpFlowTable.key(info.clientIp, info.clientPort);
    expect(t.create(key, info, 0)).toMatchObject({ createdAt: 0, packetsIn: 0 });
    t.datagram(key, 'to_backend', 60, 0);
    t.datagram(key, 'to_client', 200, 10);
    t.datagram(key, 'to_backend', 40, 900);
    expect(t.get(key, 1899)).toMatchObject({ packetsIn: 2, bytesIn: 100, packetsOut: 1, bytesOut: 200 });
    expect(t.expire(1899)).toEqual([]);
    expect(t.get(key, 1900)).toBeUndefined();
    expect(t.datagram(key, 'to_backend', 1, 1900)).toBeUndefined(); // no revival
    expect(t.expire(1900)).toEqual([key]);
    expect(events.at(-1)).toMatchObject({ op: 'delete', key, reason: 'expired' });
  });

  it('re-emits a set only when the idle expiry moved past idleMs/4', () => {
    const { t, events } = table();
    const key = 'k';
    t.create(key, info, 0); // emitted expiry 1000
    for (let now = 10; now <= 250; now += 10) t.datagram(key, 'to_backend', 1, now);
    expect(events).toHaveLength(1);
    t.datagram(key, 'to_backend', 1, 260);
    expect(events).toHaveLength(2);
    expect(events[1]).toMatchObject({ op: 'set', expiresAt: 1260, seq: 2 });
  });

  it('refuses new flows at maxFlows while they are alive', () => {
    const { t } = table(2);
    expect(t.create('a', info, 0)).toBeDefined();
    expect(t.create('b', info, 0)).toBeDefined();
    expect(t.create('c', info, 500)).toBeUndefined();
    expect(t.size).toBe(2);
    t.remove('a', 600);
    expect(t.create('c', info, 600)).toBeDefined();
  });

  it('evictOldest drops the least recently seen flow and replicates the delete', () => {
    const { t, events } = table(3);
    t.create('a', info, 0);
    t.create('b', info, 10);
    t.create('c', info, 20);
    t.datagram('a', 'to_backend', 1, 500); // a is now the most recently seen
    expect(t.evictOldest(600)).toMatchObject({ key: 'b', flow: { clientIp: info.clientIp } });
    expect(events.at(-1)).toMatchObject({ op: 'delete', key: 'b', reason: 'evicted' });
    expect(t.evictOldest(600)?.key).toBe('c');
    expect(t.evictOldest(600)?.key).toBe('a');
    expect(t.evictOldest(600)).toBeUndefined();
    expect(t.maxFlows).toBe(3);
  });

  it('expire() with many busy flows: one look when no stale key is due, one re-sift per flow per idle period', () => {
    const { t } = table(20_000);
    for (let i = 0; i < 10_000; i++) t.create(`f${i}`, info, 0);
    // Every flow stays busy: one datagram each every 500 ms, expire() after each round.
    const costs: number[] = [];
    for (let now = 500; now <= 3000; now += 500) {
      for (let i = 0; i < 10_000; i++) t.datagram(`f${i}`, 'to_backend', 1, now);
      const before = t.expireWork;
      expect(t.expire(now)).toEqual([]);
      costs.push(t.expireWork - before);
    }
    // Heap keys come due at 1000, 2000, 3000 (each flow re-sifted once); in between, one look.
    expect(costs).toEqual([1, 10_001, 1, 10_001, 1, 10_001]);
    expect(t.size).toBe(10_000);
  });

  it('restore installs a replicated flow with its remaining ttl and age, overwriting by key', () => {
    const { t, events } = table();
    const flow = t.restore('10.0.0.9:5353', info, 10_000, 700, 2500);
    expect(flow).toMatchObject({ ...info, createdAt: 7500, replicated: true, packetsIn: 0 });
    expect(events[0]).toMatchObject({ op: 'set', key: '10.0.0.9:5353', expiresAt: 10_700, previous: undefined });
    const moved = t.restore('10.0.0.9:5353', { ...info, backend: 'dns-2' }, 10_100, 900, 2600);
    expect(events[1]).toMatchObject({ op: 'set', value: moved, previous: flow, expiresAt: 11_000 });
    expect(t.get('10.0.0.9:5353', 10_999)?.backend).toBe('dns-2');
    // After a takeover the flow lives on like a local one: datagrams extend it.
    expect(t.datagram('10.0.0.9:5353', 'to_backend', 10, 10_900)).toBe(moved);
    expect(t.get('10.0.0.9:5353', 11_800)).toBeDefined();
    expect(t.remove('10.0.0.9:5353', 11_800)).toBe(true);
  });

  it('restore refuses a new key in a full table rather than reclaiming an expired flow', () => {
    const { t, events } = table(1);
    t.create('a', info, 0);
    expect(t.restore('b', info, 5000, 1000, 0)).toBeUndefined();
    expect(t.peek('a')).toBeDefined(); // due since 1000, still there: its end is the caller's to settle
    expect(events).toHaveLength(1);
    expect(t.restore('a', info, 5000, 1000, 0)).toBeDefined(); // an existing key is overwritten
  });
});
