/**
 * Floods (issue 6), the CI form. In process on 127.0.0.1: a new UDP client is served
 * through a full flow table (least recently seen evicted, its socket closed), a silent
 * connection, a 1 MB header and a trickled body are each cut by their limit. In network
 * namespaces (root only; skipped with the reason printed otherwise): a real `halo run`
 * from dist/ under a small version of bench:flood, asserting the caps hold, evictions
 * are counted, the legitimate client is served during and after, and halo survives.
 * RSS is printed, not asserted; nothing here is timed beyond generous bounds.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/adapters/logger.js';
import { HttpProxy } from '../../src/adapters/proxy/http-proxy.js';
import { UdpProxy } from '../../src/adapters/proxy/udp-proxy.js';
import { serviceSchema, type ServiceConfig } from '../../src/config/schema.js';
import { Dispatcher } from '../../src/core/service/dispatcher.js';
import { floodUnsupported } from '../../bench/lib/flood-net.js';
import { legitLine, renderFloodTable } from '../../bench/lib/flood-report.js';
import { runFlood } from '../../bench/lib/flood-run.js';
import { waitFor } from '../helpers/wait.js';

const HOST = '127.0.0.1';
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function service(mode: 'http' | 'udp', port: number, extra: Record<string, unknown>): ServiceConfig {
  return serviceSchema.parse({ name: 'svc', mode, listen: { address: HOST, port: 1 }, backends: [{ name: 'b', address: HOST, port }], health_check: { type: 'none' }, ...extra });
}

async function udpEcho(): Promise<{ port: number; socket: dgram.Socket }> {
  const socket = dgram.createSocket('udp4');
  socket.on('message', (m, r) => socket.send(Buffer.concat([Buffer.from('b:'), m]), r.port, r.address));
  await new Promise<void>((r) => socket.bind(0, HOST, r));
  cleanups.push(() => new Promise<void>((r) => socket.close(() => r())));
  return { port: socket.address().port, socket };
}

async function udpClient(): Promise<{ socket: dgram.Socket; replies: string[] }> {
  const socket = dgram.createSocket('udp4');
  const replies: string[] = [];
  socket.on('message', (m) => replies.push(m.toString()));
  socket.on('error', () => undefined);
  await new Promise<void>((r) => socket.bind(0, HOST, r));
  cleanups.push(() => new Promise<void>((r) => socket.close(() => r())));
  return { socket, replies };
}

/** A raw client connection that collects what the proxy sends and notes its close. */
async function rawConn(port: number): Promise<{ socket: net.Socket; data: () => string; closed: () => boolean }> {
  const socket = net.connect({ host: HOST, port });
  let data = '';
  let closed = false;
  socket.on('data', (b: Buffer) => (data += b.toString('latin1')));
  socket.on('error', () => undefined);
  socket.on('close', () => (closed = true));
  await new Promise((r) => socket.once('connect', r));
  cleanups.push(() => socket.destroy());
  return { socket, data: () => data, closed: () => closed };
}

/** A backend that reads everything and never answers. */
async function sink(): Promise<number> {
  const server = net.createServer((s) => {
    s.on('error', () => undefined);
    s.resume();
  });
  await new Promise<void>((r) => server.listen(0, HOST, r));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return (server.address() as net.AddressInfo).port;
}

async function httpProxy(timeouts: Record<string, number>): Promise<{ proxy: HttpProxy; port: number }> {
  const proxy = new HttpProxy({ dispatcher: new Dispatcher(service('http', await sink(), { timeouts })), logger: silentLogger });
  const { port } = await proxy.listen();
  cleanups.push(() => proxy.close(0));
  return { proxy, port };
}

