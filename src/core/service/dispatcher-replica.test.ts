import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/load.js';
import type { ServiceConfig } from '../../config/schema.js';
import { toRecord } from '../replication/replication-source.js';
import type { ReplicationRecord } from '../replication/wire-records.js';
import type { TableEvent } from '../tables/table-event.js';
import { Dispatcher } from './dispatcher.js';
import { REPLICA_EXPIRY_GRACE_MS } from './service-replica.js';

function service(mode: 'tcp' | 'udp' | 'http', extra = ''): ServiceConfig {
  return parseConfig(`
services:
  - name: svc
    mode: ${mode}
    listen: { port: 8080 }
    algorithm: least_connections
    backends:
      - { name: be1, address: 127.0.0.1, port: 9001 }
      - { name: be2, address: 127.0.0.1, port: 9002 }
${extra}`).services[0]!;
}

const conn = (id: string, backend: string, clientIp = '10.0.0.1', ageMs = 0): ReplicationRecord => ({
  op: 'set',
  table: 'svc/connections',
  kind: 'connections',
  key: id,
  value: { clientIp, clientPort: 40000, pool: 'default', backend, ageMs },
  ttlMs: null,
});
const flow = (clientIp: string, clientPort: number, backend: string, ttlMs = 30_000): ReplicationRecord => ({
  op: 'set',
  table: 'svc/udp_flows',
  kind: 'udp_flows',
  key: `${clientIp}:${clientPort}`,
  value: { clientIp, clientPort, pool: 'default', backend, ageMs: 100 },
  ttlMs,
});
const persist = (key: string, backend: string, ttlMs: number | null = 10_000, pool = 'default'): ReplicationRecord => ({
  op: 'set',
  table: 'svc/persist_source',
  kind: 'persist_source',
  key,
  value: { pool, backend },
  ttlMs,
});
const del = (table: 'connections' | 'udp_flows' | 'persist_source', key: string): ReplicationRecord => ({ op: 'delete', table: `svc/${table}`, kind: table, key });

function active(d: Dispatcher): Record<string, number> {
  return Object.fromEntries(d.backendStates().map((b) => [b.name, b.active]));
}

/** Open a TCP connection the way a proxy does: choose, then connected. */
function openTcp(d: Dispatcher, clientIp: string, now: number): { backend: string; end(now: number): void } {
  const target = d.choose({ clientIp }, now)!.target;
  const h = d.connected(target, { clientIp, clientPort: 1, connectMs: 1 }, now);
  return { backend: target.name, end: (t) => h.end(t) };
}

function standby(mode: 'tcp' | 'udp' | 'http' = 'tcp', extra = ''): Dispatcher {
  const d = new Dispatcher(service(mode, extra));
  d.setReplicaRole('standby', 0, 0);
  return d;
}

