/**
 * The digest of the data-plane config that two peers must share before replicating
 * tables (design.md section 4): a replicated entry names a service, a pool and a backend
 * by NAME, so the entry only means the same thing on both nodes when those names lead
 * to the same addresses and the same persistence rules.
 *
 * In the digest, per service: mode, persistence type and TTL, and every pool (the
 * service's own backends are the pool "default") with its backends by name ->
 * address:port. Deliberately left out, because operators tune them per node and they
 * do not change what a table entry means: backend weights and max_connections, health
 * checks, algorithm, listen address, timeouts, limits, retries, rules.
 *
 * `digest` is the authority (sha256 over the full canonical summary). `summary` is what
 * is sent in the handshake so a refusal can name the first difference. A full summary
 * of 100 services x 50 backends is ~150 KB, too big for one 64 KiB control message, so
 * the summary is cut to the most detailed level that fits SUMMARY_MAX_BYTES:
 *   backends: name -> address:port for every backend
 *   names:    backend names per pool, plus a short digest of each pool's backends
 *   pools:    pool names and their short digests only
 *   none:     no services at all (the digest alone says "different")
 * Every level is computable from a more detailed one, so two peers that cut at
 * different levels compare at the coarser of the two (see firstDifference).
 */
import { createHash } from 'node:crypto';
import { HaloError } from '../errors.js';
import { NAME_RE, expectHex64, expectName, expectObject, expectOneOf, expectRecord, expectString, expectUintOrNull, handshakeError, own } from './control-fields.js';

/** The narrow shape this module reads; src/config's ServiceConfig is assignable to it. */
export interface DigestBackend {
  readonly name: string;
  readonly address: string;
  readonly port: number;
}
export interface DigestPool {
  readonly name: string;
  readonly backends: readonly DigestBackend[];
}
export interface DigestService {
  readonly name: string;
  readonly mode: string;
  readonly persistence: { readonly type: string; readonly ttl_ms: number };
  /** The pool named "default". */
  readonly backends: readonly DigestBackend[];
  readonly pools: readonly DigestPool[];
}

export const SUMMARY_DETAILS = ['backends', 'names', 'pools', 'none'] as const;
export type SummaryDetail = (typeof SUMMARY_DETAILS)[number];

export interface PoolSummary {
  /** 16 hex chars of sha256 over the pool's canonical backends: present at every level but "none". */
  readonly digest: string;
  /** detail "backends" only: backend name -> "address:port" ("[v6]:port" for IPv6). */
  readonly backends?: Readonly<Record<string, string>>;
  /**
   * detail "names" only: backend names, sorted, joined by single spaces (names never
   * contain one); a string and not a list because the quotes and commas of 5000 names
   * are what pushes 100 services x 50 backends over SUMMARY_MAX_BYTES.
   */
  readonly names?: string;
}
export interface ServiceSummary {
  readonly mode: string;
  /** ttl_ms is null when type is "none": an unused TTL must not make two configs differ. */
  readonly persistence: { readonly type: string; readonly ttl_ms: number | null };
  readonly pools: Readonly<Record<string, PoolSummary>>;
}
export interface CanonicalSummary {
  readonly detail: SummaryDetail;
  readonly services: Readonly<Record<string, ServiceSummary>>;
}
export interface ConfigDigest {
  /** sha256 hex of the canonical JSON of the full ("backends") summary. */
  readonly digest: string;
  readonly summary: CanonicalSummary;
}

/** Leaves a quarter of the 64 KiB control message for the rest of the auth/welcome message. */
export const SUMMARY_MAX_BYTES = 48 * 1024;
const POOL_DIGEST_CHARS = 16;
const MAX_SERVICES = 10_000;
const MAX_POOLS = 1_000;
const MAX_BACKENDS = 10_000;
const TOKEN_RE = /^[a-z0-9_]{1,32}$/;
// Hostnames, IPv4 and bracketed IPv6 with a port; the config's HOST rule plus brackets.
const ENDPOINT_RE = /^([A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\]):\d{1,5}$/;
const POOL_DIGEST_RE = /^[0-9a-f]{16}$/;
const NAMES_RE = /^[A-Za-z0-9_.\- ]*$/;

