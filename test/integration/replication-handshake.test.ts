/**
 * The replication listener and dialler over real WebSockets on loopback: who gets in,
 * who is refused with which close code, and that the refused never become peers.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { silentLogger } from '../../src/adapters/logger.js';
import { dialReplication } from '../../src/adapters/replication/replication-dialer.js';
import { ReplicationServer, type AuthenticatedPeer, type ReplicationTls } from '../../src/adapters/replication/replication-server.js';
import { HaloError } from '../../src/core/errors.js';
import { configDigest, type DigestService } from '../../src/core/replication/config-digest.js';
import type { HandshakeIdentity } from '../../src/core/replication/handshake-state.js';
import { testTempDir } from '../helpers/temp-dir.js';

const KEY = randomBytes(32);
const service = (backends: Array<[string, string]>): DigestService => ({
  name: 'web',
  mode: 'http',
  persistence: { type: 'source_ip', ttl_ms: 60_000 },
  backends: backends.map(([name, address]) => ({ name, address, port: 8080 })),
  pools: [],
});
const SAME = [service([['be1', '10.0.0.1'], ['be2', '10.0.0.2']])];
const identity = (node: string, over: Partial<HandshakeIdentity> = {}): HandshakeIdentity => ({
  key: KEY,
  cluster: '7',
  node,
  config: configDigest(SAME),
  randomBytes,
  ...over,
});

describe('replication handshake over WebSocket', () => {
  const servers: ReplicationServer[] = [];
  const sockets: WebSocket[] = [];
  afterEach(async () => {
    for (const ws of sockets.splice(0)) ws.terminate();
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  async function server(over: Partial<ConstructorParameters<typeof ReplicationServer>[0]> = {}): Promise<{ s: ReplicationServer; port: number; peers: AuthenticatedPeer[] }> {
    const peers: AuthenticatedPeer[] = [];
    const s = new ReplicationServer({
      host: '127.0.0.1',
      port: 0,
      identity: identity('lb1'),
      handshakeTimeoutMs: 500,
      maxPeers: 2,
      epoch: () => 42,
      onPeer: (p) => {
        peers.push(p);
        sockets.push(p.ws);
      },
      log: silentLogger,
      ...over,
    });
    servers.push(s);
    await s.listen();
    return { s, port: s.address?.port ?? expect.fail('no port'), peers };
  }

  const dialErr = async (p: Promise<unknown>): Promise<HaloError> => {
    const err = await p.then(() => expect.fail('dial succeeded'), (e: unknown) => e);
    expect(err).toBeInstanceOf(HaloError);
    return err as HaloError;
  };

  it('welcomes a dialler with the cluster key: both sides name each other, the epoch arrives', async () => {
    const { s, port, peers } = await server();
    const peer = await dialReplication({ host: '127.0.0.1', port, identity: identity('lb2'), timeoutMs: 2000 });
    sockets.push(peer.ws);
    expect(peer.node).toBe('lb1');
    expect(peer.epoch).toBe(42);
    await expect.poll(() => peers.map((p) => p.node)).toEqual(['lb2']);
    expect(s.counters).toMatchObject({ accepted: 1, peers: 1 });
  });

  it('refuses a wrong key with 4401 on both sides; the dialler never becomes a peer', async () => {
    const { s, port, peers } = await server();
    const err = await dialErr(dialReplication({ host: '127.0.0.1', port, identity: identity('lb2', { key: randomBytes(32) }), timeoutMs: 2000 }));
    // the listener proves itself first, so the dialler is the one that detects the wrong key
    expect(err.details['closeCode']).toBe(4401);
    expect(err.message).toMatch(/cluster key/);
    expect(peers).toEqual([]);
    expect(s.counters.accepted).toBe(0);
  });

  it('refuses another cluster id with 4403 and a config that differs with 4409 naming the difference', async () => {
    const { s, port, peers } = await server();
    const other = await dialErr(dialReplication({ host: '127.0.0.1', port, identity: identity('lb2', { cluster: '8' }), timeoutMs: 2000 }));
    expect(other.details['closeCode']).toBe(4403);
    const differs = await dialErr(
      dialReplication({ host: '127.0.0.1', port, identity: identity('lb2', { config: configDigest([service([['be1', '10.0.0.1']])]) }), timeoutMs: 2000 }),
    );
    expect(differs.details['closeCode']).toBe(4409);
    expect(differs.message).toMatch(/be2/);
    expect(peers).toEqual([]);
    await expect.poll(() => s.counters.refused[4409]).toBe(1);
    expect(s.counters.refused[4403]).toBe(1);
  });

  it('closes a raw client that sends binary (4400), garbage (4400) or nothing (4408), and counts each', async () => {
    const { s, port, peers } = await server();
    const raw = async (send: (ws: WebSocket) => void): Promise<number> => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
      sockets.push(ws);
      await new Promise((r) => ws.once('open', r));
      send(ws);
      return new Promise<number>((r) => ws.once('close', (code) => r(code)));
    };
    expect(await raw((ws) => ws.send(Buffer.from([2, 0, 0, 0, 1, 1, 1])))).toBe(4400);
    expect(await raw((ws) => ws.send('{"type":"hello","version":1'))).toBe(4400);
    expect(await raw(() => undefined)).toBe(4408);
    expect(await raw((ws) => ws.send(JSON.stringify({ type: 'sync', epoch: null, seq: null })))).toBe(4400);
    expect(peers).toEqual([]);
    expect(s.counters.refused).toMatchObject({ 4400: 3, 4408: 1 });
  });

  it('refuses peers beyond max_peers with 4429', async () => {
    const { port } = await server({ maxPeers: 1 });
    const first = await dialReplication({ host: '127.0.0.1', port, identity: identity('lb2'), timeoutMs: 2000 });
    sockets.push(first.ws);
    const err = await dialErr(dialReplication({ host: '127.0.0.1', port, identity: identity('lb3'), timeoutMs: 2000 }));
    expect(err.details['closeCode']).toBe(4429);
  });

  it('answers plain HTTP with 426', async () => {
    const { port } = await server();
    const res = await fetch(`http://127.0.0.1:${port}/`);
    expect(res.status).toBe(426);
  });

  describe('mutual TLS', () => {
    const dir = testTempDir('halo-repl-tls-');
    const pem = (name: string): Buffer => readFileSync(join(dir, name));
    const openssl = (...args: string[]): void => {
      execFileSync('openssl', args, { cwd: dir, stdio: 'pipe', timeout: 20_000 });
    };
    const makeCa = (name: string): void => {
      openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${name}`);
    };
    const makeCert = (ca: string, name: string): ReplicationTls => {
      openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
      openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.crt`, '-days', '2');
      return { cert: pem(`${name}.crt`), key: pem(`${name}.key`), ca: pem(`${ca}.crt`) };
    };

    it('lets in a node with a certificate from the cluster CA and keeps out one from another CA', async () => {
      makeCa('ca');
      makeCa('evil');
      const { s, port, peers } = await server({ tls: makeCert('ca', 'lb1') });
      const good = await dialReplication({ host: '127.0.0.1', port, tls: makeCert('ca', 'lb2'), identity: identity('lb2'), timeoutMs: 3000 });
      sockets.push(good.ws);
      expect(good.node).toBe('lb1');
      const bad = await dialErr(dialReplication({ host: '127.0.0.1', port, tls: makeCert('evil', 'mallory'), identity: identity('mallory'), timeoutMs: 3000 }));
      expect(bad.message).toMatch(/replication to 127\.0\.0\.1/);
      await expect.poll(() => peers.map((p) => p.node)).toEqual(['lb2']);
      expect(s.counters.accepted).toBe(1);
    });
  });
});
