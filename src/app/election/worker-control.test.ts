/**
 * The operator's requests in the election worker (worker-control.ts), driven against
 * real ElectionNodes on an in-memory advert bus with fake timers: a planned handover
 * (make-before-break, then the hold), its release, and the live settings of a reload.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ClusterConfig } from '../../config/cluster-schema.js';
import { Tracker } from '../../core/election/tracking.js';
import { NotifyHooks } from '../../adapters/notify-hooks.js';
import { recordingLogger, type LogLine } from '../../../test/helpers/recording-logger.js';
import { ElectionNode, type VipControl } from './election-node.js';
import { AdvertBus, quietVip, testCluster, TEST_CLUSTER_KEY } from '../../../test/fakes/advert-bus.js';
import { formatDuration, handleControl, trackWeights, type WorkerControlDeps } from './worker-control.js';

const KEY = TEST_CLUSTER_KEY;

const cluster = (priority: number, over: Record<string, unknown> = {}): ClusterConfig => testCluster({ priority, ...over });

function member(bus: AdvertBus, name: string, address: string, priority: number, lines: LogLine[], timeline: string[]): WorkerControlDeps {
  const vip: VipControl = quietVip((op) => {
    if (op === 'add' || op === 'remove') timeline.push(`${name}:${op}`);
  });
  const log = recordingLogger(lines, { node: name });
  const c = cluster(priority);
  const hooks = new NotifyHooks({ hooks: {}, timeoutMs: 1000, node: name, log });
  const node = new ElectionNode({ cluster: c, nodeName: name, address, key: KEY, log, clock: { now: () => performance.now() }, vip, hooks, makeTransport: (deliver) => bus.transport(address, deliver) });
  const tracker = new Tracker(c.priority, [...trackWeights(c), { kind: 'liveness', name: 'data-plane', weight: 0 }]);
  return { node, tracker, hooks, log, clock: { now: () => performance.now() }, nodeName: name, cluster: c };
}

async function pair() {
  const bus = new AdvertBus();
  const lines: LogLine[] = [];
  const timeline: string[] = [];
  const lb1 = member(bus, 'lb1', '10.0.0.11', 150, lines, timeline);
  const lb2 = member(bus, 'lb2', '10.0.0.12', 100, lines, timeline);
  await lb1.node.start();
  await lb2.node.start();
  await vi.advanceTimersByTimeAsync(1000);
  expect(lb1.node.state).toBe('MASTER');
  return { bus, lines, timeline, lb1, lb2 };
}

/** Run a request while fake time moves on, as the worker's event loop would. */
async function request(deps: WorkerControlDeps, req: Parameters<typeof handleControl>[0], advanceMs = 2000) {
  const p = handleControl(req, deps);
  await vi.advanceTimersByTimeAsync(advanceMs);
  return p;
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'performance', 'Date'] });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('failover: a planned handover from the master', () => {
  it('lb2 takes over on the priority 0, lb1 keeps the VIP until lb2 has added it (make-before-break), then holds', async () => {
    const { lines, timeline, lb1, lb2 } = await pair();
    timeline.length = 0;
    const r = await request(lb1, { op: 'failover', holdMs: 600_000 });
    expect(r.ok).toBe(true);
    expect(r.message).toMatch(/^lb1 handed over to lb2 \(priority 100\) in \d+ ms; lb1 is BACKUP and keeps out of preemption \(advertising priority 1\) for 10m/);
    expect(lb2.node.state).toBe('MASTER');
    expect(timeline.indexOf('lb2:add')).toBeGreaterThanOrEqual(0);
    expect(timeline.indexOf('lb1:remove')).toBeGreaterThan(timeline.indexOf('lb2:add'));
    const cause = lines.find((l) => l.event === 'state_change' && l.fields['node'] === 'lb2' && l.fields['state'] === 'MASTER')?.fields['cause'];
    expect(cause).toBe('priority 0 from lb1');
    // Held: a minute of lb2's adverts at priority 100 < 150, and lb1 stays backup.
    await vi.advanceTimersByTimeAsync(60_000);
    expect(lb1.node.state).toBe('BACKUP');
    expect(lb1.node.status()).toMatchObject({ priority: 1, hold: { cause: 'operator: halo failover, hold 10m' } });
  });

  it('--release: the hold ends and lb1 preempts back by the usual rules, the cause naming the release', async () => {
    const { lines, lb1, lb2 } = await pair();
    await request(lb1, { op: 'failover', holdMs: 600_000 });
    const r = await request(lb1, { op: 'release' }, 1000);
    expect(r).toMatchObject({ ok: true });
    expect(r.message).toMatch(/^lb1: hold released, advertising priority 150 again \(BACKUP\); it preempts lb2/);
    expect(lb1.node.state).toBe('MASTER');
    expect(lb2.node.state).toBe('BACKUP');
    expect(lines.some((l) => l.event === 'hold_released' && l.fields['node'] === 'lb1')).toBe(true);
    const cause = lines.filter((l) => l.event === 'state_change' && l.fields['node'] === 'lb1' && l.fields['state'] === 'MASTER').at(-1)?.fields['cause'];
    expect(cause).toBe('preempt: higher priority 150 > 100 of lb2 (released by the operator (halo failover --release))');
    expect(await request(lb1, { op: 'release' }, 10)).toEqual({ ok: true, message: 'lb1 is not held: nothing to release' });
  });

  it('on a backup: refused, naming the master', async () => {
    const { lb2 } = await pair();
    expect(await request(lb2, { op: 'failover', holdMs: 1000 }, 10)).toEqual({ ok: false, message: 'lb2 is BACKUP, not MASTER; the master is lb1 (10.0.0.11): run halo failover on the master' });
    expect(lb2.node.state).toBe('BACKUP');
  });

  it('with nobody to take over: not ok, and the node is master again (as a held last resort)', async () => {
    const bus = new AdvertBus();
    const lb1 = member(bus, 'lb1', '10.0.0.11', 150, [], []);
    await lb1.node.start();
    await vi.advanceTimersByTimeAsync(1000);
    const r = await request(lb1, { op: 'failover', holdMs: 60_000 });
    expect(r.ok).toBe(false);
    expect(r.message).toMatch(/^no other node took over within \d+ ms: lb1 is MASTER again \(advertising priority 1 while held\)/);
    expect(lb1.node.status()).toMatchObject({ state: 'MASTER', priority: 1 });
  });
});

