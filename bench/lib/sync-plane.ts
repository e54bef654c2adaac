/**
 * The data plane as replication sees it, for the benchmark: the real Dispatchers (their
 * connection, UDP flow and persistence tables, their applyReplicated) without proxies or
 * health checks. replicaSink() routes records by the service their table is named after,
 * as DataPlane.replicaSink() does; around it the bench counts what the standby applied
 * and stamps the apply time of the lag samples (sync-keys.ts).
 */
import { parseConfig } from '../../src/config/load.js';
import { replicationSchema } from '../../src/config/replication-schema.js';
import type { HaloConfig } from '../../src/config/schema.js';
import type { ReplicatedPlane } from '../../src/app/replication/replication-node.js';
import { createDispatcher, type Dispatcher } from '../../src/core/service/dispatcher.js';
import type { ReplicaRole, ReplicaSink, SourceTable } from '../../src/core/service/replica-types.js';
import type { PersistenceTable } from '../../src/core/tables/persistence-table.js';
import { sampleIndex } from './sync-keys.js';

/**
 * One tcp service with source-IP persistence (the default TTL, 30 min) and three
 * backends, and a cluster whose replication listens on `port`. The key is not read
 * from key_env: the bench hands ReplicationNode a random key directly.
 */
export function benchConfig(port: number, maxEntries: number): Readonly<HaloConfig> {
  return parseConfig(
    `
node: { name: bench }
cluster:
  id: 4
  key_env: HALO_BENCH_UNUSED
  interface: lo
  vips: [{ address: 10.250.0.100/24 }]
  replication: { port: ${port} }
services:
  - name: web
    mode: tcp
    listen: { port: 18080 }
    persistence: { type: source_ip, max_entries: ${maxEntries} }
    backends:
      - { name: be1, address: 10.0.0.1, port: 80 }
      - { name: be2, address: 10.0.0.2, port: 80 }
      - { name: be3, address: 10.0.0.3, port: 80 }
`,
    'bench config',
  );
}

/** What the sink saw since the last resetPhase(). */
export interface ApplyCounters {
  /** Records applied (any result). */
  applied: number;
  /** performance.now() of the first and last apply of the phase; 0 when none. */
  firstAt: number;
  lastAt: number;
}

export class BenchPlane implements ReplicatedPlane {
  readonly services = new Map<string, Dispatcher>();
  readonly counters: ApplyCounters = { applied: 0, firstAt: 0, lastAt: 0 };
  readonly #ghostMs: number;
  readonly #stamp: (sample: number) => void;

  /** `stamp` gets the index of every lag sample the sink applies, at the moment it applies it. */
  constructor(config: Readonly<HaloConfig>, bootTag: string, stamp: (sample: number) => void) {
    for (const service of config.services) this.services.set(service.name, createDispatcher(service, { bootTag }));
    this.#ghostMs = config.cluster?.replication.ghost_connection_ms ?? replicationSchema.parse({}).ghost_connection_ms;
    this.#stamp = stamp;
  }

  /** The persistence table of a service (the load generator sticks keys into it). */
  persistence(service: string): PersistenceTable {
    const p = this.services.get(service)?.persistence;
    if (p === undefined) throw new Error(`service ${service} has no persistence table`);
    return p;
  }

  replicatedTables(): SourceTable[] {
    return [...this.services.values()].flatMap((d) => d.replicatedTables());
  }

  replicaSink(): ReplicaSink {
    const c = this.counters;
    return {
      apply: (record, now) => {
        const slash = record.table.indexOf('/');
        const d = slash > 0 ? this.services.get(record.table.slice(0, slash)) : undefined;
        const result = d === undefined ? 'unknown_table' : d.applyReplicated(record, now);
        const at = performance.now();
        if (c.applied === 0) c.firstAt = at;
        c.applied++;
        c.lastAt = at;
        const sample = sampleIndex(record.key);
        if (sample >= 0) this.#stamp(sample);
        return result;
      },
      clear: (now) => {
        for (const d of this.services.values()) d.clearReplicated(now);
      },
    };
  }

  setReplicaRole(role: ReplicaRole, now: number): void {
    for (const d of this.services.values()) d.setReplicaRole(role, now, this.#ghostMs);
  }

  resetPhase(): void {
    this.counters.applied = 0;
    this.counters.firstAt = 0;
    this.counters.lastAt = 0;
  }

  /** Entries held by every persistence table. */
  persistenceEntries(): number {
    let n = 0;
    for (const d of this.services.values()) n += d.persistence?.size ?? 0;
    return n;
  }
}
