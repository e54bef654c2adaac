/**
 * `Lab`: a halo cluster on one Linux machine without Docker, in network namespaces
 * (design.md section 7). Used by `halo lab` and by the failover tests. Everything a later
 * process needs is in state.json, so `halo lab kill lb1` acts on a lab another
 * `halo lab up` built; `down` also works from the name alone when that file is lost.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { readdirSync, rmdirSync, unlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { parseConfig } from '../../config/load.js';
import { HaloError } from '../../core/errors.js';
import { needsCookieSecret, nodeConfig, type ClusterOverrides, type ServiceOverrides } from './configs.js';
import { addClientAddresses } from './client-addresses.js';
import type { ClientEvent, ClientJob } from './client-jobs.js';
import { ClientRun } from './client-run.js';
import { requestStatusLine, STATUS_TIMEOUT_MS, type NodeStatusLine } from './node-status.js';
import { cutReplicationLink, restoreReplicationLink } from './replication-cut.js';
import { cmdlineIs, hostArgv, isHostProcess, startHostProcess } from './host-process.js';
import { tailLogs, type TailOptions } from './logs.js';
import { buildSwitch, plugHost, setPortForwarding, setPortLink } from './network.js';
import { DEFAULT_LAB_NAME, LAB_HTTP_PORT, LAB_NAME_PATTERN, LAB_REPLICATION_PORT, LAB_VIP, LAB_VIP_CIDR, isLabNamespace, labHosts, switchNamespace, type BackendCount } from './plan.js';
import { runProbe, type ProbeResult } from './probe.js';
import { defaultStateDir, readState, STATE_VERSION, writeState, type HostState, type LabState } from './state.js';
import { labStatus, type LabStatus } from './status.js';
import { deleteNamespace, isAlive, isRoot, netnsList, netnsPids, signal, waitGone } from './system.js';
import type { ProbeSample } from './outages.js';

export interface LabOptions {
  /** prefix of every namespace; default "halo-lab" */
  name?: string;
  nodes?: 2 | 3;
  /** demo backends be1..beN; default 2 */
  backends?: BackendCount;
  /** default /run/halo-lab/NAME */
  stateDir?: string;
  /** how to start halo; default [node, <repo>/bin/halo.js] */
  haloCommand?: string[];
  /** false: the nodes' configs get no `cluster` section (data plane only) */
  election?: boolean;
  /** merged into every node's `cluster` section */
  clusterOverrides?: ClusterOverrides;
  /** merged after clusterOverrides, per node (lb1, lb2, lb3) */
  perNode?: Partial<Record<string, ClusterOverrides>>;
  /** every node's services: merged into web and echo by name, other names added (configs.ts) */
  services?: ServiceOverrides;
  logLevel?: 'error' | 'warn' | 'info' | 'debug';
}

export interface DownReport {
  namespaces: string[];
  /** processes killed outside a namespace (recorded PIDs whose namespace was already gone) */
  killed: number[];
}

export interface StopReport {
  node: string;
  /** false: it was not running */
  stopped: boolean;
  /** it ignored SIGTERM past the bound and got SIGKILL */
  escalated: boolean;
}

export const STOP_TIMEOUT_MS = 15_000;
const KILL_TIMEOUT_MS = 5000;
const COOKIE_KEY_FILE = 'cookie.key';

/** bin/halo.js next to this module's package: src/app/lab (tsx) and dist/app/lab alike are three levels down. */
export function defaultHaloCommand(): string[] {
  const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
  return [process.execPath, join(repo, 'bin', 'halo.js')];
}

function labError(message: string, details: Record<string, unknown> = {}): HaloError {
  return new HaloError('HALO_ERR_LAB', message, details);
}

export class Lab {
  readonly name: string;
  readonly nodes: 2 | 3;
  readonly backends: BackendCount;
  readonly stateDir: string;
  readonly haloCommand: string[];
  readonly #opts: LabOptions;
  readonly #clients = new Set<ClientRun>();

  constructor(opts: LabOptions = {}) {
    this.name = opts.name ?? DEFAULT_LAB_NAME;
    if (!LAB_NAME_PATTERN.test(this.name)) throw labError(`lab name "${this.name}": expected letters, digits, ".", "_" or "-", at most 40, starting with a letter or digit`);
    this.nodes = opts.nodes ?? 2;
    if (this.nodes !== 2 && this.nodes !== 3) throw labError(`nodes: expected 2 or 3, got ${String(this.nodes)}`);
    this.backends = opts.backends ?? 2;
    if (this.backends !== 2 && this.backends !== 3) throw labError(`backends: expected 2 or 3, got ${String(this.backends)}`);
    this.stateDir = opts.stateDir ?? defaultStateDir(this.name);
    this.haloCommand = opts.haloCommand ?? defaultHaloCommand();
    this.#opts = opts;
  }

