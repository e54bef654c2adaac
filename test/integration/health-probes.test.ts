/**
 * The three health probes against real servers on 127.0.0.1 (ephemeral ports).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { httpProbe, MAX_BODY_BYTES } from '../../src/adapters/probes/http.js';
import { closeIcmpSocket, icmpProbe } from '../../src/adapters/probes/icmp.js';
import { tcpProbe } from '../../src/adapters/probes/tcp.js';

const HOST = '127.0.0.1';

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, () => resolve((server.address() as net.AddressInfo).port));
  });
}

function close(server: net.Server): Promise<void> {
  if (server instanceof http.Server) server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** A port that nothing listens on: bind one, read it back, close it. */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  const port = await listen(s);
  await close(s);
  return port;
}

describe('tcp probe', () => {
  const servers: net.Server[] = [];
  let child: ChildProcess | undefined;

  afterEach(async () => {
    await Promise.all(servers.splice(0).map(close));
    child?.kill('SIGKILL');
    child = undefined;
  });

  it('is ok when the port accepts', async () => {
    const server = net.createServer((s) => s.destroy());
    servers.push(server);
    const port = await listen(server);
    const r = await tcpProbe({ address: HOST, port }, { timeoutMs: 2000 });
    expect(r).toMatchObject({ ok: true, cause: 'connected' });
    expect(r.ms).toBeGreaterThanOrEqual(0);
  });

  it('fails with connect ECONNREFUSED on a closed port', async () => {
    const r = await tcpProbe({ address: HOST, port: await closedPort() }, { timeoutMs: 2000 });
    expect(r).toMatchObject({ ok: false, cause: 'connect ECONNREFUSED' });
  });

  it('fails with a timeout when the listener never accepts (full accept queue)', async () => {
    // A child listens with backlog 1 and then blocks its event loop, so it never
    // accepts: once the kernel's accept queue is full, SYNs are dropped and connect hangs.
    const code = [
      "const s = require('net').createServer().listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {",
      "  process.stdout.write(s.address().port + '\\n');",
      '  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20000);',
      '});',
    ].join('\n');
    const proc = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    child = proc;
    const port = await new Promise<number>((resolve, reject) => {
      proc.once('error', reject);
      proc.stdout?.once('data', (d: Buffer) => resolve(Number(String(d).trim())));
    });
    let timedOut: { ok: boolean; cause: string } | undefined;
    for (let i = 0; i < 16 && timedOut === undefined; i += 1) {
      const r = await tcpProbe({ address: HOST, port }, { timeoutMs: 300 });
      if (!r.ok) timedOut = r;
    }
    expect(timedOut).toMatchObject({ ok: false, cause: 'timeout after 300 ms' });
  });

  it('ends at once with cause aborted when the signal fires', async () => {
    const server = net.createServer((s) => s.destroy());
    servers.push(server);
    const port = await listen(server);
    const ac = new AbortController();
    ac.abort();
    expect(await tcpProbe({ address: HOST, port }, { timeoutMs: 2000 }, ac.signal)).toMatchObject({ ok: false, cause: 'aborted' });
  });

  it('never rejects on a bad port number', async () => {
    const r = await tcpProbe({ address: HOST, port: 70000 }, { timeoutMs: 500 });
    expect(r.ok).toBe(false);
    expect(r.cause).toMatch(/^connect /);
  });
});

