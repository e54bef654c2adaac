import { thrown } from '../../../test/helpers/thrown.js';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/load.js';
import type { ServiceConfig } from '../../config/schema.js';
import {
  SUMMARY_MAX_BYTES,
  canonicalJson,
  compareConfig,
  configDigest,
  firstDifference,
  parseSummary,
  reduceSummary,
  summaryBytes,
  type CanonicalSummary,
  type DigestBackend,
  type DigestService,
} from './config-digest.js';

const be = (name: string, address: string, port = 80): DigestBackend => ({ name, address, port });

function svc(name: string, backends: DigestBackend[], extra: Partial<DigestService> = {}): DigestService {
  return { name, mode: 'http', persistence: { type: 'source_ip', ttl_ms: 60_000 }, backends, pools: [], ...extra };
}

const WEB = svc('web', [be('be1', '10.0.0.1'), be('be2', '10.0.0.2')], { pools: [{ name: 'static', backends: [be('s1', '10.0.1.1', 8080)] }] });
const API = svc('api', [be('a1', '10.0.2.1', 9000)], { mode: 'tcp' });
const base = (): DigestService[] => [WEB, API];

function diff(here: DigestService[], peer: DigestService[]): string | null {
  return firstDifference(configDigest(here).summary, configDigest(peer).summary);
}

function withWeb(change: Partial<DigestService>): DigestService[] {
  return [{ ...WEB, ...change }, API];
}


/** Round trip through JSON, as the summary travels. */
function wire(s: CanonicalSummary): unknown {
  return JSON.parse(JSON.stringify(s));
}

function bigConfig(services: number, backends: number, backendName: (b: number) => string): DigestService[] {
  return Array.from({ length: services }, (_, s) =>
    svc(
      `svc-${String(s).padStart(3, '0')}`,
      Array.from({ length: backends }, (_, b) => be(backendName(b), `10.${s}.${b}.10`, 8080)),
    ),
  );
}

