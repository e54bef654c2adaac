/**
 * UdpProxy against real dgram sockets on 127.0.0.1 (ephemeral ports), with the fake
 * dispatcher. Backends answer "name:payload" to whoever sent the datagram.
 */
import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/adapters/logger.js';
import { UdpProxy } from '../../src/adapters/proxy/udp-proxy.js';
import { serviceSchema, type ServiceConfig } from '../../src/config/schema.js';
import { FakeDispatcher } from '../fakes/fake-dispatcher.js';
import { waitFor } from '../helpers/wait.js';

const HOST = '127.0.0.1';
const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function bind(socket: dgram.Socket): Promise<number> {
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, HOST, () => {
      socket.off('error', reject);
      resolve(socket.address().port);
    });
  });
}

function closeSocket(s: dgram.Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      s.close(() => resolve());
    } catch {
      resolve();
    }
  });
}

interface UdpBackend {
  name: string;
  port: number;
  socket: dgram.Socket;
  /** "address:port" of every sender seen, in order (the proxy's upstream sockets). */
  senders: string[];
}

async function udpBackend(name: string): Promise<UdpBackend> {
  const socket = dgram.createSocket('udp4');
  const b: UdpBackend = { name, port: 0, socket, senders: [] };
  socket.on('message', (msg, rinfo) => {
    b.senders.push(`${rinfo.address}:${rinfo.port}`);
    socket.send(`${name}:${msg.toString()}`, rinfo.port, rinfo.address);
  });
  b.port = await bind(socket);
  cleanups.push(() => closeSocket(socket));
  return b;
}

interface Reply {
  text: string;
  from: string;
}

async function udpClient(): Promise<{ socket: dgram.Socket; replies: Reply[]; port: number }> {
  const socket = dgram.createSocket('udp4');
  const replies: Reply[] = [];
  socket.on('message', (msg, rinfo) => replies.push({ text: msg.toString(), from: `${rinfo.address}:${rinfo.port}` }));
  socket.on('error', () => {});
  const port = await bind(socket);
  cleanups.push(() => closeSocket(socket));
  return { socket, replies, port };
}

function service(backends: Array<{ name: string; port: number }>, extra: Record<string, unknown> = {}): ServiceConfig {
  const parsed = serviceSchema.parse({
    name: 'udp-test',
    mode: 'udp',
    listen: { address: HOST, port: 1 },
    health_check: { type: 'none' },
    backends: backends.map((b) => ({ name: b.name, address: HOST, port: b.port })),
    ...extra,
  });
  // The schema wants a real port; tests bind an ephemeral one.
  return { ...parsed, listen: { ...parsed.listen, port: 0 } };
}

async function startProxy(svc: ServiceConfig, fake = new FakeDispatcher(svc)): Promise<{ proxy: UdpProxy; fake: FakeDispatcher; port: number }> {
  const proxy = new UdpProxy({ dispatcher: fake, logger: silentLogger });
  cleanups.push(() => proxy.close());
  const { port } = await proxy.listen();
  return { proxy, fake, port };
}

/** Send one datagram and wait for the next reply on that client. */
async function exchange(c: { socket: dgram.Socket; replies: Reply[] }, port: number, text: string): Promise<Reply> {
  const before = c.replies.length;
  c.socket.send(text, port, HOST);
  await waitFor(() => c.replies.length > before, `a reply to ${text}`);
  return c.replies[before]!;
}

