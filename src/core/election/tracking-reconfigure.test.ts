import { describe, expect, it } from 'vitest';
import { Tracker } from './tracking.js';

describe('Tracker.reconfigure: a config reload changes priority and weights, keeps object states', () => {
  it('a new configured priority comes out as one priority event, failing objects still counted', () => {
    const t = new Tracker(100, [{ kind: 'script', name: 'chk', weight: -20 }]);
    t.set('script', 'chk', false, 'exit 1');
    expect(t.reconfigure(150, [])).toEqual([{ type: 'priority', priority: 130 }]);
    expect(t.configuredPriority).toBe(150);
    expect(t.status()).toMatchObject({ configuredPriority: 150, effectivePriority: 130 });
    expect(t.set('script', 'chk', true, 'exit 0')).toEqual([{ type: 'priority', priority: 150 }]);
  });

  it('new weights for tracked objects apply to their current state', () => {
    const t = new Tracker(100, [
      { kind: 'script', name: 'chk', weight: -20 },
      { kind: 'interface', name: 'eth1', weight: 5 },
    ]);
    t.initialEvents();
    t.set('script', 'chk', false, 'exit 1');
    expect(t.effectivePriority()).toBe(85);
    expect(t.reconfigure(100, [{ kind: 'script', name: 'chk', weight: -50 }, { kind: 'interface', name: 'eth1', weight: 5 }])).toEqual([{ type: 'priority', priority: 55 }]);
  });

  it('a weight that becomes 0 on a failing object is a fault, and one that leaves 0 recovers', () => {
    const t = new Tracker(100, [{ kind: 'service', name: 'web', weight: -10 }]);
    t.set('service', 'web', false, 'no healthy backend');
    expect(t.reconfigure(100, [{ kind: 'service', name: 'web', weight: 0 }])).toEqual([
      { type: 'priority', priority: 100 },
      { type: 'fault', reason: 'service web has no healthy backend (no healthy backend)' },
    ]);
    expect(t.reconfigure(100, [{ kind: 'service', name: 'web', weight: -10 }])).toEqual([{ type: 'priority', priority: 90 }, { type: 'recover' }]);
  });

  it('nothing the election sees changed: no events', () => {
    const t = new Tracker(100, [{ kind: 'script', name: 'chk', weight: -20 }]);
    expect(t.reconfigure(100, [{ kind: 'script', name: 'chk', weight: -30 }])).toEqual([]);
  });

  it('an object not tracked, a weight out of range or a weighted liveness is refused, and nothing changes', () => {
    const t = new Tracker(100, [
      { kind: 'script', name: 'chk', weight: -20 },
      { kind: 'liveness', name: 'data-plane', weight: 0 },
    ]);
    t.set('script', 'chk', false, 'exit 1');
    expect(() => t.reconfigure(120, [{ kind: 'script', name: 'other', weight: -5 }])).toThrow(/script other is not tracked/);
    expect(() => t.reconfigure(120, [{ kind: 'script', name: 'chk', weight: 300 }])).toThrow(/weight of script chk/);
    expect(() => t.reconfigure(120, [{ kind: 'liveness', name: 'data-plane', weight: -5 }])).toThrow(/liveness data-plane must have weight 0/);
    expect(() => t.reconfigure(0, [])).toThrow(/priority must be an integer/);
    expect(t.status()).toMatchObject({ configuredPriority: 100, effectivePriority: 80 });
  });
});
