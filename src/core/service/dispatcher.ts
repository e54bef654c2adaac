/**
 * The pure per-service brain behind a proxy: admission limits, L7 routing, backend choice
 * (persistence first, then the pool's balancer), and accounting into balancers, tables and
 * metrics. Proxies own sockets and call in with `now`; nothing here does I/O or waits.
 */
import type { ServiceConfig } from '../../config/schema.js';
import { sourceIpKey } from '../balancer/keys.js';
import { ServiceMetrics, type MetricsSnapshot } from '../metrics/service-metrics.js';
import { compileRules, type RouteMatcher } from '../routing/rules.js';
import { ConnectionTable } from '../tables/connection-table.js';
import { CookieSigner, setCookieHeader } from '../tables/cookie-signer.js';
import { PersistenceTable } from '../tables/persistence-table.js';
import { UdpFlowTable, type UdpFlowEntry } from '../tables/udp-flow-table.js';
import type { ReplicationRecord } from '../replication/wire-records.js';
import type { ApplyResult, ReplicaRole, ReplicaStatus, SourceTable } from './replica-types.js';
import { BackendPools, type BackendState, type PoolState } from './backend-pools.js';
import { ServiceReplica, type ReplicaLoad } from './service-replica.js';
import { ServiceAdmission } from './service-admission.js';
import { tableChanges } from './table-changes.js';
import type {
  Admission,
  BackendTarget,
  Choice,
  ChooseRequest,
  ConnectionHandle,
  HttpRouteInput,
  RejectReason,
  ServiceDispatcher,
  UdpFlowResult,
} from './dispatcher-types.js';

export interface DispatcherOptions {
  /** HMAC key for cookie persistence (required when persistence.type is cookie). */
  readonly cookieSecret?: Buffer;
  /** Wall-clock seconds, for the issue time inside signed cookies (injected: core reads no clock). */
  readonly wallSeconds?: () => number;
  /**
   * Prefix of connection ids, random per process (the data plane makes it; core has no
   * randomness): ids are `<bootTag>-<n>`, so a replica never confuses the connections
   * of two boots or two nodes. Default "0".
   */
  readonly bootTag?: string;
}

export class Dispatcher implements ServiceDispatcher {
  readonly metrics: ServiceMetrics;
  readonly connections: ConnectionTable;
  readonly flows: UdpFlowTable;
  readonly persistence: PersistenceTable | undefined;
  private readonly pools: BackendPools;
  private router: RouteMatcher;
  private readonly admission: ServiceAdmission;
  private readonly signer: CookieSigner | undefined;
  private readonly wallSeconds: () => number;
  private readonly replica: ServiceReplica;
  private readonly bootTag: string;
  private current: ServiceConfig;
  private nextConnId = 0;
  /** UDP flows ended while making room that no udpFlow result carried to the proxy yet. */
  private readonly endedFlowKeys: string[] = [];

  constructor(service: ServiceConfig, opts: DispatcherOptions = {}) {
    this.current = service;
    this.metrics = new ServiceMetrics({ service: service.name });
    this.pools = new BackendPools(this.metrics);
    this.pools.add('default', service.algorithm, service.backends);
    for (const pool of service.pools) this.pools.add(pool.name, pool.algorithm, pool.backends);
    this.router = compileRules(service.rules);
    this.admission = new ServiceAdmission(service.limits, this.metrics);
    this.connections = new ConnectionTable({ name: `${service.name}/connections` });
    this.flows = new UdpFlowTable({ name: `${service.name}/udp_flows`, idleMs: service.udp_flow_idle_ms, maxFlows: service.limits.max_flows });
    const p = service.persistence;
    this.persistence =
      p.type === 'none'
        ? undefined
        : new PersistenceTable({
            name: `${service.name}/${p.type === 'cookie' ? 'persist_cookie' : 'persist_source'}`,
            kind: p.type === 'cookie' ? 'persist_cookie' : 'persist_source',
            ttlMs: p.ttl_ms,
            maxEntries: p.max_entries,
          });
    if (p.type === 'cookie') {
      if (!opts.cookieSecret) throw new Error(`service ${service.name}: cookie persistence needs a secret`);
      this.signer = new CookieSigner(opts.cookieSecret, service.name);
    }
    this.wallSeconds = opts.wallSeconds ?? (() => 0);
    this.bootTag = opts.bootTag ?? '0';
    this.replica = new ServiceReplica({ connections: this.connections, flows: this.flows, persistence: this.persistence, load: this.replicaLoad(), ghosts: service.mode !== 'http' });
  }

