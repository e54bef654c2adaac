/**
 * Concurrent connections per client address, with a cap. An address is forgotten when
 * its count returns to zero, so memory follows the clients connected now, not every
 * client ever seen. A cap of 0 means unlimited and tracks nothing.
 */
export class ClientConnectionLimiter {
  private max: number;
  private readonly counts = new Map<string, number>();
  private rejected = 0;

  constructor(maxPerClient: number) {
    this.max = maxPerClient > 0 ? Math.floor(maxPerClient) : 0;
  }

  get maxPerClient(): number {
    return this.max;
  }

  /**
   * A config reload: the counts of open connections are kept, so a lower cap applies to
   * the next ones. From unlimited (nothing was tracked) the connections already open are
   * not counted; they release as no-ops.
   */
  setMax(maxPerClient: number): void {
    this.max = maxPerClient > 0 ? Math.floor(maxPerClient) : 0;
    if (this.max === 0) this.counts.clear();
  }

  /** Count one more connection from `ip`; false (and nothing counted) at the cap. */
  acquire(ip: string): boolean {
    if (this.max === 0) return true;
    const n = this.counts.get(ip) ?? 0;
    if (n >= this.max) {
      this.rejected++;
      return false;
    }
    this.counts.set(ip, n + 1);
    return true;
  }

  /** One connection from `ip` ended. Releasing an unknown address is a no-op, never negative. */
  release(ip: string): void {
    const n = this.counts.get(ip);
    if (n === undefined) return;
    if (n <= 1) this.counts.delete(ip);
    else this.counts.set(ip, n - 1);
  }

  count(ip: string): number {
    return this.counts.get(ip) ?? 0;
  }

  /** Addresses with at least one open connection. */
  get trackedClients(): number {
    return this.counts.size;
  }

  get rejections(): number {
    return this.rejected;
  }
}
