import { describe, it, expect } from 'vitest';
import { Tracker, type TrackEvent } from './tracking.js';
import { ElectionStateMachine } from './state-machine.js';

describe('Tracker: keepalived weights', () => {
  it('weight -20: priority 100 drops to 80 while the object fails, and back to 100', () => {
    const t = new Tracker(100, [{ kind: 'script', name: 'chk', weight: -20 }]);
    expect(t.initialEvents()).toEqual([]);
    expect(t.effectivePriority()).toBe(100);
    expect(t.set('script', 'chk', false, 'exit 1')).toEqual([{ type: 'priority', priority: 80 }]);
    expect(t.effectivePriority()).toBe(80);
    expect(t.faults()).toEqual([]);
    expect(t.set('script', 'chk', true, 'exit 0')).toEqual([{ type: 'priority', priority: 100 }]);
  });

  it('weight +10: priority 100 is 110 while the object is OK, 100 while it fails', () => {
    const t = new Tracker(100, [{ kind: 'script', name: 'chk', weight: 10 }]);
    // A fresh state machine runs at 100: the bonus must be announced before start.
    expect(t.initialEvents()).toEqual([{ type: 'priority', priority: 110 }]);
    expect(t.initialEvents()).toEqual([]);
    expect(t.effectivePriority()).toBe(110);
    expect(t.set('script', 'chk', false, 'exit 1')).toEqual([{ type: 'priority', priority: 100 }]);
    expect(t.set('script', 'chk', true, 'exit 0')).toEqual([{ type: 'priority', priority: 110 }]);
  });

  it('keepalived track_interface example: eth1 +2 if up, eth2 -2 if down, eth3 fault if down', () => {
    const t = new Tracker(100, [
      { kind: 'interface', name: 'eth1', weight: 2 },
      { kind: 'interface', name: 'eth2', weight: -2 },
      { kind: 'interface', name: 'eth3', weight: 0 },
    ]);
    expect(t.initialEvents()).toEqual([{ type: 'priority', priority: 102 }]);
    expect(t.set('interface', 'eth2', false, 'carrier lost')).toEqual([{ type: 'priority', priority: 100 }]);
    expect(t.set('interface', 'eth1', false, 'carrier lost')).toEqual([{ type: 'priority', priority: 98 }]);
    expect(t.set('interface', 'eth3', false, 'carrier lost')).toEqual([{ type: 'fault', reason: 'interface eth3 down (carrier lost)' }]);
    expect(t.effectivePriority()).toBe(98);
  });

  it('two weight-0 failures, then one recovers: still FAULT, and the reason names the one left', () => {
    const t = new Tracker(100, [
      { kind: 'interface', name: 'eth0', weight: 0 },
      { kind: 'liveness', name: 'data-plane', weight: 0 },
    ]);
    expect(t.set('interface', 'eth0', false, 'carrier lost')).toEqual([{ type: 'fault', reason: 'interface eth0 down (carrier lost)' }]);
    expect(t.set('liveness', 'data-plane', false, 'data plane stalled for 2300 ms')).toEqual([
      { type: 'fault', reason: 'interface eth0 down (carrier lost); data plane stalled for 2300 ms' },
    ]);
    expect(t.faults()).toEqual(['interface eth0 down (carrier lost)', 'data plane stalled for 2300 ms']);

    const events = t.set('interface', 'eth0', true, 'carrier back');
    expect(events.some((e) => e.type === 'recover')).toBe(false);
    expect(events).toEqual([{ type: 'fault', reason: 'data plane stalled for 2300 ms' }]);
    expect(t.faults()).toEqual(['data plane stalled for 2300 ms']);

    expect(t.set('liveness', 'data-plane', true, 'ticking again')).toEqual([{ type: 'recover' }]);
    expect(t.faults()).toEqual([]);
    // Weight-0 objects never move the priority.
    expect(t.effectivePriority()).toBe(100);
  });

  it('clamps at 1: priority 100 with -60 and -80 failing is 1, not -40', () => {
    const t = new Tracker(100, [
      { kind: 'script', name: 'a', weight: -60 },
      { kind: 'service', name: 'web', weight: -80 },
    ]);
    expect(t.set('script', 'a', false, 'exit 1')).toEqual([{ type: 'priority', priority: 40 }]);
    expect(t.set('service', 'web', false, 'no healthy backend')).toEqual([{ type: 'priority', priority: 1 }]);
    expect(t.effectivePriority()).toBe(1);
    // The clamp applies to the sum, not step by step: with -80 alone it is 100 - 80 = 20.
    expect(t.set('script', 'a', true, 'exit 0')).toEqual([{ type: 'priority', priority: 20 }]);
  });

  it('clamps at 254: priority 250 with +10 OK is 254, and a change inside the clamp says nothing', () => {
    const t = new Tracker(250, [
      { kind: 'script', name: 'a', weight: 10 },
      { kind: 'script', name: 'b', weight: 3 },
    ]);
    expect(t.initialEvents()).toEqual([{ type: 'priority', priority: 254 }]);
    // 250 + 10 = 260 -> still 254 without b: no event.
    expect(t.set('script', 'b', false, 'exit 1')).toEqual([]);
    expect(t.effectivePriority()).toBe(254);
    expect(t.set('script', 'a', false, 'exit 1')).toEqual([{ type: 'priority', priority: 250 }]);
  });

  it('a driver that skips initialEvents() still gets the start bonus from its first report', () => {
    const t = new Tracker(100, [
      { kind: 'interface', name: 'eth0', weight: 0 },
      { kind: 'service', name: 'web', weight: 10 },
    ]);
    // Reporting eth0 up at start changes no state, but the +10 was never told.
    expect(t.set('interface', 'eth0', true, 'link up')).toEqual([{ type: 'priority', priority: 110 }]);
    expect(t.set('interface', 'eth0', true, 'link up')).toEqual([]);
    expect(t.initialEvents()).toEqual([]);
  });

  it('negative weight OK and positive weight failing contribute nothing', () => {
    const t = new Tracker(100, [
      { kind: 'script', name: 'neg', weight: -5, ok: true },
      { kind: 'script', name: 'pos', weight: 5, ok: false, cause: 'exit 2' },
    ]);
    expect(t.initialEvents()).toEqual([]);
    expect(t.effectivePriority()).toBe(100);
  });
});

