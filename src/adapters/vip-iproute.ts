/**
 * The VIP on this node's interfaces, through iproute2, and gratuitous ARP, through
 * iputils arping (design.md section 3, "VIP" and "A crashed master leaves its VIP behind").
 *
 * - `ip addr replace` rather than `add`: idempotent, and the same command renews the
 *   lifetime, so a crashed master's VIP expires by itself (kernel minimum: 1 s;
 *   `valid_lft 0` is refused, so lifetimes are whole seconds rounded up).
 * - GARP: iputils arping takes whole seconds for -i (0.1 is "invalid argument", and -i 0
 *   sends once and then hangs), while bursts are spaced in milliseconds. So each GARP is
 *   its own `arping -U -c 1` and we space them. arping sends at once (before its event
 *   loop) but then lingers one interval (1 s) before exiting, and its stdout is block
 *   buffered in a pipe; under `stdbuf -oL` its "ARPING ..." line is printed right before
 *   the send (measured in a veth pair: the line arrives 4-6 ms after spawn, the peer's
 *   neighbour entry changes 2-3 ms later as seen through `ip monitor neigh`, whose own
 *   latency is in that). That line is our "sent"; the linger is cut short with SIGTERM,
 *   which arping handles after sending and still prints "Sent 1 probes", our confirmation.
 * - Commands go through a spawn co-process (remote-spawn.ts): a takeover's `ip` and
 *   `arping` would otherwise each fork the whole halo process, ~20 ms with a 500 MB data
 *   plane. prepare() starts it, and probes the tools through it, before any takeover.
 *   `ip addr replace`/`del` go one better: one long-lived `ip -batch` (ip-batch.ts), no
 *   fork at all; they fall back to the co-process when that channel is lost.
 */
import { HaloError } from '../core/errors.js';
import { parseIpAddrOutput } from './ip-addr-lines.js';
import { IpBatch, IpBatchLost } from './ip-batch.js';
import type { Logger } from './logger.js';
import { directSpawner, SPAWN_SERVER_LOST, SpawnClient, type SpawnedChild, type Spawner } from './remote-spawn.js';

export interface VipSpec {
  /** a.b.c.d/len */
  readonly address: string;
  readonly interface: string;
}

export interface VipManagerOptions {
  vips: readonly VipSpec[];
  /** 0 = forever */
  lifetimeMs: number;
  garp: { count: number; intervalMs: number };
  /** Tests only: `ip -n NS` and `ip netns exec NS arping`. */
  netns?: string;
  log: Logger;
  /** Per command (default 5000 ms). */
  runTimeoutMs?: number;
  /**
   * Who starts `ip` and `arping`. Default: a spawn co-process of this manager's own,
   * started by prepare() or the first command, ended by close(). 'direct': child_process.
   */
  spawner?: Spawner | 'direct';
}

const DEFAULT_RUN_TIMEOUT_MS = 5000;
/** After its "ARPING" line, how long an arping may live before SIGTERM ends its 1 s linger. */
const ARPING_LINGER_MS = 200;
/** arping alone lingers 1 s after its packet; never kill it sooner than this for a timeout. */
const ARPING_MIN_TIMEOUT_MS = 3000;
const KEEP_OUTPUT_CHARS = 2000;

// ---- pure helpers ----------------------------------------------------------------

/** `valid_lft`/`preferred_lft` value: whole seconds rounded up (kernel minimum 1), or forever. */
export function lifetimeArg(lifetimeMs: number): string {
  return lifetimeMs <= 0 ? 'forever' : String(Math.max(1, Math.ceil(lifetimeMs / 1000)));
}

export function ipArgs(netns: string | undefined, args: readonly string[]): string[] {
  return netns === undefined ? [...args] : ['-n', netns, ...args];
}

export function addrReplaceArgs(vip: VipSpec, lifetimeMs: number): string[] {
  const lft = lifetimeArg(lifetimeMs);
  return ['addr', 'replace', vip.address, 'dev', vip.interface, 'valid_lft', lft, 'preferred_lft', lft];
}

export function addrDelArgs(vip: VipSpec): string[] {
  return ['addr', 'del', vip.address, 'dev', vip.interface];
}

export function addrShowArgs(iface: string): string[] {
  return ['-o', '-4', 'addr', 'show', 'dev', iface];
}

