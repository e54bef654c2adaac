/**
 * Failover keeps state (issue 4): real `halo run` processes in the lab replicate their
 * tables from lb1 (master) to lb2; lb1 is SIGKILLed and lb2 must carry on with what it
 * received: every client's backend (source IP and cookie persistence), UDP flows, and
 * least-connections load. Each test first checks lb2 actually holds the replicated
 * entries (same count, same digest as lb1), so a pass cannot come from luck or from the
 * cookie alone. One lab for the file; each test starts from lb1 master and lb2 synced.
 */
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LAB_VIP, cookieValue, summarizeUdp, type ClientEvent } from '../../src/app/lab/index.js';
import { netnsSupport } from '../helpers/netns.js';
import { waitFor } from '../helpers/wait.js';
import { ensureReplicatedPair, eventTime, httpRequests, labLogEventsSince, useLab, waitMaster, waitServedBy, waitTablesInStep, type HttpResult } from '../helpers/lab.js';

const support = netnsSupport();
const maybe = support.ok ? describe : describe.skip;
const why = support.ok ? '' : ` (skipped: ${support.reason})`;

const STICKY_PORT = 81;
const CONNS_PORT = 82;
const COOKIE = 'HALO_SRV';

const routes = (rs: HttpResult[]) => rs.map((r) => `${r.source ?? 'client'} ${r.ok ? `${r.backend ?? '?'} via ${r.node ?? '?'}` : `failed ${r.error ?? r.status ?? '?'}`}`);

