/**
 * Reads the running components into StatusInputs (for /status and /metrics), and turns
 * the event log and the election's status changes into the /events feed. The views are
 * structural, so DataPlane, ElectionHost and ReplicationNode fit as they are and tests
 * pass plain objects.
 */
import type { HaloConfig } from '../../config/schema.js';
import type { MetricsSnapshot } from '../../core/metrics/service-metrics.js';
import type { EventFeed } from '../../adapters/admin/events-socket.js';
import type { ElectionNodeStatus } from '../election/election-node.js';
import type { ElectionHostEvent } from '../election/election-host.js';
import type { ReplicationStatus } from '../replication/replication-node.js';
import type { EventLog, LogRecord } from './event-log.js';
import { buildStatusReport, type StatusInputs, type StatusReport } from './status-report.js';

export interface PlaneView {
  readonly services: ReadonlyMap<
    string,
    {
      readonly config: { readonly name: string; readonly mode: 'tcp' | 'udp' | 'http'; readonly listen: { readonly address: string; readonly port: number } };
      readonly port?: number | undefined;
      readonly healthy: boolean;
      readonly dispatcher: { snapshot(now: number): MetricsSnapshot; backendStates(): Array<{ pool: string; name: string; up: boolean; active: number }> };
    }
  >;
}

export interface ElectionView {
  readonly status: ElectionNodeStatus | undefined;
  readonly statusAgeMs: number;
  subscribe(listener: (event: ElectionHostEvent) => void): () => void;
}

export interface ReplicationView {
  status(): ReplicationStatus;
}

export interface StatusSources {
  config: Readonly<HaloConfig>;
  plane: PlaneView;
  election: ElectionView | undefined;
  replication: ReplicationView | undefined;
  version: string;
  /** Monotonic ms (the proxies' clock: rate windows are kept in it). */
  monotonicNow(): number;
  wallNow(): number;
  uptimeMs(): number;
}

export function collectStatusInputs(src: StatusSources): StatusInputs {
  const c = src.config.cluster;
  const now = src.monotonicNow();
  return {
    node: src.config.node.name,
    version: src.version,
    uptimeMs: src.uptimeMs(),
    generatedAt: new Date(src.wallNow()).toISOString(),
    cluster:
      c === undefined
        ? undefined
        : {
            id: c.id,
            vips: c.vips.map((v) => v.address),
            peers: c.transport.mode === 'unicast' ? c.transport.peers : [],
            advertIntervalMs: c.advert_interval_ms,
            downAdverts: c.down_adverts,
            replication: c.replication.enabled,
          },
    election: src.election?.status,
    electionStatusAgeMs: src.election?.statusAgeMs ?? 0,
    replication: src.replication?.status(),
    services: [...src.plane.services.values()].map((s) => ({
      name: s.config.name,
      mode: s.config.mode,
      listen: `${s.config.listen.address}:${s.port ?? s.config.listen.port}`,
      healthy: s.healthy,
      backends: s.dispatcher.backendStates(),
      metrics: s.dispatcher.snapshot(now),
    })),
  };
}

export type EventMessage =
  | { type: 'log'; seq: number; at: number; entry: LogRecord['entry'] }
  | { type: 'status'; at: number; reason: 'current' | 'state_change'; status: StatusReport };

const logMessage = (r: LogRecord): EventMessage => ({ type: 'log', seq: r.seq, at: r.at, entry: r.entry });

/**
 * The /events feed: log lines as they are written, and the status report whenever the
 * election's state, the master it follows or its synced flag changes. A new client gets
 * the replay it asked for, then the current status, so it never starts blind.
 */
export function eventFeed(events: EventLog, src: StatusSources): EventFeed {
  const report = () => buildStatusReport(collectStatusInputs(src));
  return {
    initial: (sinceMs) => [...(sinceMs === undefined ? [] : events.since(sinceMs).map(logMessage)), { type: 'status', at: src.wallNow(), reason: 'current', status: report() }],
    subscribe: (send) => {
      const offLog = events.subscribe((r) => send(logMessage(r)));
      let last = electionKey(src.election?.status);
      const offElection =
        src.election?.subscribe((e) => {
          if (e.type !== 'status') return;
          const key = electionKey(e.status);
          if (key === last) return;
          last = key;
          send({ type: 'status', at: src.wallNow(), reason: 'state_change', status: report() });
        }) ?? (() => undefined);
      return () => {
        offLog();
        offElection();
      };
    },
  };
}

function electionKey(s: ElectionNodeStatus | undefined): string {
  return s === undefined ? '' : `${s.state}|${s.master?.nodeId ?? ''}|${s.synced}`;
}
