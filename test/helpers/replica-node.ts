/**
 * A ReplicationNode over a real Dispatcher (no listening proxies), for loopback tests of
 * the replication wiring: the plane is the dispatcher's own tables and replica API.
 */
import { randomBytes } from 'node:crypto';
import { silentLogger, type Logger } from '../../src/adapters/logger.js';
import { systemClock } from '../../src/adapters/system-clock.js';
import { ReplicationNode, type ReplicatedPlane } from '../../src/app/replication/replication-node.js';
import { parseConfig } from '../../src/config/load.js';
import type { HaloConfig } from '../../src/config/schema.js';
import { createDispatcher, type Dispatcher } from '../../src/core/service/dispatcher.js';

export const TEST_KEY = randomBytes(32);

export function replicaConfig(port: number, extra = ''): Readonly<HaloConfig> {
  return parseConfig(`
node: { name: test }
cluster:
  id: 7
  key_env: HALO_UNUSED
  interface: lo
  vips: [{ address: 10.250.0.100/24 }]
  replication: { port: ${port}, link_timeout_ms: 600, handshake_timeout_ms: 1000${extra} }
services:
  - name: web
    mode: tcp
    listen: { port: 18080 }
    algorithm: least_connections
    persistence: { type: source_ip, ttl_ms: 60000 }
    backends:
      - { name: be1, address: 10.0.0.1, port: 80 }
      - { name: be2, address: 10.0.0.2, port: 80 }
      - { name: be3, address: 10.0.0.3, port: 80 }
`);
}

export interface TestReplica {
  readonly node: ReplicationNode;
  readonly dispatcher: Dispatcher;
  readonly synced: boolean[];
}

export function dispatcherPlane(d: Dispatcher): ReplicatedPlane {
  return {
    replicatedTables: () => d.replicatedTables(),
    replicaSink: () => ({ apply: (r, now) => d.applyReplicated(r, now), clear: (now) => d.clearReplicated(now) }),
    setReplicaRole: (role, now) => d.setReplicaRole(role, now, 30_000),
  };
}

export function testReplica(name: string, address: string, port: number, opts: { key?: Buffer; logger?: Logger; extra?: string } = {}): TestReplica {
  const config = replicaConfig(port, opts.extra);
  const cluster = config.cluster ?? (() => { throw new Error('no cluster'); })();
  const service = config.services[0] ?? (() => { throw new Error('no service'); })();
  const dispatcher = createDispatcher(service, { bootTag: name });
  const synced: boolean[] = [];
  const node = new ReplicationNode({
    cluster,
    services: config.services,
    nodeName: name,
    address,
    key: opts.key ?? TEST_KEY,
    plane: dispatcherPlane(dispatcher),
    logger: opts.logger ?? silentLogger,
    now: () => systemClock.now(),
    onSynced: (s) => synced.push(s),
  });
  return { node, dispatcher, synced };
}