/**
 * JSON with every object's keys sorted by UTF-16 code unit, so the text (and its hash)
 * does not depend on insertion order; JSON.stringify alone would put integer-like
 * names such as "10" first whatever we do.
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const rec = value as Record<string, unknown>;
    const parts = Object.keys(rec)
      .filter((k) => rec[k] !== undefined)
      .sort(compareKeys)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(rec[k])}`);
    return `{${parts.join(',')}}`;
  }
  return JSON.stringify(value);
}

function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

function endpoint(b: DigestBackend): string {
  // Host names are case-insensitive; IPv6 spellings are not canonicalised (write them the same way on every node).
  const address = b.address.toLowerCase();
  return address.includes(':') ? `[${address}]:${b.port}` : `${address}:${b.port}`;
}

function configError(path: string, problem: string): HaloError {
  return new HaloError('HALO_ERR_CONFIG_INVALID', `${path}: ${problem}`);
}

function poolBackends(backends: readonly DigestBackend[], path: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const b of backends) {
    if (!NAME_RE.test(b.name)) throw configError(`${path}.backends`, `backend name ${JSON.stringify(b.name)} is not a valid name`);
    if (Object.hasOwn(out, b.name)) throw configError(`${path}.backends`, `duplicate backend name "${b.name}"`);
    out[b.name] = endpoint(b);
  }
  return out;
}

function splitNames(names: string | undefined): string[] {
  return names ? names.split(' ') : [];
}

function poolDigest(backends: Readonly<Record<string, string>>): string {
  return sha256(canonicalJson(backends)).slice(0, POOL_DIGEST_CHARS);
}

function fullSummary(services: readonly DigestService[]): CanonicalSummary {
  const out: Record<string, ServiceSummary> = {};
  for (const svc of services) {
    const path = `services.${svc.name}`;
    if (!NAME_RE.test(svc.name)) throw configError('services', `service name ${JSON.stringify(svc.name)} is not a valid name`);
    if (Object.hasOwn(out, svc.name)) throw configError('services', `duplicate service name "${svc.name}"`);
    const pools: Record<string, PoolSummary> = {};
    for (const pool of [{ name: 'default', backends: svc.backends }, ...svc.pools]) {
      if (!NAME_RE.test(pool.name)) throw configError(`${path}.pools`, `pool name ${JSON.stringify(pool.name)} is not a valid name`);
      if (Object.hasOwn(pools, pool.name)) throw configError(`${path}.pools`, `duplicate pool name "${pool.name}" ("default" is the service's own backends)`);
      const backends = poolBackends(pool.backends, `${path}.pools.${pool.name}`);
      pools[pool.name] = { digest: poolDigest(backends), backends };
    }
    const type = svc.persistence.type;
    out[svc.name] = { mode: svc.mode, persistence: { type, ttl_ms: type === 'none' ? null : svc.persistence.ttl_ms }, pools };
  }
  return { detail: 'backends', services: out };
}

const RANK: Readonly<Record<SummaryDetail, number>> = { backends: 0, names: 1, pools: 2, none: 3 };

/** The same summary at a coarser level (a no-op when `detail` is not coarser). */
export function reduceSummary(summary: CanonicalSummary, detail: SummaryDetail): CanonicalSummary {
  if (RANK[detail] <= RANK[summary.detail]) return summary;
  if (detail === 'none') return { detail, services: {} };
  const services: Record<string, ServiceSummary> = {};
  for (const [name, svc] of Object.entries(summary.services)) {
    const pools: Record<string, PoolSummary> = {};
    for (const [poolName, pool] of Object.entries(svc.pools)) {
      const names = pool.names ?? Object.keys(pool.backends ?? {}).sort(compareKeys).join(' ');
      pools[poolName] = detail === 'names' ? { digest: pool.digest, names } : { digest: pool.digest };
    }
    services[name] = { mode: svc.mode, persistence: svc.persistence, pools };
  }
  return { detail, services };
}

/** Digest and handshake summary of the data-plane config (throws HALO_ERR_CONFIG_INVALID on duplicate or invalid names). */
export function configDigest(services: readonly DigestService[], options: { readonly maxSummaryBytes?: number } = {}): ConfigDigest {
  const max = options.maxSummaryBytes ?? SUMMARY_MAX_BYTES;
  const full = fullSummary(services);
  const digest = sha256(canonicalJson(full));
  for (const detail of ['backends', 'names', 'pools'] as const) {
    const summary = reduceSummary(full, detail);
    if (summaryBytes(summary) <= max) return { digest, summary };
  }
  return { digest, summary: reduceSummary(full, 'none') };
}

