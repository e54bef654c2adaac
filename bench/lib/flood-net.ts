/**
 * The flood bench's network: two namespaces joined by one veth pair, made and removed
 * by the run (unique names, deleted in finally). "halo" holds halo and its backends,
 * "client" the flooder and the legitimate client. No default route and no NAT anywhere:
 * halo's namespace gets one specific route for the spoofed range, back over the veth
 * through the client side's address (one neighbour entry, not a million), and the client
 * namespace, not forwarding, drops what halo sends to the spoofed addresses.
 *
 * Also: processes inside a namespace (`ip netns exec` execs, so the pid is the
 * program's) and agents driven over JSON lines (flood-agent.ts).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { killNamespaceProcesses } from '../../src/app/lab/system.js';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
const AGENT = fileURLToPath(new URL('./flood-agent.ts', import.meta.url));

export interface FloodNet {
  readonly halo: string;
  readonly client: string;
  /** halo's address on the veth (services listen here). */
  readonly haloIp: string;
  /** The legitimate client's (and the spoofed range's gateway) address. */
  readonly clientIp: string;
  /** Spoofed sources come from here. */
  readonly spoofBase: string;
  readonly spoofPrefix: number;
  destroy(): Promise<void>;
}

export function run(cmd: string, args: readonly string[], timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
  });
}

/** Why this machine cannot run the flood (not root, no netns), or undefined when it can. */
export async function floodUnsupported(): Promise<string | undefined> {
  if (process.platform !== 'linux') return `network namespaces need Linux, this is ${process.platform}`;
  if (process.getuid?.() !== 0) return 'network namespaces and raw sockets need root';
  const probe = `halo-fp${randomBytes(3).toString('hex')}`;
  try {
    await run('ip', ['netns', 'add', probe]);
  } catch (err) {
    return `cannot create a network namespace: ${(err as Error).message}`;
  }
  await run('ip', ['netns', 'del', probe]).catch(() => undefined);
  try {
    await import('raw-socket');
  } catch (err) {
    return `raw-socket does not load: ${(err as Error).message}`;
  }
  return undefined;
}

export async function createFloodNet(): Promise<FloodNet> {
  const tag = randomBytes(3).toString('hex');
  const halo = `halo-fl${tag}-h`;
  const client = `halo-fl${tag}-c`;
  const vh = `fl${tag}h`;
  const vc = `fl${tag}c`;
  const net: FloodNet = {
    halo,
    client,
    haloIp: '10.99.0.1',
    clientIp: '10.99.0.2',
    spoofBase: '10.128.0.0',
    spoofPrefix: 9,
    async destroy() {
      for (const ns of [client, halo]) {
        await killNamespaceProcesses(ns).catch(() => undefined);
        await run('ip', ['netns', 'del', ns]).catch(() => undefined);
      }
    },
  };
  try {
    await run('ip', ['netns', 'add', halo]);
    await run('ip', ['netns', 'add', client]);
    await run('ip', ['link', 'add', vh, 'type', 'veth', 'peer', 'name', vc]);
    await run('ip', ['link', 'set', vh, 'netns', halo]);
    await run('ip', ['link', 'set', vc, 'netns', client]);
    for (const [ns, dev, ip] of [
      [halo, vh, net.haloIp],
      [client, vc, net.clientIp],
    ] as const) {
      await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      await run('ip', ['-n', ns, 'addr', 'add', `${ip}/24`, 'dev', dev]);
      await run('ip', ['-n', ns, 'link', 'set', dev, 'up']);
    }
    await run('ip', ['-n', halo, 'route', 'add', `${net.spoofBase}/${net.spoofPrefix}`, 'via', net.clientIp, 'dev', vh]);
  } catch (err) {
    await net.destroy();
    throw err;
  }
  return net;
}

export interface NsProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  output(): string;
  exited(): boolean;
  kill(): Promise<void>;
}

/** Start `cmd args` inside `ns`; its output is kept (the tail) for error messages. */
export function spawnIn(ns: string, cmd: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): NsProcess {
  const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { cwd: REPO, env, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let gone = false;
  const keep = (b: Buffer): void => {
    out = (out + b.toString('utf8')).slice(-16_384);
  };
  // Both streams are read: an unread pipe fills and blocks the child's next write.
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exit = new Promise<void>((resolve) => child.once('exit', () => ((gone = true), resolve())));
  return {
    child,
    pid: child.pid ?? -1,
    output: () => out,
    exited: () => gone,
    async kill() {
      if (gone) return;
      child.kill('SIGKILL');
      await Promise.race([exit, new Promise((r) => setTimeout(r, 2000))]);
    },
  };
}

export interface Agent {
  readonly proc: NsProcess;
  ask<T>(op: string, args?: Record<string, unknown>, timeoutMs?: number): Promise<T>;
  stop(): Promise<void>;
}

/** A flood-agent.ts process inside `ns`, alive for at most maxMs. */
export async function startAgent(ns: string, maxMs: number): Promise<Agent> {
  const proc = spawnIn(ns, process.execPath, ['--import', 'tsx', AGENT, String(maxMs)]);
  const waiting = new Map<number, (line: Record<string, unknown>) => void>();
  let ready: (() => void) | undefined;
  createInterface({ input: proc.child.stdout! }).on('line', (line) => {
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    if (msg.ready === true) ready?.();
    const w = waiting.get(Number(msg.id));
    if (w) w(msg);
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`agent in ${ns} not ready in 20 s: ${proc.output()}`)), 20_000);
    ready = () => {
      clearTimeout(timer);
      resolve();
    };
    proc.child.once('exit', () => reject(new Error(`agent in ${ns} exited: ${proc.output()}`)));
  });
  let nextId = 1;
  return {
    proc,
    ask<T>(op: string, args: Record<string, unknown> = {}, timeoutMs = 30_000): Promise<T> {
      const id = nextId++;
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiting.delete(id);
          reject(new Error(`agent ${op} in ${ns}: no answer in ${timeoutMs} ms${proc.exited() ? ' (it exited)' : ''}: ${proc.output().slice(-500)}`));
        }, timeoutMs);
        waiting.set(id, (msg) => {
          clearTimeout(timer);
          waiting.delete(id);
          if (msg.ok === true) resolve(msg.result as T);
          else reject(new Error(`agent ${op} in ${ns}: ${String(msg.error)}`));
        });
        proc.child.stdin!.write(`${JSON.stringify({ ...args, id, op })}\n`);
      });
    },
    async stop() {
      proc.child.stdin?.end();
      await Promise.race([new Promise((r) => proc.child.once('exit', r)), new Promise((r) => setTimeout(r, 1500))]);
      await proc.kill();
    },
  };
}
