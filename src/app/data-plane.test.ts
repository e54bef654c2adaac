import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../adapters/logger.js';
import { parseConfig } from '../config/load.js';
import type { HaloConfig } from '../config/schema.js';
import type { ReplicationRecord } from '../core/replication/wire-records.js';
import { DataPlane } from './data-plane.js';

const planes: DataPlane[] = [];
afterEach(async () => {
  for (const p of planes.splice(0)) await p.stop(0);
});

function config(): HaloConfig {
  const parsed = parseConfig(`
services:
  - name: web
    mode: tcp
    listen: { address: 127.0.0.1, port: 1 }
    algorithm: least_connections
    health_check: { type: none }
    persistence: { type: source_ip, ttl_ms: 10000 }
    backends:
      - { name: be1, address: 127.0.0.1, port: 9 }
      - { name: be2, address: 127.0.0.1, port: 9 }
  - name: dns
    mode: udp
    listen: { address: 127.0.0.1, port: 1 }
    health_check: { type: none }
    backends:
      - { name: ns1, address: 127.0.0.1, port: 9 }
`);
  // Ephemeral ports: the schema wants a real one.
  return { ...parsed, services: parsed.services.map((s) => ({ ...s, listen: { ...s.listen, port: 0 } })) };
}

const conn = (table: string, id: string, backend: string): ReplicationRecord => ({
  op: 'set',
  table,
  kind: 'connections',
  key: id,
  value: { clientIp: '10.0.0.1', clientPort: 1, pool: 'default', backend, ageMs: 0 },
  ttlMs: null,
});

async function started(role?: 'standby'): Promise<DataPlane> {
  const plane = new DataPlane(config(), silentLogger);
  planes.push(plane);
  if (role) plane.setReplicaRole(role, 0);
  await plane.start();
  return plane;
}

describe('DataPlane replication', () => {
  it('lists every service table and routes records by the service in the table name', async () => {
    const plane = await started('standby');
    expect(plane.bootTag).toMatch(/^[0-9a-z]{1,7}$/);
    expect(plane.replicatedTables().map((t) => t.name)).toEqual(['web/connections', 'web/udp_flows', 'web/persist_source', 'dns/connections', 'dns/udp_flows']);
    const sink = plane.replicaSink();
    expect(sink.apply(conn('web/connections', 'x-1', 'be1'), 0)).toBe('applied');
    expect(sink.apply(conn('nope/connections', 'x-2', 'be1'), 0)).toBe('unknown_table');
    expect(sink.apply(conn('connections', 'x-3', 'be1'), 0)).toBe('unknown_table');
    expect(sink.apply(conn('dns/connections', 'x-4', 'be1'), 0)).toBe('unknown_pool_or_backend');
    const web = plane.services.get('web')!.dispatcher;
    expect(web.connections.size).toBe(1);
    expect(web.replicaStatus().role).toBe('standby'); // the role set before start() reached it
    sink.clear(1);
    expect(plane.replicatedTables().every((t) => t.size === 0)).toBe(true);
  });

  it('a takeover turns replicated connections into ghosts for ghost_connection_ms (default without a cluster)', async () => {
    const plane = await started('standby');
    const sink = plane.replicaSink();
    for (let i = 0; i < 3; i++) sink.apply(conn('web/connections', `m-${i}`, 'be1'), 0);
    plane.setReplicaRole('master', 100);
    const web = plane.services.get('web')!.dispatcher;
    expect(plane.replicaStatus()['web']).toMatchObject({ role: 'master', ghosts: { live: 3 } });
    web.tick(100 + 30_000 - 1);
    expect(web.replicaStatus().ghosts.live).toBe(3);
    web.tick(100 + 30_000);
    expect(web.replicaStatus().ghosts).toMatchObject({ live: 0, endedByTimeout: 3 });
    expect(web.backendStates().every((b) => b.active === 0)).toBe(true);
  });
});
