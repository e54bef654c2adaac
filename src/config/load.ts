/**
 * load = read -> parse YAML -> validate against the schema -> cross-check -> freeze.
 * Every problem names its path (`services[1].backends[0].port: ...`); all problems are
 * reported at once so an operator fixes the file in one go.
 */
import { readFileSync } from 'node:fs';
import { parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from '../core/errors.js';
import { configSchema, type HaloConfig, type ServiceConfig } from './schema.js';
import { isLoopbackAddress, parseAdminListen } from './admin-schema.js';

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out === '' ? '(top level)' : out;
}

function issueText(issue: z.core.$ZodIssue): string[] {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((k) => `${formatPath([...issue.path, k])}: unknown key (check the spelling; see docs/config.md)`);
  }
  if (issue.code === 'invalid_type' && issue.message.startsWith('Invalid input: expected') && /received undefined/.test(issue.message)) {
    return [`${formatPath(issue.path)}: required, missing`];
  }
  return [`${formatPath(issue.path)}: ${issue.message}`];
}

/** Parse and validate config text. Throws ConfigError listing every problem. */
export function parseConfig(text: string, source = 'config'): Readonly<HaloConfig> {
  // logLevel 'error': the library would print its warnings (a mapping used as a key) to stderr
  // itself; such a key is reported below as an unknown key anyway.
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true, logLevel: 'error' });
  if (doc.errors.length > 0) {
    throw new ConfigError('HALO_ERR_CONFIG_PARSE', doc.errors.map((e) => `YAML: ${e.message.split('\n')[0]}`), source);
  }
  const raw = toJS(doc, source);
  applyModeDefaults(raw);
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    throw new ConfigError('HALO_ERR_CONFIG_INVALID', result.error.issues.flatMap(issueText), source);
  }
  const problems = crossCheck(result.data);
  if (problems.length > 0) throw new ConfigError('HALO_ERR_CONFIG_INVALID', problems, source);
  return deepFreeze(result.data);
}

/**
 * The document as plain values. Aliases are resolved only here, so an alias to an anchor
 * defined later (or nowhere) and an alias bomb surface here, as a ReferenceError from the
 * library: reported as the YAML problem it is instead of escaping as a crash.
 */
function toJS(doc: Document.Parsed, source: string): unknown {
  try {
    return doc.toJS();
  } catch (err) {
    throw new ConfigError('HALO_ERR_CONFIG_PARSE', [`YAML: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`], source);
  }
}

export function loadConfigFile(file: string): Readonly<HaloConfig> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError('HALO_ERR_CONFIG_READ', [`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`]);
  }
  return parseConfig(text, file);
}