describe('UdpProxy', () => {
  it('keeps one client on one backend and answers from the service address', async () => {
    const a = await udpBackend('a');
    const b = await udpBackend('b');
    const { proxy, fake, port } = await startProxy(service([a, b]));
    const c = await udpClient();
    const replies: Reply[] = [];
    for (let i = 0; i < 5; i++) replies.push(await exchange(c, port, `m${i}`));
    const backendName = replies[0]!.text.split(':')[0];
    expect(replies.map((r) => r.text)).toEqual([0, 1, 2, 3, 4].map((i) => `${backendName}:m${i}`));
    for (const r of replies) expect(r.from).toBe(`${HOST}:${port}`);
    // One flow, one upstream socket: the backend saw a single sender port.
    const used = backendName === 'a' ? a : b;
    expect(new Set(used.senders).size).toBe(1);
    expect(proxy.flowCount).toBe(1);
    expect(fake.calls.udpBytes).toEqual({ to_backend: 10, to_client: 10 + 5 * 2 });
    expect(proxy.counters).toMatchObject({ datagramsToBackend: 5, datagramsToClient: 5, flowsOpened: 1 });
  });

  it('spreads clients over backends, each sticking to its own', async () => {
    const a = await udpBackend('a');
    const b = await udpBackend('b');
    const { proxy, port } = await startProxy(service([a, b]));
    const clients = await Promise.all([0, 1, 2, 3, 4, 5].map(() => udpClient()));
    const first = await Promise.all(clients.map((c, i) => exchange(c, port, `hello${i}`)));
    const second = await Promise.all(clients.map((c, i) => exchange(c, port, `again${i}`)));
    const names = first.map((r) => r.text.split(':')[0]);
    expect(new Set(names)).toEqual(new Set(['a', 'b']));
    expect(second.map((r) => r.text.split(':')[0])).toEqual(names);
    expect(proxy.flowCount).toBe(6);
  });

  it('drops flows beyond max_flows while existing flows keep working', async () => {
    const a = await udpBackend('a');
    const b = await udpBackend('b');
    const { proxy, port } = await startProxy(service([a, b], { limits: { max_flows: 50 } }));
    const clients: Array<Awaited<ReturnType<typeof udpClient>>> = [];
    for (let i = 0; i < 200; i++) clients.push(await udpClient());
    // Pace the flood in batches so the kernel's receive buffer does not drop datagrams
    // and muddle the count (loopback UDP drops silently when a buffer is full).
    for (let i = 0; i < clients.length; i += 20) {
      for (const c of clients.slice(i, i + 20)) c.socket.send('flood', port, HOST);
      await waitFor(() => proxy.counters.rejected + proxy.counters.datagramsToBackend >= Math.min(i + 20, 200), 'the batch to be handled');
    }
    expect(proxy.counters.rejected).toBe(150);
    expect(proxy.flowCount).toBe(50);
    const answered = () => clients.filter((c) => c.replies.length > 0);
    await waitFor(() => answered().length === 50, '50 answered clients');
    // The admitted flows still work; a refused client is still refused.
    const ok = answered()[0]!;
    expect((await exchange(ok, port, 'still-here')).text).toMatch(/^[ab]:still-here$/);
    const refused = clients.find((c) => c.replies.length === 0)!;
    refused.socket.send('let me in', port, HOST);
    await waitFor(() => proxy.counters.rejected === 151, 'the retry to be refused');
    await sleep(100);
    expect(refused.replies).toHaveLength(0);
    expect(answered()).toHaveLength(50);
  });

  it('expires idle flows and closes their upstream sockets', async () => {
    const a = await udpBackend('a');
    const { proxy, port } = await startProxy(service([a], { udp_flow_idle_ms: 150 }));
    const c = await udpClient();
    expect((await exchange(c, port, 'one')).text).toBe('a:one');
    const upstream = a.senders[0]!;
    await waitFor(() => proxy.flowCount === 0, 'the flow to expire');
    expect(proxy.counters.flowsExpired).toBe(1);
    // A late datagram to the old upstream port must not reach the client any more.
    const [, upstreamPort] = upstream.split(':');
    a.socket.send('late', Number(upstreamPort), HOST);
    await sleep(150);
    expect(c.replies.map((r) => r.text)).toEqual(['a:one']);
    // The client comes back: a new flow, a new upstream socket.
    expect((await exchange(c, port, 'two')).text).toBe('a:two');
    expect(proxy.counters.flowsOpened).toBe(2);
  });

  it('closes idle upstream sockets even when the dispatcher dropped the flow without reporting it', async () => {
    // The real dispatcher may expire flows inside udpFlow() to make room; those keys are
    // never returned by expireUdpFlows(), so the proxy must not leak their sockets.
    class Forgetful extends FakeDispatcher {
      override expireUdpFlows(now: number): string[] {
        super.expireUdpFlows(now);
        return [];
      }
    }
    const a = await udpBackend('a');
    const svc = service([a], { udp_flow_idle_ms: 100 });
    const { proxy, port } = await startProxy(svc, new Forgetful(svc));
    const c = await udpClient();
    expect((await exchange(c, port, 'one')).text).toBe('a:one');
    await waitFor(() => proxy.flowCount === 0, 'the local backstop to close the flow');
    expect((await exchange(c, port, 'two')).text).toBe('a:two');
    expect(proxy.counters.flowsOpened).toBe(2);
  });

  it('does not expire a flow that keeps talking', async () => {
    const a = await udpBackend('a');
    const { proxy, port } = await startProxy(service([a], { udp_flow_idle_ms: 200 }));
    const c = await udpClient();
    for (let i = 0; i < 12; i++) {
      await exchange(c, port, `t${i}`);
      await sleep(50);
    }
    expect(proxy.counters.flowsOpened).toBe(1);
    expect(proxy.counters.flowsExpired).toBe(0);
  });

  it('drops and counts datagrams when no backend is healthy', async () => {
    const a = await udpBackend('a');
    const { proxy, fake, port } = await startProxy(service([a]));
    fake.setBackendUp('default', 'a', false);
    const c = await udpClient();
    c.socket.send('x', port, HOST);
    c.socket.send('y', port, HOST);
    await waitFor(() => proxy.counters.noBackend === 2, 'two drops');
    expect(a.senders).toHaveLength(0);
    expect(proxy.flowCount).toBe(0);
  });

  it('counts ICMP port unreachable from a dead backend without crashing', async () => {
    const probe = dgram.createSocket('udp4');
    const deadPort = await bind(probe);
    await closeSocket(probe);
    const { proxy, port } = await startProxy(service([{ name: 'dead', port: deadPort }]));
    const c = await udpClient();
    c.socket.send('x', port, HOST);
    await waitFor(() => proxy.flowCount === 1 && proxy.counters.datagramsToBackend === 1, 'the first datagram');
    // Linux reports the ICMP error on the next operation of the connected socket.
    for (let i = 0; i < 20 && proxy.counters.backendUnreachable === 0; i++) {
      c.socket.send('y', port, HOST);
      await sleep(25);
    }
    expect(proxy.counters.backendUnreachable).toBeGreaterThan(0);
    expect(c.replies).toHaveLength(0);
  });

  it('close() releases the service port and every upstream socket', async () => {
    const a = await udpBackend('a');
    const { proxy, port } = await startProxy(service([a]));
    const c = await udpClient();
    await exchange(c, port, 'hi');
    await proxy.close();
    expect(proxy.flowCount).toBe(0);
    // The port is free again.
    const again = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      again.once('error', reject);
      again.bind(port, HOST, () => resolve());
    });
    await closeSocket(again);
  });
});
