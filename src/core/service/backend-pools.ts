/**
 * A service's pools and their backends: health, the load each backend carries (as the
 * balancer and the per-backend cap see it), and which backends may take one more. The
 * dispatcher decides; this keeps the books.
 *
 * A config reload changes pools in place (reconfigure): open connections hold their
 * PoolState and BackendState and settle their load on them when they end, so those
 * objects must survive a reload for the books to stay right; only the balancer inside
 * a pool may be replaced, and the new one is told the load and health of the old.
 */
import type { BackendConfig, ServiceConfig } from '../../config/schema.js';
import type { Balancer } from '../balancer/balancer.js';
import { createBalancer } from '../balancer/create-balancer.js';
import type { BackendMetrics, ServiceMetrics } from '../metrics/service-metrics.js';
import type { BackendTarget } from './dispatcher-types.js';

export interface BackendState {
  /** Replaced (not mutated: proxies hold it) when a reload moves the backend's address. */
  target: BackendTarget;
  config: BackendConfig;
  readonly metrics: BackendMetrics;
  up: boolean;
  active: number;
}

export interface PoolState {
  readonly name: string;
  algorithm: ServiceConfig['algorithm'];
  balancer: Balancer;
  readonly backends: Map<string, BackendState>;
  /** Backends at their max_connections cap: the balancer must avoid them. */
  readonly capped: Set<string>;
}

export class BackendPools {
  private readonly pools = new Map<string, PoolState>();

  constructor(private readonly metrics: ServiceMetrics) {}

  add(name: string, algorithm: ServiceConfig['algorithm'], backends: readonly BackendConfig[]): void {
    const states = new Map<string, BackendState>();
    for (const b of backends) states.set(b.name, this.newState(name, b));
    this.pools.set(name, { name, algorithm, balancer: createBalancer(algorithm, backends), backends: states, capped: new Set() });
  }

  /**
   * A reload: the pool gets these backends and this algorithm, keeping the state (health,
   * load, metrics) of every backend it keeps by name. New backends start up, as at start.
   * Same algorithm and the same names: the balancer stays and hears the new weights (its
   * rotation, response times and hash ring survive); otherwise a new one is told which
   * backends are down and how many connections each carries.
   */
  reconfigure(name: string, algorithm: ServiceConfig['algorithm'], backends: readonly BackendConfig[]): void {
    const pool = this.pools.get(name);
    if (pool === undefined) return this.add(name, algorithm, backends);
    const sameNames = backends.length === pool.backends.size && backends.every((b) => pool.backends.has(b.name));
    const states = new Map<string, BackendState>();
    for (const b of backends) {
      const state = pool.backends.get(b.name) ?? this.newState(name, b);
      if (state.target.address !== b.address || state.target.port !== b.port) state.target = Object.freeze({ pool: name, name: b.name, address: b.address, port: b.port });
      const weightChanged = state.config.weight !== b.weight;
      state.config = b;
      if (sameNames && algorithm === pool.algorithm && weightChanged) pool.balancer.onWeight(b.name, b.weight);
      states.set(b.name, state);
    }
    for (const gone of pool.backends.keys()) if (!states.has(gone)) this.metrics.forget(name, gone);
    pool.backends.clear();
    for (const [k, v] of states) pool.backends.set(k, v);
    if (!sameNames || algorithm !== pool.algorithm) {
      const balancer = createBalancer(algorithm, backends);
      for (const s of states.values()) {
        if (!s.up) balancer.onDown(s.target.name);
        for (let i = 0; i < s.active; i++) balancer.onConnStart(s.target.name);
      }
      pool.balancer = balancer;
      pool.algorithm = algorithm;
    }
    pool.capped.clear();
    for (const s of states.values()) if (s.config.max_connections > 0 && s.active >= s.config.max_connections) pool.capped.add(s.target.name);
  }

  /** A reload dropped the pool: its backends leave the figures. */
  remove(name: string): void {
    const pool = this.pools.get(name);
    if (pool === undefined) return;
    for (const b of pool.backends.keys()) this.metrics.forget(name, b);
    this.pools.delete(name);
  }

  names(): string[] {
    return [...this.pools.keys()];
  }

  private newState(pool: string, b: BackendConfig): BackendState {
    return { target: Object.freeze({ pool, name: b.name, address: b.address, port: b.port }), config: b, metrics: this.metrics.backend(pool, b.name), up: true, active: 0 };
  }

  get(name: string): PoolState | undefined {
    return this.pools.get(name);
  }

  values(): IterableIterator<PoolState> {
    return this.pools.values();
  }

  stateOf(target: { readonly pool: string; readonly name: string }): { pool: PoolState; state: BackendState } | undefined {
    const pool = this.pools.get(target.pool);
    const state = pool?.backends.get(target.name);
    return pool && state ? { pool, state } : undefined;
  }

  /** Up, weighted, not avoided by this request, under its cap. */
  eligible(state: BackendState | undefined, avoid: ReadonlySet<string> | undefined): state is BackendState {
    if (!state || !state.up || state.config.weight === 0) return false;
    if (avoid?.has(state.target.name)) return false;
    const cap = state.config.max_connections;
    return cap === 0 || state.active < cap;
  }

  /** Load as the balancer and the per-backend cap see it. */
  loadStart(pool: PoolState, state: BackendState): void {
    state.active++;
    pool.balancer.onConnStart(state.target.name);
    const cap = state.config.max_connections;
    if (cap > 0 && state.active >= cap) pool.capped.add(state.target.name);
  }

  loadEnd(pool: PoolState, state: BackendState): void {
    if (state.active > 0) state.active--;
    pool.balancer.onConnEnd(state.target.name);
    if (pool.capped.size > 0 && state.active < state.config.max_connections) pool.capped.delete(state.target.name);
  }

  setUp(pool: string, backend: string, up: boolean): void {
    const p = this.pools.get(pool);
    const state = p?.backends.get(backend);
    if (!p || !state || state.up === up) return;
    state.up = up;
    if (up) p.balancer.onUp(backend);
    else p.balancer.onDown(backend);
    this.metrics.setHealth(state.metrics, up);
  }

  hasHealthy(pool: string): boolean {
    const p = this.pools.get(pool);
    if (!p) return false;
    for (const s of p.backends.values()) if (s.up && s.config.weight > 0) return true;
    return false;
  }

  /** Backend health and load, for status output. */
  states(): Array<{ pool: string; name: string; up: boolean; active: number }> {
    const out: Array<{ pool: string; name: string; up: boolean; active: number }> = [];
    for (const p of this.pools.values()) for (const s of p.backends.values()) out.push({ pool: p.name, name: s.target.name, up: s.up, active: s.active });
    return out;
  }
}