/** Defaults that depend on the service's mode: UDP backends rarely listen on TCP, so no check by default. */
function applyModeDefaults(raw: unknown): void {
  if (!isRecord(raw) || !Array.isArray(raw['services'])) return;
  for (const svc of raw['services']) {
    if (!isRecord(svc) || svc['mode'] !== 'udp') continue;
    const hc = svc['health_check'];
    if (hc === undefined) svc['health_check'] = { type: 'none' };
    else if (isRecord(hc) && hc['type'] === undefined) hc['type'] = 'none';
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Checks the schema cannot express: uniqueness, references, mode-specific options. */
export function crossCheck(cfg: HaloConfig): string[] {
  const problems: string[] = [];
  const serviceNames = new Map<string, number>();
  const listeners = new Map<string, number>();

  cfg.services.forEach((svc, i) => {
    const at = `services[${i}]`;
    const seen = serviceNames.get(svc.name);
    if (seen !== undefined) problems.push(`${at}.name: duplicate service name "${svc.name}" (also services[${seen}])`);
    else serviceNames.set(svc.name, i);

    const proto = svc.mode === 'udp' ? 'udp' : 'tcp';
    for (const [key, j] of listeners) {
      const [p, addr, port] = key.split('|');
      if (p !== proto || Number(port) !== svc.listen.port) continue;
      if (addr === svc.listen.address || addr === '0.0.0.0' || svc.listen.address === '0.0.0.0') {
        problems.push(`${at}.listen: ${proto} port ${svc.listen.port} on ${svc.listen.address} overlaps services[${j}].listen (${addr}:${port})`);
      }
    }
    listeners.set(`${proto}|${svc.listen.address}|${svc.listen.port}`, i);

    checkBackends(svc.backends, `${at}.backends`, problems);
    const poolNames = new Set<string>(['default']);
    svc.pools.forEach((pool, k) => {
      if (poolNames.has(pool.name)) problems.push(`${at}.pools[${k}].name: duplicate pool name "${pool.name}" ("default" is the service's own backends)`);
      poolNames.add(pool.name);
      checkBackends(pool.backends, `${at}.pools[${k}].backends`, problems);
    });
    if (svc.mode !== 'http') {
      if (svc.rules.length > 0) problems.push(`${at}.rules: rules need mode http (this service is ${svc.mode})`);
      if (svc.pools.length > 0) problems.push(`${at}.pools: pools need mode http (this service is ${svc.mode})`);
    }
    svc.rules.forEach((rule, k) => {
      if (!poolNames.has(rule.pool)) problems.push(`${at}.rules[${k}].pool: no pool named "${rule.pool}" (known: ${[...poolNames].join(', ')})`);
    });

    checkPersistence(svc, at, problems);
    if (svc.proxy_protocol !== 'none' && svc.mode !== 'tcp') problems.push(`${at}.proxy_protocol: PROXY protocol needs mode tcp (this service is ${svc.mode})`);
    const hc = svc.health_check;
    if (hc.timeout_ms > hc.interval_ms) problems.push(`${at}.health_check.timeout_ms: ${hc.timeout_ms} is longer than interval_ms ${hc.interval_ms}`);
    if (hc.expect_status[0] > hc.expect_status[1]) problems.push(`${at}.health_check.expect_status: low ${hc.expect_status[0]} is above high ${hc.expect_status[1]}`);
    if (svc.mode === 'udp' && svc.limits.requests_per_second_per_client > 0) problems.push(`${at}.limits.requests_per_second_per_client: only http services count requests`);
  });
  checkCluster(cfg, problems);
  checkAdmin(cfg, problems);
  return problems;
}

function checkCluster(cfg: HaloConfig, problems: string[]): void {
  const c = cfg.cluster;
  if (c === undefined) return;
  if ((c.key_file === undefined) === (c.key_env === undefined)) {
    problems.push('cluster: exactly one of key_file or key_env is needed (the HMAC key every node signs its adverts with)');
  }
  const t = c.transport;
  if (t.mode === 'multicast') {
    const first = Number(t.group.split('.')[0]);
    if (first < 224 || first > 239) problems.push(`cluster.transport.group: ${t.group} is not a multicast address (224.0.0.0-239.255.255.255)`);
    if (t.peers.length > 0) problems.push('cluster.transport.peers: peers are for mode unicast (this transport is multicast)');
  } else if (t.peers.length === 0) {
    problems.push('cluster.transport.peers: mode unicast needs the other nodes\' addresses');
  } else if (c.address !== undefined && t.peers.includes(c.address)) {
    problems.push(`cluster.transport.peers: ${c.address} is this node's own cluster.address`);
  }
  const vips = new Map<string, number>();
  c.vips.forEach((v, i) => {
    const ip = v.address.split('/')[0] ?? v.address;
    const seen = vips.get(ip);
    if (seen !== undefined) problems.push(`cluster.vips[${i}].address: duplicate VIP ${ip} (also cluster.vips[${seen}])`);
    else vips.set(ip, i);
  });
  const services = new Set(cfg.services.map((s) => s.name));
  c.track.services.forEach((s, i) => {
    if (!services.has(s.name)) problems.push(`cluster.track.services[${i}].name: no service named "${s.name}" (known: ${[...services].join(', ')})`);
  });
  const scripts = new Set<string>();
  c.track.scripts.forEach((s, i) => {
    if (scripts.has(s.name)) problems.push(`cluster.track.scripts[${i}].name: duplicate track script name "${s.name}"`);
    scripts.add(s.name);
    if (s.timeout_ms > s.interval_ms) problems.push(`cluster.track.scripts[${i}].timeout_ms: ${s.timeout_ms} is longer than interval_ms ${s.interval_ms}`);
  });
}

/** The admin API can move the VIP (POST /failover): beyond loopback it needs a token. */
function checkAdmin(cfg: HaloConfig, problems: string[]): void {
  const a = cfg.admin;
  if (a.token_file !== undefined && a.token_env !== undefined) problems.push('admin: give one of token_file or token_env, not both');
  let listen;
  try {
    listen = parseAdminListen(a.listen);
  } catch (err) {
    problems.push(`admin.listen: ${(err as Error).message}`);
    return;
  }
  if (listen !== undefined && !isLoopbackAddress(listen.host) && a.token_file === undefined && a.token_env === undefined) {
    problems.push(`admin.token_file: admin.listen ${String(a.listen)} is reachable beyond loopback, so the admin API needs a bearer token (token_file or token_env, 16+ characters)`);
  }
}

function checkBackends(backends: ServiceConfig['backends'], at: string, problems: string[]): void {
  const names = new Map<string, number>();
  backends.forEach((b, k) => {
    const seen = names.get(b.name);
    if (seen !== undefined) problems.push(`${at}[${k}].name: duplicate backend name "${b.name}" (also ${at}[${seen}])`);
    else names.set(b.name, k);
  });
  if (backends.every((b) => b.weight === 0)) problems.push(`${at}: every backend has weight 0, so none can be picked`);
}

function checkPersistence(svc: ServiceConfig, at: string, problems: string[]): void {
  const p = svc.persistence;
  if (p.type !== 'cookie') return;
  if (svc.mode !== 'http') problems.push(`${at}.persistence.type: cookie persistence needs mode http (this service is ${svc.mode}); use source_ip`);
  if (p.secret_file === undefined && p.secret_env === undefined) {
    problems.push(`${at}.persistence: cookie persistence needs secret_file or secret_env (every node must sign cookies with the same secret)`);
  }
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
