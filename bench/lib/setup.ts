/**
 * Starting what the benchmark measures: the backends (nginx for HTTP, iperf3 -s, the C
 * UDP echo) pinned to the load core, and the proxies (halo, HAProxy, nginx stream) pinned
 * to the proxy core. Each start waits until the thing answers, bounded in time.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BACKEND_BODY, haloConf, haproxyConf, nginxBackendConf, nginxUdpConf, type HaloService, type Ports } from './configs.js';
import { NGINX_STREAM_MODULE } from './environment.js';
import { type Managed, type ProcessGroup, waitForListen, waitForTcp, waitForUdpEcho } from './procs.js';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
const READY_MS = 15_000;

export interface Cores {
  readonly proxy: number | undefined;
  readonly load: number | undefined;
}

export interface UdpTools {
  readonly echo: string;
  readonly load: string;
}

/** Compiles bench/udp/*.c into the temp dir (never committed as binaries). */
export function compileUdpTools(dir: string): UdpTools {
  const out: Record<string, string> = {};
  for (const name of ['udp-echo', 'udp-load']) {
    const bin = join(dir, name);
    const r = spawnSync('gcc', ['-O2', '-Wall', '-o', bin, join(REPO, 'bench', 'udp', `${name}.c`)], { encoding: 'utf8', timeout: 60_000 });
    if (r.status !== 0) throw new Error(`gcc ${name}.c failed: ${r.stderr || r.error?.message}`);
    out[name] = bin;
  }
  return { echo: out['udp-echo'] as string, load: out['udp-load'] as string };
}

export async function startHttpBackend(group: ProcessGroup, dir: string, ports: Ports, cores: Cores): Promise<Managed> {
  const conf = join(dir, 'nginx-backend.conf');
  writeFileSync(conf, nginxBackendConf(dir, ports.httpBackends));
  const p = group.start('nginx (backend)', 'nginx', ['-p', `${dir}/`, '-e', join(dir, 'nginx-backend-error.log'), '-c', conf], { cpu: cores.load });
  for (const port of ports.httpBackends) await waitForTcp(port, READY_MS, p);
  return p;
}

export async function startIperfServer(group: ProcessGroup, ports: Ports, cores: Cores): Promise<Managed> {
  // A bare connect would be taken for a test that never sent its cookie: wait for the banner.
  const p = group.start('iperf3 server', 'iperf3', ['-s', '-B', '127.0.0.1', '-p', String(ports.iperfBackend), '--forceflush'], { cpu: cores.load });
  await p.waitForOutput(/Server listening/, READY_MS);
  return p;
}

export async function startUdpEcho(group: ProcessGroup, tools: UdpTools, ports: Ports, cores: Cores): Promise<Managed> {
  // Bounded lifetime: the echo exits by itself after two hours even if we never stop it.
  const p = group.start('udp-echo', tools.echo, [String(ports.udpBackend), '7200'], { cpu: cores.load });
  await p.waitForOutput(/^port \d+/m, READY_MS);
  await waitForUdpEcho(ports.udpBackend, READY_MS, p);
  return p;
}

export interface HaloStart {
  readonly services: readonly HaloService[];
  /** Extra node flags before bin/halo.js (e.g. --cpu-prof). */
  readonly nodeFlags?: readonly string[];
  readonly configName?: string;
}

/** The env assignments and node flags of a `#!/usr/bin/env -S VAR=x node --flag` line. */
export function shebangSettings(script: string): { env: Record<string, string>; nodeFlags: string[] } {
  const first = script.split('\n', 1)[0] ?? '';
  const words = first.startsWith('#!') ? first.slice(2).trim().split(/\s+/) : [];
  const env: Record<string, string> = {};
  const nodeFlags: string[] = [];
  let afterNode = false;
  for (const w of words.slice(1)) {
    if (afterNode) nodeFlags.push(w);
    else if (w === 'node') afterNode = true;
    else if (/^[A-Z_][A-Z0-9_]*=/.test(w)) env[w.slice(0, w.indexOf('='))] = w.slice(w.indexOf('=') + 1);
  }
  return { env, nodeFlags };
}

