/**
 * One service's side of replication: applies the master's records into the service's
 * connection, UDP flow and persistence tables, keeps the balancer's load in step with
 * them, and handles the role switch (docs/design-as-built.md section 4, "Expiry on the
 * standby" and "Connections and least-connections").
 *
 * Load invariant: every flow and connection entry in the tables counts once on its
 * backend. A local entry was counted with metrics (the dispatcher's connStart); a
 * replicated one (entry.replicated) with load only, since its traffic is on another
 * node; each is ended the way it was started. After a takeover the replicated
 * connections leave the table and their load moves to ghosts.
 */
import type { DeleteRecord, ReplicationRecord, SetRecord } from '../replication/wire-records.js';
import type { ConnectionEntry, ConnectionTable } from '../tables/connection-table.js';
import type { PersistenceTable } from '../tables/persistence-table.js';
import type { UdpFlowEntry, UdpFlowTable } from '../tables/udp-flow-table.js';
import { GhostConnections } from './ghost-connections.js';
import type { ApplyResult, ReplicaRole, ReplicaStatus, SourceTable } from './replica-types.js';

/**
 * Added to every replicated TTL: once local expiry resumes (takeover), an entry outlives
 * the master's copy by this much at most, and is never dropped before the master would
 * have dropped it, whatever the transit time of the record.
 */
export const REPLICA_EXPIRY_GRACE_MS = 500;

/** The dispatcher's load accounting, by backend name; the replica holds no backend state. */
export interface ReplicaLoad {
  /** The service's config has this backend in this pool. */
  knows(pool: string, backend: string): boolean;
  /** Balancer load and per-backend cap only: no metrics, the traffic is on another node. */
  start(pool: string, backend: string): void;
  end(pool: string, backend: string): void;
  /** A local flow or connection removed by replication: its full end, metrics included. */
  endLocal(pool: string, backend: string, now: number): void;
}

export interface ServiceReplicaOptions {
  readonly connections: ConnectionTable;
  readonly flows: UdpFlowTable;
  readonly persistence: PersistenceTable | undefined;
  readonly load: ReplicaLoad;
  /**
   * False in http mode: load there is requests in flight, not connections, so a dead
   * connection holds nothing and needs no ghost.
   */
  readonly ghosts: boolean;
}

type FlowSet = Extract<SetRecord, { kind: 'udp_flows' | 'connections' }>;
type PersistSet = Extract<SetRecord, { kind: 'persist_source' | 'persist_cookie' }>;

function withGrace(ttlMs: number | null): number | null {
  return ttlMs === null ? null : ttlMs + REPLICA_EXPIRY_GRACE_MS;
}

export class ServiceReplica {
  private currentRole: ReplicaRole = 'master';
  private readonly applied: Record<ApplyResult, number> = { applied: 0, unknown_table: 0, unknown_pool_or_backend: 0, full: 0 };
  private readonly ghostBook = new GhostConnections();
  private readonly connections: ConnectionTable;
  private readonly flows: UdpFlowTable;
  private readonly persistence: PersistenceTable | undefined;
  private readonly load: ReplicaLoad;
  private readonly ghosting: boolean;

  constructor(opts: ServiceReplicaOptions) {
    this.connections = opts.connections;
    this.flows = opts.flows;
    this.persistence = opts.persistence;
    this.load = opts.load;
    this.ghosting = opts.ghosts;
  }

  get role(): ReplicaRole {
    return this.currentRole;
  }

  tables(): SourceTable[] {
    const out: SourceTable[] = [this.connections, this.flows];
    if (this.persistence !== undefined) out.push(this.persistence);
    return out;
  }

  apply(record: ReplicationRecord, now: number): ApplyResult {
    const result = this.applyRecord(record, now);
    this.applied[result]++;
    return result;
  }

  private applyRecord(r: ReplicationRecord, now: number): ApplyResult {
    if (r.op === 'delete') return this.applyDelete(r, now);
    const p = this.persistence;
    switch (r.kind) {
      case 'persist_source':
      case 'persist_cookie':
        return p !== undefined && r.table === p.name && r.kind === p.kind ? this.setPersistence(p, r, now) : 'unknown_table';
      case 'udp_flows':
        return r.table === this.flows.name ? this.setFlow(r, now) : 'unknown_table';
      case 'connections':
        return r.table === this.connections.name ? this.setConnection(r, now) : 'unknown_table';
    }
  }

  private applyDelete(r: DeleteRecord, now: number): ApplyResult {
    const p = this.persistence;
    if (p !== undefined && r.table === p.name && r.kind === p.kind) {
      p.forget(r.key, now);
      return 'applied';
    }
    if (r.table === this.flows.name && r.kind === 'udp_flows') return this.deleteFlow(r, now);
    if (r.table === this.connections.name && r.kind === 'connections') return this.deleteConnection(r, now);
    return 'unknown_table';
  }

