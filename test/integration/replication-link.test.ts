/**
 * The replication link itself (issue 4): cut with iptables on lb2 (the election's adverts
 * and client traffic still flow) while new connections through a tcp service keep the
 * master's connection table changing, then restored.
 * A short cut resumes from the master's replay buffer; one longer than replay_window_ms
 * gets a snapshot; either way both nodes end with the same digests. Also: entries the
 * master expires leave the standby within a second (the deletes are replicated).
 */
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LAB_VIP, iptablesMissing, type Lab } from '../../src/app/lab/index.js';
import { netnsSupport } from '../helpers/netns.js';
import { waitFor } from '../helpers/wait.js';
import { ensureReplicatedPair, httpRequests, labLogEventsSince, tableNames, useLab, waitTablesInStep } from '../helpers/lab.js';

const support = netnsSupport();
const missing = support.ok ? iptablesMissing() : support.reason;
const maybe = missing === undefined ? describe : describe.skip;
const why = missing === undefined ? '' : ` (skipped: ${missing})`;

const CONNS_PORT = 82;
const SHORT_PORT = 83;
const CONNS = { mode: 'tcp', listen: { port: CONNS_PORT } } as const;
const SHORT_TTL_MS = 3000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Cut {
  cutAt: number;
  /** rules restore removed */
  restored: number;
  /** the master's log sequence when the cut began and when it was lifted */
  seqAtCut: number;
  seqAtRestore: number;
}

/**
 * Cut lb2's replication link for `ms` while the probe opens a connection through the tcp
 * service every 10 ms (each one a set and a delete in conns/connections: updates to
 * replay). The cut lasts until lb2 has also noticed the dead link (link_timeout_ms plus
 * up to a ping interval, later on a loaded machine), so the test always exercises a
 * reconnect; returns once the link is restored and the probe is done.
 */
async function cutUnderTraffic(lab: Lab, ms: number): Promise<Cut> {
  const stop = new AbortController();
  const traffic = lab.probe({ seconds: Math.ceil(ms / 1000) + 10, port: CONNS_PORT, stop: stop.signal });
  try {
    await sleep(500);
    const seqAtCut = (await lab.nodeStatus('lb1')).replication?.log.seq ?? -1;
    const cutAt = Date.now();
    await lab.cutReplication('lb2');
    await sleep(ms);
    await waitFor(() => linkEvents(lab, cutAt).lost.length > 0, 'lb2 to notice the cut link', 5000);
    const restored = await lab.restoreReplication('lb2');
    const seqAtRestore = (await lab.nodeStatus('lb1')).replication?.log.seq ?? -1;
    await sleep(300);
    stop.abort();
    const { report } = await traffic;
    // The cut is on the replication port only: the clients were served all along.
    expect(report.successes).toBeGreaterThan(0);
    return { cutAt, restored, seqAtCut, seqAtRestore };
  } finally {
    stop.abort();
    await lab.restoreReplication('lb2');
    await traffic.catch(() => undefined);
  }
}

/**
 * The link is back (lb1 resumed it or sent a snapshot since `since`), then both nodes list
 * the same tables with the same digests. The link must be back first: a standby whose link
 * was lost while in step still counts as synced for replay_window_ms, and tables whose
 * entries came and went during the cut can match before it reconnects.
 */
async function expectSameDigests(lab: Lab, since: number): Promise<void> {
  await waitFor(() => {
    const ev = linkEvents(lab, since);
    return ev.resumes.length + ev.snapshots.length > 0;
  }, 'lb1 resuming the link or sending a snapshot', 15_000);
  const { master } = await waitTablesInStep(lab, tableNames(await lab.nodeStatus('lb1')), { timeoutMs: 15_000 });
  expect(tableNames(master).length).toBeGreaterThan(0);
}

function linkEvents(lab: Lab, since: number) {
  const lb1 = labLogEventsSince(lab, 'lb1', since);
  const lb2 = labLogEventsSince(lab, 'lb2', since);
  return {
    resumes: lb1.filter((e) => e['message'] === 'replication_resume' && e['peer'] === 'lb2'),
    snapshots: lb1.filter((e) => e['message'] === 'replication_snapshot' && e['peer'] === 'lb2'),
    lost: lb2.filter((e) => e['message'] === 'replication_link_lost' || e['message'] === 'replication_master_silent'),
  };
}

