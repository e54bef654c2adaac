/**
 * UdpProxy with the real dispatcher after a takeover: a flow that came by replication
 * has no socket in this proxy yet; its next datagram must open one to the flow's own
 * backend, not re-balance. Real dgram sockets on 127.0.0.1, ephemeral ports.
 */
import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/adapters/logger.js';
import { UdpProxy } from '../../src/adapters/proxy/udp-proxy.js';
import { systemClock } from '../../src/adapters/system-clock.js';
import { serviceSchema, type ServiceConfig } from '../../src/config/schema.js';
import type { ReplicationRecord } from '../../src/core/replication/wire-records.js';
import { Dispatcher } from '../../src/core/service/dispatcher.js';
import { waitFor } from '../helpers/wait.js';

const HOST = '127.0.0.1';
const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function closeSocket(s: dgram.Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      s.close(() => resolve());
    } catch {
      resolve();
    }
  });
}

async function bound(onMessage: (socket: dgram.Socket, msg: Buffer, rinfo: dgram.RemoteInfo) => void): Promise<{ socket: dgram.Socket; port: number }> {
  const socket = dgram.createSocket('udp4');
  socket.on('message', (msg, rinfo) => onMessage(socket, msg, rinfo));
  socket.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, HOST, () => resolve());
  });
  cleanups.push(() => closeSocket(socket));
  return { socket, port: socket.address().port };
}

/** Answers "name:payload" to whoever sent the datagram. */
function backend(name: string): Promise<{ socket: dgram.Socket; port: number }> {
  return bound((socket, msg, rinfo) => socket.send(`${name}:${msg.toString()}`, rinfo.port, rinfo.address));
}

async function client(): Promise<{ port: number; ask(proxyPort: number, text: string): Promise<string> }> {
  const replies: string[] = [];
  const { socket, port } = await bound((_s, msg) => replies.push(msg.toString()));
  return {
    port,
    async ask(proxyPort, text) {
      const before = replies.length;
      socket.send(text, proxyPort, HOST);
      await waitFor(() => replies.length > before, `a reply to ${text}`);
      return replies[before]!;
    },
  };
}

function service(backends: Array<{ name: string; port: number }>): ServiceConfig {
  const parsed = serviceSchema.parse({
    name: 'dns',
    mode: 'udp',
    listen: { address: HOST, port: 1 },
    algorithm: 'least_connections',
    health_check: { type: 'none' },
    backends: backends.map((b) => ({ name: b.name, address: HOST, port: b.port })),
  });
  return { ...parsed, listen: { ...parsed.listen, port: 0 } };
}

const flow = (clientPort: number, backendName: string): ReplicationRecord => ({
  op: 'set',
  table: 'dns/udp_flows',
  kind: 'udp_flows',
  key: `${HOST}:${clientPort}`,
  value: { clientIp: HOST, clientPort, pool: 'default', backend: backendName, ageMs: 5000 },
  ttlMs: 30_000,
});

async function start(d: Dispatcher): Promise<{ proxy: UdpProxy; port: number }> {
  const proxy = new UdpProxy({ dispatcher: d, logger: silentLogger });
  cleanups.push(() => proxy.close());
  const { port } = await proxy.listen();
  return { proxy, port };
}

/** Backends a and b behind one UDP service, its dispatcher and a started proxy. */
async function twoBackends() {
  const a = await backend('a');
  const b = await backend('b');
  const d = new Dispatcher(
    service([
      { name: 'a', port: a.port },
      { name: 'b', port: b.port },
    ]),
  );
  const { proxy, port } = await start(d);
  return { d, proxy, port };
}

describe('UdpProxy after a takeover', () => {
  it('a replicated flow keeps its backend: the proxy opens a socket to it instead of re-balancing', async () => {
    const { d, proxy, port } = await twoBackends();
    const c = await client();
    const other = await client();
    d.setReplicaRole('standby', systemClock.now(), 0);
    // Three flows on a: least-connections alone would send any new flow to b.
    for (const p of [c.port, 1, 2]) expect(d.applyReplicated(flow(p, 'a'), systemClock.now())).toBe('applied');
    d.setReplicaRole('master', systemClock.now(), 30_000);
    expect(proxy.flowCount).toBe(0);

    expect(await c.ask(port, 'after-takeover')).toBe('a:after-takeover');
    expect(await c.ask(port, 'again')).toBe('a:again');
    expect(proxy.counters.flowsOpened).toBe(1);
    expect(d.flows.get(`${HOST}:${c.port}`, systemClock.now())?.backend).toBe('a');
    // A client without a replicated flow is balanced as usual.
    expect(await other.ask(port, 'new')).toBe('b:new');
    expect(Object.fromEntries(d.backendStates().map((s) => [s.name, s.active]))).toEqual({ a: 3, b: 1 });
  });

  it('a socket left from an earlier mastership follows the flow replication moved to another backend', async () => {
    const { d, proxy, port } = await twoBackends();
    const c = await client();
    const first = (await c.ask(port, 'one')).split(':')[0]!;
    const moved = first === 'a' ? 'b' : 'a';
    d.setReplicaRole('standby', systemClock.now(), 0);
    d.applyReplicated(flow(c.port, moved), systemClock.now());
    d.setReplicaRole('master', systemClock.now(), 30_000);
    expect(await c.ask(port, 'two')).toBe(`${moved}:two`);
    expect(proxy.counters.flowsOpened).toBe(2);
    expect(Object.fromEntries(d.backendStates().map((s) => [s.name, s.active]))).toEqual({ [first]: 0, [moved]: 1 });
  });
});
