/**
 * Every algorithm's distribution through the real proxy: `halo run` in its own process,
 * real `halo demo-backend` processes, requests over 127.0.0.1. Statistical bounds, no
 * timing assertions.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from 'node:http';
import { freePort, killAll, startDemoBackend, startHalo, type DemoBackendProc, type Proc } from '../helpers/processes.js';
import { get, tally, type Reply } from '../helpers/http-client.js';

let fast: DemoBackendProc[] = [];
let halo: Proc | undefined;

beforeAll(async () => {
  fast = await Promise.all(['b1', 'b2', 'b3'].map((n) => startDemoBackend(n)));
});
afterEach(async () => {
  await halo?.kill('SIGKILL');
  halo = undefined;
});
afterAll(killAll);

function backends(list: DemoBackendProc[], weights: number[] = []) {
  return list.map((b, i) => ({ name: b.name, address: '127.0.0.1', port: b.http, weight: weights[i] ?? 1 }));
}

async function httpService(algorithm: string, list: DemoBackendProc[], weights: number[] = [], extra: Record<string, unknown> = {}) {
  const port = await freePort();
  halo = await startHalo({
    node: { name: 'e2e' },
    services: [{ name: 'web', mode: 'http', listen: { address: '127.0.0.1', port }, algorithm, backends: backends(list, weights), health_check: { type: 'none' }, ...extra }],
  });
  return port;
}

async function sequential(port: number, n: number, path = '/'): Promise<Reply[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const out: Reply[] = [];
  try {
    for (let i = 0; i < n; i++) out.push(await get(port, path, { agent }));
  } finally {
    agent.destroy();
  }
  return out;
}

async function concurrent(port: number, n: number, width: number, path = '/'): Promise<Reply[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: width });
  try {
    return await Promise.all(Array.from({ length: n }, () => get(port, path, { agent, timeoutMs: 15_000 })));
  } finally {
    agent.destroy();
  }
}

describe('balancing through halo run', () => {
  it('round_robin gives each backend an equal share', async () => {
    const port = await httpService('round_robin', fast);
    const replies = await sequential(port, 300);
    expect(tally(replies)).toEqual({ b1: 100, b2: 100, b3: 100 });
    // The backend sees who the client was.
    expect(replies[0]!.headers['x-seen-forwarded-for']).toBe('127.0.0.1');
    expect(replies[0]!.headers['x-seen-forwarded-proto']).toBe('http');
    expect(replies[0]!.headers['x-seen-forwarded']).toMatch(/^for=127\.0\.0\.1;proto=http;host=/);
  });

  it('weighted_round_robin follows the weights 1:2:3', async () => {
    const port = await httpService('weighted_round_robin', fast, [1, 2, 3]);
    const t = tally(await sequential(port, 600));
    expect(t).toEqual({ b1: 100, b2: 200, b3: 300 });
  });

  it('least_connections sends less to a slow backend under concurrency', async () => {
    const slow = await startDemoBackend('slow', { delayMs: 150 });
    const port = await httpService('least_connections', [fast[0]!, fast[1]!, slow]);
    const t = tally(await concurrent(port, 240, 12));
    expect((t['b1'] ?? 0) + (t['b2'] ?? 0) + (t['slow'] ?? 0)).toBe(240);
    // Round robin would give the slow one 80; it holds its connections longer, so it gets far fewer.
    expect(t['slow'] ?? 0).toBeLessThan(50);
    expect(t['slow'] ?? 0).toBeGreaterThan(0);
  });

  it('fastest_response prefers the backends that answer quickly', async () => {
    const slow = await startDemoBackend('slow2', { delayMs: 60 });
    const port = await httpService('fastest_response', [fast[0]!, fast[1]!, slow]);
    const t = tally(await sequential(port, 200));
    expect((t['b1'] ?? 0) + (t['b2'] ?? 0)).toBeGreaterThan(170);
    expect(t['slow2'] ?? 0).toBeGreaterThan(0); // still sampled now and then
  });

  it('bandwidth steers new requests away from a backend moving many bytes', async () => {
    const port = await httpService('bandwidth', fast);
    // One large download lands on some backend; for the next seconds its bytes/s is highest.
    const big = await get(port, '/?size=8000000', { timeoutMs: 20_000 });
    expect(big.status).toBe(200);
    const heavy = String(big.headers['x-backend']);
    const t = tally(await sequential(port, 60));
    expect(t[heavy] ?? 0).toBeLessThan(10);
    expect(Object.keys(t).length).toBeGreaterThanOrEqual(2);
  });

  it('source_hash maps each client address to one backend and spreads clients', async () => {
    const port = await freePort();
    halo = await startHalo({
      services: [{ name: 'tcp', mode: 'tcp', listen: { address: '127.0.0.1', port }, algorithm: 'source_hash', backends: backends(fast), health_check: { type: 'none' } }],
    });
    const byClient = new Map<string, Set<string>>();
    const perBackend: Record<string, number> = {};
    for (let i = 1; i <= 60; i++) {
      const localAddress = `127.0.${Math.floor(i / 250) + 10}.${(i % 250) + 1}`;
      for (let k = 0; k < 3; k++) {
        const r = await get(port, '/', { localAddress });
        const b = String(r.headers['x-backend']);
        if (!byClient.has(localAddress)) byClient.set(localAddress, new Set());
        byClient.get(localAddress)!.add(b);
        if (k === 0) perBackend[b] = (perBackend[b] ?? 0) + 1;
      }
    }
    for (const set of byClient.values()) expect(set.size).toBe(1);
    expect(Object.keys(perBackend).sort()).toEqual(['b1', 'b2', 'b3']);
    for (const n of Object.values(perBackend)) expect(n).toBeGreaterThanOrEqual(8);
  });
});