describe('Tracker: reports', () => {
  it('a repeated report is silent and keeps the original cause', () => {
    const t = new Tracker(100, [{ kind: 'interface', name: 'eth0', weight: 0 }]);
    expect(t.set('interface', 'eth0', false, 'carrier lost')).toHaveLength(1);
    expect(t.set('interface', 'eth0', false, 'still no carrier')).toEqual([]);
    expect(t.faults()).toEqual(['interface eth0 down (carrier lost)']);
    expect(t.set('interface', 'eth0', true, 'up')).toEqual([{ type: 'recover' }]);
    expect(t.set('interface', 'eth0', true, 'up')).toEqual([]);
  });

  it('an untracked object changes nothing; has() tells which are tracked', () => {
    const t = new Tracker(100, [{ kind: 'service', name: 'web', weight: -10 }]);
    expect(t.set('service', 'dns', false, 'no healthy backend')).toEqual([]);
    expect(t.set('interface', 'web', false, 'same name, other kind')).toEqual([]);
    expect(t.has('service', 'web')).toBe(true);
    expect(t.has('service', 'dns')).toBe(false);
    expect(t.effectivePriority()).toBe(100);
  });

  it('interfaces start as told: one down at start gives a fault before start', () => {
    const t = new Tracker(100, [
      { kind: 'interface', name: 'eth0', weight: 0, ok: false, cause: 'no carrier at start' },
      { kind: 'interface', name: 'eth1', weight: -30, ok: false },
    ]);
    expect(t.initialEvents()).toEqual([
      { type: 'priority', priority: 70 },
      { type: 'fault', reason: 'interface eth0 down (no carrier at start)' },
    ]);
    expect(t.faults()).toEqual(['interface eth0 down (no carrier at start)']);
  });

  it('reasons name the object and the cause for every kind', () => {
    const t = new Tracker(100, [
      { kind: 'interface', name: 'eth0', weight: 0 },
      { kind: 'service', name: 'web', weight: 0 },
      { kind: 'script', name: 'chk_haproxy', weight: 0 },
      { kind: 'liveness', name: 'data-plane', weight: 0 },
    ]);
    t.set('interface', 'eth0', false, '');
    t.set('service', 'web', false, 'all 3 backends down');
    t.set('script', 'chk_haproxy', false, 'timed out after 1000 ms');
    t.set('liveness', 'data-plane', false, '');
    expect(t.faults()).toEqual([
      'interface eth0 down',
      'service web has no healthy backend (all 3 backends down)',
      'track script chk_haproxy failed (timed out after 1000 ms)',
      'data-plane not alive',
    ]);
  });

  it('status() lists every object with its state, cause and effect', () => {
    const t = new Tracker(100, [
      { kind: 'interface', name: 'eth0', weight: 0 },
      { kind: 'script', name: 'chk', weight: -20 },
      { kind: 'service', name: 'web', weight: 5 },
    ]);
    t.set('script', 'chk', false, 'exit 1');
    expect(t.status()).toEqual({
      configuredPriority: 100,
      effectivePriority: 85,
      faults: [],
      objects: [
        { kind: 'interface', name: 'eth0', weight: 0, ok: true, cause: '', contribution: 0, faulting: false },
        { kind: 'script', name: 'chk', weight: -20, ok: false, cause: 'exit 1', contribution: -20, faulting: false },
        { kind: 'service', name: 'web', weight: 5, ok: true, cause: '', contribution: 5, faulting: false },
      ],
    });
  });

  it('rejects bad construction: priority, weight, duplicate, liveness with a weight', () => {
    expect(() => new Tracker(0, [])).toThrow(RangeError);
    expect(() => new Tracker(255, [])).toThrow(RangeError);
    expect(() => new Tracker(100, [{ kind: 'script', name: 'a', weight: 255 }])).toThrow(/weight/);
    expect(() => new Tracker(100, [{ kind: 'script', name: 'a', weight: 1.5 }])).toThrow(/weight/);
    expect(() => new Tracker(100, [{ kind: 'script', name: '', weight: 1 }])).toThrow(/name/);
    expect(() =>
      new Tracker(100, [
        { kind: 'script', name: 'a', weight: 1 },
        { kind: 'script', name: 'a', weight: 2 },
      ]),
    ).toThrow(/twice/);
    expect(() => new Tracker(100, [{ kind: 'liveness', name: 'dp', weight: -10 }])).toThrow(/weight 0/);
    // Same name, different kinds: two objects.
    expect(() =>
      new Tracker(100, [
        { kind: 'script', name: 'a', weight: 1 },
        { kind: 'service', name: 'a', weight: 2 },
      ]),
    ).not.toThrow();
  });
});

