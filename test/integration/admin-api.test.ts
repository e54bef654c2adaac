/**
 * The admin API as `halo run` starts it (startAdmin), on a real loopback socket, with the
 * running components replaced by fakes: /status, /metrics, /events (live lines, replay
 * with ?since, a status message on an election state change), and `halo status` against it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createServer, type AddressInfo } from 'node:net';
import { once } from 'node:events';
import WebSocket from 'ws';
import { parseConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/adapters/logger.js';
import { ServiceMetrics } from '../../src/core/metrics/service-metrics.js';
import { EventLog, startAdmin, type AdminHandle, type StatusReport } from '../../src/app/admin/index.js';
import type { ElectionHostEvent } from '../../src/app/election/election-host.js';
import type { ElectionNodeStatus } from '../../src/app/election/election-node.js';
import type { PlaneView } from '../../src/app/admin/status-sources.js';
import { statusMain } from '../../src/app/admin/status-command.js';
import { masterElection, masterReplication } from '../fakes/admin-status.js';
import { parseProm } from '../helpers/prometheus.js';
import { testTempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait.js';

const CONFIG = `
node: { name: lb1 }
admin: { listen: "127.0.0.1:0" }
cluster:
  id: 4242
  key_env: HALO_TEST_KEY
  interface: lo
  priority: 150
  vips: [{ address: 10.0.0.100/24 }]
services:
  - name: web
    mode: http
    listen: { port: 8080 }
    backends: [{ name: web1, address: 127.0.0.1, port: 9001 }, { name: web2, address: 127.0.0.1, port: 9002 }]
`;

class FakeElection {
  status: ElectionNodeStatus | undefined = masterElection({ state: 'BACKUP', master: { nodeId: 'lb2', address: '10.0.0.12', priority: 200, intervalMs: 50, synced: true, at: 0 } });
  statusAgeMs = 5;
  readonly #listeners = new Set<(e: ElectionHostEvent) => void>();
  subscribe(l: (e: ElectionHostEvent) => void): () => void {
    this.#listeners.add(l);
    return () => this.#listeners.delete(l);
  }
  emit(e: ElectionHostEvent): void {
    if (e.type === 'status') this.status = e.status;
    for (const l of this.#listeners) l(e);
  }
}

function fakePlane(): PlaneView {
  const metrics = new ServiceMetrics({ service: 'web', backends: [{ pool: 'default', name: 'web1' }, { pool: 'default', name: 'web2' }] });
  metrics.connOpened('default/web1', performance.now());
  return {
    services: new Map([
      [
        'web',
        {
          config: { name: 'web', mode: 'http', listen: { address: '0.0.0.0', port: 8080 } },
          port: 8080,
          healthy: true,
          dispatcher: {
            snapshot: (now: number) => metrics.snapshot(now),
            backendStates: () => [
              { pool: 'default', name: 'web1', up: true, active: 1 },
              { pool: 'default', name: 'web2', up: false, active: 0 },
            ],
          },
        },
      ],
    ]),
  };
}

let admin: AdminHandle | undefined;
const sockets: WebSocket[] = [];
afterEach(async () => {
  for (const ws of sockets.splice(0)) ws.terminate();
  await admin?.close();
  admin = undefined;
});

async function startNode() {
  const events = new EventLog({ capacity: 100 });
  const log = createLogger({ node: 'lb1', format: 'json', stream: devNull(), tap: events.tap });
  const election = new FakeElection();
  events.follow(election);
  log.info('node_started', { cause: 'before the admin API' });
  admin = await startAdmin({ config: parseConfig(CONFIG), plane: fakePlane(), election, replication: { status: () => masterReplication({ role: 'standby', peers: [] }) }, events, log, version: '9.9.9', processMetrics: true });
  if (admin === undefined) throw new Error('admin is off');
  return { admin, log, election, events };
}

function devNull(): Writable {
  return new Writable({ write: (_chunk, _enc, cb) => cb() });
}

interface Msg {
  type: string;
  seq?: number;
  at?: number;
  reason?: string;
  entry?: { message: string; node?: string; component?: string };
  status?: StatusReport;
}

function connect(url: string): Promise<{ ws: WebSocket; messages: Msg[] }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    sockets.push(ws);
    const messages: Msg[] = [];
    ws.on('message', (data) => messages.push(JSON.parse(String(data)) as Msg));
    ws.once('open', () => resolve({ ws, messages }));
    ws.once('error', reject);
  });
}

describe('admin API (startAdmin on loopback)', () => {
  it('GET /status: the report for this node, with the data plane and the election', async () => {
    const { admin } = await startNode();
    const res = await fetch(`${admin.url}/status`);
    expect(res.status).toBe(200);
    const r = (await res.json()) as StatusReport;
    expect(r.node).toBe('lb1');
    expect(r.version).toBe('9.9.9');
    expect(r.election?.state).toBe('BACKUP');
    expect(r.vips).toEqual([{ address: '10.0.0.100/24', holder: 'lb2', self: false }]);
    expect(r.services[0]).toMatchObject({ name: 'web', backendsUp: 1, backendsTotal: 2, connectionsActive: 1 });
    expect(r.replication?.role).toBe('standby');
  });

  it('GET /metrics: Prometheus text with the halo_ names and the process metrics', async () => {
    const { admin } = await startNode();
    const res = await fetch(`${admin.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const { samples, types } = parseProm(await res.text());
    for (const name of ['halo_election_state', 'halo_election_transitions_total', 'halo_election_advert_drops_total', 'halo_replication_synced', 'halo_service_connections_active', 'halo_backend_up', 'halo_process_cpu_user_seconds_total', 'halo_nodejs_eventloop_lag_seconds']) {
      expect(types.has(name), name).toBe(true);
    }
    expect(samples.get('halo_election_state{state="BACKUP"}')).toBe(1);
    expect(samples.get('halo_backend_up{service="web",pool="default",backend="web2"}')).toBe(0);
    expect(samples.get('halo_service_connections_active{service="web"}')).toBe(1);
  });

  it('GET /events: the current status first, then lines of both threads as they are written', async () => {
    const { admin, log, election } = await startNode();
    const { messages } = await connect(`${admin.url.replace('http', 'ws')}/events`);
    await waitFor(() => messages.length >= 1, 'the opening status');
    expect(messages[0]).toMatchObject({ type: 'status', reason: 'current' });
    expect(messages[0]?.status?.node).toBe('lb1');
    log.info('backend_down', { service: 'web', backend: 'web2' });
    election.emit({ type: 'log', entry: { level: 'info', message: 'advert_dropped', timestamp: new Date().toISOString(), node: 'lb1', component: 'election' } });
    await waitFor(() => messages.filter((m) => m.type === 'log').length >= 2, 'two log lines');
    const lines = messages.filter((m) => m.type === 'log');
    expect(lines.map((m) => m.entry?.message)).toEqual(['backend_down', 'advert_dropped']);
    expect(lines[1]?.entry?.component).toBe('election');
    expect(lines[1]!.seq!).toBeGreaterThan(lines[0]!.seq!);
    // no replay without ?since: the line from before the connection is not there
    expect(messages.some((m) => m.entry?.message === 'node_started')).toBe(false);
  });

  it('GET /events: a status message when the election state changes, not on every status', async () => {
    const { admin, election } = await startNode();
    const { messages } = await connect(`${admin.url.replace('http', 'ws')}/events`);
    await waitFor(() => messages.length >= 1, 'the opening status');
    const backup = election.status as ElectionNodeStatus;
    election.emit({ type: 'status', status: { ...backup, advertsAccepted: backup.advertsAccepted + 1 } });
    election.emit({ type: 'status', status: masterElection({ state: 'MASTER' }) });
    await waitFor(() => messages.some((m) => m.reason === 'state_change'), 'a state_change status');
    const changes = messages.filter((m) => m.reason === 'state_change');
    expect(changes).toHaveLength(1);
    expect(changes[0]?.status?.election?.state).toBe('MASTER');
    expect(changes[0]?.status?.vips[0]?.self).toBe(true);
  });

  it('GET /events?since=: replays the kept lines from then, start-up included', async () => {
    const { admin, log } = await startNode();
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, 5));
    log.warn('after_t0', {});
    const all = await connect(`${admin.url.replace('http', 'ws')}/events?since=0`);
    const recent = await connect(`${admin.url.replace('http', 'ws')}/events?since=${t0 + 1}`);
    await waitFor(() => all.messages.some((m) => m.type === 'status') && recent.messages.some((m) => m.type === 'status'), 'both replays');
    const names = (ms: Msg[]) => ms.filter((m) => m.type === 'log').map((m) => m.entry?.message);
    expect(names(all.messages)).toEqual(expect.arrayContaining(['node_started', 'admin_listening', 'after_t0']));
    expect(names(all.messages).indexOf('node_started')).toBeLessThan(names(all.messages).indexOf('after_t0'));
    expect(names(recent.messages)).toEqual(['after_t0']);
    // the replay comes before the current status
    expect(all.messages.at(-1)?.type).toBe('status');
  });

  it('halo status: the human view, --json, exit 1 when unreachable, 2 on bad usage', async () => {
    const { admin } = await startNode();
    const out: string[] = [];
    const err: string[] = [];
    const io = { stdout: (t: string) => void out.push(t), stderr: (t: string) => void err.push(t) };
    expect(await statusMain(['--admin', admin.url], io)).toBe(0);
    const text = out.join('');
    expect(text).toContain('lb1 (this node, 10.0.0.11)');
    expect(text).toMatch(/state\s+BACKUP, following lb2/);
    expect(text).toMatch(/VIP\s+10\.0\.0\.100\/24 held by lb2/);
    expect(text).toContain('web (http 0.0.0.0:8080): 1/2 backends up');
    expect(text).toContain('web2 DOWN');
    out.length = 0;
    expect(await statusMain(['--admin', admin.url, '--json'], io)).toBe(0);
    expect((JSON.parse(out.join('')) as StatusReport).node).toBe('lb1');
    // a port nobody listens on (not the admin's: fetch would reuse its pooled connection)
    const probe = createServer().listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const port = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    expect(await statusMain(['--admin', `http://127.0.0.1:${port}`], io)).toBe(1);
    expect(err.join('')).toMatch(/HALO_ERR_ADMIN: cannot reach http:\/\/127\.0\.0\.1:\d+\/status: ECONNREFUSED/);
    expect(await statusMain(['--bogus'], io)).toBe(2);
    expect(await statusMain(['--admin', 'ftp://x'], io)).toBe(2);
  });

  it('halo status --config: finds admin.listen and the token there; a wrong token is exit 1', async () => {
    const dir = testTempDir('halo-admin-');
    writeFileSync(join(dir, 'token'), 'admin-token-0123456789\n', { mode: 0o600 });
    writeFileSync(join(dir, 'wrong'), 'admin-token-9876543210\n', { mode: 0o600 });
    const cfgText = CONFIG.replace('admin: { listen: "127.0.0.1:0" }', `admin: { listen: "127.0.0.1:0", token_file: ${join(dir, 'token')} }`);
    const events = new EventLog();
    const log = createLogger({ node: 'lb1', stream: devNull(), tap: events.tap });
    admin = await startAdmin({ config: parseConfig(cfgText), plane: fakePlane(), events, log, processMetrics: false });
    const cfgFile = join(dir, 'halo.yaml');
    writeFileSync(cfgFile, cfgText.replace('127.0.0.1:0', `127.0.0.1:${admin!.port}`));
    const out: string[] = [];
    const err: string[] = [];
    const io = { stdout: (t: string) => void out.push(t), stderr: (t: string) => void err.push(t) };
    expect(await statusMain(['--config', cfgFile], io)).toBe(0);
    expect(out.join('')).toContain('lb1 (this node)');
    expect((await fetch(`${admin!.url}/status`)).status).toBe(401);
    expect(await statusMain(['--config', cfgFile, '--token-file', join(dir, 'wrong')], io)).toBe(1);
    expect(err.join('')).toMatch(/401 unauthorized: the bearer token is wrong/);
    expect(err.join('')).not.toContain('admin-token');
  });
});

/** One raw HTTP exchange: the whole answer, headers included, as the client sees it. */
async function rawGet(url: string, init: RequestInit = {}): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  const res = await fetch(url, init);
  return { status: res.status, headers: Object.fromEntries(res.headers), body: await res.text() };
}

