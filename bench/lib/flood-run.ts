/**
 * One flood run, shared by `npm run bench:flood` and test/integration/flood.test.ts:
 * a real `halo run` (from dist/) with an HTTP, a TCP and a UDP service in front of a
 * demo backend, in its own namespace; a flooder and a well-behaved client in another.
 * Floods run one after the other; for each: halo's RSS before / peak / after (VmRSS,
 * VmHWM reset through clear_refs), the table sizes sampled from halo's /metrics against
 * their caps, limit counters, the legitimate client's success during the flood, and
 * the duration. Every phase is bounded in count and in time.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { shebangSettings } from './setup.js';
import { createFloodNet, REPO, run, spawnIn, startAgent, type Agent, type FloodNet, type NsProcess } from './flood-net.js';
import { parseMetrics, phaseRow, type LegitCounts, type MetricSample, type PhaseResult } from './flood-report.js';

export interface FloodParams {
  readonly udpSources: number;
  /** Spoofed datagrams per second; 0 = as fast as the raw socket takes them. */
  readonly udpRate: number;
  readonly maxFlows: number;
  readonly synCount: number;
  /** Split between the TCP and the HTTP service. */
  readonly idleConns: number;
  readonly maxConnections: number;
  readonly hugeHeaderRequests: number;
  readonly hugeHeaderBytes: number;
  readonly slowBodies: number;
  readonly slowloris: number;
  readonly headerTimeoutMs: number;
  readonly bodyTimeoutMs: number;
  readonly tcpIdleMs: number;
  readonly persistEntries: number;
}

export interface FloodResult {
  readonly phases: PhaseResult[];
  /** The legitimate client after every flood, and whether halo was still running. */
  readonly after: LegitCounts;
  readonly alive: boolean;
  readonly rssStartKb: number;
}

const PORTS = { http: 8080, tcp: 9000, udp: 5353, backendHttp: 9001, backendTcp: 9002, backendUdp: 9003 };
const SETTLE_MS = 2000;
const SAMPLE_MS = 500;

function haloConfig(p: FloodParams, runDir: string): string {
  const backend = (port: number) => [{ name: 'b1', address: '127.0.0.1', port }];
  const common = { listen: { address: '10.99.0.1' }, health_check: { type: 'none' }, algorithm: 'round_robin' };
  const timeouts = { idle_ms: p.tcpIdleMs, client_header_ms: p.headerTimeoutMs, client_body_ms: p.bodyTimeoutMs, drain_ms: 0 };
  return stringify({
    node: { name: 'flood', run_dir: runDir },
    log: { level: 'warn', format: 'json' },
    services: [
      { ...common, name: 'web', mode: 'http', listen: { address: '10.99.0.1', port: PORTS.http }, backends: backend(PORTS.backendHttp), timeouts, limits: { max_connections: p.maxConnections } },
      { ...common, name: 'echo', mode: 'tcp', listen: { address: '10.99.0.1', port: PORTS.tcp }, backends: backend(PORTS.backendTcp), timeouts, limits: { max_connections: p.maxConnections } },
      {
        ...common,
        name: 'dns',
        mode: 'udp',
        listen: { address: '10.99.0.1', port: PORTS.udp },
        backends: backend(PORTS.backendUdp),
        timeouts: { drain_ms: 0 },
        udp_flow_idle_ms: 30_000,
        persistence: { type: 'source_ip', max_entries: p.persistEntries },
        limits: { max_flows: p.maxFlows },
      },
    ],
  });
}

/** VmRSS and VmHWM in kB, or undefined once the process is gone. */
export function memoryOf(pid: number): { rss: number; hwm: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  } catch {
    return undefined;
  }
}

function resetPeak(pid: number): void {
  try {
    // 5 resets the peak RSS (VmHWM) of the process (Linux 4.0+).
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
  } catch {
    // Older kernel: the sampled peak still stands.
  }
}

interface Rig {
  readonly net: FloodNet;
  readonly halo: NsProcess;
  readonly backend: NsProcess;
  readonly observer: Agent;
  readonly flooder: Agent;
  readonly legit: Agent;
}

async function scrape(rig: Rig): Promise<MetricSample | undefined> {
  try {
    return parseMetrics(await rig.observer.ask<string>('metrics', { url: 'http://127.0.0.1:9797/metrics', timeoutMs: 3000 }, 5000));
  } catch {
    return undefined;
  }
}

