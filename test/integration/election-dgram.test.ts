/**
 * The election advert transport on real sockets. Network cases run as root in two
 * namespaces this suite creates, joined by a veth pair (A: ea 10.231.0.1, B: eb
 * 10.231.0.2), with one node child per namespace driving an ElectionTransport (see
 * test/helpers/netns-node.ts). Cases that need no namespace run in-process on 127.0.0.1.
 */
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import type { NetworkInterfaceInfo } from 'node:os';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { ElectionTransport, MAX_ADVERT_DATAGRAM_BYTES, type ElectionTransportOptions, type ElectionTransportStats } from '../../src/adapters/election-dgram.js';
import { interfaceIPv4, interfaceMac } from '../../src/adapters/interface-address.js';
import { HaloError } from '../../src/core/errors.js';
import { createNetns, netnsSupport, type Netns } from '../helpers/netns.js';
import { startNodeInNetns, type NodeInNetns } from '../helpers/netns-node.js';

const support = netnsSupport();
if (!support.ok) console.log(`skipping the namespace cases of election-dgram: ${support.reason}`);

const ADDR_A = '10.231.0.1';
const ADDR_B = '10.231.0.2';
const GROUP = '239.255.72.76';

/** Drives one ElectionTransport inside a namespace; `received` lists what onMessage got. */
const DRIVER = `
import dgram from 'node:dgram';
import { ElectionTransport } from './src/adapters/election-dgram.ts';
import { interfaceIPv4, interfaceMac } from './src/adapters/interface-address.ts';
let t;
let got = [];
serve(async (cmd) => {
  switch (cmd.op) {
    case 'start':
      if (t) await t.close();
      got = [];
      t = new ElectionTransport({ ...cmd.options, onMessage: (buf, from) => got.push({ hex: buf.toString('hex'), from }) });
      await t.start();
      return null;
    case 'send': t.send(Buffer.from(cmd.hex, 'hex')); return null;
    case 'received': return got;
    case 'stats': return t.stats;
    case 'close': await t.close(); return null;
    case 'raw': {
      const s = dgram.createSocket('udp4');
      await new Promise((res) => s.bind(0, cmd.from, res));
      s.setMulticastInterface(cmd.from);
      try { await new Promise((res, rej) => s.send(Buffer.alloc(cmd.size, 0x61), cmd.port, cmd.address, (e) => (e ? rej(e) : res()))); }
      finally { s.close(); }
      return null;
    }
    case 'address': return { ipv4: interfaceIPv4(cmd.name, cmd.exclude ?? []) ?? null, mac: interfaceMac(cmd.name) ?? null };
    default: throw new Error('unknown op ' + cmd.op);
  }
});
`;

interface Received {
  hex: string;
  from: { address: string; port: number };
}

function options(over: Partial<Omit<ElectionTransportOptions, 'onMessage'>>): Omit<ElectionTransportOptions, 'onMessage'> {
  return { mode: 'multicast', group: GROUP, port: 7946, ttl: 1, peers: [], interfaceName: 'lo', localAddress: '127.0.0.1', ...over };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function inNetns(ns: string, cmd: string, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('ip', ['netns', 'exec', ns, cmd, ...args], { timeout: 5000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} in ${ns} failed: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
  });
}

/** Packets matched by rule `n` of the INPUT chain in `ns`. */
async function rulePackets(ns: string, n: number): Promise<number> {
  const line = (await inNetns(ns, 'iptables', '-L', 'INPUT', String(n), '-n', '-v', '-x')).trim();
  const packets = Number(line.split(/\s+/)[0]);
  if (!Number.isInteger(packets)) throw new Error(`cannot read the packet count from: ${line}`);
  return packets;
}

/** `from` sends `hex` every 100 ms until `to` has it (at most 20 tries). */
async function deliver(from: NodeInNetns, to: NodeInNetns, hex: string): Promise<Received[]> {
  for (let i = 0; i < 20; i++) {
    await from.ask({ op: 'send', hex });
    await sleep(100);
    const got = await to.ask<Received[]>({ op: 'received' });
    if (got.some((r) => r.hex === hex)) return got;
  }
  throw new Error(`${hex} never arrived in ${to.ns}`);
}

