/**
 * The lab's addressing plan, fixed so that every lab looks the same and a person can
 * read `ip` output without a map: 10.77.0.0/24, lbK = .1K, beK = .2K, client = .31,
 * VIP = .100, the client's extra source addresses .160 up. Pure: the probe agent and
 * the status code both name nodes from it.
 */

export const LAB_SUBNET_PREFIX = '10.77.0';
export const LAB_PREFIX_LEN = 24;
export const LAB_VIP = `${LAB_SUBNET_PREFIX}.100`;
export const LAB_VIP_CIDR = `${LAB_VIP}/${LAB_PREFIX_LEN}`;
/** The interface every host has, plugged into the switch namespace's bridge. */
export const LAB_IFNAME = 'eth0';
export const LAB_BRIDGE = 'br0';
export const LAB_HTTP_PORT = 80;
export const LAB_UDP_PORT = 53;
export const BACKEND_HTTP_PORT = 8080;
export const BACKEND_UDP_PORT = 5353;
export const DEFAULT_LAB_NAME = 'halo-lab';
/** The replication listener's default port (cluster.replication.port). */
export const LAB_REPLICATION_PORT = 7947;
/** Extra client source addresses: .160 up to .254, clear of every host and of the VIP. */
export const CLIENT_EXTRA_FIRST = 160;
export const CLIENT_EXTRA_MAX = 254 - CLIENT_EXTRA_FIRST + 1;

export type BackendCount = 2 | 3;

export type HostRole = 'lb' | 'backend' | 'client';

export interface LabHost {
  /** lb1, be1, client: also the name of its port on the bridge */
  name: string;
  role: HostRole;
  namespace: string;
  address: string;
}

/** Lab names become namespace names, file names and process arguments: keep them plain. */
export const LAB_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$/;

export function switchNamespace(lab: string): string {
  return `${lab}-sw`;
}

export function lbNames(nodes: number): string[] {
  return Array.from({ length: nodes }, (_, i) => `lb${i + 1}`);
}

export function labHosts(lab: string, nodes: number, backends: BackendCount = 2): LabHost[] {
  const host = (name: string, role: HostRole, last: number): LabHost => ({ name, role, namespace: `${lab}-${name}`, address: `${LAB_SUBNET_PREFIX}.${last}` });
  return [
    ...lbNames(nodes).map((n, i) => host(n, 'lb', 11 + i)),
    ...Array.from({ length: backends }, (_, i) => host(`be${i + 1}`, 'backend', 21 + i)),
    host('client', 'client', 31),
  ];
}

/** Every namespace of a lab, the switch last (so hosts' veth ends go first on delete). */
export function labNamespaces(lab: string, nodes: number, backends: BackendCount = 2): string[] {
  return [...labHosts(lab, nodes, backends).map((h) => h.namespace), switchNamespace(lab)];
}

/** The client's i-th extra source address (0-based): 10.77.0.160 + i. */
export function clientExtraAddress(i: number): string {
  if (!Number.isInteger(i) || i < 0 || i >= CLIENT_EXTRA_MAX) throw new RangeError(`client extra address index: expected 0-${CLIENT_EXTRA_MAX - 1}, got ${i}`);
  return `${LAB_SUBNET_PREFIX}.${CLIENT_EXTRA_FIRST + i}`;
}

/** Whether a namespace name belongs to this lab (by shape, for cleanup without state.json). */
export function isLabNamespace(lab: string, ns: string): boolean {
  if (!ns.startsWith(`${lab}-`)) return false;
  return /^(sw|lb\d|be\d|client)$/.test(ns.slice(lab.length + 1));
}

/** x-peer 10.77.0.12 (or ::ffff:10.77.0.12) -> lb2; anything else -> undefined. */
export function nodeForAddress(address: string | undefined): string | undefined {
  if (address === undefined) return undefined;
  const m = /^(?:::ffff:)?10\.77\.0\.1([1-9])$/.exec(address);
  return m ? `lb${m[1]}` : undefined;
}