/** The address without its prefix length. */
export function vipHost(address: string): string {
  return address.split('/')[0] ?? address;
}

/**
 * One GARP: `arping -U -c 1 -I IF VIP`, under `stdbuf -oL` when we have it (so the
 * "ARPING" line is not held until exit), inside `ip netns exec NS` for tests.
 */
export function arpingCommand(vip: VipSpec, opts: { netns?: string | undefined; lineBuffered: boolean }): { file: string; args: string[] } {
  let argv = ['arping', '-U', '-c', '1', '-I', vip.interface, vipHost(vip.address)];
  if (opts.lineBuffered) argv = ['stdbuf', '-oL', ...argv];
  if (opts.netns !== undefined) argv = ['ip', 'netns', 'exec', opts.netns, ...argv];
  return { file: argv[0] ?? 'arping', args: argv.slice(1) };
}

/** `ip addr del` stderr meaning "it was not there": iproute2 6.x, older iproute2, device gone. */
export function isNotPresentError(stderr: string): boolean {
  return /Address not found|Cannot assign requested address|Cannot find device|does not exist/i.test(stderr);
}

/** "Sent 1 probes (1 broadcast(s))": arping's own confirmation that its packet left. */
export function arpingSentCount(stdout: string): number {
  const m = /Sent (\d+) probe/.exec(stdout);
  return m ? Number(m[1]) : 0;
}

// ---- commands ----------------------------------------------------------------------

function commandLine(file: string, args: readonly string[]): string {
  return [file, ...args].join(' ');
}

export function vipError(command: string, what: string, details: Record<string, unknown> = {}, cause?: unknown): HaloError {
  return new HaloError('HALO_ERR_VIP', `\`${command}\` ${what}`, { command, ...details }, cause === undefined ? undefined : { cause });
}

/** Run, no shell, with a timeout; any failure is HALO_ERR_VIP with the command and its stderr. */
export async function runVipCommand(file: string, args: readonly string[], timeoutMs: number, spawner: Spawner = directSpawner): Promise<string> {
  const command = commandLine(file, args);
  let r;
  try {
    r = await spawner.run(file, args, timeoutMs);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const what = e.code === 'ENOENT' ? `cannot run: ${file} is not installed${file === 'ip' ? ' (package iproute2)' : ''}` : `cannot run: ${e.message}`;
    throw vipError(command, what, { stderr: '', exitCode: null }, err);
  }
  if (r.code === 0 && !r.timedOut) return r.stdout;
  const text = r.stderr.trim().slice(0, KEEP_OUTPUT_CHARS);
  const what = r.timedOut
    ? `timed out after ${timeoutMs} ms${text ? `: ${text}` : ''}`
    : `failed (${r.code !== null ? `exit ${r.code}` : (r.signal ?? 'error')}): ${text || r.stdout.trim().slice(0, KEEP_OUTPUT_CHARS) || 'no output'}`;
  throw vipError(command, what, { stderr: text, exitCode: r.code });
}

/** Wait for every promise, then throw the first failure: no operation is left running behind an error. */
async function allSettledOrThrow<T>(promises: Promise<T>[]): Promise<T[]> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}

interface ArpingTools {
  /** `stdbuf` is there: arping's "ARPING" line arrives when the packet leaves, not at exit. */
  lineBuffered: boolean;
}

interface Burst {
  timer: NodeJS.Timeout | undefined;
  cancelled: boolean;
  readonly children: Set<SpawnedChild>;
}

export class VipManager {
  private readonly opts: VipManagerOptions;
  private readonly timeoutMs: number;
  private readonly bursts = new Map<string, Burst>();
  private readonly children = new Set<SpawnedChild>();
  /** Children we killed on purpose (remove, close, a new burst): their end is not a failure. */
  private readonly stopped = new WeakSet<SpawnedChild>();
  private readonly spawner: Spawner;
  /** The co-process we started, ours to end. */
  private readonly ownClient: SpawnClient | undefined;
  private tools: Promise<ArpingTools> | undefined;
  private closed = false;
  private readonly batch: IpBatch;

