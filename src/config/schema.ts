/**
 * The one schema for halo's YAML config. Types are inferred from it, so the schema is
 * the single source of truth. Every object is strict: an unknown key is an error, never
 * silently ignored (keepalived's lenient parsing is a trap we do not repeat).
 * Durations are integers in milliseconds and say so in their name (`_ms`).
 */
import { z } from 'zod';
import { ALGORITHMS } from '../core/balancer/balancer.js';

import { bool, int, list, name, oneOf, show, text, HOST, IPV4 } from './schema-helpers.js';
import { clusterSchema } from './cluster-schema.js';
import { adminSchema } from './admin-schema.js';

export { show } from './schema-helpers.js';

export const backendSchema = z.strictObject({
  name: name('a backend name'),
  address: text('a backend address (IPv4, IPv6 or host name)', HOST),
  port: int(1, 65535),
  weight: int(0, 256).default(1),
  /** Cap on concurrent connections to this backend; 0 = unlimited. */
  max_connections: int(0, 1_000_000).default(0),
});

export const poolSchema = z.strictObject({
  name: name('a pool name'),
  algorithm: oneOf(ALGORITHMS).default('round_robin'),
  backends: list(backendSchema, 'backends').min(1, { error: 'expected at least one backend' }),
});

export const healthCheckSchema = z.strictObject({
  /** Default: tcp for tcp and http services, none for udp (set by load.ts from the mode). */
  type: oneOf(['none', 'icmp', 'tcp', 'http'] as const).default('tcp'),
  interval_ms: int(50, 3_600_000).default(2000),
  timeout_ms: int(10, 600_000).default(1000),
  rise: int(1, 100).default(2),
  fall: int(1, 100).default(3),
  /** http only */
  path: text('an absolute path starting with /', /^\/\S*$/).default('/healthz'),
  /** http only: inclusive status range [low, high] */
  expect_status: z.tuple([int(100, 599), int(100, 599)], { error: (iss) => `expected [low, high] status codes, got ${show(iss.input)}` }).default([200, 399]),
  /** http only: the body must contain this substring */
  expect_body: z.string().optional(),
  /** http only: Host header sent with the probe */
  host: z.string().optional(),
  /** Probe a different port than the backend's traffic port. */
  port: int(1, 65535).optional(),
});

export const persistenceSchema = z.strictObject({
  type: oneOf(['none', 'source_ip', 'cookie'] as const).default('none'),
  ttl_ms: int(1000, 30 * 24 * 3_600_000).default(1_800_000),
  /** cookie only */
  cookie_name: text('a cookie name', /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/).default('HALO_SRV'),
  /** cookie only: HMAC secret from a file or an environment variable (never inline in logs). */
  secret_file: z.string().optional(),
  secret_env: z.string().optional(),
  /** Max entries kept in the source-IP table (oldest expire first). */
  max_entries: int(1, 50_000_000).default(1_000_000),
});

