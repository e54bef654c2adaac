import { afterEach, describe, expect, it } from 'vitest';
import { renameSync } from 'node:fs';
import { HaloError } from '../core/errors.js';
import { IpMonitor, nextRestartDelay, type IpMonitorOptions } from './ip-monitor.js';
import { recordingLogger } from '../../test/helpers/recording-logger.js';
import { alive, useScriptDir, waitForDead } from '../../test/helpers/scripts.js';
import { waitFor } from '../../test/helpers/wait.js';

// A fake `ip`: a script that prints what a test needs, so restarts and stops can be
// exercised without netlink (the real `ip monitor` runs in the link/address monitor
// integration tests).
const { script, path, leave } = useScriptDir('halo-ip-monitor-');
const BACKOFF = { minMs: 50, maxMs: 200, stableRunMs: 60_000 } as const;
const started: IpMonitor[] = [];

afterEach(async () => {
  await Promise.all(started.splice(0).map((m) => m.stop()));
});

function make(ipCommand: string, overrides: Partial<IpMonitorOptions> = {}) {
  const log = recordingLogger();
  const lines: string[] = [];
  const rereads: Array<number | undefined> = [];
  const mon: IpMonitor = new IpMonitor({
    objects: ['link'],
    ipCommand,
    onLine: (line) => lines.push(line),
    onRestart: async () => {
      rereads.push(mon.pid);
    },
    log,
    event: 'test_monitor',
    logFields: { watching: ['la'] },
    errorCode: 'HALO_ERR_LINK_MONITOR',
    backoff: BACKOFF,
    ...overrides,
  });
  started.push(mon);
  return { mon, log, lines, rereads };
}

/** Prints its argv and pid, then stays up like `ip monitor` (bounded: 30 s). */
function fakeIp(name: string): string {
  return script(name, 'echo "argv $*"; echo "pid $$"; exec sleep 30');
}

describe('nextRestartDelay', () => {
  const b = { minMs: 1000, maxMs: 5000, stableRunMs: 30_000 };

  it('never under the minimum, doubling while the child keeps dying, bounded', () => {
    let prev = b.minMs;
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      const { delayMs, nextDelayMs } = nextRestartDelay(prev, 10, b);
      delays.push(delayMs);
      prev = nextDelayMs;
    }
    expect(delays).toEqual([1000, 2000, 4000, 5000, 5000, 5000]);
    expect(nextRestartDelay(0, 0, b).delayMs).toBe(1000);
  });

  it('starts over after a stable run', () => {
    expect(nextRestartDelay(5000, 30_000, b)).toEqual({ delayMs: 1000, nextDelayMs: 2000 });
  });
});