/** A WebSocket upgrade that is refused: its status and body (undefined when it opened). */
function refusedUpgrade(url: string, opts: { headers?: Record<string, string>; protocols?: string[] } = {}): Promise<{ status: number; body: string } | undefined> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, opts.protocols ?? [], { headers: opts.headers ?? {} });
    sockets.push(ws);
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.once('open', () => resolve(undefined));
    ws.once('error', () => undefined);
  });
}

describe('admin API beyond loopback (a remote client, as the server sees it)', () => {
  const TOKEN = 'remote-admin-token-0123456789abcdef';
  /** What a refusal may say: nothing of the node, its services, its addresses or its version. */
  const LEAKS = /lb1|lb2|web|10\.0\.0|BACKUP|MASTER|9\.9\.9|4242|halo_|remote-admin-token/;

  async function remoteNode(withToken: boolean) {
    const dir = testTempDir('halo-admin-remote-');
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
    const lines: string[] = [];
    const stream = new Writable({ write: (chunk: Buffer, _enc, cb) => void (lines.push(chunk.toString()), cb()) });
    const events = new EventLog();
    const log = createLogger({ node: 'lb1', format: 'json', stream, tap: events.tap });
    const calls: string[] = [];
    const cfgText = CONFIG.replace('admin: { listen: "127.0.0.1:0" }', `admin: { listen: "127.0.0.1:0"${withToken ? `, token_file: ${tokenFile}` : ''} }`);
    admin = await startAdmin({
      config: parseConfig(cfgText),
      plane: fakePlane(),
      election: new FakeElection(),
      events,
      log,
      version: '9.9.9',
      processMetrics: false,
      isLoopback: () => false,
      reload: () => (calls.push('reload'), Promise.resolve({ ok: true, message: 'reloaded' })),
      failover: () => (calls.push('failover'), Promise.resolve({ ok: true, message: 'handed over' })),
    });
    if (admin === undefined) throw new Error('admin is off');
    return { admin, calls, lines };
  }

  it('with a token configured: no token, a wrong one, one in the query string or as Basic: 401 on every path, saying nothing, doing nothing', async () => {
    const { admin, calls, lines } = await remoteNode(true);
    const attempts: Array<[string, RequestInit]> = [];
    for (const path of ['/status', '/metrics', '/events', '/reload', '/failover', '/no-such-path', `/status?token=${TOKEN}`, `/status?access_token=${TOKEN}`]) {
      const method = path === '/reload' || path === '/failover' ? 'POST' : 'GET';
      attempts.push([path, { method }]);
      attempts.push([path, { method, headers: { authorization: 'Bearer wrong-token-0123456789abcdef' } }]);
      attempts.push([path, { method, headers: { authorization: `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}` } }]);
      attempts.push([path, { method, headers: { authorization: `Bearer ${TOKEN.slice(0, -1)}` } }]);
    }
    for (const [path, init] of attempts) {
      const r = await rawGet(`${admin.url}${path}`, init);
      const what = `${init.method} ${path} ${JSON.stringify(init.headers ?? {})}`;
      expect(r.status, what).toBe(401);
      expect(r.headers['www-authenticate'], what).toBe('Bearer realm="halo"');
      expect(JSON.parse(r.body), what).toMatchObject({ error: { code: 'unauthorized' } });
      expect(r.body, what).not.toMatch(LEAKS);
      expect(Object.keys(r.headers).filter((h) => /server|powered|version/i.test(h)), what).toEqual([]);
    }
    expect(calls).toEqual([]);
    // the right token opens everything
    expect((await rawGet(`${admin.url}/status`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
    expect((await rawGet(`${admin.url}/failover`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
    expect(calls).toEqual(['failover']);
    // the refusals were logged (throttled) without any token, right or wrong
    const log = lines.join('');
    expect(log).toContain('admin_denied');
    expect(log).not.toContain('remote-admin-token');
    expect(log).not.toContain('wrong-token-0123456789');
  });

  it('GET /events as a WebSocket: refused 401 without the token, with a wrong one, and with it in the query; opens with the header or the subprotocol', async () => {
    const { admin } = await remoteNode(true);
    const ws = admin.url.replace('http', 'ws');
    const b64 = (t: string) => Buffer.from(t).toString('base64url');
    const cases: Array<[string, string, { headers?: Record<string, string>; protocols?: string[] }]> = [
      ['no token', `${ws}/events`, {}],
      ['no token, replay of the past', `${ws}/events?since=0`, {}],
      ['token in the query', `${ws}/events?token=${TOKEN}`, {}],
      ['wrong bearer header', `${ws}/events`, { headers: { authorization: 'Bearer wrong-token-0123456789abcdef' } }],
      ['wrong subprotocol token', `${ws}/events`, { protocols: [`bearer.${b64('wrong-token-0123456789abcdef')}`] }],
      ['cluster feed, no token', `${ws}/events?cluster=1`, {}],
      ['another path, no token', `${ws}/not-events`, {}],
    ];
    for (const [what, url, opts] of cases) {
      const r = await refusedUpgrade(url, opts);
      expect(r?.status, what).toBe(401);
      expect(r?.body, what).not.toMatch(LEAKS);
    }
    expect(await refusedUpgrade(`${ws}/events`, { headers: { authorization: `Bearer ${TOKEN}` } })).toBeUndefined();
    expect(await refusedUpgrade(`${ws}/events`, { protocols: [`bearer.${b64(TOKEN)}`] })).toBeUndefined();
  });

  it('without a token configured: a remote client is refused 401 everywhere but the static page, and nothing leaks', async () => {
    const { admin, calls } = await remoteNode(false);
    for (const [path, method] of [['/status', 'GET'], ['/metrics', 'GET'], ['/', 'GET'], ['/reload', 'POST'], ['/failover', 'POST'], ['/nope', 'GET']] as const) {
      const r = await rawGet(`${admin.url}${path}`, { method });
      expect(r.status, `${method} ${path}`).toBe(401);
      expect(r.body, `${method} ${path}`).toMatch(/only loopback clients are served/);
      expect(r.body, `${method} ${path}`).not.toMatch(LEAKS);
    }
    expect((await refusedUpgrade(`${admin.url.replace('http', 'ws')}/events`))?.status).toBe(401);
    expect(calls).toEqual([]);
  });

  it('with a token configured the dashboard page is served without it, and holds no data', async () => {
    const { admin } = await remoteNode(true);
    const r = await rawGet(`${admin.url}/`);
    expect(r.status).toBe(200);
    // the page's script names states (MASTER, BACKUP) and fetches /status with the token from its URL fragment
    expect(r.body).not.toMatch(/lb1|lb2|10\.0\.0|9\.9\.9|4242|remote-admin-token/);
  });
});
