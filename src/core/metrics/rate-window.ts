/**
 * Events per second over a sliding window of fixed buckets (default 10 x 1 s). The
 * rate covers the older full buckets plus the elapsed part of the current one, so a
 * steady stream reads steady mid-bucket instead of sawing each second. Fixed memory,
 * no allocation per add.
 */
export class RateWindow {
  readonly bucketMs: number;
  private readonly counts: Float64Array;
  /** Absolute index (floor(now / bucketMs)) of the current bucket. */
  private current = 0;
  private started = false;

  constructor(opts: { buckets?: number; bucketMs?: number } = {}) {
    const buckets = Math.max(2, Math.floor(opts.buckets ?? 10));
    this.bucketMs = Math.max(1, opts.bucketMs ?? 1000);
    this.counts = new Float64Array(buckets);
  }

  add(n: number, now: number): void {
    this.advance(now);
    const i = this.slot(this.current);
    this.counts[i] = (this.counts[i] ?? 0) + n;
  }

  /** Per second, over the window ending at `now`. */
  rate(now: number): number {
    this.advance(now);
    const n = this.counts.length;
    let sum = 0;
    for (let i = 0; i < n; i++) sum += this.counts[i] ?? 0;
    if (sum === 0) return 0;
    const intoCurrent = Math.max(0, now - this.current * this.bucketMs);
    const spanMs = (n - 1) * this.bucketMs + Math.min(intoCurrent, this.bucketMs);
    return (sum * 1000) / spanMs;
  }

  private advance(now: number): void {
    const index = Math.floor(now / this.bucketMs);
    if (!this.started) {
      this.started = true;
      this.current = index;
      return;
    }
    // Time that steps back keeps counting into the current bucket.
    if (index <= this.current) return;
    const n = this.counts.length;
    if (index - this.current >= n) {
      this.counts.fill(0);
    } else {
      for (let b = this.current + 1; b <= index; b++) this.counts[this.slot(b)] = 0;
    }
    this.current = index;
  }

  private slot(index: number): number {
    const n = this.counts.length;
    return ((index % n) + n) % n;
  }
}
