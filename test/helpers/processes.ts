/**
 * Real processes for integration tests: `halo demo-backend` and `halo run`, started
 * from the built CLI (npm test builds first), tracked so afterAll can kill every one.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { testTempDir } from './temp-dir.js';

export const HALO_BIN = fileURLToPath(new URL('../../bin/halo.js', import.meta.url));

export interface Proc {
  readonly child: ChildProcess;
  readonly lines: string[];
  /** Parsed JSON log lines (halo run --log-format json). */
  readonly events: Array<Record<string, unknown>>;
  waitFor(pred: (event: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

const running = new Set<Proc>();

function track(child: ChildProcess): Proc {
  const lines: string[] = [];
  const events: Array<Record<string, unknown>> = [];
  const waiters = new Set<() => void>();
  let buf = '';
  const onData = (chunk: Buffer) => {
    buf += chunk.toString('utf8');
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      lines.push(line);
      try {
        const parsed: unknown = JSON.parse(line);
        if (parsed && typeof parsed === 'object') events.push(parsed as Record<string, unknown>);
      } catch {
        // not JSON: kept in lines only
      }
      for (const w of waiters) w();
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const proc: Proc = {
    child,
    lines,
    events,
    waitFor(pred, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const hit = events.find(pred);
          if (hit) {
            cleanup();
            resolve(hit);
          }
        };
        const onExit = () => {
          cleanup();
          reject(new Error(`process exited (${child.exitCode}) while waiting; output:\n${lines.slice(-30).join('\n')}`));
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out after ${timeoutMs} ms; output:\n${lines.slice(-30).join('\n')}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
          child.off('exit', onExit);
        };
        waiters.add(check);
        child.once('exit', onExit);
        check();
      });
    },
    async kill(signal = 'SIGKILL') {
      if (child.exitCode !== null || child.signalCode !== null) {
        running.delete(proc);
        return child.exitCode;
      }
      const exited = once(child, 'exit');
      child.kill(signal);
      const [code] = (await exited) as [number | null];
      running.delete(proc);
      return code;
    },
  };
  running.add(proc);
  return proc;
}

export interface SpawnOptions {
  /**
   * Run inside this network namespace (`ip netns exec NAME node ...`, root only).
   * `ip netns exec` execs the command in place, so the child's PID is node's and
   * kill()/killAll() still reach it.
   */
  netns?: string;
}

export function spawnHalo(args: string[], env: NodeJS.ProcessEnv = {}, opts: SpawnOptions = {}): Proc {
  const [cmd, argv] = opts.netns === undefined
    ? [process.execPath, [HALO_BIN, ...args]]
    : ['ip', ['netns', 'exec', opts.netns, process.execPath, HALO_BIN, ...args]];
  const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  return track(child);
}

export interface DemoBackendProc extends Proc {
  readonly name: string;
  readonly http: number;
  readonly udp?: number;
}

export async function startDemoBackend(name: string, opts: { http?: number; udp?: boolean | number; delayMs?: number; host?: string } & SpawnOptions = {}): Promise<DemoBackendProc> {
  const args = ['demo-backend', '--name', name, '--host', opts.host ?? '127.0.0.1', '--http', String(opts.http ?? 0)];
  if (opts.udp !== undefined && opts.udp !== false) args.push('--udp', opts.udp === true ? '0' : String(opts.udp));
  if (opts.delayMs !== undefined) args.push('--delay-ms', String(opts.delayMs));
  const proc = spawnHalo(args, {}, opts.netns === undefined ? {} : { netns: opts.netns });
  const ready = await proc.waitFor((e) => e['event'] === 'demo_backend_ready');
  return Object.assign(proc, { name, http: Number(ready['http']), ...(ready['udp'] !== undefined ? { udp: Number(ready['udp']) } : {}) });
}

/** A port that was free a moment ago (tcp and udp both), for configs that need a fixed port. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const addr = server.address();
    const port = typeof addr === 'object' && addr ? addr.port : 0;
    await new Promise<void>((r) => server.close(() => r()));
    const udp = createSocket('udp4');
    const ok = await new Promise<boolean>((resolve) => {
      udp.once('error', () => resolve(false));
      udp.bind(port, '127.0.0.1', () => resolve(true));
    });
    await new Promise<void>((r) => udp.close(() => r()));
    if (ok) return port;
  }
  throw new Error('no free port found in 20 attempts');
}

export async function startHalo(config: unknown, env: NodeJS.ProcessEnv = {}, opts: SpawnOptions = {}): Promise<Proc & { configFile: string }> {
  const dir = testTempDir('halo-test-');
  const configFile = join(dir, 'halo.yaml');
  // Tests run several nodes in one namespace: the admin API's fixed default port would
  // collide, so each gets a port of its own unless the test chose one.
  let withAdmin = typeof config === 'object' && config !== null && !('admin' in config) ? { ...config, admin: { listen: '127.0.0.1:0' } } : config;
  // and the pid file and control socket go to the test's own directory, not /run/halo
  if (typeof withAdmin === 'object' && withAdmin !== null) {
    const node = (withAdmin as { node?: Record<string, unknown> }).node ?? {};
    if (node['run_dir'] === undefined) withAdmin = { ...withAdmin, node: { ...node, run_dir: dir } };
  }
  writeFileSync(configFile, stringify(withAdmin));
  const proc = spawnHalo(['run', '--config', configFile, '--log-format', 'json', '--log-level', 'debug'], env, opts);
  await proc.waitFor((e) => e['message'] === 'node_started' || e['message'] === 'start_failed', 15_000);
  return Object.assign(proc, { configFile });
}

/** Kill every process a test started (afterAll/afterEach). */
export async function killAll(): Promise<void> {
  await Promise.all([...running].map((p) => p.kill('SIGKILL')));
}
