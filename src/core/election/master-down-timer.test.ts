import { describe, it, expect } from 'vitest';
import type { KnownMaster } from './election-types.js';
import { MasterDownTimer } from './master-down-timer.js';

const known = (over: Partial<KnownMaster> = {}): KnownMaster => ({ nodeId: 'lb1', address: '10.0.0.1', priority: 150, intervalMs: 200, synced: true, at: 1000, ...over });

describe('MasterDownTimer (RFC 5798 6.4.2 Master_Down_Timer)', () => {
  it("6.4.1: restarts at our own interval with the RFC's skew until a master is heard", () => {
    const t = new MasterDownTimer({ intervalMs: 100, downAdverts: 3, skew: 'relative' });
    t.restart(50);
    expect(t.deadline(100)).toBe(50 + 300 + 60.9375);
    expect(t.expiryCause(411)).toBe('master down: no advert for 361 ms');
  });

  it("6.4.2: following a master adopts its Master_Adver_Interval and restarts from its advert; rfc and relative skew", () => {
    const rel = new MasterDownTimer({ intervalMs: 100, downAdverts: 3, skew: 'relative' });
    const rfc = new MasterDownTimer({ intervalMs: 100, downAdverts: 3, skew: 'rfc' });
    for (const t of [rel, rfc]) t.follow(known());
    expect(rel.adverIntervalMs).toBe(200);
    expect(rel.deadline(100)).toBe(1000 + 600 + 39.0625);
    expect(rfc.deadline(100)).toBe(1000 + 600 + 121.875);
    expect(rel.expiryCause(1700)).toBe('master down: no advert for 700 ms (last from lb1)');
  });

  it('6.4.2: priority 0 shortens the timer to Skew_Time, never lengthens it', () => {
    const t = new MasterDownTimer({ intervalMs: 100, downAdverts: 3, skew: 'relative' });
    t.follow(known({ intervalMs: 100 }));
    t.masterLeaving(1010, 100, 'lb1');
    expect(t.deadline(100)).toBe(1010 + 19.53125);
    expect(t.expiryCause(1030)).toBe('priority 0 from lb1');
    t.masterLeaving(1025, 100, 'lb1');
    expect(t.deadline(100)).toBe(1010 + 19.53125);
  });

  it('master lost (halo): one interval plus Skew_Time, only when sooner', () => {
    const t = new MasterDownTimer({ intervalMs: 100, downAdverts: 3, skew: 'relative' });
    t.follow(known({ intervalMs: 100 }));
    t.masterLost(1300, 100, 'replication link closed');
    expect(t.deadline(100)).toBe(1000 + 319.53125);
    t.masterLost(1010, 100, 'replication link closed');
    expect(t.deadline(100)).toBe(1010 + 119.53125);
    expect(t.expiryCause(1130)).toBe('master down: no advert for 130 ms (last from lb1) after replication link closed');
  });

  it('6.4.2 preempt: an ignored master counts only if heard since the timer restarted, and is forgotten on follow', () => {
    const t = new MasterDownTimer({ intervalMs: 100, downAdverts: 3, skew: 'relative' });
    t.restart(2000);
    t.ignore(known({ at: 1500, priority: 90 }));
    expect(t.ignoredSinceRestart).toBeUndefined();
    t.ignore(known({ at: 2050, priority: 90 }));
    expect(t.ignoredSinceRestart?.priority).toBe(90);
    // Relative to the ignored master's 90: no skew for a priority 150 backup.
    expect(t.deadline(150)).toBe(2000 + 300);
    t.follow(known({ at: 2100 }));
    expect(t.ignoredSinceRestart).toBeUndefined();
    t.clear();
    expect(t.master).toBeUndefined();
    expect(t.adverIntervalMs).toBe(100);
  });
});
