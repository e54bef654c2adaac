import { describe, it, expect } from 'vitest';
import {
  ElectionStateMachine,
  type AdvertSender,
  type ElectionAction,
  type ElectionEvent,
  type ElectionOptions,
} from './state-machine.js';
import { FakeNet, startAll } from '../../../test/fakes/election-net.js';

// Time is a plain number (ms). Defaults: priority 100, interval 100 ms, 3 down adverts, so
// Skew_Time = 60.9375 and Master_Down_Interval = 360.9375.
const SKEW_100 = 60.9375;
const MDI_100 = 300 + SKEW_100;

const LB1: AdvertSender = { nodeId: 'lb1', address: '10.0.0.1' };
const LB9: AdvertSender = { nodeId: 'lb9', address: '10.0.0.9' };

function machine(over: Partial<ElectionOptions> = {}): ElectionStateMachine {
  return new ElectionStateMachine({ nodeId: 'me', address: '10.0.0.5', priority: 100, intervalMs: 100, ...over });
}

function advert(from: AdvertSender, priority: number, intervalMs = 100, synced = true): ElectionEvent {
  return { type: 'advert', from, priority, intervalMs, synced };
}

function types(actions: ElectionAction[]): string[] {
  return actions.map((a) => a.type);
}

function becomeOf(actions: ElectionAction[]): Extract<ElectionAction, { type: 'become' }> {
  const b = actions.find((a) => a.type === 'become');
  if (b?.type !== 'become') throw new Error(`no become in ${JSON.stringify(actions)}`);
  return b;
}

/** A started backup at t=0. */
function backup(over: Partial<ElectionOptions> = {}): ElectionStateMachine {
  const m = machine(over);
  m.step({ type: 'start' }, 0);
  return m;
}

/** A master that took over at MDI (no other node heard). */
function master(over: Partial<ElectionOptions> = {}): { m: ElectionStateMachine; t: number } {
  const m = backup(over);
  const t = m.nextDeadline() ?? Number.NaN;
  m.step({ type: 'timer' }, t);
  expect(m.state).toBe('MASTER');
  return { m, t };
}

describe('ElectionStateMachine: Initialize (RFC 5798 6.4.1)', () => {
  it('6.4.1: starts in INIT with no deadline, and start moves it to BACKUP with Master_Down_Timer', () => {
    const m = machine();
    expect(m.state).toBe('INIT');
    expect(m.nextDeadline()).toBeUndefined();
    const actions = m.step({ type: 'start' }, 1000);
    expect(actions).toEqual([{ type: 'become', from: 'INIT', state: 'BACKUP', cause: 'start', degraded: false }]);
    expect(m.nextDeadline()).toBe(1000 + MDI_100);
  });

  it('6.4.1: a second start is ignored', () => {
    const m = backup();
    expect(m.step({ type: 'start' }, 50)).toEqual([]);
    expect(m.nextDeadline()).toBe(MDI_100);
  });
});

