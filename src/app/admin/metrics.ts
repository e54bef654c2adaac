/**
 * `GET /metrics`: a prom-client Registry whose every metric is filled on scrape from the
 * same inputs as `/status` (election, replication, data plane), so the two never
 * disagree and nothing is counted twice. Counters mirror the components' own cumulative
 * counts (they reset only when the process or a reloaded service restarts its counts,
 * which Prometheus' rate() handles). Rates are left to Prometheus.
 */
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { ElectionState } from '../../core/election/election-types.js';
import type { RejectReason } from '../../core/service/dispatcher-types.js';
import type { StatusClass, TrafficSnapshot } from '../../core/metrics/service-metrics.js';
import { buildStatusReport, type StatusInputs } from './status-report.js';

const STATES: readonly ElectionState[] = ['INIT', 'BACKUP', 'MASTER', 'FAULT'];
const CLASSES: readonly StatusClass[] = ['1xx', '2xx', '3xx', '4xx', '5xx', 'other'];

export interface AdminMetricsOptions {
  /** prom-client's process and Node.js metrics (event-loop lag, heap, GC), prefixed halo_. Default false. */
  defaultMetrics?: boolean;
}

type Labels = Record<string, string>;
type Fill = (set: (labels: Labels, value: number) => void, inputs: StatusInputs) => void;

export class AdminMetrics {
  readonly registry = new Registry();
  readonly #collect: () => StatusInputs;
  #inputs: StatusInputs | undefined;