describe('flood limits in process', () => {
  it('a full UDP flow table evicts the least recently seen flow: new clients get in, a busy flow survives, sockets stay capped', async () => {
    const echo = await udpEcho();
    const proxy = new UdpProxy({ dispatcher: new Dispatcher(service('udp', echo.port, { limits: { max_flows: 20 } })), logger: silentLogger });
    cleanups.push(() => proxy.close());
    const { port } = await proxy.listen();
    const busy = await udpClient();
    busy.socket.send('first', port, HOST);
    await waitFor(() => busy.replies.length === 1, 'the busy client served');
    // 100 new sources in batches of 10; the busy client speaks between batches.
    const flood: Array<Awaited<ReturnType<typeof udpClient>>> = [];
    for (let batch = 0; batch < 10; batch++) {
      const now = await Promise.all(Array.from({ length: 10 }, () => udpClient()));
      for (const c of now) c.socket.send('flood', port, HOST);
      flood.push(...now);
      await waitFor(() => now.every((c) => c.replies.length === 1), `batch ${batch} answered`);
      expect(proxy.flowCount).toBeLessThanOrEqual(20);
      busy.socket.send(`busy${batch}`, port, HOST);
      await waitFor(() => busy.replies.length === batch + 2, `the busy client answered after batch ${batch}`);
    }
    expect(proxy.counters.rejected).toBe(0);
    expect(proxy.counters.flowsEnded).toBeGreaterThanOrEqual(80);
    // The busy flow kept its upstream socket all along: one flow opened for it.
    expect(proxy.counters.flowsOpened).toBe(101);
    expect(flood.every((c) => c.replies[0] === 'b:flood')).toBe(true);
  });

  it('a connection that never sends a byte is closed at client_header_ms, not idle_ms', async () => {
    const { proxy, port } = await httpProxy({ client_header_ms: 150, idle_ms: 600_000 });
    const c = await rawConn(port);
    await waitFor(() => c.closed(), 'the silent connection to be closed', 5000);
    expect(c.data()).toBe('');
    expect(proxy.counters.headTimeouts).toBe(1);
  });

  it('1 MB of headers gets 431 and a close, with at most max_header_bytes buffered', async () => {
    const { proxy, port } = await httpProxy({});
    const c = await rawConn(port);
    c.socket.write('GET / HTTP/1.1\r\nHost: x\r\nX-Big: ');
    const chunk = Buffer.alloc(64 * 1024, 'a');
    for (let i = 0; i < 16 && !c.closed(); i++) c.socket.write(chunk);
    await waitFor(() => c.closed(), 'the connection to be closed', 5000);
    expect(c.data()).toMatch(/^HTTP\/1\.1 431 /);
    expect(proxy.counters.headerTooLarge).toBe(1);
  });

  it('a body trickled faster than idle_ms but slower than the minimum rate gets 408 at client_body_ms', async () => {
    const { proxy, port } = await httpProxy({ client_body_ms: 400, client_body_min_bytes_per_sec: 1000, idle_ms: 600_000 });
    const c = await rawConn(port);
    c.socket.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n');
    // One byte every 50 ms (20 B/s): each byte buys 1 ms, far less than it takes.
    const drip = setInterval(() => c.socket.write('x'), 50);
    cleanups.push(() => clearInterval(drip));
    await waitFor(() => c.closed(), 'the slow body to be cut', 10_000);
    expect(c.data()).toMatch(/^HTTP\/1\.1 408 /);
    expect(proxy.counters.bodyTimeouts).toBe(1);
  });
});

describe('floods through halo run in network namespaces', () => {
  it('caps hold, evictions are counted, the legitimate client is served during and after, halo survives', async (ctx) => {
    const why = await floodUnsupported();
    if (why !== undefined) {
      console.log(`flood netns test skipped: ${why}`);
      ctx.skip();
      return;
    }
    const maxFlows = 10_000;
    const maxConnections = 1000;
    const result = await runFlood(
      {
        udpSources: 50_000,
        udpRate: 3000,
        maxFlows,
        synCount: 10_000,
        idleConns: 500,
        maxConnections,
        hugeHeaderRequests: 5,
        hugeHeaderBytes: 1024 * 1024,
        slowBodies: 5,
        slowloris: 5,
        headerTimeoutMs: 2000,
        bodyTimeoutMs: 2000,
        tcpIdleMs: 20_000,
        persistEntries: 5000,
      },
      () => undefined,
    );
    console.log(`flood (RSS reported, not asserted):\n${renderFloodTable(result.phases, result.after, result.alive)}`);
    expect(result.alive).toBe(true);
    for (const p of result.phases) {
      expect(p.alive).toBe(true);
      for (const t of p.tables) if (t.cap > 0) expect(t.peak, `${p.name}: ${t.service}`).toBeLessThanOrEqual(t.cap);
      // Served during every flood: not every request (2 cores shared), but never shut out.
      expect(p.during.http.ok + p.during.tcp.ok, `${p.name}: ${legitLine(p.during)}`).toBeGreaterThan(0);
    }
    const udp = result.phases[0]!;
    expect(udp.limits['dns/evicted'] ?? 0).toBeGreaterThan(0);
    expect(udp.limits['dns/max_flows'] ?? 0).toBe(0);
    // UDP clients are not asserted during the flood: past what halo handles (a few
    // thousand new flows a second) the kernel drops from the shared service socket's
    // buffer, theirs and the flood's alike. After it, they are (below).
    const idle = result.phases[2]!;
    expect(idle.detail).toMatch(/http: 250 opened, 250 closed by halo/);
    expect(result.phases[3]!.detail).toContain('"431+closed":5');
    expect(result.phases[4]!.detail).toMatch(/bodies[^;]*"408\+closed":5/);
    // After the floods every kind of client is served again.
    for (const k of ['http', 'tcp', 'udp_new', 'udp_flow'] as const) expect(result.after[k].ok, `${k}: ${legitLine(result.after)}`).toBeGreaterThan(0);
  }, 300_000);
});
