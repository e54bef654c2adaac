/**
 * The `ip -batch` channel against the real kernel, in a namespace of its own (root only;
 * skipped with the reason otherwise).
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IpBatch, IpBatchLost } from '../../src/adapters/ip-batch.js';
import { createNetns, netnsSupport, type Netns } from '../helpers/netns.js';

const support = netnsSupport();
if (!support.ok) console.log(`skipping ip-batch integration tests: ${support.reason}`);

describe.skipIf(!support.ok)(`ip batch channel${support.ok ? '' : ` (skipped: ${support.reason})`}`, () => {
  let ns: Netns | undefined;
  const channels: IpBatch[] = [];
  const name = (): string => ns?.name ?? expect.fail('namespace not created');
  const addrs = async (): Promise<string> => (ns ? ns.ip('-o', '-4', 'addr', 'show', 'dev', 'b0') : '');
  const channel = (timeoutMs = 3000): IpBatch => {
    const c = new IpBatch({ netns: name(), timeoutMs });
    channels.push(c);
    return c;
  };

  beforeAll(async () => {
    ns = await createNetns('ipb');
    await ns.ip('link', 'add', 'b0', 'type', 'veth', 'peer', 'name', 'b1');
    await ns.ip('link', 'set', 'b0', 'up');
    await ns.ip('link', 'set', 'b1', 'up');
  });

  afterAll(async () => {
    for (const c of channels) c.close();
    await ns?.destroy();
  });

  it('adds, replaces and deletes addresses, in order, through one process', async () => {
    const c = channel();
    expect(c.start()).toBe(true);
    const results = await Promise.all([
      c.run(['addr', 'replace', '10.215.0.1/24', 'dev', 'b0', 'valid_lft', '30', 'preferred_lft', '30']),
      c.run(['addr', 'replace', '10.215.0.2/24', 'dev', 'b0']),
      c.run(['addr', 'del', '10.215.0.2/24', 'dev', 'b0']),
    ]);
    expect(results.map((r) => r.ok)).toEqual([true, true, true]);
    const shown = await addrs();
    expect(shown).toContain('10.215.0.1/24');
    expect(shown).toMatch(/valid_lft (29|30)sec/);
    expect(shown).not.toContain('10.215.0.2/24');
  });

  it('reports a failed command with its error and keeps going', async () => {
    const c = channel();
    const bad = await c.run(['addr', 'del', '10.215.0.99/24', 'dev', 'b0']);
    expect(bad.ok).toBe(false);
    expect(bad.output).toMatch(/Cannot assign requested address|Address not found/);
    const noDev = await c.run(['addr', 'replace', '10.215.0.3/24', 'dev', 'nosuchdev']);
    expect(noDev.ok).toBe(false);
    expect(noDev.output).toMatch(/nosuchdev|Cannot find device/);
    const good = await c.run(['addr', 'replace', '10.215.0.4/24', 'dev', 'b0']);
    expect(good.ok).toBe(true);
    expect(await addrs()).toContain('10.215.0.4/24');
  });

  it('fails the commands in flight with IpBatchLost when the process dies, then starts afresh', async () => {
    const c = channel();
    await c.run(['addr', 'replace', '10.215.0.5/24', 'dev', 'b0']);
    const pids = execFileSync('ip', ['netns', 'pids', name()], { encoding: 'utf8', timeout: 5000 }).split(/\s+/).filter(Boolean);
    expect(pids.length).toBeGreaterThan(0);
    for (const pid of pids) process.kill(Number(pid), 'SIGKILL');
    const lost = await c.run(['addr', 'replace', '10.215.0.6/24', 'dev', 'b0']).then(
      () => 'answered',
      (err: unknown) => err,
    );
    // killed before or after our write: either the write or the exit ends it
    expect(lost).toBeInstanceOf(IpBatchLost);
    expect(c.running).toBe(false);
    // restarts are spaced by a second so a broken install does not fork in a loop
    await new Promise((r) => setTimeout(r, 1100));
    const again = await c.run(['addr', 'replace', '10.215.0.6/24', 'dev', 'b0']);
    expect(again.ok).toBe(true);
  });

  it('rejects a command with a newline instead of running two', async () => {
    const c = channel();
    await expect(c.run(['addr', 'replace', '10.215.0.7/24\naddr flush dev b0', 'dev', 'b0'])).rejects.toBeInstanceOf(IpBatchLost);
  });
});
