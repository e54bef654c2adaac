/**
 * The HTTP proxy against real node:http / net backends on 127.0.0.1 (ephemeral ports):
 * forwarding, streaming, keep-alive on both sides, routing, WebSocket tunnels, limits,
 * timeouts and backend failures.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { silentLogger } from '../../src/adapters/logger.js';
import { HttpProxy } from '../../src/adapters/proxy/http-proxy.js';
import { serviceSchema, type ServiceConfig } from '../../src/config/schema.js';
import { compileRules } from '../../src/core/routing/rules.js';
import { FakeDispatcher } from '../fakes/fake-dispatcher.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

// --- backends ---------------------------------------------------------------------------

interface Backend {
  readonly name: string;
  readonly port: number;
  readonly server: http.Server;
  /** TCP connections accepted so far. */
  connections: number;
  requests: http.IncomingMessage[];
}

/**
 * A backend that names itself. Default answer: JSON with what it received. Paths:
 * /download?bytes=N streams N bytes, /never never answers, /slow?ms=N waits.
 */
async function startBackend(name: string, opts: { keepAliveTimeout?: number; wsEcho?: boolean } = {}): Promise<Backend> {
  const server = http.createServer((req, res) => {
    backend.requests.push(req);
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/never') return;
    if (url.pathname === '/download') {
      const total = Number(url.searchParams.get('bytes'));
      const chunk = Buffer.alloc(64 * 1024, name);
      let sent = 0;
      res.setHeader('X-Backend', name);
      const pump = () => {
        while (sent < total) {
          const n = Math.min(chunk.length, total - sent);
          sent += n;
          if (!res.write(chunk.subarray(0, n))) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
      return;
    }
    const hash = createHash('sha256');
    let bytes = 0;
    req.on('data', (c: Buffer) => {
      bytes += c.length;
      hash.update(c);
    });
    req.on('end', () => {
      const reply = () => {
        const body = JSON.stringify({ name, method: req.method, url: req.url, bytes, sha256: hash.digest('hex'), headers: req.headers });
        res.setHeader('Content-Type', 'application/json');
        // Explicit: node answers HTTP/1.0 requests close-delimited otherwise.
        res.setHeader('Content-Length', Buffer.byteLength(body));
        res.setHeader('X-Backend', name);
        if (url.pathname === '/cookie') res.setHeader('Set-Cookie', 'app=1; Path=/');
        if (url.pathname === '/nocontent') {
          res.statusCode = 204;
          res.end();
          return;
        }
        res.end(body);
      };
      const ms = Number(url.searchParams.get('ms') ?? 0);
      if (url.pathname === '/slow') setTimeout(reply, ms);
      else reply();
    });
  });
  if (opts.keepAliveTimeout !== undefined) server.keepAliveTimeout = opts.keepAliveTimeout;
  server.on('connection', () => backend.connections++);
  if (opts.wsEcho) {
    const wss = new WebSocketServer({ server });
    wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(isBinary ? data : `${name}:${String(data)}`, { binary: isBinary })));
    cleanups.push(() => new Promise((r) => wss.close(() => r(undefined))));
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const backend: Backend = { name, port: (server.address() as net.AddressInfo).port, server, connections: 0, requests: [] };
  cleanups.push(() => {
    server.closeAllConnections();
    return new Promise((r) => server.close(() => r(undefined)));
  });
  return backend;
}

/** A raw TCP backend: `onData` gets each read and the socket. */
async function startRawBackend(onData: (socket: net.Socket, data: Buffer) => void): Promise<{ port: number; connections: number }> {
  const state = { port: 0, connections: 0 };
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    state.connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    s.on('data', (d) => onData(s, d));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.port = (server.address() as net.AddressInfo).port;
  cleanups.push(() => {
    for (const s of sockets) s.destroy();
    return new Promise((r) => server.close(() => r(undefined)));
  });
  return state;
}

/** A port nothing listens on (bound, then closed). */
async function deadPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

// --- proxy ------------------------------------------------------------------------------

function makeService(backends: Array<{ name: string; port: number }>, extra: Record<string, unknown> = {}): ServiceConfig {
  const svc = serviceSchema.parse({
    name: 'web',
    mode: 'http',
    listen: { address: '127.0.0.1', port: 1 },
    backends: backends.map((b) => ({ name: b.name, address: '127.0.0.1', port: b.port })),
    health_check: { type: 'none' },
    ...extra,
  });
  // Port 0 (ephemeral) is below the schema's range on purpose; tests need it.
  return { ...svc, listen: { address: '127.0.0.1', port: 0 } };
}

async function startProxy(service: ServiceConfig, setup?: (d: FakeDispatcher) => void, opts: { upstreamIdleMs?: number } = {}) {
  const dispatcher = new FakeDispatcher(service);
  setup?.(dispatcher);
  const proxy = new HttpProxy({ dispatcher, logger: silentLogger, ...opts });
  const { port } = await proxy.listen();
  cleanups.push(() => proxy.close(0));
  return { proxy, dispatcher, port };
}

// --- clients ----------------------------------------------------------------------------

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  json: () => { name: string; method: string; url: string; bytes: number; sha256: string; headers: Record<string, string> };
}

