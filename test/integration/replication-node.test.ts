/**
 * Two ReplicationNodes on loopback (127.0.0.1 master, 127.0.0.2 standby) over real
 * dispatchers: the stream converges, and hostile peers (no key, wrong key, garbage
 * frames from a fake master or a fake standby) get nothing, change nothing and crash
 * nothing.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { dialReplication } from '../../src/adapters/replication/replication-dialer.js';
import { ReplicationServer, type AuthenticatedPeer } from '../../src/adapters/replication/replication-server.js';
import { silentLogger } from '../../src/adapters/logger.js';
import { systemClock } from '../../src/adapters/system-clock.js';
import { configDigest } from '../../src/core/replication/config-digest.js';
import { encodeControl } from '../../src/core/replication/handshake-messages.js';
import { replicaConfig, testReplica, TEST_KEY, type TestReplica } from '../helpers/replica-node.js';
import { recordingLogger } from '../helpers/recording-logger.js';

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const MASTER = { state: 'MASTER', master: undefined };
const following = (address: string, nodeId = 'm') => ({ state: 'BACKUP', master: { nodeId, address } });

/** Source-IP persistence entries through the master's dispatcher, as client traffic makes them. */
function traffic(r: TestReplica, clients: number, from = 1): void {
  for (let i = from; i < from + clients; i++) r.dispatcher.choose({ clientIp: `192.0.2.${i}` }, systemClock.now());
}

function tables(r: TestReplica): Record<string, { entries: number; digest: string }> {
  return r.node.status().tables;
}