async function waitUntil(what: string, ms: number, cond: () => Promise<boolean>, rig?: Partial<Rig>): Promise<void> {
  const deadline = Date.now() + ms;
  for (let i = 0; i < 1000 && Date.now() < deadline; i++) {
    if (rig?.halo?.exited()) throw new Error(`halo exited: ${rig.halo.output()}`);
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

async function start(p: FloodParams, dir: string, log: (m: string) => void): Promise<Rig> {
  const net = await createFloodNet();
  // Filled step by step, so a failed start can stop what did start.
  const rig: { -readonly [K in keyof Rig]?: Rig[K] } & { net: FloodNet } = { net };
  try {
    const conf = join(dir, 'halo.yaml');
    writeFileSync(conf, haloConfig(p, dir));
    const bin = join(REPO, 'bin', 'halo.js');
    rig.backend = spawnIn(net.halo, process.execPath, [bin, 'demo-backend', '--name', 'b1', '--host', '127.0.0.1', '--http', String(PORTS.backendHttp), '--udp', String(PORTS.backendUdp), '--tcp-echo', String(PORTS.backendTcp)]);
    // halo runs as an operator runs it: bin/halo.js's shebang settings (memory tuning).
    const tuned = shebangSettings(readFileSync(bin, 'utf8'));
    rig.halo = spawnIn(net.halo, process.execPath, [...tuned.nodeFlags, bin, 'run', '--config', conf], { ...process.env, ...tuned.env });
    log(`halo pid ${rig.halo.pid} in ${net.halo}`);
    rig.observer = await startAgent(net.halo, 3_600_000);
    await waitUntil('halo /metrics', 20_000, async () => (await scrape(rig as Rig)) !== undefined, rig);
    rig.flooder = await startAgent(net.client, 3_600_000);
    rig.legit = await startAgent(net.client, 3_600_000);
    return rig as Rig;
  } catch (err) {
    await stopRig(rig);
    throw err;
  }
}

async function stopRig(rig: Partial<Rig> & { net: FloodNet }): Promise<void> {
  for (const a of [rig.legit, rig.flooder, rig.observer]) await a?.stop().catch(() => undefined);
  for (const pr of [rig.halo, rig.backend]) await pr?.kill().catch(() => undefined);
  await rig.net.destroy();
}

const MIN_PHASE_MS = 1000;

/** Runs `body` while sampling halo's memory and tables; returns the phase's figures. */
async function phase(rig: Rig, name: string, volume: string, caps: Record<string, number>, body: () => Promise<string>): Promise<PhaseResult> {
  const pid = rig.halo.pid;
  const before = memoryOf(pid);
  const startMetrics = await scrape(rig);
  resetPeak(pid);
  await rig.legit.ask('legitMark');
  let sampledPeak = before?.rss ?? 0;
  const tablePeaks: Record<string, number> = {};
  let sampling = true;
  const sampler = (async () => {
    for (let i = 0; i < 100_000 && sampling; i++) {
      const m = memoryOf(pid);
      if (m) sampledPeak = Math.max(sampledPeak, m.rss);
      const s = await scrape(rig);
      for (const [svc, v] of Object.entries(s?.active ?? {})) tablePeaks[svc] = Math.max(tablePeaks[svc] ?? 0, v);
      await new Promise((r) => setTimeout(r, SAMPLE_MS));
    }
  })();
  const t0 = Date.now();
  let detail: string;
  let ms: number;
  let during: LegitCounts;
  try {
    detail = await body();
    ms = Date.now() - t0;
    // A flood over in less than a few of the legitimate client's rounds (200 ms apart)
    // would say nothing about it: the phase lasts at least MIN_PHASE_MS.
    if (ms < MIN_PHASE_MS) await new Promise((r) => setTimeout(r, MIN_PHASE_MS - ms));
    during = await rig.legit.ask<LegitCounts>('legitMark');
    // Still sampling: halo works through its socket buffers after the sender is done.
    await new Promise((r) => setTimeout(r, SETTLE_MS));
  } finally {
    sampling = false;
  }
  await sampler;
  const after = memoryOf(pid);
  const endMetrics = await scrape(rig);
  const peak = Math.max(sampledPeak, after?.hwm ?? 0);
  return phaseRow({ name, volume, ms, before: before?.rss, peak, after: after?.rss, caps, tablePeaks, startMetrics, endMetrics, during, detail, alive: !rig.halo.exited() });
}

export async function runFlood(p: FloodParams, log: (m: string) => void): Promise<FloodResult> {
  const dir = mkdtempSync(join(tmpdir(), 'halo-flood-'));
  let rig: Rig | undefined;
  try {
    rig = await start(p, dir, log);
    const r = rig;
    const host = r.net.haloIp;
    await r.legit.ask('legitStart', { host, httpPort: PORTS.http, tcpPort: PORTS.tcp, udpPort: PORTS.udp, intervalMs: 200, maxMs: 3_600_000 });
    await waitUntil('the legitimate client to be served', 20_000, async () => {
      await new Promise((res) => setTimeout(res, 500));
      const c = await r.legit.ask<LegitCounts>('legitMark');
      return c.http.ok > 0 && c.tcp.ok > 0 && c.udp_new.ok > 0;
    }, r);
    const rssStartKb = memoryOf(r.halo.pid)?.rss ?? 0;
    const phases: PhaseResult[] = [];
    const caps = { dns: p.maxFlows, echo: p.maxConnections, web: p.maxConnections };
    const spoof = { base: r.net.spoofBase, prefix: r.net.spoofPrefix, dst: host };

    log(`udp flood: ${p.udpSources} spoofed sources`);
    phases.push(await phase(r, 'UDP, unique spoofed sources', `${p.udpSources.toLocaleString('en-US')} datagrams`, caps, async () => {
      const s = await r.flooder.ask<{ sent: number; errors: number; ms: number }>('udpFlood', { ...spoof, port: PORTS.udp, count: p.udpSources, rate: p.udpRate, maxMs: 600_000 }, 660_000);
      return `sent ${s.sent} (${Math.round(s.sent / Math.max(1, s.ms / 1000))}/s), ${s.errors} send errors`;
    }));

    log(`syn flood: ${p.synCount} spoofed SYNs`);
    phases.push(await phase(r, 'TCP SYN, spoofed sources', `${p.synCount.toLocaleString('en-US')} SYNs`, caps, async () => {
      const s = await r.flooder.ask<{ sent: number; errors: number; ms: number }>('synFlood', { ...spoof, port: PORTS.tcp, count: p.synCount, rate: 0, maxMs: 120_000 }, 150_000);
      const kernel = await run('ip', ['netns', 'exec', r.net.halo, 'nstat', '-az', 'TcpExtSyncookiesSent', 'TcpExtListenDrops', 'TcpExtListenOverflows']).catch(() => '');
      const counters = [...kernel.matchAll(/^(TcpExt\w+)\s+(\d+)/gm)].map((m) => `${(m[1] ?? '').replace('TcpExt', '')} ${m[2] ?? ''}`).join(', ');
      return `sent ${s.sent}; kernel: ${counters || 'nstat unavailable'}`;
    }));

    const half = Math.floor(p.idleConns / 2);
    const holdMs = Math.max(p.headerTimeoutMs, 1000) + 3000;
    log(`idle connections: ${half} tcp + ${half} http, held ${holdMs} ms`);
    phases.push(await phase(r, 'idle established connections', `${half.toLocaleString('en-US')} tcp + ${half.toLocaleString('en-US')} http`, caps, async () => {
      const [tcp, http] = await Promise.all([
        r.flooder.ask<{ open: number; failed: number }>('idle', { host, port: PORTS.tcp, count: half, maxMs: 120_000 }, 150_000),
        r.flooder.ask<{ open: number; failed: number }>('idle', { host, port: PORTS.http, count: half, maxMs: 120_000 }, 150_000),
      ]);
      await new Promise((res) => setTimeout(res, holdMs));
      const tcpEnd = await r.flooder.ask<{ stillOpen: number; closedByServer: number }>('closeIdle', { port: PORTS.tcp });
      const httpEnd = await r.flooder.ask<{ stillOpen: number; closedByServer: number }>('closeIdle', { port: PORTS.http });
      return `tcp: ${tcp.open} opened, ${tcpEnd.stillOpen} still open after ${holdMs / 1000} s (idle_ms ${p.tcpIdleMs / 1000} s); http: ${http.open} opened, ${httpEnd.closedByServer} closed by halo (client_header_ms ${p.headerTimeoutMs / 1000} s)`;
    }));

    log(`huge headers: ${p.hugeHeaderRequests} x ${p.hugeHeaderBytes} bytes`);
    phases.push(await phase(r, 'HTTP huge headers', `${p.hugeHeaderRequests} x ${Math.round(p.hugeHeaderBytes / 1024)} KiB`, caps, async () => {
      const o = await r.flooder.ask<Record<string, number>>('hugeHeaders', { host, port: PORTS.http, count: p.hugeHeaderRequests, bytes: p.hugeHeaderBytes, maxMs: 120_000 }, 150_000);
      return `answers: ${JSON.stringify(o)}`;
    }));

    const slowMs = p.bodyTimeoutMs + p.headerTimeoutMs + 15_000;
    log(`slow bodies and slowloris: ${p.slowBodies} + ${p.slowloris}`);
    phases.push(await phase(r, 'HTTP slow bodies + slowloris', `${p.slowBodies} + ${p.slowloris} connections`, caps, async () => {
      const [bodies, heads] = await Promise.all([
        r.flooder.ask<Record<string, number>>('slowBodies', { host, port: PORTS.http, count: p.slowBodies, maxMs: slowMs }, slowMs + 30_000),
        r.flooder.ask<Record<string, number>>('slowloris', { host, port: PORTS.http, count: p.slowloris, maxMs: slowMs }, slowMs + 30_000),
      ]);
      return `bodies (client_body_ms ${p.bodyTimeoutMs / 1000} s): ${JSON.stringify(bodies)}; heads (client_header_ms ${p.headerTimeoutMs / 1000} s): ${JSON.stringify(heads)}`;
    }));

    await r.legit.ask('legitMark');
    await new Promise((res) => setTimeout(res, 3000));
    const after = await r.legit.ask<LegitCounts>('legitStop');
    return { phases, after, alive: !r.halo.exited(), rssStartKb };
  } finally {
    if (rig) await stopRig(rig);
    rmSync(dir, { recursive: true, force: true });
  }
}
