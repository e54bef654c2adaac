/**
 * Planned handover (`halo failover`), the hold after it, and live reconfiguration from a
 * config reload: the operator's events of the election state machine.
 */
import { describe, expect, it } from 'vitest';
import { ElectionStateMachine, type AdvertSender, type ElectionAction, type ElectionEvent, type ElectionOptions } from './state-machine.js';
import { HOLD_PRIORITY } from './election-types.js';
import { masterDownInterval, skewTime } from './timers.js';

const LB1: AdvertSender = { nodeId: 'lb1', address: '10.0.0.1' };
const LB9: AdvertSender = { nodeId: 'lb9', address: '10.0.0.9' };
const HOLD_MS = 60_000;

function machine(over: Partial<ElectionOptions> = {}): ElectionStateMachine {
  return new ElectionStateMachine({ nodeId: 'me', address: '10.0.0.5', priority: 100, intervalMs: 100, ...over });
}

function advert(from: AdvertSender, priority: number): ElectionEvent {
  return { type: 'advert', from, priority, intervalMs: 100, synced: true };
}

function becomeOf(actions: ElectionAction[]): Extract<ElectionAction, { type: 'become' }> | undefined {
  const b = actions.find((a) => a.type === 'become');
  return b?.type === 'become' ? b : undefined;
}

function master(over: Partial<ElectionOptions> = {}): { m: ElectionStateMachine; t: number } {
  const m = machine(over);
  m.step({ type: 'start' }, 0);
  const t = m.nextDeadline() ?? Number.NaN;
  m.step({ type: 'timer' }, t);
  expect(m.state).toBe('MASTER');
  return { m, t };
}

/** Adverts from `from` every 100 ms from t0 until the machine's state changes or `until`; the time of the change. */
function advertsUntilChange(m: ElectionStateMachine, from: AdvertSender, priority: number, t0: number, until: number): number | undefined {
  const state = m.state;
  for (let t = t0; t <= until; t += 10) {
    if ((t - t0) % 100 === 0) m.step(advert(from, priority), t);
    const due = m.nextDeadline();
    if (due !== undefined && due <= t) m.step({ type: 'timer' }, t);
    if (m.state !== state) return t;
  }
  return undefined;
}

describe('handover: a master steps down on purpose (RFC 5798 6.4.3 Shutdown, to Backup)', () => {
  it('sends priority 0, becomes BACKUP and keeps the VIP until its successor is heard (remove_vip with handover)', () => {
    const { m, t } = master();
    const actions = m.step({ type: 'handover', holdMs: HOLD_MS, cause: 'operator: halo failover' }, t + 5);
    expect(actions).toEqual([
      { type: 'become', from: 'MASTER', state: 'BACKUP', cause: 'handover: operator: halo failover', degraded: false },
      { type: 'send_advert', priority: 0, synced: true },
      { type: 'remove_vip', handover: true },
    ]);
    expect(m.status()).toMatchObject({ state: 'BACKUP', priority: HOLD_PRIORITY, configuredPriority: 100, hold: { until: t + 5 + HOLD_MS, cause: 'operator: halo failover' } });
  });

  it('is ignored unless MASTER: a backup or a node in INIT has nothing to hand over', () => {
    const m = machine();
    expect(m.step({ type: 'handover', holdMs: HOLD_MS, cause: 'x' }, 0)).toEqual([]);
    m.step({ type: 'start' }, 0);
    expect(m.step({ type: 'handover', holdMs: HOLD_MS, cause: 'x' }, 10)).toEqual([]);
    expect(m.status()).toMatchObject({ state: 'BACKUP', priority: 100, hold: undefined });
  });

  it('a hold that is not a finite number >= 0 is counted invalid and changes nothing', () => {
    const { m, t } = master();
    for (const holdMs of [-1, Number.NaN, Number.POSITIVE_INFINITY, '60000' as unknown as number]) {
      expect(m.step({ type: 'handover', holdMs, cause: 'x' }, t)).toEqual([]);
    }
    expect(m.status()).toMatchObject({ state: 'MASTER', dropped: { invalid: 4 } });
  });

  it('6.4.2: the backup hearing the priority 0 waits Skew_Time only; the held node then follows it', () => {
    const a = master({ priority: 150 });
    const b = machine({ nodeId: 'lb9', address: '10.0.0.9', priority: 100 });
    b.step({ type: 'start' }, 0);
    b.step(advert({ nodeId: 'me', address: '10.0.0.5' }, 150), a.t);
    const at = a.t + 10;
    const out = a.m.step({ type: 'handover', holdMs: HOLD_MS, cause: 'maintenance' }, at);
    const zero = out.find((x) => x.type === 'send_advert');
    expect(zero).toEqual({ type: 'send_advert', priority: 0, synced: true });
    b.step(advert({ nodeId: 'me', address: '10.0.0.5' }, 0), at);
    expect(b.nextDeadline()).toBeCloseTo(at + skewTime(100, 100), 6);
    const takeover = b.step({ type: 'timer' }, at + skewTime(100, 100));
    expect(becomeOf(takeover)).toMatchObject({ state: 'MASTER', cause: 'priority 0 from me' });
    // The new master's advert: the held node (priority 1) follows it rather than contest it.
    expect(a.m.step(advert(LB9, 100), at + 70)).toEqual([]);
    expect(a.m.status()).toMatchObject({ state: 'BACKUP', master: { nodeId: 'lb9', priority: 100 } });
  });
});