function request(
  port: number,
  opts: { path?: string; method?: string; headers?: Record<string, string>; body?: Buffer | string | undefined; agent?: http.Agent; chunked?: boolean } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path: opts.path ?? '/', method: opts.method ?? 'GET', headers: opts.headers, agent: opts.agent ?? false },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => {
          const body = Buffer.concat(parts);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body.toString()) });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (opts.body !== undefined && opts.chunked) {
      req.write(opts.body);
      req.end();
    } else {
      req.end(opts.body);
    }
  });
}

/** A raw client socket collecting everything it receives. */
class RawClient {
  readonly socket: net.Socket;
  data = '';
  closed = false;
  private waiters: Array<() => void> = [];

  constructor(port: number) {
    this.socket = net.connect({ host: '127.0.0.1', port });
    this.socket.setEncoding('latin1');
    this.socket.on('data', (d: string) => {
      this.data += d;
      this.wake();
    });
    this.socket.on('error', () => {});
    this.socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    cleanups.push(() => this.socket.destroy());
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  write(s: string | Buffer): void {
    this.socket.write(s);
  }

  /** Wait until `pred` holds (checked on every event), failing after timeoutMs. */
  async until(pred: (c: RawClient) => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred(this)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.data.slice(0, 300))} closed=${this.closed}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 50));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  count(s: string): number {
    return this.data.split(s).length - 1;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// --- tests ------------------------------------------------------------------------------

describe('HttpProxy: forwarding', () => {
  it('forwards GET and adds X-Forwarded-For, Forwarded and X-Forwarded-Proto', async () => {
    const b1 = await startBackend('b1');
    const { port, dispatcher } = await startProxy(makeService([b1]));
    const r = await request(port, { path: '/hello?x=1', headers: { 'X-Forwarded-For': '203.0.113.9', Host: 'shop.test:8080' } });
    expect(r.status).toBe(200);
    const seen = r.json();
    expect(seen.name).toBe('b1');
    expect(seen.url).toBe('/hello?x=1');
    expect(seen.headers['x-forwarded-for']).toBe('203.0.113.9, 127.0.0.1');
    expect(seen.headers['x-forwarded-proto']).toBe('http');
    expect(seen.headers['forwarded']).toBe('for=127.0.0.1;proto=http;host="shop.test:8080"');
    expect(seen.headers['host']).toBe('shop.test:8080');
    expect(r.headers['x-backend']).toBe('b1');
    expect(dispatcher.calls.requestDone).toEqual([{ target: expect.objectContaining({ name: 'b1' }), status: 200 }]);
  });

  it('forwards POST bodies with Content-Length and chunked framing', async () => {
    const b1 = await startBackend('b1');
    const { port } = await startProxy(makeService([b1]));
    const body = Buffer.from('x'.repeat(10_000) + 'end');
    const sha = createHash('sha256').update(body).digest('hex');
    const cl = await request(port, { method: 'POST', path: '/cl', body });
    expect(cl.json()).toMatchObject({ method: 'POST', bytes: body.length, sha256: sha });
    expect(cl.json().headers['content-length']).toBe(String(body.length));
    const ch = await request(port, { method: 'POST', path: '/chunked', body, chunked: true });
    expect(ch.json()).toMatchObject({ bytes: body.length, sha256: sha });
    expect(ch.json().headers['transfer-encoding']).toBe('chunked');
  });

  it('streams a 5 MB chunked upload and a 5 MB download', async () => {
    const b1 = await startBackend('b1');
    const { port, dispatcher } = await startProxy(makeService([b1]));
    const size = 5 * 1024 * 1024;
    const hash = createHash('sha256');
    const reply = await new Promise<Reply>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method: 'PUT', path: '/upload', agent: false }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => {
          const body = Buffer.concat(parts);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body.toString()) });
        });
      });
      req.on('error', reject);
      let sent = 0;
      const pump = () => {
        while (sent < size) {
          const chunk = Buffer.alloc(Math.min(100_000, size - sent), sent % 251);
          hash.update(chunk);
          sent += chunk.length;
          if (!req.write(chunk)) return void req.once('drain', pump);
        }
        req.end();
      };
      pump();
    });
    expect(reply.json()).toMatchObject({ bytes: size, sha256: hash.digest('hex') });

    const down = await request(port, { path: `/download?bytes=${size}` });
    expect(down.status).toBe(200);
    expect(down.body.length).toBe(size);
    expect(down.body.every((c) => c === 'b'.charCodeAt(0) || c === '1'.charCodeAt(0))).toBe(true);
    // Byte counts reach the dispatcher in batches (at least every sweep); wait a bounded time.
    for (let i = 0; i < 100 && dispatcher.calls.bytesToClient <= size; i++) await sleep(20);
    expect(dispatcher.calls.bytesToBackend).toBeGreaterThan(size);
    expect(dispatcher.calls.bytesToClient).toBeGreaterThan(size);
  });

  it('reuses connections on both sides with keep-alive', async () => {
    const b1 = await startBackend('b1');
    const { port, proxy, dispatcher } = await startProxy(makeService([b1]));
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    cleanups.push(() => agent.destroy());
    let accepted = 0;
    for (let i = 0; i < 20; i++) {
      const r = await request(port, { path: `/r${i}`, agent, method: i % 2 ? 'POST' : 'GET', body: i % 2 ? 'abc' : undefined });
      expect(r.json().url).toBe(`/r${i}`);
      accepted = Math.max(accepted, proxy.connections);
    }
    expect(b1.connections).toBe(1);
    expect(dispatcher.calls.connected.length).toBe(1);
    expect(proxy.counters.connections).toBe(1);
    expect(proxy.counters.requests).toBe(20);
    // Load is counted per request in flight, not per pooled connection.
    expect(dispatcher.inflight).toBe(0);
  });

  it('answers pipelined requests in order on one connection', async () => {
    const b1 = await startBackend('b1');
    const { port } = await startProxy(makeService([b1]));
    const c = new RawClient(port);
    const one = (p: string) => `GET ${p} HTTP/1.1\r\nHost: x\r\n\r\n`;
    c.write(one('/p1') + 'POST /p2 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello' + one('/p3'));
    await c.until((x) => x.count('HTTP/1.1 200') === 3, 5000, 'three responses');
    const order = [...c.data.matchAll(/"url":"(\/p\d)"/g)].map((m) => m[1]);
    expect(order).toEqual(['/p1', '/p2', '/p3']);
    expect(c.data).toContain('"bytes":5');
    expect(c.closed).toBe(false);
  });

  it('handles HEAD, 204 and Expect: 100-continue on a kept-alive connection', async () => {
    const b1 = await startBackend('b1');
    const { port } = await startProxy(makeService([b1]));
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    cleanups.push(() => agent.destroy());
    const head = await request(port, { method: 'HEAD', path: '/h', agent });
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    const nc = await request(port, { path: '/nocontent', agent });
    expect(nc.status).toBe(204);
    const cont = await new Promise<Reply>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/expect', agent, headers: { Expect: '100-continue', 'Content-Length': '4' } }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () => {
          const body = Buffer.concat(parts);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body.toString()) });
        });
      });
      req.on('error', reject);
      req.on('continue', () => req.end('data'));
    });
    expect(cont.json()).toMatchObject({ bytes: 4, url: '/expect' });
    expect(b1.connections).toBe(1);
  });

  it('closes HTTP/1.0 connections without keep-alive and keeps those that ask for it', async () => {
    const b1 = await startBackend('b1');
    const { port } = await startProxy(makeService([b1]));
    const c = new RawClient(port);
    c.write('GET /old HTTP/1.0\r\n\r\n');
    await c.until((x) => x.closed, 5000, 'close');
    expect(c.data).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(c.data).toContain('Connection: close\r\n');
    const k = new RawClient(port);
    k.write('GET /ka HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
    await k.until((x) => x.data.includes('"/ka"'), 5000, 'response');
    expect(k.data).toContain('Connection: keep-alive\r\n');
    k.write('GET /ka2 HTTP/1.0\r\n\r\n');
    await k.until((x) => x.closed && x.data.includes('"/ka2"'), 5000, 'second response and close');
  });

  it('relays a close-delimited response and then closes the client', async () => {
    const raw = await startRawBackend((s) => {
      s.end('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of this until the backend closes');
    });
    const { port } = await startProxy(makeService([{ name: 'raw', port: raw.port }]));
    const c = new RawClient(port);
    c.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await c.until((x) => x.closed, 5000, 'close');
    expect(c.data).toContain('Connection: close\r\n');
    expect(c.data.endsWith('\r\n\r\nall of this until the backend closes')).toBe(true);
  });
});