const ruleMatchSchema = z
  .strictObject({
    path_prefix: text('a path prefix starting with /', /^\//).optional(),
    host: text('a host name (exact, or *.suffix)').optional(),
    extension: list(text('a file extension', /^[A-Za-z0-9]+$/), 'extensions').min(1).optional(),
    content_type: text('a content-type prefix').optional(),
    header: z.strictObject({ name: text('a header name', /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/), value: z.string().optional(), prefix: z.string().optional() }).optional(),
  })
  .refine((m) => Object.values(m).some((v) => v !== undefined), { error: 'expected at least one of path_prefix, host, extension, content_type, header' });

export const ruleSchema = z.strictObject({
  match: ruleMatchSchema,
  pool: name('a pool name'),
});

export const timeoutsSchema = z.strictObject({
  connect_ms: int(1, 600_000).default(3000),
  /** tcp: no bytes either way; http: keep-alive idle on the client side */
  idle_ms: int(1, 86_400_000).default(60_000),
  /** http: whole request head must arrive within this (slowloris); also the wait for a new connection's first byte */
  client_header_ms: int(1, 600_000).default(10_000),
  /** http: the request body must arrive within this after its head, plus one second per client_body_min_bytes_per_sec bytes received (slow bodies) */
  client_body_ms: int(1, 3_600_000).default(60_000),
  /** http: the body rate that keeps extending client_body_ms; 0 = a fixed deadline whatever the size */
  client_body_min_bytes_per_sec: int(0, 1_000_000_000).default(1024),
  /** http: time to the first byte of the backend's response */
  backend_response_ms: int(1, 3_600_000).default(30_000),
  /** graceful stop: how long open connections may drain */
  drain_ms: int(0, 3_600_000).default(5000),
});

export const limitsSchema = z.strictObject({
  /** 0 = unlimited */
  max_connections: int(0, 10_000_000).default(0),
  max_connections_per_client: int(0, 1_000_000).default(0),
  /** http: requests per second per client address; 0 = unlimited */
  requests_per_second_per_client: int(0, 10_000_000).default(0),
  max_header_bytes: int(1024, 1_048_576).default(16_384),
  /** udp */
  max_flows: int(1, 10_000_000).default(100_000),
});

export const serviceSchema = z.strictObject({
  name: name('a service name'),
  mode: oneOf(['tcp', 'udp', 'http'] as const),
  listen: z.strictObject({
    address: text('an IPv4 listen address', IPV4).default('0.0.0.0'),
    port: int(1, 65535),
  }),
  algorithm: oneOf(ALGORITHMS).default('round_robin'),
  backends: list(backendSchema, 'backends').min(1, { error: 'expected at least one backend' }),
  /** http: extra named pools that rules can send to; the service's own backends are the pool named "default". */
  pools: list(poolSchema, 'pools').default([]),
  rules: list(ruleSchema, 'rules').default([]),
  health_check: healthCheckSchema.default(healthCheckSchema.parse({})),
  persistence: persistenceSchema.default(persistenceSchema.parse({})),
  timeouts: timeoutsSchema.default(timeoutsSchema.parse({})),
  limits: limitsSchema.default(limitsSchema.parse({})),
  /** tcp: send a PROXY protocol header to the backend */
  proxy_protocol: oneOf(['none', 'v1', 'v2'] as const).default('none'),
  /** udp: a flow with no datagram for this long is forgotten */
  udp_flow_idle_ms: int(100, 86_400_000).default(30_000),
  /** tcp/http: how many other backends to try when connecting fails */
  retries: int(0, 10).default(2),
});

export const configSchema = z.strictObject({
  node: z
    .strictObject({
      name: name('a node name').default('halo'),
      /**
       * Where `halo run` writes <name>.pid and its control socket <name>.sock, which
       * `halo reload` and `halo failover` find through this same config file.
       */
      run_dir: text('an absolute directory path', /^\/\S*$/).default('/run/halo'),
    })
    .default({ name: 'halo', run_dir: '/run/halo' }),
  log: z
    .strictObject({
      level: oneOf(['error', 'warn', 'info', 'debug'] as const).default('info'),
      format: oneOf(['text', 'json'] as const).default('text'),
    })
    .default({ level: 'info', format: 'text' }),
  /** absent: a single node, no election, no VIP */
  cluster: clusterSchema.optional(),
  /** the admin API: loopback by default, a bearer token beyond it */
  admin: adminSchema.default(adminSchema.parse({})),
  services: list(serviceSchema, 'services').min(1, { error: 'expected at least one service' }),
});

export type HaloConfig = z.infer<typeof configSchema>;
export type ServiceConfig = z.infer<typeof serviceSchema>;
export type BackendConfig = z.infer<typeof backendSchema>;
export type PoolConfig = z.infer<typeof poolSchema>;
export type HealthCheckConfig = z.infer<typeof healthCheckSchema>;
export type PersistenceConfig = z.infer<typeof persistenceSchema>;
export type RuleConfig = z.infer<typeof ruleSchema>;
export type TimeoutsConfig = z.infer<typeof timeoutsSchema>;
export type LimitsConfig = z.infer<typeof limitsSchema>;
