/**
 * The composition root of the data plane: for each configured service, its dispatcher
 * (pure decisions and tables), its health monitor and its proxy, plus a 1 s ticker that
 * expires tables. Knows nothing about election; the election side reads its health.
 */
import { randomBytes } from 'node:crypto';
import type { HaloConfig, ServiceConfig } from '../config/schema.js';
import { replicationSchema } from '../config/replication-schema.js';
import { HaloError } from '../core/errors.js';
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

interface Proxy {
  listen(): Promise<{ address: string; port: number }>;
  close(drainMs: number): Promise<void>;
}

export interface ServiceRuntime {
  readonly config: ServiceConfig;
  readonly dispatcher: Dispatcher;
  readonly monitor: HealthMonitor;
  readonly proxy: Proxy;
  port?: number;
  healthy: boolean;
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
    readonly config: Readonly<HaloConfig>,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    for (const service of this.config.services) {
      const secret = loadCookieSecret(service);
      const wallSeconds = () => Math.floor(Date.now() / 1000);
      const bootTag = this.bootTag;
      const dispatcher = createDispatcher(service, secret === undefined ? { wallSeconds, bootTag } : { cookieSecret: secret, wallSeconds, bootTag });
      // Master -> standby is no takeover: nothing to ghost, ghostMs unused.
      if (this.replicaRole === 'standby') dispatcher.setReplicaRole('standby', systemClock.now(), 0);
      const log = this.log.child({ service: service.name });
      const proxy = this.makeProxy(service, dispatcher, log);
      const runtime: ServiceRuntime = {
        config: service,
        dispatcher,
        proxy,
        healthy: true,
        monitor: new HealthMonitor({
          service,
          // The monitor names the service on its own lines.
          logger: this.log,
          onChange: (pool, backend, up) => {
            dispatcher.setBackendUp(pool, backend, up, systemClock.now());
            this.checkServiceHealth(runtime, log);
          },
        }),
      };
      this.services.set(service.name, runtime);
      try {
        const bound = await proxy.listen();
        runtime.port = bound.port;
      } catch (err) {
        // Proxies wrap the socket error; the operator wants the errno (EADDRINUSE, EACCES).
        const errno = ((err as Error).cause ?? err) as NodeJS.ErrnoException;
        const proto = service.mode === 'udp' ? 'udp' : 'tcp';
        throw new HaloError('HALO_ERR_LISTEN', `service ${service.name}: cannot listen on ${proto} ${service.listen.address}:${service.listen.port}: ${errno.code ?? errno.message}`, { service: service.name }, { cause: err });
      }
      runtime.monitor.start();
      log.info('service_started', { mode: service.mode, listen: `${service.listen.address}:${runtime.port}`, algorithm: service.algorithm, backends: service.backends.length, health_check: service.health_check.type, persistence: service.persistence.type });
    }
    this.ticker = setInterval(() => {
      const now = systemClock.now();
      for (const s of this.services.values()) s.dispatcher.tick(now);
    }, 1000);
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
      await new Promise((r) => setTimeout(r, 50));
    } while (performance.now() < deadline);
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
    const ghostMs = this.config.cluster?.replication.ghost_connection_ms ?? DEFAULT_GHOST_MS;
    for (const s of this.services.values()) s.dispatcher.setReplicaRole(role, now, ghostMs);
  }

  replicaStatus(): Record<string, ReplicaStatus> {
    return Object.fromEntries([...this.services].map(([name, s]) => [name, s.dispatcher.replicaStatus()]));
  }

  boundPort(service: string): number | undefined {
    return this.services.get(service)?.port;
  }

  private makeProxy(service: ServiceConfig, dispatcher: Dispatcher, logger: Logger): Proxy {
    switch (service.mode) {
      case 'tcp':
        return new TcpProxy({ dispatcher, logger });
      case 'udp':
        return new UdpProxy({ dispatcher, logger });
      case 'http':
        return new HttpProxy({ dispatcher, logger });
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
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = undefined;
    await Promise.all(
      [...this.services.values()].map(async (s) => {
        await s.monitor.stop();
        await s.proxy.close(drainMs);
      }),
    );
    closeIcmpSocket();
  }
}