describe('HttpProxy: routing, persistence and upgrades', () => {
  it('routes by L7 rules to pools', async () => {
    const main = await startBackend('main');
    const api = await startBackend('api1');
    const stat = await startBackend('static1');
    const svc = makeService([main], {
      pools: [
        { name: 'api', backends: [{ name: 'api1', address: '127.0.0.1', port: api.port }] },
        { name: 'static', backends: [{ name: 'static1', address: '127.0.0.1', port: stat.port }] },
      ],
      rules: [
        { match: { path_prefix: '/api' }, pool: 'api' },
        { match: { extension: ['png', 'css'] }, pool: 'static' },
        { match: { host: '*.static.test' }, pool: 'static' },
      ],
    });
    const { port, dispatcher } = await startProxy(svc, (d) => {
      d.routeFn = compileRules(svc.rules);
    });
    expect((await request(port, { path: '/api/users' })).json().name).toBe('api1');
    expect((await request(port, { path: '/img/logo.PNG?v=2' })).json().name).toBe('static1');
    expect((await request(port, { path: '/', headers: { Host: 'cdn.static.test' } })).json().name).toBe('static1');
    expect((await request(port, { path: '/apix' })).json().name).toBe('main');
    expect(dispatcher.chooseCalls.map((c) => c.pool)).toEqual(['api', 'static', 'static', 'default']);
  });

  it('inserts the dispatcher Set-Cookie and passes the persistence cookie to choose()', async () => {
    const b1 = await startBackend('b1');
    const svc = makeService([b1], { persistence: { type: 'cookie', cookie_name: 'HALO_SRV', secret_env: 'X' } });
    const { port, dispatcher } = await startProxy(svc, (d) => {
      d.setCookie = 'HALO_SRV=b1.sig; Path=/; HttpOnly';
    });
    const r = await request(port, { path: '/cookie', headers: { Cookie: 'a=1; HALO_SRV=b1.old; z=2' } });
    expect(r.status).toBe(200);
    expect(r.headers['set-cookie']).toEqual(['app=1; Path=/', 'HALO_SRV=b1.sig; Path=/; HttpOnly']);
    expect(dispatcher.chooseCalls[0]?.cookie).toBe('b1.old');
  });

  it('tunnels a WebSocket through the proxy', async () => {
    const b1 = await startBackend('b1', { wsEcho: true });
    const { port, proxy, dispatcher } = await startProxy(makeService([b1]));
    const ws = new WebSocket(`ws://127.0.0.1:${port}/chat`);
    cleanups.push(() => ws.terminate());
    const received: string[] = [];
    await new Promise<void>((resolve, reject) => {
      ws.on('error', reject);
      ws.on('open', () => {
        ws.send('hello');
        ws.send('world');
        ws.send(Buffer.alloc(200_000, 7));
      });
      ws.on('message', (data, isBinary) => {
        received.push(isBinary ? `binary:${(data as Buffer).length}` : String(data));
        if (received.length === 3) resolve();
      });
    });
    expect(received).toEqual(['b1:hello', 'b1:world', 'binary:200000']);
    expect(proxy.counters.upgrades).toBe(1);
    expect(dispatcher.inflight).toBe(0);
    const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
    ws.close(1000, 'bye');
    expect(await closed).toBe(1000);
  });
});

