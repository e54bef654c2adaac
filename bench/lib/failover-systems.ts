/**
 * The systems the failover benchmark compares, each on a lab of its own: halo (election
 * and data plane in one process) at two advert intervals, and keepalived moving the VIP
 * in front of halo's data plane (lab `election: false`). Each knows how to inject the
 * four faults on a node and undo them.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Lab, type LabState } from '../../src/app/lab/index.js';
import { lastLines, renderLine } from '../../src/app/lab/logs.js';
import { LAB_IFNAME, LAB_VIP, LAB_VIP_CIDR } from '../../src/app/lab/plan.js';
import { ip, ipJson } from '../../src/app/lab/system.js';
import { KeepalivedNode, keepalivedConfig } from './failover-keepalived.js';
import type { ProcessGroup } from './procs.js';

export const SCENARIOS = ['sigterm', 'sigkill', 'linkdown', 'partition'] as const;
export type Scenario = (typeof SCENARIOS)[number];

export const SYSTEM_IDS = ['halo', 'halo-fast', 'halo-100', 'halo-100-rfc', 'halo-1s', 'keepalived', 'keepalived-1s'] as const;
export type SystemId = (typeof SYSTEM_IDS)[number];

export interface SystemSpec {
  id: SystemId;
  kind: 'halo' | 'keepalived';
  advertIntervalMs: number;
  /** halo: cluster.down_adverts when not the default (the profiles compared with keepalived keep RFC 5798's 3) */
  downAdverts?: number;
  /** halo: cluster.skew when not the default (relative) */
  skew?: 'rfc';
  /** for tables: what runs and how it is set */
  label: string;
}

export const SYSTEMS: Record<SystemId, SystemSpec> = {
  halo: { id: 'halo', kind: 'halo', advertIntervalMs: 40, label: 'halo (defaults: adverts 40 ms, 5 missed)' },
  'halo-fast': { id: 'halo-fast', kind: 'halo', advertIntervalMs: 20, downAdverts: 3, label: 'halo, fast profile (adverts 20 ms, 3 missed)' },
  'halo-100': { id: 'halo-100', kind: 'halo', advertIntervalMs: 100, downAdverts: 3, label: 'halo, adverts 100 ms, 3 missed (as keepalived)' },
  'halo-100-rfc': { id: 'halo-100-rfc', kind: 'halo', advertIntervalMs: 100, downAdverts: 3, skew: 'rfc', label: "halo, adverts 100 ms, 3 missed, skew rfc (keepalived's timers exactly)" },
  'halo-1s': { id: 'halo-1s', kind: 'halo', advertIntervalMs: 1000, downAdverts: 3, label: 'halo, adverts 1 s, 3 missed (as keepalived)' },
  keepalived: { id: 'keepalived', kind: 'keepalived', advertIntervalMs: 100, label: 'keepalived, advert_int 0.1' },
  'keepalived-1s': { id: 'keepalived-1s', kind: 'keepalived', advertIntervalMs: 1000, label: 'keepalived, advert_int 1 (its default)' },
};

export const MASTER = 'lb1';
export const BACKUP = 'lb2';
const PRIORITY: Record<string, number> = { lb1: 150, lb2: 100 };
const VIRTUAL_ROUTER_ID = 77;

interface AddrRow { addr_info?: Array<{ family?: string; local?: string }> }
interface LinkRow { address?: string }

export class SystemUnderTest {
  readonly lab: Lab;
  readonly #keepalived = new Map<string, KeepalivedNode>();

  constructor(
    readonly spec: SystemSpec,
    labName: string,
    private readonly group: ProcessGroup,
    haloCommand?: string[],
  ) {
    const common = { name: labName, nodes: 2 as const, ...(haloCommand !== undefined ? { haloCommand } : {}) };
    this.lab =
      spec.kind === 'halo'
        ? new Lab({
            ...common,
            election: true,
            ...(spec.advertIntervalMs !== 40 || spec.downAdverts !== undefined || spec.skew !== undefined
              ? {
                  clusterOverrides: {
                    advert_interval_ms: spec.advertIntervalMs,
                    ...(spec.downAdverts !== undefined ? { down_adverts: spec.downAdverts } : {}),
                    ...(spec.skew !== undefined ? { skew: spec.skew } : {}),
                  },
                }
              : {}),
          })
        : new Lab({ ...common, election: false });
  }

