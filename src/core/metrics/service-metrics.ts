/**
 * Traffic metrics for one service and each of its backends: the seed's connections per
 * second, concurrent connections and throughput (bytes and packets per second, UDP
 * included), plus requests, response time, connect failures, rejections and health.
 *
 * The hot-path methods take a backend handle (from backend()) or its "pool/backend"
 * key, update fixed counters and rate windows and allocate nothing; snapshot() builds
 * the plain JSON-able view for the admin API and Prometheus.
 */
import type { RejectReason } from '../service/dispatcher-types.js';
import { RateWindow } from './rate-window.js';

export type Direction = 'to_backend' | 'to_client';
/** Why a client was refused or cut by a limit: 'evicted' is a live UDP flow dropped from a full table. */
export type LimitReason = RejectReason | 'evicted';
export type StatusClass = '1xx' | '2xx' | '3xx' | '4xx' | '5xx' | 'other';

export interface TrafficSnapshot {
  readonly connectionsPerSec: number;
  readonly concurrentConnections: number;
  readonly totalConnections: number;
  /** "in" is client -> backend, "out" is backend -> client. */
  readonly bytesInPerSec: number;
  readonly bytesOutPerSec: number;
  readonly bytesInTotal: number;
  readonly bytesOutTotal: number;
  readonly packetsInPerSec: number;
  readonly packetsOutPerSec: number;
  readonly packetsInTotal: number;
  readonly packetsOutTotal: number;
  readonly requestsPerSec: number;
  readonly totalRequests: number;
  readonly responses: Readonly<Record<StatusClass, number>>;
  /** Null until the first sample. */
  readonly responseMsEwma: number | null;
  readonly connectFailures: number;
}

export interface BackendMetricsSnapshot extends TrafficSnapshot {
  readonly pool: string;
  readonly backend: string;
  readonly up: boolean;
}

export interface ServiceTotalsSnapshot extends TrafficSnapshot {
  readonly name: string;
  readonly rejections: Readonly<Record<LimitReason, number>>;
  readonly rejectionsPerSec: number;
  readonly backendsUp: number;
  readonly backendsTotal: number;
}

export interface MetricsSnapshot {
  /** Monotonic ms the rates were computed at. */
  readonly at: number;
  readonly service: ServiceTotalsSnapshot;
  /** Keyed "pool/backend". */
  readonly backends: Readonly<Record<string, BackendMetricsSnapshot>>;
}

export interface ServiceMetricsOptions {
  readonly service: string;
  /** Backends known up front, so they show in snapshots before any traffic. */
  readonly backends?: Iterable<{ readonly pool: string; readonly name: string }>;
  /** Rate window: buckets x bucketMs (default 10 x 1000). */
  readonly buckets?: number;
  readonly bucketMs?: number;
  /** Weight of each new response-time sample (default 0.2). */
  readonly ewmaAlpha?: number;
}

type WindowOpts = { buckets?: number; bucketMs?: number };

class Traffic {
  readonly connRate: RateWindow;
  readonly bytesInRate: RateWindow;
  readonly bytesOutRate: RateWindow;
  readonly packetsInRate: RateWindow;
  readonly packetsOutRate: RateWindow;
  readonly requestRate: RateWindow;
  concurrent = 0;
  connections = 0;
  bytesIn = 0;
  bytesOut = 0;
  packetsIn = 0;
  packetsOut = 0;
  requests = 0;
  readonly responses: Record<StatusClass, number> = { '1xx': 0, '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0, other: 0 };
  responseMs: number | null = null;
  connectFailures = 0;

  constructor(w: WindowOpts) {
    this.connRate = new RateWindow(w);
    this.bytesInRate = new RateWindow(w);
    this.bytesOutRate = new RateWindow(w);
    this.packetsInRate = new RateWindow(w);
    this.packetsOutRate = new RateWindow(w);
    this.requestRate = new RateWindow(w);
  }

  snapshot(now: number): TrafficSnapshot {
    return {
      connectionsPerSec: this.connRate.rate(now),
      concurrentConnections: this.concurrent,
      totalConnections: this.connections,
      bytesInPerSec: this.bytesInRate.rate(now),
      bytesOutPerSec: this.bytesOutRate.rate(now),
      bytesInTotal: this.bytesIn,
      bytesOutTotal: this.bytesOut,
      packetsInPerSec: this.packetsInRate.rate(now),
      packetsOutPerSec: this.packetsOutRate.rate(now),
      packetsInTotal: this.packetsIn,
      packetsOutTotal: this.packetsOut,
      requestsPerSec: this.requestRate.rate(now),
      totalRequests: this.requests,
      responses: { ...this.responses },
      responseMsEwma: this.responseMs,
      connectFailures: this.connectFailures,
    };
  }
}

/** Handle for one backend; get it once from ServiceMetrics.backend() and keep it. */
export class BackendMetrics extends Traffic {
  readonly key: string;
  up = true;

  constructor(
    readonly pool: string,
    readonly name: string,
    w: WindowOpts,
  ) {
    super(w);
    this.key = `${pool}/${name}`;
  }
}

export type BackendRef = BackendMetrics | string;

function statusClass(status: number): StatusClass {
  if (status >= 100 && status < 200) return '1xx';
  if (status >= 200 && status < 300) return '2xx';
  if (status >= 300 && status < 400) return '3xx';
  if (status >= 400 && status < 500) return '4xx';
  if (status >= 500 && status < 600) return '5xx';
  return 'other';
}

export class ServiceMetrics {
  readonly name: string;
  private readonly total: Traffic;
  private readonly byKey = new Map<string, BackendMetrics>();
  private readonly windows: WindowOpts;
  private readonly alpha: number;
  private readonly rejections: Record<LimitReason, number> = { max_connections: 0, max_connections_per_client: 0, rate_limited: 0, max_flows: 0, evicted: 0 };
  private readonly rejectionRate: RateWindow;