describe('HttpProxy: bad clients', () => {
  it('survives garbage and mutated requests on many connections and keeps serving', async () => {
    const b1 = await startBackend('b1');
    const { port, proxy, dispatcher } = await startProxy(makeService([b1], { timeouts: { client_header_ms: 300, idle_ms: 300 } }));
    let seed = 42;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    const base = 'POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n';
    const special = '\r\n\0 :;,0f\x7f\xff';
    for (let batch = 0; batch < 10; batch++) {
      const clients: RawClient[] = [];
      for (let i = 0; i < 20; i++) {
        let text = base;
        for (let e = 0; e < 1 + Math.floor(rand() * 4); e++) {
          const at = Math.floor(rand() * text.length);
          const ch = rand() < 0.6 ? special[Math.floor(rand() * special.length)]! : String.fromCharCode(Math.floor(rand() * 256));
          text = rand() < 0.5 ? text.slice(0, at) + ch + text.slice(at) : text.slice(0, at) + text.slice(at + 1);
        }
        const c = new RawClient(port);
        c.write(Buffer.from(text, 'latin1'));
        if (rand() < 0.3) c.socket.end();
        clients.push(c);
      }
      await Promise.all(clients.map((c) => c.until((x) => x.closed || /^HTTP\/1\.1 \d{3}[^]*\r\n\r\n/.test(x.data), 3000, 'an answer or a close')));
      for (const c of clients) c.socket.destroy();
    }
    expect((await request(port, { path: '/still-alive' })).json().url).toBe('/still-alive');
    for (let i = 0; i < 100 && proxy.connections > 0; i++) await sleep(20);
    expect(proxy.connections).toBe(0);
    expect(dispatcher.calls.released).toBe(proxy.counters.connections);
  });

  it('answers 505 for HTTP/2.0 and 501 for CONNECT, then closes', async () => {
    const b1 = await startBackend('b1');
    const { port } = await startProxy(makeService([b1]));
    const v2 = new RawClient(port);
    v2.write('GET / HTTP/2.0\r\nHost: x\r\n\r\n');
    await v2.until((x) => x.closed, 5000, 'close');
    expect(v2.data).toMatch(/^HTTP\/1\.1 505 HTTP Version Not Supported\r\n/);
    const conn = new RawClient(port);
    conn.write('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n');
    await conn.until((x) => x.closed, 5000, 'close');
    expect(conn.data).toMatch(/^HTTP\/1\.1 501 Not Implemented\r\n/);
    expect(b1.requests.length).toBe(0);
  });

  it('answers a client that half-closes after sending its request', async () => {
    const b1 = await startBackend('b1');
    const { port } = await startProxy(makeService([b1]));
    const c = new RawClient(port);
    c.write('GET /half HTTP/1.1\r\nHost: x\r\n\r\n');
    c.socket.end();
    await c.until((x) => x.closed, 5000, 'close');
    expect(c.data).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(c.data).toContain('"url":"/half"');
  });

  it('treats an upgrade the backend declines as a normal exchange', async () => {
    const b1 = await startBackend('b1');
    const { port } = await startProxy(makeService([b1]));
    const c = new RawClient(port);
    c.write('GET /no-ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
    await c.until((x) => x.data.includes('"url":"/no-ws"'), 5000, 'response');
    expect(c.data).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    c.write('GET /next HTTP/1.1\r\nHost: x\r\n\r\n');
    await c.until((x) => x.data.includes('"url":"/next"'), 5000, 'second response');
    expect(b1.connections).toBe(2);
  });

  it('answers a malformed request with 400 and closes, while another client keeps being served', async () => {
    const b1 = await startBackend('b1');
    const { port, proxy } = await startProxy(makeService([b1]));
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    cleanups.push(() => agent.destroy());
    expect((await request(port, { path: '/before', agent })).status).toBe(200);
    const bad = new RawClient(port);
    bad.write('GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n');
    await bad.until((x) => x.closed, 5000, 'close');
    expect(bad.data).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(bad.data).toContain('Connection: close');
    expect(bad.data).toContain('both Content-Length and Transfer-Encoding');
    const garbage = new RawClient(port);
    garbage.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03, 0x0d, 0x0a, 0x0d, 0x0a]));
    await garbage.until((x) => x.closed, 5000, 'close');
    expect(garbage.data).toMatch(/^HTTP\/1\.1 400 /);
    expect((await request(port, { path: '/after', agent })).json().url).toBe('/after');
    expect(proxy.counters.badRequests).toBe(2);
    expect(b1.requests.map((r) => r.url)).toEqual(['/before', '/after']);
  });

  it('rejects a malformed chunked request body with 400', async () => {
    const b1 = await startBackend('b1');
    const { port } = await startProxy(makeService([b1]));
    const c = new RawClient(port);
    c.write('POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nZZ\r\n');
    await c.until((x) => x.closed, 5000, 'close');
    expect(c.data).toMatch(/^HTTP\/1\.1 400 /);
    expect(c.data).toContain('invalid chunk size');
  });

  it('answers a 20 KB header with 431 and closes', async () => {
    const b1 = await startBackend('b1');
    const { port, proxy } = await startProxy(makeService([b1]));
    const c = new RawClient(port);
    c.write(`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20 * 1024)}\r\n\r\n`);
    await c.until((x) => x.closed, 5000, 'close');
    expect(c.data).toMatch(/^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
    expect(proxy.counters.headerTooLarge).toBe(1);
    expect(b1.requests.length).toBe(0);
  });

  it('times out a slowloris head with 408 and keeps serving others', async () => {
    const b1 = await startBackend('b1');
    const { port, proxy } = await startProxy(makeService([b1], { timeouts: { client_header_ms: 300 } }));
    const slow = new RawClient(port);
    const head = 'GET /slow HTTP/1.1\r\nHost: x\r\nX-Padding: aaaaaaaaaaaaaaaaaaaa\r\n\r\n';
    const started = Date.now();
    let i = 0;
    // One byte every 40 ms: the head would need ~2.4 s, eight times the limit.
    while (!slow.closed && i < head.length && Date.now() - started < 5000) {
      slow.write(head[i++]!);
      if (i === 3) expect((await request(port, { path: '/meanwhile' })).status).toBe(200);
      await sleep(40);
    }
    await slow.until((x) => x.closed, 3000, 'close');
    expect(i).toBeLessThan(head.length);
    expect(slow.data).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(proxy.counters.headTimeouts).toBe(1);
    expect((await request(port, { path: '/after' })).status).toBe(200);
  });

  it('closes idle keep-alive connections after idle_ms', async () => {
    const b1 = await startBackend('b1');
    const { port, proxy } = await startProxy(makeService([b1], { timeouts: { idle_ms: 200 } }));
    const c = new RawClient(port);
    c.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await c.until((x) => x.data.includes('"name":"b1"'), 5000, 'response');
    await c.until((x) => x.closed, 3000, 'idle close');
    await sleep(20);
    expect(proxy.connections).toBe(0);
  });

  it('answers 429 when the dispatcher rate-limits, keeping the connection', async () => {
    const b1 = await startBackend('b1');
    const { port, dispatcher, proxy } = await startProxy(makeService([b1]), (d) => {
      d.rateLimited = true;
    });
    const c = new RawClient(port);
    c.write('GET /a HTTP/1.1\r\nHost: x\r\n\r\n');
    await c.until((x) => x.data.includes('\r\n\r\n429'), 5000, '429');
    expect(c.data).toMatch(/^HTTP\/1\.1 429 Too Many Requests\r\n/);
    expect(c.data).toContain('Retry-After: 1');
    dispatcher.rateLimited = false;
    c.write('GET /b HTTP/1.1\r\nHost: x\r\n\r\n');
    await c.until((x) => x.data.includes('"url":"/b"'), 5000, 'second response');
    expect(proxy.counters.rateLimited).toBe(1);
  });

  it('stops reading a pipelining client that does not read its answers', async () => {
    const b1 = await startBackend('b1');
    const { port, proxy } = await startProxy(makeService([b1]), (d) => {
      d.rateLimited = true;
    });
    const total = 100_000;
    const c = new RawClient(port);
    c.socket.pause();
    // ~3 MB of requests whose 429 answers (~20 MB) cannot all fit in socket buffers.
    c.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(total));
    // Wait (bounded) until the proxy stops making progress: it must stall, not buffer everything.
    let whileBlocked = -1;
    for (let i = 0; i < 100 && proxy.counters.requests !== whileBlocked; i++) {
      whileBlocked = proxy.counters.requests;
      await sleep(150);
    }
    expect(whileBlocked).toBeGreaterThan(0);
    expect(whileBlocked).toBeLessThan(total);
    let answers = 0;
    let tail = '';
    c.socket.on('data', (d: string) => {
      const text = tail + d;
      answers += text.split('HTTP/1.1 429').length - 1;
      tail = text.slice(-16);
    });
    c.socket.resume();
    await c.until(() => answers >= total, 20_000, 'all answers');
    expect(proxy.counters.requests).toBe(total);
  });

  it('closes connections over max_connections and releases each admitted one once', async () => {
    const b1 = await startBackend('b1');
    const { port, dispatcher, proxy } = await startProxy(makeService([b1], { limits: { max_connections: 1 } }));
    const first = new RawClient(port);
    first.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await first.until((x) => x.data.includes('"name":"b1"'), 5000, 'response');
    const second = new RawClient(port);
    await second.until((x) => x.closed, 5000, 'rejection');
    expect(second.data).toBe('');
    expect(proxy.counters.rejectedConnections).toBe(1);
    first.socket.end();
    await first.until((x) => x.closed, 5000, 'close');
    await sleep(20);
    expect(dispatcher.calls.released).toBe(1);
  });
});

