/**
 * `halo logs` in a 2-node lab (issue 5): run inside lb2's namespace, against lb2's own
 * loopback admin API, it shows lb1's lines (relayed over the replication link) and lb2's
 * own, prefixed by node and in time order, around a SIGKILL of lb1: lb1's last line
 * before the kill, then lb2's takeover. Once with -f (as a user tails it), once as a
 * replay with --json (to check every time stamp).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { netnsSupport } from '../helpers/netns.js';
import { HALO_BIN } from '../helpers/processes.js';
import { ensureReplicatedPair, labNamespace, useLab, waitMaster } from '../helpers/lab.js';

const support = netnsSupport();
const maybe = support.ok ? describe : describe.skip;
const why = support.ok ? '' : ` (skipped: ${support.reason})`;

const TEXT_LINE = /^\d\d:\d\d:\d\d\.\d{3} (lb1|lb2) {2}(INFO |WARN |ERROR|DEBUG) \S/;

interface LogsRun {
  readonly child: ChildProcess;
  readonly lines: string[];
  readonly stderr: string[];
  waitFor(re: RegExp, what: string, timeoutMs: number): Promise<string>;
  exit(timeoutMs: number): Promise<number | null>;
}

/** `halo logs ARGS` inside the namespace (ip netns exec execs in place: the PID is halo's). */
function haloLogs(namespace: string, args: string[]): LogsRun {
  const child = spawn('ip', ['netns', 'exec', namespace, process.execPath, HALO_BIN, 'logs', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const stderr: string[] = [];
  let buf = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    buf += chunk.toString('utf8');
    const parts = buf.split('\n');
    buf = parts.pop() ?? '';
    lines.push(...parts);
  });
  child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk.toString('utf8')));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  return {
    child,
    lines,
    stderr,
    async waitFor(re, what, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const hit = lines.find((l) => re.test(l));
        if (hit !== undefined) return hit;
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`halo logs: no line for ${what} within ${timeoutMs} ms; stderr: ${stderr.join('')}; last lines:\n${lines.slice(-15).join('\n')}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    exit: (timeoutMs) =>
      Promise.race([exited, new Promise<number | null>((_, reject) => setTimeout(() => reject(new Error(`halo logs did not exit within ${timeoutMs} ms`)), timeoutMs).unref())]),
  };
}

maybe(`halo logs: the whole cluster's log from lb2, across a SIGKILL of lb1${why}`, () => {
  const lab = useLab('lg');

  it("lb1's last lines before the kill, then lb2's takeover, prefixed by node and in time order", async () => {
    await ensureReplicatedPair(lab);
    const ns = labNamespace(lab, 'lb2');
    const t0 = Date.now();
    const follow = haloLogs(ns, ['-f', '--since', String(t0)]);
    let killedAt = 0;
    try {
      // lb1 logs its `status` line; lb2 gets it over the replication link
      await lab.nodeStatus('lb1');
      await follow.waitFor(/^\S+ lb1 {2}INFO  status /, "lb1's status line, relayed to lb2", 5000);
      killedAt = Date.now();
      expect(await lab.kill('lb1')).toBe(true);
      await waitMaster(lab, 'lb2', 10_000);
      await follow.waitFor(/^\S+ lb2 {2}INFO  takeover /, "lb2's takeover line", 5000);
      follow.child.kill('SIGINT');
      expect(await follow.exit(5000)).toBe(0);
    } finally {
      if (follow.child.exitCode === null) follow.child.kill('SIGKILL');
    }
    process.stdout.write(`halo logs -f (in lb2's namespace), lb1 SIGKILLed at ${new Date(killedAt).toISOString().slice(11, 23)}:\n${follow.lines.join('\n')}\n`);
    expect(follow.lines.filter((l) => !TEXT_LINE.test(l))).toEqual([]);
    const lastOfLb1 = follow.lines.map((l) => / lb1 {2}/.test(l)).lastIndexOf(true);
    const takeover = follow.lines.findIndex((l) => /^\S+ lb2 {2}INFO  takeover /.test(l));
    expect(lastOfLb1).toBeGreaterThanOrEqual(0);
    expect(takeover).toBeGreaterThan(lastOfLb1);

    // the replay, as JSON: every line's time, in order, lb1's before the kill, lb2's takeover after
    const replay = haloLogs(ns, ['--since', String(t0), '--json']);
    expect(await replay.exit(10_000)).toBe(0);
    const entries = replay.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const times = entries.map((e) => Date.parse(String(e['timestamp'])));
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(times[0]).toBeGreaterThanOrEqual(t0);
    const lb1 = entries.filter((e) => e['node'] === 'lb1');
    expect(lb1.map((e) => e['message'])).toContain('status');
    for (const e of lb1) expect(Date.parse(String(e['timestamp']))).toBeLessThanOrEqual(killedAt);
    const mastered = entries.find((e) => e['node'] === 'lb2' && e['message'] === 'state_change' && e['state'] === 'MASTER');
    const took = entries.find((e) => e['node'] === 'lb2' && e['message'] === 'takeover');
    expect(Date.parse(String(mastered?.['timestamp']))).toBeGreaterThan(killedAt);
    expect(took?.['detected_ms']).toEqual(expect.any(Number));
  }, 60_000);
});