describe('ElectionTransport, in-process on 127.0.0.1', () => {
  async function freePort(): Promise<{ port: number; holder: dgram.Socket }> {
    const holder = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => holder.bind(0, '127.0.0.1', resolve));
    return { port: holder.address().port, holder };
  }

  it('rejects a bind error with HALO_ERR_ELECTION_SOCKET naming interface, address, port and errno', async () => {
    const { port, holder } = await freePort();
    try {
      const t = new ElectionTransport({ ...options({ mode: 'unicast', port, peers: ['127.0.0.2'] }), onMessage: () => {} });
      const err: unknown = await t.start().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(HaloError);
      const halo = err as HaloError;
      expect(halo.code).toBe('HALO_ERR_ELECTION_SOCKET');
      expect(halo.message).toContain(`127.0.0.1:${port}`);
      expect(halo.message).toContain('on lo');
      expect(halo.message).toContain('EADDRINUSE');
      expect(halo.details).toMatchObject({ port, errno: 'EADDRINUSE', interface: 'lo' });
      await t.close(); // idempotent after a failed start
      t.send(Buffer.from('x'));
      expect(t.stats.sendErrors).toBe(1);
    } finally {
      holder.close();
    }
  });

  it('never throws on send: before start, oversize, after close (twice); counts each as a send error', async () => {
    const { port, holder } = await freePort();
    holder.close();
    const t = new ElectionTransport({ ...options({ mode: 'unicast', port, peers: ['127.0.0.2'] }), onMessage: () => {} });
    expect(() => t.send(Buffer.from('early'))).not.toThrow();
    expect(t.stats.lastSendError).toBe('transport not started');
    await t.start();
    expect(t.boundPort).toBe(port);
    t.send(Buffer.alloc(MAX_ADVERT_DATAGRAM_BYTES + 1));
    expect(t.stats.lastSendError).toContain(`${MAX_ADVERT_DATAGRAM_BYTES + 1} bytes`);
    await t.close();
    await t.close();
    expect(() => t.send(Buffer.from('late'))).not.toThrow();
    expect(t.stats).toMatchObject({ sent: 0, sendErrors: 3, lastSendError: 'transport closed' });
    await expect(t.start()).rejects.toThrow(/already started/);
  });

  it('close() while start() is binding: start rejects, close resolves, nothing stays bound', async () => {
    const { port, holder } = await freePort();
    holder.close();
    const t = new ElectionTransport({ ...options({ mode: 'unicast', port, peers: [] }), onMessage: () => {} });
    const started = t.start();
    await t.close();
    await expect(started).rejects.toMatchObject({ code: 'HALO_ERR_ELECTION_SOCKET', message: expect.stringContaining('closed before it finished starting') });
    const again = new ElectionTransport({ ...options({ mode: 'unicast', port, peers: [] }), onMessage: () => {} });
    await again.start(); // the port is free again
    await again.close();
  });
});