  private setPersistence(p: PersistenceTable, r: PersistSet, now: number): ApplyResult {
    const { pool, backend } = r.value;
    if (!this.load.knows(pool, backend)) return 'unknown_pool_or_backend';
    return p.restore(r.key, pool, backend, now, withGrace(r.ttlMs)) ? 'applied' : 'full';
  }

  private setFlow(r: FlowSet, now: number): ApplyResult {
    const v = r.value;
    if (!this.load.knows(v.pool, v.backend)) return 'unknown_pool_or_backend';
    const old = this.flows.peek(r.key);
    if (this.flows.restore(r.key, v, now, withGrace(r.ttlMs), v.ageMs) === undefined) return 'full';
    this.moveLoad(old, v, now);
    return 'applied';
  }

  private deleteFlow(r: DeleteRecord, now: number): ApplyResult {
    const old = this.flows.peek(r.key);
    if (old !== undefined) {
      this.flows.remove(r.key, now);
      this.endEntry(old, now);
    }
    return 'applied';
  }

  private setConnection(r: FlowSet, now: number): ApplyResult {
    const v = r.value;
    if (!this.load.knows(v.pool, v.backend)) return 'unknown_pool_or_backend';
    const old = this.connections.get(r.key);
    // Connections never expire: the master deletes them at close.
    if (this.connections.restore(r.key, v, now, v.ageMs) === undefined) return 'full';
    this.moveLoad(old, v, now);
    return 'applied';
  }

  private deleteConnection(r: DeleteRecord, now: number): ApplyResult {
    const old = this.connections.close(r.key, now);
    if (old !== undefined) this.endEntry(old, now);
    return 'applied';
  }

  /** An entry was replaced by a replicated one on `to`: end the old load, start the new. */
  private moveLoad(old: UdpFlowEntry | ConnectionEntry | undefined, to: { pool: string; backend: string }, now: number): void {
    // A master's refresh of the same flow: the load stays where it is.
    if (old?.replicated === true && old.pool === to.pool && old.backend === to.backend) return;
    if (old !== undefined) this.endEntry(old, now);
    this.load.start(to.pool, to.backend);
  }

  private endEntry(entry: UdpFlowEntry | ConnectionEntry, now: number): void {
    if (entry.replicated === true) this.load.end(entry.pool, entry.backend);
    else this.load.endLocal(entry.pool, entry.backend, now);
  }

  /**
   * Empty the three tables before a snapshot, ending the load of every flow,
   * connection and ghost: afterwards the load is exactly what the snapshot brings.
   */
  clear(now: number): void {
    for (const g of this.ghostBook.clear()) this.load.end(g.pool, g.backend);
    // Deleting the entry a Map iterator stands on is safe; the tables' entries() walk their Map.
    for (const e of this.flows.entries()) {
      this.flows.remove(e.key, now);
      this.endEntry(e.value, now);
    }
    for (const e of this.connections.entries()) {
      this.connections.close(e.key, now);
      this.endEntry(e.value, now);
    }
    const p = this.persistence;
    if (p !== undefined) for (const e of p.entries()) p.forget(e.key, now);
  }

  /**
   * standby: no local expiry (the master's deletes do it). standby -> master is a
   * takeover: every replicated connection leaves the table (its TCP session died with
   * the old master) and its load becomes a ghost for up to ghostMs. UDP flows and
   * persistence stay: they are live, and expire locally from now on.
   */
  setRole(role: ReplicaRole, now: number, ghostMs: number): void {
    if (role === this.currentRole) return;
    this.currentRole = role;
    if (role === 'master') this.takeover(now, ghostMs);
  }

  private takeover(now: number, ghostMs: number): void {
    const dead: ConnectionEntry[] = [];
    for (const e of this.connections.entries()) {
      // Local connections (traffic this node served while standby) are alive.
      if (e.value.replicated !== true) continue;
      this.connections.close(e.key, now);
      dead.push(e.value);
    }
    if (!this.ghosting) {
      for (const c of dead) this.load.end(c.pool, c.backend);
      return;
    }
    this.ghostBook.addBatch(dead, now + Math.max(0, ghostMs));
    if (ghostMs <= 0) this.tick(now);
  }

  /** A new connection from this client: its ghost (same backend first, else its oldest) ends. */
  claimGhost(clientIp: string, pool: string, backend: string): void {
    if (this.ghostBook.live === 0) return;
    const g = this.ghostBook.claim(clientIp, pool, backend);
    if (g !== undefined) this.load.end(g.pool, g.backend);
  }

  /** Ends ghosts past their timeout. */
  tick(now: number): void {
    for (const g of this.ghostBook.expire(now)) this.load.end(g.pool, g.backend);
  }

  status(): ReplicaStatus {
    const g = this.ghostBook;
    return {
      role: this.currentRole,
      applied: { ...this.applied },
      ghosts: { live: g.live, endedByReconnect: g.endedByReconnect, endedByTimeout: g.endedByTimeout, endedByClear: g.endedByClear },
    };
  }
}