describe('reconfigure: live election settings from a reload', () => {
  it('a backup whose priority a reload raises above the master preempts it, logged with the reload as cause; the master does not flip on its own', async () => {
    const { lines, lb1, lb2 } = await pair();
    const r = await request(lb2, { op: 'reconfigure', cluster: cluster(200) }, 1000);
    expect(r).toEqual({ ok: true, message: 'election: priority 100 -> 200 applied; BACKUP at priority 200' });
    expect(lb2.node.state).toBe('MASTER');
    expect(lb1.node.state).toBe('BACKUP');
    const cause = lines.find((l) => l.event === 'state_change' && l.fields['node'] === 'lb2' && l.fields['state'] === 'MASTER')?.fields['cause'];
    expect(cause).toBe('preempt: higher priority 200 > 150 of lb1 (reload: priority 100 -> 200)');
  });

  it('a lower priority that still wins, preempt off and new hooks: no state change at all', async () => {
    const { lines, lb1, lb2 } = await pair();
    const changes = lines.filter((l) => l.event === 'state_change').length;
    const r = await request(lb1, { op: 'reconfigure', cluster: cluster(120, { preempt: false, notify: { master: ['/bin/true'] } }) }, 2000);
    expect(r).toEqual({ ok: true, message: 'election: priority 150 -> 120, preempt true -> false applied; MASTER at priority 120' });
    expect(lines.filter((l) => l.event === 'state_change')).toHaveLength(changes);
    expect(lb1.node.status()).toMatchObject({ state: 'MASTER', configuredPriority: 120, priority: 120 });
    expect(lb2.node.state).toBe('BACKUP');
  });

  it('a tracked object the running config does not have is refused with the reason', async () => {
    const { lb1 } = await pair();
    const r = await request(lb1, { op: 'reconfigure', cluster: cluster(150, { track: { scripts: [{ name: 'chk', command: ['/bin/true'], weight: -10 }] } }) }, 10);
    expect(r).toEqual({ ok: false, message: 'election: script chk is not tracked (tracking a new object needs a restart)' });
  });
});

describe('formatDuration', () => {
  it('says the largest whole unit', () => {
    expect([3_600_000, 600_000, 90_000, 1500].map(formatDuration)).toEqual(['1h', '10m', '90s', '1500ms']);
  });
});
