/**
 * Requests per second per client address: a token bucket per client, refilled at
 * `ratePerSecond`, holding at most `burst` tokens (default: one second's worth).
 *
 * Memory stays bounded two ways. A bucket idle long enough to be full again is
 * indistinguishable from a new one, so dropping it loses nothing: prune(now) does that.
 * And at most `maxClients` buckets are kept; beyond that the least recently used goes.
 * Buckets are kept in use order (re-inserted on each request), so both prune and
 * eviction only ever look at the front of the map.
 */
export interface RateLimiterOptions {
  /** 0 = unlimited (nothing tracked). */
  readonly ratePerSecond: number;
  /** Default: ratePerSecond. */
  readonly burst?: number;
  /** Default 100_000. */
  readonly maxClients?: number;
}

interface Bucket {
  tokens: number;
  last: number;
}

export class RateLimiter {
  readonly ratePerSecond: number;
  readonly burst: number;
  readonly maxClients: number;
  /** Idle time after which any bucket is full again. */
  private readonly refillMs: number;
  private readonly buckets = new Map<string, Bucket>();
  private rejected = 0;
  private evicted = 0;

  constructor(opts: RateLimiterOptions) {
    this.ratePerSecond = opts.ratePerSecond > 0 ? opts.ratePerSecond : 0;
    this.burst = Math.max(1, opts.burst ?? this.ratePerSecond);
    this.maxClients = Math.max(1, opts.maxClients ?? 100_000);
    this.refillMs = this.ratePerSecond > 0 ? (this.burst / this.ratePerSecond) * 1000 : 0;
  }

  /** Take one token for `ip`; false when its bucket is empty. */
  allow(ip: string, now: number): boolean {
    if (this.ratePerSecond === 0) return true;
    let bucket = this.buckets.get(ip);
    if (bucket === undefined) {
      if (this.buckets.size >= this.maxClients) this.evictOldest(now);
      bucket = { tokens: this.burst, last: now };
    } else {
      // Move to the back: the map stays in least-recently-used order.
      this.buckets.delete(ip);
      // A clock that steps back refills nothing rather than draining the bucket.
      const elapsed = now > bucket.last ? now - bucket.last : 0;
      bucket.tokens = Math.min(this.burst, bucket.tokens + (elapsed * this.ratePerSecond) / 1000);
      bucket.last = now > bucket.last ? now : bucket.last;
    }
    this.buckets.set(ip, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return true;
    }
    this.rejected++;
    return false;
  }

  /** Forget buckets that are full again (idle >= burst / rate). Returns how many went. */
  prune(now: number): number {
    let removed = 0;
    for (const [ip, bucket] of this.buckets) {
      if (now - bucket.last < this.refillMs) break; // the rest were used more recently
      this.buckets.delete(ip);
      removed++;
    }
    return removed;
  }

  get trackedClients(): number {
    return this.buckets.size;
  }

  get rejections(): number {
    return this.rejected;
  }

  /** Buckets dropped at the maxClients cap while still refilling (their clients got a fresh burst). */
  get evictions(): number {
    return this.evicted;
  }

  private evictOldest(now: number): void {
    if (this.prune(now) > 0) return;
    const oldest = this.buckets.keys().next();
    if (oldest.done === true) return;
    this.buckets.delete(oldest.value);
    this.evicted++;
  }
}