describe('ElectionStateMachine: Backup (RFC 5798 6.4.2)', () => {
  it('6.4.2: takes over exactly at Master_Down_Interval (300 + 60.9375 ms) with advert, VIP and GARP', () => {
    const m = backup();
    expect(m.step({ type: 'timer' }, MDI_100 - 0.0001)).toEqual([]);
    expect(m.state).toBe('BACKUP');
    const actions = m.step({ type: 'timer' }, MDI_100);
    expect(types(actions)).toEqual(['become', 'send_advert', 'add_vip', 'garp']);
    expect(becomeOf(actions)).toEqual({
      type: 'become',
      from: 'BACKUP',
      state: 'MASTER',
      cause: 'master down: no advert for 360.9 ms',
      degraded: false,
    });
    expect(actions[1]).toEqual({ type: 'send_advert', priority: 100, synced: true });
    expect(m.nextDeadline()).toBe(MDI_100 + 100);
  });

  it('6.4.2: adverts with higher or equal priority keep a backup in BACKUP', () => {
    const m = backup();
    for (let t = 100; t <= 5000; t += 100) {
      const p = t % 200 === 0 ? 100 : 150;
      expect(m.step(advert(LB1, p), t)).toEqual([]);
      expect(m.nextDeadline()).toBe(t + MDI_100);
      expect(m.step({ type: 'timer' }, t + 50)).toEqual([]);
    }
    expect(m.state).toBe('BACKUP');
    expect(m.status().master).toMatchObject({ nodeId: 'lb1', at: 5000 });
  });

  it('6.4.2: when the adverts stop, takes over Master_Down_Interval after the last one and names it', () => {
    const m = backup();
    m.step(advert(LB1, 150), 200);
    const actions = m.step({ type: 'timer' }, 200 + MDI_100);
    expect(becomeOf(actions).cause).toBe('master down: no advert for 360.9 ms (last from lb1)');
  });

  it("6.4.2: adopts the master's advertised interval for Master_Down_Interval", () => {
    const m = backup();
    m.step(advert(LB1, 150, 1000), 10);
    expect(m.status().masterAdverIntervalMs).toBe(1000);
    expect(m.nextDeadline()).toBe(10 + 3000 + 609.375);
    m.step(advert(LB1, 150, 50), 20);
    expect(m.nextDeadline()).toBe(20 + 150 + 30.46875);
  });

  it('6.4.2: priority 0 from the master: takes over after Skew_Time only', () => {
    const m = backup();
    m.step(advert(LB1, 150), 100);
    expect(m.step(advert(LB1, 0), 150)).toEqual([]);
    expect(m.nextDeadline()).toBe(150 + SKEW_100);
    const actions = m.step({ type: 'timer' }, 150 + SKEW_100);
    expect(becomeOf(actions)).toMatchObject({ state: 'MASTER', cause: 'priority 0 from lb1', degraded: false });
    expect(types(actions)).toEqual(['become', 'send_advert', 'add_vip', 'garp']);
  });

  it('6.4.2: Skew_Time uses the master interval that was learned', () => {
    const m = backup();
    m.step(advert(LB1, 150, 1000), 0);
    m.step(advert(LB1, 0, 1000), 500);
    expect(m.nextDeadline()).toBe(500 + 609.375);
  });

  it('6.4.2: priority 0 never postpones a Master_Down_Timer that would fire sooner', () => {
    const m = backup();
    m.step(advert(LB1, 150), 0);
    m.step(advert(LB9, 0), MDI_100 - 10);
    expect(m.nextDeadline()).toBe(MDI_100);
  });

  it('6.4.2: a newer advert from a master cancels the Skew_Time takeover', () => {
    const m = backup();
    m.step(advert(LB1, 0), 10);
    m.step(advert(LB9, 200), 20);
    expect(m.nextDeadline()).toBe(20 + MDI_100);
  });

  it('6.4.2 preempt: discards lower-priority adverts and takes over when the timer runs out', () => {
    const m = backup({ priority: 150 });
    const mdi150 = 300 + 41.40625;
    for (let t = 100; t < mdi150; t += 100) expect(m.step(advert(LB1, 100), t)).toEqual([]);
    expect(m.nextDeadline()).toBe(mdi150);
    const actions = m.step({ type: 'timer' }, mdi150);
    expect(becomeOf(actions)).toMatchObject({ state: 'MASTER', cause: 'preempt: higher priority 150 > 100 of lb1' });
  });

  it('6.4.2 preempt: equal priority is not preempted, whatever the addresses', () => {
    const m = backup({ address: '10.0.0.200' });
    for (let t = 100; t <= 2000; t += 100) m.step(advert(LB1, 100), t);
    expect(m.nextDeadline()).toBe(2000 + MDI_100);
  });

  it('6.4.2 preempt_delay: follows a lower-priority master for the delay, then discards its adverts', () => {
    const m = backup({ priority: 150, preemptDelayMs: 1000 });
    const mdi150 = 300 + 41.40625;
    // First lower advert at 100: the delay runs until 1100; adverts before that are followed.
    for (let t = 100; t < 1100; t += 100) {
      m.step(advert(LB1, 100), t);
      expect(m.nextDeadline()).toBe(t + mdi150);
    }
    // From 1100 on they are discarded, so the timer set by the advert at 1000 runs out.
    for (let t = 1100; t < 1000 + mdi150; t += 100) {
      m.step(advert(LB1, 100), t);
      expect(m.nextDeadline()).toBe(1000 + mdi150);
    }
    const actions = m.step({ type: 'timer' }, 1000 + mdi150);
    expect(becomeOf(actions).cause).toBe('preempt: higher priority 150 > 100 of lb1');
  });

  it('6.4.2 preempt_delay: an advert from a master we do not preempt restarts the delay', () => {
    const m = backup({ priority: 150, preemptDelayMs: 500 });
    m.step(advert(LB1, 100), 100);
    m.step(advert(LB9, 200), 400);
    m.step(advert(LB1, 100), 700);
    m.step(advert(LB1, 100), 1100);
    // Delay counted from 700, so 1100 is still followed.
    expect(m.nextDeadline()).toBe(1100 + 341.40625);
  });

  it('6.4.2 nopreempt: a higher-priority backup follows a lower-priority master for good', () => {
    const m = backup({ priority: 200, preempt: false });
    for (let t = 100; t <= 10_000; t += 100) {
      m.step(advert(LB1, 50), t);
      m.step({ type: 'timer' }, t + 99);
    }
    expect(m.state).toBe('BACKUP');
  });

  it('6.4.2: our own looped-back adverts and invalid adverts are dropped and counted', () => {
    const m = backup();
    m.step(advert({ nodeId: 'me', address: '10.0.0.5' }, 100), 10);
    m.step(advert(LB1, 256), 20);
    m.step(advert(LB1, 1.5), 20);
    m.step(advert(LB1, 150, 0), 30);
    m.step(advert(LB1, 150, Number.NaN), 30);
    m.step(advert({ nodeId: 'x', address: '10.0.0.256' }, 150), 40);
    m.step(advert({ nodeId: 'x', address: '10.00.0.1' }, 150), 40);
    m.step(advert({ nodeId: '', address: '10.0.0.1' }, 150), 40);
    m.step({ type: 'advert', from: null, priority: 150, intervalMs: 100, synced: true } as unknown as ElectionEvent, 50);
    m.step({ type: 'bogus' } as unknown as ElectionEvent, 60);
    expect(m.status().dropped).toEqual({ own: 1, invalid: 9 });
    expect(m.nextDeadline()).toBe(MDI_100);
  });
});