describe('configDigest', () => {
  it('is independent of the order of services, pools and backends', () => {
    const a = configDigest(base());
    const shuffled: DigestService[] = [
      { ...API },
      { ...WEB, backends: [...WEB.backends].reverse(), pools: [{ name: 'static', backends: [be('s1', '10.0.1.1', 8080)] }] },
    ];
    const b = configDigest(shuffled);
    expect(b.digest).toBe(a.digest);
    expect(canonicalJson(b.summary)).toBe(canonicalJson(a.summary));
    expect(a.digest).toMatch(/^[0-9a-f]{64}$/);
  });

  it('sorts integer-like names too (JSON.stringify alone would not)', () => {
    const a = configDigest([svc('10', [be('2', '10.0.0.2'), be('10', '10.0.0.10')]), svc('9', [be('x', '10.0.0.1')])]);
    const b = configDigest([svc('9', [be('x', '10.0.0.1')]), svc('10', [be('10', '10.0.0.10'), be('2', '10.0.0.2')])]);
    expect(b.digest).toBe(a.digest);
    expect(canonicalJson({ b: 1, a: [{ d: 1, c: 2 }], 10: 0, 9: 0 })).toBe('{"10":0,"9":0,"a":[{"c":2,"d":1}],"b":1}');
  });

  it.each<[string, DigestService[]]>([
    ['a backend address', withWeb({ backends: [be('be1', '10.0.0.1'), be('be2', '10.0.0.3')] })],
    ['a backend port', withWeb({ backends: [be('be1', '10.0.0.1'), be('be2', '10.0.0.2', 81)] })],
    ['a backend name', withWeb({ backends: [be('be1', '10.0.0.1'), be('be3', '10.0.0.2')] })],
    ['the persistence type', withWeb({ persistence: { type: 'cookie', ttl_ms: 60_000 } })],
    ['the persistence ttl', withWeb({ persistence: { type: 'source_ip', ttl_ms: 61_000 } })],
    ['the mode', withWeb({ mode: 'tcp' })],
    ['a pool name', withWeb({ pools: [{ name: 'assets', backends: [be('s1', '10.0.1.1', 8080)] }] })],
    ['a service name', [{ ...WEB, name: 'www' }, API]],
  ])('changes with %s', (_what, changed) => {
    expect(configDigest(changed).digest).not.toBe(configDigest(base()).digest);
  });

  it('ignores the TTL when persistence is off, and host name case', () => {
    const off = (ttl: number) => withWeb({ persistence: { type: 'none', ttl_ms: ttl } });
    expect(configDigest(off(1000)).digest).toBe(configDigest(off(2000)).digest);
    const host = (h: string) => [svc('x', [be('b', h)])];
    expect(configDigest(host('Backend.Example')).digest).toBe(configDigest(host('backend.example')).digest);
  });

  it('leaves out weights, health checks, algorithm, listen and limits (operators tune them per node)', () => {
    const yaml = (extra: string) => `
services:
  - name: web
    mode: http
    listen: { port: ${extra.includes('listen') ? 8081 : 8080} }
    algorithm: ${extra.includes('algo') ? 'least_connections' : 'round_robin'}
    backends:
      - { name: be1, address: 10.0.0.1, port: 80, weight: ${extra.includes('weight') ? 5 : 1} }
    health_check: { interval_ms: ${extra.includes('hc') ? 5000 : 2000} }
    limits: { max_connections: ${extra.includes('limits') ? 10 : 0} }
`;
    const digestOf = (extra: string) => configDigest(parseConfig(yaml(extra)).services).digest;
    const plain = digestOf('');
    for (const extra of ['listen', 'algo', 'weight', 'hc', 'limits']) expect(digestOf(extra), extra).toBe(plain);
    const services: readonly ServiceConfig[] = parseConfig(yaml('')).services;
    expect(configDigest(services).summary.services['web']?.pools['default']?.backends).toEqual({ be1: '10.0.0.1:80' });
  });

  it('writes IPv6 backends as [address]:port', () => {
    const s = configDigest([svc('v6', [be('b', '2001:DB8::1', 443)])]).summary;
    expect(s.services['v6']?.pools['default']?.backends).toEqual({ b: '[2001:db8::1]:443' });
    expect(parseSummary(wire(s), 'x')).toEqual(s);
  });

  it.each<[string, DigestService[], string]>([
    ['duplicate service', [WEB, WEB], 'services: duplicate service name "web"'],
    ['duplicate backend', [svc('w', [be('b', '10.0.0.1'), be('b', '10.0.0.2')])], 'services.w.pools.default.backends: duplicate backend name "b"'],
    ['pool named default', [svc('w', [be('b', '10.0.0.1')], { pools: [{ name: 'default', backends: [be('c', '10.0.0.3')] }] })], 'duplicate pool name "default"'],
    ['invalid name', [svc('__proto__', [be('b', '10.0.0.1')])], 'service name "__proto__" is not a valid name'],
  ])('rejects a %s', (_what, services, message) => {
    const err = thrown(() => configDigest(services));
    expect(err.message).toContain(message);
    expect(err.code).toBe('HALO_ERR_CONFIG_INVALID');
  });
});

describe('summary size', () => {
  it('100 services x 50 backends: cut to backend names, well under a 64 KiB control message', () => {
    const services = bigConfig(100, 50, (b) => `be-${String(b).padStart(2, '0')}`);
    const full = configDigest(services, { maxSummaryBytes: Number.MAX_SAFE_INTEGER });
    const cut = configDigest(services);
    // Measured: full ~148 KB, names ~44 KB, pools ~13 KB.
    expect(summaryBytes(full.summary)).toBeGreaterThan(64 * 1024);
    expect(cut.summary.detail).toBe('names');
    expect(summaryBytes(cut.summary)).toBeLessThanOrEqual(SUMMARY_MAX_BYTES);
    expect(cut.digest).toBe(full.digest);
  });

  it('long backend names fall back to pool digests, still within the budget', () => {
    const cut = configDigest(bigConfig(100, 50, (b) => `web-backend-node-${String(b).padStart(4, '0')}.example`));
    expect(cut.summary.detail).toBe('pools');
    expect(summaryBytes(cut.summary)).toBeLessThanOrEqual(SUMMARY_MAX_BYTES);
  });

  it('a small config keeps every address; a tiny budget keeps nothing', () => {
    expect(configDigest(bigConfig(10, 20, (b) => `be${b}`)).summary.detail).toBe('backends');
    expect(configDigest(base(), { maxSummaryBytes: 10 }).summary).toEqual({ detail: 'none', services: {} });
  });
});

