import { afterAll, describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { addrDelArgs, addrReplaceArgs, addrShowArgs, arpingCommand, arpingSentCount, ipArgs, isNotPresentError, lifetimeArg, runVipCommand, vipHost, VipManager } from './vip-iproute.js';
import { HaloError } from '../core/errors.js';
import { silentLogger } from './logger.js';
import { directSpawner, SpawnClient, type Spawner } from './remote-spawn.js';

const VIP = { address: '10.77.1.100/24', interface: 'eth0' };

describe('ip arguments', () => {
  it('replaces with a lifetime in whole seconds, rounded up, at least 1; 0 is forever', () => {
    expect(addrReplaceArgs(VIP, 30_000)).toEqual(['addr', 'replace', '10.77.1.100/24', 'dev', 'eth0', 'valid_lft', '30', 'preferred_lft', '30']);
    expect(addrReplaceArgs(VIP, 0)).toEqual(['addr', 'replace', '10.77.1.100/24', 'dev', 'eth0', 'valid_lft', 'forever', 'preferred_lft', 'forever']);
    expect(lifetimeArg(2500)).toBe('3');
    // the kernel refuses valid_lft 0 ("valid_lft is zero")
    expect(lifetimeArg(200)).toBe('1');
  });

  it('deletes and lists by device, inside a namespace when asked', () => {
    expect(addrDelArgs(VIP)).toEqual(['addr', 'del', '10.77.1.100/24', 'dev', 'eth0']);
    expect(addrShowArgs('eth0')).toEqual(['-o', '-4', 'addr', 'show', 'dev', 'eth0']);
    expect(ipArgs(undefined, ['addr'])).toEqual(['addr']);
    expect(ipArgs('ns1', ['addr'])).toEqual(['-n', 'ns1', 'addr']);
    expect(vipHost('10.77.1.100/24')).toBe('10.77.1.100');
  });
});

describe('arping command', () => {
  it('one unsolicited ARP, line-buffered when stdbuf is there, in a namespace for tests', () => {
    expect(arpingCommand(VIP, { lineBuffered: false })).toEqual({ file: 'arping', args: ['-U', '-c', '1', '-I', 'eth0', '10.77.1.100'] });
    expect(arpingCommand(VIP, { lineBuffered: true })).toEqual({ file: 'stdbuf', args: ['-oL', 'arping', '-U', '-c', '1', '-I', 'eth0', '10.77.1.100'] });
    expect(arpingCommand(VIP, { lineBuffered: true, netns: 'ns1' })).toEqual({
      file: 'ip',
      args: ['netns', 'exec', 'ns1', 'stdbuf', '-oL', 'arping', '-U', '-c', '1', '-I', 'eth0', '10.77.1.100'],
    });
  });

  it('reads arping confirmation (captured from iputils 20221126)', () => {
    expect(arpingSentCount('ARPING 10.77.1.100 from 10.77.1.100 va\nSent 1 probes (1 broadcast(s))\nReceived 0 response(s)\n')).toBe(1);
    expect(arpingSentCount('ARPING 10.77.1.100 from 10.77.1.100 va\n')).toBe(0);
  });
});

describe('errors', () => {
  it('knows the stderr of an address that is not there (iproute2 6.x, older, device gone)', () => {
    expect(isNotPresentError('Error: ipv4: Address not found.')).toBe(true);
    expect(isNotPresentError('RTNETLINK answers: Cannot assign requested address')).toBe(true);
    expect(isNotPresentError('Cannot find device "eth9"')).toBe(true);
    expect(isNotPresentError('RTNETLINK answers: Operation not permitted')).toBe(false);
  });
});

const coProcess = new SpawnClient({ log: silentLogger });
afterAll(() => coProcess.close());

describe.each<[string, Spawner]>([
  ['directly', directSpawner],
  ['through the spawn co-process', coProcess],
])('command errors, spawned %s', (_how, spawner) => {
  it('a successful command gives its stdout', async () => {
    expect(await runVipCommand('echo', ['10.77.1.100/24'], 5000, spawner)).toBe('10.77.1.100/24\n');
  });

  it('a failed command is HALO_ERR_VIP with the exact command and its stderr', async () => {
    const err = await runVipCommand(process.execPath, ['-e', 'process.stderr.write("boom on stderr"); process.exit(3)'], 5000, spawner).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HaloError);
    expect((err as HaloError).code).toBe('HALO_ERR_VIP');
    expect((err as HaloError).message).toContain(`${process.execPath} -e process.stderr.write`);
    expect((err as HaloError).message).toContain('exit 3');
    expect((err as HaloError).message).toContain('boom on stderr');
  });

  it('a missing program and a timeout say so', async () => {
    const missing = await runVipCommand('halo-no-such-program', [], 5000, spawner).catch((e: unknown) => e);
    expect((missing as HaloError).message).toContain('halo-no-such-program is not installed');
    expect(((missing as HaloError).cause as NodeJS.ErrnoException).code).toBe('ENOENT');
    const slow = await runVipCommand(process.execPath, ['-e', 'setTimeout(() => {}, 10000)'], 100, spawner).catch((e: unknown) => e);
    expect((slow as HaloError).message).toContain('timed out after 100 ms');
  });
});

/** Our children running spawn-server (the co-process), from /proc. */
function coProcesses(): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((pid) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        return state !== 'Z' && Number(ppid) === process.pid && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('spawn-server');
      } catch {
        return false; // exited meanwhile
      }
    })
    .map(Number);
}

describe('VipManager and its spawn co-process', () => {
  it('prepare() starts it, close() ends it; direct mode has none', async () => {
    const before = coProcesses();
    const m = new VipManager({ vips: [], lifetimeMs: 0, garp: { count: 1, intervalMs: 100 }, log: silentLogger });
    await m.prepare();
    const started = coProcesses().filter((p) => !before.includes(p));
    expect(started).toHaveLength(1);
    await m.close();
    expect(coProcesses().filter((p) => started.includes(p))).toEqual([]);

    const direct = new VipManager({ vips: [], lifetimeMs: 0, garp: { count: 1, intervalMs: 100 }, log: silentLogger, spawner: 'direct' });
    await direct.prepare();
    expect(coProcesses().filter((p) => !before.includes(p))).toEqual([]);
    await direct.close();
  });
});