  constructor(opts: ServiceMetricsOptions) {
    this.name = opts.service;
    this.windows = {
      ...(opts.buckets !== undefined ? { buckets: opts.buckets } : {}),
      ...(opts.bucketMs !== undefined ? { bucketMs: opts.bucketMs } : {}),
    };
    const alpha = opts.ewmaAlpha ?? 0.2;
    this.alpha = alpha > 0 && alpha <= 1 ? alpha : 0.2;
    this.total = new Traffic(this.windows);
    this.rejectionRate = new RateWindow(this.windows);
    for (const b of opts.backends ?? []) this.backend(b.pool, b.name);
  }

  /** The handle for a backend, created on first use. */
  backend(pool: string, name: string): BackendMetrics {
    const key = `${pool}/${name}`;
    let b = this.byKey.get(key);
    if (b === undefined) {
      b = new BackendMetrics(pool, name, this.windows);
      this.byKey.set(key, b);
    }
    return b;
  }

  /**
   * A backend removed by a config reload leaves the figures (and backendsTotal). Handles
   * held by its open connections keep working and still count in the service totals.
   */
  forget(pool: string, name: string): void {
    this.byKey.delete(`${pool}/${name}`);
  }

  connOpened(b: BackendRef, now: number): void {
    const m = this.resolve(b);
    m.concurrent++;
    m.connections++;
    this.total.concurrent++;
    this.total.connections++;
    m.connRate.add(1, now);
    this.total.connRate.add(1, now);
  }

  connClosed(b: BackendRef, _now: number): void {
    const m = this.resolve(b);
    // A close without an open (double end) must not eat another backend's count.
    if (m.concurrent === 0) return;
    m.concurrent--;
    if (this.total.concurrent > 0) this.total.concurrent--;
  }

  bytes(b: BackendRef, direction: Direction, n: number, now: number): void {
    const m = this.resolve(b);
    if (direction === 'to_backend') {
      m.bytesIn += n;
      this.total.bytesIn += n;
      m.bytesInRate.add(n, now);
      this.total.bytesInRate.add(n, now);
    } else {
      m.bytesOut += n;
      this.total.bytesOut += n;
      m.bytesOutRate.add(n, now);
      this.total.bytesOutRate.add(n, now);
    }
  }

  packets(b: BackendRef, direction: Direction, n: number, now: number): void {
    const m = this.resolve(b);
    if (direction === 'to_backend') {
      m.packetsIn += n;
      this.total.packetsIn += n;
      m.packetsInRate.add(n, now);
      this.total.packetsInRate.add(n, now);
    } else {
      m.packetsOut += n;
      this.total.packetsOut += n;
      m.packetsOutRate.add(n, now);
      this.total.packetsOutRate.add(n, now);
    }
  }

  /** One answered request: status class, rate, and a response-time sample. */
  request(b: BackendRef, status: number, ms: number, now: number): void {
    const m = this.resolve(b);
    const cls = statusClass(status);
    this.sample(m, cls, ms, now);
    this.sample(this.total, cls, ms, now);
  }

  connectFailed(b: BackendRef, _now: number): void {
    this.resolve(b).connectFailures++;
    this.total.connectFailures++;
  }

  rejected(reason: RejectReason, now: number): void {
    this.rejections[reason]++;
    this.rejectionRate.add(1, now);
  }

  /** A live UDP flow dropped to make room for a new one (max_flows); not in the rejection rate. */
  evicted(_now: number): void {
    this.rejections.evicted++;
  }

  setHealth(b: BackendRef, up: boolean): void {
    this.resolve(b).up = up;
  }

  snapshot(now: number): MetricsSnapshot {
    const backends: Record<string, BackendMetricsSnapshot> = {};
    let up = 0;
    for (const m of this.byKey.values()) {
      if (m.up) up++;
      backends[m.key] = { pool: m.pool, backend: m.name, up: m.up, ...m.snapshot(now) };
    }
    return {
      at: now,
      service: {
        name: this.name,
        ...this.total.snapshot(now),
        rejections: { ...this.rejections },
        rejectionsPerSec: this.rejectionRate.rate(now),
        backendsUp: up,
        backendsTotal: this.byKey.size,
      },
      backends,
    };
  }

  private sample(t: Traffic, cls: StatusClass, ms: number, now: number): void {
    t.requests++;
    t.responses[cls]++;
    t.requestRate.add(1, now);
    // A negative, NaN or infinite sample would poison the average forever.
    if (Number.isFinite(ms) && ms >= 0) t.responseMs = t.responseMs === null ? ms : t.responseMs + this.alpha * (ms - t.responseMs);
  }

  private resolve(b: BackendRef): BackendMetrics {
    if (typeof b !== 'string') return b;
    const known = this.byKey.get(b);
    if (known !== undefined) return known;
    const slash = b.indexOf('/');
    return slash < 0 ? this.backend('default', b) : this.backend(b.slice(0, slash), b.slice(slash + 1));
  }
}
