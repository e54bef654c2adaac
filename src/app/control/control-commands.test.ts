import { afterEach, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { silentLogger } from '../../adapters/logger.js';
import { testTempDir } from '../../../test/helpers/temp-dir.js';
import { ControlServer } from './control-socket.js';
import { failoverMain, parseDuration, reloadMain, sendControl, socketTransport, type CommandOutput } from './control-commands.js';
import type { ControlResult, FailoverOptions } from './control-types.js';

const servers: ControlServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop();
});

function io(): CommandOutput & { stdout: string; stderr: string } {
  const o = { stdout: '', stderr: '', out: (t: string) => void (o.stdout += t), err: (t: string) => void (o.stderr += t) };
  return o;
}

/** A node "lb1" listening in a fresh run dir, answering as given; the config file that finds it. */
async function node(answer: (op: string, arg: unknown) => ControlResult): Promise<{ file: string; dir: string; calls: unknown[] }> {
  const dir = testTempDir('halo-cmd-');
  const calls: unknown[] = [];
  const s = new ControlServer({
    runDir: dir,
    node: 'lb1',
    log: silentLogger,
    handlers: {
      reload: async (file?: string) => (calls.push(['reload', file]), answer('reload', file)),
      failover: async (opts: FailoverOptions) => (calls.push(['failover', opts]), answer('failover', opts)),
    },
  });
  servers.push(s);
  expect(await s.start()).toBe(true);
  const file = join(dir, 'halo.yaml');
  writeFileSync(file, `node: { name: lb1, run_dir: ${dir} }\nservices:\n  - { name: web, mode: http, listen: { port: 80 }, backends: [{ name: a, address: 10.0.0.1, port: 80 }] }\n`);
  return { file, dir, calls };
}

describe('parseDuration', () => {
  it('takes a number with a unit, or 0', () => {
    expect(['500ms', '90s', '10m', '2h', '1d', '0'].map(parseDuration)).toEqual([500, 90_000, 600_000, 7_200_000, 86_400_000, 0]);
    expect(['10', '1.5h', '-1m', 'h', '10 m', ''].map(parseDuration)).toEqual([undefined, undefined, undefined, undefined, undefined, undefined]);
  });
});

describe('halo reload', () => {
  it('asks the node the config names, with the file, and prints its answer: exit 0, or 1 when refused', async () => {
    const { file, calls } = await node(() => ({ ok: true, message: 'services added: api' }));
    const o = io();
    expect(await reloadMain(['--config', file], o)).toBe(0);
    expect(o.stdout).toBe('services added: api\n');
    expect(calls).toEqual([['reload', file]]);
    const refused = await node(() => ({ ok: false, message: 'reload refused, the config in force keeps running:\n  cluster.id: changed (7 -> 8): needs a restart' }));
    const o2 = io();
    expect(await reloadMain(['-c', refused.file], o2)).toBe(1);
    expect(o2.stderr).toContain('cluster.id: changed (7 -> 8): needs a restart');
  });

  it('a file that fails validation still names its node, which is asked (and refuses, logging why)', async () => {
    const { file, dir, calls } = await node(() => ({ ok: false, message: 'reload refused' }));
    writeFileSync(file, `node: { name: lb1, run_dir: ${dir} }\nservices:\n  - { name: web, mode: http, listen: { port: 99999 }, backends: [] }\n`);
    expect(socketTransport(file).socket).toBe(join(dir, 'lb1.sock'));
    expect(await reloadMain(['--config', file], io())).toBe(1);
    expect(calls).toHaveLength(1);
  });

  it('usage: --config is required, unknown flags are named, --help prints the help; exit 2 / 0', async () => {
    const o = io();
    expect(await reloadMain([], o)).toBe(2);
    expect(o.stderr).toMatch(/^HALO_ERR_CLI_USAGE: halo reload: --config FILE is required\nUsage: halo reload/);
    expect(await reloadMain(['--bogus'], io())).toBe(2);
    const h = io();
    expect(await reloadMain(['--help'], h)).toBe(0);
    expect(h.stdout).toMatch(/^Usage: halo reload --config FILE/);
  });

  it('no node running with that config: exit 1 with the reason', async () => {
    const dir = testTempDir('halo-cmd-');
    const file = join(dir, 'halo.yaml');
    writeFileSync(file, `node: { name: lb9, run_dir: ${dir} }\nservices:\n  - { name: web, mode: http, listen: { port: 80 }, backends: [{ name: a, address: 10.0.0.1, port: 80 }] }\n`);
    const o = io();
    expect(await reloadMain(['--config', file], o)).toBe(1);
    expect(o.stderr).toMatch(/^halo: no halo node at .*lb9\.sock/);
  });
});

describe('halo failover', () => {
  it('--hold in a duration, --release, and the answer as exit code', async () => {
    const { file, calls } = await node((op, arg) => ({ ok: (arg as FailoverOptions).release === true, message: `${op} ${JSON.stringify(arg)}` }));
    const o = io();
    expect(await failoverMain(['--config', file, '--hold', '10m'], o)).toBe(1);
    expect(await failoverMain(['--config', file, '--release'], o)).toBe(0);
    expect(await failoverMain(['--config', file], o)).toBe(1);
    expect(calls).toEqual([['failover', { holdMs: 600_000 }], ['failover', { release: true }], ['failover', {}]]);
    expect(o.stdout).toBe('failover {"release":true}\n');
  });

  it('usage errors: a bad duration, --hold with --release, a hold over 7 days', async () => {
    for (const args of [['--config', 'x', '--hold', 'soon'], ['--config', 'x', '--hold', '1m', '--release'], ['--config', 'x', '--hold', '8d'], ['--hold', '1m']]) {
      const o = io();
      expect(await failoverMain(args, o)).toBe(2);
      expect(o.stderr).toMatch(/^HALO_ERR_CLI_USAGE: /);
    }
  });

  it('sendControl: a transport that throws is exit 1 with its message', async () => {
    const o = io();
    expect(await sendControl(() => Promise.reject(new Error('boom')), { op: 'release' }, o)).toBe(1);
    expect(o.stderr).toBe('halo: boom\n');
  });
});
