/**
 * The admin server's rules on a real socket bound to 127.0.0.1; the remote-address check
 * is injected so the beyond-loopback branch runs here too.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { request } from 'node:http';
import WebSocket from 'ws';
import { recordingLogger } from '../../../test/helpers/recording-logger.js';
import { waitFor } from '../../../test/helpers/wait.js';
import { AdminServer, parseFailover, type AdminServerOptions, type FailoverRequest } from './admin-server.js';
import type { EventFeed } from './events-socket.js';

const TOKEN = 'admin-token-0123456789';
const servers: AdminServer[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const feed: EventFeed = { initial: () => [{ type: 'status', status: { node: 'n1' } }], subscribe: () => () => undefined };

async function start(over: Partial<AdminServerOptions> = {}) {
  const log = recordingLogger();
  const server = new AdminServer({
    host: '127.0.0.1',
    port: 0,
    status: () => ({ node: 'n1' }),
    metrics: async () => ({ contentType: 'text/plain; version=0.0.4; charset=utf-8', body: 'halo_x 1\n' }),
    events: feed,
    log,
    ...over,
  });
  servers.push(server);
  const { port } = await server.listen();
  return { base: `http://127.0.0.1:${port}`, port, log, server };
}

async function get(url: string, init: RequestInit = {}): Promise<{ status: number; body: unknown; headers: Headers }> {
  const res = await fetch(url, init);
  const text = await res.text();
  return { status: res.status, body: text.startsWith('{') ? (JSON.parse(text) as unknown) : text, headers: res.headers };
}

describe('AdminServer', () => {
  it('serves /status as JSON and /metrics as text from the providers', async () => {
    const { base } = await start();
    const s = await get(`${base}/status`);
    expect(s.status).toBe(200);
    expect(s.headers.get('content-type')).toMatch(/^application\/json/);
    expect(s.headers.get('cache-control')).toBe('no-store');
    expect(s.body).toEqual({ node: 'n1' });
    const m = await get(`${base}/metrics`);
    expect(m.status).toBe(200);
    expect(m.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(m.body).toBe('halo_x 1\n');
  });

  it('unknown path 404, wrong method 405 with Allow, both JSON errors', async () => {
    const { base } = await start();
    const nf = await get(`${base}/nope`);
    expect(nf.status).toBe(404);
    expect(nf.body).toMatchObject({ error: { code: 'not_found' } });
    const wm = await get(`${base}/status`, { method: 'DELETE' });
    expect(wm.status).toBe(405);
    expect(wm.headers.get('allow')).toBe('GET');
    expect(wm.body).toMatchObject({ error: { code: 'method_not_allowed', message: '/status accepts GET, not DELETE' } });
    const post = await get(`${base}/reload`);
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('POST');
    const ev = await get(`${base}/events`);
    expect(ev.status).toBe(426);
  });

  it('beyond loopback without a configured token: 401 with a JSON body and nothing else', async () => {
    let status = 0;
    const { base, log } = await start({ isLoopback: () => false, status: () => ((status += 1), { node: 'n1' }) });
    for (const path of ['/status', '/metrics', '/nope']) {
      const r = await get(`${base}${path}`);
      expect(r.status, path).toBe(401);
      expect(r.headers.get('www-authenticate')).toBe('Bearer realm="halo"');
      expect(Object.keys(r.body as object)).toEqual(['error']);
      expect(r.body).toMatchObject({ error: { code: 'unauthorized' } });
    }
    expect(status).toBe(0);
    expect(log.lines.filter((l) => l.event === 'admin_denied')).toHaveLength(1);
  });

  it('with a token: beyond loopback and on loopback alike; never logged', async () => {
    const { base, log } = await start({ token: Buffer.from(TOKEN), isLoopback: () => false });
    expect((await get(`${base}/status`)).status).toBe(401);
    expect((await get(`${base}/status`, { headers: { authorization: 'Bearer admin-token-wrong-123456' } })).status).toBe(401);
    const ok = await get(`${base}/status`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(ok.status).toBe(200);
    const loop = await start({ token: Buffer.from(TOKEN) });
    expect((await get(`${loop.base}/status`)).status).toBe(401);
    expect((await get(`${loop.base}/status`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
    expect(JSON.stringify([...log.lines, ...loop.log.lines])).not.toContain('admin-token');
  });

  it('POST /reload and /failover call the handlers: 200 done, 409 refused, 501 when absent', async () => {
    const calls: FailoverRequest[] = [];
    const { base } = await start({
      reload: async () => ({ ok: true, message: 'reloaded: 1 service changed' }),
      failover: async (req) => (calls.push(req), { ok: req.release !== true, message: req.release === true ? 'not held' : 'handed over to lb2' }),
    });
    const r = await get(`${base}/reload`, { method: 'POST' });
    expect(r).toMatchObject({ status: 200, body: { ok: true, message: 'reloaded: 1 service changed' } });
    const f = await get(`${base}/failover`, { method: 'POST', body: JSON.stringify({ hold_ms: 60000 }), headers: { 'content-type': 'application/json' } });
    expect(f).toMatchObject({ status: 200, body: { ok: true, message: 'handed over to lb2' } });
    const rel = await get(`${base}/failover`, { method: 'POST', body: '{"release":true}' });
    expect(rel).toMatchObject({ status: 409, body: { ok: false, message: 'not held' } });
    const empty = await get(`${base}/failover`, { method: 'POST' });
    expect(empty.status).toBe(200);
    expect(calls).toEqual([{ holdMs: 60000 }, { release: true }, {}]);
    const none = await start();
    expect((await get(`${none.base}/reload`, { method: 'POST' })).status).toBe(501);
    expect((await get(`${none.base}/failover`, { method: 'POST' })).status).toBe(501);
  });

  it('POST /failover: a bad or oversized body is 400/413, the handler is not called', async () => {
    let called = 0;
    const { base } = await start({ failover: async () => (called++, { ok: true, message: '' }) });
    expect((await get(`${base}/failover`, { method: 'POST', body: '{"hold_ms": -1}' })).status).toBe(400);
    expect((await get(`${base}/failover`, { method: 'POST', body: 'not json' })).status).toBe(400);
    expect((await get(`${base}/failover`, { method: 'POST', body: JSON.stringify({ pad: 'x'.repeat(5000) }) })).status).toBe(413);
    expect(called).toBe(0);
  });

  it('POSTs without a token are loopback-only, and a cross-origin browser POST is refused', async () => {
    let called = 0;
    const far = await start({ isLoopback: () => false, reload: async () => (called++, { ok: true, message: '' }) });
    expect((await get(`${far.base}/reload`, { method: 'POST' })).status).toBe(401);
    const near = await start({ reload: async () => (called++, { ok: true, message: '' }) });
    expect((await get(`${near.base}/reload`, { method: 'POST', headers: { origin: 'https://evil.example' } })).status).toBe(403);
    expect(called).toBe(0);
  });

  it('a body it does not read gets an answer and a closed connection', async () => {
    const { port } = await start();
    const res = await new Promise<{ status: number; connection: string | undefined }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/status', method: 'PUT', headers: { 'content-length': '100000' } }, (r) => {
        r.resume();
        resolve({ status: r.statusCode ?? 0, connection: r.headers.connection });
      });
      req.on('error', reject);
      req.write('x'.repeat(1000));
    });
    expect(res).toEqual({ status: 405, connection: 'close' });
  });

  it('/events: refused before the upgrade when unauthorised, at an unknown path, or past maxEventClients', async () => {
    const far = await start({ isLoopback: () => false });
    await expect(wsOpen(`ws://127.0.0.1:${far.port}/events`)).rejects.toThrow(/401/);
    const near = await start({ maxEventClients: 1 });
    await expect(wsOpen(`ws://127.0.0.1:${near.port}/other`)).rejects.toThrow(/404/);
    await expect(wsOpen(`ws://127.0.0.1:${near.port}/events?since=abc`)).rejects.toThrow(/400/);
    const first = await wsOpen(`ws://127.0.0.1:${near.port}/events`);
    await expect(wsOpen(`ws://127.0.0.1:${near.port}/events`)).rejects.toThrow(/503/);
    first.close();
  });
});

describe('AdminServer /events', () => {
  it('streams the feed: opening messages, then live ones; a client that stops reading is dropped with 1013', async () => {
    let push: (m: unknown) => void = () => undefined;
    const live: EventFeed = { initial: (since) => [{ type: 'hello', since: since ?? null }], subscribe: (send) => ((push = send), () => undefined) };
    const { port, server, log } = await start({ events: live, maxBufferedBytes: 1024 * 1024 });
    const got: unknown[] = [];
    const reader = await wsOpen(`ws://127.0.0.1:${port}/events?since=5`, (d) => got.push(JSON.parse(d)));
    const slow = await wsOpen(`ws://127.0.0.1:${port}/events`);
    const closed = new Promise<number>((resolve) => slow.once('close', (code) => resolve(code)));
    // The slow client's socket stops reading: the kernel buffers fill, then the server's.
    (slow as unknown as { _socket: { pause(): void } })._socket.pause();
    await waitFor(() => server.eventClients === 2, 'two clients');
    const big = 'x'.repeat(64 * 1024);
    for (let i = 0; i < 400 && server.eventClients === 2; i++) {
      push({ type: 'log', i, big });
      await new Promise((r) => setImmediate(r));
    }
    expect(server.eventClients).toBe(1);
    (slow as unknown as { _socket: { resume(): void } })._socket.resume();
    expect(await closed).toBe(1013);
    await waitFor(() => log.lines.some((l) => l.event === 'admin_events_client_dropped'), 'the drop logged');
    push({ type: 'after' });
    await waitFor(() => got.some((m) => (m as { type: string }).type === 'after'), 'the reader still served');
    expect(got[0]).toEqual({ type: 'hello', since: 5 });
    reader.close();
  });
});

/** `onMessage` is attached before the upgrade completes: the opening messages come with it. */
function wsOpen(url: string, onMessage?: (data: string) => void): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    if (onMessage) ws.on('message', (d) => onMessage(String(d)));
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`refused with ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

describe('parseFailover', () => {
  it('accepts hold_ms and release, names anything else', () => {
    expect(parseFailover({})).toEqual({});
    expect(parseFailover({ hold_ms: 0, release: false })).toEqual({ holdMs: 0, release: false });
    expect(parseFailover([])).toMatch(/expected a JSON object/);
    expect(parseFailover({ hold_ms: 1.5 })).toMatch(/^hold_ms:/);
    expect(parseFailover({ release: 'yes' })).toMatch(/^release:/);
    expect(parseFailover({ holdMs: 1 })).toBe('holdMs: unknown key (known: hold_ms, release)');
  });
});
