/**
 * The JSON behind `GET /status` and `halo status`: one node's view of the cluster,
 * assembled from the election worker's latest status, the replication node's status and
 * the data plane's per-service figures. Pure: every input, the clock included, is passed
 * in, so the report for a given cluster state is fixed and testable.
 *
 * Only masters send adverts (VRRP), so a peer heard recently is a master; a backup is
 * known to a master only through its replication link. Whatever this node cannot know
 * says "unknown" rather than guessing.
 */
import type { ElectionState } from '../../core/election/election-types.js';
import type { TrackedStatus } from '../../core/election/tracking.js';
import type { MetricsSnapshot } from '../../core/metrics/service-metrics.js';
import type { ElectionNodeStatus, StateChange, TakeoverTimeline } from '../election/election-node.js';
import type { ReplicationStatus } from '../replication/replication-node.js';

export interface ServiceInput {
  name: string;
  mode: 'tcp' | 'udp' | 'http';
  /** address:port as bound. */
  listen: string;
  healthy: boolean;
  /** The balancers' view: `active` includes replicated and ghost load. */
  backends: ReadonlyArray<{ pool: string; name: string; up: boolean; active: number }>;
  metrics: MetricsSnapshot;
}

export interface ClusterInput {
  id: number;
  vips: readonly string[];
  /** unicast transport: the configured peers' addresses; multicast: none. */
  peers: readonly string[];
  advertIntervalMs: number;
  downAdverts: number;
  replication: boolean;
}

export interface StatusInputs {
  node: string;
  version: string;
  uptimeMs: number;
  /** Wall-clock ISO 8601. */
  generatedAt: string;
  cluster: ClusterInput | undefined;
  election: ElectionNodeStatus | undefined;
  /** How old `election` is: its ages are as of when the worker built it. */
  electionStatusAgeMs: number;
  replication: ReplicationStatus | undefined;
  services: readonly ServiceInput[];
}

export type NodeState = ElectionState | 'LEAVING' | 'STANDALONE' | 'unknown';

export interface NodeReport {
  name: string | null;
  address: string | null;
  self: boolean;
  state: NodeState;
  priority: number | null;
  synced: boolean | null;
  lastSeenMsAgo: number | null;
  /** How this node knows: itself, the other's adverts, its replication link, or only the config. */
  seenVia: Array<'self' | 'advert' | 'replication' | 'config'>;
  /** Replication lag of that standby, when this node is the master streaming to it. */
  lagMs: number | null;
  unacked: number | null;
}

export interface ElectionReport {
  state: ElectionState;
  address: string;
  configuredPriority: number;
  effectivePriority: number;
  /** Why the effective priority differs, or why the node is in FAULT: one line per tracked object. */
  priorityReasons: string[];
  /** What keeps this node from preempting a live lower-priority master. */
  preemptBlockedBy: string[];
  tracked: TrackedStatus[];
  faultReason: string | null;
  /** Held out of preemption after a planned failover (`halo failover`), and for how much longer. */
  hold: { cause: string; remainingMs: number } | null;
  synced: boolean;
  master: { node: string; address: string; priority: number; synced: boolean; lastSeenMsAgo: number | null } | null;
  transitions: Record<ElectionState, number>;
  lastChange: StateChange | null;
  lastTakeover: TakeoverTimeline | null;
  adverts: { sent: number; accepted: number; drops: Record<string, number> };
}

export interface ReplicationPeerReport {
  node: string;
  remote: string;
  phase: string;
  synced: boolean;
  lagMs: number | null;
  unacked: number | null;
  snapshot: { sent: number; total: number } | null;
  resyncs: number;
  lastResync: string | null;
}

export interface ReplicationReport {
  role: 'master' | 'standby' | 'idle';
  synced: boolean;
  peers: ReplicationPeerReport[];
  standby: { master: string | null; connected: boolean; lastError: string | null; phase: string; snapshot: { received: number; total: number } | null } | null;
  /** Standby: did the master's last digest match our tables (null: none compared yet). */
  lastDigestMatch: boolean | null;
  tables: Record<string, { entries: number; digest: string }>;
}

export interface BackendReport {
  pool: string;
  name: string;
  up: boolean;
  /** Balancer load (local, replicated and ghost connections). */
  active: number;
  connectionsActive: number;
  connectionsTotal: number;
  requestsTotal: number;
}

export interface ServiceReport {
  name: string;
  mode: 'tcp' | 'udp' | 'http';
  listen: string;
  healthy: boolean;
  backendsUp: number;
  backendsTotal: number;
  connectionsActive: number;
  connectionsPerSec: number;
  requestsPerSec: number;
  backends: BackendReport[];
}

