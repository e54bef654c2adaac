/**
 * The composition root of the data plane: for each configured service, its dispatcher
 * (pure decisions and tables), its health monitor and its proxy, plus a 1 s ticker that
 * expires tables. Knows nothing about election; the election side reads its health.
 * A config reload (reconfigure) changes services while they run, tables kept.
 */
import { randomBytes } from 'node:crypto';
import type { HaloConfig, ServiceConfig } from '../config/schema.js';
import type { ConfigDiff } from '../config/config-diff.js';
import { replicationSchema } from '../config/replication-schema.js';
import { loadSecret } from './secrets.js';
import { createDispatcher, type Dispatcher } from '../core/service/dispatcher.js';
import type { ReplicaRole, ReplicaSink, ReplicaStatus, SourceTable } from '../core/service/replica-types.js';
import type { Logger } from '../adapters/logger.js';
import { systemClock } from '../adapters/system-clock.js';
import { HealthMonitor } from '../adapters/health-monitor.js';
import { closeIcmpSocket } from '../adapters/probes/icmp.js';
import { TcpProxy } from '../adapters/proxy/tcp-proxy.js';
import { UdpProxy } from '../adapters/proxy/udp-proxy.js';
import { HttpProxy } from '../adapters/proxy/http-proxy.js';
import { listenProxy, overlaps, REBIND_RETRIES, withListen, type Proxy } from './proxy-binding.js';


export interface ServiceRuntime {
  /** The config in force; a reload replaces it, and the monitor and proxy with it when needed. */
  config: ServiceConfig;
  readonly dispatcher: Dispatcher;
  monitor: HealthMonitor;
  proxy: Proxy;
  port?: number;
  healthy: boolean;
  /** The cookie secret the dispatcher signs with: a reload that reads another one rebuilds it. */
  readonly secret: Buffer | undefined;
}

/** What a reload did that its log line should say beyond the config diff. */
export interface DataPlaneReload {
  /** Services whose tables started empty (a new dispatcher), with why. */
  tablesReset: string[];
  /** Problems after the point of no return (a port taken between the check and the bind). */
  failures: string[];
}


/** Cookie secrets come from a file or the environment, never from the config text. */
export function loadCookieSecret(service: ServiceConfig): Buffer | undefined {
  const p = service.persistence;
  if (p.type !== 'cookie') return undefined;
  return loadSecret({ file: p.secret_file, env: p.secret_env }, `services[${service.name}].persistence`, 'cookie secret');
}

/** The schema's default, for a config without a cluster section. */
const DEFAULT_GHOST_MS = replicationSchema.parse({}).ghost_connection_ms;

export class DataPlane {
  readonly services = new Map<string, ServiceRuntime>();
  #config: Readonly<HaloConfig>;
  /** Proxies of removed or replaced services, draining: stop() waits for them too. */
  readonly #retiring = new Set<Promise<void>>();
  /** stop() began: background work (verifyBackends) ends instead of running to its deadline. */
  #stopping = false;
  /**
   * Random per process, the prefix of every connection id (`<bootTag>-<n>`): ids from
   * two boots or two nodes never meet in a replica's table. 32 bits in base 36, <= 7 chars.
   */
  readonly bootTag = randomBytes(4).readUInt32BE(0).toString(36);
  private ticker: NodeJS.Timeout | undefined;
  private replicaRole: ReplicaRole = 'master';

  /** Told when a service loses its last healthy backend or gets one back (election tracking). */
  onServiceHealth: ((service: string, healthy: boolean) => void) | undefined;

  constructor(
    config: Readonly<HaloConfig>,
    private readonly log: Logger,
  ) {
    this.#config = config;
  }

  /** The config in force: the one it started with, or the last reload's. */
  get config(): Readonly<HaloConfig> {
    return this.#config;
  }

  async start(): Promise<void> {
    for (const service of this.#config.services) {
      const runtime = this.#newRuntime(service, loadCookieSecret(service));
      this.services.set(service.name, runtime);
      runtime.port = await this.#listen(runtime);
      this.#started(runtime);
    }
    this.ticker = setInterval(() => {
      const now = systemClock.now();
      for (const s of this.services.values()) s.dispatcher.tick(now);
    }, 1000);
  }