describe('IpMonitor (with a fake ip)', () => {
  it('runs `ip [-n NS] -o [-4] monitor OBJECTS`, hands over each line, and stop() ends it', async () => {
    const { mon, lines } = make(fakeIp('args.sh'), { objects: ['link', 'address'], family: 4, netns: 'halo-x' });
    await mon.start();
    expect(mon.running).toBe(true);
    const pid = mon.pid!;
    leave(pid);
    await waitFor(() => lines.length === 2, 'two lines');
    expect(lines).toEqual(['argv -n halo-x -o -4 monitor link address', `pid ${pid}`]);
    await mon.stop();
    expect(mon.running).toBe(false);
    expect(mon.pid).toBeUndefined();
    await waitForDead([pid], 'the monitor child to end');
    expect(mon.restarts).toBe(0);
  });

  it('restarts a child that was killed, logs why, then calls onRestart with the new child running', async () => {
    const { mon, log, lines, rereads } = make(fakeIp('killed.sh'));
    await mon.start();
    const first = mon.pid!;
    leave(first);
    await waitFor(() => lines.length === 2, 'the first run');
    process.kill(first, 'SIGKILL');
    await waitFor(() => rereads.length === 1, 'onRestart');
    const second = mon.pid!;
    leave(second);
    expect(second).not.toBe(first);
    expect(rereads).toEqual([second]);
    expect(mon.restarts).toBe(1);
    expect(log.lines).toEqual([
      {
        level: 'warn',
        event: 'test_monitor_restart',
        fields: expect.objectContaining({ watching: ['la'], exit_code: null, signal: 'SIGKILL', delay_ms: 50, restarts: 1, cause: '`ip monitor link` exited (SIGKILL)' }),
      },
    ]);
    await waitFor(() => lines.includes(`pid ${second}`), 'the restarted child to print');
  });

  it('a child that keeps dying: its last stderr line is the cause, and the delay doubles to the bound', async () => {
    const dying = script('dying.sh', 'echo "first" >&2; echo "cannot talk to netlink" >&2; exit 3');
    const { mon, log } = make(dying);
    await mon.start();
    await waitFor(() => mon.restarts >= 4, 'four restarts');
    await mon.stop();
    const restarts = log.lines.filter((l) => l.event === 'test_monitor_restart');
    expect(restarts.map((l) => l.fields['delay_ms'])).toEqual([50, 100, 200, 200]);
    expect(restarts[0]?.fields).toMatchObject({ exit_code: 3, signal: null, cause: 'cannot talk to netlink' });
    // stopped for good: nothing restarts it (a pending restart would fire within maxMs)
    const count = mon.restarts;
    await new Promise((r) => setTimeout(r, 3 * BACKOFF.maxMs));
    expect(mon.restarts).toBe(count);
    expect(mon.pid).toBeUndefined();
  });

  it('a failing onRestart is logged as <event>_failed and the monitor keeps running', async () => {
    const { mon, log } = make(fakeIp('reread-fails.sh'), { onRestart: () => Promise.reject(new Error('cannot read la')) });
    await mon.start();
    leave(mon.pid!);
    process.kill(mon.pid!, 'SIGKILL');
    await waitFor(() => log.lines.some((l) => l.event === 'test_monitor_failed'), 'the failure log');
    expect(log.lines.find((l) => l.event === 'test_monitor_failed')).toEqual({
      level: 'error',
      event: 'test_monitor_failed',
      fields: { watching: ['la'], cause: 'cannot read la' },
    });
    expect(mon.pid).toBeDefined();
    leave(mon.pid!);
    expect(alive(mon.pid!)).toBe(true);
  });

  it('when ip cannot be started on a restart: logged, retried after maxMs, and onRestart runs once it is back', async () => {
    const ip = fakeIp('vanishing.sh');
    const { mon, log, rereads } = make(ip);
    await mon.start();
    leave(mon.pid!);
    renameSync(ip, path('vanished.sh'));
    process.kill(mon.pid!, 'SIGKILL');
    await waitFor(() => log.lines.some((l) => l.event === 'test_monitor_failed'), 'the failed restart to be logged');
    expect(log.lines.find((l) => l.event === 'test_monitor_failed')?.fields).toMatchObject({ watching: ['la'], cause: expect.stringContaining('ENOENT') });
    expect(mon.pid).toBeUndefined();
    expect(rereads).toEqual([]);
    renameSync(path('vanished.sh'), ip);
    await waitFor(() => rereads.length === 1, 'onRestart after ip is back');
    leave(mon.pid!);
    expect(mon.restarts).toBe(1);
  });

  it('start() rejects with the configured code and the command when ip is missing, and twice while running', async () => {
    const missing = make('/nonexistent/ip', { family: 6 }).mon;
    const err: unknown = await missing.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(HaloError);
    expect(err).toMatchObject({ code: 'HALO_ERR_LINK_MONITOR', details: { command: '/nonexistent/ip -o -6 monitor link' } });
    expect((err as Error).message).toContain('cannot run `/nonexistent/ip -o -6 monitor link`');
    expect(missing.running).toBe(false);

    const { mon } = make(fakeIp('twice.sh'), { errorCode: 'HALO_ERR_VIP', objects: ['address'] });
    await mon.start();
    leave(mon.pid!);
    await expect(mon.start()).rejects.toMatchObject({ code: 'HALO_ERR_VIP', message: 'address monitor already started' });
    expect(mon.running).toBe(true);
  });

  it('stop() SIGKILLs a child that ignores SIGTERM', async () => {
    const stubborn = script('stubborn.sh', `trap '' TERM; echo ready; i=0; while [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done`);
    const { mon, lines } = make(stubborn);
    await mon.start();
    const pid = mon.pid!;
    leave(pid);
    await waitFor(() => lines.includes('ready'), 'the trap to be set');
    await mon.stop();
    await waitForDead([pid], 'the stubborn child to be killed');
    expect(mon.restarts).toBe(0);
  });
});
