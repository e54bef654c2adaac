import { describe, expect, it } from 'vitest';
import { FAULT_KINDS, HOLD_MAX_MS, HOLD_MIN_MS, planFaults } from './fault-plan.js';

describe('chaos fault plan', () => {
  it('is a function of the seed: the same seed gives the same plan, a replay from cycle K is the tail of it', () => {
    const plan = planFaults(1127, 3, 100);
    expect(planFaults(1127, 3, 100)).toEqual(plan);
    expect(planFaults(1127, 3, 60).slice(40)).toEqual(plan.slice(40, 60));
    expect(planFaults(1128, 3, 100)).not.toEqual(plan);
  });

  it('draws every fault kind and every node over 100 cycles, holds within their bounds', () => {
    const plan = planFaults(7, 3, 100);
    expect(new Set(plan.map((p) => p.kind))).toEqual(new Set(FAULT_KINDS));
    expect(new Set(plan.map((p) => p.node))).toEqual(new Set([0, 1, 2]));
    for (const p of plan) {
      expect(p.holdMs).toBeGreaterThanOrEqual(HOLD_MIN_MS);
      expect(p.holdMs).toBeLessThanOrEqual(HOLD_MAX_MS);
    }
    expect(plan.map((p) => p.cycle)).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  it('refuses a plan it cannot make', () => {
    expect(() => planFaults(1, 1, 10)).toThrow(/nodes/);
    expect(() => planFaults(1, 3, -1)).toThrow(/cycles/);
  });
});
