import { describe, expect, it } from 'vitest';
import { masterElection, masterReplication, statusInputs, webService } from '../../../test/fakes/admin-status.js';
import { buildStatusReport } from './status-report.js';
import type { ReplicationStatus } from '../replication/replication-node.js';

describe('buildStatusReport', () => {
  it("explains the master's effective priority by the tracked object that lowers it", () => {
    const r = buildStatusReport(statusInputs());
    expect(r.election?.state).toBe('MASTER');
    expect(r.election?.configuredPriority).toBe(150);
    expect(r.election?.effectivePriority).toBe(90);
    expect(r.election?.priorityReasons).toEqual(['service web failing (no healthy backend): -60']);
    expect(r.election?.preemptBlockedBy).toEqual([]);
    expect(r.election?.adverts.drops['hmac']).toBe(5);
    expect(r.election?.transitions.MASTER).toBe(1);
  });

  it('says the master holds the VIP itself, and its connected standby is a BACKUP with its lag', () => {
    const r = buildStatusReport(statusInputs());
    expect(r.vips).toEqual([{ address: '10.0.0.100/24', holder: 'lb1', self: true }]);
    expect(r.nodes.map((n) => [n.name, n.state, n.self])).toEqual([
      ['lb1', 'MASTER', true],
      ['lb2', 'BACKUP', false],
    ]);
    const lb2 = r.nodes[1]!;
    expect(lb2).toMatchObject({ address: '10.0.0.12', priority: 100, synced: true, lagMs: 3, unacked: 2, lastSeenMsAgo: 0 });
    expect(lb2.seenVia).toEqual(['advert', 'replication']);
    expect(r.replication?.peers[0]).toMatchObject({ node: 'lb2', phase: 'streaming', lagMs: 3, unacked: 2, resyncs: 1, lastResync: 'digest mismatch' });
    expect(r.lastFailover?.garpSentMs).toBe(175);
  });

  it('as a backup: the followed master holds the VIP and is last seen by its advert age plus the status age', () => {
    const election = masterElection({
      state: 'BACKUP',
      nodeId: 'lb2',
      priority: 100,
      configuredPriority: 100,
      tracking: { configuredPriority: 100, effectivePriority: 100, faults: [], objects: [] },
      master: { nodeId: 'lb1', address: '10.0.0.11', priority: 150, intervalMs: 50, synced: true, at: 0 },
      peers: [{ nodeId: 'lb1', address: '10.0.0.11', priority: 150, synced: true, intervalMs: 50, shuttingDown: false, lastSeenMsAgo: 30 }],
      lastTakeover: undefined,
    });
    const standby: ReplicationStatus = {
      ...masterReplication(),
      role: 'standby',
      peers: [],
      standby: { master: 'lb1', connected: true, lastError: '', applier: { phase: 'streaming', epoch: 1, appliedSeq: 10, snapshot: null, lastDigestMatch: true, applied: {} as never, sinkErrors: 0, frameErrors: 0, resyncs: 0, digestsSkipped: 0 } },
    };
    const r = buildStatusReport(statusInputs({ node: 'lb2', election, replication: standby, electionStatusAgeMs: 15 }));
    expect(r.vips[0]).toEqual({ address: '10.0.0.100/24', holder: 'lb1', self: false });
    expect(r.election?.master).toEqual({ node: 'lb1', address: '10.0.0.11', priority: 150, synced: true, lastSeenMsAgo: 45 });
    expect(r.election?.priorityReasons).toEqual([]);
    expect(r.nodes[1]).toMatchObject({ name: 'lb1', state: 'MASTER', lastSeenMsAgo: 45, seenVia: ['advert'] });
    expect(r.replication?.lastDigestMatch).toBe(true);
    expect(r.replication?.standby).toMatchObject({ master: 'lb1', connected: true, lastError: null, phase: 'streaming' });
    expect(r.lastFailover).toBeNull();
  });

  it('an advert older than Master_Down_Interval no longer makes its sender master; a leaving one says so', () => {
    const election = masterElection({
      peers: [
        { nodeId: 'lb3', address: '10.0.0.13', priority: 0, synced: true, intervalMs: 50, shuttingDown: true, lastSeenMsAgo: 10 },
        { nodeId: 'lb2', address: '10.0.0.12', priority: 100, synced: true, intervalMs: 50, shuttingDown: false, lastSeenMsAgo: 5000 },
      ],
    });
    const r = buildStatusReport(statusInputs({ election, replication: masterReplication({ peers: [] }) }));
    expect(r.nodes.map((n) => [n.name, n.state])).toEqual([
      ['lb1', 'MASTER'],
      ['lb2', 'unknown'],
      ['lb3', 'LEAVING'],
    ]);
  });

  it('lists unicast peers never heard by address, as unknown', () => {
    const r = buildStatusReport(statusInputs({ cluster: { id: 1, vips: ['10.0.0.100/24'], peers: ['10.0.0.12', '10.0.0.14'], advertIntervalMs: 50, downAdverts: 3, replication: true } }));
    expect(r.nodes.map((n) => [n.name, n.address, n.state, n.seenVia.join()])).toEqual([
      ['lb1', '10.0.0.11', 'MASTER', 'self'],
      ['lb2', '10.0.0.12', 'BACKUP', 'advert,replication'],
      [null, '10.0.0.14', 'unknown', 'config'],
    ]);
  });

  it('reports what holds back preemption: not synced, data plane not ready, a failover hold', () => {
    const election = masterElection({ state: 'BACKUP', synced: false, notReady: 'no healthy backend in web', clockAt: 1000 });
    Object.assign(election, { hold: { until: 61_000, cause: 'halo failover' } });
    const r = buildStatusReport(statusInputs({ election, electionStatusAgeMs: 1000 }));
    expect(r.election?.hold).toEqual({ cause: 'halo failover', remainingMs: 59_000 });
    expect(r.election?.preemptBlockedBy).toEqual([
      'held after a planned failover for another 59 s (halo failover --release ends it)',
      'tables not synced with the master yet',
      'data plane not ready: no healthy backend in web',
    ]);
  });

  it('puts FAULT objects first-class in the reasons', () => {
    const election = masterElection({
      state: 'FAULT',
      faultReason: 'interface eth0 down (carrier lost)',
      tracking: { configuredPriority: 150, effectivePriority: 150, faults: ['interface eth0 down (carrier lost)'], objects: [{ kind: 'interface', name: 'eth0', weight: 0, ok: false, cause: 'carrier lost', contribution: 0, faulting: true }] },
    });
    const r = buildStatusReport(statusInputs({ election }));
    expect(r.election?.priorityReasons).toEqual(['interface eth0 failing (carrier lost): FAULT']);
    expect(r.vips[0]?.holder).toBeNull();
  });

  it('services: backends up/down with their load and traffic', () => {
    const r = buildStatusReport(statusInputs());
    const web = r.services[0]!;
    expect(web).toMatchObject({ name: 'web', mode: 'http', listen: '0.0.0.0:8080', healthy: true, backendsUp: 2, backendsTotal: 3, connectionsActive: 2 });
    expect(web.backends.map((b) => [b.name, b.up, b.active, b.connectionsActive, b.requestsTotal])).toEqual([
      ['web1', true, 2, 2, 2],
      ['web2', true, 0, 0, 0],
      ['web3', false, 0, 0, 0],
    ]);
  });

  it('a single node without a cluster: standalone, no VIPs, no election', () => {
    const r = buildStatusReport(statusInputs({ cluster: undefined, election: undefined, replication: undefined, services: [webService()] }));
    expect(r.cluster).toBeNull();
    expect(r.election).toBeNull();
    expect(r.vips).toEqual([]);
    expect(r.nodes).toHaveLength(1);
    expect(r.nodes[0]).toMatchObject({ name: 'lb1', state: 'STANDALONE', self: true });
    expect(r.lastFailover).toBeNull();
  });

  it('never carries anything that looks like a secret (the report is built from status only)', () => {
    const text = JSON.stringify(buildStatusReport(statusInputs()));
    expect(text).not.toMatch(/token|key_file|secret/i);
  });
});
