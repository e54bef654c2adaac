/**
 * Fastest response: prefers the backend that answers quickest, measured as an EWMA of
 * response (or connect) time samples.
 *
 * score = ewma * (active + 1) / weight, lowest wins, ties rotate.
 *
 * The EWMA alone would herd: under concurrency every new connection would go to the
 * one backend that was fastest a moment ago, making it slow. Multiplying by
 * (active + 1) spreads load the way least-connections does, tilted towards the faster
 * backends; dividing by the weight lets the operator tilt it further.
 *
 * Backends that have no usable sample are probed first so that every backend gets
 * measured: one pick each, after which they wait (for up to probeRetryMs) for the sample
 * to come back, scored meanwhile with the mean EWMA of the measured backends. Without
 * that wait, a burst of picks would all land on the unmeasured backend before its first
 * answer. A sample older than staleAfterMs is treated as missing, so a backend that was
 * slow once is measured again instead of being starved forever; one that returns from
 * down starts unmeasured too.
 */
import { HaloError } from '../../errors.js';
import type { BackendSpec, Balancer, PickContext } from '../balancer.js';
import { type BackendState, type ChangeKind, TableBalancer } from './backend-table.js';

export interface FastestResponseOptions {
  /** Weight of the newest sample in the EWMA, in (0, 1]. Default 0.3. */
  readonly alpha?: number;
  /** A sample older than this no longer counts as a measurement. Default 30 s. */
  readonly staleAfterMs?: number;
  /** How long a probe pick waits for its sample before the backend is probed again. Default 1 s. */
  readonly probeRetryMs?: number;
}

export interface FastestResponseBalancer extends Balancer {
  /** The current EWMA in ms, or undefined before the first sample. */
  ewma(name: string): number | undefined;
}

interface FrState extends BackendState {
  ewma: number | undefined;
  sampledAt: number;
  probedAt: number;
  /** Scratch values, recomputed at every pick. */
  probe: boolean;
  score: number;
}

class FastestResponse extends TableBalancer<FrState> implements FastestResponseBalancer {
  private readonly alpha: number;
  private readonly staleAfterMs: number;
  private readonly probeRetryMs: number;

  constructor(specs: readonly BackendSpec[], opts: FastestResponseOptions) {
    super('fastest_response', specs, (b) => ({
      ...b,
      ewma: undefined,
      sampledAt: -Infinity,
      probedAt: -Infinity,
      probe: false,
      score: 0,
    }));
    this.alpha = opts.alpha ?? 0.3;
    this.staleAfterMs = opts.staleAfterMs ?? 30_000;
    this.probeRetryMs = opts.probeRetryMs ?? 1_000;
    if (!(this.alpha > 0 && this.alpha <= 1)) {
      throw new HaloError('HALO_ERR_CONFIG_INVALID', `fastest_response alpha must be in (0, 1], got ${this.alpha}`);
    }
    if (!(this.staleAfterMs > 0) || !(this.probeRetryMs > 0)) {
      throw new HaloError('HALO_ERR_CONFIG_INVALID', 'fastest_response staleAfterMs and probeRetryMs must be positive');
    }
  }

  ewma(name: string): number | undefined {
    return this.get(name)?.ewma;
  }

  pick(ctx: PickContext, avoid?: ReadonlySet<string>): string | undefined {
    const now = ctx.now;
    let sum = 0;
    let measured = 0;
    for (const b of this.backends) {
      if (b.ewma !== undefined && this.isEligible(b, avoid)) {
        sum += b.ewma;
        measured += 1;
      }
    }
    // With nothing measured every estimate is the same constant and the score reduces
    // to least-connections, which is the sensible default.
    const fallback = measured > 0 ? sum / measured : 1;
    for (const b of this.backends) {
      const fresh = b.ewma !== undefined && now - b.sampledAt < this.staleAfterMs;
      b.probe = !fresh && now - b.probedAt >= this.probeRetryMs;
      b.score = ((b.ewma ?? fallback) * (b.active + 1)) / b.weight;
    }
    const chosen = this.pickRotating(avoid, (c, best) => (c.probe !== best.probe ? c.probe : c.score < best.score));
    if (chosen === undefined) return undefined;
    if (chosen.probe) chosen.probedAt = now;
    return chosen.name;
  }

  override onSample(name: string, ms: number, now: number): void {
    const b = this.get(name);
    if (b === undefined || !Number.isFinite(ms) || ms < 0 || !Number.isFinite(now)) return;
    const stale = b.ewma === undefined || now - b.sampledAt >= this.staleAfterMs;
    // An old average describes a backend that may since have restarted or recovered;
    // blending a fresh sample into it would hide the change.
    b.ewma = stale || b.ewma === undefined ? ms : this.alpha * ms + (1 - this.alpha) * b.ewma;
    b.sampledAt = now;
  }

  protected override changed(b: FrState, kind: ChangeKind): void {
    if (kind === 'up') {
      b.ewma = undefined;
      b.sampledAt = -Infinity;
      b.probedAt = -Infinity;
    }
  }
}

export function createFastestResponse(backends: readonly BackendSpec[], opts: FastestResponseOptions = {}): FastestResponseBalancer {
  return new FastestResponse(backends, opts);
}