  async up(): Promise<void> {
    const state = await this.lab.up();
    if (this.spec.kind !== 'keepalived') return;
    for (const host of state.hosts.filter((h) => h.role === 'lb')) {
      const config = keepalivedConfig({
        node: host.name,
        priority: PRIORITY[host.name] ?? 50,
        advertIntervalS: this.spec.advertIntervalMs / 1000,
        virtualRouterId: VIRTUAL_ROUTER_ID,
        interface: LAB_IFNAME,
        vip: LAB_VIP_CIDR,
      });
      const node = new KeepalivedNode(host.name, host.namespace, `${state.stateDir}/keepalived-${host.name}`, config, this.group);
      this.#keepalived.set(host.name, node);
      await node.start();
    }
  }

  #state(): LabState {
    return this.lab.state();
  }

  #namespace(node: string): string {
    const host = this.#state().hosts.find((h) => h.name === node);
    if (host === undefined) throw new Error(`no host ${node} in lab ${this.lab.name}`);
    return host.namespace;
  }

  /**
   * Injects the fault. For keepalived, SIGTERM stops keepalived first (it releases the
   * VIP) and then the data plane, the order a careful operator or a unit ordering uses;
   * SIGKILL kills keepalived and the data plane at once, like halo's single process.
   */
  async fault(scenario: Scenario, node: string): Promise<void> {
    const ka = this.#keepalived.get(node);
    switch (scenario) {
      case 'sigterm':
        if (ka !== undefined) await ka.stop();
        await this.lab.stop(node);
        return;
      case 'sigkill':
        await Promise.all([ka?.kill(), this.lab.kill(node)]);
        return;
      case 'linkdown':
        await this.lab.linkdown(node);
        return;
      case 'partition':
        await this.lab.partition(node);
        return;
    }
  }

  /**
   * Undoes the fault. For keepalived a VIP that SIGKILL left on the node is removed by
   * hand first, so its restart starts clean; halo is left to remove it itself (it logs
   * stale_vip_removed at start). Returns whether that removal happened.
   */
  async restore(scenario: Scenario, node: string): Promise<{ removedStaleVip: boolean }> {
    const ka = this.#keepalived.get(node);
    let removedStaleVip = false;
    switch (scenario) {
      case 'sigterm':
      case 'sigkill':
        if (ka !== undefined && (await this.holdsVip(node))) {
          await ip('-n', this.#namespace(node), 'addr', 'del', LAB_VIP_CIDR, 'dev', LAB_IFNAME);
          removedStaleVip = true;
        }
        await this.lab.start(node);
        if (ka !== undefined) await ka.start();
        break;
      case 'linkdown':
        await this.lab.linkup(node);
        break;
      case 'partition':
        await this.lab.heal(node);
        break;
    }
    return { removedStaleVip };
  }

  /** After a failed repetition: every node running, every port up and forwarding. */
  async repair(): Promise<string[]> {
    const done: string[] = [];
    const status = await this.lab.status();
    for (const n of status.nodes) {
      if (n.port !== undefined && !n.port.up) {
        await this.lab.linkup(n.name);
        done.push(`linkup ${n.name}`);
      }
      if (n.port !== undefined && n.port.state !== 'forwarding') {
        await this.lab.heal(n.name);
        done.push(`heal ${n.name}`);
      }
      if (!n.running) {
        await this.lab.start(n.name);
        done.push(`start ${n.name}`);
      }
      const ka = this.#keepalived.get(n.name);
      if (ka !== undefined && !ka.isRunning()) {
        if (await this.holdsVip(n.name)) await ip('-n', n.namespace, 'addr', 'del', LAB_VIP_CIDR, 'dev', LAB_IFNAME);
        await ka.start();
        done.push(`start keepalived ${n.name}`);
      }
    }
    return done;
  }

  async holdsVip(node: string): Promise<boolean> {
    const rows = await ipJson<AddrRow>('-n', this.#namespace(node), 'addr', 'show', 'dev', LAB_IFNAME).catch(() => []);
    return rows.some((r) => (r.addr_info ?? []).some((a) => a.family === 'inet' && a.local === LAB_VIP));
  }

  async vipHolders(): Promise<string[]> {
    const out: string[] = [];
    for (const node of [MASTER, BACKUP]) if (await this.holdsVip(node)) out.push(node);
    return out;
  }

  async macs(): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const node of [MASTER, BACKUP]) {
      const [row] = await ipJson<LinkRow>('-n', this.#namespace(node), 'link', 'show', 'dev', LAB_IFNAME);
      if (row?.address !== undefined) out.set(node, row.address);
    }
    return out;
  }

  /** Watches the client's neighbour entry for the VIP (`ip monitor neigh`), from now on. */
  watchClientArp(): ArpWatch {
    return new ArpWatch(this.#namespace('client'));
  }

  /** The last lines of both nodes' logs (halo's, and keepalived's when it runs). */
  logTail(lines: number): string[] {
    const out: string[] = [];
    for (const host of this.#state().hosts.filter((h) => h.role === 'lb')) {
      if (host.log !== undefined) for (const l of lastLines(host.log, lines).lines) out.push(`${host.name} | ${renderLine(l)}`);
      const ka = this.#keepalived.get(host.name);
      if (ka !== undefined) for (const l of ka.tail(lines)) out.push(`${host.name} keepalived | ${l}`);
    }
    return out;
  }

  /** Copies every node's log (and keepalived's output) into `dir`, named after the system. */
  saveLogs(dir: string): void {
    mkdirSync(dir, { recursive: true });
    for (const host of this.#state().hosts) {
      if (host.log !== undefined && existsSync(host.log)) copyFileSync(host.log, join(dir, `${this.spec.id}-${host.name}.log`));
      const ka = this.#keepalived.get(host.name);
      if (ka !== undefined) writeFileSync(join(dir, `${this.spec.id}-${host.name}-keepalived.log`), `${ka.tail(100_000).join('\n')}\n`);
    }
  }

  /** Stops keepalived, takes the lab down, removes our files; safe to call twice. */
  async down(): Promise<void> {
    for (const ka of this.#keepalived.values()) {
      await ka.kill().catch(() => undefined);
      ka.removeFiles();
    }
    await this.lab.down();
  }
}

/**
 * The client's ARP entry for the VIP as the kernel changes it, timed on arrival
 * (performance.now()): `ip monitor` reports each update as it happens, where polling
 * `ip neigh` would add its own period to every measurement.
 */
export class ArpWatch {
  readonly changes: Array<{ at: number; mac: string }> = [];
  readonly #child;

  constructor(namespace: string) {
    this.#child = spawn('ip', ['-n', namespace, 'monitor', 'neigh'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let buf = '';
    this.#child.stdout.setEncoding('utf8');
    this.#child.stdout.on('data', (chunk: string) => {
      const at = performance.now();
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const m = new RegExp(`^${LAB_VIP.replace(/\./g, '\\.')} dev \\S+ lladdr ([0-9a-f:]+)`).exec(line);
        if (m?.[1] !== undefined) this.changes.push({ at, mac: m[1] });
      }
    });
    this.#child.on('error', () => undefined);
  }

  /** Resolves once `ip monitor` runs (plus a little for it to subscribe), so no change is missed. */
  ready(): Promise<void> {
    return new Promise((resolve) => {
      const settle = () => setTimeout(resolve, 50);
      if (this.#child.pid !== undefined) settle();
      else {
        this.#child.once('spawn', settle);
        this.#child.once('error', () => resolve());
      }
    });
  }

  /** When the entry first pointed at `mac` at or after local time `since`. */
  firstAt(mac: string, since: number): number | undefined {
    return this.changes.find((c) => c.mac === mac && c.at >= since)?.at;
  }

  stop(): void {
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill('SIGKILL');
  }
}
