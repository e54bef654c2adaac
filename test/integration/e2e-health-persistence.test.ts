/**
 * Health checks and persistence through `halo run` with real demo-backend processes:
 * a backend killed mid-run is marked down (one log line with the cause) and traffic
 * moves off it, then back after rise; persisted clients keep their backend and are
 * re-balanced, not failed, when it dies.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Agent } from 'node:http';
import { freePort, killAll, startDemoBackend, startHalo, type DemoBackendProc, type Proc } from '../helpers/processes.js';
import { get, sleep, tally, until, type Reply } from '../helpers/http-client.js';

let halo: Proc | undefined;
afterEach(async () => {
  await halo?.kill('SIGKILL');
  halo = undefined;
});
afterAll(killAll);

const SECRET = 'an-e2e-cookie-secret-0123456789';

async function three(prefix: string): Promise<DemoBackendProc[]> {
  return Promise.all([1, 2, 3].map((i) => startDemoBackend(`${prefix}${i}`)));
}

function backendList(list: DemoBackendProc[]) {
  return list.map((b) => ({ name: b.name, address: '127.0.0.1', port: b.http }));
}

async function burst(port: number, n: number, opts: { localAddress?: string; headers?: Record<string, string> } = {}): Promise<Reply[]> {
  const agent = new Agent({ keepAlive: false });
  const out: Reply[] = [];
  try {
    for (let i = 0; i < n; i++) out.push(await get(port, '/', { agent, ...opts }));
  } finally {
    agent.destroy();
  }
  return out;
}

describe.each([
  { mode: 'http', check: { type: 'http', path: '/healthz' } },
  { mode: 'tcp', check: { type: 'tcp' } },
])('a $mode service with a $check.type health check', ({ mode, check }) => {
  it('marks a killed backend down with its cause, moves traffic off, and back after rise', async () => {
    const list = await three(`${mode}-${check.type}-`);
    const victim = list[1]!;
    const port = await freePort();
    halo = await startHalo({
      services: [
        {
          name: 'svc',
          mode,
          listen: { address: '127.0.0.1', port },
          backends: backendList(list),
          health_check: { ...check, interval_ms: 100, timeout_ms: 80, rise: 2, fall: 2 },
        },
      ],
    });
    expect(Object.keys(tally(await burst(port, 9))).sort()).toEqual(list.map((b) => b.name).sort());

    await victim.kill('SIGKILL');
    const down = await halo.waitFor((e) => e['message'] === 'backend_down' && e['backend'] === victim.name, 5000);
    expect(String(down['cause'])).toMatch(/ECONNREFUSED/);
    expect(down['service']).toBe('svc');
    const after = await burst(port, 12);
    expect(after.every((r) => r.status === 200)).toBe(true);
    expect(tally(after)[victim.name]).toBeUndefined();

    const back = await startDemoBackend(victim.name, { http: victim.http });
    await halo.waitFor((e) => e['message'] === 'backend_up' && e['backend'] === victim.name, 5000);
    expect(tally(await burst(port, 12))[victim.name]).toBeGreaterThan(0);
    expect(halo.events.filter((e) => e['message'] === 'backend_down' && e['backend'] === victim.name)).toHaveLength(1);
    await back.kill('SIGKILL');
  });
});

describe('persistence through halo run', () => {
  it('source_ip keeps each client on its backend, and re-balances the clients of a dead one', async () => {
    const list = await three('sip');
    const port = await freePort();
    halo = await startHalo({
      services: [
        {
          name: 'sticky',
          mode: 'tcp',
          listen: { address: '127.0.0.1', port },
          algorithm: 'round_robin',
          backends: backendList(list),
          health_check: { type: 'tcp', interval_ms: 100, timeout_ms: 80, rise: 2, fall: 2 },
          persistence: { type: 'source_ip', ttl_ms: 60_000 },
        },
      ],
    });
    const clients = Array.from({ length: 12 }, (_, i) => `127.0.20.${i + 1}`);
    const first = new Map<string, string>();
    for (const c of clients) first.set(c, String((await get(port, '/', { localAddress: c })).headers['x-backend']));
    expect(new Set(first.values()).size).toBe(3); // round robin spread the first visits
    for (const c of clients) {
      for (const r of await burst(port, 3, { localAddress: c })) expect(r.headers['x-backend']).toBe(first.get(c));
    }

    const victim = list[0]!;
    await victim.kill('SIGKILL');
    await halo.waitFor((e) => e['message'] === 'backend_down' && e['backend'] === victim.name, 5000);
    for (const c of clients) {
      const r = await get(port, '/', { localAddress: c });
      expect(r.status).toBe(200);
      if (first.get(c) === victim.name) expect(r.headers['x-backend']).not.toBe(victim.name);
      else expect(r.headers['x-backend']).toBe(first.get(c));
    }
  });

  it('cookie keeps a client on its backend; a forged cookie is ignored; a dead backend re-balances', async () => {
    const list = await three('ck');
    const port = await freePort();
    halo = await startHalo(
      {
        services: [
          {
            name: 'web',
            mode: 'http',
            listen: { address: '127.0.0.1', port },
            backends: backendList(list),
            health_check: { type: 'http', interval_ms: 100, timeout_ms: 80, rise: 2, fall: 2 },
            persistence: { type: 'cookie', cookie_name: 'SRV', secret_env: 'E2E_SECRET', ttl_ms: 60_000 },
          },
        ],
      },
      { E2E_SECRET: SECRET },
    );
    const first = await get(port, '/');
    const setCookie = String(first.headers['set-cookie'] ?? '');
    expect(setCookie).toMatch(/^SRV=[^;]+;.*HttpOnly/);
    const cookie = setCookie.split(';')[0]!;
    const mine = String(first.headers['x-backend']);
    for (const r of await burst(port, 10, { headers: { cookie } })) {
      expect(r.headers['x-backend']).toBe(mine);
      expect(r.headers['set-cookie']).toBeUndefined();
    }
    const other = list.find((b) => b.name !== mine)!.name;
    const forged = cookie.replace(mine, other);
    const spread = tally(await burst(port, 9, { headers: { cookie: forged } }));
    expect(Object.keys(spread).length).toBeGreaterThan(1); // balanced as new clients

    const victim = list.find((b) => b.name === mine)!;
    await victim.kill('SIGKILL');
    await halo.waitFor((e) => e['message'] === 'backend_down' && e['backend'] === mine, 5000);
    const moved = await get(port, '/', { headers: { cookie } });
    expect(moved.status).toBe(200);
    expect(moved.headers['x-backend']).not.toBe(mine);
    expect(String(moved.headers['set-cookie'] ?? '')).toMatch(/^SRV=/);
  });
});

describe('service health', () => {
  it('says so when no backend is healthy, and answers 503', async () => {
    const list = await three('none');
    const port = await freePort();
    halo = await startHalo({
      services: [
        {
          name: 'lonely',
          mode: 'http',
          listen: { address: '127.0.0.1', port },
          backends: backendList(list),
          health_check: { type: 'tcp', interval_ms: 100, timeout_ms: 80, rise: 1, fall: 1 },
        },
      ],
    });
    await Promise.all(list.map((b) => b.kill('SIGKILL')));
    const down = await halo.waitFor((e) => e['message'] === 'service_down', 5000);
    expect(down['service']).toBe('lonely');
    expect(down['cause']).toBe('no healthy backend');
    expect(await until(async () => (await get(port, '/')).status === 503, 3000)).toBe(true);
    const r = await get(port, '/');
    expect(r.body).toMatch(/lonely/);
    await sleep(10);
  });
});
