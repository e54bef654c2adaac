/**
 * `halo lab status`: what each node runs and holds, its bridge port, its election state
 * (from its own log), and where the client's ARP entry for the VIP points.
 */
import { LAB_IFNAME, LAB_VIP, LAB_VIP_CIDR } from './plan.js';
import type { HostState, LabState } from './state.js';
import { bridgePorts, type BridgePort } from './network.js';
import { isHostProcess } from './host-process.js';
import { lastLines } from './logs.js';
import { ipJson } from './system.js';

export interface HostStatus {
  name: string;
  namespace: string;
  address: string;
  mac?: string;
  pid?: number;
  running: boolean;
  /** its bridge port: up = link up with carrier, state = forwarding / disabled */
  port?: BridgePort;
}

export interface NodeStatus extends HostStatus {
  holdsVip: boolean;
  /** the `state` of the last `state_change` event in its log, or "unknown" */
  state: string;
}

export interface ClientArp {
  mac?: string;
  /** the node whose eth0 has that MAC */
  node?: string;
  /** REACHABLE, STALE, FAILED, ... */
  state: string;
}

export interface LabStatus {
  name: string;
  stateDir: string;
  vip: string;
  nodes: NodeStatus[];
  backends: HostStatus[];
  /** the client's neighbour entry for the VIP; undefined when it has none */
  clientArp?: ClientArp;
}

interface LinkRow { address?: string }
interface AddrRow { addr_info?: Array<{ family?: string; local?: string }> }
interface NeighRow { lladdr?: string; state?: string[] }

/** The newest `state_change` event's state, reading at most the log's last few MB. */
export function lastElectionState(logPath: string | undefined): string {
  if (logPath === undefined) return 'unknown';
  const { lines } = lastLines(logPath, Number.MAX_SAFE_INTEGER);
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i] as string;
    if (!line.includes('state_change')) continue;
    try {
      const e = JSON.parse(line) as Record<string, unknown>;
      if (e['message'] !== 'state_change') continue;
      const s = e['state'] ?? e['to'];
      if (typeof s === 'string') return s;
    } catch {
      // a line that only mentions it
    }
  }
  return 'unknown';
}

async function hostStatus(state: LabState, host: HostState, ports: BridgePort[]): Promise<HostStatus> {
  const [link] = await ipJson<LinkRow>('-n', host.namespace, 'link', 'show', 'dev', LAB_IFNAME).catch(() => []);
  const port = ports.find((p) => p.name === host.name);
  return {
    name: host.name,
    namespace: host.namespace,
    address: host.address,
    ...(link?.address !== undefined ? { mac: link.address } : {}),
    ...(host.pid !== undefined ? { pid: host.pid } : {}),
    running: await isHostProcess(state.haloCommand, host, host.pid),
    ...(port !== undefined ? { port } : {}),
  };
}

async function holdsVip(host: HostState): Promise<boolean> {
  const rows = await ipJson<AddrRow>('-n', host.namespace, 'addr', 'show', 'dev', LAB_IFNAME).catch(() => []);
  return rows.some((r) => (r.addr_info ?? []).some((a) => a.family === 'inet' && a.local === LAB_VIP));
}

export async function labStatus(state: LabState): Promise<LabStatus> {
  const ports = await bridgePorts(state.switchNamespace).catch(() => []);
  const nodes: NodeStatus[] = [];
  const backends: HostStatus[] = [];
  for (const host of state.hosts) {
    if (host.role === 'lb') nodes.push({ ...(await hostStatus(state, host, ports)), holdsVip: await holdsVip(host), state: lastElectionState(host.log) });
    else if (host.role === 'backend') backends.push(await hostStatus(state, host, ports));
  }
  const client = state.hosts.find((h) => h.role === 'client');
  let clientArp: ClientArp | undefined;
  if (client !== undefined) {
    const [row] = await ipJson<NeighRow>('-n', client.namespace, 'neigh', 'show', LAB_VIP).catch(() => []);
    if (row !== undefined) {
      const owner = nodes.find((n) => n.mac !== undefined && n.mac === row.lladdr);
      clientArp = {
        ...(row.lladdr !== undefined ? { mac: row.lladdr } : {}),
        ...(owner !== undefined ? { node: owner.name } : {}),
        state: (row.state ?? []).join(',') || 'unknown',
      };
    }
  }
  return { name: state.name, stateDir: state.stateDir, vip: LAB_VIP_CIDR, nodes, backends, ...(clientArp !== undefined ? { clientArp } : {}) };
}

/** The status as a few aligned lines, for people. */
export function formatStatus(s: LabStatus): string[] {
  const portText = (h: HostStatus) => (h.port === undefined ? 'no port' : !h.port.up ? 'link down' : h.port.state === 'forwarding' ? 'forwarding' : `port ${h.port.state}`);
  const proc = (h: HostStatus) => (h.running ? `running (pid ${h.pid})` : h.pid === undefined ? 'not started' : `not running (was pid ${h.pid})`);
  const row = (cols: string[]) => cols.map((c, i) => c.padEnd([8, 13, 19, 28, 12, 11][i] ?? 0)).join(' ').trimEnd();
  const out = [`lab ${s.name} (${s.stateDir}), VIP ${s.vip}`, row(['node', 'address', 'mac', 'process', 'election', 'bridge port']).replace(/$/, '  vip')];
  for (const n of s.nodes) out.push(`${row([n.name, n.address, n.mac ?? '?', proc(n), n.state, portText(n)])}${n.holdsVip ? '  HOLDS VIP' : ''}`);
  for (const b of s.backends) out.push(row([b.name, b.address, b.mac ?? '?', proc(b), '-', portText(b)]));
  const arp = s.clientArp;
  out.push(arp === undefined ? 'client ARP for the VIP: none yet' : `client ARP for the VIP: ${arp.mac ?? '(no MAC)'} ${arp.state}${arp.node !== undefined ? ` = ${arp.node}` : arp.mac !== undefined ? ' (no lab node has this MAC)' : ''}`);
  return out;
}