/** UTF-8 bytes of the summary as it goes on the wire. */
export function summaryBytes(summary: CanonicalSummary): number {
  return Buffer.byteLength(JSON.stringify(summary), 'utf8');
}

/** A path segment; names may contain '.', which would make the path ambiguous unquoted. */
function seg(name: string): string {
  return name.includes('.') ? `"${name}"` : name;
}

function sortedUnion(a: Readonly<Record<string, unknown>>, b: Readonly<Record<string, unknown>>): string[] {
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].sort(compareKeys);
}

function presence<T>(path: string, here: T | undefined, peer: T | undefined): string | null {
  if (peer === undefined) return `${path}: missing on peer`;
  if (here === undefined) return `${path}: missing here`;
  return null;
}

function changed(path: string, here: string | number | null, peer: string | number | null): string | null {
  return here === peer ? null : `${path}: ${here ?? 'none'} here, ${peer ?? 'none'} on peer`;
}

function poolDifference(path: string, a: PoolSummary, b: PoolSummary, detail: SummaryDetail): string | null {
  if (detail === 'backends') {
    const ab = a.backends ?? {};
    const bb = b.backends ?? {};
    for (const name of sortedUnion(ab, bb)) {
      const at = `${path}.backends.${seg(name)}`;
      const diff = presence(at, own(ab, name), own(bb, name)) ?? changed(at, own(ab, name) ?? null, own(bb, name) ?? null);
      if (diff) return diff;
    }
  } else if (detail === 'names') {
    const an = new Set(splitNames(a.names));
    const bn = new Set(splitNames(b.names));
    for (const name of [...new Set([...an, ...bn])].sort(compareKeys)) {
      if (!bn.has(name)) return `${path}.backends.${seg(name)}: missing on peer`;
      if (!an.has(name)) return `${path}.backends.${seg(name)}: missing here`;
    }
  }
  if (a.digest === b.digest) return null;
  const what = detail === 'pools' ? 'backends differ' : 'backend addresses differ';
  return `${path}: ${what} (not named: the summary was cut to fit the handshake)`;
}

/**
 * The first difference between our summary and the peer's, as a path
 * (`services.web.pools.default.backends.be2: missing on peer`), or null when the
 * summaries, compared at the coarser of their two levels, show none. Use compareConfig
 * for the verdict: equal digests are what make two configs equal.
 */
export function firstDifference(here: CanonicalSummary, peer: CanonicalSummary): string | null {
  const detail = RANK[here.detail] >= RANK[peer.detail] ? here.detail : peer.detail;
  const a = reduceSummary(here, detail);
  const b = reduceSummary(peer, detail);
  for (const name of sortedUnion(a.services, b.services)) {
    const path = `services.${seg(name)}`;
    const sa = own(a.services, name);
    const sb = own(b.services, name);
    const missing = presence(path, sa, sb);
    if (missing || !sa || !sb) return missing;
    const diff =
      changed(`${path}.mode`, sa.mode, sb.mode) ??
      changed(`${path}.persistence.type`, sa.persistence.type, sb.persistence.type) ??
      changed(`${path}.persistence.ttl_ms`, sa.persistence.ttl_ms, sb.persistence.ttl_ms);
    if (diff) return diff;
    for (const poolName of sortedUnion(sa.pools, sb.pools)) {
      const at = `${path}.pools.${seg(poolName)}`;
      const pa = own(sa.pools, poolName);
      const pb = own(sb.pools, poolName);
      const poolDiff = presence(at, pa, pb) ?? (pa && pb ? poolDifference(at, pa, pb, detail) : null);
      if (poolDiff) return poolDiff;
    }
  }
  return null;
}

/** null when the configs match (equal digests); otherwise the reason to refuse the peer. */
export function compareConfig(here: ConfigDigest, peer: ConfigDigest): string | null {
  if (here.digest === peer.digest) return null;
  const diff = firstDifference(here.summary, peer.summary);
  if (diff) return `config differs: ${diff}`;
  // Summaries too coarse to tell, or a peer whose summary disagrees with its digest (another halo version).
  return `config differs: digest ${here.digest.slice(0, 12)} here, ${peer.digest.slice(0, 12)} on peer (the summaries do not name the difference)`;
}

