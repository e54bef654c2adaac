/**
 * Smooth weighted round robin (the nginx scheme): every pick adds each eligible
 * backend's weight to its running score, takes the highest score and subtracts the
 * total weight from it. Shares are exact over each cycle of sum(weights) picks and
 * the heavy backend is interleaved with the others instead of taking its share in a
 * burst: weights 5,1,1 give a a b a c a a, not a a a a a b c.
 */
import type { BackendSpec, Balancer, PickContext } from '../balancer.js';
import { type BackendState, TableBalancer } from './backend-table.js';

interface WrrState extends BackendState {
  current: number;
}

class WeightedRoundRobin extends TableBalancer<WrrState> {
  constructor(specs: readonly BackendSpec[]) {
    super('weighted_round_robin', specs, (b) => ({ ...b, current: 0 }));
  }

  pick(_ctx: PickContext, avoid?: ReadonlySet<string>): string | undefined {
    let total = 0;
    let best: WrrState | undefined;
    for (const b of this.backends) {
      if (!this.isEligible(b, avoid)) continue;
      b.current += b.weight;
      total += b.weight;
      // Strictly greater: equal scores go to the earlier backend, which keeps the
      // sequence deterministic across nodes with the same config.
      if (best === undefined || b.current > best.current) best = b;
    }
    if (best === undefined) return undefined;
    best.current -= total;
    return best.name;
  }

  protected override changed(): void {
    // Scores of a set that just changed describe a cycle that no longer exists; starting
    // a fresh cycle keeps them bounded and the interleaving clean.
    for (const b of this.backends) b.current = 0;
  }
}

export function createWeightedRoundRobin(backends: readonly BackendSpec[]): Balancer {
  return new WeightedRoundRobin(backends);
}
