import { describe, expect, it } from 'vitest';
import { isHaloError } from '../errors.js';
import { ALGORITHMS, type AlgorithmName } from './balancer.js';
import { BALANCER_FACTORIES, createBalancer } from './create-balancer.js';

describe('createBalancer', () => {
  it('has a factory for every algorithm and nothing else', () => {
    expect(Object.keys(BALANCER_FACTORIES).sort()).toEqual([...ALGORITHMS].sort());
  });

  it.each(ALGORITHMS)('creates a working %s balancer', (algorithm) => {
    const b = createBalancer(algorithm, [{ name: 'a', weight: 1 }]);
    expect(b.algorithm).toBe(algorithm);
    expect(b.pick({ now: 0, key: '10.0.0.1' })).toBe('a');
  });

  it('refuses an unknown name from untyped input with a config error', () => {
    for (const name of ['random', 'toString', '__proto__']) {
      let caught: unknown;
      try {
        createBalancer(name as AlgorithmName, []);
      } catch (err) {
        caught = err;
      }
      expect(isHaloError(caught) && caught.code === 'HALO_ERR_CONFIG_INVALID').toBe(true);
    }
  });
});