/**
 * Strict check of a summary received from a peer. Throws HALO_ERR_REPL_HANDSHAKE naming
 * the path below `path` (e.g. `auth.configSummary.services.web.pools.default.digest`).
 */
export function parseSummary(value: unknown, path: string): CanonicalSummary {
  const obj = expectObject(value, path, ['detail', 'services']);
  const detail = expectOneOf(obj['detail'], `${path}.detail`, SUMMARY_DETAILS);
  const servicesRaw = expectRecord(obj['services'], `${path}.services`, MAX_SERVICES);
  const names = Object.keys(servicesRaw);
  if (detail === 'none' && names.length > 0) throw handshakeError(`${path}.services`, 'expected no services at detail "none"');
  const services: Record<string, ServiceSummary> = {};
  for (const name of names) {
    const at = `${path}.services.${seg(expectName(name, `${path}.services`))}`;
    services[name] = parseService(servicesRaw[name], at, detail);
  }
  return { detail, services };
}

function parseService(value: unknown, path: string, detail: SummaryDetail): ServiceSummary {
  const obj = expectObject(value, path, ['mode', 'persistence', 'pools']);
  // Modes and persistence types are tokens, not a fixed list: a newer peer's new mode is a config difference, not a protocol error.
  const mode = expectString(obj['mode'], `${path}.mode`, TOKEN_RE, 'a mode token');
  const p = expectObject(obj['persistence'], `${path}.persistence`, ['type', 'ttl_ms']);
  const type = expectString(p['type'], `${path}.persistence.type`, TOKEN_RE, 'a persistence type token');
  const ttl = expectUintOrNull(p['ttl_ms'], `${path}.persistence.ttl_ms`, Number.MAX_SAFE_INTEGER);
  const poolsRaw = expectRecord(obj['pools'], `${path}.pools`, MAX_POOLS);
  const poolNames = Object.keys(poolsRaw);
  const pools: Record<string, PoolSummary> = {};
  for (const name of poolNames) {
    const at = `${path}.pools.${seg(expectName(name, `${path}.pools`))}`;
    pools[name] = parsePool(poolsRaw[name], at, detail);
  }
  return { mode, persistence: { type, ttl_ms: ttl }, pools };
}

function parsePool(value: unknown, path: string, detail: SummaryDetail): PoolSummary {
  const keys = detail === 'backends' ? ['digest', 'backends'] : detail === 'names' ? ['digest', 'names'] : ['digest'];
  const obj = expectObject(value, path, keys);
  const digest = expectString(obj['digest'], `${path}.digest`, POOL_DIGEST_RE, `${POOL_DIGEST_CHARS} hex chars (lowercase)`);
  if (detail === 'names') {
    const text = expectString(obj['names'], `${path}.names`, NAMES_RE, 'backend names separated by single spaces');
    const names = splitNames(text);
    if (names.length > MAX_BACKENDS) throw handshakeError(`${path}.names`, `expected at most ${MAX_BACKENDS} names, got ${names.length}`);
    for (let i = 0; i < names.length; i++) {
      const name = expectName(names[i], `${path}.names[${i}]`);
      if (i > 0 && compareKeys(names[i - 1] ?? '', name) >= 0) throw handshakeError(`${path}.names[${i}]`, `expected names sorted and unique, got ${JSON.stringify(name)} after ${JSON.stringify(names[i - 1])}`);
    }
    return { digest, names: text };
  }
  if (detail !== 'backends') return { digest };
  const raw = expectRecord(obj['backends'], `${path}.backends`, MAX_BACKENDS);
  const names = Object.keys(raw);
  const backends: Record<string, string> = {};
  for (const name of names) {
    const at = `${path}.backends.${seg(expectName(name, `${path}.backends`))}`;
    const ep = expectString(raw[name], at, ENDPOINT_RE, 'address:port');
    const port = Number(ep.slice(ep.lastIndexOf(':') + 1));
    if (port < 1 || port > 65535) throw handshakeError(at, `expected a port 1-65535, got ${port}`);
    backends[name] = ep;
  }
  // A pool digest that disagrees with its own backends would hide a difference from firstDifference.
  if (poolDigest(backends) !== digest) throw handshakeError(`${path}.digest`, 'does not match the pool\'s backends');
  return { digest, backends };
}

/** The digest field of auth/welcome: sha256 hex. */
export function parseConfigDigest(value: unknown, path: string): string {
  return expectHex64(value, path);
}