  /**
   * Apply a reload (design.md section 6). Until the first new socket is bound nothing
   * changes, and a failure there (a secret that cannot be read, a port in use) throws
   * with nothing applied: the old config keeps running. Then: dispatchers reconfigured in
   * place (tables kept), monitors replaced where backends or checks changed (knowing
   * which backends are down), removed services drained, rebuilt ones replaced.
   * `tablesChanged` runs once the set of replicated tables is final, before any new
   * table can have an entry (replication subscribes to them).
   */
  async reconfigure(next: Readonly<HaloConfig>, diff: ConfigDiff, tablesChanged?: () => void): Promise<DataPlaneReload> {
    const tablesReset: string[] = [];
    const failures: string[] = [];
    const fresh: ServiceRuntime[] = [];
    // 1. Build what is new; reading a secret may fail: nothing has changed yet.
    const byName = new Map(next.services.map((s) => [s.name, s]));
    for (const name of diff.servicesAdded) fresh.push(this.#newRuntime(byName.get(name) as ServiceConfig, loadCookieSecret(byName.get(name) as ServiceConfig)));
    const inPlace: Array<{ runtime: ServiceRuntime; next: ServiceConfig; rebind: boolean; monitor: boolean }> = [];
    for (const change of diff.servicesChanged) {
      const runtime = this.services.get(change.name);
      const svc = byName.get(change.name);
      if (runtime === undefined || svc === undefined) continue;
      const secret = loadCookieSecret(svc);
      const secretChanged = secret !== undefined && runtime.secret !== undefined && !secret.equals(runtime.secret);
      if (change.rebuild.length > 0 || secretChanged) {
        tablesReset.push(`${change.name} (${[...change.rebuild, ...(secretChanged ? ['cookie secret'] : [])].join(', ')} changed)`);
        fresh.push(this.#newRuntime(svc, secret));
      } else {
        const monitor = change.fields.some((f) => /^(backends|pools|health_check)\b/.test(f));
        inPlace.push({ runtime, next: svc, rebind: change.rebind, monitor });
      }
    }
    // 2. Bind the new listeners that take no address an old one holds; a failure unbinds them and changes nothing.
    const held = (svc: ServiceConfig) => [...this.services.values()].some((r) => overlaps(r.config, svc));
    const early = fresh.filter((r) => !held(r.config));
    const rebinds = inPlace.filter((p) => p.rebind && !held(p.next));
    const bound: Proxy[] = [];
    const rebound: Array<{ runtime: ServiceRuntime; proxy: Proxy; port: number }> = [];
    try {
      for (const r of early) {
        r.port = await this.#listen(r);
        bound.push(r.proxy);
      }
      for (const p of rebinds) {
        const proxy = this.makeProxy(p.next, p.runtime.dispatcher, this.log.child({ service: p.next.name }), p.next.listen);
        const port = await listenProxy(proxy, p.next);
        bound.push(proxy);
        rebound.push({ runtime: p.runtime, proxy, port });
      }
    } catch (err) {
      for (const proxy of bound) await proxy.close(0);
      throw err;
    }
    // 3. Past the point of no return, in one synchronous step so that replication
    // subscribes to the new tables before the event loop runs again. (An added service
    // bound in step 2 may have taken a connection meanwhile: the periodic table digests
    // catch that entry, as any divergence.)
    for (const { runtime, proxy, port } of rebound) {
      this.#retire(runtime.proxy, runtime.config.timeouts.drain_ms);
      runtime.proxy = proxy;
      runtime.port = port;
    }
    for (const p of inPlace) {
      p.runtime.dispatcher.reconfigure(p.next);
      p.runtime.config = p.next;
    }
    const replaced = new Set(fresh.map((r) => r.config.name));
    const gone: ServiceRuntime[] = [];
    for (const name of [...diff.servicesRemoved, ...replaced]) {
      const old = this.services.get(name);
      if (old === undefined) continue;
      this.services.delete(name);
      gone.push(old);
      this.#retire(old.proxy, old.config.timeouts.drain_ms);
      // The election counts services without a healthy backend as "not ready": one that is gone is neither.
      if (!old.healthy && !replaced.has(name)) this.onServiceHealth?.(name, true);
    }
    for (const r of fresh) this.services.set(r.config.name, r);
    this.#config = next;
    tablesChanged?.();
    // 4. Health checks follow the new backends, knowing which ones are down.
    for (const old of gone) await old.monitor.stop();
    for (const p of inPlace) {
      if (p.monitor) {
        const old = p.runtime.monitor;
        p.runtime.monitor = this.#newMonitor(p.runtime);
        await old.stop();
        p.runtime.monitor.start();
      }
      this.checkServiceHealth(p.runtime, this.log.child({ service: p.next.name }));
    }
    // 5. The listeners that had to wait for an old one to let go (a brief refusal window).
    for (const r of fresh.filter((x) => !early.includes(x))) {
      try {
        r.port = await this.#listen(r, REBIND_RETRIES);
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
    for (const p of inPlace.filter((x) => x.rebind && !rebinds.includes(x))) {
      const old = p.runtime.proxy;
      this.#retire(old, p.runtime.config.timeouts.drain_ms);
      const proxy = this.makeProxy(p.next, p.runtime.dispatcher, this.log.child({ service: p.next.name }), p.next.listen);
      try {
        p.runtime.port = await listenProxy(proxy, p.next, REBIND_RETRIES);
        p.runtime.proxy = proxy;
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
    for (const r of fresh) this.#started(r);
    return { tablesReset, failures };
  }

  #newRuntime(service: ServiceConfig, secret: Buffer | undefined): ServiceRuntime {
    const wallSeconds = () => Math.floor(Date.now() / 1000);
    const bootTag = this.bootTag;
    const dispatcher = createDispatcher(service, secret === undefined ? { wallSeconds, bootTag } : { cookieSecret: secret, wallSeconds, bootTag });
    // Master -> standby is no takeover: nothing to ghost, ghostMs unused.
    if (this.replicaRole === 'standby') dispatcher.setReplicaRole('standby', systemClock.now(), 0);
    const proxy = this.makeProxy(service, dispatcher, this.log.child({ service: service.name }));
    const runtime = { config: service, dispatcher, proxy, healthy: true, secret } as ServiceRuntime;
    runtime.monitor = this.#newMonitor(runtime);
    return runtime;
  }

  /** Backends start as the dispatcher sees them (all up for a new service, as at start). */
  #newMonitor(runtime: ServiceRuntime): HealthMonitor {
    const states = new Map(runtime.dispatcher.backendStates().map((s) => [`${s.pool}/${s.name}`, s.up]));
    const log = this.log.child({ service: runtime.config.name });
    return new HealthMonitor({
      service: runtime.config,
      // The monitor names the service on its own lines.
      logger: this.log,
      initialUp: (pool, backend) => states.get(`${pool}/${backend}`),
      onChange: (pool, backend, up) => {
        runtime.dispatcher.setBackendUp(pool, backend, up, systemClock.now());
        this.checkServiceHealth(runtime, log);
      },
    });
  }

  #listen(runtime: ServiceRuntime, retries = 0): Promise<number> {
    return listenProxy(runtime.proxy, runtime.config, retries);
  }

  #started(runtime: ServiceRuntime): void {
    const service = runtime.config;
    runtime.monitor.start();
    this.log.child({ service: service.name }).info('service_started', { mode: service.mode, listen: `${service.listen.address}:${runtime.port}`, algorithm: service.algorithm, backends: service.backends.length, health_check: service.health_check.type, persistence: service.persistence.type });
  }

  /** Stop accepting on `proxy` now; its connections drain in the background. */
  #retire(proxy: Proxy, drainMs: number): void {
    const done = proxy.close(drainMs).catch(() => undefined);
    this.#retiring.add(done);
    void done.then(() => this.#retiring.delete(done));
  }

  /**
   * Until every service reaches at least one backend (fresh probes, retried every 50 ms),
   * or timeoutMs passes. The election asks before it lets this node preempt a live master.
   */
  async verifyBackends(timeoutMs: number): Promise<{ ok: boolean; cause: string }> {
    const deadline = performance.now() + timeoutMs;
    let failing: string[] = [];
    do {
      const results = await Promise.all([...this.services.values()].map(async (s) => [s.config.name, await s.monitor.reachable()] as const));
      failing = results.filter(([, ok]) => !ok).map(([name]) => name);
      if (failing.length === 0) return { ok: true, cause: 'every service reached a backend' };
      // stopping: nobody waits for the answer, and probing on kept halo alive up to the deadline
      if (this.#stopping) return { ok: false, cause: 'the data plane is stopping' };
      await new Promise((r) => setTimeout(r, 50));
    } while (performance.now() < deadline && !this.#stopping);
    return { ok: false, cause: `no backend reachable in ${failing.join(', ')} within ${timeoutMs} ms` };
  }

  /** Every service's replicated tables (connections, UDP flows, persistence), once started. */
  replicatedTables(): SourceTable[] {
    return [...this.services.values()].flatMap((s) => s.dispatcher.replicatedTables());
  }

  /**
   * Where a standby applies its master's records: each goes to the service its table
   * is named after (`<service>/<kind>`); a service this node lacks is 'unknown_table'.
   */
  replicaSink(): ReplicaSink {
    return {
      apply: (record, now) => {
        const slash = record.table.indexOf('/');
        const runtime = slash > 0 ? this.services.get(record.table.slice(0, slash)) : undefined;
        return runtime === undefined ? 'unknown_table' : runtime.dispatcher.applyReplicated(record, now);
      },
      clear: (now) => {
        for (const s of this.services.values()) s.dispatcher.clearReplicated(now);
      },
    };
  }

  /**
   * standby: tables are the master's, no local expiry. standby -> master (takeover):
   * replicated TCP connections become ghosts for cluster.replication.ghost_connection_ms.
   * Services started later get the current role.
   */
  setReplicaRole(role: ReplicaRole, now: number): void {
    this.replicaRole = role;
    const ghostMs = this.#config.cluster?.replication.ghost_connection_ms ?? DEFAULT_GHOST_MS;
    for (const s of this.services.values()) s.dispatcher.setReplicaRole(role, now, ghostMs);
  }

  replicaStatus(): Record<string, ReplicaStatus> {
    return Object.fromEntries([...this.services].map(([name, s]) => [name, s.dispatcher.replicaStatus()]));
  }

  boundPort(service: string): number | undefined {
    return this.services.get(service)?.port;
  }

  private makeProxy(service: ServiceConfig, dispatcher: Dispatcher, logger: Logger, listen?: ServiceConfig['listen']): Proxy {
    // A rebind's proxy reads its address from the dispatcher, which still has the old config until step 3.
    const view = listen === undefined ? dispatcher : withListen(dispatcher, listen);
    switch (service.mode) {
      case 'tcp':
        return new TcpProxy({ dispatcher: view, logger });
      case 'udp':
        return new UdpProxy({ dispatcher: view, logger });
      case 'http':
        return new HttpProxy({ dispatcher: view, logger });
    }
  }

  /** "When none is healthy the service says so": one line on each transition. */
  private checkServiceHealth(runtime: ServiceRuntime, log: Logger): void {
    const healthy = runtime.dispatcher.hasHealthyBackend();
    if (healthy === runtime.healthy) return;
    runtime.healthy = healthy;
    this.onServiceHealth?.(runtime.config.name, healthy);
    if (healthy) log.info('service_up', { cause: 'a backend is healthy again' });
    else log.error('service_down', { cause: 'no healthy backend', backends: runtime.config.backends.map((b) => b.name) });
  }

  async stop(drainMs: number): Promise<void> {
    this.#stopping = true;
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = undefined;
    await Promise.all([
      ...[...this.services.values()].map(async (s) => {
        await s.monitor.stop();
        await s.proxy.close(drainMs);
      }),
      ...this.#retiring,
    ]);
    closeIcmpSocket();
  }
}