  /** The config in force: the one it was made with, or the last reconfigure()'s. */
  get service(): ServiceConfig {
    return this.current;
  }

  /**
   * A config reload of this service with its tables kept (HAProxy's trap: tables lost on
   * reload): pools, backends, weights, algorithm, rules, limits, timeouts, retries (the
   * proxies read the last three from `service` as they go). What tableChanges() names
   * needs a new dispatcher instead, and throws here.
   */
  reconfigure(next: ServiceConfig): void {
    const blocked = tableChanges(this.current, next);
    if (blocked.length > 0) throw new RangeError(`service ${this.current.name}: ${blocked.join(', ')} cannot change in place`);
    this.pools.reconfigure('default', next.algorithm, next.backends);
    for (const p of next.pools) this.pools.reconfigure(p.name, p.algorithm, p.backends);
    for (const name of this.pools.names()) if (name !== 'default' && !next.pools.some((p) => p.name === name)) this.pools.remove(name);
    this.router = compileRules(next.rules);
    this.admission.reconfigure(next.limits);
    this.current = next;
  }

  /** Replicated entries count like local ones on the balancer, but not in this node's metrics. */
  private replicaLoad(): ReplicaLoad {
    const find = (pool: string, backend: string) => this.pools.stateOf({ pool, name: backend });
    const counts = this.service.mode !== 'http';
    return {
      knows: (pool, backend) => find(pool, backend) !== undefined,
      start: (pool, backend) => {
        const f = find(pool, backend);
        if (f && counts) this.pools.loadStart(f.pool, f.state);
      },
      end: (pool, backend) => {
        const f = find(pool, backend);
        if (f && counts) this.pools.loadEnd(f.pool, f.state);
      },
      endLocal: (pool, backend, now) => {
        const f = find(pool, backend);
        if (f) this.connEnd(f.pool, f.state, now);
      },
    };
  }

  admitConnection(clientIp: string, now: number): Admission {
    return this.admission.connection(clientIp, now);
  }

  releaseConnection(clientIp: string, _now: number): void {
    this.admission.release(clientIp);
  }

  admitRequest(clientIp: string, now: number): Admission {
    return this.admission.request(clientIp, now);
  }

  route(input: HttpRouteInput): string {
    return this.router(input);
  }

  choose(req: ChooseRequest, now: number): Choice | undefined {
    const pool = this.pools.get(req.pool ?? 'default');
    if (!pool) return undefined;
    const persist = this.persistence;
    const mode = this.service.persistence.type;

    // 1. Persistence: the client keeps its backend while that backend can serve.
    let sourceKey: string | undefined;
    if (persist && mode === 'source_ip') {
      sourceKey = `${pool.name}/${sourceIpKey(req.clientIp) ?? req.clientIp}`;
      const stuck = persist.lookup(sourceKey, now);
      const state = stuck ? pool.backends.get(stuck.backend) : undefined;
      if (this.pools.eligible(state, req.avoid)) {
        persist.stick(sourceKey, pool.name, state.target.name, now);
        return { target: state.target, persisted: true };
      }
    } else if (persist && this.signer && req.cookie !== undefined) {
      const named = this.signer.verify(req.cookie);
      const state = named && named.pool === pool.name ? pool.backends.get(named.backend) : undefined;
      if (this.pools.eligible(state, req.avoid)) {
        persist.stick(req.cookie, pool.name, state.target.name, now);
        return { target: state.target, persisted: true };
      }
    }

    // 2. The balancer, avoiding backends that failed for this request or are at their cap.
    let avoid = req.avoid;
    if (pool.capped.size > 0) avoid = new Set([...(req.avoid ?? []), ...pool.capped]);
    const key = sourceIpKey(req.clientIp) ?? req.clientIp;
    const name = pool.balancer.pick({ now, key }, avoid);
    const state = name === undefined ? undefined : pool.backends.get(name);
    if (!state) return undefined;

    // 3. Remember the choice for next time.
    if (persist && sourceKey !== undefined) {
      persist.stick(sourceKey, pool.name, state.target.name, now);
    } else if (persist && this.signer) {
      const value = this.signer.sign(pool.name, state.target.name, this.wallSeconds());
      persist.stick(value, pool.name, state.target.name, now);
      const setCookie = setCookieHeader(this.service.persistence.cookie_name, value, { maxAgeSeconds: Math.floor(this.service.persistence.ttl_ms / 1000) });
      return { target: state.target, persisted: false, setCookie };
    }
    return { target: state.target, persisted: false };
  }