  constructor(collect: () => StatusInputs, opts: AdminMetricsOptions = {}) {
    this.#collect = collect;
    if (opts.defaultMetrics === true) collectDefaultMetrics({ register: this.registry, prefix: 'halo_' });
    // A metric without labels always has a sample (0 until set): a node without a cluster
    // must not export election metrics that read as "FAULT, not synced". The config decides.
    const first = collect();
    defineMetrics((kind, name, help, labelNames, fill) => this.#define(kind, name, help, labelNames, fill), { election: first.cluster !== undefined, replication: first.cluster?.replication === true });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** One scrape: the inputs are collected once and shared by every metric. */
  async text(): Promise<string> {
    this.#inputs = this.#collect();
    try {
      return await this.registry.metrics();
    } finally {
      this.#inputs = undefined;
    }
  }

  #define(kind: 'gauge' | 'counter', name: string, help: string, labelNames: readonly string[], fill: Fill): void {
    // Outside text() (someone reads the registry directly) each metric collects for itself.
    const inputs = (): StatusInputs => this.#inputs ?? this.#collect();
    if (kind === 'gauge') {
      new Gauge({
        name,
        help,
        labelNames,
        registers: [this.registry],
        collect() {
          this.reset();
          fill((labels, value) => this.set(labels, value), inputs());
        },
      });
    } else {
      new Counter({
        name,
        help,
        labelNames,
        registers: [this.registry],
        collect() {
          this.reset();
          fill((labels, value) => this.inc(labels, Math.max(0, value)), inputs());
        },
      });
    }
  }
}

type Define = (kind: 'gauge' | 'counter', name: string, help: string, labelNames: readonly string[], fill: Fill) => void;

function defineMetrics(def: Define, has: { election: boolean; replication: boolean }): void {
  def('gauge', 'halo_info', 'Always 1; the labels name the node and the halo version', ['node', 'version'], (set, i) => set({ node: i.node, version: i.version }, 1));
  def('gauge', 'halo_uptime_seconds', 'Seconds since this halo process started', [], (set, i) => set({}, i.uptimeMs / 1000));
  if (has.election) defineElection(def);
  if (has.replication) defineReplication(def);
  defineServices(def);
  defineBackends(def);
}

function defineElection(def: Define): void {
  def('gauge', 'halo_election_state', 'The election state of this node: 1 for the current state, 0 for the others', ['state'], (set, i) => {
    if (i.election === undefined) return;
    for (const s of STATES) set({ state: s }, i.election.state === s ? 1 : 0);
  });
  def('gauge', 'halo_election_priority', 'Election priority: configured, and effective after tracked objects', ['kind'], (set, i) => {
    if (i.election === undefined) return;
    set({ kind: 'configured' }, i.election.configuredPriority);
    set({ kind: 'effective' }, i.election.priority);
  });
  def('counter', 'halo_election_transitions_total', 'Times this node entered each election state', ['state'], (set, i) => {
    if (i.election === undefined) return;
    for (const s of STATES) set({ state: s }, i.election.transitions[s]);
  });
  def('counter', 'halo_election_adverts_sent_total', 'Election adverts this node sent', [], (set, i) => {
    if (i.election !== undefined) set({}, i.election.advertsSent);
  });
  def('counter', 'halo_election_adverts_accepted_total', 'Election adverts from other nodes this node accepted', [], (set, i) => {
    if (i.election !== undefined) set({}, i.election.advertsAccepted);
  });
  def('counter', 'halo_election_advert_drops_total', 'Election adverts dropped, by reason (bad HMAC, foreign cluster, replay...)', ['reason'], (set, i) => {
    for (const [reason, n] of Object.entries(i.election?.drops ?? {})) set({ reason }, n);
  });
  def('gauge', 'halo_election_synced', 'Whether this node advertises its tables as in step (1) or not (0)', [], (set, i) => {
    if (i.election !== undefined) set({}, i.election.synced ? 1 : 0);
  });
  def('gauge', 'halo_election_status_age_seconds', "Age of the election worker's latest status as the main thread holds it", [], (set, i) => {
    if (i.election !== undefined) set({}, i.electionStatusAgeMs / 1000);
  });
  def('gauge', 'halo_vip_held', 'Whether this node holds the VIP (1) or not (0)', ['vip'], (set, i) => {
    if (i.cluster === undefined) return;
    for (const v of buildStatusReport(i).vips) set({ vip: v.address }, v.self ? 1 : 0);
  });
  def('gauge', 'halo_peer_last_advert_seconds', "Seconds since another node's last accepted advert", ['peer'], (set, i) => {
    for (const p of i.election?.peers ?? []) set({ peer: p.nodeId }, (p.lastSeenMsAgo + i.electionStatusAgeMs) / 1000);
  });
}

function defineReplication(def: Define): void {
  def('gauge', 'halo_replication_role', 'Replication role of this node: 1 for the current role', ['role'], (set, i) => {
    const r = i.replication;
    if (r === undefined) return;
    for (const role of ['master', 'standby', 'idle'] as const) set({ role }, r.role === role ? 1 : 0);
  });
  def('gauge', 'halo_replication_synced', "Whether this node's tables are in step with the master's", [], (set, i) => {
    if (i.replication !== undefined) set({}, i.replication.synced ? 1 : 0);
  });
  def('gauge', 'halo_replication_peer_lag_seconds', 'Master: age of the oldest update a standby has not acknowledged', ['peer'], (set, i) => {
    for (const p of i.replication?.peers ?? []) if (p.lagMs !== undefined) set({ peer: p.node }, p.lagMs / 1000);
  });
  def('gauge', 'halo_replication_peer_unacked_updates', 'Master: updates a standby has not acknowledged', ['peer'], (set, i) => {
    for (const p of i.replication?.peers ?? []) if (p.unacked !== undefined) set({ peer: p.node }, p.unacked);
  });
  def('gauge', 'halo_replication_peer_synced', 'Master: whether a standby is streaming (has the snapshot and every update)', ['peer'], (set, i) => {
    for (const p of i.replication?.peers ?? []) set({ peer: p.node }, p.synced ? 1 : 0);
  });
  def('gauge', 'halo_replication_peer_snapshot_progress_ratio', 'Master: share of the snapshot sent to a standby, while one is in progress', ['peer'], (set, i) => {
    for (const p of i.replication?.peers ?? []) if (p.snapshot != null) set({ peer: p.node }, p.snapshot.total === 0 ? 1 : p.snapshot.sent / p.snapshot.total);
  });
  def('counter', 'halo_replication_peer_resyncs_total', 'Master: fresh snapshots a standby asked for (gap, digest mismatch)', ['peer'], (set, i) => {
    for (const p of i.replication?.peers ?? []) set({ peer: p.node }, p.resyncs);
  });
  def('gauge', 'halo_replication_digest_match', "Standby: whether the master's last table digest matched ours (absent until one is compared)", ['master'], (set, i) => {
    const s = i.replication?.standby;
    const m = s?.applier.lastDigestMatch;
    if (s !== undefined && m !== undefined && m !== null) set({ master: s.master ?? '' }, m ? 1 : 0);
  });
  def('gauge', 'halo_replication_table_entries', 'Entries in each replicated table', ['table'], (set, i) => {
    for (const [table, t] of Object.entries(i.replication?.tables ?? {})) set({ table }, t.entries);
  });
}

function traffic(def: Define, scope: 'service' | 'backend', labelNames: readonly string[], rows: (i: StatusInputs) => Array<[Labels, TrafficSnapshot]>): void {
  const per = scope === 'service' ? 'per service' : 'per backend';
  def('counter', `halo_${scope}_connections_total`, `Connections (TCP) or flows (UDP) opened, ${per}`, labelNames, (set, i) => {
    for (const [l, t] of rows(i)) set(l, t.totalConnections);
  });
  def('gauge', `halo_${scope}_connections_active`, `Connections or flows open now, ${per}`, labelNames, (set, i) => {
    for (const [l, t] of rows(i)) set(l, t.concurrentConnections);
  });
  def('counter', `halo_${scope}_requests_total`, `HTTP requests answered, ${per}`, labelNames, (set, i) => {
    for (const [l, t] of rows(i)) set(l, t.totalRequests);
  });
  def('counter', `halo_${scope}_responses_total`, `HTTP responses by status class, ${per}`, [...labelNames, 'class'], (set, i) => {
    for (const [l, t] of rows(i)) for (const c of CLASSES) set({ ...l, class: c }, t.responses[c]);
  });
  def('counter', `halo_${scope}_bytes_total`, `Bytes relayed (to_backend = client to backend), ${per}`, [...labelNames, 'direction'], (set, i) => {
    for (const [l, t] of rows(i)) {
      set({ ...l, direction: 'to_backend' }, t.bytesInTotal);
      set({ ...l, direction: 'to_client' }, t.bytesOutTotal);
    }
  });
  def('counter', `halo_${scope}_packets_total`, `UDP datagrams relayed, ${per}`, [...labelNames, 'direction'], (set, i) => {
    for (const [l, t] of rows(i)) {
      set({ ...l, direction: 'to_backend' }, t.packetsInTotal);
      set({ ...l, direction: 'to_client' }, t.packetsOutTotal);
    }
  });
  def('counter', `halo_${scope}_connect_failures_total`, `Failed connects to a backend, ${per}`, labelNames, (set, i) => {
    for (const [l, t] of rows(i)) set(l, t.connectFailures);
  });
  def('gauge', `halo_${scope}_response_seconds_ewma`, `Moving average of the HTTP response time, ${per} (absent before the first response)`, labelNames, (set, i) => {
    for (const [l, t] of rows(i)) if (t.responseMsEwma !== null) set(l, t.responseMsEwma / 1000);
  });
}

function defineServices(def: Define): void {
  const labels = ['service'] as const;
  traffic(def, 'service', labels, (i) => i.services.map((s) => [{ service: s.name }, s.metrics.service]));
  def('gauge', 'halo_service_healthy', 'Whether the service has at least one healthy backend', labels, (set, i) => {
    for (const s of i.services) set({ service: s.name }, s.healthy ? 1 : 0);
  });
  def('gauge', 'halo_service_backends_up', 'Backends passing their health check', labels, (set, i) => {
    for (const s of i.services) set({ service: s.name }, s.backends.filter((b) => b.up).length);
  });
  def('gauge', 'halo_service_backends', 'Backends configured', labels, (set, i) => {
    for (const s of i.services) set({ service: s.name }, s.backends.length);
  });
  def('counter', 'halo_service_rejections_total', 'Clients refused by a limit, by reason', ['service', 'reason'], (set, i) => {
    for (const s of i.services) for (const [reason, n] of Object.entries(s.metrics.service.rejections) as Array<[RejectReason, number]>) set({ service: s.name, reason }, n);
  });
}

function defineBackends(def: Define): void {
  const labels = ['service', 'pool', 'backend'] as const;
  traffic(def, 'backend', labels, (i) => i.services.flatMap((s) => Object.values(s.metrics.backends).map((b): [Labels, TrafficSnapshot] => [{ service: s.name, pool: b.pool, backend: b.backend }, b])));
  def('gauge', 'halo_backend_up', 'Whether the backend passes its health check', labels, (set, i) => {
    for (const s of i.services) for (const b of s.backends) set({ service: s.name, pool: b.pool, backend: b.name }, b.up ? 1 : 0);
  });
  def('gauge', 'halo_backend_balancer_load', "The balancer's load on the backend: local, replicated and ghost connections", labels, (set, i) => {
    for (const s of i.services) for (const b of s.backends) set({ service: s.name, pool: b.pool, backend: b.name }, b.active);
  });
}
