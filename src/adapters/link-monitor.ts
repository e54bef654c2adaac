/**
 * Link state of named interfaces, for interface tracking (keepalived's track_interface,
 * design.md section 3 "Tracking"). The initial state comes from `ip -o link show dev IF`;
 * after that one `ip -o monitor link` child reports every netlink link message, so a
 * pulled cable (carrier lost) is seen within milliseconds instead of at the next poll.
 *
 * A link is up when its flags hold UP and LOWER_UP and not NO-CARRIER: UP alone is only
 * the administrative state, and a veth whose peer went down keeps UP but loses carrier.
 */
import { execFile } from 'node:child_process';
import { HaloError } from '../core/errors.js';
import { IpMonitor } from './ip-monitor.js';
import { silentLogger, type Logger } from './logger.js';

export interface IpLinkLine {
  /** interface name without the `@peer` / `@ifN` suffix ip prints for linked devices */
  readonly name: string;
  /** the name as printed, suffix included */
  readonly label: string;
  readonly up: boolean;
  /** a `Deleted` message: the interface is gone (or moved to another namespace) */
  readonly deleted: boolean;
  readonly flags: readonly string[];
  /** why the link is down, or "link up" */
  readonly cause: string;
}

// [Deleted ]<ifindex>: <label>: <FLAGS> rest
const LINE = /^(Deleted\s+)?\d+:\s+(\S+?):\s+<([^>]*)>/;

function causeOf(flags: ReadonlySet<string>, deleted: boolean): string {
  if (deleted) return 'interface deleted';
  if (!flags.has('UP')) return 'administratively down';
  if (flags.has('NO-CARRIER')) return 'no carrier';
  if (!flags.has('LOWER_UP')) return 'lower layer down';
  return 'link up';
}

/**
 * One line of `ip -o link show` or `ip -o monitor link`, or undefined for anything else
 * (continuation lines, other message kinds). Pure, for unit tests on captured output.
 */
export function parseIpLinkLine(line: string): IpLinkLine | undefined {
  const m = LINE.exec(line.trim());
  if (!m) return undefined;
  const deleted = m[1] !== undefined;
  const label = m[2] ?? '';
  const flagList = (m[3] ?? '').split(',').filter((f) => f.length > 0);
  const flags = new Set(flagList);
  // "veth0@if12", "eth0.100@eth0", "vb@NONE": the part after the last @ names the peer
  // or lower device. (An interface whose own name contains "@" is matched on `label` too.)
  const at = label.lastIndexOf('@');
  const name = at > 0 ? label.slice(0, at) : label;
  const up = !deleted && flags.has('UP') && flags.has('LOWER_UP') && !flags.has('NO-CARRIER');
  return { name, label, up, deleted, flags: flagList, cause: causeOf(flags, deleted) };
}

export interface LinkMonitorOptions {
  readonly interfaces: readonly string[];
  /** Called only on real transitions, never for the initial state (start() returns that). */
  onChange(name: string, up: boolean, cause: string): void;
  readonly log?: Logger;
  /** Run `ip -n NETNS`: tests observe a namespace they made. halo runs inside its own and passes none. */
  readonly netns?: string;
  /** Path of the ip binary (default: `ip` from PATH). */
  readonly ipCommand?: string;
}

const READ_TIMEOUT_MS = 5000;
// At most one restart per second even if the child dies at once, growing to a bound
// while it keeps dying: a dead monitor is caught up by the re-read after the restart.
const BACKOFF = { minMs: 1000, maxMs: 5000, stableRunMs: 30_000 } as const;

interface LinkState {
  up: boolean;
  cause: string;
}

export class LinkMonitor {
  private readonly opts: LinkMonitorOptions;
  private readonly ip: string;
  private readonly monitor: IpMonitor;
  private readonly states = new Map<string, LinkState>();
  /** During start(): monitor lines update the state without calling onChange. */
  private starting = false;
  /**
   * Monitor lines seen per interface. A read that started before a line arrived is older
   * than that line, so its result is dropped (see readAll).
   */
  private readonly lineCount = new Map<string, number>();

  constructor(opts: LinkMonitorOptions) {
    this.opts = opts;
    this.ip = opts.ipCommand ?? 'ip';
    this.monitor = new IpMonitor({
      objects: ['link'],
      ...(opts.netns === undefined ? {} : { netns: opts.netns }),
      ipCommand: this.ip,
      onLine: (line) => this.onMonitorLine(line),
      onRestart: () => this.reread(),
      log: opts.log ?? silentLogger,
      event: 'link_monitor',
      logFields: { interfaces: opts.interfaces },
      errorCode: 'HALO_ERR_LINK_MONITOR',
      backoff: BACKOFF,
    });
  }

