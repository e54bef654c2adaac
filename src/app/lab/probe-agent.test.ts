import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { ProbeSample } from './outages.js';
import { runProbeAgent } from './probe-agent.js';

let server: Server | undefined;

afterEach(async () => {
  await new Promise<void>((r) => (server === undefined ? r() : server.close(() => r())));
  server = undefined;
});

async function listen(handler: Parameters<typeof createServer>[1]): Promise<number> {
  server = createServer(handler);
  await new Promise<void>((r) => server?.listen(0, '127.0.0.1', r));
  return (server?.address() as AddressInfo).port;
}

function busyFor(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // A stalled probe: nothing of this process runs, the kernel still takes the connection.
  }
}

describe('probe agent', () => {
  it('a server that answers is a success; one that never answers is a timeout', async () => {
    const port = await listen((req, res) => {
      if (req.url === '/') res.writeHead(200, { 'x-backend': 'be1' }).end('ok');
    });
    const lines: string[] = [];
    const summary = await runProbeAgent({ host: '127.0.0.1', port, durationMs: 30, intervalMs: 10, timeoutMs: 100, write: (l) => lines.push(l) });
    const samples = lines.slice(0, -1).map((l) => JSON.parse(l) as ProbeSample);
    expect(summary.attempts).toBe(3);
    expect(samples.every((s) => s.ok && s.backend === 'be1')).toBe(true);

    server?.close();
    const silent = await listen(() => undefined);
    const out: string[] = [];
    await runProbeAgent({ host: '127.0.0.1', port: silent, durationMs: 10, intervalMs: 10, timeoutMs: 50, write: (l) => out.push(l) });
    expect(JSON.parse(out[0] ?? '{}')).toMatchObject({ ok: false, error: 'timeout' });
  });

  it('the probe stalling past its own timeout is not counted against the server (the stall is given back)', async () => {
    const port = await listen((_req, res) => res.writeHead(200).end('ok'));
    const lines: string[] = [];
    const run = runProbeAgent({ host: '127.0.0.1', port, durationMs: 10, intervalMs: 10, timeoutMs: 100, write: (l) => lines.push(l) });
    // The first attempt has started (its connect is in flight); now this process stops for 250 ms.
    await new Promise((r) => setImmediate(r));
    busyFor(250);
    await run;
    const first = JSON.parse(lines[0] ?? '{}') as ProbeSample;
    expect(first.ok, JSON.stringify(first)).toBe(true);
    expect(first.ms).toBeGreaterThanOrEqual(250);
  });
});
