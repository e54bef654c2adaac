/**
 * Admission for one service: max_connections, max_connections_per_client and the request
 * rate per client. A config reload changes the limits in place: the connections already
 * open stay counted, so a lower cap applies to the next ones.
 */
import type { LimitsConfig } from '../../config/schema.js';
import { ClientConnectionLimiter } from '../limits/client-connections.js';
import { RateLimiter } from '../limits/rate-limiter.js';
import type { ServiceMetrics } from '../metrics/service-metrics.js';
import type { Admission, RejectReason } from './dispatcher-types.js';

const OK: Admission = Object.freeze({ ok: true });

export class ServiceAdmission {
  private open = 0;
  private maxConnections: number;
  private readonly perClient: ClientConnectionLimiter;
  private rate: RateLimiter | undefined;

  constructor(
    limits: LimitsConfig,
    private readonly metrics: ServiceMetrics,
  ) {
    this.maxConnections = limits.max_connections;
    this.perClient = new ClientConnectionLimiter(limits.max_connections_per_client);
    this.rate = newRateLimiter(limits);
  }

  connection(clientIp: string, now: number): Admission {
    if (this.maxConnections > 0 && this.open >= this.maxConnections) return this.rejected('max_connections', now);
    if (!this.perClient.acquire(clientIp)) return this.rejected('max_connections_per_client', now);
    this.open++;
    return OK;
  }

  release(clientIp: string): void {
    this.perClient.release(clientIp);
    if (this.open > 0) this.open--;
  }

  request(clientIp: string, now: number): Admission {
    if (this.rate && !this.rate.allow(clientIp, now)) return this.rejected('rate_limited', now);
    return OK;
  }

  prune(now: number): void {
    this.rate?.prune(now);
  }

  /** A reload. A new request rate starts every client with a full bucket. */
  reconfigure(limits: LimitsConfig): void {
    this.maxConnections = limits.max_connections;
    this.perClient.setMax(limits.max_connections_per_client);
    if (limits.requests_per_second_per_client !== (this.rate?.ratePerSecond ?? 0)) this.rate = newRateLimiter(limits);
  }

  private rejected(reason: RejectReason, now: number): Admission {
    this.metrics.rejected(reason, now);
    return { ok: false, reason };
  }
}

function newRateLimiter(limits: LimitsConfig): RateLimiter | undefined {
  const rps = limits.requests_per_second_per_client;
  return rps > 0 ? new RateLimiter({ ratePerSecond: rps }) : undefined;
}
