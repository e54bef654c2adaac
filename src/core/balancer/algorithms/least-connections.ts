/**
 * Weighted least connections: the backend with the smallest (active + 1) / weight.
 * The "+1" scores the connection about to be placed, so a weight-3 backend with 2
 * active (1.0) ties a weight-1 backend with none (1.0) rather than losing to it.
 * Ties rotate, so equal backends share evenly even when no connection events arrive.
 */
import type { BackendSpec, Balancer, PickContext } from '../balancer.js';
import { type BackendState, TableBalancer } from './backend-table.js';

class LeastConnections extends TableBalancer<BackendState> {
  constructor(specs: readonly BackendSpec[]) {
    super('least_connections', specs, (b) => b);
  }

  pick(_ctx: PickContext, avoid?: ReadonlySet<string>): string | undefined {
    // Cross-multiplied to compare the fractions exactly: float division would turn
    // some ties into near-misses and break the rotation.
    return this.pickRotating(avoid, (c, best) => (c.active + 1) * best.weight < (best.active + 1) * c.weight)?.name;
  }
}

export function createLeastConnections(backends: readonly BackendSpec[]): Balancer {
  return new LeastConnections(backends);
}