describe('ElectionStateMachine: Master (RFC 5798 6.4.3)', () => {
  it('6.4.3: sends an advert every interval when the Adver_Timer fires', () => {
    const { m, t } = master();
    for (let i = 1; i <= 20; i++) {
      expect(m.step({ type: 'timer' }, t + i * 100 - 1)).toEqual([]);
      expect(m.step({ type: 'timer' }, t + i * 100)).toEqual([{ type: 'send_advert', priority: 100, synced: true }]);
      expect(m.nextDeadline()).toBe(t + (i + 1) * 100);
    }
  });

  it('6.4.3: a late timer sends one advert, not a burst', () => {
    const { m, t } = master();
    expect(m.step({ type: 'timer' }, t + 1000)).toHaveLength(1);
    expect(m.nextDeadline()).toBe(t + 1100);
  });

  it('6.4.3: steps down for a higher priority advert (saying so with priority 0), drops the VIP, follows it', () => {
    const { m, t } = master();
    const actions = m.step(advert(LB1, 150, 200), t + 30);
    expect(actions).toEqual([
      { type: 'become', from: 'MASTER', state: 'BACKUP', cause: 'higher priority 150 > 100 from lb1', degraded: false },
      { type: 'send_advert', priority: 0, synced: true },
      { type: 'remove_vip' },
    ]);
    expect(m.nextDeadline()).toBe(t + 30 + 600 + 121.875);
    expect(m.status().master?.nodeId).toBe('lb1');
  });

  it('6.4.3: at equal priority steps down for the higher address', () => {
    const { m, t } = master();
    const actions = m.step(advert(LB9, 100), t + 1);
    expect(becomeOf(actions)).toMatchObject({
      state: 'BACKUP',
      cause: 'equal priority 100, higher address 10.0.0.9 > 10.0.0.5 from lb9',
    });
    expect(types(actions)).toEqual(['become', 'send_advert', 'remove_vip']);
  });

  it('6.4.3: addresses compare as numbers, not strings', () => {
    const { m, t } = master({ address: '10.0.0.9' });
    expect(m.step(advert({ nodeId: 'z', address: '10.0.0.10' }, 100), t + 1)[0]).toMatchObject({ state: 'BACKUP' });
  });

  it('6.4.3: at equal priority and a lower address, stays master and re-announces', () => {
    const { m, t } = master();
    const actions = m.step(advert(LB1, 100), t + 1);
    expect(types(actions)).toEqual(['send_advert', 'garp']);
    expect(m.state).toBe('MASTER');
  });

  it('6.4.3 + split-brain healing (halo): hearing a lower-priority master re-sends advert and GARP at once', () => {
    const { m, t } = master();
    const actions = m.step(advert(LB9, 50), t + 42);
    expect(actions).toEqual([
      { type: 'send_advert', priority: 100, synced: true },
      { type: 'garp', reason: 'outranked master lb9 (priority 50) heard' },
    ]);
    expect(m.state).toBe('MASTER');
    // The re-announce resets the Adver_Timer (no double advert).
    expect(m.nextDeadline()).toBe(t + 42 + 100);
  });

  it('6.4.3: priority 0 from another master: send an advert and reset the Adver_Timer', () => {
    const { m, t } = master();
    const actions = m.step(advert(LB9, 0), t + 10);
    expect(types(actions)).toEqual(['send_advert', 'garp']);
    expect(m.state).toBe('MASTER');
    expect(m.nextDeadline()).toBe(t + 110);
  });

  it('6.4.3 shutdown: the master sends priority 0, removes the VIP and goes to INIT', () => {
    const { m, t } = master();
    const actions = m.step({ type: 'shutdown' }, t + 5);
    expect(actions).toEqual([
      { type: 'become', from: 'MASTER', state: 'INIT', cause: 'shutdown', degraded: false },
      { type: 'send_advert', priority: 0, synced: true },
      { type: 'remove_vip' },
    ]);
    expect(m.nextDeadline()).toBeUndefined();
    expect(m.step({ type: 'timer' }, t + 1000)).toEqual([]);
    expect(m.step({ type: 'shutdown' }, t + 1000)).toEqual([]);
  });

  it('6.4.2 shutdown: a backup sends nothing and cancels its timer; it can start again', () => {
    const m = backup();
    expect(m.step({ type: 'shutdown' }, 10)).toEqual([
      { type: 'become', from: 'BACKUP', state: 'INIT', cause: 'shutdown', degraded: false },
    ]);
    expect(m.nextDeadline()).toBeUndefined();
    m.step({ type: 'start' }, 20);
    expect(m.nextDeadline()).toBe(20 + MDI_100);
  });
});