  private connStart(pool: PoolState, state: BackendState, now: number): void {
    this.metrics.connOpened(state.metrics, now);
    // In http mode load is counted per request in flight (beginRequest), not per pooled connection.
    if (this.service.mode !== 'http') this.pools.loadStart(pool, state);
  }

  private connEnd(pool: PoolState, state: BackendState, now: number): void {
    this.metrics.connClosed(state.metrics, now);
    if (this.service.mode !== 'http') this.pools.loadEnd(pool, state);
  }

  beginRequest(target: BackendTarget, _now: number): { end(now: number): void } {
    const found = this.pools.stateOf(target);
    if (!found) return NOOP_HANDLE;
    const { pool, state } = found;
    this.pools.loadStart(pool, state);
    let ended = false;
    return {
      end: () => {
        if (ended) return;
        ended = true;
        this.pools.loadEnd(pool, state);
      },
    };
  }

  connected(target: BackendTarget, info: { clientIp: string; clientPort: number; connectMs: number }, now: number): ConnectionHandle {
    const found = this.pools.stateOf(target);
    const id = `${this.bootTag}-${(++this.nextConnId).toString(36)}`;
    if (!found) return NOOP_HANDLE;
    const { pool, state } = found;
    this.connStart(pool, state, now);
    this.replica.claimGhost(info.clientIp, pool.name, target.name);
    // http samples whole responses in requestDone; tcp's best signal is the connect time.
    if (this.service.mode !== 'http') pool.balancer.onSample(target.name, info.connectMs, now);
    const entry = this.connections.open(id, { clientIp: info.clientIp, clientPort: info.clientPort, pool: pool.name, backend: target.name }, now);
    let ended = false;
    return {
      id,
      bytesToBackend: (n, t) => this.bytes(pool, state, id, 'to_backend', n, t),
      bytesToClient: (n, t) => this.bytes(pool, state, id, 'to_client', n, t),
      end: (t) => {
        if (ended) return;
        ended = true;
        // Replication may have removed or replaced the entry (clearReplicated) and then
        // already ended its load.
        if (entry !== undefined && this.connections.get(id) !== entry) return;
        this.connEnd(pool, state, t);
        this.connections.close(id, t);
      },
    };
  }

  private bytes(pool: PoolState, state: BackendState, id: string, dir: 'to_backend' | 'to_client', n: number, now: number): void {
    this.metrics.bytes(state.metrics, dir, n, now);
    pool.balancer.onBytes(state.target.name, n, now);
    this.connections.addBytes(id, dir, n);
  }

  connectFailed(target: BackendTarget, _cause: string, now: number): void {
    const found = this.pools.stateOf(target);
    if (found) this.metrics.connectFailed(found.state.metrics, now);
  }

  requestDone(target: BackendTarget, status: number, ms: number, now: number): void {
    const found = this.pools.stateOf(target);
    if (!found) return;
    this.metrics.request(found.state.metrics, status, ms, now);
    found.pool.balancer.onSample(target.name, ms, now);
  }

  udpFlow(clientIp: string, clientPort: number, now: number): UdpFlowResult | { readonly rejected: RejectReason } | undefined {
    const key = UdpFlowTable.key(clientIp, clientPort);
    const flow = this.flows.get(key, now);
    if (flow) {
      const state = this.pools.get(flow.pool)?.backends.get(flow.backend);
      // A flow whose backend went down is re-balanced rather than black-holed.
      if (state?.up) return { target: state.target, created: false, key };
    }
    // Settle a stale or re-balanced flow under this key before replacing it.
    this.removeFlow(key, now);
    let ended: string[] | undefined;
    if (this.flows.size >= this.service.limits.max_flows) {
      // Make room from idle flows first, then from the least recently seen live one.
      ended = this.expireUdpFlows(now);
      if (this.flows.size >= this.service.limits.max_flows) {
        const victim = this.replica.role === 'standby' ? undefined : this.evictFlow(now);
        if (victim === undefined) {
          // A standby's flows are the master's to end; evicting would diverge from it.
          if (ended.length > 0) this.endedFlowKeys.push(...ended);
          this.metrics.rejected('max_flows', now);
          return { rejected: 'max_flows' };
        }
        ended.push(victim);
      }
    }
    const choice = this.choose({ clientIp }, now);
    if (!choice || !this.flows.create(key, { clientIp, clientPort, pool: choice.target.pool, backend: choice.target.name }, now)) {
      // The proxy must still close what was ended to make room.
      if (ended !== undefined && ended.length > 0) this.endedFlowKeys.push(...ended);
      if (!choice) return undefined;
      this.metrics.rejected('max_flows', now);
      return { rejected: 'max_flows' };
    }
    const found = this.pools.stateOf(choice.target);
    if (found) this.connStart(found.pool, found.state, now);
    return ended !== undefined && ended.length > 0 ? { target: choice.target, created: true, key, ended } : { target: choice.target, created: true, key };
  }

