/**
 * Reports every deletion of one of our VIPs from its interface, from one long-running
 * `ip -o -4 monitor address` child, so a master whose VIP someone removed (an operator,
 * a network script, deleting the interface's primary address, which takes secondaries
 * in the same subnet with it) puts it back within milliseconds (design.md section 3,
 * "VIP": "If someone deletes the VIP under us, put it back").
 *
 * Every deletion is reported, our own included: the caller knows whether it is master
 * and ignores the rest. A monitor that exits is restarted with a bounded backoff; after a
 * restart each interface is read once and a watched address that is missing is reported
 * as deleted, since its deletion may have fallen in the gap.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { HaloError } from '../core/errors.js';
import { parseIpAddrLine, parseIpAddrOutput, type IpAddrEntry } from './ip-addr-lines.js';
import type { Logger } from './logger.js';
import { addrShowArgs, ipArgs, runVipCommand } from './vip-iproute.js';

export interface WatchedAddress {
  /** a.b.c.d/len matches that prefix length only; a.b.c.d matches any. */
  readonly address: string;
  readonly interface: string;
}

export interface AddressMonitorOptions {
  readonly addresses: readonly WatchedAddress[];
  /** Called with the address and interface exactly as given in `addresses`. */
  onDeleted(address: string, iface: string): void;
  /** Tests only: `ip -n NS -o -4 monitor address`. */
  readonly netns?: string;
  readonly log: Logger;
}

export const RESTART_MIN_MS = 500;
export const RESTART_MAX_MS = 5000;
/** A monitor that ran this long before exiting restarts after the minimum delay again. */
export const STABLE_RUN_MS = 30_000;
const READ_TIMEOUT_MS = 5000;
const STOP_WAIT_MS = 2000;

/** The watched address a line of `ip monitor address` deletes, if any. */
export function matchDeleted(entry: IpAddrEntry | undefined, addresses: readonly WatchedAddress[]): WatchedAddress | undefined {
  if (!entry?.deleted) return undefined;
  return addresses.find((w) => w.interface === entry.ifname && (w.address.includes('/') ? w.address === entry.cidr : w.address === entry.address));
}

/** Watched addresses not in `ip -o -4 addr show dev IF` output. */
export function missingFrom(stdout: string, iface: string, addresses: readonly WatchedAddress[]): WatchedAddress[] {
  const present = parseIpAddrOutput(stdout).filter((e) => e.ifname === iface);
  return addresses.filter(
    (w) => w.interface === iface && !present.some((e) => (w.address.includes('/') ? w.address === e.cidr : w.address === e.address)),
  );
}

/**
 * Backoff for the next restart: never under RESTART_MIN_MS (a child that dies at once
 * does not spin), doubling up to RESTART_MAX_MS while it keeps dying, back to the
 * minimum after a run of STABLE_RUN_MS.
 */
export function restartDelay(prevDelayMs: number, ranMs: number): { delayMs: number; nextDelayMs: number } {
  const delayMs = ranMs >= STABLE_RUN_MS ? RESTART_MIN_MS : Math.min(Math.max(RESTART_MIN_MS, prevDelayMs), RESTART_MAX_MS);
  return { delayMs, nextDelayMs: Math.min(delayMs * 2, RESTART_MAX_MS) };
}

export class AddressMonitor {
  private readonly opts: AddressMonitorOptions;
  private child: ChildProcess | undefined;
  private childStartedAt = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private nextDelayMs = RESTART_MIN_MS;
  private restartCount = 0;
  private running = false;

  constructor(opts: AddressMonitorOptions) {
    this.opts = opts;
  }

  /** How often the monitor child was restarted after exiting on its own. */
  get restarts(): number {
    return this.restartCount;
  }

  /** The running `ip monitor` child's pid (tests kill it to exercise the restart). */
  get monitorPid(): number | undefined {
    return this.child?.pid;
  }

