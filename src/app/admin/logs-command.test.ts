/**
 * `halo logs` against a real AdminServer on 127.0.0.1 serving a ClusterLog: replay order,
 * filters, --json, -f through the reorder window, and the exit codes.
 */
import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { AdminServer, type AdminServerOptions } from '../../adapters/admin/admin-server.js';
import { silentLogger } from '../../adapters/logger.js';
import type { LogLine } from '../../core/replication/log-messages.js';
import { waitFor } from '../../../test/helpers/wait.js';
import { ClusterLog, clusterEventFeed } from './cluster-log.js';
import { EventLog } from './event-log.js';
import { eventsUrl, logsMain } from './logs-command.js';

const servers: AdminServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const T0 = Date.parse('2026-11-27T15:04:00.000Z');
const remote = (node: string, seq: number, at: number, message = `${node}-${seq}`): LogLine => ({ node, boot: 1, seq, at, level: 'info', message, fields: { n: seq } });

async function start(over: Partial<AdminServerOptions> = {}) {
  const own = new EventLog();
  const cluster = new ClusterLog({ node: 'lb2', own, boot: 2 });
  const write = (message: string, at: number, level = 'info') => own.tap({ level, message, timestamp: new Date(at).toISOString(), node: 'lb2' });
  const server = new AdminServer({
    host: '127.0.0.1',
    port: 0,
    status: () => ({}),
    metrics: async () => ({ contentType: 'text/plain', body: '' }),
    events: { initial: () => [{ type: 'status', reason: 'current', status: {} }], subscribe: () => () => undefined },
    clusterEvents: clusterEventFeed(cluster),
    log: silentLogger,
    ...over,
  });
  servers.push(server);
  const { port } = await server.listen();
  return { admin: `http://127.0.0.1:${port}`, cluster, write };
}

