/**
 * What a config reload changes, and whether a running node can apply it (design.md
 * section 6: a bad reload keeps the old config). Pure: both configs are already valid.
 *
 * Applied live:
 *  - services added, removed or changed: backends, pools, weights, algorithm, rules,
 *    health checks, limits, timeouts in place, tables kept; a new listen address is a
 *    rebind; what tableChanges() names (mode, persistence, UDP flow settings) takes a new
 *    dispatcher with empty tables for that service;
 *  - cluster.priority, preempt, preempt_delay_ms, the weights of objects already tracked,
 *    the notify hooks: no state change by themselves (keepalived's trap: reload flips
 *    the master); a new priority preempts only by the usual rules;
 *  - log.level.
 * Everything else needs a restart, and the whole reload is refused, naming each path:
 * node name and run_dir, log format, the cluster's identity and transport (id, key,
 * interface, address, transport, VIPs, intervals, GARP, replication, ...), a tracked
 * object added or removed, and any section this module does not know (safe default).
 */
import { configDigest } from '../core/replication/config-digest.js';
import { tableChanges } from '../core/service/table-changes.js';
import type { HaloConfig, ServiceConfig } from './schema.js';

export interface ServiceDiff {
  name: string;
  /** Paths inside the service that differ, e.g. "backends[b].weight", "backends[d] added". */
  fields: string[];
  /** The listen address or port changed: a new socket. */
  rebind: boolean;
  /** Non-empty: a new dispatcher, this service's tables start empty (tableChanges). */
  rebuild: string[];
}

export interface ConfigDiff {
  servicesAdded: string[];
  servicesRemoved: string[];
  servicesChanged: ServiceDiff[];
  /** Election paths applied live (cluster.priority, cluster.track.scripts[chk].weight, ...). */
  electionLive: string[];
  /** log.level changed (applied live unless the command line set it). */
  logLevel: boolean;
  /** Why the reload is refused: one line per path, empty when it can be applied. */
  restartNeeded: string[];
  /** The replication config digest differs: standbys must handshake again. */
  digestChanged: boolean;
  /** Nothing differs at all. */
  unchanged: boolean;
}

const LIVE_CLUSTER = new Set(['cluster.priority', 'cluster.preempt', 'cluster.preempt_delay_ms']);
const TRACK_WEIGHT = /^cluster\.track\.(interfaces|services|scripts)\[[^\]]+\]\.weight$/;

export function diffConfigs(before: Readonly<HaloConfig>, after: Readonly<HaloConfig>): ConfigDiff {
  const oldServices = new Map(before.services.map((s) => [s.name, s]));
  const newServices = new Map(after.services.map((s) => [s.name, s]));
  const servicesAdded = after.services.filter((s) => !oldServices.has(s.name)).map((s) => s.name);
  const servicesRemoved = before.services.filter((s) => !newServices.has(s.name)).map((s) => s.name);
  const servicesChanged: ServiceDiff[] = [];
  for (const s of after.services) {
    const old = oldServices.get(s.name);
    if (old !== undefined) {
      const d = diffService(old, s);
      if (d !== undefined) servicesChanged.push(d);
    }
  }

  const electionLive: string[] = [];
  const restartNeeded: string[] = [];
  let logLevel = false;
  const { services: _a, ...restBefore } = before;
  const { services: _b, ...restAfter } = after;
  for (const path of diffPaths(restBefore, restAfter, '')) {
    if (path === 'log.level') logLevel = true;
    else if (LIVE_CLUSTER.has(path) || TRACK_WEIGHT.test(path) || path.startsWith('cluster.notify.') || path === 'cluster.notify') electionLive.push(path);
    else restartNeeded.push(`${path}: ${describe(path, restBefore, restAfter)}: needs a restart`);
  }
  const digestChanged = configDigest(before.services).digest !== configDigest(after.services).digest;
  const unchanged = servicesAdded.length === 0 && servicesRemoved.length === 0 && servicesChanged.length === 0 && electionLive.length === 0 && !logLevel && restartNeeded.length === 0;
  return { servicesAdded, servicesRemoved, servicesChanged, electionLive, logLevel, restartNeeded, digestChanged, unchanged };
}

function diffService(before: ServiceConfig, after: ServiceConfig): ServiceDiff | undefined {
  const fields = diffPaths(before, after, '');
  if (fields.length === 0) return undefined;
  const rebind = before.listen.address !== after.listen.address || before.listen.port !== after.listen.port;
  return { name: after.name, fields, rebind, rebuild: tableChanges(before, after) };
}

/**
 * Paths where two parsed configs differ. Lists of named objects (backends, pools, track
 * objects) are matched by name, so a reordered list is no change and a path reads
 * "backends[b].weight"; an added or removed element is "backends[d] added" / "removed".
 * Other lists differ as a whole.
 */
export function diffPaths(a: unknown, b: unknown, at: string): string[] {
  if (isRecord(a) && isRecord(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
    return keys.flatMap((k) => diffPaths(a[k], b[k], at === '' ? k : `${at}.${k}`));
  }
  if (Array.isArray(a) && Array.isArray(b) && isNamedList(a) && isNamedList(b)) {
    const byName = new Map(a.map((x) => [x.name, x]));
    const names = new Set(b.map((x) => x.name));
    const out: string[] = [];
    for (const x of a) if (!names.has(x.name)) out.push(`${at}[${x.name}] removed`);
    for (const y of b) {
      const x = byName.get(y.name);
      if (x === undefined) out.push(`${at}[${y.name}] added`);
      else out.push(...diffPaths(x, y, `${at}[${y.name}]`));
    }
    return out;
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [at === '' ? '(top level)' : at];
}

/** "changed (eth0 -> eth1)", or "added" / "removed" for a whole section. */
function describe(path: string, before: unknown, after: unknown): string {
  const from = valueAt(before, path);
  const to = valueAt(after, path);
  if (from === undefined) return 'added';
  if (to === undefined) return 'removed';
  const show = (v: unknown) => {
    const text = JSON.stringify(v) ?? String(v);
    return text.length > 60 ? `${text.slice(0, 57)}...` : text;
  };
  return `changed (${show(from)} -> ${show(to)})`;
}

function valueAt(root: unknown, path: string): unknown {
  let cur: unknown = root;
  for (const part of path.replace(/ (added|removed)$/, '').split(/\.(?![^[]*\])/)) {
    const m = /^([^[]+)(?:\[([^\]]+)\])?$/.exec(part);
    if (m === null || !isRecord(cur)) return undefined;
    cur = cur[m[1] as string];
    if (m[2] !== undefined) cur = Array.isArray(cur) ? cur.find((x: unknown) => isRecord(x) && x['name'] === m[2]) : undefined;
  }
  return cur;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isNamedList(v: unknown[]): v is Array<Record<string, unknown> & { name: string }> {
  return v.every((x) => isRecord(x) && typeof x['name'] === 'string');
}
