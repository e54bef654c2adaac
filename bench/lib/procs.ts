/**
 * Child processes for the benchmark: long-running servers (proxies, backends) and
 * run-to-completion tools (wrk, iperf3, udp-load), each optionally pinned to one core
 * with taskset. Every process is tracked so one stopAll() in a finally (or on Ctrl-C)
 * ends them all, by pid.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';

/** Output kept per process: enough for an error message, bounded for long runs. */
const MAX_OUTPUT = 64 * 1024;

export interface Managed {
  readonly label: string;
  /** The core it is pinned to, if any. */
  readonly cpu: number | undefined;
  readonly child: ChildProcess;
  /** Resolves with the exit code (or null when killed by a signal). */
  readonly exited: Promise<number | null>;
  isRunning(): boolean;
  stdout(): string;
  stderr(): string;
  waitForOutput(pattern: RegExp, timeoutMs: number): Promise<void>;
}

export interface SpawnOptions {
  /** Pin to this core (taskset -c N); undefined = not pinned. */
  readonly cpu?: number | undefined;
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
}

export interface ToolResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
}

function pinned(cmd: string, args: readonly string[], cpu: number | undefined): [string, string[]] {
  return cpu === undefined ? [cmd, [...args]] : ['taskset', ['-c', String(cpu), cmd, ...args]];
}

export class ProcessGroup {
  private readonly procs = new Set<Managed>();

  /** Starts a long-running process; taskset execs the command, so the pid is the command's. */
  start(label: string, cmd: string, args: readonly string[], opts: SpawnOptions = {}): Managed {
    const [file, argv] = pinned(cmd, args, opts.cpu);
    const child = spawn(file, argv, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let running = true;
    const listeners = new Set<() => void>();
    child.stdout?.on('data', (b: Buffer) => {
      out = (out + b.toString('utf8')).slice(-MAX_OUTPUT);
      for (const l of listeners) l();
    });
    child.stderr?.on('data', (b: Buffer) => {
      err = (err + b.toString('utf8')).slice(-MAX_OUTPUT);
      for (const l of listeners) l();
    });
    const exited = new Promise<number | null>((resolve) => {
      child.once('error', (e) => {
        err += `\nspawn failed: ${e.message}`;
        running = false;
        resolve(null);
      });
      child.once('exit', (code) => {
        running = false;
        resolve(code);
      });
    });
    exited.finally(() => {
      for (const l of listeners) l();
    });
    const managed: Managed = {
      label,
      cpu: opts.cpu,
      child,
      exited,
      isRunning: () => running,
      stdout: () => out,
      stderr: () => err,
      waitForOutput: (pattern, timeoutMs) =>
        new Promise<void>((resolve, reject) => {
          const check = () => {
            if (pattern.test(out) || pattern.test(err)) done(undefined);
            else if (!running) done(new Error(`${label} exited before printing ${pattern}: ${tail(err || out)}`));
          };
          const timer = setTimeout(() => done(new Error(`${label}: no ${pattern} within ${timeoutMs} ms: ${tail(err || out)}`)), timeoutMs);
          const done = (e: Error | undefined) => {
            clearTimeout(timer);
            listeners.delete(check);
            if (e) reject(e);
            else resolve();
          };
          listeners.add(check);
          check();
        }),
    };
    this.procs.add(managed);
    void exited.then(() => this.procs.delete(managed));
    return managed;
  }

  /** Runs a tool to completion, killed after timeoutMs; tracked like the servers meanwhile. */
  async run(label: string, cmd: string, args: readonly string[], timeoutMs: number, opts: SpawnOptions = {}): Promise<ToolResult> {
    const p = this.start(label, cmd, args, opts);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      void this.stop(p, 1000);
    }, timeoutMs);
    try {
      const code = await p.exited;
      return { code, stdout: p.stdout(), stderr: p.stderr(), timedOut };
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGTERM, then SIGKILL if it has not exited within graceMs. */
  async stop(p: Managed, graceMs: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (!p.isRunning() || p.child.pid === undefined) return p.exited;
    p.child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const killed = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), graceMs);
    });
    const first = await Promise.race([p.exited, killed]);
    clearTimeout(timer);
    if (first === 'timeout' && p.isRunning()) {
      p.child.kill('SIGKILL');
    }
    return p.exited;
  }

  async stopAll(graceMs = 3000): Promise<void> {
    await Promise.all([...this.procs].map((p) => this.stop(p, graceMs)));
  }

  /** Pids of the running processes pinned to this core. */
  pidsOn(core: number): number[] {
    return [...this.procs].filter((p) => p.cpu === core && p.isRunning() && p.child.pid !== undefined).map((p) => p.child.pid as number);
  }

  /** Synchronous last resort for process 'exit': SIGKILL whatever is left. */
  killAllNow(): void {
    for (const p of this.procs) {
      if (p.isRunning()) p.child.kill('SIGKILL');
    }
  }
}