function io() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { stdout: (t: string) => void out.push(t), stderr: (t: string) => void err.push(t) }, lines: () => out.join('').split('\n').filter((l) => l !== '') };
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as { port: number };
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('halo logs', () => {
  it('prints the merged replay in time order, each line prefixed by its node, and exits 0', async () => {
    const { admin, cluster, write } = await start();
    write('node_started', T0 + 100);
    cluster.add([remote('lb1', 1, T0 + 50, 'replication_peer'), remote('lb1', 2, T0 + 300, 'state_change')]);
    write('state_change', T0 + 200, 'warn');
    const o = io();
    expect(await logsMain(['--admin', admin], { io: o.io })).toBe(0);
    expect(o.lines()).toEqual([
      '15:04:00.050 lb1  INFO  replication_peer n=1',
      '15:04:00.100 lb2  INFO  node_started',
      '15:04:00.200 lb2  WARN  state_change',
      '15:04:00.300 lb1  INFO  state_change n=2',
    ]);
    expect(o.err).toEqual([]);
  });

  it('--since, --node (repeatable) and --json; a node filter that matches nothing says which nodes there were', async () => {
    const { admin, cluster, write } = await start();
    cluster.add([remote('lb1', 1, T0), remote('lb3', 1, T0 + 2000), remote('lb1', 2, T0 + 3000)]);
    write('mine', T0 + 2500);
    const o = io();
    expect(await logsMain(['--admin', admin, '--since', String(T0 + 1000), '--node', 'lb1', '--node', 'lb3', '--json'], { io: o.io })).toBe(0);
    expect(o.lines().map((l) => JSON.parse(l) as Record<string, unknown>).map((e) => [e['node'], e['message'], e['timestamp']])).toEqual([
      ['lb3', 'lb3-1', new Date(T0 + 2000).toISOString()],
      ['lb1', 'lb1-2', new Date(T0 + 3000).toISOString()],
    ]);
    const none = io();
    expect(await logsMain(['--admin', admin, '--node', 'lb9'], { io: none.io })).toBe(0);
    expect(none.out).toEqual([]);
    expect(none.err.join('')).toBe('halo logs: no lines from lb9 (lines were held from lb1, lb2, lb3)\n');
  });

  it('-f prints new lines from different nodes in time order although they arrive out of it, until stopped', async () => {
    const { admin, cluster, write } = await start();
    write('before', T0);
    const o = io();
    const stop = new AbortController();
    const done = logsMain(['--admin', admin, '-f'], { io: o.io, signal: stop.signal, windowMs: 150 });
    await waitFor(() => o.lines().length === 1, 'the replay', 5000);
    const now = Date.now();
    // lb2's own line first; lb1's earlier one comes 50 ms later, as through the relay
    write('own_line', now + 20);
    await new Promise((r) => setTimeout(r, 50));
    cluster.add([remote('lb1', 1, now + 10, 'relayed_line')]);
    await waitFor(() => o.lines().length === 3, 'both live lines', 5000);
    expect(o.lines().map((l) => l.split(/\s+/).slice(1, 4).join(' '))).toEqual(['lb2 INFO before', 'lb1 INFO relayed_line', 'lb2 INFO own_line']);
    stop.abort();
    expect(await done).toBe(0);
  });

  it('exits 1 when the node is unreachable, refuses, has no cluster log, or closes the stream', async () => {
    const port = await freePort();
    const o = io();
    expect(await logsMain(['--admin', `http://127.0.0.1:${port}`], { io: o.io })).toBe(1);
    expect(o.err.join('')).toMatch(/^HALO_ERR_ADMIN: cannot reach ws:\/\/127\.0\.0\.1:\d+\/events\?cluster=1&since=0: ECONNREFUSED/);

    const guarded = await start({ token: Buffer.from('admin-token-0123456789'), isLoopback: () => false });
    const r = io();
    expect(await logsMain(['--admin', guarded.admin], { io: r.io })).toBe(1);
    expect(r.err.join('')).toMatch(/answered 401 unauthorized/);

    const old = await start({ clusterEvents: undefined });
    const n = io();
    expect(await logsMain(['--admin', old.admin], { io: n.io })).toBe(1);
    expect(n.err.join('')).toMatch(/answered 501 not_implemented: this node keeps no cluster log/);

    const closing = await start();
    expect(servers.at(-1)).toBeDefined();
    const c = io();
    const follow = logsMain(['--admin', closing.admin, '-f'], { io: c.io, signal: new AbortController().signal });
    await new Promise((res) => setTimeout(res, 200));
    // the node stops (its admin server closes every client with 1001)
    await servers.pop()?.close();
    expect(await follow).toBe(1);
    expect(c.err.join('')).toMatch(/the node closed the connection \(1001 node stopping\)/);
  });

  it('usage: --help exits 0; an unknown flag or a bad --since exits 2 naming it', async () => {
    const h = io();
    expect(await logsMain(['--help'], { io: h.io })).toBe(0);
    expect(h.out.join('')).toMatch(/^Usage: halo logs \[-f\] \[--since T\] \[--node N\]/);
    const u = io();
    expect(await logsMain(['--colour'], { io: u.io })).toBe(2);
    expect(u.err.join('')).toMatch(/^HALO_ERR_CLI_USAGE: halo logs: .*--colour/);
    const s = io();
    expect(await logsMain(['--since', 'yesterday'], { io: s.io })).toBe(2);
    expect(s.err.join('')).toMatch(/^HALO_ERR_CLI_USAGE: --since: expected a duration/);
    const a = io();
    expect(await logsMain(['--admin', 'ftp://x'], { io: a.io })).toBe(2);
    expect(a.err.join('')).toMatch(/--admin: expected an http/);
  });

  it('eventsUrl: ws(s) URL of the cluster feed', () => {
    expect(eventsUrl('http://127.0.0.1:9797', 12.7)).toBe('ws://127.0.0.1:9797/events?cluster=1&since=12');
    expect(eventsUrl('https://[::1]:9797', 0)).toBe('wss://[::1]:9797/events?cluster=1&since=0');
  });
});

describe('GET /events?cluster=', () => {
  it('refuses a value other than 0 or 1 with 400; 0 is the node feed', async () => {
    const { admin } = await start();
    const base = admin.replace('http', 'ws');
    const status = (url: string) =>
      new Promise<number | 'open'>((resolve) => {
        const ws = new WebSocket(url);
        ws.on('unexpected-response', (_req, res) => {
          resolve(res.statusCode ?? 0);
          ws.terminate();
        });
        ws.on('message', () => {
          resolve('open');
          ws.close();
        });
        ws.on('error', () => undefined);
      });
    expect(await status(`${base}/events?cluster=yes`)).toBe(400);
    expect(await status(`${base}/events?cluster=0`)).toBe('open');
  });
});
