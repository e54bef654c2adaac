/**
 * LinkMonitor against real links: a veth pair la/lb in a namespace this suite creates
 * (root only). Setting lb down takes la's carrier away, as a pulled cable would.
 * LinkMonitor watches the namespace through `ip -n NS` (its `netns` option, tests only).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LinkMonitor } from '../../src/adapters/link-monitor.js';
import type { LogFields, Logger } from '../../src/adapters/logger.js';
import { HaloError } from '../../src/core/errors.js';
import { createNetns, netnsSupport, type Netns } from '../helpers/netns.js';
import { waitFor } from '../helpers/wait.js';

const support = netnsSupport();
if (!support.ok) console.log(`skipping the namespace cases of link-monitor: ${support.reason}`);

interface Change {
  name: string;
  up: boolean;
  cause: string;
}

function recordingLogger(events: Array<{ level: string; event: string; fields: LogFields }>): Logger {
  const at =
    (level: string) =>
    (event: string, fields: LogFields = {}): void => {
      events.push({ level, event, fields });
    };
  const log: Logger = { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug'), child: () => log, setLevel: () => {} };
  return log;
}

describe('LinkMonitor without a usable ip binary', () => {
  it('rejects start() with HALO_ERR_LINK_MONITOR naming the command', async () => {
    const mon = new LinkMonitor({ interfaces: ['eth0'], onChange: () => {}, ipCommand: '/nonexistent/ip' });
    const err: unknown = await mon.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(HaloError);
    expect((err as HaloError).code).toBe('HALO_ERR_LINK_MONITOR');
    expect((err as HaloError).message).toContain('/nonexistent/ip -o monitor link');
    expect(mon.monitorPid).toBeUndefined();
  });
});

describe.skipIf(!support.ok)('LinkMonitor on a veth pair in a network namespace', () => {
  let ns: Netns | undefined;
  let mon: LinkMonitor | undefined;

  beforeAll(async () => {
    ns = await createNetns('link');
  });
  afterEach(async () => {
    await mon?.stop();
    mon = undefined;
    await ns?.ip('link', 'del', 'la').catch(() => undefined);
    await ns?.ip('link', 'del', 'lc').catch(() => undefined);
  });
  afterAll(async () => {
    await mon?.stop();
    await ns?.destroy();
  });

  async function addPair(a: string, b: string): Promise<void> {
    await ns!.ip('link', 'add', a, 'type', 'veth', 'peer', 'name', b);
    await ns!.ip('link', 'set', a, 'up');
    await ns!.ip('link', 'set', b, 'up');
  }

  it('reports the initial state, then carrier lost, carrier back, a new interface and a deleted one', async () => {
    await addPair('la', 'lb');
    const changes: Change[] = [];
    mon = new LinkMonitor({ interfaces: ['la', 'lc'], netns: ns!.name, onChange: (name, up, cause) => changes.push({ name, up, cause }) });
    const initial = await mon.start();
    expect(initial).toEqual(new Map([['la', true], ['lc', false]]));
    expect(mon.current('lc')).toBe(false);
    expect(mon.current('lb')).toBeUndefined();

    await ns!.ip('link', 'set', 'lb', 'down');
    await waitFor(() => changes.length >= 1, 'la down after its peer went down', 3000);
    expect(changes[0]).toEqual({ name: 'la', up: false, cause: 'no carrier' });
    expect(mon.current('la')).toBe(false);

    await ns!.ip('link', 'set', 'lb', 'up');
    await waitFor(() => changes.length >= 2, 'la up again', 3000);
    expect(changes[1]).toEqual({ name: 'la', up: true, cause: 'link up' });

    // an untracked link changing (lb) and repeated messages for la never reach onChange
    await ns!.ip('link', 'set', 'la', 'mtu', '1400');
    await addPair('lc', 'ld');
    await waitFor(() => changes.length >= 3, 'lc up once created', 3000);
    expect(changes[2]).toEqual({ name: 'lc', up: true, cause: 'link up' });

    await ns!.ip('link', 'del', 'la');
    await waitFor(() => changes.length >= 4, 'la down when deleted', 3000);
    // the kernel announces the link going down just before the Deleted message, so the
    // transition carries that cause; the Deleted line that follows changes nothing
    expect(changes[3]).toMatchObject({ name: 'la', up: false });
    expect(changes[3]?.cause).toMatch(/^(administratively down|interface deleted)$/);
    await new Promise((r) => setTimeout(r, 100));
    expect(changes).toHaveLength(4);
    expect(mon.current('la')).toBe(false);
  });

  it('restarts a monitor that died, and reports the change it missed meanwhile', async () => {
    await addPair('la', 'lb');
    const changes: Change[] = [];
    const logs: Array<{ level: string; event: string; fields: LogFields }> = [];
    mon = new LinkMonitor({
      interfaces: ['la'],
      netns: ns!.name,
      log: recordingLogger(logs),
      onChange: (name, up, cause) => changes.push({ name, up, cause }),
    });
    expect(await mon.start()).toEqual(new Map([['la', true]]));
    const pid = mon.monitorPid;
    expect(pid).toBeTypeOf('number');

    process.kill(pid!, 'SIGKILL'); // the child LinkMonitor started, by its pid
    await waitFor(() => logs.some((l) => l.event === 'link_monitor_restart'), 'link_monitor_restart logged', 2000);
    // the change happens while no monitor runs: only the re-read after the restart sees it
    await ns!.ip('link', 'set', 'lb', 'down');
    await waitFor(() => changes.length >= 1, 'la down seen after the restart', 4000);
    expect(changes[0]).toEqual({ name: 'la', up: false, cause: 'no carrier (read after monitor restart)' });
    expect(mon.monitorPid).not.toBe(pid);
    expect(mon.restarts).toBe(1);
    expect(logs.filter((l) => l.event === 'link_monitor_restart')).toEqual([
      { level: 'warn', event: 'link_monitor_restart', fields: expect.objectContaining({ signal: 'SIGKILL', restarts: 1, interfaces: ['la'] }) },
    ]);

    // and the new monitor reports live changes again
    await ns!.ip('link', 'set', 'lb', 'up');
    await waitFor(() => changes.length >= 2, 'la up from the restarted monitor', 3000);
    expect(changes[1]).toEqual({ name: 'la', up: true, cause: 'link up' });
  });

  it('stop() ends the monitor child and no change is reported after it', async () => {
    await addPair('la', 'lb');
    const changes: Change[] = [];
    mon = new LinkMonitor({ interfaces: ['la'], netns: ns!.name, onChange: (name, up, cause) => changes.push({ name, up, cause }) });
    await mon.start();
    const pid = mon.monitorPid!;
    await mon.stop();
    expect(mon.monitorPid).toBeUndefined();
    expect(() => process.kill(pid, 0)).toThrow(); // gone (ESRCH)
    await ns!.ip('link', 'set', 'lb', 'down');
    await new Promise((r) => setTimeout(r, 200));
    expect(changes).toEqual([]);
  });
});