describe('hold: out of preemption after a handover', () => {
  it('a held node never preempts a live lower-priority master; the same node unheld does at once', () => {
    const held = master();
    held.m.step({ type: 'handover', holdMs: HOLD_MS, cause: 'maintenance' }, held.t);
    expect(advertsUntilChange(held.m, LB1, 50, held.t + 10, held.t + 5000)).toBeUndefined();
    expect(held.m.state).toBe('BACKUP');

    const unheld = master();
    unheld.m.step({ type: 'handover', holdMs: 0, cause: 'no hold' }, unheld.t);
    expect(unheld.m.status().hold).toBeUndefined();
    expect(advertsUntilChange(unheld.m, LB1, 50, unheld.t + 10, unheld.t + 5000)).toBeDefined();
    expect(unheld.m.state).toBe('MASTER');
  });

  it('is the last resort: with every other node silent it takes over after its own (longest) Master_Down_Interval, advertising priority 1', () => {
    const { m, t } = master();
    m.step({ type: 'handover', holdMs: HOLD_MS, cause: 'maintenance' }, t);
    expect(m.nextDeadline()).toBeCloseTo(t + masterDownInterval(HOLD_PRIORITY, 100), 6);
    const out = m.step({ type: 'timer' }, t + masterDownInterval(HOLD_PRIORITY, 100));
    expect(becomeOf(out)?.cause).toMatch(/^master down: .*; held out \(maintenance\): priority 1, last resort$/);
    expect(out).toContainEqual({ type: 'send_advert', priority: HOLD_PRIORITY, synced: true });
    // 6.4.3: any live node outranks a held master, which steps down for it.
    const down = m.step(advert(LB1, 50), t + 1000);
    expect(becomeOf(down)).toMatchObject({ state: 'BACKUP', cause: 'higher priority 50 > 1 from lb1' });
  });

  it('release: the hold ends (a note for the log) and the next advert of the lower master is preempted, the cause naming the release', () => {
    const { m, t } = master();
    m.step({ type: 'handover', holdMs: HOLD_MS, cause: 'maintenance' }, t);
    m.step(advert(LB1, 50), t + 50);
    const out = m.step({ type: 'release', cause: 'released by the operator (halo failover --release)' }, t + 60);
    expect(out).toEqual([{ type: 'note', event: 'hold_released', cause: 'released by the operator (halo failover --release)' }]);
    expect(m.status()).toMatchObject({ priority: 100, hold: undefined });
    const changed = advertsUntilChange(m, LB1, 50, t + 150, t + 2000);
    expect(changed).toBeDefined();
    expect(m.state).toBe('MASTER');
    expect(m.step({ type: 'release', cause: 'again' }, t + 3000)).toEqual([]);
  });

  it('the takeover after a release names it', () => {
    const { m, t } = master();
    m.step({ type: 'handover', holdMs: HOLD_MS, cause: 'maintenance' }, t);
    m.step(advert(LB1, 50), t + 50);
    m.step({ type: 'release', cause: 'released by the operator' }, t + 60);
    m.step(advert(LB1, 50), t + 150);
    const due = m.nextDeadline() ?? Number.NaN;
    const out = m.step({ type: 'timer' }, due);
    expect(becomeOf(out)?.cause).toBe('preempt: higher priority 100 > 50 of lb1 (released by the operator)');
  });

  it('expires by itself: the deadline includes the hold end, and the timer there releases it', () => {
    const { m, t } = master();
    m.step({ type: 'handover', holdMs: 1000, cause: 'maintenance' }, t);
    let now = t;
    for (let i = 0; i < 9; i++) {
      now += 100;
      m.step(advert(LB1, 50), now);
    }
    expect(m.nextDeadline()).toBe(t + 1000);
    expect(m.step({ type: 'timer' }, t + 999)).toEqual([]);
    expect(m.step({ type: 'timer' }, t + 1000)).toEqual([{ type: 'note', event: 'hold_released', cause: 'hold expired (maintenance)' }]);
    expect(advertsUntilChange(m, LB1, 50, t + 1000, t + 3000)).toBeDefined();
    expect(m.state).toBe('MASTER');
  });

  it('a last-resort master released advertises its real priority at once', () => {
    const { m, t } = master();
    m.step({ type: 'handover', holdMs: HOLD_MS, cause: 'maintenance' }, t);
    m.step({ type: 'timer' }, t + masterDownInterval(HOLD_PRIORITY, 100));
    expect(m.state).toBe('MASTER');
    const out = m.step({ type: 'release', cause: 'released' }, t + 600);
    expect(out).toEqual([
      { type: 'note', event: 'hold_released', cause: 'released' },
      { type: 'send_advert', priority: 100, synced: true },
    ]);
    expect(m.nextDeadline()).toBe(t + 700);
  });

  it('tracking keeps working while held: the new tracked priority applies once released', () => {
    const { m, t } = master();
    m.step({ type: 'handover', holdMs: HOLD_MS, cause: 'maintenance' }, t);
    m.step({ type: 'priority', priority: 80 }, t + 10);
    expect(m.status()).toMatchObject({ priority: HOLD_PRIORITY });
    m.step({ type: 'release', cause: 'released' }, t + 20);
    expect(m.status()).toMatchObject({ priority: 80 });
  });
});