describe.skipIf(!support.ok)('ElectionTransport between two network namespaces (veth)', () => {
  let nsA: Netns | undefined;
  let nsB: Netns | undefined;
  let a: NodeInNetns;
  let b: NodeInNetns;
  const onA = { interfaceName: 'ea', localAddress: ADDR_A };
  const onB = { interfaceName: 'eb', localAddress: ADDR_B };

  beforeAll(async () => {
    nsA = await createNetns('edA');
    nsB = await createNetns('edB');
    await nsA.ip('link', 'add', 'ea', 'type', 'veth', 'peer', 'name', 'eb', 'netns', nsB.name);
    await nsA.ip('addr', 'add', `${ADDR_A}/24`, 'dev', 'ea');
    await nsB.ip('addr', 'add', `${ADDR_B}/24`, 'dev', 'eb');
    await nsA.ip('link', 'set', 'ea', 'up');
    await nsB.ip('link', 'set', 'eb', 'up');
    [a, b] = await Promise.all([startNodeInNetns(nsA.name, DRIVER), startNodeInNetns(nsB.name, DRIVER)]);
  });

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await nsA?.destroy();
    await nsB?.destroy();
  });

  it('multicast: a round trip both ways, sent with the configured TTL (1, then 3), from the peer address', async () => {
    // counts B's incoming adverts whose TTL is exactly 1
    await inNetns(nsB!.name, 'iptables', '-A', 'INPUT', '-d', GROUP, '-p', 'udp', '--dport', '7946', '-m', 'ttl', '--ttl-eq', '1', '-j', 'ACCEPT');
    onTestFinished(() => inNetns(nsB!.name, 'iptables', '-F', 'INPUT').then(() => undefined));
    await a.ask({ op: 'start', options: options({ ...onA, port: 7946 }) });
    await b.ask({ op: 'start', options: options({ ...onB, port: 7946 }) });
    const atB = await deliver(a, b, 'a1');
    expect(atB.find((r) => r.hex === 'a1')?.from).toEqual({ address: ADDR_A, port: 7946 });
    const atA = await deliver(b, a, 'b1');
    expect(atA.find((r) => r.hex === 'b1')?.from).toEqual({ address: ADDR_B, port: 7946 });
    const statsA = await a.ask<ElectionTransportStats>({ op: 'stats' });
    expect(statsA.sent).toBeGreaterThanOrEqual(1);
    expect(statsA).toMatchObject({ sendErrors: 0, own: 0, oversize: 0 });
    // loopback is off: A never hears its own multicast adverts, not even as "own"
    expect(atA.every((r) => r.from.address !== ADDR_A)).toBe(true);
    expect(await rulePackets(nsB!.name, 1)).toBeGreaterThanOrEqual(1);
    // TTL 1 is also the kernel's default for multicast: show the option is really applied
    await inNetns(nsB!.name, 'iptables', '-A', 'INPUT', '-d', GROUP, '-p', 'udp', '--dport', '7946', '-m', 'ttl', '--ttl-eq', '3', '-j', 'ACCEPT');
    await a.ask({ op: 'start', options: options({ ...onA, port: 7946, ttl: 3 }) });
    await deliver(a, b, 'a1cc');
    expect(await rulePackets(nsB!.name, 2)).toBeGreaterThanOrEqual(1);
  });

  it('unicast: a round trip both ways between the peers\' own addresses', async () => {
    await a.ask({ op: 'start', options: options({ ...onA, mode: 'unicast', port: 7950, peers: [ADDR_B] }) });
    await b.ask({ op: 'start', options: options({ ...onB, mode: 'unicast', port: 7950, peers: [ADDR_A] }) });
    expect((await deliver(a, b, 'a2')).find((r) => r.hex === 'a2')?.from).toEqual({ address: ADDR_A, port: 7950 });
    expect((await deliver(b, a, 'b2')).find((r) => r.hex === 'b2')?.from).toEqual({ address: ADDR_B, port: 7950 });
    expect(await b.ask<ElectionTransportStats>({ op: 'stats' })).toMatchObject({ sendErrors: 0, own: 0 });
  });

  it('multicast dropped by iptables in the receiving namespace; unicast still gets through', async () => {
    await inNetns(nsB!.name, 'iptables', '-A', 'INPUT', '-d', '239.0.0.0/8', '-j', 'DROP');
    try {
      await a.ask({ op: 'start', options: options({ ...onA, port: 7952 }) });
      await b.ask({ op: 'start', options: options({ ...onB, port: 7952 }) });
      for (let i = 0; i < 5; i++) {
        await a.ask({ op: 'send', hex: 'a3' });
        await sleep(60);
      }
      expect(await b.ask<Received[]>({ op: 'received' })).toEqual([]);
      expect((await a.ask<ElectionTransportStats>({ op: 'stats' })).sent).toBe(5);
      // the rule matched them, so they did reach B's wire and were not lost elsewhere
      expect(await rulePackets(nsB!.name, 1)).toBeGreaterThanOrEqual(5);

      await a.ask({ op: 'start', options: options({ ...onA, mode: 'unicast', port: 7952, peers: [ADDR_B] }) });
      await b.ask({ op: 'start', options: options({ ...onB, mode: 'unicast', port: 7952, peers: [ADDR_A] }) });
      expect((await deliver(a, b, 'a4')).map((r) => r.hex)).toEqual(['a4']);
    } finally {
      await inNetns(nsB!.name, 'iptables', '-F', 'INPUT');
    }
  });

  it('drops our own datagrams (a peer list that includes us) before onMessage, counted as own', async () => {
    await a.ask({ op: 'start', options: options({ ...onA, mode: 'unicast', port: 7954, peers: [ADDR_A, ADDR_B] }) });
    await b.ask({ op: 'start', options: options({ ...onB, mode: 'unicast', port: 7954, peers: [] }) });
    await deliver(a, b, 'a5');
    const statsA = await a.ask<ElectionTransportStats>({ op: 'stats' });
    expect(statsA.own).toBeGreaterThanOrEqual(1);
    expect(statsA.received).toBe(0);
    expect(await a.ask<Received[]>({ op: 'received' })).toEqual([]);
  });

  it(`drops datagrams over ${MAX_ADVERT_DATAGRAM_BYTES} bytes before onMessage, counted as oversize`, async () => {
    await b.ask({ op: 'start', options: options({ ...onB, port: 7956 }) });
    await a.ask({ op: 'raw', from: ADDR_A, address: GROUP, port: 7956, size: MAX_ADVERT_DATAGRAM_BYTES + 1 });
    await a.ask({ op: 'raw', from: ADDR_A, address: ADDR_B, port: 7956, size: 60_000 });
    await a.ask({ op: 'raw', from: ADDR_A, address: GROUP, port: 7956, size: MAX_ADVERT_DATAGRAM_BYTES });
    let stats: ElectionTransportStats | undefined;
    for (let i = 0; i < 30 && !(stats && stats.oversize + stats.received >= 3); i++) {
      await sleep(50);
      stats = await b.ask<ElectionTransportStats>({ op: 'stats' });
    }
    expect(stats).toMatchObject({ oversize: 2, received: 1 });
    const got = await b.ask<Received[]>({ op: 'received' });
    expect(got.map((r) => r.hex.length / 2)).toEqual([MAX_ADVERT_DATAGRAM_BYTES]);
  });

  it('names the step and errno when the multicast membership fails (address not on this host)', async () => {
    const reply = await a.call({ op: 'start', options: options({ interfaceName: 'ea', localAddress: '10.231.9.9', port: 7958 }) });
    expect(reply.ok).toBe(false);
    if (reply.ok) return;
    expect(reply.code).toBe('HALO_ERR_ELECTION_SOCKET');
    expect(reply.error).toMatch(/addMembership\(239\.255\.72\.76, 10\.231\.9\.9\) failed: E[A-Z]+/);
    expect(reply.error).toContain('port 7958 on ea');
  });

  it('interfaceIPv4 skips excluded (VIP) addresses; interfaceMac matches ip link', async () => {
    await nsB!.ip('addr', 'add', '10.231.0.100/24', 'dev', 'eb');
    const mac = /link\/ether ([0-9a-f:]{17})/.exec(await nsB!.ip('-o', 'link', 'show', 'dev', 'eb'))?.[1];
    expect(await b.ask({ op: 'address', name: 'eb' })).toEqual({ ipv4: ADDR_B, mac });
    expect(await b.ask({ op: 'address', name: 'eb', exclude: [`${ADDR_B}/24`] })).toEqual({ ipv4: '10.231.0.100', mac });
    expect(await b.ask({ op: 'address', name: 'eb', exclude: [ADDR_B, '10.231.0.100'] })).toEqual({ ipv4: null, mac });
    expect(await b.ask({ op: 'address', name: 'nope0' })).toEqual({ ipv4: null, mac: null });
  });
});

describe('interfaceIPv4 / interfaceMac on a given table', () => {
  const info = (address: string, family: 'IPv4' | 'IPv6', mac = '02:00:00:00:00:01'): NetworkInterfaceInfo =>
    family === 'IPv4' ? { address, family, mac, netmask: '255.255.255.0', internal: false, cidr: null } : { address, family, mac, netmask: 'ffff::', internal: false, cidr: null, scopeid: 0 };
  const table = { eth0: [info('fe80::1', 'IPv6'), info('10.0.0.100', 'IPv4'), info('10.0.0.5', 'IPv4')], lo: [info('127.0.0.1', 'IPv4', '00:00:00:00:00:00')] };

  it('takes the first IPv4 address that is not a VIP, and no MAC for loopback', () => {
    expect(interfaceIPv4('eth0', [], table)).toBe('10.0.0.100');
    expect(interfaceIPv4('eth0', ['10.0.0.100/24'], table)).toBe('10.0.0.5');
    expect(interfaceIPv4('eth1', [], table)).toBeUndefined();
    expect(interfaceMac('eth0', table)).toBe('02:00:00:00:00:01');
    expect(interfaceMac('lo', table)).toBeUndefined();
  });
});