  constructor(opts: VipManagerOptions) {
    this.opts = opts;
    this.timeoutMs = opts.runTimeoutMs ?? DEFAULT_RUN_TIMEOUT_MS;
    this.batch = new IpBatch({ netns: opts.netns, timeoutMs: this.timeoutMs });
    if (opts.spawner === 'direct') this.spawner = directSpawner;
    else this.spawner = opts.spawner ?? (this.ownClient = new SpawnClient({ log: opts.log }));
  }

  /**
   * At start-up, so that the first takeover pays for nothing but its commands: starts the
   * spawn co-process and probes arping and stdbuf through it. Never throws: a missing
   * arping is logged here and garp() fails with it later.
   */
  async prepare(): Promise<void> {
    this.batch.start();
    if (this.spawner instanceof SpawnClient && !(await this.spawner.ready(this.timeoutMs))) {
      this.opts.log.warn('spawn_server_not_ready', { cause: `the spawn co-process is not running ${this.timeoutMs} ms after its start (see spawn_server_* above); commands fork halo directly meanwhile` });
    }
    await this.loadTools().catch((err: unknown) => {
      this.opts.log.warn('garp_unavailable', { code: (err as HaloError).code, cause: (err as Error).message });
    });
  }

  /** Add (or refresh) every VIP at once; per-VIP completion times, performance.now(). */
  async add(): Promise<{ addedAt: number[] }> {
    const addedAt = await allSettledOrThrow(
      this.opts.vips.map(async (v) => {
        await this.ip(addrReplaceArgs(v, this.opts.lifetimeMs));
        return performance.now();
      }),
    );
    return { addedAt };
  }

  /** Push the lifetime forward (the master, periodically). Also puts back a deleted VIP. */
  async renew(): Promise<void> {
    await allSettledOrThrow(this.opts.vips.map((v) => this.ip(addrReplaceArgs(v, this.opts.lifetimeMs))));
  }

  /**
   * Delete every VIP; one that is not there is fine. Pending GARPs for them stop first:
   * announcing a VIP we just gave up would pull clients back to us.
   */
  /** Stop announcing (a master stepping down) without giving the address up yet. */
  stopGarp(): void {
    for (const v of this.opts.vips) this.cancelBurst(burstKey(v), true);
  }

  async remove(): Promise<void> {
    this.stopGarp();
    await allSettledOrThrow(
      this.opts.vips.map(async (v) => {
        try {
          await this.ip(addrDelArgs(v));
        } catch (err) {
          if (!(err instanceof HaloError && isNotPresentError(String(err.details['stderr'] ?? '')))) throw err;
        }
      }),
    );
  }

  /** Which VIPs (by configured address) are on their interface now. */
  async present(): Promise<Map<string, boolean>> {
    const ifaces = [...new Set(this.opts.vips.map((v) => v.interface))];
    const onIface = new Map(
      await allSettledOrThrow(ifaces.map(async (i) => [i, new Set(parseIpAddrOutput(await this.ip(addrShowArgs(i))).map((e) => e.cidr))] as const)),
    );
    return new Map(this.opts.vips.map((v) => [v.address, onIface.get(v.interface)?.has(v.address) ?? false]));
  }

  /** At start-up: delete our VIPs left on the interfaces by an earlier run; returns those removed. */
  async removeStale(): Promise<string[]> {
    const present = await this.present();
    const stale = this.opts.vips.filter((v) => present.get(v.address) === true);
    await allSettledOrThrow(stale.map((v) => this.ip(addrDelArgs(v))));
    return stale.map((v) => v.address);
  }

  /**
   * Fails with HALO_ERR_VIP naming iputils-arping when arping is missing or another
   * arping (Habets', busybox) with other flags. garp() calls it; call it at start-up to
   * fail before becoming master.
   */
  async checkTools(): Promise<void> {
    await this.loadTools();
  }

  /**
   * A burst of garp.count GARPs per VIP, all VIPs at once. Resolves when the first GARP
   * of every VIP has left (sentAt: the last of those; vipSentAt: per VIP, config order);
   * the rest follow every intervalMs without holding up the caller. A new burst for a
   * VIP cancels the one still running; a first GARP that fails rejects with HALO_ERR_VIP.
   */
  async garp(reason: string): Promise<{ sentAt: number; vipSentAt: number[] }> {
    if (this.closed) throw new HaloError('HALO_ERR_VIP', 'garp after close()');
    const tools = await this.loadTools();
    const vipSentAt = await allSettledOrThrow(this.opts.vips.map((v) => this.burst(v, reason, tools)));
    return { sentAt: vipSentAt.length > 0 ? Math.max(...vipSentAt) : performance.now(), vipSentAt };
  }

