import { afterEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { spawnServerCommand } from './remote-spawn.js';
import type { SpawnEvent, SpawnRequest } from './spawn-server.js';
import { alive } from '../../test/helpers/scripts.js';
import { waitFor } from '../../test/helpers/wait.js';

/** The co-process on its own, spoken to line by line as remote-spawn does. */
interface Server {
  proc: ChildProcessWithoutNullStreams;
  events: SpawnEvent[];
  stderr: string[];
  send(req: SpawnRequest | string): void;
  /** Waits for the first event matching, in order of arrival. */
  next(match: (e: SpawnEvent) => boolean, what: string): Promise<SpawnEvent>;
}

const servers: Server[] = [];
const leftovers: number[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.proc.kill('SIGKILL');
  for (const pid of leftovers.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
});

function startServer(): Server {
  const { file, args } = spawnServerCommand();
  const proc = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const events: SpawnEvent[] = [];
  const stderr: string[] = [];
  let buffered = '';
  proc.stdout.setEncoding('utf8');
  proc.stdout.on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const l of lines) events.push(JSON.parse(l) as SpawnEvent);
  });
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (s: string) => stderr.push(s));
  const s: Server = {
    proc,
    events,
    stderr,
    send: (req) => proc.stdin.write(`${typeof req === 'string' ? req : JSON.stringify(req)}\n`),
    async next(match, what) {
      await waitFor(() => events.some(match), what, 15_000);
      return events.find(match) ?? expect.fail(what);
    },
  };
  servers.push(s);
  return s;
}

const ofId = (id: number) => (e: SpawnEvent) => 'id' in e && e.id === id;
const exited = (proc: ChildProcessWithoutNullStreams) => proc.exitCode !== null || proc.signalCode !== null;

describe('spawn-server', () => {
  it('says ready first, then answers a spawn with spawn, out, err, close, in that order', async () => {
    const s = startServer();
    s.send({ id: 1, op: 'spawn', file: 'sh', args: ['-c', 'echo one; echo two >&2; exit 4'] });
    await s.next((e) => e.ev === 'close', 'close of request 1');
    expect(s.events[0]).toEqual({ ev: 'ready', pid: s.proc.pid });
    const mine = s.events.filter(ofId(1));
    expect(mine.map((e) => e.ev)).toEqual(['spawn', ...mine.slice(1, -1).map((e) => e.ev), 'close']);
    expect(mine.filter((e) => e.ev === 'out').map((e) => ('data' in e ? e.data : '')).join('')).toBe('one\n');
    expect(mine.filter((e) => e.ev === 'err').map((e) => ('data' in e ? e.data : '')).join('')).toBe('two\n');
    expect(mine.at(-1)).toEqual({ id: 1, ev: 'close', code: 4, signal: null, timedOut: false });
  });

  it('a missing program is one error event, with no spawn and no close', async () => {
    const s = startServer();
    s.send({ id: 7, op: 'spawn', file: 'halo-no-such-program', args: [] });
    s.send({ id: 8, op: 'spawn', file: 'true', args: [] });
    await s.next((e) => e.ev === 'close' && 'id' in e && e.id === 8, 'the request after it');
    expect(s.events.filter(ofId(7))).toEqual([{ id: 7, ev: 'error', code: 'ENOENT', message: 'spawn halo-no-such-program ENOENT', errno: -2 }]);
  });

  it('kills on request, and on its own after timeoutMs', async () => {
    const s = startServer();
    s.send({ id: 1, op: 'spawn', file: 'sleep', args: ['5'] });
    s.send({ id: 2, op: 'spawn', file: 'sleep', args: ['5'], timeoutMs: 50 });
    const started = await s.next((e) => e.ev === 'spawn' && 'id' in e && e.id === 1, 'spawn of 1');
    if ('pid' in started) leftovers.push(started.pid);
    s.send({ id: 1, op: 'kill', signal: 'SIGINT' });
    expect(await s.next((e) => e.ev === 'close' && 'id' in e && e.id === 1, 'close of 1')).toEqual({ id: 1, ev: 'close', code: null, signal: 'SIGINT', timedOut: false });
    expect(await s.next((e) => e.ev === 'close' && 'id' in e && e.id === 2, 'close of 2')).toEqual({ id: 2, ev: 'close', code: null, signal: 'SIGKILL', timedOut: true });
  });

  it('survives garbage: a line that is not JSON is ignored, a malformed request is an EINVAL error', async () => {
    const s = startServer();
    s.send('this is not json');
    s.send({ id: 3, op: 'spawn', file: 'echo', args: [42] } as unknown as SpawnRequest);
    s.send({ id: 4, op: 'spawn', file: 'echo', args: ['still here'] });
    await s.next((e) => e.ev === 'close' && 'id' in e && e.id === 4, 'close of 4');
    expect(s.events.find(ofId(3))).toMatchObject({ ev: 'error', code: 'EINVAL' });
    expect(s.stderr.join('')).toContain('not JSON');
  });

  it('ignores SIGTERM and SIGINT (they reach the whole group), and exits on stdin EOF, killing its children', async () => {
    const s = startServer();
    s.send({ id: 1, op: 'spawn', file: 'sleep', args: ['5'] });
    const started = await s.next((e) => e.ev === 'spawn', 'spawn of the sleep');
    const pid = 'pid' in started ? started.pid : expect.fail('no pid');
    leftovers.push(pid);
    s.proc.kill('SIGTERM');
    s.proc.kill('SIGINT');
    s.send({ id: 2, op: 'spawn', file: 'echo', args: ['after the signals'] });
    await s.next((e) => e.ev === 'close' && 'id' in e && e.id === 2, 'an answer after SIGTERM and SIGINT');
    expect(alive(pid)).toBe(true);

    s.proc.stdin.end();
    await waitFor(() => exited(s.proc), 'the server to exit on EOF');
    expect(s.proc.exitCode).toBe(0);
    await waitFor(() => !alive(pid), 'its sleep to be killed');
  });
});