describe('http probe', () => {
  let server: http.Server;
  let port: number;

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      switch (req.url) {
        case '/ok':
          res.end('all ok here');
          return;
        case '/redirect':
          res.writeHead(302, { location: '/ok' }).end();
          return;
        case '/fail':
          res.writeHead(500).end('broken');
          return;
        case '/host':
          res.end(`host=${req.headers.host ?? ''} connection=${req.headers.connection ?? ''}`);
          return;
        case '/big':
          // the marker sits past the 64 KiB the probe reads
          res.end('x'.repeat(MAX_BODY_BYTES + 10) + 'marker');
          return;
        case '/split':
          // the marker is split across two chunks
          res.write('aaa mar');
          setTimeout(() => res.end('ker bbb'), 20);
          return;
        case '/slow-body':
          // head at once, body never finishes
          res.writeHead(200);
          res.write('partial');
          return;
        case '/hang':
          return; // never answers
        default:
          res.writeHead(404).end();
      }
    });
    port = await listen(server);
  });

  afterAll(async () => {
    await close(server);
  });

  const target = () => ({ address: HOST, port });

  it('is ok when the status is in range', async () => {
    expect(await httpProbe(target(), { timeoutMs: 2000, path: '/ok', expectStatus: [200, 299] })).toMatchObject({ ok: true, cause: 'status 200' });
    expect(await httpProbe(target(), { timeoutMs: 2000, path: '/redirect' })).toMatchObject({ ok: true, cause: 'status 302' });
  });

  it('fails when the status is out of range', async () => {
    expect(await httpProbe(target(), { timeoutMs: 2000, path: '/fail', expectStatus: [200, 399] })).toMatchObject({
      ok: false,
      cause: 'status 500 not in 200-399',
    });
    expect(await httpProbe(target(), { timeoutMs: 2000, path: '/redirect', expectStatus: [200, 299] })).toMatchObject({
      ok: false,
      cause: 'status 302 not in 200-299',
    });
  });

  it('checks the body for a substring', async () => {
    expect(await httpProbe(target(), { timeoutMs: 2000, path: '/ok', expectBody: 'ok here' })).toMatchObject({ ok: true, cause: 'status 200, body has "ok here"' });
    expect(await httpProbe(target(), { timeoutMs: 2000, path: '/ok', expectBody: 'nope' })).toMatchObject({ ok: false, cause: 'body lacks "nope"' });
  });

  it('finds a substring split across chunks', async () => {
    expect(await httpProbe(target(), { timeoutMs: 2000, path: '/split', expectBody: 'marker' })).toMatchObject({ ok: true });
  });

  it('reads at most 64 KiB of body', async () => {
    const r = await httpProbe(target(), { timeoutMs: 2000, path: '/big', expectBody: 'marker' });
    expect(r.ok).toBe(false);
    expect(r.cause).toMatch(/^body lacks "marker"/);
  });

  it('sends the Host header (configured, or the address) and Connection: close', async () => {
    expect(await httpProbe(target(), { timeoutMs: 2000, path: '/host', expectBody: 'host=app.example connection=close' })).toMatchObject({ ok: false });
    expect(await httpProbe(target(), { timeoutMs: 2000, path: '/host', host: 'app.example', expectBody: 'host=app.example connection=close' })).toMatchObject({ ok: true });
    expect(await httpProbe(target(), { timeoutMs: 2000, path: '/host', expectBody: `host=${HOST}:${port} connection=close` })).toMatchObject({ ok: true });
  });

  it('times out when the server never answers', async () => {
    expect(await httpProbe(target(), { timeoutMs: 300, path: '/hang' })).toMatchObject({ ok: false, cause: 'timeout after 300 ms' });
  });

  it('the timeout covers the body too', async () => {
    expect(await httpProbe(target(), { timeoutMs: 300, path: '/slow-body', expectBody: 'never' })).toMatchObject({ ok: false, cause: 'timeout after 300 ms' });
  });

  it('fails with connect ECONNREFUSED on a closed port', async () => {
    expect(await httpProbe({ address: HOST, port: await closedPort() }, { timeoutMs: 2000, path: '/ok' })).toMatchObject({ ok: false, cause: 'connect ECONNREFUSED' });
  });

  it('fails, without rejecting, when the peer is not HTTP', async () => {
    // resume(): an unread request would keep the socket from ever seeing the client's FIN.
    const junk = net.createServer((s) => s.resume().end('SSH-2.0-not-http\r\n\r\n'));
    const junkPort = await listen(junk);
    try {
      const r = await httpProbe({ address: HOST, port: junkPort }, { timeoutMs: 2000, path: '/ok' });
      expect(r.ok).toBe(false);
      expect(r.cause).toMatch(/^http /);
    } finally {
      await close(junk);
    }
  });

  it('fails, without rejecting, on a path node:http refuses', async () => {
    const r = await httpProbe(target(), { timeoutMs: 2000, path: '/bad path' });
    expect(r.ok).toBe(false);
    expect(r.cause).toMatch(/^request /);
  });

  it('ends with cause aborted when the signal fires mid-request', async () => {
    const ac = new AbortController();
    const pending = httpProbe(target(), { timeoutMs: 5000, path: '/hang' }, ac.signal);
    setTimeout(() => ac.abort(), 50);
    expect(await pending).toMatchObject({ ok: false, cause: 'aborted' });
  });
});

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('skipping icmp probe tests: raw sockets need root (CAP_NET_RAW) and this process is not root');

describe.skipIf(!isRoot)('icmp probe (needs root)', () => {
  afterAll(() => {
    closeIcmpSocket();
  });

  it('gets an echo reply from 127.0.0.1', async () => {
    expect(await icmpProbe({ address: HOST, port: 0 }, { timeoutMs: 2000 })).toMatchObject({ ok: true, cause: 'echo reply' });
  });

  it('matches concurrent probes on the shared socket to their own replies', async () => {
    const results = await Promise.all(Array.from({ length: 10 }, () => icmpProbe({ address: HOST, port: 0 }, { timeoutMs: 2000 })));
    expect(results.map((r) => r.cause)).toEqual(Array.from({ length: 10 }, () => 'echo reply'));
  });

  it('refuses IPv6 targets without rejecting', async () => {
    expect(await icmpProbe({ address: '::1', port: 0 }, { timeoutMs: 500 })).toMatchObject({ ok: false, cause: 'icmp supports IPv4 targets only' });
  });

  it('ends with cause aborted when the signal is already aborted', async () => {
    const ac = new AbortController();
    ac.abort();
    expect(await icmpProbe({ address: HOST, port: 0 }, { timeoutMs: 500 }, ac.signal)).toMatchObject({ ok: false, cause: 'aborted' });
  });

  it('works again after the shared socket was closed', async () => {
    closeIcmpSocket();
    expect(await icmpProbe({ address: HOST, port: 0 }, { timeoutMs: 2000 })).toMatchObject({ ok: true });
  });
});
