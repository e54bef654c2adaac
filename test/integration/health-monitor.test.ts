/**
 * HealthMonitor with real timers: against a real HTTP backend on 127.0.0.1, and with
 * injected probes for scheduling properties (spread, one probe in flight, stop).
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import type net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { serviceSchema, type ServiceConfig } from '../../src/config/schema.js';
import { HealthMonitor } from '../../src/adapters/health-monitor.js';
import type { LogFields, Logger } from '../../src/adapters/logger.js';
import { httpProbe } from '../../src/adapters/probes/http.js';
import { ICMP_NEEDS_ROOT } from '../../src/adapters/probes/icmp.js';
import type { ProbeFn, ProbeResult, ProbeTarget } from '../../src/adapters/probes/probe.js';

const HOST = '127.0.0.1';

interface LogCall {
  level: 'error' | 'warn' | 'info' | 'debug';
  event: string;
  fields: LogFields;
}

function recordingLogger(calls: LogCall[]): Logger {
  const logger: Logger = {
    error: (event, fields = {}) => void calls.push({ level: 'error', event, fields }),
    warn: (event, fields = {}) => void calls.push({ level: 'warn', event, fields }),
    info: (event, fields = {}) => void calls.push({ level: 'info', event, fields }),
    debug: (event, fields = {}) => void calls.push({ level: 'debug', event, fields }),
    child: () => logger,
    setLevel: () => {},
  };
  return logger;
}

function service(overrides: Record<string, unknown>): ServiceConfig {
  return serviceSchema.parse({
    name: 'web',
    mode: 'http',
    listen: { port: 8080 },
    ...overrides,
  });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Poll until cond() holds; bounded in time and in iterations. */
async function waitFor(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const step = 20;
  for (let i = 0; i * step < timeoutMs; i += 1) {
    if (cond()) return;
    await sleep(step);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

function listen(server: http.Server, port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, HOST, () => resolve((server.address() as net.AddressInfo).port));
  });
}