export interface StatusReport {
  node: string;
  version: string;
  uptimeMs: number;
  generatedAt: string;
  /** null: no cluster section (a single node, no election, no VIP). */
  cluster: { id: number } | null;
  election: ElectionReport | null;
  vips: Array<{ address: string; holder: string | null; self: boolean }>;
  /** This node first, then the others as far as this node can see them. */
  nodes: NodeReport[];
  replication: ReplicationReport | null;
  services: ServiceReport[];
  /** This node's last takeover (detected, VIP added, GARP sent), null if it never took over. */
  lastFailover: TakeoverTimeline | null;
}

const round = (ms: number): number => Math.round(ms);

export function buildStatusReport(inputs: StatusInputs): StatusReport {
  const e = inputs.election;
  const election = e === undefined ? null : electionReport(e, inputs.electionStatusAgeMs);
  const replication = inputs.replication === undefined ? null : replicationReport(inputs.replication);
  const nodes = nodeReports(inputs, election, replication);
  return {
    node: inputs.node,
    version: inputs.version,
    uptimeMs: round(inputs.uptimeMs),
    generatedAt: inputs.generatedAt,
    cluster: inputs.cluster === undefined ? null : { id: inputs.cluster.id },
    election,
    vips: (inputs.cluster?.vips ?? []).map((address) => vipHolder(address, inputs.node, election, nodes)),
    nodes,
    replication,
    services: inputs.services.map(serviceReport),
    lastFailover: election?.lastTakeover ?? null,
  };
}

function trackedReason(t: TrackedStatus): string | undefined {
  const what = t.kind === 'liveness' ? t.name : `${t.kind} ${t.name}`;
  const why = t.cause === '' ? '' : ` (${t.cause})`;
  if (t.faulting) return `${what} failing${why}: FAULT`;
  if (t.contribution < 0) return `${what} failing${why}: ${t.contribution}`;
  if (t.contribution > 0) return `${what} ok: +${t.contribution}`;
  return undefined;
}

/** The hold comes with `halo failover`, built alongside this; read loosely so either can change first. */
function holdOf(e: ElectionNodeStatus, ageMs: number): { cause: string; remainingMs: number } | null {
  const h = (e as { hold?: { until?: unknown; cause?: unknown } | undefined }).hold;
  if (h === undefined || typeof h.until !== 'number') return null;
  return { cause: typeof h.cause === 'string' ? h.cause : 'planned failover', remainingMs: Math.max(0, round(h.until - e.clockAt - ageMs)) };
}

function electionReport(e: ElectionNodeStatus, ageMs: number): ElectionReport {
  const tracked = e.tracking?.objects ?? [];
  const hold = holdOf(e, ageMs);
  const priorityReasons = tracked.map(trackedReason).filter((r): r is string => r !== undefined);
  if (hold !== null) priorityReasons.push(`held after a planned failover (${hold.cause}): advertises ${e.priority}`);
  else if (priorityReasons.length === 0 && e.priority !== e.configuredPriority) priorityReasons.push(`tracked objects changed it by ${e.priority - e.configuredPriority}`);
  const preemptBlockedBy = [
    ...(hold === null ? [] : [`held after a planned failover for another ${Math.ceil(hold.remainingMs / 1000)} s (halo failover --release ends it)`]),
    ...(e.synced ? [] : ['tables not synced with the master yet']),
    ...(e.notReady === undefined ? [] : [`data plane not ready: ${e.notReady}`]),
  ];
  const heard = e.master === undefined ? undefined : e.peers.find((p) => p.nodeId === e.master?.nodeId);
  return {
    state: e.state,
    address: e.address,
    configuredPriority: e.configuredPriority,
    effectivePriority: e.priority,
    priorityReasons,
    preemptBlockedBy,
    tracked,
    faultReason: e.faultReason ?? null,
    hold,
    synced: e.synced,
    master:
      e.master === undefined
        ? null
        : { node: e.master.nodeId, address: e.master.address, priority: e.master.priority, synced: e.master.synced, lastSeenMsAgo: heard === undefined ? null : round(heard.lastSeenMsAgo + ageMs) },
    transitions: { ...e.transitions },
    lastChange: e.lastChange ?? null,
    lastTakeover: e.lastTakeover ?? null,
    adverts: { sent: e.advertsSent, accepted: e.advertsAccepted, drops: { ...e.drops } },
  };
}

function replicationReport(r: ReplicationStatus): ReplicationReport {
  return {
    role: r.role,
    synced: r.synced,
    peers: r.peers.map((p) => ({
      node: p.node,
      remote: p.remote,
      phase: p.phase ?? 'idle',
      synced: p.synced,
      lagMs: p.lagMs ?? null,
      unacked: p.unacked ?? null,
      snapshot: p.snapshot == null ? null : { sent: p.snapshot.sent, total: p.snapshot.total },
      resyncs: p.resyncs,
      lastResync: p.lastResync ?? null,
    })),
    standby:
      r.standby === undefined
        ? null
        : {
            master: r.standby.master ?? null,
            connected: r.standby.connected,
            lastError: r.standby.lastError === '' ? null : r.standby.lastError,
            phase: r.standby.applier.phase,
            snapshot: r.standby.applier.snapshot === null ? null : { ...r.standby.applier.snapshot },
          },
    lastDigestMatch: r.standby?.applier.lastDigestMatch ?? null,
    tables: { ...r.tables },
  };
}

