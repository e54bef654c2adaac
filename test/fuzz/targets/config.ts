/**
 * Fuzz target: the config loader (src/config/load.ts parseConfig).
 *
 * "No throw escapes" here means: parseConfig returns a frozen config or throws a
 * HaloError with a HALO_ERR_CONFIG_* code whose message starts with the config's path
 * and lists at least one problem. Anything else (a TypeError from a cross-check, a YAML
 * library error leaking) is a loader bug. An accepted config must also pass the
 * cross-checks again and read back the same when written out as YAML.
 */
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { ALGORITHMS } from '../../../src/core/balancer/balancer.js';
import { HaloError } from '../../../src/core/errors.js';
import { crossCheck, parseConfig } from '../../../src/config/load.js';
import type { HaloConfig } from '../../../src/config/schema.js';
import { assertThat, describeThrown, ipv4Arb, jsonMutation, mutateJson, mutateText, property, textMutation, type FuzzTarget } from '../harness.js';

export type ConfigParser = (text: string, source?: string) => Readonly<HaloConfig>;

const SOURCE = '/etc/halo/fuzz.yaml';
const CONFIG_CODES: ReadonlySet<string> = new Set(['HALO_ERR_CONFIG_PARSE', 'HALO_ERR_CONFIG_INVALID']);

// ---------------------------------------------------------------- valid configs

const nameArb = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,20}$/);
const hostArb = fc.oneof(ipv4Arb, fc.stringMatching(/^[a-z][a-z0-9-]{0,15}(\.[a-z0-9-]{1,10}){0,2}$/), fc.constantFrom('::1', '2001:db8::5'));

interface GenBackend {
  name: string;
  address: string;
  port: number;
  weight?: number;
}

const backendArb = (name: string): fc.Arbitrary<GenBackend> =>
  fc
    .tuple(hostArb, fc.integer({ min: 1, max: 65535 }), fc.option(fc.integer({ min: 1, max: 256 }), { nil: undefined }))
    .map(([address, port, weight]) => (weight === undefined ? { name, address, port } : { name, address, port, weight }));

const backendsArb = fc.uniqueArray(nameArb, { minLength: 1, maxLength: 3 }).chain((names) => fc.tuple(...names.map(backendArb)));

type GenService = Record<string, unknown> & { name: string; mode: 'tcp' | 'udp' | 'http'; listen: { port: number }; backends: GenBackend[] };

function serviceArb(name: string, port: number): fc.Arbitrary<GenService> {
  return fc
    .tuple(
      fc.constantFrom('tcp' as const, 'udp' as const, 'http' as const),
      backendsArb,
      fc.option(fc.constantFrom(...ALGORITHMS), { nil: undefined }),
      fc.option(fc.tuple(fc.integer({ min: 50, max: 10_000 }), fc.integer({ min: 10, max: 50 })), { nil: undefined }),
      fc.constantFrom('none', 'source_ip', 'cookie'),
      fc.option(fc.constantFrom('v1', 'v2'), { nil: undefined }),
      fc.option(nameArb.filter((n) => n !== 'default'), { nil: undefined }),
    )
    .map(([mode, backends, algorithm, hc, persistence, proxy, pool]) => {
      const svc: GenService = { name, mode, listen: { port }, backends };
      if (algorithm !== undefined) svc['algorithm'] = algorithm;
      if (hc !== undefined) svc['health_check'] = { type: mode === 'udp' ? 'none' : 'tcp', interval_ms: hc[0], timeout_ms: hc[1] };
      if (persistence === 'source_ip' || (persistence === 'cookie' && mode === 'http')) {
        svc['persistence'] = persistence === 'cookie' ? { type: 'cookie', secret_env: 'HALO_COOKIE_SECRET' } : { type: 'source_ip', ttl_ms: 60_000 };
      }
      if (proxy !== undefined && mode === 'tcp') svc['proxy_protocol'] = proxy;
      if (pool !== undefined && mode === 'http') {
        svc['pools'] = [{ name: pool, backends: [{ name: 'p1', address: '10.9.9.9', port: 80 }] }];
        svc['rules'] = [{ match: { path_prefix: '/api' }, pool }];
      }
      return svc;
    });
}

/** Configs that must load: unique names, distinct ports, cross-references intact. */
export const validConfigArb: fc.Arbitrary<Record<string, unknown>> = fc
  .tuple(
    fc.uniqueArray(nameArb, { minLength: 1, maxLength: 3 }).chain((names) => fc.tuple(...names.map((n, i) => serviceArb(n, 8000 + i)))),
    fc.option(nameArb, { nil: undefined }),
    fc.option(fc.tuple(fc.integer({ min: 1, max: 0xffff_ffff }), fc.integer({ min: 1, max: 254 }), fc.integer({ min: 0, max: 254 })), { nil: undefined }),
    fc.constantFrom(undefined, false, 'off', '127.0.0.1:9797', '[::1]:9000'),
  )
  .map(([services, node, cluster, admin]) => {
    const cfg: Record<string, unknown> = { services };
    if (node !== undefined) cfg['node'] = { name: node };
    if (cluster !== undefined) cfg['cluster'] = { id: cluster[0], key_env: 'HALO_KEY', interface: 'eth0', priority: cluster[1], vips: [{ address: `10.0.${cluster[2]}.100/24` }] };
    if (admin !== undefined) cfg['admin'] = { listen: admin };
    return cfg;
  });

