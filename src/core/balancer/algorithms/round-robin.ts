/**
 * Plain rotation among eligible backends. Weights only matter as "0 = drained"; use
 * weighted_round_robin for proportional shares.
 */
import type { BackendSpec, Balancer, PickContext } from '../balancer.js';
import { type BackendState, TableBalancer } from './backend-table.js';

class RoundRobin extends TableBalancer<BackendState> {
  constructor(specs: readonly BackendSpec[]) {
    super('round_robin', specs, (b) => b);
  }

  pick(_ctx: PickContext, avoid?: ReadonlySet<string>): string | undefined {
    return this.pickRotating(avoid)?.name;
  }
}

export function createRoundRobin(backends: readonly BackendSpec[]): Balancer {
  return new RoundRobin(backends);
}