describe('ElectionStateMachine: FAULT (tracking, halo/keepalived extension of 6.4)', () => {
  it('6.4.3 + FAULT (keepalived, not in the RFC): a faulted master sends priority 0 and drops the VIP; FAULT ignores adverts and has no deadline', () => {
    const { m, t } = master();
    const actions = m.step({ type: 'fault', reason: 'eth0 down' }, t + 1);
    expect(actions).toEqual([
      { type: 'become', from: 'MASTER', state: 'FAULT', cause: 'fault: eth0 down', degraded: false },
      { type: 'send_advert', priority: 0, synced: true },
      { type: 'remove_vip' },
    ]);
    expect(m.nextDeadline()).toBeUndefined();
    expect(m.step(advert(LB1, 50), t + 2)).toEqual([]);
    expect(m.step({ type: 'timer' }, t + 10_000)).toEqual([]);
    expect(m.step({ type: 'fault', reason: 'again' }, t + 3)).toEqual([]);
    expect(m.status().faultReason).toBe('again');
  });

  it('6.4.2 + FAULT (keepalived): a faulted backup sends nothing; recover returns to BACKUP with a fresh Master_Down_Timer (6.4.1)', () => {
    const m = backup();
    m.step(advert(LB1, 150, 1000), 10);
    expect(types(m.step({ type: 'fault', reason: 'no healthy backend' }, 20))).toEqual(['become']);
    const actions = m.step({ type: 'recover' }, 5000);
    expect(actions).toEqual([
      { type: 'become', from: 'FAULT', state: 'BACKUP', cause: 'recovered from fault: no healthy backend', degraded: false },
    ]);
    // The interval learned before the fault is forgotten.
    expect(m.nextDeadline()).toBe(5000 + MDI_100);
    expect(m.step({ type: 'recover' }, 5001)).toEqual([]);
  });

  it('6.4.1 + FAULT (keepalived): a fault reported before start makes start go to FAULT', () => {
    const m = machine();
    expect(m.step({ type: 'fault', reason: 'eth0 down' }, 0)).toEqual([]);
    expect(becomeOf(m.step({ type: 'start' }, 1))).toMatchObject({ state: 'FAULT', cause: 'fault: eth0 down' });
    expect(becomeOf(m.step({ type: 'recover' }, 2)).state).toBe('BACKUP');
  });

  it('6.4 + FAULT (keepalived): shutdown from FAULT goes to INIT', () => {
    const m = backup();
    m.step({ type: 'fault', reason: 'x' }, 1);
    expect(becomeOf(m.step({ type: 'shutdown' }, 2))).toMatchObject({ from: 'FAULT', state: 'INIT' });
  });
});

