import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { trackScriptSchema } from '../config/cluster-schema.js';
import { silentLogger } from './logger.js';
import { TrackScripts } from './track-scripts.js';
import { alive, readPids, useScriptDir, waitForDead, waitForPidFile } from '../../test/helpers/scripts.js';
import { waitFor } from '../../test/helpers/wait.js';

const { script, path, leave } = useScriptDir('halo-track-scripts-');
const running: TrackScripts[] = [];

type Change = [name: string, ok: boolean, cause: string];

function make(scripts: unknown[]): { ts: TrackScripts; changes: Change[] } {
  const changes: Change[] = [];
  const ts = new TrackScripts({
    scripts: scripts.map((s) => trackScriptSchema.parse(s)),
    log: silentLogger,
    onChange: (name, ok, cause) => changes.push([name, ok, cause]),
  });
  running.push(ts);
  return { ts, changes };
}

function runs(ts: TrackScripts, name: string): number {
  return ts.status().find((s) => s.name === name)?.runs ?? -1;
}

afterEach(async () => {
  await Promise.all(running.splice(0).map((ts) => ts.stop()));
});

describe('TrackScripts', () => {
  it('/bin/true: runs on its interval and reports nothing (scripts start OK)', async () => {
    const { ts, changes } = make([{ name: 'ok', command: ['/bin/true'], interval_ms: 100, fall: 1, rise: 1 }]);
    ts.start();
    await waitFor(() => runs(ts, 'ok') >= 3, 'three runs');
    expect(changes).toEqual([]);
    expect(ts.status()[0]).toMatchObject({ name: 'ok', ok: true, lastResult: 'exit 0' });
  });

  it('/bin/false with fall 2: one change after the 2nd failure, none after', async () => {
    const { ts, changes } = make([{ name: 'bad', command: ['/bin/false'], interval_ms: 100, fall: 2, rise: 2 }]);
    ts.start();
    await waitFor(() => changes.length > 0, 'the failure to be reported');
    expect(runs(ts, 'bad')).toBe(2);
    await waitFor(() => runs(ts, 'bad') >= 5, 'more failing runs');
    expect(changes).toEqual([['bad', false, 'exit 1']]);
    expect(ts.status()[0]).toMatchObject({ ok: false, progress: '0/2' });
  });

  it('a missing program fails with "cannot run: ENOENT <path>"', async () => {
    const { ts, changes } = make([{ name: 'gone', command: ['/nonexistent/x'], interval_ms: 100, fall: 1 }]);
    ts.start();
    await waitFor(() => changes.length > 0, 'the failure to be reported');
    expect(changes).toEqual([['gone', false, 'cannot run: ENOENT /nonexistent/x']]);
  });

  it('a run past timeout_ms is killed (process group) and fails "timed out after N ms"', async () => {
    const pids = path('slow.pids');
    const slow = script('slow.sh', `sleep 5 & echo $$ $! >> "${pids}"; wait`);
    const { ts, changes } = make([{ name: 'slow', command: [slow], interval_ms: 100, timeout_ms: 200, fall: 1 }]);
    ts.start();
    await waitFor(() => changes.length > 0, 'the timeout to be reported');
    expect(changes).toEqual([['slow', false, 'timed out after 200 ms']]);
    await ts.stop();
    const all = readPids(pids);
    leave(...all);
    await waitForDead(all, 'every slow script and its sleep to be dead');
  });

  it('rise/fall on a file-controlled script: down after fall failures, up after rise successes, once each', async () => {
    const flag = path('fail-now');
    const check = script('flag.sh', '[ ! -e "$1" ]');
    const { ts, changes } = make([{ name: 'flag', command: [check, flag], interval_ms: 100, rise: 3, fall: 2 }]);
    ts.start();
    await waitFor(() => runs(ts, 'flag') >= 2, 'two passing runs');
    expect(changes).toEqual([]);

    writeFileSync(flag, '');
    const before = runs(ts, 'flag');
    await waitFor(() => changes.length === 1, 'the failure to be reported');
    // At most one run can have been in flight, passing, when the flag appeared.
    expect(runs(ts, 'flag') - before).toBeGreaterThanOrEqual(2);
    expect(runs(ts, 'flag') - before).toBeLessThanOrEqual(3);
    expect(changes[0]).toEqual(['flag', false, 'exit 1']);

    unlinkSync(flag);
    const down = runs(ts, 'flag');
    await waitFor(() => changes.length === 2, 'the recovery to be reported');
    expect(runs(ts, 'flag') - down).toBeGreaterThanOrEqual(3);
    expect(runs(ts, 'flag') - down).toBeLessThanOrEqual(4);
    expect(changes[1]).toEqual(['flag', true, 'exit 0']);

    const up = runs(ts, 'flag');
    await waitFor(() => runs(ts, 'flag') >= up + 3, 'more passing runs');
    expect(changes).toHaveLength(2);
  });

  it('never overlaps itself when a run takes longer than the interval', async () => {
    const log = path('overlap.log');
    const slowish = script('slowish.sh', `echo "start $$" >> "${log}"; sleep 0.3; echo "end $$" >> "${log}"`);
    const { ts } = make([{ name: 'slowish', command: [slowish], interval_ms: 100, timeout_ms: 5000 }]);
    ts.start();
    await waitFor(() => runs(ts, 'slowish') >= 3, 'three runs', 10_000);
    await ts.stop();
    const lines = readFileSync(log, 'utf8').trim().split('\n');
    // stop() may have killed a run between its start and end lines: drop that last start.
    if (lines.length % 2 === 1) expect(lines.pop()?.split(' ')[0]).toBe('start');
    expect(lines.length).toBeGreaterThanOrEqual(6);
    lines.forEach((line, i) => expect(line.split(' ')[0]).toBe(i % 2 === 0 ? 'start' : 'end'));
    for (let i = 0; i < lines.length; i += 2) expect(lines[i + 1]?.split(' ')[1]).toBe(lines[i]?.split(' ')[1]);
  });

  it('scripts run independently: a hanging one does not hold up another', async () => {
    const hang = script('hang-ind.sh', 'exec sleep 5');
    const { ts } = make([
      { name: 'hang', command: [hang], interval_ms: 100, timeout_ms: 5000 },
      { name: 'quick', command: ['/bin/true'], interval_ms: 100 },
    ]);
    ts.start();
    await waitFor(() => runs(ts, 'quick') >= 3, 'three quick runs');
    expect(runs(ts, 'hang')).toBe(0);
    expect(ts.status().find((s) => s.name === 'hang')?.running).toBe(true);
  });

  it('stop() kills a running check, waits for it, and reports nothing afterwards', async () => {
    const pidFile = path('stop.pid');
    const hang = script('stop.sh', `echo $$ > "${pidFile}"; exec sleep 5`);
    const { ts, changes } = make([{ name: 'hang', command: [hang], interval_ms: 100, timeout_ms: 10_000, fall: 1 }]);
    ts.start();
    const pid = await waitForPidFile(pidFile, 'the check to start');
    leave(pid);
    await ts.stop();
    expect(alive(pid)).toBe(false);
    expect(ts.status()[0]).toMatchObject({ running: false, runs: 0 });
    expect(changes).toEqual([]);
    // Stopped for good: start() does not bring it back.
    ts.start();
    expect(ts.status()[0]?.running).toBe(false);
  });

  it('rejects two scripts with one name', () => {
    expect(() => make([{ name: 'a', command: ['/bin/true'] }, { name: 'a', command: ['/bin/false'] }])).toThrow(/twice/);
  });
});