  /** Evict the least recently seen flow: its load ends and the eviction is counted. */
  private evictFlow(now: number): string | undefined {
    const victim = this.flows.evictOldest(now);
    if (victim === undefined) return undefined;
    this.flowEnded(victim.flow, now);
    this.metrics.evicted(now);
    return victim.key;
  }

  udpDatagram(key: string, direction: 'to_backend' | 'to_client', bytes: number, now: number): void {
    const flow = this.flows.datagram(key, direction, bytes, now);
    if (!flow) return;
    const pool = this.pools.get(flow.pool);
    const state = pool?.backends.get(flow.backend);
    if (!pool || !state) return;
    this.metrics.packets(state.metrics, direction, 1, now);
    this.metrics.bytes(state.metrics, direction, bytes, now);
    pool.balancer.onBytes(flow.backend, bytes, now);
  }

  private removeFlow(key: string, now: number): void {
    const flow = this.flows.peek(key);
    if (!flow) return;
    this.flows.remove(key, now);
    this.flowEnded(flow, now);
  }

  private flowEnded(flow: UdpFlowEntry, now: number): void {
    const pool = this.pools.get(flow.pool);
    const state = pool?.backends.get(flow.backend);
    if (!pool || !state) return;
    // A replicated flow was counted as load only (none in http mode); a local one with metrics too.
    if (flow.replicated !== true) this.connEnd(pool, state, now);
    else if (this.service.mode !== 'http') this.pools.loadEnd(pool, state);
  }

  expireUdpFlows(now: number): string[] {
    // A standby's flows end by the master's deletes, not by its own clock.
    const gone = this.replica.role === 'standby' ? [] : this.flows.expire(now, undefined, (_key, flow) => this.flowEnded(flow, now));
    if (this.endedFlowKeys.length === 0) return gone;
    const pending = this.endedFlowKeys.splice(0);
    return pending.concat(gone);
  }

  setBackendUp(pool: string, backend: string, up: boolean, _now: number): void {
    this.pools.setUp(pool, backend, up);
  }

  hasHealthyBackend(pool = 'default'): boolean {
    return this.pools.hasHealthy(pool);
  }

  tick(now: number): void {
    if (this.replica.role === 'master') this.persistence?.expire(now);
    this.admission.prune(now);
    this.replica.tick(now);
  }

  /** The tables a master streams: connections, UDP flows, and persistence when configured. */
  replicatedTables(): SourceTable[] {
    return this.replica.tables();
  }

  /**
   * Apply one record from the master. Flows and connections count as load on their
   * backend from now on (moved on an overwrite to another backend, ended by a delete).
   * Unknown pool or backend: nothing changes. TTLs get REPLICA_EXPIRY_GRACE_MS.
   */
  applyReplicated(record: ReplicationRecord, now: number): ApplyResult {
    return this.replica.apply(record, now);
  }

  /** Empty the replicated tables before a snapshot, ending every flow's, connection's and ghost's load. */
  clearReplicated(now: number): void {
    this.replica.clear(now);
  }

  /**
   * standby: tick() and expireUdpFlows() leave entries to the master's deletes.
   * standby -> master: replicated connections become ghosts for up to ghostMs.
   */
  setReplicaRole(role: ReplicaRole, now: number, ghostMs: number): void {
    this.replica.setRole(role, now, ghostMs);
  }

  replicaStatus(): ReplicaStatus {
    return this.replica.status();
  }

  snapshot(now: number): MetricsSnapshot {
    return this.metrics.snapshot(now);
  }

  /** Backend health and load, for status output. */
  backendStates(): Array<{ pool: string; name: string; up: boolean; active: number }> {
    return this.pools.states();
  }
}

const NOOP_HANDLE: ConnectionHandle = Object.freeze({ id: '0', bytesToBackend: () => {}, bytesToClient: () => {}, end: () => {} });

export function createDispatcher(service: ServiceConfig, opts: DispatcherOptions = {}): Dispatcher {
  return new Dispatcher(service, opts);
}