describe('ElectionStateMachine: not synced (issue 4)', () => {
  it('6.4.2 preempt + not synced (halo, issue 4): an unsynced higher-priority backup does not preempt a live lower-priority master', () => {
    const m = backup({ priority: 200, synced: false });
    for (let t = 100; t <= 10_000; t += 100) {
      m.step(advert(LB1, 100), t);
      expect(m.step({ type: 'timer' }, t + 99)).toEqual([]);
    }
    expect(m.state).toBe('BACKUP');
  });

  it('6.4.2: an unsynced backup still takes over a dead master, marked degraded', () => {
    const m = backup({ synced: false });
    m.step(advert(LB1, 150), 100);
    const actions = m.step({ type: 'timer' }, 100 + MDI_100);
    expect(becomeOf(actions)).toEqual({
      type: 'become',
      from: 'BACKUP',
      state: 'MASTER',
      cause: 'master down: no advert for 360.9 ms (last from lb1); tables not synced',
      degraded: true,
    });
    expect(actions[1]).toEqual({ type: 'send_advert', priority: 100, synced: false });
  });

  it('6.4.2 preempt + not synced (halo, issue 4): once synced, it preempts', () => {
    const m = backup({ priority: 200, synced: false });
    m.step(advert(LB1, 100), 100);
    m.step({ type: 'synced', synced: true }, 150);
    m.step(advert(LB1, 100), 200);
    m.step(advert(LB1, 100), 300);
    // The advert at 100 was the last one followed.
    const deadline = 100 + 300 + ((256 - 200) * 100) / 256;
    expect(m.nextDeadline()).toBe(deadline);
    expect(becomeOf(m.step({ type: 'timer' }, deadline))).toMatchObject({ state: 'MASTER', degraded: false });
  });

  it('6.4.2 preempt + not synced (halo, issue 4): losing sync while waiting to preempt follows the live master again instead of taking over', () => {
    const m = backup({ priority: 200 });
    m.step(advert(LB1, 100), 100);
    m.step(advert(LB1, 100), 200);
    expect(m.nextDeadline()).toBe(MDI_200());
    m.step({ type: 'synced', synced: false }, 250);
    // Rebased on the last advert heard from the live master.
    expect(m.nextDeadline()).toBe(200 + MDI_200());
    expect(m.step({ type: 'timer' }, MDI_200())).toEqual([]);
  });

  it('not in the RFC (halo input checks): invalid synced events are dropped and counted', () => {
    const m = backup();
    m.step({ type: 'synced', synced: 'yes' } as unknown as ElectionEvent, 1);
    expect(m.synced).toBe(true);
    expect(m.status().dropped.invalid).toBe(1);
  });
});