  /** Stop every burst and kill every arping still running (waits for them, bounded). */
  async close(): Promise<void> {
    this.closed = true;
    this.batch.close();
    for (const key of [...this.bursts.keys()]) this.cancelBurst(key, true);
    const left = [...this.children];
    for (const child of left) this.kill(child, 'SIGKILL');
    await Promise.all(left.map((c) => exited(c, this.timeoutMs)));
    await this.ownClient?.close();
  }

  // ---- internals -----------------------------------------------------------------

  /** Through the batch channel when it runs (replace and del: the takeover path), else a spawn. */
  private async ip(args: string[]): Promise<string> {
    if (args[0] === 'addr' && (args[1] === 'replace' || args[1] === 'del')) {
      try {
        const r = await this.batch.run(args);
        if (r.ok) return r.output;
        const command = commandLine('ip', ipArgs(this.opts.netns, args));
        throw vipError(command, `failed: ${r.output || 'no output'}`, { stderr: r.output, exitCode: 1 });
      } catch (err) {
        if (!(err instanceof IpBatchLost)) throw err;
        this.opts.log.debug('ip_batch_lost', { cause: err.message });
      }
    }
    const run = () => runVipCommand('ip', ipArgs(this.opts.netns, args), this.timeoutMs, this.spawner);
    try {
      return await run();
    } catch (err) {
      // The co-process died under it: `ip addr` replace/del/show can be run again (directly, by then).
      if (err instanceof HaloError && (err.cause as NodeJS.ErrnoException | undefined)?.code === SPAWN_SERVER_LOST) return run();
      throw err;
    }
  }

  /** Probed once; a failure is not kept, so installing arping later is enough. */
  private loadTools(): Promise<ArpingTools> {
    this.tools ??= this.probeTools().catch((err: unknown) => {
      this.tools = undefined;
      throw err;
    });
    return this.tools;
  }

  private async probeTools(): Promise<ArpingTools> {
    let version: string;
    try {
      version = await runVipCommand('arping', ['-V'], this.timeoutMs, this.spawner);
    } catch (err) {
      const details = err instanceof HaloError ? err.details : {};
      if ((err as { cause?: NodeJS.ErrnoException }).cause?.code === 'ENOENT') {
        throw new HaloError('HALO_ERR_VIP', '`arping -V`: arping is not installed; GARP needs iputils arping (Debian/Ubuntu: apt-get install iputils-arping)', details, { cause: err });
      }
      throw new HaloError('HALO_ERR_VIP', `${(err as Error).message}; GARP needs iputils arping (package iputils-arping)`, details, { cause: err });
    }
    if (!/iputils/i.test(version)) {
      throw new HaloError('HALO_ERR_VIP', `\`arping -V\` printed "${version.trim().slice(0, 200)}": GARP needs iputils arping (package iputils-arping), whose -U -c -I it uses`, {
        command: 'arping -V',
      });
    }
    const lineBuffered = await runVipCommand('stdbuf', ['--version'], this.timeoutMs, this.spawner).then(
      () => true,
      () => false,
    );
    if (!lineBuffered) {
      this.opts.log.warn('garp_timing_coarse', { cause: 'stdbuf (coreutils) not found: arping holds its output until it exits, so GARP "sent at" times are up to 1 s late' });
    }
    return { lineBuffered };
  }

  private async burst(v: VipSpec, reason: string, tools: ArpingTools): Promise<number> {
    const key = burstKey(v);
    // In-flight GARPs of the old burst are left to finish: each is one packet already on its way.
    this.cancelBurst(key, false);
    const burst: Burst = { timer: undefined, cancelled: false, children: new Set() };
    this.bursts.set(key, burst);
    const { count, intervalMs } = this.opts.garp;
    let firstAt: number;
    try {
      firstAt = await this.sendOne(v, burst, 1, reason, tools);
    } catch (err) {
      if (this.bursts.get(key) === burst) this.bursts.delete(key);
      throw err;
    }
    const next = (seq: number): void => {
      if (burst.cancelled) return;
      if (seq > count) {
        if (this.bursts.get(key) === burst) this.bursts.delete(key);
        return;
      }
      burst.timer = setTimeout(() => {
        burst.timer = undefined;
        if (burst.cancelled) return;
        this.sendOne(v, burst, seq, reason, tools).catch((err: unknown) => {
          this.opts.log.warn('garp_failed', { vip: v.address, interface: v.interface, reason, seq, of: count, code: (err as HaloError).code, cause: (err as Error).message });
        });
        next(seq + 1);
      }, Math.max(0, firstAt + (seq - 1) * intervalMs - performance.now()));
    };
    next(2);
    return firstAt;
  }