describe('firstDifference', () => {
  it('is null for the same config', () => {
    expect(diff(base(), [...base()].reverse())).toBeNull();
  });

  it.each<[string, DigestService[], DigestService[], string]>([
    ['service removed', base(), [WEB], 'services.api: missing on peer'],
    ['service added', [WEB], base(), 'services.api: missing here'],
    ['pool removed', base(), withWeb({ pools: [] }), 'services.web.pools.static: missing on peer'],
    ['pool added', withWeb({ pools: [] }), base(), 'services.web.pools.static: missing here'],
    ['backend removed', base(), withWeb({ backends: [be('be1', '10.0.0.1')] }), 'services.web.pools.default.backends.be2: missing on peer'],
    ['backend added', withWeb({ backends: [be('be1', '10.0.0.1')] }), base(), 'services.web.pools.default.backends.be2: missing here'],
    ['address changed', base(), withWeb({ backends: [be('be1', '10.0.0.1'), be('be2', '10.0.0.9')] }), 'services.web.pools.default.backends.be2: 10.0.0.2:80 here, 10.0.0.9:80 on peer'],
    ['port changed', base(), withWeb({ pools: [{ name: 'static', backends: [be('s1', '10.0.1.1', 8081)] }] }), 'services.web.pools.static.backends.s1: 10.0.1.1:8080 here, 10.0.1.1:8081 on peer'],
    ['persistence type', base(), withWeb({ persistence: { type: 'cookie', ttl_ms: 60_000 } }), 'services.web.persistence.type: source_ip here, cookie on peer'],
    ['persistence off', base(), withWeb({ persistence: { type: 'none', ttl_ms: 60_000 } }), 'services.web.persistence.type: source_ip here, none on peer'],
    ['persistence ttl', base(), withWeb({ persistence: { type: 'source_ip', ttl_ms: 120_000 } }), 'services.web.persistence.ttl_ms: 60000 here, 120000 on peer'],
    ['mode', base(), withWeb({ mode: 'tcp' }), 'services.web.mode: http here, tcp on peer'],
    ['dotted name', [svc('web.v2', [be('b.1', '10.0.0.1')])], [svc('web.v2', [])], 'services."web.v2".pools.default.backends."b.1": missing on peer'],
  ])('names the %s', (_what, here, peer, expected) => {
    expect(diff(here, peer)).toBe(expected);
    const d = compareConfig(configDigest(here), configDigest(peer));
    expect(d).toBe(`config differs: ${expected}`);
  });

  it('reports the first difference in sorted order', () => {
    const peer = [svc('api', [be('a1', '10.0.2.1', 9000)], { mode: 'udp' }), { ...WEB, mode: 'tcp' }];
    expect(diff(base(), peer)).toBe('services.api.mode: tcp here, udp on peer');
  });

  it('does not reach Object.prototype for names like "constructor"', () => {
    const here = [svc('constructor', [be('toString', '10.0.0.1')])];
    expect(diff(here, [svc('constructor', [])])).toBe('services.constructor.pools.default.backends.toString: missing on peer');
    expect(diff([], here)).toBe('services.constructor: missing here');
  });

  it('at names level names missing backends, and says when only addresses differ', () => {
    const names = (s: DigestService[]) => reduceSummary(configDigest(s).summary, 'names');
    const fewer = withWeb({ backends: [be('be1', '10.0.0.1')] });
    const moved = withWeb({ backends: [be('be1', '10.0.0.1'), be('be2', '10.0.0.9')] });
    expect(firstDifference(names(base()), names(fewer))).toBe('services.web.pools.default.backends.be2: missing on peer');
    expect(firstDifference(names(base()), names(moved))).toBe('services.web.pools.default: backend addresses differ (not named: the summary was cut to fit the handshake)');
    // Mixed levels compare at the coarser one.
    expect(firstDifference(configDigest(base()).summary, names(moved))).toMatch(/^services\.web\.pools\.default: backend addresses differ/);
    expect(firstDifference(names(base()), configDigest(base()).summary)).toBeNull();
  });

  it('at pools level names the pool; at level none it cannot tell and compareConfig falls back to the digests', () => {
    const pools = (s: DigestService[]) => reduceSummary(configDigest(s).summary, 'pools');
    expect(firstDifference(pools(base()), pools(withWeb({ backends: [be('be1', '10.0.0.1')] })))).toBe(
      'services.web.pools.default: backends differ (not named: the summary was cut to fit the handshake)',
    );
    const here = configDigest(base(), { maxSummaryBytes: 10 });
    const peer = configDigest([WEB]);
    expect(firstDifference(here.summary, peer.summary)).toBeNull();
    expect(compareConfig(here, peer)).toBe(`config differs: digest ${here.digest.slice(0, 12)} here, ${peer.digest.slice(0, 12)} on peer (the summaries do not name the difference)`);
    expect(compareConfig(here, configDigest(base()))).toBeNull();
  });
});

