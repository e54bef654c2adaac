/**
 * TcpProxy against real sockets on 127.0.0.1 (ephemeral ports), with the fake dispatcher.
 * Backends greet with their name, echo, and say goodbye after the client's FIN, so every
 * reply names the backend that produced it and half-close is observable.
 */
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/adapters/logger.js';
import { TcpProxy } from '../../src/adapters/proxy/tcp-proxy.js';
import { serviceSchema, type ServiceConfig } from '../../src/config/schema.js';
import { decodeProxyHeader } from '../../src/core/proxy-protocol.js';
import { FakeDispatcher } from '../fakes/fake-dispatcher.js';
import { waitFor } from '../helpers/wait.js';

const HOST = '127.0.0.1';
const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, () => resolve((server.address() as net.AddressInfo).port));
  });
}

function track(server: net.Server): void {
  const sockets = new Set<net.Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
}

interface Backend {
  name: string;
  port: number;
  /** Bytes each accepted connection received, in accept order. */
  received: Buffer[][];
}

/** Greets with "name\n", echoes with back-pressure, answers the client's FIN with "name bye\n" + FIN. */
async function echoBackend(name: string): Promise<Backend> {
  const b: Backend = { name, port: 0, received: [] };
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    const got: Buffer[] = [];
    b.received.push(got);
    s.on('error', () => {});
    s.write(`${name}\n`);
    s.on('data', (d: Buffer) => {
      got.push(d);
      if (!s.write(d)) s.pause();
    });
    s.on('drain', () => s.resume());
    s.on('end', () => s.end(`${name} bye\n`));
  });
  track(server);
  b.port = await listen(server);
  return b;
}

/** Records what arrives and closes once the client has finished. */
async function recordingBackend(name: string): Promise<Backend & { ended: Promise<Buffer> }> {
  let resolveEnded: (b: Buffer) => void = () => {};
  const ended = new Promise<Buffer>((r) => (resolveEnded = r));
  const b = { name, port: 0, received: [] as Buffer[][], ended };
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    const got: Buffer[] = [];
    b.received.push(got);
    s.on('error', () => {});
    s.on('data', (d: Buffer) => got.push(d));
    s.on('end', () => {
      resolveEnded(Buffer.concat(got));
      s.end();
    });
  });
  track(server);
  b.port = await listen(server);
  return b;
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  const port = await listen(s);
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function service(backends: Array<{ name: string; port: number }>, extra: Record<string, unknown> = {}): ServiceConfig {
  const parsed = serviceSchema.parse({
    name: 'tcp-test',
    mode: 'tcp',
    listen: { address: HOST, port: 1 },
    backends: backends.map((b) => ({ name: b.name, address: HOST, port: b.port })),
    ...extra,
  });
  // The schema wants a real port; tests listen on an ephemeral one.
  return { ...parsed, listen: { ...parsed.listen, port: 0 } };
}

async function startProxy(svc: ServiceConfig, opts: { sampleIntervalMs?: number } = {}): Promise<{ proxy: TcpProxy; fake: FakeDispatcher; port: number }> {
  const fake = new FakeDispatcher(svc);
  const proxy = new TcpProxy({ dispatcher: fake, logger: silentLogger, ...opts });
  cleanups.push(() => proxy.close(0));
  const { port } = await proxy.listen();
  return { proxy, fake, port };
}

interface ClientResult {
  data: Buffer;
  /** The proxy sent FIN (as opposed to a reset or nothing). */
  gotEnd: boolean;
  error: string | undefined;
}

