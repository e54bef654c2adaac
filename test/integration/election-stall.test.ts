/**
 * A node whose whole process stops for a while (SIGSTOP, a paused VM, a swap storm) and
 * then resumes must not act on timers that expired while it was stopped before it has
 * read what arrived meanwhile (found by the chaos suite, issue 6):
 * - a backup stopped for longer than Master_Down_Interval does not take over from the
 *   live master whose adverts wait in its socket (RFC 5798 6.4.2: the master is not down);
 * - a node stopped for longer than liveness_timeout_ms does not blame its data plane
 *   (both threads were stopped) and go to FAULT.
 */
import { describe, expect, it } from 'vitest';
import { signal, sleep } from '../../src/app/lab/system.js';
import { netnsSupport } from '../helpers/netns.js';
import { labLogEventsSince, useLab, waitMaster } from '../helpers/lab.js';

const support = netnsSupport();
const maybe = support.ok ? describe : describe.skip;
const why = support.ok ? '' : ` (skipped: ${support.reason})`;

maybe(`election: a stopped and resumed node acts on what it missed, not on its expired timers${why}`, () => {
  const lab = useLab('st', { clusterOverrides: { liveness_timeout_ms: 1000 } });

  function pidOf(node: string): number {
    const pid = lab.state().hosts.find((h) => h.name === node)?.pid;
    if (pid === undefined) throw new Error(`${node} has no pid`);
    return pid;
  }

  it('a backup stopped for 4x Master_Down_Interval, three times, never takes over', async () => {
    await waitMaster(lab, 'lb1', 15_000);
    const since = Date.now();
    for (let round = 0; round < 3; round++) {
      expect(signal(pidOf('lb2'), 'SIGSTOP')).toBe(true);
      await sleep(700);
      signal(pidOf('lb2'), 'SIGCONT');
      await sleep(500);
    }
    const changes = labLogEventsSince(lab, 'lb2', since).filter((e) => e['message'] === 'state_change');
    expect(changes, JSON.stringify(changes)).toEqual([]);
    await waitMaster(lab, 'lb1', 2000);
  }, 30_000);

  it('a master stopped past liveness_timeout_ms does not blame its data plane when it resumes', async () => {
    await waitMaster(lab, 'lb1', 15_000);
    const since = Date.now();
    expect(signal(pidOf('lb1'), 'SIGSTOP')).toBe(true);
    try {
      await waitMaster(lab, 'lb2', 10_000).catch(() => undefined);
      await sleep(1500);
    } finally {
      signal(pidOf('lb1'), 'SIGCONT');
    }
    // lb1 resumes, hears lb2, and (higher priority, preempt on) takes the master role back
    await waitMaster(lab, 'lb1', 15_000);
    const lb1 = labLogEventsSince(lab, 'lb1', since);
    const stalls = lb1.filter((e) => JSON.stringify(e).includes('data plane stalled') || (e['message'] === 'state_change' && e['state'] === 'FAULT'));
    expect(stalls, JSON.stringify(stalls)).toEqual([]);
  }, 45_000);
});