export async function startHalo(group: ProcessGroup, dir: string, ports: Ports, cores: Cores, opts: HaloStart): Promise<Managed> {
  const conf = join(dir, opts.configName ?? 'halo.yaml');
  writeFileSync(conf, haloConf(ports, opts.services));
  // halo runs as an operator runs it, with bin/halo.js's shebang settings (memory tuning);
  // extra node flags (--cpu-prof is refused in NODE_OPTIONS) are added after them.
  const bin = join(REPO, 'bin', 'halo.js');
  const tuned = shebangSettings(readFileSync(bin, 'utf8'));
  const args = [...tuned.nodeFlags, ...(opts.nodeFlags ?? []), bin, 'run', '--config', conf, '--log-level', 'warn'];
  const p = group.start('halo', process.execPath, args, { cpu: cores.proxy, cwd: REPO, env: { ...process.env, ...tuned.env } });
  if (opts.services.includes('http')) await waitForTcp(ports.haloHttp, READY_MS, p);
  if (opts.services.includes('tcp')) await waitForTcp(ports.haloTcp, READY_MS, p);
  if (opts.services.includes('udp')) await waitForUdpEcho(ports.haloUdp, READY_MS, p);
  // A connection through to iperf3 would be taken for a test without a cookie (see startIperfServer).
  if (opts.services.includes('iperf')) await waitForListen(ports.haloIperf, READY_MS, p);
  return p;
}

export async function startHaproxy(group: ProcessGroup, dir: string, ports: Ports, cores: Cores): Promise<Managed> {
  const conf = join(dir, 'haproxy.cfg');
  writeFileSync(conf, haproxyConf(ports));
  const check = spawnSync('haproxy', ['-c', '-f', conf], { encoding: 'utf8', timeout: 10_000 });
  if (check.status !== 0) throw new Error(`haproxy -c rejected the generated config: ${check.stdout}${check.stderr}`);
  // -db: stay in the foreground, one process, so the pid we hold is the one doing the work.
  const p = group.start('haproxy', 'haproxy', ['-db', '-f', conf], { cpu: cores.proxy });
  await waitForTcp(ports.haproxyHttp, READY_MS, p);
  await waitForTcp(ports.haproxyTcp, READY_MS, p);
  await waitForListen(ports.haproxyIperf, READY_MS, p);
  return p;
}

export async function startNginxUdp(group: ProcessGroup, dir: string, ports: Ports, cores: Cores): Promise<Managed> {
  const conf = join(dir, 'nginx-udp.conf');
  writeFileSync(conf, nginxUdpConf(dir, NGINX_STREAM_MODULE, ports.nginxUdp, ports.udpBackend));
  const p = group.start('nginx (udp)', 'nginx', ['-p', `${dir}/`, '-e', join(dir, 'nginx-udp-error.log'), '-c', conf], { cpu: cores.proxy });
  await waitForUdpEcho(ports.nginxUdp, READY_MS, p);
  return p;
}

/** One plain GET through a target: undefined when the backend's body comes back. */
export function httpCheck(port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 3000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        if (body.length < 4096) body += c;
      });
      res.on('end', () => {
        if (res.statusCode !== 200) resolve(`GET / answered ${res.statusCode}: ${body.slice(0, 200)}`);
        else if (body !== BACKEND_BODY) resolve(`GET / answered an unexpected body: ${JSON.stringify(body.slice(0, 200))}`);
        else resolve(undefined);
      });
      res.on('error', (e) => resolve(`GET / failed: ${e.message}`));
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 3 s')));
    req.on('error', (e) => resolve(`GET / failed: ${e.message}`));
    req.end();
  });
}