/** An advert older than Master_Down_Interval (plus one interval of slack) no longer says its sender is master. */
function freshWithin(intervalMs: number, downAdverts: number): number {
  return (downAdverts + 2) * intervalMs;
}

function nodeReports(inputs: StatusInputs, election: ElectionReport | null, replication: ReplicationReport | null): NodeReport[] {
  const e = inputs.election;
  const self: NodeReport = {
    name: inputs.node,
    address: e?.address ?? null,
    self: true,
    state: election?.state ?? 'STANDALONE',
    priority: election?.effectivePriority ?? null,
    synced: election?.synced ?? null,
    lastSeenMsAgo: 0,
    seenVia: ['self'],
    lagMs: null,
    unacked: null,
  };
  const others = new Map<string, NodeReport>();
  const downAdverts = inputs.cluster?.downAdverts ?? 3;
  for (const p of e?.peers ?? []) {
    const seen = round(p.lastSeenMsAgo + inputs.electionStatusAgeMs);
    const fresh = seen <= freshWithin(p.intervalMs, downAdverts);
    const leaving = p.shuttingDown || p.priority === 0;
    others.set(p.nodeId, {
      name: p.nodeId,
      address: p.address,
      self: false,
      state: !fresh ? 'unknown' : leaving ? 'LEAVING' : 'MASTER',
      priority: p.priority,
      synced: p.synced,
      lastSeenMsAgo: seen,
      seenVia: ['advert'],
      lagMs: null,
      unacked: null,
    });
  }
  // As master, a connected standby follows us: it is a BACKUP, whatever its old adverts said.
  for (const p of replication?.role === 'master' ? replication.peers : []) {
    const known = others.get(p.node);
    const address = known?.address ?? hostOf(p.remote);
    others.set(p.node, {
      name: p.node,
      address,
      self: false,
      state: 'BACKUP',
      priority: known?.priority ?? null,
      synced: p.synced,
      lastSeenMsAgo: 0,
      seenVia: [...(known?.seenVia ?? []), 'replication'],
      lagMs: p.lagMs,
      unacked: p.unacked,
    });
  }
  const addresses = new Set([...others.values()].map((n) => n.address));
  for (const address of inputs.cluster?.peers ?? []) {
    if (addresses.has(address)) continue;
    others.set(`@${address}`, { name: null, address, self: false, state: 'unknown', priority: null, synced: null, lastSeenMsAgo: null, seenVia: ['config'], lagMs: null, unacked: null });
  }
  // Named nodes by name, then the never-heard config peers by address.
  const sortKey = (n: NodeReport): string => (n.name === null ? `1${n.address ?? ''}` : `0${n.name}`);
  const rest = [...others.values()].sort((a, b) => (sortKey(a) < sortKey(b) ? -1 : sortKey(a) > sortKey(b) ? 1 : 0));
  return [self, ...rest];
}

function hostOf(remote: string): string {
  const m = /^\[?([^\]]*?)\]?:\d+$/.exec(remote);
  const host = m?.[1] ?? remote;
  return host.startsWith('::ffff:') ? host.slice(7) : host;
}

function vipHolder(address: string, self: string, election: ElectionReport | null, nodes: NodeReport[]): { address: string; holder: string | null; self: boolean } {
  if (election?.state === 'MASTER') return { address, holder: self, self: true };
  if (election?.master != null) return { address, holder: election.master.node, self: false };
  const master = nodes.find((n) => !n.self && n.state === 'MASTER');
  return { address, holder: master?.name ?? null, self: false };
}

function serviceReport(s: ServiceInput): ServiceReport {
  const m = s.metrics;
  return {
    name: s.name,
    mode: s.mode,
    listen: s.listen,
    healthy: s.healthy,
    backendsUp: s.backends.filter((b) => b.up).length,
    backendsTotal: s.backends.length,
    connectionsActive: m.service.concurrentConnections,
    connectionsPerSec: m.service.connectionsPerSec,
    requestsPerSec: m.service.requestsPerSec,
    backends: s.backends.map((b) => {
      const bm = m.backends[`${b.pool}/${b.name}`];
      return {
        pool: b.pool,
        name: b.name,
        up: b.up,
        active: b.active,
        connectionsActive: bm?.concurrentConnections ?? 0,
        connectionsTotal: bm?.totalConnections ?? 0,
        requestsTotal: bm?.totalRequests ?? 0,
      };
    }),
  };
}
