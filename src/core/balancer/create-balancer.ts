/**
 * The registry from algorithm name to factory. The mapped type makes a new name in
 * ALGORITHMS a compile error here until it has a factory.
 */
import { HaloError } from '../errors.js';
import { createBandwidth } from './algorithms/bandwidth.js';
import { createFastestResponse } from './algorithms/fastest-response.js';
import { createLeastConnections } from './algorithms/least-connections.js';
import { createRoundRobin } from './algorithms/round-robin.js';
import { createSourceHash } from './algorithms/source-hash.js';
import { createWeightedRoundRobin } from './algorithms/weighted-round-robin.js';
import type { AlgorithmName, BackendSpec, Balancer, BalancerFactory } from './balancer.js';

export const BALANCER_FACTORIES: { readonly [A in AlgorithmName]: BalancerFactory } = {
  round_robin: createRoundRobin,
  weighted_round_robin: createWeightedRoundRobin,
  least_connections: createLeastConnections,
  fastest_response: (backends) => createFastestResponse(backends),
  source_hash: createSourceHash,
  bandwidth: (backends) => createBandwidth(backends),
};

export function createBalancer(algorithm: AlgorithmName, backends: readonly BackendSpec[]): Balancer {
  // Object.hasOwn: a name such as "toString" from untyped input must not reach the prototype.
  if (!Object.hasOwn(BALANCER_FACTORIES, algorithm)) {
    throw new HaloError('HALO_ERR_CONFIG_INVALID', `unknown balancing algorithm ${JSON.stringify(algorithm)}`, { algorithm });
  }
  return BALANCER_FACTORIES[algorithm](backends);
}
