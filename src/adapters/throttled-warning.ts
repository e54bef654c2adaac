import type { LogFields, Logger } from './logger.js';

/**
 * A warning for events that can come in floods (dropped datagrams, refused clients):
 * every occurrence is counted, but at most one line per interval is logged, carrying
 * how many happened since the previous line. The first occurrence logs at once.
 */
export class ThrottledWarning {
  private pending = 0;
  private lastAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly logger: Logger,
    private readonly event: string,
    private readonly intervalMs = 10_000,
  ) {}

  hit(now: number, fields?: LogFields): void {
    this.pending++;
    if (now - this.lastAt < this.intervalMs) return;
    this.logger.warn(this.event, { ...fields, count: this.pending, interval_ms: this.intervalMs });
    this.pending = 0;
    this.lastAt = now;
  }
}