describe('Tracker driving the state machine', () => {
  const opts = { nodeId: 'lb1', address: '10.0.0.1', priority: 100, intervalMs: 100 };
  function feed(sm: ElectionStateMachine, events: TrackEvent[], now: number): string[] {
    return events.flatMap((e) => sm.step(e, now)).filter((a) => a.type === 'become').map((a) => (a.type === 'become' ? a.state : ''));
  }

  it('FAULT holds until the last weight-0 object recovers, and BACKUP resumes at the tracked priority', () => {
    const sm = new ElectionStateMachine(opts);
    const t = new Tracker(100, [
      { kind: 'interface', name: 'eth0', weight: 0 },
      { kind: 'liveness', name: 'data-plane', weight: 0 },
      { kind: 'script', name: 'chk', weight: -20 },
    ]);
    feed(sm, t.initialEvents(), 0);
    sm.step({ type: 'start' }, 0);
    expect(sm.state).toBe('BACKUP');
    expect(feed(sm, t.set('interface', 'eth0', false, 'carrier lost'), 10)).toEqual(['FAULT']);
    expect(feed(sm, t.set('liveness', 'data-plane', false, 'data plane stalled for 2300 ms'), 20)).toEqual([]);
    expect(feed(sm, t.set('script', 'chk', false, 'exit 1'), 25)).toEqual([]);
    expect(feed(sm, t.set('interface', 'eth0', true, 'carrier back'), 30)).toEqual([]);
    expect(sm.state).toBe('FAULT');
    expect(sm.status().faultReason).toBe('data plane stalled for 2300 ms');
    expect(feed(sm, t.set('liveness', 'data-plane', true, 'ticking'), 40)).toEqual(['BACKUP']);
    expect(sm.priority).toBe(80);
  });

  it('a fault known before start puts the node straight in FAULT', () => {
    const sm = new ElectionStateMachine(opts);
    const t = new Tracker(100, [{ kind: 'interface', name: 'eth0', weight: 0, ok: false, cause: 'no carrier' }]);
    feed(sm, t.initialEvents(), 0);
    const actions = sm.step({ type: 'start' }, 0);
    expect(actions[0]).toMatchObject({ type: 'become', state: 'FAULT', cause: 'fault: interface eth0 down (no carrier)' });
  });
});