/** Every test starts from lb1 master, lb2 its synced standby, no cut; and leaves no cut behind. */
function startEachFromAPair(lab: Lab): void {
  beforeEach(async () => {
    await lab.restoreReplication('lb2');
    await ensureReplicatedPair(lab);
  }, 40_000);
  afterEach(async () => {
    lab.stopClients();
    await lab.restoreReplication('lb2');
  });
}

maybe(`replication link cut and restored, default replay window${why}`, () => {
  const lab = useLab('rl', {
    services: {
      conns: CONNS,
      short: { mode: 'http', listen: { port: SHORT_PORT }, persistence: { type: 'source_ip', ttl_ms: SHORT_TTL_MS } },
    },
  });
  let sources: string[] = [];

  beforeAll(async () => {
    sources = await lab.addClientAddresses(5);
  }, 30_000);
  startEachFromAPair(lab);

  it('a 2 s cut: lb2 notices the silent link, lb1 resumes it from the replay buffer (no snapshot), digests equal after', async () => {
    const cut = await cutUnderTraffic(lab, 2000);
    expect(cut.restored).toBe(4);
    expect(cut.seqAtRestore - cut.seqAtCut, 'updates during the cut').toBeGreaterThan(10);
    await expectSameDigests(lab, cut.cutAt);
    const ev = linkEvents(lab, cut.cutAt);
    expect(ev.lost.length, 'lb2 saw the link die').toBeGreaterThanOrEqual(1);
    expect(ev.snapshots).toEqual([]);
    expect(ev.resumes.length).toBeGreaterThanOrEqual(1);
    // It resumed from about where lb2 stood at the cut: the updates made during it were replayed.
    const from = Number(ev.resumes[0]?.['from_seq']);
    expect(from).toBeGreaterThan(cut.seqAtCut);
    expect(cut.seqAtRestore - from, `resumed from ${from}, master at ${cut.seqAtRestore}`).toBeGreaterThan(10);
  }, 40_000);

  it('entries the master expires leave the standby within 1 s of the master', async () => {
    const served = await httpRequests(lab, { host: LAB_VIP, port: SHORT_PORT, requests: sources.map((source) => ({ source })) });
    const lastRequest = Date.now();
    expect(served.filter((r) => !(r.ok && r.node === 'lb1'))).toEqual([]);
    await waitTablesInStep(lab, ['short/persist_source'], { entries: sources.length });
    // Both asked together every 100 ms; each answer carries its own timestamp.
    const emptyAt: Partial<Record<'lb1' | 'lb2', number>> = {};
    const deadline = Date.now() + SHORT_TTL_MS + 6000;
    while ((emptyAt.lb1 === undefined || emptyAt.lb2 === undefined) && Date.now() < deadline) {
      const [m, s] = await Promise.all([lab.nodeStatus('lb1'), lab.nodeStatus('lb2')]);
      if (emptyAt.lb1 === undefined && m.replication?.tables['short/persist_source']?.entries === 0) emptyAt.lb1 = Date.parse(m.timestamp);
      if (emptyAt.lb2 === undefined && s.replication?.tables['short/persist_source']?.entries === 0) emptyAt.lb2 = Date.parse(s.timestamp);
      await sleep(100);
    }
    expect(emptyAt.lb1, 'lb1 expired its entries').toBeDefined();
    expect(emptyAt.lb2, 'lb2 received the deletes').toBeDefined();
    const [m, s] = [emptyAt.lb1 as number, emptyAt.lb2 as number];
    // The master keeps the TTL; the standby does not expire on its own clock while streaming.
    expect(m - lastRequest).toBeGreaterThanOrEqual(SHORT_TTL_MS - 500);
    expect(s).toBeGreaterThanOrEqual(m - 200);
    expect(s - m).toBeLessThan(1000);
  }, 40_000);
});

maybe(`replication link cut past replay_window_ms${why}`, () => {
  const lab = useLab('rw', { services: { conns: CONNS }, clusterOverrides: { replication: { replay_window_ms: 1000 } } });

  startEachFromAPair(lab);

  it('a 3 s cut with a 1 s replay window: lb1 sends lb2 a new snapshot, digests equal after', async () => {
    const cut = await cutUnderTraffic(lab, 3000);
    expect(cut.restored).toBe(4);
    expect(cut.seqAtRestore - cut.seqAtCut, 'updates during the cut').toBeGreaterThan(10);
    await expectSameDigests(lab, cut.cutAt);
    const ev = linkEvents(lab, cut.cutAt);
    expect(ev.lost.length, 'lb2 saw the link die').toBeGreaterThanOrEqual(1);
    expect(ev.snapshots.length).toBeGreaterThanOrEqual(1);
  }, 40_000);
});