function MDI_200(): number {
  return 300 + ((256 - 200) * 100) / 256;
}

describe('ElectionStateMachine: effective priority (tracking weights)', () => {
  it('6.4.3 + tracking weights (keepalived): a master whose priority changes advertises the new one at once and resets the Adver_Timer', () => {
    const { m, t } = master();
    expect(m.step({ type: 'priority', priority: 80 }, t + 30)).toEqual([{ type: 'send_advert', priority: 80, synced: true }]);
    expect(m.nextDeadline()).toBe(t + 130);
    expect(m.step({ type: 'priority', priority: 80 }, t + 40)).toEqual([]);
    expect(m.status()).toMatchObject({ priority: 80, configuredPriority: 100 });
  });

  it('6.4.3 + tracking weights (keepalived): a master with lowered priority steps down when a higher advert comes', () => {
    const { m, t } = master();
    m.step({ type: 'priority', priority: 80 }, t + 1);
    expect(becomeOf(m.step(advert(LB1, 90), t + 2)).cause).toBe('higher priority 90 > 80 from lb1');
  });

  it('6.1: a backup priority change re-times Master_Down_Timer with the new Skew_Time', () => {
    const m = backup();
    m.step(advert(LB1, 250), 100);
    m.step({ type: 'priority', priority: 200 }, 150);
    expect(m.nextDeadline()).toBe(100 + MDI_200());
  });

  it('6.4.2 preempt + tracking weights (keepalived): a backup whose priority drops below the master it was preempting follows that master again', () => {
    const m = backup({ priority: 200 });
    m.step(advert(LB1, 150), 100);
    m.step({ type: 'priority', priority: 120 }, 150);
    expect(m.nextDeadline()).toBe(100 + 300 + ((256 - 120) * 100) / 256);
  });

  it('6.4.2 preempt + tracking weights (keepalived): a backup whose priority rises above the master preempts it', () => {
    const m = backup();
    m.step(advert(LB1, 150), 100);
    m.step({ type: 'priority', priority: 200 }, 150);
    m.step(advert(LB1, 150), 200);
    expect(m.nextDeadline()).toBe(100 + MDI_200());
    expect(becomeOf(m.step({ type: 'timer' }, 100 + MDI_200())).cause).toBe('preempt: higher priority 200 > 150 of lb1');
  });

  it('6.1 priority range + tracking weights (keepalived): clamps to 1..254 and drops non-integers', () => {
    const m = backup();
    m.step({ type: 'priority', priority: 400 }, 1);
    expect(m.priority).toBe(254);
    m.step({ type: 'priority', priority: -30 }, 2);
    expect(m.priority).toBe(1);
    m.step({ type: 'priority', priority: 7.5 }, 3);
    m.step({ type: 'priority', priority: Number.NaN }, 3);
    expect(m.priority).toBe(1);
    expect(m.status().dropped.invalid).toBe(2);
  });

  it('6.4.1 + tracking weights (keepalived): a priority change while INIT or FAULT is kept for later', () => {
    const m = machine();
    expect(m.step({ type: 'priority', priority: 30 }, 0)).toEqual([]);
    m.step({ type: 'start' }, 0);
    expect(m.nextDeadline()).toBe(300 + ((256 - 30) * 100) / 256);
  });
});

