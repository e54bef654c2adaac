/**
 * Least bandwidth: the backend moving the fewest bytes per second over a sliding
 * window, divided by its weight; ties rotate. Each backend keeps a ring of fixed time
 * buckets (default 10 x 1 s) fed by onBytes; a bucket whose slot comes round again is
 * reset, so bytes older than the window stop counting without any timer.
 *
 * Known limit: the rate moves only when bytes are reported, so a burst of new
 * connections within one bucket all see the same rates; ties among them rotate, but a
 * backend that is already lowest takes the whole burst.
 */
import { HaloError } from '../../errors.js';
import type { BackendSpec, Balancer, PickContext } from '../balancer.js';
import { type BackendState, TableBalancer } from './backend-table.js';

export interface BandwidthOptions {
  /** Sliding window length. Default 10 s. */
  readonly windowMs?: number;
  /** Bucket length; the window is rounded to a whole number of buckets. Default 1 s. */
  readonly bucketMs?: number;
}

export interface BandwidthBalancer extends Balancer {
  /** Bytes per second over the window ending at `now`, or undefined for an unknown name. */
  rate(name: string, now: number): number | undefined;
}

interface BwState extends BackendState {
  /** Bytes per bucket slot. */
  bytes: Float64Array;
  /** Absolute bucket number each slot currently holds (floor(now / bucketMs)). */
  epochs: Float64Array;
  /** Scratch: weighted rate, recomputed at every pick. */
  score: number;
}

class Bandwidth extends TableBalancer<BwState> implements BandwidthBalancer {
  private readonly bucketMs: number;
  private readonly slots: number;

  constructor(specs: readonly BackendSpec[], opts: BandwidthOptions) {
    const bucketMs = opts.bucketMs ?? 1_000;
    const windowMs = opts.windowMs ?? 10_000;
    if (!(bucketMs > 0) || !(windowMs >= bucketMs) || !Number.isFinite(windowMs)) {
      throw new HaloError('HALO_ERR_CONFIG_INVALID', `bandwidth window (${windowMs} ms) must be finite and at least one bucket (${bucketMs} ms)`);
    }
    const slots = Math.round(windowMs / bucketMs);
    super('bandwidth', specs, (b) => ({
      ...b,
      bytes: new Float64Array(slots),
      epochs: new Float64Array(slots).fill(-Infinity),
      score: 0,
    }));
    this.bucketMs = bucketMs;
    this.slots = slots;
  }

  rate(name: string, now: number): number | undefined {
    const b = this.get(name);
    return b === undefined ? undefined : this.windowBytes(b, now) / ((this.slots * this.bucketMs) / 1000);
  }

  pick(ctx: PickContext, avoid?: ReadonlySet<string>): string | undefined {
    for (const b of this.backends) {
      if (this.isEligible(b, avoid)) b.score = this.windowBytes(b, ctx.now) / b.weight;
    }
    return this.pickRotating(avoid, (c, best) => c.score < best.score)?.name;
  }

  override onBytes(name: string, bytes: number, now: number): void {
    const b = this.get(name);
    if (b === undefined || !Number.isFinite(bytes) || bytes <= 0 || !Number.isFinite(now)) return;
    const epoch = Math.floor(now / this.bucketMs);
    const slot = ((epoch % this.slots) + this.slots) % this.slots;
    const held = b.epochs[slot] ?? -Infinity;
    // Time is monotonic; a report older than what the slot holds is out of the window
    // anyway, so it is dropped rather than mixed into a newer bucket.
    if (held > epoch) return;
    if (held < epoch) {
      b.epochs[slot] = epoch;
      b.bytes[slot] = 0;
    }
    b.bytes[slot] = (b.bytes[slot] ?? 0) + bytes;
  }

  private windowBytes(b: BwState, now: number): number {
    const current = Math.floor(now / this.bucketMs);
    let sum = 0;
    for (let i = 0; i < this.slots; i++) {
      const e = b.epochs[i] ?? -Infinity;
      if (e <= current && e > current - this.slots) sum += b.bytes[i] ?? 0;
    }
    return sum;
  }
}

export function createBandwidth(backends: readonly BackendSpec[], opts: BandwidthOptions = {}): BandwidthBalancer {
  return new Bandwidth(backends, opts);
}