/** Connect, send `payload` (then FIN unless keepOpen), collect until the socket closes. */
function client(port: number, payload?: Buffer | string, opts: { keepOpen?: boolean } = {}): { socket: net.Socket; done: Promise<ClientResult> } {
  const socket = net.connect({ host: HOST, port, allowHalfOpen: true });
  cleanups.push(() => {
    socket.destroy();
  });
  const chunks: Buffer[] = [];
  let gotEnd = false;
  let error: string | undefined;
  socket.on('data', (d: Buffer) => chunks.push(d));
  socket.on('end', () => {
    gotEnd = true;
    socket.end();
  });
  socket.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
  if (payload !== undefined) socket.write(payload);
  if (!opts.keepOpen) socket.end();
  const done = new Promise<ClientResult>((resolve) => socket.on('close', () => resolve({ data: Buffer.concat(chunks), gotEnd, error })));
  return { socket, done };
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('TcpProxy', () => {
  it('relays both ways, counts bytes on the connection handle and releases the connection once', async () => {
    const a = await echoBackend('a');
    const { proxy, fake, port } = await startProxy(service([a]));
    const payload = randomBytes(1000);
    const r = await client(port, payload).done;
    expect(r.error).toBeUndefined();
    expect(r.gotEnd).toBe(true);
    expect(r.data).toEqual(Buffer.concat([Buffer.from('a\n'), payload, Buffer.from('a bye\n')]));
    await waitFor(() => fake.calls.ended === 1, 'the handle to end');
    expect(fake.calls.bytesToBackend).toBe(1000);
    expect(fake.calls.bytesToClient).toBe(r.data.length);
    expect(fake.calls.released).toBe(1);
    expect(fake.calls.connectedInfo[0]).toMatchObject({ clientIp: HOST });
    expect(proxy.openConnections).toBe(0);
  });

  it('moves 20 MB intact in both directions', async () => {
    const a = await echoBackend('a');
    const { fake, port } = await startProxy(service([a]));
    const payload = randomBytes(20 * 1024 * 1024);
    const r = await client(port, payload).done;
    expect(r.error).toBeUndefined();
    const body = r.data.subarray(2, r.data.length - 'a bye\n'.length);
    expect(body.length).toBe(payload.length);
    expect(sha(body)).toBe(sha(payload));
    expect(sha(Buffer.concat(a.received[0]!))).toBe(sha(payload));
    await waitFor(() => fake.calls.ended === 1, 'the handle to end');
    expect(fake.calls.bytesToBackend).toBe(payload.length);
    expect(fake.calls.bytesToClient).toBe(r.data.length);
  });

  it('keeps concurrent backend streams intact while one client reads slowly (back-pressure)', async () => {
    // Backend bytes go through one shared read buffer: a chunk still queued for a slow
    // client must not change when the next read (on any connection) lands.
    const sent: Buffer[] = [];
    const server = net.createServer({ allowHalfOpen: true }, (s) => {
      const data = randomBytes(8 * 1024 * 1024);
      sent.push(data);
      s.on('error', () => {});
      let off = 0;
      const pump = (): void => {
        while (off < data.length) {
          const chunk = data.subarray(off, off + 65536);
          off += chunk.length;
          if (!s.write(chunk)) return;
        }
        s.end();
      };
      s.on('drain', pump);
      pump();
    });
    track(server);
    const bport = await listen(server);
    const { fake, port } = await startProxy(service([{ name: 'blaster', port: bport }]));
    const slow = client(port, undefined, { keepOpen: true });
    slow.socket.pause();
    const fast = client(port, undefined, { keepOpen: true });
    await waitFor(() => sent.length === 2, 'both backend connections');
    setTimeout(() => slow.socket.resume(), 300);
    const [rs, rf] = await Promise.all([slow.done, fast.done]);
    expect(rs.error).toBeUndefined();
    expect(rf.error).toBeUndefined();
    // Connections may reach the backend in either order; match by content.
    const want = new Set(sent.map(sha));
    expect(new Set([sha(rs.data), sha(rf.data)])).toEqual(want);
    await waitFor(() => fake.calls.ended === 2, 'both handles to end');
    expect(fake.calls.bytesToClient).toBe(16 * 1024 * 1024);
  });

  it('honours half-close: after the client FIN the backend can still answer, then FIN reaches the client', async () => {
    // The backend replies only once it has seen the FIN; a proxy that closed on the
    // first FIN would lose the reply.
    const server = net.createServer({ allowHalfOpen: true }, (s) => {
      const got: Buffer[] = [];
      s.on('data', (d: Buffer) => got.push(d));
      s.on('end', () => setTimeout(() => s.end(`len=${Buffer.concat(got).length}`), 50));
    });
    track(server);
    const bport = await listen(server);
    const { port } = await startProxy(service([{ name: 'late', port: bport }]));
    const r = await client(port, 'x'.repeat(12345)).done;
    expect(r.error).toBeUndefined();
    expect(r.data.toString()).toBe('len=12345');
    expect(r.gotEnd).toBe(true);
  });

  it('retries the next backend when connecting fails before any byte was sent', async () => {
    const dead = await closedPort();
    const b = await echoBackend('b');
    const { proxy, fake, port } = await startProxy(service([{ name: 'dead', port: dead }, b], { retries: 2 }));
    const r = await client(port, 'hi').done;
    expect(r.data.toString()).toBe('b\nhib bye\n');
    expect(fake.calls.connectFailed).toHaveLength(1);
    expect(fake.calls.connectFailed[0]).toMatchObject({ target: { name: 'dead' }, cause: 'ECONNREFUSED' });
    expect(fake.calls.connected.map((t) => t.name)).toEqual(['b']);
    expect(proxy.counters.connectFailures).toBe(1);
    await waitFor(() => fake.calls.released === 1, 'release');
  });

  it('closes the client promptly when every backend refuses, and releases it', async () => {
    const d1 = await closedPort();
    const d2 = await closedPort();
    const { proxy, fake, port } = await startProxy(service([{ name: 'd1', port: d1 }, { name: 'd2', port: d2 }], { retries: 5 }));
    const r = await client(port, 'hi', { keepOpen: true }).done;
    expect(r.data.length).toBe(0);
    // Both backends tried once each; the avoid list stops a third attempt.
    expect(fake.calls.connectFailed.map((f) => f.target.name).sort()).toEqual(['d1', 'd2']);
    expect(fake.calls.connected).toHaveLength(0);
    expect(proxy.counters.noBackend).toBe(1);
    await waitFor(() => fake.calls.released === 1 && proxy.openConnections === 0, 'release');
    expect(fake.calls.ended).toBe(0);
  });

  it('stops after `retries` extra attempts', async () => {
    const ports = [await closedPort(), await closedPort(), await closedPort()];
    const { fake, port } = await startProxy(service(ports.map((p, i) => ({ name: `d${i}`, port: p })), { retries: 1 }));
    await client(port, 'hi', { keepOpen: true }).done;
    expect(fake.calls.connectFailed).toHaveLength(2);
  });

  it('closes the client at once when no backend is healthy', async () => {
    const a = await echoBackend('a');
    const { proxy, fake, port } = await startProxy(service([a]));
    fake.setBackendUp('default', 'a', false);
    const r = await client(port, 'hi', { keepOpen: true }).done;
    expect(r.data.length).toBe(0);
    expect(a.received).toHaveLength(0);
    expect(proxy.counters.noBackend).toBe(1);
  });

  it('closes a connection with no traffic either way after idle_ms, but not a busy one', async () => {
    const a = await echoBackend('a');
    const { proxy, port } = await startProxy(service([a], { timeouts: { idle_ms: 300 } }));
    const idle = client(port, undefined, { keepOpen: true });
    const busy = client(port, undefined, { keepOpen: true });
    let busyClosed = false;
    void busy.done.then(() => (busyClosed = true));
    // Keep the busy one talking every 50 ms for 3x the idle timeout (bounded loop).
    for (let i = 0; i < 18; i++) {
      busy.socket.write('.');
      await new Promise((r) => setTimeout(r, 50));
    }
    const r = await idle.done;
    expect(r.data.toString()).toBe('a\n');
    expect(busyClosed).toBe(false);
    expect(proxy.counters.idleTimeouts).toBe(1);
    busy.socket.end();
    const rb = await busy.done;
    expect(rb.data.toString()).toBe(`a\n${'.'.repeat(18)}a bye\n`);
  });

  it.each(['v1', 'v2'] as const)('sends a PROXY %s header carrying the real client address and port', async (version) => {
    const rec = await recordingBackend('rec');
    const { port } = await startProxy(service([rec], { proxy_protocol: version }));
    const c = client(port, 'payload');
    await new Promise<void>((r) => c.socket.once('connect', () => r()));
    const clientPort = c.socket.localPort;
    const got = await rec.ended;
    const decoded = decodeProxyHeader(got);
    expect(decoded.status).toBe('ok');
    if (decoded.status !== 'ok') return;
    expect(decoded.header.version).toBe(version === 'v1' ? 1 : 2);
    expect(decoded.header.source).toEqual({ address: HOST, port: clientPort });
    expect(decoded.header.destination).toEqual({ address: HOST, port });
    expect(got.subarray(decoded.length).toString()).toBe('payload');
    if (version === 'v1') expect(got.toString('latin1')).toMatch(new RegExp(`^PROXY TCP4 127\\.0\\.0\\.1 127\\.0\\.0\\.1 ${clientPort} ${port}\\r\\npayload$`));
  });

  it('sends no header when proxy_protocol is none', async () => {
    const rec = await recordingBackend('rec');
    const { port } = await startProxy(service([rec]));
    client(port, 'payload');
    expect((await rec.ended).toString()).toBe('payload');
  });

  it('enforces max_connections: the extra client is closed without reaching a backend', async () => {
    const a = await echoBackend('a');
    const { proxy, fake, port } = await startProxy(service([a], { limits: { max_connections: 2 } }));
    const greeted = (c: { socket: net.Socket }) => new Promise<void>((r) => c.socket.once('data', () => r()));
    const c1 = client(port, undefined, { keepOpen: true });
    const c2 = client(port, undefined, { keepOpen: true });
    await Promise.all([greeted(c1), greeted(c2)]);
    const r3 = await client(port, 'x', { keepOpen: true }).done;
    expect(r3.data.length).toBe(0);
    expect(proxy.counters.rejected.max_connections).toBe(1);
    expect(a.received).toHaveLength(2);
    // A slot frees up once a client leaves.
    c1.socket.end();
    await c1.done;
    await waitFor(() => fake.calls.released === 1, 'release of the first client');
    const r4 = await client(port, 'y').done;
    expect(r4.data.toString()).toBe('a\nya bye\n');
  });

  it('reports bytes of long-lived connections periodically, before they close', async () => {
    const a = await echoBackend('a');
    const { fake, port } = await startProxy(service([a]), { sampleIntervalMs: 50 });
    const c = client(port, 'z'.repeat(100), { keepOpen: true });
    await waitFor(() => fake.calls.bytesToBackend === 100 && fake.calls.bytesToClient === 102, 'a periodic sample');
    expect(fake.calls.ended).toBe(0);
    c.socket.end();
    await c.done;
    await waitFor(() => fake.calls.ended === 1, 'end');
    expect(fake.calls.bytesToClient).toBe(102 + 'a bye\n'.length);
  });

  it('a client reset destroys the backend side too and ends the handle once', async () => {
    const a = await echoBackend('a');
    const { proxy, fake, port } = await startProxy(service([a]));
    const c = client(port, 'x', { keepOpen: true });
    await waitFor(() => a.received.length === 1 && a.received[0]!.length > 0, 'the backend to get data');
    c.socket.resetAndDestroy();
    await waitFor(() => fake.calls.ended === 1 && fake.calls.released === 1, 'teardown');
    expect(proxy.openConnections).toBe(0);
  });

  it('close(drainMs) stops accepting, lets connections drain, then cuts the rest', async () => {
    const a = await echoBackend('a');
    const { proxy, fake, port } = await startProxy(service([a]));
    const c = client(port, undefined, { keepOpen: true });
    await new Promise<void>((r) => c.socket.once('data', () => r()));
    await proxy.close(100);
    const r = await c.done;
    expect(r.data.toString()).toBe('a\n');
    expect(fake.calls.ended).toBe(1);
    expect(fake.calls.released).toBe(1);
    const refused = await client(port, 'x').done;
    expect(refused.error).toBe('ECONNREFUSED');
  });

  it('close waits for a connection that finishes within drainMs', async () => {
    const a = await echoBackend('a');
    const { proxy, port } = await startProxy(service([a]));
    const c = client(port, undefined, { keepOpen: true });
    await new Promise<void>((r) => c.socket.once('data', () => r()));
    const closing = proxy.close(10_000);
    c.socket.end('last');
    const r = await c.done;
    await closing;
    // The connection finished normally (its goodbye arrived), it was not cut.
    expect(r.data.toString()).toBe('a\nlasta bye\n');
    expect(r.gotEnd).toBe(true);
  });

  it('rejects listen on a port already in use with HALO_ERR_LISTEN', async () => {
    const a = await echoBackend('a');
    const { port } = await startProxy(service([a]));
    const svc = service([a]);
    const other = new TcpProxy({ dispatcher: new FakeDispatcher({ ...svc, listen: { ...svc.listen, port } }), logger: silentLogger });
    await expect(other.listen()).rejects.toMatchObject({ code: 'HALO_ERR_LISTEN' });
    await other.close(0);
  });
});