describe('ElectionStateMachine: inputs', () => {
  it('6.1 ranges (halo input checks): rejects bad options', () => {
    const bad: Partial<ElectionOptions>[] = [
      { priority: 0 },
      { priority: 255 },
      { priority: 99.5 },
      { intervalMs: 0 },
      { intervalMs: Number.NaN },
      { address: '10.0.0' },
      { address: 'lb1' },
      { nodeId: '' },
      { downAdverts: 0 },
      { preemptDelayMs: -1 },
      { preemptDelayMs: Number.POSITIVE_INFINITY },
    ];
    for (const b of bad) expect(() => machine(b), JSON.stringify(b)).toThrow(RangeError);
  });

  it('not in the RFC (halo input checks): time that runs backwards never moves a deadline back', () => {
    const m = backup();
    m.step(advert(LB1, 150), 1000);
    m.step(advert(LB1, 150), 500);
    expect(m.nextDeadline()).toBe(1000 + MDI_100);
  });

  it('not in the RFC (halo input checks): throws on a non-finite now (a driver bug, not network input)', () => {
    expect(() => machine().step({ type: 'start' }, Number.NaN)).toThrow(RangeError);
  });
});


describe('ElectionStateMachine: several nodes on a fake network', () => {
  it('6.4.2/6.4.3: the higher priority becomes master and alone holds the VIP', () => {
    const net = new FakeNet([
      { nodeId: 'lb1', address: '10.0.0.1', priority: 150 },
      { nodeId: 'lb2', address: '10.0.0.2', priority: 100 },
    ]);
    startAll(net);
    net.runUntil(5000);
    expect(net.masters()).toEqual(['lb1']);
    expect(net.vips()).toEqual(['lb1']);
  });

  it('6.4.3: two nodes with equal priority converge on the higher address', () => {
    const net = new FakeNet([
      { nodeId: 'lb1', address: '10.0.0.1', priority: 100 },
      { nodeId: 'lb2', address: '10.0.0.2', priority: 100 },
    ]);
    startAll(net);
    net.runUntil(MDI_100);
    expect(net.masters()).toEqual(['lb1', 'lb2']);
    net.runUntil(MDI_100 + 2);
    expect(net.masters()).toEqual(['lb2']);
    expect(net.vips()).toEqual(['lb2']);
  });

  it('6.4.2: shutdown (priority 0) hands over in Skew_Time, a crash in Master_Down_Interval', () => {
    for (const how of ['shutdown', 'kill'] as const) {
      const net = new FakeNet([
        { nodeId: 'lb1', address: '10.0.0.1', priority: 150 },
        { nodeId: 'lb2', address: '10.0.0.2', priority: 100 },
      ]);
      startAll(net);
      net.runUntil(2000);
      // lb1's last advert went out at 341.40625 + 16 x 100, heard at +1 ms.
      const lastHeard = 300 + 41.40625 + 1600 + 1;
      if (how === 'shutdown') net.deliver('lb1', { type: 'shutdown' });
      else net.kill('lb1');
      net.runUntil(3000);
      expect(net.masters()).toEqual(['lb2']);
      const line = net.log.find((l) => l.includes('lb2 BACKUP->MASTER'));
      const at = Number(line?.split(' ')[0]);
      expect(at).toBe(how === 'shutdown' ? 2001 + SKEW_100 : lastHeard + MDI_100);
    }
  });

  it('6.4.2: with three nodes, killing the master elects the highest remaining priority', () => {
    const net = new FakeNet([
      { nodeId: 'lb1', address: '10.0.0.1', priority: 150 },
      { nodeId: 'lb2', address: '10.0.0.2', priority: 100 },
      { nodeId: 'lb3', address: '10.0.0.3', priority: 50 },
    ]);
    startAll(net);
    net.runUntil(1000);
    net.kill('lb1');
    net.runUntil(3000);
    expect(net.masters()).toEqual(['lb2']);
    expect(net.log.some((l) => l.includes('lb3 BACKUP->MASTER'))).toBe(false);
  });

  it('6.4.2 preempt: the old master returns and takes the VIP back; with nopreempt it stays backup', () => {
    for (const preempt of [true, false]) {
      const net = new FakeNet([
        { nodeId: 'lb1', address: '10.0.0.1', priority: 150, preempt },
        { nodeId: 'lb2', address: '10.0.0.2', priority: 100 },
      ]);
      net.deliver('lb2', { type: 'start' });
      net.runUntil(1000);
      expect(net.masters()).toEqual(['lb2']);
      net.deliver('lb1', { type: 'start' });
      net.runUntil(3000);
      expect(net.masters()).toEqual([preempt ? 'lb1' : 'lb2']);
      expect(net.vips()).toEqual([preempt ? 'lb1' : 'lb2']);
    }
  });

  it('6.4.3 split-brain healing (halo, design.md 3): split brain: after a partition heals exactly one master remains within one interval, and it re-sent GARP', () => {
    // Both orders matter: if the loser's advert arrives first, the winner hears a lower-priority
    // master (6.4.3 re-announce); if the winner's arrives first, the loser steps down and only
    // its priority 0 advert tells the winner to re-announce.
    for (const firstAfterHeal of ['lb2', 'lb1']) {
      const net = new FakeNet([
        { nodeId: 'lb1', address: '10.0.0.1', priority: 150 },
        { nodeId: 'lb2', address: '10.0.0.2', priority: 100 },
      ]);
      startAll(net);
      net.runUntil(1000);
      net.cut('lb1', 'lb2');
      net.runUntil(3000);
      expect(net.masters()).toEqual(['lb1', 'lb2']);
      // Heal just after the *other* node's advert was lost, so `firstAfterHeal` sends next.
      const other = net.nodes.get(firstAfterHeal === 'lb1' ? 'lb2' : 'lb1')?.m.nextDeadline() ?? Number.NaN;
      net.runUntil(other + 0.5);
      net.heal();
      const healedAt = net.now;
      net.runUntil(healedAt + 100 + 3);
      expect(net.masters(), firstAfterHeal).toEqual(['lb1']);
      expect(net.vips(), firstAfterHeal).toEqual(['lb1']);
      const winnerGarps = net.garps.filter((g) => Number(g.split(' ')[0]) > healedAt && g.split(' ')[1] === 'lb1');
      expect(winnerGarps.length, firstAfterHeal).toBeGreaterThan(0);
    }
  });
});