describe('parseSummary', () => {
  it.each(['backends', 'names', 'pools', 'none'] as const)('round-trips a summary at level %s', (level) => {
    const s = reduceSummary(configDigest(base()).summary, level);
    expect(parseSummary(wire(s), 'auth.configSummary')).toEqual(s);
  });

  const full = () => wire(configDigest(base()).summary) as { detail: string; services: Record<string, any> }; // any: tests poke at arbitrary JSON
  const namesLevel = () => wire(reduceSummary(configDigest(base()).summary, 'names')) as { services: Record<string, any> }; // any: as above

  it.each<[string, () => unknown, string]>([
    ['not an object', () => [], 'auth.configSummary: expected an object, got a list'],
    ['an unknown key', () => ({ ...full(), extra: 1 }), 'auth.configSummary: unknown key "extra"'],
    ['a bad detail', () => ({ ...full(), detail: 'all' }), 'auth.configSummary.detail: expected one of backends, names, pools, none, got "all"'],
    ['a bad service name', () => ({ detail: 'pools', services: { 'bad name': {} } }), 'auth.configSummary.services: expected a name'],
    ['a missing mode', () => { const s = full(); delete s.services['web'].mode; return s; }, 'auth.configSummary.services.web.mode: required, missing'],
    ['a bad ttl', () => { const s = full(); s.services['web'].persistence.ttl_ms = -1; return s; }, 'auth.configSummary.services.web.persistence.ttl_ms: expected an integer'],
    ['a bad endpoint', () => { const s = full(); s.services['web'].pools.default.backends.be1 = '10.0.0.1'; return s; }, 'auth.configSummary.services.web.pools.default.backends.be1: expected address:port, got "10.0.0.1"'],
    ['port 0', () => { const s = full(); s.services['web'].pools.default.backends.be1 = '10.0.0.1:0'; return s; }, 'backends.be1: expected a port 1-65535, got 0'],
    ['a digest that does not match', () => { const s = full(); s.services['web'].pools.default.backends.be1 = '10.0.0.7:80'; return s; }, 'auth.configSummary.services.web.pools.default.digest: does not match'],
    ['names at level backends', () => { const s = full(); s.services['web'].pools.default.names = 'be1'; return s; }, 'auth.configSummary.services.web.pools.default: unknown key "names"'],
    ['unsorted names', () => { const s = namesLevel(); s.services['web'].pools.default.names = 'be2 be1'; return s; }, 'auth.configSummary.services.web.pools.default.names[1]: expected names sorted and unique'],
    ['an invalid name in names', () => { const s = namesLevel(); s.services['web'].pools.default.names = 'be1  be2'; return s; }, 'auth.configSummary.services.web.pools.default.names[1]: expected a name'],
    ['services at level none', () => ({ ...full(), detail: 'none' }), 'auth.configSummary.services: expected no services at detail "none"'],
  ])('rejects %s, naming the path', (_what, make, message) => {
    const err = thrown(() => parseSummary(make(), 'auth.configSummary'));
    expect(err.message).toContain(message);
    expect(err.code).toBe('HALO_ERR_REPL_HANDSHAKE');
  });
});