  /** Last known state: true = up, false = down, undefined = not tracked (or not started). */
  current(name: string): boolean | undefined {
    return this.states.get(name)?.up;
  }

  /** How often the monitor child was restarted after exiting on its own. */
  get restarts(): number {
    return this.monitor.restarts;
  }

  /** The running `ip monitor` child's pid (tests kill it to exercise the restart path). */
  get monitorPid(): number | undefined {
    return this.monitor.pid;
  }

  /**
   * Start the monitor, then read every interface's state, so a transition during the
   * read is not lost. Resolves with that initial state; rejects with
   * HALO_ERR_LINK_MONITOR when `ip` cannot be run at all.
   */
  async start(): Promise<Map<string, boolean>> {
    // checked here too: the failure path below would stop the monitor already running
    if (this.monitor.running) throw new HaloError('HALO_ERR_LINK_MONITOR', 'link monitor already started');
    try {
      this.starting = true;
      await this.monitor.start();
      for (const [name, state] of await this.readAll()) this.states.set(name, state);
    } catch (err) {
      await this.stop();
      throw err;
    } finally {
      this.starting = false;
    }
    return new Map([...this.states].map(([name, s]) => [name, s.up]));
  }

  /** Kill the monitor child (and wait for it, bounded) and cancel a pending restart. */
  stop(): Promise<void> {
    return this.monitor.stop();
  }

  private onMonitorLine(line: string): void {
    const parsed = parseIpLinkLine(line);
    if (!parsed) return;
    const name = this.trackedName(parsed);
    if (name === undefined) return;
    this.lineCount.set(name, (this.lineCount.get(name) ?? 0) + 1);
    this.apply(name, { up: parsed.up, cause: parsed.cause });
  }

  private trackedName(parsed: IpLinkLine): string | undefined {
    const names = this.opts.interfaces;
    if (names.includes(parsed.label)) return parsed.label;
    return names.includes(parsed.name) ? parsed.name : undefined;
  }

  private apply(name: string, next: LinkState): void {
    const prev = this.states.get(name);
    this.states.set(name, next);
    if (this.starting || !this.monitor.running) return;
    if (prev === undefined || prev.up !== next.up) this.opts.onChange(name, next.up, next.cause);
  }

  /** After a monitor restart: report what changed while it was not running. */
  private async reread(): Promise<void> {
    const states = await this.readAll();
    for (const [name, state] of states) this.apply(name, { up: state.up, cause: `${state.cause} (read after monitor restart)` });
  }

  /**
   * Read every interface, leaving out those the monitor reported on meanwhile: its line
   * is newer than the read. (The monitor is spawned first, so only a change in the
   * instant before it subscribes to netlink can slip between the two.)
   */
  private async readAll(): Promise<Map<string, LinkState>> {
    const before = new Map(this.opts.interfaces.map((name) => [name, this.lineCount.get(name) ?? 0]));
    const entries = await Promise.all(this.opts.interfaces.map(async (name) => [name, await this.readOne(name)] as const));
    return new Map(entries.filter(([name]) => (this.lineCount.get(name) ?? 0) === before.get(name)));
  }

  private readOne(name: string): Promise<LinkState> {
    const args = [...(this.opts.netns ? ['-n', this.opts.netns] : []), '-o', 'link', 'show', 'dev', name];
    return new Promise((resolve, reject) => {
      execFile(this.ip, args, { timeout: READ_TIMEOUT_MS }, (err, stdout, stderr) => {
        if (err) {
          // iproute2: 'Device "eth9" does not exist.' (exit 1)
          if (/does not exist/i.test(stderr)) {
            resolve({ up: false, cause: 'no such interface' });
            return;
          }
          reject(
            new HaloError(
              'HALO_ERR_LINK_MONITOR',
              `cannot read link state of ${name} with \`${this.ip} ${args.join(' ')}\`: ${stderr.trim() || err.message}`,
              { interface: name, command: this.ip, args },
              { cause: err },
            ),
          );
          return;
        }
        const parsed = stdout
          .split('\n')
          .map(parseIpLinkLine)
          .find((p) => p !== undefined);
        if (!parsed) {
          reject(new HaloError('HALO_ERR_LINK_MONITOR', `cannot parse \`${this.ip} ${args.join(' ')}\` output: ${stdout.slice(0, 200)}`, { interface: name }));
          return;
        }
        resolve({ up: parsed.up, cause: parsed.cause });
      });
    });
  }
}