describe('ElectionStateMachine: data plane not ready (halo)', () => {
  it('6.4.2 preempt + not ready (halo): a higher-priority backup whose services have no healthy backend does not preempt a live master', () => {
    const m = backup({ priority: 200 });
    m.step({ type: 'ready', ready: false, reason: 'service web has no healthy backend' }, 50);
    for (let t = 100; t <= 5_000; t += 100) {
      m.step(advert(LB1, 100), t);
      expect(m.step({ type: 'timer' }, t + 99)).toEqual([]);
    }
    expect(m.state).toBe('BACKUP');
    expect(m.status().notReady).toBe('service web has no healthy backend');
  });

  it('6.4.2 preempt + ready again (halo): it preempts once its data plane can serve', () => {
    const m = backup({ priority: 200 });
    m.step({ type: 'ready', ready: false, reason: 'service web has no healthy backend' }, 50);
    m.step(advert(LB1, 100), 100);
    m.step({ type: 'ready', ready: true }, 150);
    m.step(advert(LB1, 100), 200);
    const deadline = 100 + 300 + ((256 - 200) * 100) / 256;
    expect(m.nextDeadline()).toBe(deadline);
    expect(becomeOf(m.step({ type: 'timer' }, deadline))).toMatchObject({ state: 'MASTER', degraded: false, cause: 'preempt: higher priority 200 > 100 of lb1' });
  });

  it('6.4.2 (halo): a backup that is not ready still takes over a dead master, marked degraded with the reason', () => {
    const m = backup();
    m.step({ type: 'ready', ready: false, reason: 'service web has no healthy backend' }, 50);
    m.step(advert(LB1, 150), 100);
    expect(becomeOf(m.step({ type: 'timer' }, 100 + MDI_100))).toMatchObject({
      state: 'MASTER',
      degraded: true,
      cause: 'master down: no advert for 360.9 ms (last from lb1); data plane not ready: service web has no healthy backend',
    });
  });

  it('not in the RFC (halo input checks): an invalid ready event is dropped and counted', () => {
    const m = backup();
    m.step({ type: 'ready', ready: 'yes' } as unknown as ElectionEvent, 1);
    expect(m.status().dropped.invalid).toBe(1);
    expect(m.status().notReady).toBeUndefined();
  });
});
