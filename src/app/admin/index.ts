/**
 * The admin API of a running node, composed from what `halo run` already has: the
 * data plane, the election host, the replication node, the event log its logger taps,
 * and the config. Wiring in run.ts:
 *
 *   const events = new EventLog();
 *   const log = createLogger({ level, format, node: config.node.name, tap: events.tap });
 *   if (election) events.follow(election);            // the worker's lines, from its start
 *   const cluster = new ClusterLog({ node, own: events, boot: Date.now() });  // also ReplicationNode's `logs.store`
 *   const admin = await startAdmin({ config, plane, election, replication, events, cluster, log });
 *   ...
 *   await admin?.close();
 */
import { readFileSync } from 'node:fs';
import type { HaloConfig } from '../../config/schema.js';
import { parseAdminListen } from '../../config/admin-schema.js';
import type { Logger } from '../../adapters/logger.js';
import { AdminServer, type AdminActionResult, type FailoverRequest } from '../../adapters/admin/admin-server.js';
import { systemClock } from '../../adapters/system-clock.js';
import { loadSecret } from '../secrets.js';
import type { EventLog } from './event-log.js';
import { ClusterLog, clusterEventFeed } from './cluster-log.js';
import { dashboardPage } from './dashboard/dashboard-page.js';
import { AdminMetrics } from './metrics.js';
import { buildStatusReport, type StatusReport } from './status-report.js';
import { collectStatusInputs, eventFeed, type ElectionView, type PlaneView, type ReplicationView, type StatusSources } from './status-sources.js';

export { EventLog } from './event-log.js';
export { ClusterLog } from './cluster-log.js';
export type { AdminActionResult, FailoverRequest } from '../../adapters/admin/admin-server.js';
export type { StatusReport } from './status-report.js';

export interface StartAdminOptions {
  config: Readonly<HaloConfig>;
  plane: PlaneView;
  election?: ElectionView | undefined;
  replication?: ReplicationView | undefined;
  events: EventLog;
  /** Every node's lines (GET /events?cluster=1, halo logs); default: this node's lines only. */
  cluster?: ClusterLog | undefined;
  log: Logger;
  /** POST /reload; absent = 501. */
  reload?: (() => Promise<AdminActionResult>) | undefined;
  /** POST /failover; absent = 501. */
  failover?: ((req: FailoverRequest) => Promise<AdminActionResult>) | undefined;
  /** Default: package.json's. */
  version?: string;
  /** prom-client's process metrics (default true). */
  processMetrics?: boolean;
  /** Tests: treat these remote addresses as loopback or not. */
  isLoopback?: (remoteAddress: string | undefined) => boolean;
}

export interface AdminHandle {
  readonly url: string;
  readonly port: number;
  status(): StatusReport;
  close(): Promise<void>;
}

export function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/**
 * Starts the admin API, or returns undefined when `admin.listen` is off. Rejects with
 * HALO_ERR_SECRET (token unreadable or shorter than 16) or HALO_ERR_LISTEN (address in use).
 */
export async function startAdmin(opts: StartAdminOptions): Promise<AdminHandle | undefined> {
  const a = opts.config.admin;
  const listen = parseAdminListen(a.listen);
  if (listen === undefined) return undefined;
  const token = a.token_file === undefined && a.token_env === undefined ? undefined : loadSecret({ file: a.token_file, env: a.token_env }, 'admin', 'admin token', 16, { file: 'token_file', env: 'token_env' });
  const src: StatusSources = {
    config: opts.config,
    plane: opts.plane,
    election: opts.election,
    replication: opts.replication,
    version: opts.version ?? packageVersion(),
    monotonicNow: () => systemClock.now(),
    wallNow: () => Date.now(),
    uptimeMs: () => process.uptime() * 1000,
  };
  const status = () => buildStatusReport(collectStatusInputs(src));
  const metrics = new AdminMetrics(() => collectStatusInputs(src), { defaultMetrics: opts.processMetrics ?? true });
  const log = opts.log.child({ component: 'admin' });
  const server = new AdminServer({
    host: listen.host,
    port: listen.port,
    token,
    ...(opts.isLoopback !== undefined ? { isLoopback: opts.isLoopback } : {}),
    status,
    dashboard: dashboardPage(),
    metrics: async () => ({ contentType: metrics.contentType, body: await metrics.text() }),
    events: eventFeed(opts.events, src),
    clusterEvents: clusterEventFeed(opts.cluster ?? new ClusterLog({ node: opts.config.node.name, own: opts.events, boot: Date.now() })),
    reload: opts.reload,
    failover: opts.failover,
    log,
  });
  const bound = await server.listen();
  const host = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
  const url = `http://${host}:${bound.port}`;
  log.info('admin_listening', { url, token: token === undefined ? 'none (loopback clients only)' : 'required', events_buffer: opts.events.capacity });
  return { url, port: bound.port, status, close: () => server.close() };
}