  /** The lab's state as on disk now (another `halo lab` may have changed it). */
  state(): LabState {
    const state = readState(this.stateDir);
    if (state === undefined) throw labError(`no lab "${this.name}" here (${this.stateDir}/state.json is missing): start one with \`halo lab up${this.name === DEFAULT_LAB_NAME ? '' : ` --name ${this.name}`}\``);
    return state;
  }

  exists(): boolean {
    return readState(this.stateDir) !== undefined;
  }

  /** Hosts that run a process and have a bridge port: lb1..lbN, be1, be2. */
  nodeNames(state: LabState = this.state()): string[] {
    return state.hosts.filter((h) => h.role !== 'client').map((h) => h.name);
  }

  #host(state: LabState, name: string): HostState {
    const host = state.hosts.find((h) => h.name === name && h.role !== 'client');
    if (host === undefined) throw labError(`unknown node "${name}" (known: ${this.nodeNames(state).join(', ')})`, { node: name });
    return host;
  }

  async up(): Promise<LabState> {
    if (!isRoot()) throw labError('halo lab needs root: it creates network namespaces');
    const leftovers = (await netnsList()).filter((ns) => isLabNamespace(this.name, ns));
    if (leftovers.length > 0 || this.exists()) {
      throw labError(`lab "${this.name}" already exists (${leftovers.length > 0 ? `namespaces ${leftovers.join(', ')}` : `${this.stateDir}/state.json`}): run \`halo lab down${this.name === DEFAULT_LAB_NAME ? '' : ` --name ${this.name}`}\` first`);
    }
    mkdirSync(this.stateDir, { recursive: true, mode: 0o700 });
    const keyFile = join(this.stateDir, 'cluster.key');
    writeFileSync(keyFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
    // Every node must sign cookies with the same secret: one file for the whole lab.
    if (needsCookieSecret(this.#opts.services ?? {})) writeFileSync(join(this.stateDir, COOKIE_KEY_FILE), `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
    const state: LabState = {
      version: STATE_VERSION,
      name: this.name,
      nodes: this.nodes,
      stateDir: this.stateDir,
      switchNamespace: switchNamespace(this.name),
      vip: LAB_VIP_CIDR,
      clusterId: randomInt(1, 2 ** 32 - 1),
      keyFile,
      election: this.#opts.election ?? true,
      haloCommand: this.haloCommand,
      createdAt: new Date().toISOString(),
      hosts: labHosts(this.name, this.nodes, this.backends).map((h) => ({
        ...h,
        ...(h.role === 'lb' ? { config: join(this.stateDir, `${h.name}.yaml`) } : {}),
        ...(h.role !== 'client' ? { log: join(this.stateDir, `${h.name}.log`) } : {}),
      })),
    };
    // Written first, so a `down` after a crash half-way through still finds everything.
    writeState(state);
    try {
      await buildSwitch(state.switchNamespace);
      for (const host of state.hosts) await plugHost(state.switchNamespace, host);
      this.#writeConfigs(state);
      for (const role of ['backend', 'lb'] as const) {
        for (const host of state.hosts.filter((h) => h.role === role)) {
          host.pid = await startHostProcess(this.haloCommand, host);
          writeState(state);
        }
      }
      return state;
    } catch (err) {
      await this.down().catch(() => undefined);
      throw err;
    }
  }

  #writeConfigs(state: LabState): void {
    for (const host of state.hosts) {
      if (host.role !== 'lb' || host.config === undefined) continue;
      const config = nodeConfig({
        lab: state.name,
        nodes: state.nodes,
        node: host,
        clusterId: state.clusterId,
        keyFile: state.keyFile,
        election: state.election,
        logLevel: this.#opts.logLevel ?? 'info',
        backends: this.backends,
        runDir: state.stateDir,
        ...(this.#opts.services !== undefined ? { services: this.#opts.services } : {}),
        ...(needsCookieSecret(this.#opts.services ?? {}) ? { cookieSecretFile: join(state.stateDir, COOKIE_KEY_FILE) } : {}),
        ...(this.#opts.clusterOverrides !== undefined ? { clusterOverrides: this.#opts.clusterOverrides } : {}),
        ...(this.#opts.perNode?.[host.name] !== undefined ? { nodeOverrides: this.#opts.perNode[host.name] } : {}),
      });
      const text = `# halo lab ${state.name}: node ${host.name} (generated by \`halo lab up\`)\n${stringify(config)}`;
      parseConfig(text, host.config); // a bad override fails here, naming the path, not in a node's log
      writeFileSync(host.config, text, { mode: 0o600 });
    }
  }

  /**
   * Kill every process of the lab (by PID), delete its namespaces and its files.
   * Idempotent; works from state.json, and from the name prefix when that is gone.
   */
  async down(): Promise<DownReport> {
    let state: LabState | undefined;
    try {
      state = readState(this.stateDir);
    } catch {
      state = undefined; // unreadable: fall back to the name prefix
    }
    this.stopClients();
    const killed: number[] = [];
    // A recorded process outside any listed namespace (its name deleted under it) is
    // only found by PID; the command line check keeps a reused PID safe.
    for (const host of state?.hosts ?? []) {
      if (host.pid === undefined || host.role === 'client' || !isAlive(host.pid)) continue;
      if (cmdlineIs(host.pid, hostArgv(state?.haloCommand ?? this.haloCommand, host)) && signal(host.pid, 'SIGKILL')) killed.push(host.pid);
    }
    const listed = await netnsList();
    const ours = new Set<string>(listed.filter((ns) => isLabNamespace(this.name, ns)));
    for (const host of state?.hosts ?? []) if (listed.includes(host.namespace)) ours.add(host.namespace);
    if (state !== undefined && listed.includes(state.switchNamespace)) ours.add(state.switchNamespace);
    const sw = state?.switchNamespace ?? switchNamespace(this.name);
    // Hosts first, the switch last: the bridge ports go with their peers anyway.
    const order = [...ours].sort((a, b) => Number(a === sw) - Number(b === sw));
    for (const ns of order) await deleteNamespace(ns);
    for (const pid of killed) await waitGone(pid, KILL_TIMEOUT_MS);
    this.#removeFiles(state);
    return { namespaces: order, killed };
  }

  /** Only the files the lab writes, then the directory if empty: never a recursive delete of a path someone passed in. */
  #removeFiles(state: LabState | undefined): void {
    let entries: string[];
    try {
      entries = readdirSync(this.stateDir);
    } catch {
      return;
    }
    const ours = new Set(['state.json', 'cluster.key', COOKIE_KEY_FILE, ...(state?.hosts ?? []).flatMap((h) => [h.config, h.log]).filter((f): f is string => f !== undefined).map((f) => f.slice(f.lastIndexOf('/') + 1)), ...(state?.hosts ?? []).flatMap((h) => [`${h.name}.pid`, `${h.name}.sock`])]);
    for (const e of entries) {
      if (ours.has(e) || /^(lb\d|be\d)\.(yaml|log)$/.test(e) || /^state\.json\.\d+\.tmp$/.test(e)) {
        try {
          unlinkSync(join(this.stateDir, e));
        } catch {
          // gone already
        }
      }
    }
    try {
      rmdirSync(this.stateDir);
    } catch {
      // not empty (someone else's files) or gone: leave it
    }
  }

  async start(node: string): Promise<number> {
    const state = this.state();
    const host = this.#host(state, node);
    if (await isHostProcess(state.haloCommand, host, host.pid)) throw labError(`${node} is already running (pid ${host.pid})`);
    host.pid = await startHostProcess(state.haloCommand, host);
    this.#savePid(node, host.pid);
    return host.pid;
  }

  /** SIGTERM (a planned stop), wait for the exit; SIGKILL if it outlives timeoutMs. */
  async stop(node: string, timeoutMs = STOP_TIMEOUT_MS): Promise<StopReport> {
    const state = this.state();
    const host = this.#host(state, node);
    if (host.pid === undefined || !(await isHostProcess(state.haloCommand, host, host.pid))) return { node, stopped: false, escalated: false };
    signal(host.pid, 'SIGTERM');
    if (await waitGone(host.pid, timeoutMs)) return { node, stopped: true, escalated: false };
    signal(host.pid, 'SIGKILL');
    if (!(await waitGone(host.pid, KILL_TIMEOUT_MS))) throw labError(`${node} (pid ${host.pid}) survived SIGTERM and SIGKILL`);
    return { node, stopped: true, escalated: true };
  }

  /** SIGKILL: a crash, nothing released. */
  async kill(node: string): Promise<boolean> {
    const state = this.state();
    const host = this.#host(state, node);
    if (host.pid === undefined || !(await isHostProcess(state.haloCommand, host, host.pid))) return false;
    signal(host.pid, 'SIGKILL');
    if (!(await waitGone(host.pid, KILL_TIMEOUT_MS))) throw labError(`${node} (pid ${host.pid}) survived SIGKILL for ${KILL_TIMEOUT_MS} ms`);
    return true;
  }

  /** The node's bridge port down: its eth0 loses carrier (cable or power). */
  async linkdown(node: string): Promise<void> {
    const state = this.state();
    await setPortLink(state.switchNamespace, this.#host(state, node).name, false);
  }

  async linkup(node: string): Promise<void> {
    const state = this.state();
    await setPortLink(state.switchNamespace, this.#host(state, node).name, true);
  }

  /** The bridge stops forwarding on the node's port; the node keeps its carrier and sees only silence. */
  async partition(node: string): Promise<void> {
    const state = this.state();
    await setPortForwarding(state.switchNamespace, this.#host(state, node).name, false);
  }

  async heal(node: string): Promise<void> {
    const state = this.state();
    await setPortForwarding(state.switchNamespace, this.#host(state, node).name, true);
  }

  async status(): Promise<LabStatus> {
    return labStatus(this.state());
  }

  /** Every lb node's log (and the backends' with includeBackends), prefixed with its name. */
  async logs(opts: TailOptions & { includeBackends?: boolean }): Promise<void> {
    const state = this.state();
    const sources = state.hosts
      .filter((h) => h.log !== undefined && (h.role === 'lb' || (opts.includeBackends === true && h.role === 'backend')))
      .map((h) => ({ name: h.name, path: h.log as string }));
    await tailLogs(sources, opts);
  }

  /** New connections from the client namespace (to the VIP unless told otherwise) every 10 ms, or `intervalMs`. */
  async probe(opts: { seconds: number; host?: string; port?: number; intervalMs?: number; onSample?: (s: ProbeSample) => void; stop?: AbortSignal }): Promise<ProbeResult> {
    const state = this.state();
    return runProbe({
      namespace: this.#client(state).namespace,
      haloCommand: state.haloCommand,
      host: opts.host ?? LAB_VIP,
      port: opts.port ?? LAB_HTTP_PORT,
      seconds: opts.seconds,
      ...(opts.intervalMs !== undefined ? { intervalMs: opts.intervalMs } : {}),
      ...(opts.onSample !== undefined ? { onSample: opts.onSample } : {}),
      ...(opts.stop !== undefined ? { stop: opts.stop } : {}),
    });
  }

  /** PIDs of everything running in the lab's namespaces now. */
  async pids(): Promise<number[]> {
    const listed = (await netnsList()).filter((ns) => isLabNamespace(this.name, ns));
    return (await Promise.all(listed.map((ns) => netnsPids(ns)))).flat();
  }

  #client(state: LabState): HostState {
    const client = state.hosts.find((h) => h.role === 'client');
    if (client === undefined) throw labError('the lab state has no client host');
    return client;
  }

  /** The client's first `count` extra source addresses (10.77.0.160 up), added where missing. */
  async addClientAddresses(count: number): Promise<string[]> {
    return addClientAddresses(this.#client(this.state()).namespace, count);
  }

  /** Start a client job in the client namespace (client-jobs.ts); stopClients() or down() end it. */
  client(job: ClientJob, opts: { onEvent?: (e: ClientEvent) => void } = {}): ClientRun {
    const state = this.state();
    const run = new ClientRun({ namespace: this.#client(state).namespace, haloCommand: state.haloCommand, job, ...opts });
    this.#clients.add(run);
    run.done.finally(() => this.#clients.delete(run)).catch(() => undefined);
    return run;
  }

  /** SIGKILL every client agent this Lab object started that still runs. */
  stopClients(): void {
    for (const run of this.#clients) run.kill();
  }

  /** `kill -USR2` the node and read back the status line it logs (bounded wait). */
  async nodeStatus(node: string, timeoutMs = STATUS_TIMEOUT_MS): Promise<NodeStatusLine> {
    const state = this.state();
    return requestStatusLine(state.haloCommand, this.#host(state, node), timeoutMs);
  }

  /** DROP the replication port both ways inside the node's namespace (iptables); restoreReplication undoes it. */
  async cutReplication(node: string, port = LAB_REPLICATION_PORT): Promise<void> {
    const state = this.state();
    await cutReplicationLink(this.#host(state, node).namespace, port);
  }

  /** Remove every cut rule from the node's namespace; how many there were. */
  async restoreReplication(node: string): Promise<number> {
    const state = this.state();
    return restoreReplicationLink(this.#host(state, node).namespace);
  }

  #savePid(node: string, pid: number): void {
    // Re-read: another `halo lab` may have written in between.
    const fresh = this.state();
    const host = fresh.hosts.find((h) => h.name === node);
    if (host !== undefined) host.pid = pid;
    writeState(fresh);
  }
}
