/**
 * The `halo run` config of each lab node, as a plain object (written as YAML by the
 * lab). Pure, so a unit test can check every generated config against the real schema.
 */
import type { z } from 'zod';
import type { clusterSchema } from '../../config/cluster-schema.js';
import type { serviceSchema } from '../../config/schema.js';
import { HaloError } from '../../core/errors.js';
import {
  BACKEND_HTTP_PORT,
  BACKEND_UDP_PORT,
  LAB_HTTP_PORT,
  LAB_IFNAME,
  LAB_UDP_PORT,
  LAB_VIP_CIDR,
  labHosts,
  type BackendCount,
  type LabHost,
} from './plan.js';

type DeepPartial<T> = T extends readonly unknown[] ? T : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;

/** Any part of the `cluster` section, merged over the lab's defaults (lists replace, mappings merge). */
export type ClusterOverrides = DeepPartial<z.input<typeof clusterSchema>>;

/**
 * One service's settings merged over the lab's default for it (web, echo). A name the
 * lab does not define adds a service: it needs mode and listen.port; its backends are
 * every lab backend on the demo port for its mode unless given.
 */
export type ServiceOverride = DeepPartial<z.input<typeof serviceSchema>>;
export type ServiceOverrides = Partial<Record<string, ServiceOverride>>;

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
  /** default 2 */
  backends?: BackendCount;
  services?: ServiceOverrides;
  /** given to every cookie-persistence service that names no secret of its own */
  cookieSecretFile?: string;
  /** node.run_dir (pid file, control socket): the lab's own directory, so labs never share one */
  runDir?: string;
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
  const hosts = labHosts(input.lab, input.nodes, input.backends ?? 2);
  const lbs = hosts.filter((h) => h.role === 'lb');
  const backends = hosts.filter((h) => h.role === 'backend');
  const index = lbs.findIndex((h) => h.name === input.node.name);
  const head = {
    node: input.runDir === undefined ? { name: input.node.name } : { name: input.node.name, run_dir: input.runDir },
    log: { level: input.logLevel, format: 'json' },
  };
  const services = labServices(backends, input.services ?? {}, input.cookieSecretFile);
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

/** Whether a service of these overrides uses cookie persistence without a secret of its own: the lab supplies one. */
export function needsCookieSecret(overrides: ServiceOverrides): boolean {
  return Object.values(overrides).some((o) => o?.persistence?.type === 'cookie' && o.persistence.secret_file === undefined && o.persistence.secret_env === undefined);
}

function demoBackends(backends: readonly LabHost[], mode: unknown): Array<Record<string, unknown>> {
  const port = mode === 'udp' ? BACKEND_UDP_PORT : BACKEND_HTTP_PORT;
  return backends.map((b) => ({ name: b.name, address: b.address, port }));
}

/** The lab's services (web over http, echo over udp) with the overrides merged in, then any extra ones. */
export function labServices(backends: readonly LabHost[], overrides: ServiceOverrides, cookieSecretFile?: string): Array<Record<string, unknown>> {
  const tcpCheck = { type: 'tcp', interval_ms: 500, timeout_ms: 400 };
  const defaults: Array<Record<string, unknown>> = [
    { name: 'web', mode: 'http', listen: { address: '0.0.0.0', port: LAB_HTTP_PORT }, backends: demoBackends(backends, 'http'), health_check: tcpCheck },
    { name: 'echo', mode: 'udp', listen: { address: '0.0.0.0', port: LAB_UDP_PORT }, backends: demoBackends(backends, 'udp') },
  ];
  const services = defaults.map((d) => deepMerge(d, (overrides[d['name'] as string] ?? {}) as Record<string, unknown>));
  for (const [name, o] of Object.entries(overrides)) {
    if (o === undefined || defaults.some((d) => d['name'] === name)) continue;
    if (o.mode === undefined || o.listen?.port === undefined) {
      throw new HaloError('HALO_ERR_LAB', `services.${name}: a service the lab does not define needs mode and listen.port`, { service: name });
    }
    const base: Record<string, unknown> = {
      name,
      mode: o.mode,
      listen: { address: '0.0.0.0', port: o.listen.port },
      backends: demoBackends(backends, o.mode),
      ...(o.mode === 'udp' ? {} : { health_check: tcpCheck }),
    };
    services.push(deepMerge(base, o as Record<string, unknown>));
  }
  if (cookieSecretFile === undefined) return services;
  return services.map((svc) => {
    const p = svc['persistence'];
    if (!isPlainObject(p) || p['type'] !== 'cookie' || p['secret_file'] !== undefined || p['secret_env'] !== undefined) return svc;
    return { ...svc, persistence: { ...p, secret_file: cookieSecretFile } };
  });
}
