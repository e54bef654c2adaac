import { describe, expect, it } from 'vitest';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { describeResult, runCommand } from './run-command.js';
import { alive, readPids, useScriptDir, waitForDead, waitForPidFile } from '../../test/helpers/scripts.js';

const { script, path, leave } = useScriptDir('halo-run-command-');

describe('runCommand', () => {
  it('exit 0 is ok, exit 1 is not', async () => {
    const t = await runCommand(['/bin/true'], { timeoutMs: 5000 });
    expect(t).toMatchObject({ ok: true, code: 0, signal: null, timedOut: false, spawnError: undefined });
    const f = await runCommand(['/bin/false'], { timeoutMs: 5000 });
    expect(f).toMatchObject({ ok: false, code: 1, timedOut: false });
    expect(describeResult(f, ['/bin/false'], 5000)).toBe('exit 1');
  });

  it('passes arguments as they are, without a shell', async () => {
    const out = path('args.out');
    const s = script('args.sh', `for a in "$@"; do echo "[$a]"; done > "${out}"`);
    const r = await runCommand([s, 'a b', '$HOME', '*', ''], { timeoutMs: 5000 });
    expect(r.ok).toBe(true);
    expect(readFileSync(out, 'utf8')).toBe('[a b]\n[$HOME]\n[*]\n[]\n');
  });

  it('a missing program is ENOENT, a non-executable file EACCES, and neither throws', async () => {
    const missing = await runCommand(['/nonexistent/halo-check'], { timeoutMs: 5000 });
    expect(missing).toMatchObject({ ok: false, spawnError: 'ENOENT', code: null });
    expect(describeResult(missing, ['/nonexistent/halo-check'], 5000)).toBe('cannot run: ENOENT /nonexistent/halo-check');
    const plain = path('not-executable');
    writeFileSync(plain, '#!/bin/sh\nexit 0\n');
    chmodSync(plain, 0o644);
    const denied = await runCommand([plain], { timeoutMs: 5000 });
    expect(denied).toMatchObject({ ok: false, spawnError: 'EACCES' });
    const empty = await runCommand([], { timeoutMs: 5000 });
    expect(empty).toMatchObject({ ok: false, spawnError: 'EINVAL' });
  });

  it('a program killed by a signal fails with that signal', async () => {
    const s = script('self-kill.sh', 'kill -TERM $$');
    const r = await runCommand([s], { timeoutMs: 5000 });
    expect(r).toMatchObject({ ok: false, signal: 'SIGTERM', timedOut: false });
    expect(describeResult(r, [s], 5000)).toBe('killed by SIGTERM');
  });

  it('a timeout kills the whole process group, grandchildren included', async () => {
    const pids = path('timeout.pids');
    const s = script('hang.sh', `sleep 30 & echo $$ $! > "${pids}"; wait`);
    const r = await runCommand([s], { timeoutMs: 300 });
    expect(r).toMatchObject({ ok: false, timedOut: true, signal: 'SIGKILL' });
    expect(describeResult(r, [s], 300)).toBe('timed out after 300 ms');
    const group = readPids(pids);
    leave(...group);
    await waitForDead(group, 'the script and its sleep to die');
  });

  it('an abort kills the run like a timeout does', async () => {
    const pidFile = path('abort.pid');
    const s = script('abort.sh', `echo $$ > "${pidFile}"; exec sleep 30`);
    const ac = new AbortController();
    const running = runCommand([s], { timeoutMs: 30_000, signal: ac.signal });
    const pid = await waitForPidFile(pidFile, 'the script to start');
    leave(pid);
    ac.abort();
    const r = await running;
    expect(r).toMatchObject({ ok: false, aborted: true, timedOut: false });
    await waitForDead([pid], 'the aborted script to die');
  });

  it('keeps the first stderrBytes of stderr, and none unless asked', async () => {
    const s = script('noisy.sh', `printf 'first line\\n' >&2; head -c 3000 /dev/zero | tr '\\0' x >&2; exit 3`);
    const r = await runCommand([s], { timeoutMs: 5000, stderrBytes: 500 });
    expect(r.code).toBe(3);
    expect(r.stderr.length).toBe(500);
    expect(r.stderr.startsWith('first line\nxxx')).toBe(true);
    const quiet = await runCommand([s], { timeoutMs: 5000 });
    expect(quiet.stderr).toBe('');
  });

  it('returns on exit even if a child it left behind keeps stderr open, and leaves that child alone', async () => {
    const pidFile = path('daemon.pid');
    // The background sleep inherits stderr and outlives the script, like a daemon a hook starts.
    const s = script('daemon.sh', `sleep 20 & echo $! > "${pidFile}"; echo started >&2; exit 0`);
    const r = await runCommand([s], { timeoutMs: 10_000, stderrBytes: 500 });
    expect(r).toMatchObject({ ok: true, code: 0, timedOut: false });
    expect(r.stderr).toBe('started\n');
    const daemon = await waitForPidFile(pidFile, 'the background sleep pid');
    leave(daemon);
    expect(alive(daemon)).toBe(true);
    process.kill(daemon, 'SIGKILL');
    await waitForDead([daemon], 'the background sleep to be killed');
  });

  it('uses the env it is given', async () => {
    const out = path('env.out');
    const s = script('env.sh', `printf '%s' "$HALO_TEST_VALUE" > "${out}"`);
    const r = await runCommand([s], { timeoutMs: 5000, env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HALO_TEST_VALUE: 'v 1' } });
    expect(r.ok).toBe(true);
    expect(readFileSync(out, 'utf8')).toBe('v 1');
  });
});
