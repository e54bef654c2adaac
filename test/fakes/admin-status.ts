/**
 * Status inputs for the admin API's tests: a two-node cluster as lb1 (master, streaming
 * to lb2) sees it, with a web service whose third backend is down. Every piece can be
 * overridden; metrics come from a real ServiceMetrics so their shape stays true.
 */
import { ServiceMetrics } from '../../src/core/metrics/service-metrics.js';
import type { ElectionNodeStatus } from '../../src/app/election/election-node.js';
import type { ReplicationStatus } from '../../src/app/replication/replication-node.js';
import type { ServiceInput, StatusInputs } from '../../src/app/admin/status-report.js';

export function webService(): ServiceInput {
  const m = new ServiceMetrics({ service: 'web', backends: [{ pool: 'default', name: 'web1' }, { pool: 'default', name: 'web2' }, { pool: 'default', name: 'web3' }] });
  m.connOpened('default/web1', 1000);
  m.connOpened('default/web1', 1000);
  m.connOpened('default/web2', 1000);
  m.connClosed('default/web2', 1100);
  m.request('default/web1', 200, 12, 1000);
  m.request('default/web1', 503, 40, 1000);
  m.bytes('default/web1', 'to_backend', 300, 1000);
  m.bytes('default/web1', 'to_client', 4000, 1000);
  m.setHealth('default/web3', false);
  return {
    name: 'web',
    mode: 'http',
    listen: '0.0.0.0:8080',
    healthy: true,
    backends: [
      { pool: 'default', name: 'web1', up: true, active: 2 },
      { pool: 'default', name: 'web2', up: true, active: 0 },
      { pool: 'default', name: 'web3', up: false, active: 0 },
    ],
    metrics: m.snapshot(1200),
  };
}

export function masterElection(over: Partial<ElectionNodeStatus> = {}): ElectionNodeStatus {
  const base: ElectionNodeStatus = {
    state: 'MASTER',
    nodeId: 'lb1',
    configuredPriority: 150,
    priority: 90,
    synced: true,
    notReady: undefined,
    faultReason: undefined,
    master: undefined,
    masterAdverIntervalMs: 50,
    nextDeadline: 1000,
    dropped: { own: 0, invalid: 0 },
    address: '10.0.0.11',
    vips: ['10.0.0.100/24'],
    drops: { short: 0, magic: 0, version: 0, cluster: 2, malformed: 0, hmac: 5, stale: 1, own_node_id: 0 },
    advertsSent: 1234,
    advertsAccepted: 56,
    tracking: {
      configuredPriority: 150,
      effectivePriority: 90,
      faults: [],
      objects: [
        { kind: 'interface', name: 'eth0', weight: 0, ok: true, cause: 'link up', contribution: 0, faulting: false },
        { kind: 'service', name: 'web', weight: -60, ok: false, cause: 'no healthy backend', contribution: -60, faulting: false },
      ],
    },
    peers: [{ nodeId: 'lb2', address: '10.0.0.12', priority: 100, synced: true, intervalMs: 50, shuttingDown: false, lastSeenMsAgo: 60_000 }],
    transitions: { INIT: 0, BACKUP: 1, MASTER: 1, FAULT: 0 },
    lastChange: { from: 'BACKUP', state: 'MASTER', cause: 'master down: no advert for 163 ms (last from lb2)', degraded: false, at: '2026-11-27T14:00:00.000Z' },
    lastTakeover: { at: '2026-11-27T14:00:00.010Z', cause: 'master down: no advert for 163 ms (last from lb2)', timelineFrom: 'last advert', detectedMs: 163, vipAddedMs: 170.5, garpSentMs: 175, vips: ['10.0.0.100/24'] },
    clockAt: 900,
  };
  return Object.assign(base, over);
}

export function masterReplication(over: Partial<ReplicationStatus> = {}): ReplicationStatus {
  return {
    role: 'master',
    synced: true,
    log: { epoch: 1, seq: 100, pending: 0, tables: 3, dictionary: 0, replay: { frames: 0, bytes: 0, firstSeq: 0, lastSeq: 0 } as unknown as ReplicationStatus['log']['replay'], rejected: 0, snapshots: 1 },
    peers: [{ node: 'lb2', remote: '10.0.0.12:40312', connectedForMs: 5000, phase: 'streaming', ackedSeq: 98, unacked: 2, lagMs: 3, sentSeq: 100, snapshot: null, snapshots: 1, synced: true, resyncs: 1, lastResync: 'digest mismatch' }],
    standby: undefined,
    refused: {},
    tables: { 'web/persistence': { entries: 42, digest: 'abc' } },
    ...over,
  };
}

export function statusInputs(over: Partial<StatusInputs> = {}): StatusInputs {
  return {
    node: 'lb1',
    version: '0.1.0',
    uptimeMs: 3_723_000,
    generatedAt: '2026-11-27T14:05:00.000Z',
    cluster: { id: 4242, vips: ['10.0.0.100/24'], peers: [], advertIntervalMs: 50, downAdverts: 3, replication: true },
    election: masterElection(),
    electionStatusAgeMs: 20,
    replication: masterReplication(),
    services: [webService()],
    ...over,
  };
}
