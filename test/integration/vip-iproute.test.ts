/**
 * The VIP adapter against the real kernel: two namespaces A and B joined by a veth pair
 * (A: va 10.214.0.1/24, B: vb 10.214.0.2/24). A holds the VIP; B plays a client whose
 * ARP entry must follow the VIP (root only; skipped with the reason otherwise).
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AddressMonitor } from '../../src/adapters/address-monitor.js';
import { parseIpAddrOutput } from '../../src/adapters/ip-addr-lines.js';
import { silentLogger } from '../../src/adapters/logger.js';
import { VipManager, type VipManagerOptions } from '../../src/adapters/vip-iproute.js';
import { HaloError } from '../../src/core/errors.js';
import { createNetns, netnsSupport, type Netns } from '../helpers/netns.js';
import { sleep, until } from '../helpers/http-client.js';
import { recordingLogger, type LogLine } from '../helpers/recording-logger.js';

const support = netnsSupport();
if (!support.ok) console.log(`skipping vip-iproute integration tests: ${support.reason}`);

const A_ADDR = '10.214.0.1/24';
const B_ADDR = '10.214.0.2/24';
const VIP = '10.214.0.100/24';
const VIP_HOST = '10.214.0.100';
const OTHER = '10.214.0.77/24';
const FAKE_MAC = '02:00:00:00:00:01';


describe.skipIf(!support.ok)(`VIP adapter in a namespace pair${support.ok ? '' : ` (skipped: ${support.reason})`}`, () => {
  let a: Netns | undefined;
  let b: Netns | undefined;
  let aMac = '';
  const managers: VipManager[] = [];
  const monitors: AddressMonitor[] = [];

  const nsA = (): Netns => a ?? expect.fail('namespace A not created');
  const nsB = (): Netns => b ?? expect.fail('namespace B not created');
  const manager = (opts: Partial<VipManagerOptions> = {}): VipManager => {
    const m = new VipManager({
      vips: [{ address: VIP, interface: 'va' }],
      lifetimeMs: 30_000,
      garp: { count: 1, intervalMs: 100 },
      netns: nsA().name,
      log: silentLogger,
      ...opts,
    });
    managers.push(m);
    return m;
  };
  const onA = async () => parseIpAddrOutput(await nsA().ip('-o', '-4', 'addr', 'show', 'dev', 'va'));
  const vipEntries = async (cidr = VIP) => (await onA()).filter((e) => e.cidr === cidr);
  const neighMac = async (): Promise<string | undefined> => /lladdr (\S+)/.exec(await nsB().ip('neigh', 'show', VIP_HOST, 'dev', 'vb'))?.[1];
  const processesInA = (): string[] => {
    const pids = execFileSync('ip', ['netns', 'pids', nsA().name], { encoding: 'utf8', timeout: 5000 }).split(/\s+/).filter(Boolean);
    return pids.flatMap((pid) => {
      try {
        return [readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim()];
      } catch {
        return []; // exited meanwhile
      }
    });
  };

  beforeAll(async () => {
    a = await createNetns('vipA');
    b = await createNetns('vipB');
    await a.ip('link', 'add', 'va', 'type', 'veth', 'peer', 'name', 'vb', 'netns', b.name);
    await a.ip('addr', 'add', A_ADDR, 'dev', 'va');
    await b.ip('addr', 'add', B_ADDR, 'dev', 'vb');
    await a.ip('link', 'set', 'va', 'up');
    await b.ip('link', 'set', 'vb', 'up');
    aMac = /link\/ether (\S+)/.exec(await a.ip('-o', 'link', 'show', 'va'))?.[1] ?? '';
    expect(aMac).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
  });

  afterEach(async () => {
    await Promise.all(monitors.splice(0).map((m) => m.stop()));
    await Promise.all(managers.splice(0).map((m) => m.close()));
    for (const cidr of [VIP, OTHER]) await a?.ip('addr', 'del', cidr, 'dev', 'va').catch(() => undefined);
  });

  afterAll(async () => {
    // the veth pair goes with its namespaces
    await a?.destroy();
    await b?.destroy();
  });

  it('add is idempotent (twice = one address) and the lifetime shows in `ip addr`', async () => {
    const m = manager();
    const first = await m.add();
    await m.add();
    expect(first.addedAt).toHaveLength(1);
    const entries = await vipEntries();
    expect(entries).toHaveLength(1);
    expect(entries[0]?.validLft).toBeGreaterThanOrEqual(29);
    expect(entries[0]?.validLft).toBeLessThanOrEqual(30);
    expect(await m.present()).toEqual(new Map([[VIP, true]]));
  });

  it('lifetime 0 adds the VIP forever', async () => {
    await manager({ lifetimeMs: 0 }).add();
    expect((await vipEntries())[0]).toMatchObject({ validLft: 'forever', preferredLft: 'forever' });
  });

  it('renew pushes the lifetime back up', async () => {
    const m = manager({ lifetimeMs: 5000 });
    await m.add();
    let lowered = 5;
    const dropped = await until(async () => {
      const v = (await vipEntries())[0]?.validLft;
      if (typeof v === 'number') lowered = v;
      return lowered < 5;
    }, 3000, 100);
    expect(dropped, 'valid_lft never counted down').toBe(true);
    await m.renew();
    expect((await vipEntries())[0]?.validLft).toBe(5);
  });

  it('remove is idempotent and present() says absent', async () => {
    const m = manager();
    await m.add();
    await m.remove();
    await m.remove();
    expect(await vipEntries()).toEqual([]);
    expect(await m.present()).toEqual(new Map([[VIP, false]]));
  });

  it('removeStale removes our leftovers (and nothing else), returning them', async () => {
    // a crashed run's VIP, and an address that is not ours
    await nsA().ip('addr', 'add', VIP, 'dev', 'va');
    await nsA().ip('addr', 'add', OTHER, 'dev', 'va');
    const m = manager();
    expect(await m.removeStale()).toEqual([VIP]);
    expect(await m.removeStale()).toEqual([]);
    expect((await onA()).map((e) => e.cidr).sort()).toEqual([OTHER, A_ADDR].sort());
  });

  it('a VIP added with the kernel minimum lifetime (1 s) disappears by itself, and the monitor reports it', async () => {
    const deleted: string[] = [];
    const mon = new AddressMonitor({ addresses: [{ address: VIP, interface: 'va' }], onDeleted: (addr) => deleted.push(addr), netns: nsA().name, log: silentLogger });
    monitors.push(mon);
    await mon.start();
    await manager({ lifetimeMs: 1000 }).add();
    expect((await vipEntries())[0]?.validLft).toBe(1);
    expect(await until(async () => (await vipEntries()).length === 0, 3000, 50), 'VIP still there 3 s after a 1 s lifetime').toBe(true);
    expect(await until(() => deleted.length > 0, 1000, 10), 'the monitor did not report the expiry').toBe(true);
    expect(deleted).toEqual([VIP]);
  });

  it("a GARP burst moves B's ARP entry for the VIP from a fake MAC to A's, and goes on after garp() resolves", async () => {
    const m = manager({ garp: { count: 3, intervalMs: 400 } });
    await m.add();
    await m.checkTools();
    // B's neighbour events, timestamped on our clock, to see when the first GARP lands
    const watch = spawn('ip', ['-n', nsB().name, 'monitor', 'neigh'], { stdio: ['ignore', 'pipe', 'ignore'] });
    const seen: Array<{ at: number; line: string }> = [];
    watch.stdout.setEncoding('utf8');
    watch.stdout.on('data', (chunk: string) => {
      for (const line of chunk.split('\n')) if (line.includes(VIP_HOST)) seen.push({ at: performance.now(), line });
    });
    try {
      const setFake = () => nsB().ip('neigh', 'replace', VIP_HOST, 'lladdr', FAKE_MAC, 'dev', 'vb', 'nud', 'stale');
      await setFake();
      // the monitor is subscribed once it reports our own change
      expect(await until(() => seen.some((s) => s.line.includes(FAKE_MAC)), 2000, 10), 'ip monitor neigh in B saw nothing').toBe(true);
      expect(await neighMac()).toBe(FAKE_MAC);

      const t0 = performance.now();
      const { sentAt } = await m.garp('test');
      expect(await until(async () => (await neighMac()) === aMac, 2000, 10), `B's entry still ${String(await neighMac())}`).toBe(true);
      const landed = seen.find((s) => s.line.includes(aMac));
      console.log(
        `garp: arping spawned -> garp() resolved (its "ARPING" line) ${(sentAt - t0).toFixed(1)} ms; ` +
          `-> B's neighbour entry changed ${landed ? (landed.at - t0).toFixed(1) : '?'} ms`,
      );

      // The rest of the burst: put the fake back, a later GARP of the same burst fixes it.
      await setFake();
      expect(await neighMac()).toBe(FAKE_MAC);
      expect(await until(async () => (await neighMac()) === aMac, 2000, 10), 'no second GARP of the burst reached B').toBe(true);
    } finally {
      watch.kill('SIGKILL');
    }
    await m.close();
    expect(processesInA().filter((c) => c.includes('arping'))).toEqual([]);
  });

  it('a new burst cancels the one still running; remove() stops a burst', async () => {
    const events: LogLine[] = [];
    const m = manager({ garp: { count: 4, intervalMs: 250 }, log: recordingLogger(events) });
    await m.add();
    const sent = (reason: string) => events.filter((e) => e.event === 'garp_sent' && e.fields['reason'] === reason).length;
    await m.garp('one');
    await m.garp('two');
    expect(await until(() => sent('two') === 4, 3000, 10), `burst "two" sent ${sent('two')} of 4`).toBe(true);
    await sleep(300);
    expect([sent('one'), sent('two')]).toEqual([1, 4]);

    await m.garp('three');
    await m.remove();
    await sleep(600);
    expect(sent('three')).toBe(1);
    expect(events.filter((e) => e.level === 'warn' || e.level === 'error')).toEqual([]);
  });

  it('garp() on a VIP that is not on the interface fails with HALO_ERR_VIP, the command and arping stderr', async () => {
    const err = await manager().garp('test').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HaloError);
    expect((err as HaloError).code).toBe('HALO_ERR_VIP');
    expect((err as HaloError).message).toContain(`arping -U -c 1 -I va ${VIP_HOST}`);
    expect((err as HaloError).message).toContain('Cannot assign requested address');
  });

  it('the address monitor reports an external `ip addr del` of the VIP only, also across a restart of its `ip monitor`', async () => {
    const deleted: string[] = [];
    // the election worker watches host addresses (no /len): both forms must match
    const mon = new AddressMonitor({
      addresses: [{ address: VIP_HOST, interface: 'va' }],
      onDeleted: (addr, iface) => deleted.push(`${addr} ${iface}`),
      netns: nsA().name,
      log: silentLogger,
    });
    monitors.push(mon);
    await mon.start();
    await nsA().ip('addr', 'add', OTHER, 'dev', 'va');
    await nsA().ip('addr', 'del', OTHER, 'dev', 'va');
    // `ip monitor` subscribes a moment after it starts: retry a bounded number of times
    let reported = false;
    for (let attempt = 0; attempt < 5 && !reported; attempt++) {
      await nsA().ip('addr', 'replace', VIP, 'dev', 'va');
      await nsA().ip('addr', 'del', VIP, 'dev', 'va');
      reported = await until(() => deleted.length > 0, 500, 10);
    }
    expect(reported, 'no deletion reported').toBe(true);
    expect(new Set(deleted)).toEqual(new Set([`${VIP_HOST} va`]));

    // The VIP is deleted while no monitor runs: the check after the restart reports it.
    deleted.length = 0;
    await nsA().ip('addr', 'replace', VIP, 'dev', 'va');
    const pid = mon.monitorPid;
    expect(pid).toBeDefined();
    process.kill(pid ?? 0, 'SIGKILL');
    await nsA().ip('addr', 'del', VIP, 'dev', 'va');
    expect(await until(() => mon.restarts === 1 && deleted.length > 0, 3000, 10), 'nothing reported after the restart').toBe(true);
    expect(new Set(deleted)).toEqual(new Set([`${VIP_HOST} va`]));

    await mon.stop();
    expect(processesInA().filter((c) => c.includes('monitor'))).toEqual([]);
  });
});

describe('arping missing or foreign', () => {
  const vips = [{ address: VIP, interface: 'va' }];
  let dir: string | undefined;
  const savedPath = process.env['PATH'];
  afterEach(() => {
    process.env['PATH'] = savedPath;
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('names the iputils-arping package when arping is not installed', async () => {
    dir = mkdtempSync(join(tmpdir(), 'halo-noarping-'));
    process.env['PATH'] = dir;
    const err = await new VipManager({ vips, lifetimeMs: 0, garp: { count: 1, intervalMs: 100 }, log: silentLogger }).garp('test').catch((e: unknown) => e);
    expect((err as HaloError).code).toBe('HALO_ERR_VIP');
    expect((err as HaloError).message).toContain('iputils-arping');
    expect((err as HaloError).message).toContain('not installed');
  });

  it('refuses an arping that is not iputils (other flags), naming the package', async () => {
    dir = mkdtempSync(join(tmpdir(), 'halo-habets-'));
    const fake = join(dir, 'arping');
    writeFileSync(fake, '#!/bin/sh\necho "ARPing 2.21, by Thomas Habets <thomas@habets.se>"\n');
    chmodSync(fake, 0o755);
    process.env['PATH'] = `${dir}:${savedPath ?? ''}`;
    const err = await new VipManager({ vips, lifetimeMs: 0, garp: { count: 1, intervalMs: 100 }, log: silentLogger }).checkTools().catch((e: unknown) => e);
    expect((err as HaloError).code).toBe('HALO_ERR_VIP');
    expect((err as HaloError).message).toMatch(/Habets.*iputils-arping/);
  });
});
