import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { NotifyHooks, type NotifyHookCommands } from './notify-hooks.js';
import { recordingLogger } from '../../test/helpers/recording-logger.js';
import { readPids, useScriptDir, waitForDead } from '../../test/helpers/scripts.js';
import { waitFor } from '../../test/helpers/wait.js';

const { script, path, leave } = useScriptDir('halo-notify-hooks-');

function make(hooks: NotifyHookCommands, timeoutMs = 5000) {
  const log = recordingLogger();
  return { hooks: new NotifyHooks({ hooks, timeoutMs, node: 'lb1', log }), log };
}

/** start/end lines with nanosecond timestamps: `start MASTER 1700000000123456789`. */
function recorder(name: string, out: string, sleep = '0.1'): string {
  return script(name, `echo "start $1 $(date +%s%N)" >> "${out}"; sleep ${sleep}; echo "end $1 $(date +%s%N)" >> "${out}"`);
}

describe('NotifyHooks', () => {
  it('rapid master -> backup -> master: hooks run in that order, one at a time', async () => {
    const out = path('order.log');
    const hook = recorder('order.sh', out);
    const { hooks, log } = make({ master: [hook], backup: [hook], fault: [hook] });
    const done = [
      hooks.notify('master', 'BACKUP', 'master down'),
      hooks.notify('backup', 'MASTER', 'higher priority'),
      hooks.notify('master', 'BACKUP', 'preempt'),
      hooks.notify('fault', 'MASTER', 'interface eth0 down'),
    ];
    expect(hooks.pending).toBe(4);
    await Promise.all(done);
    expect(hooks.pending).toBe(0);
    const lines = readFileSync(out, 'utf8').trim().split('\n').map((l) => l.split(' '));
    expect(lines.map((l) => `${l[0]} ${l[1]}`)).toEqual([
      'start MASTER', 'end MASTER', 'start BACKUP', 'end BACKUP', 'start MASTER', 'end MASTER', 'start FAULT', 'end FAULT',
    ]);
    // No overlap: every hook starts after the previous one ended.
    const times = lines.map((l) => BigInt(l[2] ?? '0'));
    for (let i = 1; i < times.length; i++) expect(times[i]! >= times[i - 1]!).toBe(true);
    expect(log.lines.map((l) => [l.event, l.fields['state']])).toEqual([
      ['notify_hook', 'MASTER'], ['notify_hook', 'BACKUP'], ['notify_hook', 'MASTER'], ['notify_hook', 'FAULT'],
    ]);
  });

  it('notify() never blocks the caller: it returns while the hook is still running', async () => {
    const gate = path('gate');
    const started = path('gate-started');
    // Waits (bounded) for the test to open the gate.
    const hook = script('gate.sh', `touch "${started}"; i=0; while [ ! -e "${gate}" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done`);
    const { hooks } = make({ master: [hook] });
    let settled = false;
    const p = hooks.notify('master', 'BACKUP', 'test').then(() => {
      settled = true;
    });
    await waitFor(() => existsSync(started), 'the hook to start');
    expect(settled).toBe(false);
    expect(hooks.pending).toBe(1);
    writeFileSync(gate, '');
    await p;
    expect(settled).toBe(true);
  });

  it('passes NEW_STATE OLD_STATE NODE after the configured arguments, and HALO_* env', async () => {
    const out = path('args.out');
    const hook = script(
      'args.sh',
      `{ for a in "$@"; do echo "arg=$a"; done; echo "state=$HALO_STATE"; echo "prev=$HALO_PREVIOUS_STATE"; echo "node=$HALO_NODE"; echo "cause=$HALO_CAUSE"; echo "path=\${PATH:+set}"; } > "${out}"`,
    );
    const { hooks } = make({ master: [hook, '--vip', '10.0.0.100 x'] });
    await hooks.notify('master', 'BACKUP', 'master down: no advert for 160 ms');
    expect(readFileSync(out, 'utf8').trim().split('\n')).toEqual([
      'arg=--vip',
      'arg=10.0.0.100 x',
      'arg=MASTER',
      'arg=BACKUP',
      'arg=lb1',
      'state=MASTER',
      'prev=BACKUP',
      'node=lb1',
      'cause=master down: no advert for 160 ms',
      'path=set',
    ]);
  });

  it('the stop hook gets STOP, and from-states are upper-cased', async () => {
    const out = path('stop.out');
    const hook = script('stop.sh', `echo "$1 $2 $3" > "${out}"`);
    const { hooks, log } = make({ stop: [hook] });
    await hooks.notify('stop', 'master', 'shutdown');
    expect(readFileSync(out, 'utf8')).toBe('STOP MASTER lb1\n');
    expect(log.lines[0]).toMatchObject({ level: 'info', event: 'notify_hook', fields: { state: 'STOP', from: 'MASTER', exit_code: 0, result: 'exit 0' } });
    expect(typeof log.lines[0]?.fields['duration_ms']).toBe('number');
  });

  it('a hanging hook is killed (process group) at the timeout, logged, and the queue moves on', async () => {
    const pids = path('hang.pids');
    const out = path('after-hang.out');
    const hang = script('hang.sh', `sleep 30 & echo $$ $! > "${pids}"; wait`);
    const next = script('next.sh', `echo "$1" >> "${out}"`);
    const { hooks, log } = make({ master: [hang], backup: [next] }, 300);
    void hooks.notify('master', 'BACKUP', 'takeover');
    await hooks.notify('backup', 'MASTER', 'higher priority');
    expect(readFileSync(out, 'utf8')).toBe('BACKUP\n');
    const group = readPids(pids);
    leave(...group);
    await waitForDead(group, 'the hook and its sleep to die');
    expect(log.lines).toHaveLength(2);
    expect(log.lines[0]).toMatchObject({
      level: 'warn',
      event: 'notify_hook',
      fields: { state: 'MASTER', timed_out: true, signal: 'SIGKILL', result: 'timed out after 300 ms', command: hang },
    });
    expect(log.lines[1]).toMatchObject({ level: 'info', fields: { state: 'BACKUP', exit_code: 0 } });
  });

  it('a failing hook logs its exit code and the first 500 bytes of stderr', async () => {
    const hook = script('fail.sh', `echo "cannot reach the router" >&2; head -c 2000 /dev/zero | tr '\\0' y >&2; exit 4`);
    const { hooks, log } = make({ fault: [hook] });
    await hooks.notify('fault', 'BACKUP', 'interface eth0 down');
    expect(log.lines).toHaveLength(1);
    const line = log.lines[0]!;
    expect(line).toMatchObject({ level: 'warn', event: 'notify_hook', fields: { state: 'FAULT', exit_code: 4, result: 'exit 4', cause: 'interface eth0 down' } });
    const stderr = String(line.fields['stderr']);
    expect(stderr.startsWith('cannot reach the router\nyyy')).toBe(true);
    expect(stderr.length).toBe(500);
  });

  it('a missing program is logged and does not throw; later hooks still run', async () => {
    const out = path('after-missing.out');
    const next = script('after-missing.sh', `echo "$1" > "${out}"`);
    const { hooks, log } = make({ master: ['/nonexistent/notify-master'], backup: [next] });
    await expect(hooks.notify('master', 'BACKUP', 'x')).resolves.toBeUndefined();
    await hooks.notify('backup', 'MASTER', 'y');
    expect(readFileSync(out, 'utf8')).toBe('BACKUP\n');
    expect(log.lines[0]).toMatchObject({
      level: 'warn',
      fields: { state: 'MASTER', error: 'ENOENT', result: 'cannot run: ENOENT /nonexistent/notify-master' },
    });
  });

  it('a state with no hook runs nothing but still resolves after what was queued before it', async () => {
    const out = path('unconfigured.log');
    const hook = recorder('unconfigured.sh', out, '0.2');
    const { hooks, log } = make({ master: [hook] });
    void hooks.notify('master', 'BACKUP', 'x');
    await hooks.notify('backup', 'MASTER', 'no backup hook');
    expect(readFileSync(out, 'utf8').trim().split('\n').map((l) => l.split(' ')[0])).toEqual(['start', 'end']);
    expect(log.lines).toHaveLength(1);
  });

  it('drain() waits for the queue, including hooks enqueued while draining', async () => {
    const out = path('drain.log');
    const hook = recorder('drain.sh', out);
    const { hooks } = make({ master: [hook], stop: [hook] });
    void hooks.notify('master', 'BACKUP', 'x');
    const drained = hooks.drain(10_000);
    void hooks.notify('stop', 'MASTER', 'shutdown');
    await drained;
    expect(hooks.pending).toBe(0);
    expect(readFileSync(out, 'utf8').trim().split('\n').map((l) => `${l.split(' ')[0]} ${l.split(' ')[1]}`)).toEqual([
      'start MASTER', 'end MASTER', 'start STOP', 'end STOP',
    ]);
    await hooks.drain(10);
  });

  it('drain() gives up after its timeout and says so', async () => {
    const hook = script('slow-drain.sh', 'exec sleep 2');
    const { hooks, log } = make({ master: [hook] }, 5000);
    const p = hooks.notify('master', 'BACKUP', 'x');
    await hooks.drain(100);
    expect(hooks.pending).toBe(1);
    expect(log.lines).toContainEqual({ level: 'warn', event: 'notify_drain_timeout', fields: { pending: 1, timeout_ms: 100 } });
    await p;
  });

  it('rejects an empty command', () => {
    expect(() => make({ master: [] })).toThrow(/empty command/);
  });
});
