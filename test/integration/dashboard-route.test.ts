/**
 * GET / (the dashboard page) and the browser's way to authenticate /events (the
 * `bearer.<base64url>` subprotocol) on a real AdminServer bound to 127.0.0.1, without a
 * browser; the remote-address check is injected for the beyond-loopback branch. Last,
 * startAdmin (what `halo run` calls) serves the same page.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { request } from 'node:http';
import { Writable } from 'node:stream';
import WebSocket from 'ws';
import { AdminServer, type AdminServerOptions } from '../../src/adapters/admin/admin-server.js';
import { subprotocolToken } from '../../src/adapters/admin/auth.js';
import type { EventFeed } from '../../src/adapters/admin/events-socket.js';
import { createLogger } from '../../src/adapters/logger.js';
import { parseConfig } from '../../src/config/load.js';
import { DASHBOARD_TEST_IDS, dashboardPage } from '../../src/app/admin/dashboard/dashboard-page.js';
import { EventLog, startAdmin, type AdminHandle } from '../../src/app/admin/index.js';
import { recordingLogger } from '../helpers/recording-logger.js';

// Characters a subprotocol cannot hold, hence base64url.
const TOKEN = 'dash-token-0123456789/+=';
const protocol = (token: string) => `bearer.${Buffer.from(token, 'utf8').toString('base64url')}`;
const feed: EventFeed = { initial: () => [{ type: 'status', status: { node: 'n1' } }], subscribe: () => () => undefined };

const servers: AdminServer[] = [];
const sockets: WebSocket[] = [];
let admin: AdminHandle | undefined;
afterEach(async () => {
  for (const ws of sockets.splice(0)) ws.terminate();
  await Promise.all(servers.splice(0).map((s) => s.close()));
  await admin?.close();
  admin = undefined;
});

async function start(over: Partial<AdminServerOptions> = {}) {
  const log = recordingLogger();
  const server = new AdminServer({
    host: '127.0.0.1',
    port: 0,
    status: () => ({ node: 'n1' }),
    dashboard: dashboardPage(),
    metrics: async () => ({ contentType: 'text/plain', body: '' }),
    events: feed,
    log,
    ...over,
  });
  servers.push(server);
  const { port } = await server.listen();
  return { base: `http://127.0.0.1:${port}`, ws: `ws://127.0.0.1:${port}/events`, port, log };
}

/** fetch will not send a Host header of our choosing; node:http will. */
function statusWithHost(port: number, path: string, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Resolves with the agreed subprotocol and the first message, or rejects with the refusal's status. */
function wsOpen(url: string, protocols?: string[], headers: Record<string, string> = {}): Promise<{ protocol: string; first: unknown }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { headers });
    sockets.push(ws);
    ws.once('message', (d) => resolve({ protocol: ws.protocol, first: JSON.parse(String(d)) as unknown }));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`refused with ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

describe('GET / (dashboard page)', () => {
  it('loopback without a token: 200 text/html with the page, its CSP and no-store', async () => {
    const { base } = await start();
    const res = await fetch(`${base}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('content-security-policy')).toBe(dashboardPage().csp);
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    const html = await res.text();
    expect(html).toBe(dashboardPage().html);
    for (const id of DASHBOARD_TEST_IDS) expect(html).toContain(`data-testid="${id}"`);
    const wrong = await fetch(`${base}/`, { method: 'POST' });
    expect(wrong.status).toBe(405);
  });

  it('without a token: the same rules as /status (beyond loopback 401, foreign Host 403, cross-origin 403)', async () => {
    const far = await start({ isLoopback: () => false });
    expect((await fetch(`${far.base}/`)).status).toBe(401);
    const near = await start();
    expect(await statusWithHost(near.port, '/', 'evil.example:9797')).toBe(403);
    expect(await statusWithHost(near.port, '/', 'localhost:9797')).toBe(200);
    expect((await fetch(`${near.base}/`, { headers: { origin: 'http://evil.example' } })).status).toBe(403);
  });

  it('with a token: the page (no data in it) is served without one, since a browser cannot send it when navigating; data still needs it', async () => {
    let reports = 0;
    const { base, port, log } = await start({ token: Buffer.from(TOKEN), isLoopback: () => false, status: () => ((reports += 1), { node: 'n1' }) });
    expect(await statusWithHost(port, '/', 'lb1.example:9797')).toBe(200);
    const page = await fetch(`${base}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).not.toContain(TOKEN);
    expect((await fetch(`${base}/`, { headers: { origin: 'http://evil.example' } })).status).toBe(403);
    expect((await fetch(`${base}/status`)).status).toBe(401);
    expect((await fetch(`${base}/status`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
    expect(reports).toBe(1);
    expect(JSON.stringify(log.lines)).not.toContain('dash-token');
  });

  it('a node started without a page answers 404 at /', async () => {
    const { base } = await start({ dashboard: undefined });
    const res = await fetch(`${base}/`);
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: { code: 'not_found' } });
  });
});

describe('/events with the bearer subprotocol', () => {
  it('with a token: the right one as a subprotocol is accepted and echoed; a wrong one, none, or one in the query is 401', async () => {
    const { ws } = await start({ token: Buffer.from(TOKEN) });
    const ok = await wsOpen(ws, [protocol(TOKEN)]);
    expect(ok.protocol).toBe(protocol(TOKEN));
    expect(ok.first).toEqual({ type: 'status', status: { node: 'n1' } });
    await expect(wsOpen(ws, [protocol('dash-token-0123456789/+')])).rejects.toThrow(/401/);
    await expect(wsOpen(ws, [`bearer.${TOKEN.replace(/[^A-Za-z0-9-]/g, '')}`])).rejects.toThrow(/401/);
    await expect(wsOpen(ws)).rejects.toThrow(/401/);
    await expect(wsOpen(`${ws}?token=${encodeURIComponent(TOKEN)}`)).rejects.toThrow(/401/);
    // Among other offers, the bearer one still authenticates.
    const among = await wsOpen(ws, ['chat', protocol(TOKEN)]);
    expect(among.first).toEqual({ type: 'status', status: { node: 'n1' } });
  });

  it('the Authorization header still works for non-browser clients, and the subprotocol does not open a cross-origin door', async () => {
    const { ws } = await start({ token: Buffer.from(TOKEN) });
    expect((await wsOpen(ws, undefined, { authorization: `Bearer ${TOKEN}` })).protocol).toBe('');
    await expect(wsOpen(ws, [protocol(TOKEN)], { origin: 'http://evil.example' })).rejects.toThrow(/403/);
  });

  it('without a token on loopback a page that still offers a subprotocol is served, and it is echoed', async () => {
    const { ws } = await start();
    expect((await wsOpen(ws, [protocol('stale-token-from-before')])).protocol).toBe(protocol('stale-token-from-before'));
  });
});

describe('subprotocolToken', () => {
  it('decodes the first bearer.<base64url> offer; anything else is no token', () => {
    expect(subprotocolToken({ 'sec-websocket-protocol': `x, ${protocol('a b/c')}` })).toEqual({ protocol: protocol('a b/c'), token: 'a b/c' });
    expect(subprotocolToken({ 'sec-websocket-protocol': 'bearer.abc=' })).toBeUndefined();
    expect(subprotocolToken({ 'sec-websocket-protocol': 'bearer.' })).toBeUndefined();
    expect(subprotocolToken({ 'sec-websocket-protocol': 'chat' })).toBeUndefined();
    expect(subprotocolToken({})).toBeUndefined();
  });
});

const CONFIG = `
node: { name: lb1 }
admin: { listen: "127.0.0.1:0" }
services:
  - name: web
    mode: http
    listen: { port: 8080 }
    backends: [{ name: web1, address: 127.0.0.1, port: 9001 }]
`;

describe('startAdmin serves the dashboard', () => {
  it('GET / on the node `halo run` starts is the page', async () => {
    const events = new EventLog({ capacity: 10 });
    const log = createLogger({ node: 'lb1', format: 'json', stream: new Writable({ write: (_c, _e, cb) => cb() }), tap: events.tap });
    admin = await startAdmin({ config: parseConfig(CONFIG), plane: { services: new Map() }, events, log, processMetrics: false });
    const res = await fetch(`${admin?.url ?? ''}/`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(dashboardPage().html);
  });
});