function close(server: http.Server): Promise<void> {
  if (!server.listening) return Promise.resolve();
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

const monitors: HealthMonitor[] = [];
const servers: http.Server[] = [];

afterEach(async () => {
  await Promise.all(monitors.splice(0).map((m) => m.stop()));
  await Promise.all(servers.splice(0).map(close));
});

describe('HealthMonitor against a real http backend', () => {
  it('goes down after fall failed checks, up again after rise, one log line and one onChange per change', async () => {
    const handler = (_req: http.IncomingMessage, res: http.ServerResponse) => void res.end('ok');
    const first = http.createServer(handler);
    servers.push(first);
    const port = await listen(first);

    const calls: LogCall[] = [];
    const changes: Array<{ pool: string; backend: string; up: boolean; cause: string; probes: number }> = [];
    let probeCalls = 0;
    const countingHttp: ProbeFn = (target, opts, signal) => {
      probeCalls += 1;
      return httpProbe(target, opts, signal);
    };
    const monitor: HealthMonitor = new HealthMonitor({
      service: service({
        backends: [{ name: 'web1', address: HOST, port }],
        health_check: { type: 'http', interval_ms: 100, timeout_ms: 500, rise: 2, fall: 2, path: '/', expect_body: 'ok' },
      }),
      logger: recordingLogger(calls),
      onChange: (pool, backend, up, cause) => {
        changes.push({ pool, backend, up, cause, probes: monitor.states()[0]?.probes ?? -1 });
      },
      probes: { http: countingHttp },
    });
    monitors.push(monitor);

    expect(monitor.states()).toEqual([
      expect.objectContaining({ pool: 'default', backend: 'web1', address: HOST, port, up: true, cause: 'not checked yet', probes: 0 }),
    ]);
    monitor.start();
    await waitFor('two passing checks', () => (monitor.states()[0]?.probes ?? 0) >= 2);
    expect(changes).toEqual([]);
    expect(monitor.states()[0]).toMatchObject({ up: true, cause: 'status 200, body has "ok"', checks: '2/2' });
    expect(monitor.states()[0]?.ms).toBeGreaterThanOrEqual(0);

    // The backend dies.
    const probesAtClose = monitor.states()[0]?.probes ?? 0;
    await close(first);
    await waitFor('backend down', () => changes.length === 1);
    expect(changes[0]).toMatchObject({ pool: 'default', backend: 'web1', up: false, cause: 'connect ECONNREFUSED' });
    // fall = 2 failures; one more if a check was already past connect when the server closed.
    const failedChecks = (changes[0]?.probes ?? 0) - probesAtClose;
    expect(failedChecks).toBeGreaterThanOrEqual(2);
    expect(failedChecks).toBeLessThanOrEqual(3);
    expect(monitor.states()[0]).toMatchObject({ up: false, cause: 'connect ECONNREFUSED', checks: '0/2' });

    // It comes back on the same port.
    const second = http.createServer(handler);
    servers.push(second);
    await listen(second, port);
    const probesAtRestart = monitor.states()[0]?.probes ?? 0;
    await waitFor('backend up', () => changes.length === 2);
    expect(changes[1]).toMatchObject({ pool: 'default', backend: 'web1', up: true, cause: 'status 200, body has "ok"' });
    const passedChecks = (changes[1]?.probes ?? 0) - probesAtRestart;
    expect(passedChecks).toBeGreaterThanOrEqual(2);
    expect(passedChecks).toBeLessThanOrEqual(3);

    // Exactly one line per change, with the fields operators grep for.
    const transitions = calls.filter((c) => c.event === 'backend_down' || c.event === 'backend_up');
    expect(transitions).toEqual([
      {
        level: 'warn',
        event: 'backend_down',
        fields: { service: 'web', pool: 'default', backend: 'web1', address: `${HOST}:${port}`, cause: 'connect ECONNREFUSED', checks: '0/2' },
      },
      {
        level: 'info',
        event: 'backend_up',
        fields: { service: 'web', pool: 'default', backend: 'web1', address: `${HOST}:${port}`, cause: 'status 200, body has "ok"', checks: '2/2' },
      },
    ]);

    // stop(): no probe afterwards (that no handle is left is checked in a child process below).
    await monitor.stop();
    await close(second);
    const callsAtStop = probeCalls;
    await sleep(350);
    expect(probeCalls).toBe(callsAtStop);
  });
});

describe('HealthMonitor stop()', () => {
  it('leaves nothing behind: a process that ran monitors exits by itself after stop()', async () => {
    const fixture = new URL('./fixtures/health-monitor-exit.ts', import.meta.url).pathname;
    const child = spawn(process.execPath, ['--import', 'tsx', fixture], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += String(d)));
    child.stderr.on('data', (d: Buffer) => (err += String(d)));
    let guard: NodeJS.Timeout | undefined;
    try {
      const code = await new Promise<number | string>((resolve) => {
        guard = setTimeout(() => resolve('still running 15 s later'), 15_000);
        child.once('exit', (c, signal) => resolve(c ?? String(signal)));
      });
      expect({ code, err }).toEqual({ code: 0, err: '' });
      const counts = JSON.parse(out) as { http: number; icmp: number };
      expect(counts.http).toBeGreaterThanOrEqual(3);
      expect(counts.icmp).toBeGreaterThanOrEqual(3);
    } finally {
      clearTimeout(guard);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
});

describe('HealthMonitor scheduling (injected probes)', () => {
  const ok: ProbeResult = { ok: true, ms: 1, cause: 'fake ok' };

  it('type none: no probe ever runs and every backend stays up', async () => {
    let calls = 0;
    const fake: ProbeFn = async () => {
      calls += 1;
      return ok;
    };
    const monitor = new HealthMonitor({
      service: service({ backends: [{ name: 'a', address: HOST, port: 1 }], health_check: { type: 'none', interval_ms: 50 } }),
      logger: recordingLogger([]),
      onChange: () => {
        throw new Error('no change expected');
      },
      probes: { tcp: fake, http: fake, icmp: fake },
    });
    monitors.push(monitor);
    monitor.start();
    await sleep(200);
    expect(calls).toBe(0);
    expect(monitor.states()).toEqual([expect.objectContaining({ backend: 'a', up: true, cause: 'no health check', probes: 0 })]);
  });

  it('checks every backend of every pool, on health_check.port when set', async () => {
    const seen = new Set<string>();
    const fake: ProbeFn = async (t: ProbeTarget) => {
      seen.add(`${t.address}:${t.port}`);
      return ok;
    };
    const monitor = new HealthMonitor({
      service: service({
        backends: [{ name: 'a', address: '127.0.0.1', port: 1001 }],
        pools: [{ name: 'api', backends: [{ name: 'b', address: '127.0.0.2', port: 1002 }] }],
        health_check: { type: 'tcp', interval_ms: 50, port: 9000 },
      }),
      logger: recordingLogger([]),
      onChange: () => {},
      probes: { tcp: fake },
    });
    monitors.push(monitor);
    monitor.start();
    await waitFor('both backends probed', () => seen.size === 2);
    expect([...seen].sort()).toEqual(['127.0.0.1:9000', '127.0.0.2:9000']);
    expect(monitor.states().map((s) => [s.pool, s.backend, s.port])).toEqual([
      ['default', 'a', 9000],
      ['api', 'b', 9000],
    ]);
  });

  it('spreads first checks over the interval (jitter source decides the order)', async () => {
    const order: number[] = [];
    const fake: ProbeFn = async (t) => {
      order.push(t.port);
      return ok;
    };
    // First backend starts late in the interval, second at once.
    const starts = [0.9, 0];
    const monitor = new HealthMonitor({
      service: service({
        backends: [
          { name: 'late', address: HOST, port: 1 },
          { name: 'early', address: HOST, port: 2 },
        ],
        health_check: { type: 'tcp', interval_ms: 300 },
      }),
      logger: recordingLogger([]),
      onChange: () => {},
      probes: { tcp: fake },
      random: () => starts.shift() ?? 0.5,
    });
    monitors.push(monitor);
    monitor.start();
    await waitFor('both probed once', () => order.length >= 2);
    expect(order.slice(0, 2)).toEqual([2, 1]);
  });

  it('never runs more than one probe per backend at a time, even when probes outlast the interval', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    let calls = 0;
    const slow: ProbeFn = async () => {
      calls += 1;
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await sleep(150);
      inFlight -= 1;
      return ok;
    };
    const monitor = new HealthMonitor({
      service: service({ backends: [{ name: 'a', address: HOST, port: 1 }], health_check: { type: 'tcp', interval_ms: 50, timeout_ms: 1000 } }),
      logger: recordingLogger([]),
      onChange: () => {},
      probes: { tcp: slow },
    });
    monitors.push(monitor);
    monitor.start();
    await waitFor('three probes', () => calls >= 3);
    expect(maxInFlight).toBe(1);
  });

  it('stop() aborts the probe in flight, resolves, and the aborted result changes nothing', async () => {
    let signalSeen: AbortSignal | undefined;
    let started = false;
    const hanging: ProbeFn = (_t, _o, signal) =>
      new Promise<ProbeResult>((resolve) => {
        started = true;
        signalSeen = signal;
        const guard = setTimeout(() => resolve({ ok: false, ms: 5000, cause: 'guard' }), 5000);
        signal?.addEventListener('abort', () => {
          clearTimeout(guard);
          resolve({ ok: false, ms: 1, cause: 'aborted' });
        });
      });
    const changes: boolean[] = [];
    const monitor = new HealthMonitor({
      service: service({ backends: [{ name: 'a', address: HOST, port: 1 }], health_check: { type: 'tcp', interval_ms: 50, rise: 1, fall: 1 } }),
      logger: recordingLogger([]),
      onChange: (_p, _b, up) => void changes.push(up),
      probes: { tcp: hanging },
    });
    monitor.start();
    await waitFor('probe started', () => started);
    await monitor.stop();
    expect(signalSeen?.aborted).toBe(true);
    expect(changes).toEqual([]);
    expect(monitor.states()[0]).toMatchObject({ up: true, probes: 0 });
  });

  it('a dead backend with fall=3 is down after exactly 3 failed checks', async () => {
    let calls = 0;
    const failing: ProbeFn = async () => {
      calls += 1;
      return { ok: false, ms: 1, cause: 'connect ECONNREFUSED' };
    };
    let callsAtChange = -1;
    const monitor = new HealthMonitor({
      service: service({ backends: [{ name: 'a', address: HOST, port: 1 }], health_check: { type: 'tcp', interval_ms: 50, rise: 2, fall: 3 } }),
      logger: recordingLogger([]),
      onChange: () => {
        callsAtChange = calls;
      },
      probes: { tcp: failing },
    });
    monitors.push(monitor);
    monitor.start();
    await waitFor('down', () => callsAtChange !== -1);
    expect(callsAtChange).toBe(3);
  });

  it('logs an unusable icmp probe once, however many backends and checks', async () => {
    const noRoot: ProbeFn = async () => ({ ok: false, ms: 0, cause: `${ICMP_NEEDS_ROOT}: Operation not permitted` });
    const calls: LogCall[] = [];
    let probes = 0;
    const monitor = new HealthMonitor({
      service: service({
        backends: [
          { name: 'a', address: HOST, port: 1 },
          { name: 'b', address: HOST, port: 2 },
        ],
        health_check: { type: 'icmp', interval_ms: 50, fall: 2 },
      }),
      logger: recordingLogger(calls),
      onChange: () => {},
      probes: {
        icmp: async (...args) => {
          probes += 1;
          return noRoot(...args);
        },
      },
    });
    monitors.push(monitor);
    monitor.start();
    await waitFor('several checks', () => probes >= 6);
    expect(calls.filter((c) => c.event === 'health_check_unavailable')).toHaveLength(1);
    expect(calls.filter((c) => c.event === 'backend_down').map((c) => c.fields['address'])).toEqual([HOST, HOST]);
  });

  it('keeps checking when onChange throws', async () => {
    let calls = 0;
    const failing: ProbeFn = async () => {
      calls += 1;
      return { ok: false, ms: 1, cause: 'nope' };
    };
    const logs: LogCall[] = [];
    const monitor = new HealthMonitor({
      service: service({ backends: [{ name: 'a', address: HOST, port: 1 }], health_check: { type: 'tcp', interval_ms: 50, fall: 1 } }),
      logger: recordingLogger(logs),
      onChange: () => {
        throw new Error('listener bug');
      },
      probes: { tcp: failing },
    });
    monitors.push(monitor);
    monitor.start();
    await waitFor('checks go on after the throw', () => calls >= 3);
    expect(logs.filter((c) => c.event === 'health_on_change_failed')).toHaveLength(1);
  });
});

describe('HealthMonitor reachable() (fresh probes, outside the schedule)', () => {
  const twoBackends = { backends: [{ name: 'a', address: HOST, port: 1 }, { name: 'b', address: HOST, port: 2 }] };
  const make = (probe: ProbeFn, hc: Record<string, unknown> = { type: 'tcp' }) =>
    new HealthMonitor({ service: service({ ...twoBackends, health_check: hc }), logger: recordingLogger([]), onChange: () => undefined, probes: { tcp: probe, http: probe, icmp: probe } });

  it('is true as soon as one backend answers, and records nothing in the hysteresis', async () => {
    const probe: ProbeFn = async (t) => (t.port === 2 ? { ok: true, ms: 1, cause: 'fake ok' } : { ok: false, ms: 1, cause: 'refused' });
    const monitor = make(probe);
    expect(await monitor.reachable()).toBe(true);
    expect(monitor.states().map((s) => s.probes)).toEqual([0, 0]);
  });

  it('is false when no backend answers', async () => {
    const monitor = make(async () => ({ ok: false, ms: 1, cause: 'refused' }));
    expect(await monitor.reachable()).toBe(false);
  });

  it('is true for a service without health checks (it cannot tell)', async () => {
    let calls = 0;
    const monitor = make(async () => {
      calls += 1;
      return { ok: false, ms: 1, cause: 'refused' };
    }, { type: 'none' });
    expect(await monitor.reachable()).toBe(true);
    expect(calls).toBe(0);
  });
});
