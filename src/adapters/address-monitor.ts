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
import { IpMonitor, nextRestartDelay, type RestartBackoff } from './ip-monitor.js';
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
const BACKOFF: RestartBackoff = { minMs: RESTART_MIN_MS, maxMs: RESTART_MAX_MS, stableRunMs: STABLE_RUN_MS };
const READ_TIMEOUT_MS = 5000;

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

/** Backoff for the next restart with this monitor's constants (see nextRestartDelay). */
export function restartDelay(prevDelayMs: number, ranMs: number): { delayMs: number; nextDelayMs: number } {
  return nextRestartDelay(prevDelayMs, ranMs, BACKOFF);
}

export class AddressMonitor {
  private readonly opts: AddressMonitorOptions;
  private readonly monitor: IpMonitor;

  constructor(opts: AddressMonitorOptions) {
    this.opts = opts;
    this.monitor = new IpMonitor({
      objects: ['address'],
      family: 4,
      ...(opts.netns === undefined ? {} : { netns: opts.netns }),
      onLine: (line) => this.onLine(line),
      onRestart: () => this.checkMissing(),
      log: opts.log,
      event: 'address_monitor',
      logFields: { vips: opts.addresses.map((w) => w.address) },
      errorCode: 'HALO_ERR_VIP',
      backoff: BACKOFF,
    });
  }

  /** How often the monitor child was restarted after exiting on its own. */
  get restarts(): number {
    return this.monitor.restarts;
  }

  /** The running `ip monitor` child's pid (tests kill it to exercise the restart). */
  get monitorPid(): number | undefined {
    return this.monitor.pid;
  }

  /** Resolves once `ip monitor` runs; rejects with HALO_ERR_VIP when it cannot be started. */
  start(): Promise<void> {
    return this.monitor.start();
  }

  /** Kill the child (waiting for it, bounded) and cancel a pending restart. */
  stop(): Promise<void> {
    return this.monitor.stop();
  }

  private onLine(line: string): void {
    const hit = matchDeleted(parseIpAddrLine(line), this.opts.addresses);
    if (hit) this.report(hit, 'deleted');
  }

  private report(w: WatchedAddress, how: string): void {
    if (!this.monitor.running) return;
    this.opts.log.debug('vip_address_deleted', { vip: w.address, interface: w.interface, cause: how });
    try {
      this.opts.onDeleted(w.address, w.interface);
    } catch (err) {
      // a throwing handler must not take the monitor down with it
      this.opts.log.error('vip_address_handler_failed', { vip: w.address, interface: w.interface, cause: (err as Error).message });
    }
  }

  /** After a monitor restart: report watched addresses that went missing while no monitor ran. */
  private async checkMissing(): Promise<void> {
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