const yamlOf = (value: unknown, flow: boolean): string => stringify(value, flow ? { collectionStyle: 'flow' } : {});

// ---------------------------------------------------------------- hostile YAML

const YAML_FRAGMENTS = [
  '*a', '&a ', '<<: *a\n', '&b [*b]', '!!set ', '!!binary ', '!!omap ', '!!timestamp ', '!foo ', '!<tag:x> ', '? ', '- ', ': ', '[', ']', '{', '}',
  '"', "'", '#', '---\n', '...\n', '%YAML 1.1\n', '%TAG ! tag:x:\n', '\t', '\n', '  ', '~', 'null', '0x1F', '0o17', '1e400', '-1', '.inf', '.nan',
  '__proto__: ', 'constructor: ', '|\n', '>-\n', '\\u0000', '\u0000', '\ufeff', 'yes', '1_000', '2001-12-14', 'port: ', 'mode: udp', 'services: ',
];
const CONFIG_KEYS = ['services', 'backends', 'pools', 'rules', 'mode', 'port', 'name', 'listen', 'cluster', 'vips', 'admin', 'persistence', 'health_check', 'weight'];

function checkRejection(err: unknown, text: string): void {
  assertThat(err instanceof HaloError && CONFIG_CODES.has(err.code), () => `parseConfig threw ${describeThrown(err)} on ${JSON.stringify(text.slice(0, 400))}`);
  assertThat(err.message.startsWith(`${SOURCE}: `), () => `config error does not name the file: ${err.message.slice(0, 200)}`);
  const problems: unknown = (err as { problems?: unknown }).problems;
  assertThat(Array.isArray(problems) && problems.length > 0 && problems.every((p) => typeof p === 'string' && p.length > 0), 'config error without problems');
}

function checkAccepted(parse: ConfigParser, cfg: Readonly<HaloConfig>, text: string): void {
  assertThat(Object.isFrozen(cfg) && Object.isFrozen(cfg.services) && cfg.services.length > 0, 'accepted config is not frozen or has no service');
  const problems = crossCheck(cfg);
  assertThat(problems.length === 0, () => `accepted config fails its own cross-checks: ${problems.join('; ')}`);
  let again: Readonly<HaloConfig>;
  try {
    again = parse(yamlOf(cfg, false), SOURCE);
  } catch (err) {
    throw new Error(`accepted ${JSON.stringify(text.slice(0, 400))}, but its YAML does not load again: ${describeThrown(err)}`);
  }
  assertThat(isDeepStrictEqual(again, cfg), () => `accepted ${JSON.stringify(text.slice(0, 400))}; written out and read back it differs`);
}

function checkParse(parse: ConfigParser, text: string): void {
  let cfg: Readonly<HaloConfig>;
  try {
    cfg = parse(text, SOURCE);
  } catch (err) {
    checkRejection(err, text);
    return;
  }
  checkAccepted(parse, cfg, text);
}

export function createConfigTarget(parse: ConfigParser = parseConfig): FuzzTarget {
  return {
    name: 'config',
    defaultRuns: 100_000,
    ciRuns: 2_000,
    properties: [
      property('round-trip', 1, fc.tuple(validConfigArb, fc.boolean()), ([cfg, flow]) => {
        const text = yamlOf(cfg, flow);
        let got: Readonly<HaloConfig>;
        try {
          got = parse(text, SOURCE);
        } catch (err) {
          throw new Error(`a valid config was rejected: ${describeThrown(err)}\n${text}`);
        }
        checkAccepted(parse, got, text);
        const services = cfg['services'] as GenService[];
        assertThat(got.services.length === services.length, 'service count changed');
        services.forEach((s, i) => {
          const g = got.services[i]!;
          assertThat(g.name === s.name && g.mode === s.mode && g.listen.port === s.listen.port, () => `services[${i}] changed: ${JSON.stringify(g).slice(0, 200)}`);
          const want = s.backends.map((b) => [b.name, b.address, b.port, b.weight ?? 1]);
          const have = g.backends.map((b) => [b.name, b.address, b.port, b.weight]);
          assertThat(isDeepStrictEqual(have, want), () => `services[${i}].backends changed: ${JSON.stringify(have)} for ${JSON.stringify(want)}`);
        });
      }),
      property('mutated-value', 3, fc.tuple(validConfigArb, fc.array(jsonMutation(CONFIG_KEYS), { minLength: 1, maxLength: 3 }), fc.boolean()), ([cfg, mutations, flow]) => {
        const value: unknown = structuredClone(cfg);
        for (const m of mutations) mutateJson(value, m);
        checkParse(parse, yamlOf(value, flow));
      }),
      property('mutated-text', 4, fc.tuple(validConfigArb, fc.array(textMutation(YAML_FRAGMENTS), { minLength: 1, maxLength: 4 }), fc.boolean()), ([cfg, mutations, flow]) => {
        checkParse(parse, mutateText(yamlOf(cfg, flow), mutations));
      }),
      property('random-text', 2, fc.array(fc.oneof(fc.constantFrom(...YAML_FRAGMENTS), fc.string({ maxLength: 8, unit: 'binary' })), { maxLength: 24 }), (parts) => {
        checkParse(parse, parts.join(''));
      }),
    ],
  };
}

export const configTarget = createConfigTarget();
