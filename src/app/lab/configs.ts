/**
 * The `halo run` config of each lab node, as a plain object (written as YAML by the
 * lab). Pure, so a unit test can check every generated config against the real schema.
 */
import type { z } from 'zod';
import type { clusterSchema } from '../../config/cluster-schema.js';
import {
  BACKEND_HTTP_PORT,
  BACKEND_UDP_PORT,
  LAB_HTTP_PORT,
  LAB_IFNAME,
  LAB_UDP_PORT,
  LAB_VIP_CIDR,
  labHosts,
  type LabHost,
} from './plan.js';

type DeepPartial<T> = T extends readonly unknown[] ? T : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;

/** Any part of the `cluster` section, merged over the lab's defaults (lists replace, mappings merge). */
export type ClusterOverrides = DeepPartial<z.input<typeof clusterSchema>>;

export interface NodeConfigInput {
  lab: string;
  nodes: number;
  node: LabHost;
  clusterId: number;
  keyFile: string;
  /** false: no `cluster` section (data plane only) */
  election: boolean;
  logLevel: 'error' | 'warn' | 'info' | 'debug';
  clusterOverrides?: ClusterOverrides;
  nodeOverrides?: ClusterOverrides;
}

const PRIORITIES = [150, 100, 50];

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Mappings merge key by key; lists and scalars from `over` replace; undefined leaves `base` alone. */
export function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    const b = out[k];
    out[k] = isPlainObject(b) && isPlainObject(v) ? deepMerge(b, v) : v;
  }
  return out;
}

export function nodeConfig(input: NodeConfigInput): Record<string, unknown> {
  const hosts = labHosts(input.lab, input.nodes);
  const lbs = hosts.filter((h) => h.role === 'lb');
  const backends = hosts.filter((h) => h.role === 'backend');
  const index = lbs.findIndex((h) => h.name === input.node.name);
  const head = {
    node: { name: input.node.name },
    log: { level: input.logLevel, format: 'json' },
  };
  const services = [
    {
      name: 'web',
      mode: 'http',
      listen: { address: '0.0.0.0', port: LAB_HTTP_PORT },
      backends: backends.map((b) => ({ name: b.name, address: b.address, port: BACKEND_HTTP_PORT })),
      health_check: { type: 'tcp', interval_ms: 500, timeout_ms: 400 },
    },
    {
      name: 'echo',
      mode: 'udp',
      listen: { address: '0.0.0.0', port: LAB_UDP_PORT },
      backends: backends.map((b) => ({ name: b.name, address: b.address, port: BACKEND_UDP_PORT })),
    },
  ];
  if (!input.election) return { ...head, services };

  let cluster: Record<string, unknown> = {
    id: input.clusterId,
    key_file: input.keyFile,
    interface: LAB_IFNAME,
    address: input.node.address,
    priority: PRIORITIES[index] ?? 50,
    vips: [{ address: LAB_VIP_CIDR }],
  };
  cluster = deepMerge(cluster, (input.clusterOverrides ?? {}) as Record<string, unknown>);
  cluster = deepMerge(cluster, (input.nodeOverrides ?? {}) as Record<string, unknown>);
  // Unicast needs the other nodes' addresses; fill them in unless the caller chose some.
  const transport = cluster['transport'];
  if (isPlainObject(transport) && transport['mode'] === 'unicast' && transport['peers'] === undefined) {
    cluster['transport'] = { ...transport, peers: lbs.filter((h) => h.name !== input.node.name).map((h) => h.address) };
  }
  return { ...head, cluster, services };
}
