/**
 * The `master_lost` hint: the followed master's replication link closed without a close
 * frame (its process died and the kernel closed its socket). Not in RFC 5798: it shortens
 * the backup's Master_Down_Timer (6.4.2) to one Master_Adver_Interval plus Skew_Time
 * (6.1), and any advert from the master restarts the timer exactly as 6.4.2 says.
 */
import { describe, expect, it } from 'vitest';
import { ElectionStateMachine, type AdvertSender, type ElectionAction, type ElectionEvent } from './state-machine.js';
import { masterDownInterval, skewTime } from './timers.js';

const LB1: AdvertSender = { nodeId: 'lb1', address: '10.0.0.1' };
const LB3: AdvertSender = { nodeId: 'lb3', address: '10.0.0.3' };
const INTERVAL = 100;
const LOST: ElectionEvent = { type: 'master_lost', nodeId: 'lb1', cause: 'its replication link closed without a close frame' };

const advert = (from: AdvertSender, priority: number): ElectionEvent => ({ type: 'advert', from, priority, intervalMs: INTERVAL, synced: true });
const becomeOf = (actions: ElectionAction[]) => actions.find((a): a is Extract<ElectionAction, { type: 'become' }> => a.type === 'become');

/** A backup (priority 100) following lb1 (150), whose last advert arrived at t = 1000. */
function following(): ElectionStateMachine {
  const m = new ElectionStateMachine({ nodeId: 'me', address: '10.0.0.5', priority: 100, intervalMs: INTERVAL });
  m.step({ type: 'start' }, 0);
  m.step(advert(LB1, 150), 1000);
  expect(m.status().master?.nodeId).toBe('lb1');
  return m;
}

describe('master_lost: a crashed master is taken over after one advert interval plus Skew_Time (RFC 5798 6.1 timers, 6.4.2 Backup)', () => {
  it('moves Master_Down_Timer from 3 x interval + skew after the last advert to interval + skew after the hint', () => {
    const m = following();
    const skew = skewTime(100, INTERVAL);
    expect(m.nextDeadline()).toBeCloseTo(1000 + masterDownInterval(100, INTERVAL, 3));
    m.step(LOST, 1020);
    expect(m.nextDeadline()).toBeCloseTo(1020 + INTERVAL + skew);
    const out = m.step({ type: 'timer' }, 1020 + INTERVAL + skew);
    expect(m.state).toBe('MASTER');
    // the cause still reads "master down" and says why it came early
    expect(becomeOf(out)?.cause).toBe(`master down: no advert for ${(20 + INTERVAL + skew).toFixed(1)} ms (last from lb1) after its replication link closed without a close frame`);
  });

  it('a master that is alive proves it with its next advert: the timer starts over at the full Master_Down_Interval', () => {
    const m = following();
    m.step(LOST, 1020);
    m.step(advert(LB1, 150), 1100);
    expect(m.nextDeadline()).toBeCloseTo(1100 + masterDownInterval(100, INTERVAL, 3));
    expect(m.step({ type: 'timer' }, 1100 + INTERVAL + skewTime(100, INTERVAL)).length).toBe(0);
    expect(m.state).toBe('BACKUP');
  });

  it('never delays a takeover that is due sooner, and ignores a hint about another node or in another state', () => {
    const late = following();
    // 290 ms after the last advert the plain timer is due at 1360.9, sooner than 1290 + 160.9
    late.step(LOST, 1290);
    expect(late.nextDeadline()).toBeCloseTo(1000 + masterDownInterval(100, INTERVAL, 3));

    const other = following();
    other.step({ ...LOST, nodeId: 'lb3' }, 1020);
    expect(other.nextDeadline()).toBeCloseTo(1000 + masterDownInterval(100, INTERVAL, 3));
    other.step(advert(LB3, 50), 1030); // a lower-priority stranger changes nothing either

    const m = new ElectionStateMachine({ nodeId: 'me', address: '10.0.0.5', priority: 100, intervalMs: INTERVAL });
    expect(m.step(LOST, 0)).toEqual([]);
    expect(m.state).toBe('INIT');
  });

  it('counts a malformed hint as invalid and changes nothing', () => {
    const m = following();
    const before = m.nextDeadline();
    m.step({ type: 'master_lost', nodeId: 7, cause: null } as unknown as ElectionEvent, 1020);
    expect(m.nextDeadline()).toBe(before);
    expect(m.status().dropped.invalid).toBe(1);
  });
});