describe('HttpProxy: backend failures', () => {
  it('retries another backend when connecting fails', async () => {
    const b1 = await startBackend('b1');
    const dead = await deadPort();
    const { port, dispatcher } = await startProxy(makeService([{ name: 'dead', port: dead }, b1]));
    for (let i = 0; i < 4; i++) expect((await request(port, { path: `/${i}` })).json().name).toBe('b1');
    expect(dispatcher.calls.connectFailed.length).toBeGreaterThanOrEqual(1);
    expect(dispatcher.calls.connectFailed[0]?.target.name).toBe('dead');
    expect(dispatcher.chooseCalls.some((c) => c.avoid?.has('dead'))).toBe(true);
  });

  it('answers 502 when every backend refuses and 503 naming the service when none is healthy', async () => {
    const { port, dispatcher } = await startProxy(makeService([{ name: 'd1', port: await deadPort() }, { name: 'd2', port: await deadPort() }]));
    const r = await request(port);
    expect(r.status).toBe(502);
    expect(dispatcher.calls.connectFailed.length).toBe(2);
    dispatcher.setBackendUp('default', 'd1', false);
    dispatcher.setBackendUp('default', 'd2', false);
    const r2 = await request(port);
    expect(r2.status).toBe(503);
    expect(r2.body.toString()).toContain('503 Service Unavailable: no healthy backend for service "web"');
  });

  it('answers 504 when the backend never answers', async () => {
    const b1 = await startBackend('b1');
    const { port, proxy, dispatcher } = await startProxy(makeService([b1], { timeouts: { backend_response_ms: 300 } }));
    const started = Date.now();
    const r = await request(port, { path: '/never' });
    expect(r.status).toBe(504);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(proxy.counters.backendTimeouts).toBe(1);
    expect(dispatcher.calls.requestDone.at(-1)?.status).toBe(504);
    expect(dispatcher.inflight).toBe(0);
  });

  it('answers 504 for a half-sent response head and serves the next request cleanly', async () => {
    const order = new WeakMap<net.Socket, number>();
    const raw = await startRawBackend((s) => {
      if (!order.has(s)) order.set(s, raw.connections);
      if (order.get(s) === 1) s.write('HTTP/1.1 200 OK\r\nX-Partial: yes');
      else s.write('HTTP/1.1 200 OK\r\nContent-Length: 6\r\nX-Second: yes\r\n\r\nsecond');
    });
    const { port } = await startProxy(makeService([{ name: 'raw', port: raw.port }], { timeouts: { backend_response_ms: 300 } }));
    const c = new RawClient(port);
    c.write('GET /first HTTP/1.1\r\nHost: x\r\n\r\n');
    await c.until((x) => x.data.includes('504 Gateway Timeout'), 5000, '504');
    c.data = '';
    c.write('GET /second HTTP/1.1\r\nHost: x\r\n\r\n');
    await c.until((x) => x.data.endsWith('second'), 5000, 'second response');
    expect(c.data).toContain('X-Second: yes');
    expect(c.data).not.toContain('X-Partial');
  });

  it('answers 502 for an invalid response and for a backend that resets', async () => {
    const raw = await startRawBackend((s, d) => {
      if (d.toString('latin1').startsWith('GET /garbage')) s.write('HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx');
      else s.resetAndDestroy();
    });
    const { port, proxy, dispatcher } = await startProxy(makeService([{ name: 'raw', port: raw.port }]));
    const g = await request(port, { path: '/garbage' });
    expect(g.status).toBe(502);
    expect(g.body.toString()).toContain('invalid response');
    const reset = await request(port, { path: '/reset' });
    expect(reset.status).toBe(502);
    expect(proxy.counters.badResponses).toBe(1);
    expect(dispatcher.inflight).toBe(0);
  });

  it('resends an idempotent request once when a pooled connection turns out dead', async () => {
    // Each backend connection answers once, then drops the next request unanswered: the
    // race where a backend closes an idle keep-alive connection just as we reuse it.
    const served = new WeakMap<net.Socket, number>();
    const raw = await startRawBackend((s) => {
      const n = served.get(s) ?? 0;
      served.set(s, n + 1);
      if (n >= 1) s.destroy();
      else s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    });
    const { port, proxy } = await startProxy(makeService([{ name: 'raw', port: raw.port }]), undefined, { upstreamIdleMs: 60_000 });
    expect((await request(port, { path: '/1' })).status).toBe(200);
    expect((await request(port, { path: '/2' })).status).toBe(200);
    expect(proxy.counters.staleRetries).toBe(1);
    // Not idempotent with a body: never resent, the client gets 502.
    expect((await request(port, { method: 'POST', path: '/3', body: 'data' })).status).toBe(502);
    expect(raw.connections).toBe(2);
  });

  it('drops pooled connections the backend closes while idle', async () => {
    const raw = await startRawBackend((s) => {
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      setTimeout(() => s.end(), 50);
    });
    const { port, proxy } = await startProxy(makeService([{ name: 'raw', port: raw.port }]), undefined, { upstreamIdleMs: 60_000 });
    for (let i = 0; i < 3; i++) {
      expect((await request(port, { path: `/${i}` })).status).toBe(200);
      await sleep(150);
      expect(proxy.upstreamConnections).toBe(0);
    }
    expect(raw.connections).toBe(3);
    expect(proxy.counters.staleRetries).toBe(0);
  });

  it('drains in-flight requests on close', async () => {
    const b1 = await startBackend('b1');
    const dispatcher = new FakeDispatcher(makeService([b1]));
    const proxy = new HttpProxy({ dispatcher, logger: silentLogger });
    const { port } = await proxy.listen();
    cleanups.push(() => proxy.close(0));
    const pending = request(port, { path: '/slow?ms=200' });
    await sleep(50);
    const closing = proxy.close(3000);
    const r = await pending;
    expect(r.status).toBe(200);
    expect(r.headers['connection']).toBe('close');
    await closing;
    await expect(request(port)).rejects.toThrow();
  });
});