describe('Dispatcher replica', () => {
  it('names connection ids <boot tag>-<n>, short and unique per boot', () => {
    const d = new Dispatcher(service('tcp'), { bootTag: 'k3x9' });
    const target = d.choose({ clientIp: '10.0.0.1' }, 0)!.target;
    const ids = [0, 1].map(() => d.connected(target, { clientIp: '10.0.0.1', clientPort: 1, connectMs: 1 }, 0).id);
    expect(ids).toEqual(['k3x9-1', 'k3x9-2']);
    expect([...d.connections.entries()].map((e) => e.key)).toEqual(ids);
  });

  it('offers its connection, flow and persistence tables as sources', () => {
    const d = new Dispatcher(service('tcp', '    persistence: { type: source_ip, ttl_ms: 10000 }'));
    expect(d.replicatedTables().map((t) => [t.name, t.kind])).toEqual([
      ['svc/connections', 'connections'],
      ['svc/udp_flows', 'udp_flows'],
      ['svc/persist_source', 'persist_source'],
    ]);
    expect(new Dispatcher(service('tcp')).replicatedTables()).toHaveLength(2);
  });

  it('applies persistence with the grace, refuses unknown backends and tables without changing anything', () => {
    const d = standby('tcp', '    persistence: { type: source_ip, ttl_ms: 10000 }');
    expect(d.applyReplicated(persist('default/10.0.0.1', 'be2', 4000), 1000)).toBe('applied');
    const p = d.persistence!;
    expect([...p.entries()]).toEqual([expect.objectContaining({ key: 'default/10.0.0.1', expiresAt: 1000 + 4000 + REPLICA_EXPIRY_GRACE_MS })]);
    expect(d.applyReplicated(persist('default/10.0.0.1', 'nope'), 1100)).toBe('unknown_pool_or_backend');
    expect(d.applyReplicated(persist('default/10.0.0.1', 'be1', 10_000, 'nopool'), 1100)).toBe('unknown_pool_or_backend');
    expect(p.lookup('default/10.0.0.1', 1100)?.backend).toBe('be2');
    expect(d.applyReplicated({ ...persist('k', 'be1'), table: 'other/persist_source' }, 1100)).toBe('unknown_table');
    expect(d.applyReplicated({ ...persist('k', 'be1'), kind: 'persist_cookie' }, 1100)).toBe('unknown_table');
    expect(d.applyReplicated(del('persist_source', 'default/10.0.0.1'), 1200)).toBe('applied');
    expect(p.size).toBe(0);
    // The client's next choice on this node follows the replicated entry.
    d.applyReplicated(persist('default/192.0.2.9', 'be2'), 1300);
    for (let i = 0; i < 3; i++) expect(d.choose({ clientIp: '192.0.2.9' }, 1400)).toMatchObject({ target: { name: 'be2' }, persisted: true });
    expect(d.replicaStatus().applied).toEqual({ applied: 3, unknown_table: 2, unknown_pool_or_backend: 2, full: 0 });
  });

  it('a replicated connection is load from the moment it is applied; a move moves it, a delete ends it; no metrics', () => {
    const d = standby();
    d.applyReplicated(conn('m1-1', 'be1'), 0);
    d.applyReplicated(conn('m1-2', 'be1'), 0);
    expect(active(d)).toEqual({ be1: 2, be2: 0 });
    d.applyReplicated(conn('m1-1', 'be1'), 10); // the same record again (replay): no double count
    expect(active(d)).toEqual({ be1: 2, be2: 0 });
    d.applyReplicated(conn('m1-2', 'be2'), 20);
    expect(active(d)).toEqual({ be1: 1, be2: 1 });
    d.applyReplicated(del('connections', 'm1-1'), 30);
    d.applyReplicated(del('connections', 'm1-1'), 30); // idempotent
    expect(active(d)).toEqual({ be1: 0, be2: 1 });
    expect(d.applyReplicated(conn('m1-3', 'gone'), 40)).toBe('unknown_pool_or_backend');
    expect(active(d)).toEqual({ be1: 0, be2: 1 });
    expect(d.connections.get('m1-2')).toMatchObject({ backend: 'be2', startedAt: 20, replicated: true });
    expect(d.snapshot(50).backends['default/be2']!.concurrentConnections).toBe(0);
  });

  it('least-connections continues where the master left off: 10 on be1 send new connections to be2', () => {
    const d = standby();
    for (let i = 0; i < 10; i++) d.applyReplicated(conn(`m-${i}`, 'be1', `10.0.0.${i}`), 0);
    // Even before the takeover, a choice here weighs the replicated load.
    expect(d.choose({ clientIp: '192.0.2.200' }, 0)!.target.name).toBe('be2');
    d.setReplicaRole('master', 1000, 30_000);
    expect(d.connections.size).toBe(0);
    expect(d.replicaStatus().ghosts.live).toBe(10);
    const picks = Array.from({ length: 10 }, (_, i) => openTcp(d, `192.0.2.${i}`, 1001).backend);
    expect(picks).toEqual(Array(10).fill('be2'));
    expect(active(d)).toEqual({ be1: 10, be2: 10 });
    const more = Array.from({ length: 4 }, (_, i) => openTcp(d, `192.0.2.${100 + i}`, 1002).backend);
    expect(more.sort()).toEqual(['be1', 'be1', 'be2', 'be2']);
  });

  it('a ghost ends when its client reconnects: on the same backend first, else its oldest', () => {
    const d = standby();
    d.applyReplicated(conn('m-a', 'be1', '10.0.0.1', 5000), 10_000); // started at 5000: the oldest
    d.applyReplicated(conn('m-b', 'be2', '10.0.0.1', 1000), 10_000);
    d.applyReplicated(conn('m-c', 'be1', '10.0.0.2', 1000), 10_000);
    d.setReplicaRole('master', 10_000, 30_000);
    expect(active(d)).toEqual({ be1: 2, be2: 1 });
    // 10.0.0.1 reconnects to be2: its be2 ghost ends, the new connection takes its place.
    d.connected({ pool: 'default', name: 'be2', address: '127.0.0.1', port: 9002 }, { clientIp: '10.0.0.1', clientPort: 2, connectMs: 1 }, 10_001);
    expect(active(d)).toEqual({ be1: 2, be2: 1 });
    // 10.0.0.2 reconnects to be2: no ghost there, so its oldest (on be1) ends.
    d.connected({ pool: 'default', name: 'be2', address: '127.0.0.1', port: 9002 }, { clientIp: '10.0.0.2', clientPort: 2, connectMs: 1 }, 10_002);
    expect(active(d)).toEqual({ be1: 1, be2: 2 });
    // A client without ghosts ends nothing.
    d.connected({ pool: 'default', name: 'be1', address: '127.0.0.1', port: 9001 }, { clientIp: '10.9.9.9', clientPort: 2, connectMs: 1 }, 10_003);
    expect(active(d)).toEqual({ be1: 2, be2: 2 });
    expect(d.replicaStatus().ghosts).toEqual({ live: 1, endedByReconnect: 2, endedByTimeout: 0, endedByClear: 0 });
  });

  it('ghosts end by timeout; ghostMs 0 ends them at once', () => {
    const d = standby();
    for (let i = 0; i < 3; i++) d.applyReplicated(conn(`m-${i}`, i === 0 ? 'be2' : 'be1', `10.0.0.${i}`), 0);
    d.setReplicaRole('master', 1000, 5000);
    d.tick(5999);
    expect(active(d)).toEqual({ be1: 2, be2: 1 });
    d.tick(6000);
    expect(active(d)).toEqual({ be1: 0, be2: 0 });
    expect(d.replicaStatus().ghosts).toMatchObject({ live: 0, endedByTimeout: 3 });
    // A reconnect after the timeout ends nothing more.
    openTcp(d, '10.0.0.1', 7000);
    expect(Object.values(active(d)).reduce((a, b) => a + b)).toBe(1);

    const e = standby();
    e.applyReplicated(conn('x', 'be1'), 0);
    e.setReplicaRole('master', 1, 0);
    expect(active(e)).toEqual({ be1: 0, be2: 0 });
    expect(e.replicaStatus().ghosts).toMatchObject({ live: 0, endedByTimeout: 1 });
  });

  it('a standby does not expire; after the takeover local expiry runs with the received deadline', () => {
    const d = standby('udp', '    persistence: { type: source_ip, ttl_ms: 10000 }');
    d.applyReplicated(persist('default/10.0.0.1', 'be1', 1000), 0);
    d.applyReplicated(flow('10.0.0.1', 5000, 'be2', 2000), 0);
    d.tick(1e9);
    expect(d.expireUdpFlows(1e9)).toEqual([]);
    expect(d.persistence!.size).toBe(1);
    expect(d.flows.size).toBe(1);
    expect(active(d)).toEqual({ be1: 0, be2: 1 });
    // The master's refresh moved the deadline; then the takeover.
    d.applyReplicated(flow('10.0.0.1', 5000, 'be2', 2000), 10_000);
    d.applyReplicated(persist('default/10.0.0.1', 'be1', 1000), 10_000);
    d.setReplicaRole('master', 10_100, 0);
    d.tick(10_000 + 1000 + REPLICA_EXPIRY_GRACE_MS - 1);
    expect(d.persistence!.size).toBe(1);
    d.tick(10_000 + 1000 + REPLICA_EXPIRY_GRACE_MS);
    expect(d.persistence!.size).toBe(0);
    expect(d.expireUdpFlows(10_000 + 2000 + REPLICA_EXPIRY_GRACE_MS - 1)).toEqual([]);
    expect(d.expireUdpFlows(10_000 + 2000 + REPLICA_EXPIRY_GRACE_MS)).toEqual(['10.0.0.1:5000']);
    expect(active(d)).toEqual({ be1: 0, be2: 0 });
    // Replicated flows were never in the metrics, so their end does not eat a local count.
    expect(d.snapshot(20_000).service.concurrentConnections).toBe(0);
  });

  it('replicated UDP flows are live after a takeover: same backend, created false, load moves and ends', () => {
    const d = standby('udp');
    expect(d.applyReplicated(flow('10.0.0.1', 5000, 'be1', 1000), 0)).toBe('applied');
    expect(d.applyReplicated(flow('10.0.0.2', 5000, 'be1'), 0)).toBe('applied');
    expect(active(d)).toEqual({ be1: 2, be2: 0 });
    d.applyReplicated(flow('10.0.0.2', 5000, 'be2'), 10);
    expect(active(d)).toEqual({ be1: 1, be2: 1 });
    d.applyReplicated(del('udp_flows', '10.0.0.2:5000'), 20);
    expect(active(d)).toEqual({ be1: 1, be2: 0 });
    d.setReplicaRole('master', 100, 30_000);
    expect(d.replicaStatus().ghosts.live).toBe(0);
    expect(d.udpFlow('10.0.0.1', 5000, 200)).toMatchObject({ created: false, target: { name: 'be1' }, key: '10.0.0.1:5000' });
    // A new client goes to the emptier backend.
    expect(d.udpFlow('10.0.0.3', 5000, 200)).toMatchObject({ created: true, target: { name: 'be2' } });
    expect(active(d)).toEqual({ be1: 1, be2: 1 });
    // A local flow next to the replicated one on be1: the replicated one's end leaves the local count alone.
    d.setBackendUp('default', 'be2', false, 300);
    expect(d.udpFlow('10.0.0.4', 5000, 300)).toMatchObject({ created: true, target: { name: 'be1' } });
    expect(d.expireUdpFlows(1000 + REPLICA_EXPIRY_GRACE_MS)).toEqual(['10.0.0.1:5000']);
    expect(d.snapshot(1600).backends['default/be1']!.concurrentConnections).toBe(1);
    expect(active(d)).toEqual({ be1: 1, be2: 1 });
  });

  it('a full flow table refuses a new replicated flow without reclaiming an undeleted one', () => {
    const d = standby('udp', '    limits: { max_flows: 1 }');
    d.applyReplicated(flow('10.0.0.1', 1, 'be1', 100), 0);
    expect(d.applyReplicated(flow('10.0.0.2', 1, 'be2'), 5000)).toBe('full');
    expect(active(d)).toEqual({ be1: 1, be2: 0 });
    expect(d.replicaStatus().applied.full).toBe(1);
  });

  it('clearReplicated empties the tables and ends every load: replicated, local and ghosts', () => {
    const d = new Dispatcher(service('tcp', '    persistence: { type: source_ip, ttl_ms: 10000 }'));
    const local = openTcp(d, '192.0.2.1', 0); // served while this node was master
    d.setReplicaRole('standby', 1, 0);
    d.applyReplicated(conn('m-1', 'be1', '10.0.0.1'), 2);
    d.setReplicaRole('master', 3, 60_000); // a ghost
    d.setReplicaRole('standby', 4, 0);
    d.applyReplicated(conn('m-2', 'be2', '10.0.0.2'), 5);
    d.applyReplicated(flow('10.0.0.3', 1, 'be2'), 5);
    d.applyReplicated(persist('default/10.0.0.4', 'be1'), 5);
    expect(d.replicaStatus().ghosts.live).toBe(1);
    const events: TableEvent[] = [];
    for (const t of d.replicatedTables()) t.onEvent((e) => events.push(e));
    d.clearReplicated(6);
    expect(active(d)).toEqual({ be1: 0, be2: 0 });
    expect(d.snapshot(7).service.concurrentConnections).toBe(0);
    expect(d.replicatedTables().map((t) => t.size)).toEqual([0, 0, 0]);
    expect(events.every((e) => e.op === 'delete')).toBe(true);
    // The local connection, m-2, the flow, and two persistence entries (the local client's too).
    expect(events).toHaveLength(5);
    expect(d.replicaStatus().ghosts).toMatchObject({ live: 0, endedByClear: 1 });
    // The local connection's proxy closes it later: no second end.
    d.applyReplicated(conn('m-3', 'be1'), 8);
    local.end(9);
    expect(active(d)).toEqual({ be1: 1, be2: 0 });
  });

  it('http: replicated connections carry no load (requests in flight do) and leave no ghosts', () => {
    const d = standby('http');
    d.applyReplicated(conn('m-1', 'be1'), 0);
    expect(active(d)).toEqual({ be1: 0, be2: 0 });
    d.setReplicaRole('master', 1, 30_000);
    expect(d.connections.size).toBe(0);
    expect(d.replicaStatus().ghosts.live).toBe(0);
  });

  it('a master applying its own events into a standby converges: same tables, same load', () => {
    const extra = '    persistence: { type: source_ip, ttl_ms: 10000 }';
    const master = new Dispatcher(service('udp', extra), { bootTag: 'm' });
    const replica = standby('udp', extra);
    for (const t of master.replicatedTables()) t.onEvent((e) => replica.applyReplicated(toRecord(e, 0), 0));
    for (let i = 0; i < 20; i++) master.udpFlow(`10.0.${i % 3}.${i}`, 1000 + i, i);
    master.setBackendUp('default', 'be1', false, 30);
    for (let i = 0; i < 20; i += 2) master.udpFlow(`10.0.${i % 3}.${i}`, 1000 + i, 40); // some re-balanced off be1
    master.expireUdpFlows(30_000 + 15); // the first ones idle out
    const content = (d: Dispatcher) => d.replicatedTables().map((t) => [...t.entries()].map((e) => [e.key, JSON.stringify(pick(e.value))]).sort());
    const flows = master.flows.size;
    expect(flows > 0 && flows < 20 && master.persistence!.size > 0).toBe(true);
    expect(content(replica)).toEqual(content(master));
    expect(active(replica)).toEqual(active(master));
    expect(replica.replicaStatus().applied.applied).toBeGreaterThan(20);
  });
});

function pick(v: unknown): unknown {
  const o = v as { pool: string; backend: string; clientIp?: string };
  return [o.pool, o.backend, o.clientIp];
}
