import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { recordingLogger, type LogLine } from '../../../test/helpers/recording-logger.js';
import { testTempDir } from '../../../test/helpers/temp-dir.js';
import { ControlServer, controlPaths, controlRequest, parseRequest } from './control-socket.js';
import type { ControlResult, FailoverOptions } from './control-types.js';

const servers: ControlServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop();
});

function server(runDir: string, lines: LogLine[] = [], calls: unknown[] = []): ControlServer {
  const s = new ControlServer({
    runDir,
    node: 'lb1',
    log: recordingLogger(lines),
    handlers: {
      reload: async (file?: string): Promise<ControlResult> => {
        calls.push(['reload', file]);
        return { ok: true, message: 'reloaded' };
      },
      failover: async (opts: FailoverOptions): Promise<ControlResult> => {
        calls.push(['failover', opts]);
        return { ok: false, message: 'lb1 is BACKUP' };
      },
    },
  });
  servers.push(s);
  return s;
}

describe('ControlServer', () => {
  it('answers reload, failover and release on <run_dir>/<node>.sock (mode 0600) and writes the pid file', async () => {
    const dir = join(testTempDir('halo-ctl-'), 'run');
    const calls: unknown[] = [];
    const s = server(dir, [], calls);
    expect(await s.start()).toBe(true);
    expect(s.paths).toEqual(controlPaths(dir, 'lb1'));
    expect(statSync(s.paths.socket).mode & 0o777).toBe(0o600);
    expect(readFileSync(s.paths.pidFile, 'utf8')).toBe(`${process.pid}\n`);
    expect(await controlRequest(s.paths.socket, { op: 'reload', configFile: '/etc/halo.yaml' }, 2000)).toEqual({ ok: true, message: 'reloaded' });
    expect(await controlRequest(s.paths.socket, { op: 'failover', holdMs: 5000 }, 2000)).toEqual({ ok: false, message: 'lb1 is BACKUP' });
    await controlRequest(s.paths.socket, { op: 'release' }, 2000);
    await controlRequest(s.paths.socket, { op: 'failover' }, 2000);
    expect(calls).toEqual([['reload', '/etc/halo.yaml'], ['failover', { holdMs: 5000 }], ['failover', { release: true }], ['failover', {}]]);
    await s.stop();
    expect(existsSync(s.paths.socket)).toBe(false);
    expect(existsSync(s.paths.pidFile)).toBe(false);
  });

  it('replaces a crashed run’s leftover socket; leaves a live one alone and runs without (logged)', async () => {
    const dir = testTempDir('halo-ctl-');
    const { socket } = controlPaths(dir, 'lb1');
    // A leftover nobody answers on (a SIGKILLed run's socket refuses connections the same way).
    writeFileSync(socket, '');
    const first = server(dir);
    expect(await first.start()).toBe(true);
    const lines: LogLine[] = [];
    const second = server(dir, lines);
    expect(await second.start()).toBe(false);
    expect(lines.find((l) => l.event === 'control_unavailable')?.fields['cause']).toMatch(/^another running node listens on /);
    expect(await controlRequest(socket, { op: 'reload' }, 2000)).toEqual({ ok: true, message: 'reloaded' });
    // The second one's stop must not remove the first one's files.
    await second.stop();
    expect(existsSync(socket)).toBe(true);
  });

  it('a request that is not one gets a bad request answer', async () => {
    const s = server(testTempDir('halo-ctl-'));
    await s.start();
    expect(parseRequest('{"op":"failover","holdMs":-1}')).toMatch(/^bad request/);
    expect(parseRequest('nope')).toBe('bad request: not JSON');
    expect(parseRequest(undefined)).toMatch(/one JSON line/);
    expect(parseRequest('{"op":"reload","configFile":"/x"}')).toEqual({ op: 'reload', configFile: '/x' });
    expect(await controlRequest(s.paths.socket, { op: 'explode' } as never, 2000)).toMatchObject({ ok: false, message: expect.stringMatching(/^bad request: expected/) as unknown });
  });

  it('unreachable nodes are explained', async () => {
    const dir = testTempDir('halo-ctl-');
    await expect(controlRequest(join(dir, 'none.sock'), { op: 'reload' }, 1000)).rejects.toThrow(/no halo node at .*none\.sock: is `halo run` running with this config/);
  });
});