  /** Resolves once `ip monitor` runs; rejects with HALO_ERR_VIP when it cannot be started. */
  async start(): Promise<void> {
    if (this.running) throw new HaloError('HALO_ERR_VIP', 'address monitor already started');
    this.running = true;
    try {
      await this.spawnMonitor();
    } catch (err) {
      this.running = false;
      throw err;
    }
  }

  /** Kill the child (waiting for it, bounded) and cancel a pending restart. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve();
      }, STOP_WAIT_MS);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill('SIGTERM');
    });
  }

  private spawnMonitor(): Promise<void> {
    const args = ipArgs(this.opts.netns, ['-o', '-4', 'monitor', 'address']);
    const child = spawn('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.childStartedAt = performance.now();
    let lastStderr = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      const lines = chunk.trim().split('\n');
      lastStderr = (lines[lines.length - 1] ?? '').slice(0, 300);
    });
    if (child.stdout) createInterface({ input: child.stdout }).on('line', (line) => this.onLine(line));
    return new Promise<void>((resolve, reject) => {
      let spawned = false;
      child.once('spawn', () => {
        spawned = true;
        // 'close', not 'exit': by then stderr is drained, so the log names the real cause
        child.once('close', (code, signal) => this.onExit(child, code, signal, lastStderr));
        resolve();
      });
      child.on('error', (err) => {
        if (spawned) return;
        if (this.child === child) this.child = undefined;
        reject(new HaloError('HALO_ERR_VIP', `cannot run \`ip ${args.join(' ')}\`: ${err.message}`, { command: `ip ${args.join(' ')}` }, { cause: err }));
      });
    });
  }

  private onLine(line: string): void {
    const hit = matchDeleted(parseIpAddrLine(line), this.opts.addresses);
    if (hit) this.report(hit, 'deleted');
  }

  private report(w: WatchedAddress, how: string): void {
    if (!this.running) return;
    this.opts.log.debug('vip_address_deleted', { vip: w.address, interface: w.interface, cause: how });
    try {
      this.opts.onDeleted(w.address, w.interface);
    } catch (err) {
      // a throwing handler must not take the monitor down with it
      this.opts.log.error('vip_address_handler_failed', { vip: w.address, interface: w.interface, cause: (err as Error).message });
    }
  }

  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null, stderr: string): void {
    if (this.child !== child) return;
    this.child = undefined;
    if (!this.running) return;
    const ranMs = performance.now() - this.childStartedAt;
    const { delayMs, nextDelayMs } = restartDelay(this.nextDelayMs, ranMs);
    this.nextDelayMs = nextDelayMs;
    this.restartCount++;
    this.opts.log.warn('address_monitor_restart', {
      vips: this.opts.addresses.map((w) => w.address),
      exit_code: code,
      signal,
      ran_ms: Math.round(ranMs),
      delay_ms: Math.round(delayMs),
      restarts: this.restartCount,
      cause: stderr || `\`ip monitor address\` exited (${signal ?? `code ${String(code)}`})`,
    });
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      void this.restart();
    }, delayMs);
  }

  /** Respawn, then report watched addresses that went missing while no monitor ran. */
  private async restart(): Promise<void> {
    if (!this.running) return;
    try {
      await this.spawnMonitor();
    } catch (err) {
      this.opts.log.error('address_monitor_failed', { cause: (err as Error).message });
      if (this.running) this.restartTimer = setTimeout(() => void this.restart(), RESTART_MAX_MS);
      return;
    }
    const ifaces = [...new Set(this.opts.addresses.map((w) => w.interface))];
    await Promise.all(
      ifaces.map(async (iface) => {
        try {
          const stdout = await runVipCommand('ip', ipArgs(this.opts.netns, addrShowArgs(iface)), READ_TIMEOUT_MS);
          for (const w of missingFrom(stdout, iface, this.opts.addresses)) this.report(w, 'missing after a monitor restart');
        } catch (err) {
          this.opts.log.error('address_monitor_failed', { interface: iface, cause: (err as Error).message });
        }
      }),
    );
  }
}