maybe(`replication: failover keeps state, 2 nodes, 3 backends${why}`, () => {
  const lab = useLab('rf', {
    backends: 3,
    services: {
      web: { persistence: { type: 'source_ip', ttl_ms: 600_000 } },
      sticky: { mode: 'http', listen: { port: STICKY_PORT }, persistence: { type: 'cookie', ttl_ms: 600_000, cookie_name: COOKIE } },
      conns: { mode: 'tcp', listen: { port: CONNS_PORT }, algorithm: 'least_connections' },
    },
  });
  let sources: string[] = [];

  beforeAll(async () => {
    sources = await lab.addClientAddresses(70);
  }, 30_000);
  beforeEach(async () => {
    await ensureReplicatedPair(lab);
  }, 40_000);
  afterEach(() => {
    lab.stopClients();
  });

  /** SIGKILL lb1; resolves once lb2 is master and serves the client. */
  async function crashMaster(): Promise<number> {
    const at = Date.now();
    expect(await lab.kill('lb1')).toBe(true);
    await waitMaster(lab, 'lb2', 10_000);
    await waitServedBy(lab, 'lb2');
    return at;
  }

  it('source-IP persistence: 50 clients reach the same backend through lb2 after lb1 is SIGKILLed', async () => {
    const clients = sources.slice(0, 50);
    const job = { host: LAB_VIP, port: 80, requests: clients.map((source) => ({ source })), concurrency: 10 };
    const before = await httpRequests(lab, job);
    expect(routes(before).filter((r) => !r.endsWith('via lb1'))).toEqual([]);
    // Round robin spread them: lb2 cannot match by choosing one backend for everybody.
    expect(new Set(before.map((r) => r.backend)).size).toBe(3);
    await waitTablesInStep(lab, ['web/persist_source'], { entries: 50 });

    const killedAt = await crashMaster();
    const after = await httpRequests(lab, job);
    expect(routes(after)).toEqual(routes(before).map((r) => r.replace(/via lb1$/, 'via lb2')));
    // lb2 had every entry when lb1 died: its takeover is not a degraded one, although the
    // replication link closed (lb1's socket died with it) before lb2 noticed the silence
    const takeover = labLogEventsSince(lab, 'lb2', killedAt).find((e) => e['message'] === 'state_change' && e['state'] === 'MASTER');
    expect(takeover?.['cause'], JSON.stringify(takeover)).not.toMatch(/not synced/);
    expect(takeover?.['degraded']).toBeUndefined();
  }, 60_000);

  it('cookie persistence: cookies issued through lb1 reach the same backend through lb2; lb2 had the entries before the kill', async () => {
    const clients = sources.slice(0, 20);
    const first = await httpRequests(lab, { host: LAB_VIP, port: STICKY_PORT, requests: clients.map((source) => ({ source })) });
    expect(routes(first).filter((r) => !r.endsWith('via lb1'))).toEqual([]);
    const cookies = first.map((r) => cookieValue(r.setCookie, COOKIE));
    expect(cookies.filter((c) => c === undefined)).toEqual([]);
    expect(new Set(first.map((r) => r.backend)).size).toBe(3);
    // The cookie names its backend, so routing alone would pass; the table proves replication.
    // Its key is the signed value (pool, backend, issue second): clients served in the same
    // second by the same backend share one.
    const distinct = new Set(cookies).size;
    const { standby } = await waitTablesInStep(lab, ['sticky/persist_cookie'], { entries: distinct });
    expect(standby.replica?.['sticky']?.applied.applied).toBeGreaterThanOrEqual(distinct);

    await crashMaster();
    const again = await httpRequests(lab, { host: LAB_VIP, port: STICKY_PORT, requests: clients.map((source, i) => ({ source, cookie: `${COOKIE}=${cookies[i] ?? ''}` })) });
    expect(routes(again)).toEqual(routes(first).map((r) => r.replace(/via lb1$/, 'via lb2')));
  }, 60_000);

  it('a UDP flow (a datagram every 10 ms) keeps its backend across the SIGKILL; losses only in the outage', async () => {
    const run = lab.client({ mode: 'udp', host: LAB_VIP, port: 53, source: sources[60] as string, intervalMs: 10, durationMs: 30_000 });
    await run.waitFor((e) => e.type === 'udp_answer', 'a first UDP answer through lb1', 5000);
    await waitTablesInStep(lab, ['echo/udp_flows'], { entries: 1 });
    const wall = (run.events[0] as Extract<ClientEvent, { type: 'start' }>).wall;
    const killedAt = await crashMaster();
    const answersAfterKill = () => run.events.filter((e) => e.type === 'udp_answer' && wall + e.t > killedAt).length;
    await waitFor(() => answersAfterKill() >= 100, '100 UDP answers after the kill', 10_000);
    run.end();
    const s = summarizeUdp(await run.done);
    expect(s.strays).toBe(0);
    expect(Object.keys(s.backends)).toHaveLength(1);
    // One run of losses at most: the outage. Datagrams lb1 had not forwarded yet when it
    // died (a busy event loop lags) are lost too, so the run may start a little before the kill.
    expect(s.lossRuns.length, JSON.stringify(s.lossRuns)).toBeLessThanOrEqual(1);
    for (const r of s.lossRuns) {
      expect(wall + r.fromT).toBeGreaterThanOrEqual(killedAt - 200);
      expect(r.toT - r.fromT).toBeLessThan(5000);
    }
  }, 60_000);

  it('least connections: 10 connections held on be1 through lb1 are ghost load on lb2, so 10 new ones avoid be1', async () => {
    const hold = lab.client({ mode: 'tcp', host: LAB_VIP, port: CONNS_PORT, sources: sources.slice(0, 30), holdMs: 60_000 });
    const settled = () => hold.events.filter((e) => e.type === 'tcp_open' || e.type === 'tcp_failed');
    await waitFor(() => settled().length === 30, '30 connections through lb1', 20_000);
    const opened = hold.events.flatMap((e) => (e.type === 'tcp_open' ? [e] : []));
    expect(opened.map((e) => e.node)).toEqual(Array.from({ length: 30 }, () => 'lb1'));
    const onBe1 = opened.filter((e) => e.backend === 'be1');
    // Least connections spreads 30 held connections 10/10/10.
    expect(onBe1).toHaveLength(10);
    hold.command({ close: opened.filter((e) => e.backend !== 'be1').map((e) => e.i) });
    await waitTablesInStep(lab, ['conns/connections'], { entries: 10 });

    await crashMaster();
    const fresh = lab.client({ mode: 'tcp', host: LAB_VIP, port: CONNS_PORT, sources: sources.slice(30, 40), holdMs: 60_000 });
    await waitFor(() => fresh.events.filter((e) => e.type === 'tcp_open' || e.type === 'tcp_failed').length === 10, '10 new connections through lb2', 20_000);
    const placed = fresh.events.flatMap((e) => (e.type === 'tcp_open' ? [`${e.backend ?? '?'} via ${e.node ?? '?'}`] : e.type === 'tcp_failed' ? [`failed ${e.error}`] : []));
    expect(placed.filter((p) => !/^be[23] via lb2$/.test(p))).toEqual([]);
    const status = await lab.nodeStatus('lb2');
    expect(status.replica?.['conns']?.ghosts.live).toBe(10);
    fresh.end();
    hold.end();
  }, 60_000);

  it('lb1 restarts: it stays backup, gets a snapshot, logs tables_synced, and only then preempts; persistence survives the move back', async () => {
    const early = sources.slice(50, 53);
    const before = await httpRequests(lab, { host: LAB_VIP, port: 80, requests: early.map((source) => ({ source })) });
    expect(routes(before).filter((r) => !r.endsWith('via lb1'))).toEqual([]);
    await waitTablesInStep(lab, ['web/persist_source']);
    await crashMaster();
    // Clients lb1 never saw: their entries reach lb1 only through the snapshot from lb2.
    const late = sources.slice(53, 59);
    const during = await httpRequests(lab, { host: LAB_VIP, port: 80, requests: [...early, ...late].map((source) => ({ source })) });
    expect(routes(during).filter((r) => !r.endsWith('via lb2'))).toEqual([]);
    expect(routes(during).slice(0, early.length)).toEqual(routes(before).map((r) => r.replace(/via lb1$/, 'via lb2')));

    const restartAt = Date.now();
    await lab.start('lb1');
    await waitMaster(lab, 'lb1', 20_000);
    const lb1 = labLogEventsSince(lab, 'lb1', restartAt);
    const at = (pred: (e: Record<string, unknown>) => boolean) => lb1.findIndex(pred);
    const backup = at((e) => e['message'] === 'state_change' && e['state'] === 'BACKUP');
    const synced = at((e) => e['message'] === 'tables_synced');
    const master = at((e) => e['message'] === 'state_change' && e['state'] === 'MASTER');
    const order = lb1.filter((e) => ['state_change', 'tables_synced', 'tables_not_synced'].includes(String(e['message']))).map((e) => `${String(e['message'])}${e['state'] !== undefined ? ` ${String(e['state'])}` : ''}`);
    expect(backup, order.join(', ')).toBeGreaterThanOrEqual(0);
    expect(synced, order.join(', ')).toBeGreaterThan(backup);
    expect(master, order.join(', ')).toBeGreaterThan(synced);
    expect(eventTime(lb1[master])).toBeGreaterThanOrEqual(eventTime(lb1[synced]));
    const snapshots = labLogEventsSince(lab, 'lb2', restartAt).filter((e) => e['message'] === 'replication_snapshot' && e['peer'] === 'lb1');
    expect(snapshots.length).toBeGreaterThanOrEqual(1);

    await waitServedBy(lab, 'lb1');
    const back = await httpRequests(lab, { host: LAB_VIP, port: 80, requests: [...early, ...late].map((source) => ({ source })) });
    expect(routes(back)).toEqual(routes(during).map((r) => r.replace(/via lb2$/, 'via lb1')));
  }, 60_000);
});
