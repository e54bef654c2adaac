import { ALGORITHMS, type AlgorithmName } from '../../src/core/balancer/balancer.js';
import { type ContractOptions, clientIp, runBalancerContract } from './balancer-contract.js';

const OPTIONS: { readonly [A in AlgorithmName]: ContractOptions } = {
  round_robin: { skip: { 'honours weights': 'plain rotation ignores weights by design (use weighted_round_robin)' } },
  weighted_round_robin: {},
  least_connections: {},
  fastest_response: {},
  // Distinct client addresses exercise the hash ring; without a key it only rotates.
  source_hash: { key: clientIp },
  bandwidth: {},
};

for (const algorithm of ALGORITHMS) runBalancerContract(algorithm, OPTIONS[algorithm]);

// The keyless path of source_hash (rotation) is a separate code path; it runs the contract too.
runBalancerContract('source_hash', {
  skip: { 'honours weights': 'without a key source_hash falls back to plain rotation, which ignores weights' },
});