describe('configure: live election settings from a reload, never a state change by itself', () => {
  it('preempt off: a higher-priority backup leaves a live lower master alone; back on: it preempts', () => {
    const { m, t } = master();
    m.step(advert(LB9, 150), t + 10);
    expect(m.state).toBe('BACKUP');
    expect(m.step({ type: 'configure', priority: 100, preempt: false, preemptDelayMs: 0 }, t + 20)).toEqual([]);
    expect(m.step({ type: 'priority', priority: 200, cause: 'reload: priority 100 -> 200' }, t + 30)).toEqual([]);
    expect(advertsUntilChange(m, LB9, 150, t + 100, t + 3000)).toBeUndefined();
    expect(m.state).toBe('BACKUP');
    m.step({ type: 'configure', priority: 200, preempt: true, preemptDelayMs: 0 }, t + 3010);
    expect(m.status().configuredPriority).toBe(200);
    expect(advertsUntilChange(m, LB9, 150, t + 3100, t + 6000)).toBeDefined();
    expect(m.state).toBe('MASTER');
  });

  it('preempt_delay applies from the reload on', () => {
    const { m, t } = master({ priority: 200 });
    m.step(advert(LB9, 254), t + 10);
    m.step({ type: 'configure', priority: 200, preempt: true, preemptDelayMs: 2000 }, t + 20);
    // The other master drops to 150: a 2 s delay before we preempt it.
    const at = advertsUntilChange(m, LB9, 150, t + 100, t + 10_000);
    expect(at).toBeDefined();
    expect((at ?? 0) - (t + 100)).toBeGreaterThanOrEqual(2000);
  });

  it('out-of-range settings are counted invalid and change nothing', () => {
    const m = machine();
    for (const e of [
      { type: 'configure', priority: 0, preempt: true, preemptDelayMs: 0 },
      { type: 'configure', priority: 255, preempt: true, preemptDelayMs: 0 },
      { type: 'configure', priority: 100, preempt: 'yes', preemptDelayMs: 0 },
      { type: 'configure', priority: 100, preempt: true, preemptDelayMs: -5 },
    ]) {
      expect(m.step(e as ElectionEvent, 0)).toEqual([]);
    }
    expect(m.status()).toMatchObject({ configuredPriority: 100, dropped: { invalid: 4 } });
  });
});

describe('a priority change that says why: the preemption it causes names it', () => {
  it('backup raised by a reload preempts the live master; the cause names the reload, once', () => {
    const m = machine();
    m.step({ type: 'start' }, 0);
    m.step(advert(LB9, 150), 10);
    m.step({ type: 'priority', priority: 200, cause: 'reload: priority 100 -> 200' }, 20);
    m.step(advert(LB9, 150), 110);
    const out = m.step({ type: 'timer' }, m.nextDeadline() ?? Number.NaN);
    expect(becomeOf(out)?.cause).toBe('preempt: higher priority 200 > 150 of lb9 (reload: priority 100 -> 200)');
    // A later change of state is not blamed on the old reload.
    const down = m.step(advert(LB9, 254), 1000);
    expect(becomeOf(down)?.cause).toBe('higher priority 254 > 200 from lb9');
  });

  it('a master lowered by a reload steps down for the backup that preempts it, naming the reload', () => {
    const { m, t } = master({ priority: 150 });
    expect(m.step({ type: 'priority', priority: 50, cause: 'reload: priority 150 -> 50' }, t + 5)).toEqual([{ type: 'send_advert', priority: 50, synced: true }]);
    const out = m.step(advert(LB1, 100), t + 10);
    expect(becomeOf(out)).toMatchObject({ state: 'BACKUP', cause: 'higher priority 100 > 50 from lb1 (reload: priority 150 -> 50)' });
  });

  it('a tracking change (no cause) clears an earlier reason', () => {
    const m = machine();
    m.step({ type: 'start' }, 0);
    m.step(advert(LB9, 150), 10);
    m.step({ type: 'priority', priority: 120, cause: 'reload: priority 100 -> 120' }, 20);
    m.step({ type: 'priority', priority: 200 }, 30);
    m.step(advert(LB9, 150), 110);
    const out = m.step({ type: 'timer' }, m.nextDeadline() ?? Number.NaN);
    expect(becomeOf(out)?.cause).toBe('preempt: higher priority 200 > 150 of lb9');
  });
});