export function tail(text: string, chars = 600): string {
  const t = text.trim();
  return t.length > chars ? `...${t.slice(-chars)}` : t;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function tcpFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

function udpFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createSocket('udp4');
    sock.once('error', () => resolve(false));
    sock.bind(port, '127.0.0.1', () => sock.close(() => resolve(true)));
  });
}

/** Lowest port of the kernel's ephemeral range (outgoing connections take their local ports there). */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 11_000 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

/**
 * `count` distinct ports, each free for both TCP and UDP right now, from a random spot
 * below the ephemeral range: a port handed out by the kernel for "port 0" could be taken
 * a moment later as the local port of some outgoing connection (ours, or another
 * process's on this shared machine) and the proxy's listen would fail with EADDRINUSE.
 */
export async function freePorts(count: number): Promise<number[]> {
  const low = 10_000;
  const high = ephemeralLow() - 1;
  let port = low + Math.floor(Math.random() * (high - low - 2000));
  const out: number[] = [];
  for (let tries = 0; tries < 2000 && out.length < count; tries++, port++) {
    if (port > high) port = low;
    if ((await tcpFree(port)) && (await udpFree(port))) out.push(port);
  }
  if (out.length < count) throw new Error(`found only ${out.length} of ${count} free ports below ${high + 1}`);
  return out;
}

function tryConnect(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => finish(false), timeoutMs);
    const finish = (ok: boolean) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(ok);
    };
    sock.once('connect', () => finish(true));
    sock.once('error', () => finish(false));
  });
}

/** Waits until something accepts TCP connections on the port. */
export async function waitForTcp(port: number, timeoutMs: number, owner?: Managed): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (owner && !owner.isRunning()) throw new Error(`${owner.label} exited: ${tail(owner.stderr() || owner.stdout())}`);
    if (await tryConnect(port, 500)) return;
    await sleep(50);
  }
  throw new Error(`nothing accepted tcp 127.0.0.1:${port} within ${timeoutMs} ms${owner ? `: ${tail(owner.stderr() || owner.stdout())}` : ''}`);
}

/** True when /proc/net/tcp shows a socket listening on 127.0.0.1:port or 0.0.0.0:port. */
export function listeningIn(procNetTcp: string, port: number): boolean {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  return procNetTcp.split('\n').some((line) => {
    const f = line.trim().split(/\s+/);
    // f[1] local address "0100007F:5D3D", f[3] state, 0A = LISTEN
    return f[3] === '0A' && (f[1] === `0100007F:${hexPort}` || f[1] === `00000000:${hexPort}`);
  });
}

/** Waits for a listening socket without connecting to it (for servers a bare connect confuses). */
export async function waitForListen(port: number, timeoutMs: number, owner?: Managed): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (owner && !owner.isRunning()) throw new Error(`${owner.label} exited: ${tail(owner.stderr() || owner.stdout())}`);
    let table = '';
    try {
      table = readFileSync('/proc/net/tcp', 'utf8');
    } catch {
      // not Linux: fall back to connecting
      return waitForTcp(port, Math.max(0, deadline - Date.now()), owner);
    }
    if (listeningIn(table, port)) return;
    await sleep(50);
  }
  throw new Error(`nothing listened on tcp 127.0.0.1:${port} within ${timeoutMs} ms`);
}

/** Sends a datagram every 100 ms until one comes back (an echo, possibly through a proxy). */
export async function waitForUdpEcho(port: number, timeoutMs: number, owner?: Managed): Promise<void> {
  const sock = createSocket('udp4');
  try {
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(0, '127.0.0.1', () => resolve());
    });
    const got = new Promise<void>((resolve) => sock.once('message', () => resolve()));
    // ECONNREFUSED from ICMP unreachable while the target is not up yet: expected, ignored.
    sock.on('error', () => undefined);
    const deadline = Date.now() + timeoutMs;
    let answered = false;
    void got.then(() => {
      answered = true;
    });
    while (!answered && Date.now() < deadline) {
      if (owner && !owner.isRunning()) throw new Error(`${owner.label} exited: ${tail(owner.stderr() || owner.stdout())}`);
      sock.send(Buffer.from('ping'), port, '127.0.0.1');
      await Promise.race([got, sleep(100)]);
    }
    if (!answered) throw new Error(`no udp echo from 127.0.0.1:${port} within ${timeoutMs} ms`);
  } finally {
    sock.close();
  }
}