  private cancelBurst(key: string, killChildren: boolean): void {
    const burst = this.bursts.get(key);
    if (!burst) return;
    burst.cancelled = true;
    if (burst.timer) clearTimeout(burst.timer);
    burst.timer = undefined;
    this.bursts.delete(key);
    if (killChildren) for (const child of burst.children) this.kill(child, 'SIGKILL');
  }

  private kill(child: SpawnedChild, signal: NodeJS.Signals): void {
    this.stopped.add(child);
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  }

  /** One `arping -U -c 1`; resolves with the time its packet left (see the file comment). */
  private sendOne(v: VipSpec, burst: Burst, seq: number, reason: string, tools: ArpingTools): Promise<number> {
    const { file, args } = arpingCommand(v, { netns: this.opts.netns, lineBuffered: tools.lineBuffered });
    const command = commandLine(file, args);
    const { count } = this.opts.garp;
    return new Promise<number>((resolve, reject) => {
      const child = this.spawner.spawn(file, args);
      this.children.add(child);
      burst.children.add(child);
      let stdout = '';
      let stderr = '';
      let sentAt: number | undefined;
      let timedOut = false;
      let linger: NodeJS.Timeout | undefined;
      const timeout = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, Math.max(this.timeoutMs, ARPING_MIN_TIMEOUT_MS));
      const sent = (at: number): void => {
        sentAt = at;
        this.opts.log.debug('garp_sent', { vip: v.address, interface: v.interface, reason, seq, of: count });
        resolve(at);
      };
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (chunk: string) => {
        if (stdout.length < KEEP_OUTPUT_CHARS) stdout += chunk;
        if (sentAt === undefined && stdout.includes('\n') && !/Sent \d+ probe/.test(stdout)) {
          sent(performance.now());
          // arping would wait 1 s more for nothing; it handles SIGTERM after its send
          linger = setTimeout(() => {
            if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
          }, ARPING_LINGER_MS);
        }
      });
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (chunk: string) => {
        if (stderr.length < KEEP_OUTPUT_CHARS) stderr += chunk;
      });
      child.on('error', (err) => {
        // only a failed spawn matters here; after it, 'close' reports the end
        if (child.pid !== undefined) return;
        clearTimeout(timeout);
        this.children.delete(child);
        burst.children.delete(child);
        reject(vipError(command, `cannot run: ${err.message}`, {}, err));
      });
      child.on('close', (code, signal) => {
        clearTimeout(timeout);
        if (linger) clearTimeout(linger);
        this.children.delete(child);
        burst.children.delete(child);
        const confirmed = arpingSentCount(stdout) > 0;
        const how = timedOut ? `timed out after ${Math.max(this.timeoutMs, ARPING_MIN_TIMEOUT_MS)} ms` : signal ? `killed by ${signal}` : `exit ${String(code)}`;
        const err = stderr.trim();
        if (sentAt === undefined) {
          // no early line: stdbuf missing or without effect, so exit is the best we know
          if (confirmed) sent(performance.now());
          else if (this.stopped.has(child)) reject(vipError(command, 'stopped before its GARP was sent (VIP removed or manager closed)'));
          else reject(vipError(command, `failed (${how}): ${err || stdout.trim() || 'no output'}`, { stderr: err, exitCode: code }));
          return;
        }
        if (!confirmed && !this.stopped.has(child)) {
          this.opts.log.warn('garp_not_confirmed', { vip: v.address, interface: v.interface, reason, seq, command, cause: `${how}: ${err || stdout.trim()}` });
        }
      });
    });
  }
}

function burstKey(v: VipSpec): string {
  return `${v.address} dev ${v.interface}`;
}

function exited(child: SpawnedChild, timeoutMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    child.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