describe('replication between two nodes on loopback', () => {
  const nodes: TestReplica[] = [];
  const extra: Array<{ close(): Promise<void> | void }> = [];
  afterEach(async () => {
    await Promise.all(nodes.splice(0).map((n) => n.node.stop()));
    await Promise.all(extra.splice(0).map((x) => x.close()));
  });

  async function pair(): Promise<{ m: TestReplica; s: TestReplica; port: number }> {
    const port = await freePort();
    const m = testReplica('m', '127.0.0.1', port);
    const s = testReplica('s', '127.0.0.2', port);
    nodes.push(m, s);
    await m.node.start();
    await s.node.start();
    m.node.onElection(MASTER);
    s.node.onElection(following('127.0.0.1'));
    return { m, s, port };
  }

  it('a standby gets the snapshot and the stream: same entries, same digests, and synced is reported', async () => {
    const { m, s } = await pair();
    traffic(m, 30);
    await expect.poll(() => s.node.status().synced, { timeout: 5000 }).toBe(true);
    traffic(m, 20, 31);
    await expect.poll(() => tables(s)['web/persist_source']?.entries, { timeout: 5000 }).toBe(50);
    expect(tables(s)['web/persist_source']).toEqual(tables(m)['web/persist_source']);
    expect(s.synced).toContain(true);
    // after a takeover every client keeps its backend
    const before = Array.from({ length: 50 }, (_, i) => m.dispatcher.choose({ clientIp: `192.0.2.${i + 1}` }, systemClock.now())?.target.name);
    s.node.onElection(MASTER);
    const after = Array.from({ length: 50 }, (_, i) => s.dispatcher.choose({ clientIp: `192.0.2.${i + 1}` }, systemClock.now())?.target.name);
    expect(after).toEqual(before);
    expect(new Set(before).size).toBe(3);
    const peer = m.node.status().peers[0];
    expect(peer).toMatchObject({ node: 's', phase: 'streaming' });
    await expect.poll(() => m.node.status().peers[0]?.unacked, { timeout: 3000 }).toBe(0);
  });

  it('a client without the key, or with a wrong one, gets nothing and changes nothing', async () => {
    const { m, s, port } = await pair();
    traffic(m, 10);
    await expect.poll(() => tables(s)['web/persist_source']?.entries, { timeout: 5000 }).toBe(10);
    const before = tables(s);
    const wrong = await dialReplication({
      host: '127.0.0.1',
      port,
      identity: { key: randomBytes(32), cluster: '7', node: 'mallory', config: configDigest(replicaConfig(port).services), randomBytes },
      timeoutMs: 2000,
    }).then(
      () => 'welcomed',
      (e: Error) => e.message,
    );
    expect(wrong).toMatch(/cluster key/);
    const raw = new WebSocket(`ws://127.0.0.1:${port}/`);
    const frames: Buffer[] = [];
    raw.on('message', (d: Buffer) => frames.push(d));
    await new Promise((r) => raw.once('open', r));
    raw.send(encodeControl({ type: 'sync', epoch: null, seq: null }));
    raw.send(Buffer.from([3, 1, 0, 1, 0]));
    const code = await new Promise<number>((r) => raw.once('close', (c) => r(c)));
    expect(code).toBe(4400);
    // nothing of a table went to either: only handshake refusals
    expect(frames.every((f) => f.toString('utf8').startsWith('{'))).toBe(true);
    expect(m.node.status().peers.map((p) => p.node)).toEqual(['s']);
    expect(tables(s)).toEqual(before);
    expect(m.node.status().refused).toMatchObject({ 4400: 1 });
  });

  it('garbage acks from a standby close its link only (4400, counted); the real standby keeps streaming', async () => {
    const { m, s, port } = await pair();
    traffic(m, 5);
    await expect.poll(() => s.node.status().synced, { timeout: 5000 }).toBe(true);
    const fake = await dialReplication({
      host: '127.0.0.1',
      port,
      identity: { key: TEST_KEY, cluster: '7', node: 'fake', config: configDigest(replicaConfig(port).services), randomBytes },
      timeoutMs: 2000,
    });
    extra.push({ close: () => fake.ws.terminate() });
    fake.ws.send(encodeControl({ type: 'sync', epoch: null, seq: null }));
    fake.ws.send(Buffer.from([5, 0xff, 0xff, 0xff, 0xff, 0x80]));
    const code = await new Promise<number>((r) => fake.ws.once('close', (c) => r(c)));
    expect(code).toBe(4400);
    traffic(m, 5, 6);
    await expect.poll(() => tables(s)['web/persist_source']?.entries, { timeout: 5000 }).toBe(10);
    expect(s.node.status().synced).toBe(true);
  });

  it('malformed frames from a master are counted, the link is reset, the standby survives and dials again', async () => {
    const port = await freePort();
    const log = recordingLogger();
    const s = testReplica('s', '127.0.0.2', port, { logger: log });
    nodes.push(s);
    await s.node.start();
    let sessions = 0;
    const fakeMaster = new ReplicationServer({
      host: '127.0.0.3',
      port,
      identity: { key: TEST_KEY, cluster: '7', node: 'evil', config: configDigest(replicaConfig(port).services), randomBytes },
      handshakeTimeoutMs: 1000,
      maxPeers: 4,
      epoch: () => 99,
      log: silentLogger,
      onPeer: (peer: AuthenticatedPeer) => {
        sessions += 1;
        peer.ws.once('message', () => {
          // answer the sync with a snapshot of nothing, then garbage
          peer.ws.send(encodeControl({ type: 'snapshot_begin', snapshotId: 1, epoch: 99, atSeq: 0, tables: [] }));
          peer.ws.send(encodeControl({ type: 'snapshot_end', snapshotId: 1, entries: 0 }));
          peer.ws.send(Buffer.from([2, 0, 0, 0, 99, 1, 200, 7, 7, 7]));
        });
      },
    });
    extra.push(fakeMaster);
    await fakeMaster.listen();
    s.node.onElection(following('127.0.0.3', 'evil'));
    await expect.poll(() => sessions, { timeout: 5000 }).toBeGreaterThanOrEqual(2);
    const status = s.node.status();
    expect(status.standby?.applier.frameErrors).toBeGreaterThanOrEqual(1);
    expect(log.lines.some((l) => l.event === 'replication_reset' && /malformed frame/.test(String(l.fields['cause'])))).toBe(true);
    expect(tables(s)['web/persist_source']?.entries ?? 0).toBe(0);
  });
});
