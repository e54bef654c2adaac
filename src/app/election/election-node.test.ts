/**
 * The election driver with its I/O faked: adverts travel on an in-memory bus, the VIP
 * and hooks are recorders, time is vitest's fake clock. What is checked here is the
 * wiring (codec, replay window, action ordering, timeline log); the real sockets, `ip`
 * and arping are exercised by test/integration/election-*.test.ts in namespaces.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { encodeAdvert } from '../../core/election/advert.js';
import { recordingLogger, type LogLine as Line } from '../../../test/helpers/recording-logger.js';
import { ElectionNode, type HookRunner, type HookState, type VipControl } from './election-node.js';
import { AdvertBus, quietVip, testCluster, TEST_CLUSTER_KEY } from '../../../test/fakes/advert-bus.js';

const KEY = TEST_CLUSTER_KEY;

function recorders(ops: string[], timeline: string[], name: string): { vip: VipControl; hooks: HookRunner & { calls: [HookState, string][] } } {
  const calls: [HookState, string][] = [];
  const vip = quietVip((op) => {
    ops.push(op);
    timeline.push(`${name}:${op}`);
  });
  return { vip, hooks: { calls, notify: async (to, from) => void calls.push([to, from]), drain: async () => undefined } };
}

const cluster = testCluster;

function makeNode(bus: AdvertBus, name: string, address: string, priority: number, lines: Line[], over: Record<string, unknown> = {}, timeline: string[] = []) {
  const ops: string[] = [];
  const { vip, hooks } = recorders(ops, timeline, name);
  const node = new ElectionNode({
    cluster: cluster({ priority, ...over }),
    nodeName: name,
    address,
    key: KEY,
    log: recordingLogger(lines, { node: name }),
    clock: { now: () => performance.now() },
    vip,
    hooks,
    makeTransport: (deliver) => bus.transport(address, deliver),
  });
  return { node, ops, hooks };
}

/** lb1 (150) and lb2 (100) on one bus, one second after both started: lb1 is master. */
async function settledPair(over: Record<string, unknown> = {}) {
  const bus = new AdvertBus();
  const lines: Line[] = [];
  const timeline: string[] = [];
  const lb1 = makeNode(bus, 'lb1', '10.0.0.11', 150, lines, over, timeline);
  const lb2 = makeNode(bus, 'lb2', '10.0.0.12', 100, lines, over, timeline);
  await lb1.node.start();
  await lb2.node.start();
  await vi.advanceTimersByTimeAsync(1000);
  return { bus, lines, lb1, lb2, timeline };
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'performance', 'Date'] });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('ElectionNode over an in-memory bus', () => {
  it('RFC 5798 6.4.1/6.4.2: the higher priority becomes master, adds the VIP then GARPs; the other stays backup', async () => {
    const { lines, lb1, lb2 } = await settledPair();
    expect(lb1.node.state).toBe('MASTER');
    expect(lb2.node.state).toBe('BACKUP');
    expect(lb1.ops.slice(0, 2)).toEqual(['add', 'garp:became master']);
    expect(lb2.ops).toEqual([]);
    expect(lb2.node.status().master?.nodeId).toBe('lb1');
    expect(lb1.hooks.calls).toEqual([['backup', 'INIT'], ['master', 'BACKUP']]);
    const takeover = lines.find((l) => l.event === 'takeover');
    expect(takeover?.fields).toMatchObject({ node: 'lb1', state: 'MASTER', timeline_from: 'start' });
  });

  it('RFC 5798 6.4.2: a silent master is replaced after Master_Down_Interval, and the takeover line carries the timeline', async () => {
    const { bus, lines, lb2 } = await settledPair();
    // The master's process dies: its adverts stop, nothing else is said.
    for (const m of bus.members) if (m.address === '10.0.0.11') m.open = false;
    // The last advert went out at most 100 ms ago.
    await vi.advanceTimersByTimeAsync(219);
    expect(lb2.node.state).toBe('BACKUP');
    // Master_Down_Interval with the default relative skew, measured from lb1's 150:
    // 3 x 100 + (150 - 100) x 100 / 256 = 319.5 ms after the last advert (RFC: 360.9).
    await vi.advanceTimersByTimeAsync(101);
    expect(lb2.node.state).toBe('MASTER');
    expect(lb2.ops.slice(0, 2)).toEqual(['add', 'garp:became master']);
    const t = lines.find((l) => l.event === 'takeover' && l.fields['node'] === 'lb2');
    expect(t?.fields['timeline_from']).toBe('last advert');
    expect(t?.fields['detected_ms']).toBeGreaterThanOrEqual(319.5);
    expect(t?.fields['detected_ms']).toBeLessThan(321);
    expect(t?.fields['garp_sent_ms']).toBeGreaterThanOrEqual(t?.fields['vip_added_ms'] as number);
  });

  it('RFC 5798 6.4.3: shutdown sends priority 0, so the backup takes over after Skew_Time only; the VIP goes and the stop hook runs', async () => {
    const { lines, lb1, lb2 } = await settledPair();
    const stopped = lb1.node.shutdown('SIGTERM');
    // Skew_Time for priority 100 at 100 ms, relative to lb1's 150: 19.5 ms (RFC: 60.9).
    await vi.advanceTimersByTimeAsync(19);
    expect(lb2.node.state).toBe('BACKUP');
    await vi.advanceTimersByTimeAsync(2);
    expect(lb2.node.state).toBe('MASTER');
    expect(lines.find((l) => l.event === 'state_change' && l.fields['node'] === 'lb2' && l.fields['state'] === 'MASTER')?.fields['cause']).toMatch(/priority 0 from lb1/);
    await vi.advanceTimersByTimeAsync(1000);
    await stopped;
    expect(lb1.ops.at(-1)).toBe('remove');
    expect(lb1.hooks.calls.at(-1)).toEqual(['stop', 'MASTER']);
  });

  it('make-before-break: on shutdown the master keeps the VIP until handover_grace_ms after the new master announced itself', async () => {
    const { lb1, lb2, timeline } = await settledPair({ handover_grace_ms: 150 });
    timeline.length = 0;
    const stopped = lb1.node.shutdown('SIGTERM');
    await vi.advanceTimersByTimeAsync(21);
    expect(lb2.node.state).toBe('MASTER');
    expect(timeline).toEqual(['lb1:stop-garp', 'lb2:add', 'lb2:garp:became master']);
    await vi.advanceTimersByTimeAsync(140);
    expect(timeline).not.toContain('lb1:remove');
    await vi.advanceTimersByTimeAsync(20);
    expect(timeline.at(-1)).toBe('lb1:remove');
    await stopped;
  });

  it('make-before-break: a preempted master keeps the VIP for the grace; handover_grace_ms 0 releases at once', async () => {
    for (const grace of [150, 0]) {
      const bus = new AdvertBus();
      const lines: Line[] = [];
      const timeline: string[] = [];
      const lb2 = makeNode(bus, 'lb2', '10.0.0.12', 100, lines, { handover_grace_ms: grace }, timeline);
      await lb2.node.start();
      await vi.advanceTimersByTimeAsync(1000);
      expect(lb2.node.state).toBe('MASTER');
      const lb1 = makeNode(bus, 'lb1', '10.0.0.11', 150, lines, { handover_grace_ms: grace }, timeline);
      await lb1.node.start();
      // RFC 5798 6.4.2: lb1 discards the lower adverts and takes over when its Master_Down_Timer fires.
      await vi.advanceTimersByTimeAsync(400);
      expect(lb1.node.state).toBe('MASTER');
      expect(lb2.node.state).toBe('BACKUP');
      const removeAt = timeline.indexOf('lb2:remove');
      if (grace === 0) {
        expect(removeAt).toBeGreaterThanOrEqual(0);
      } else {
        expect(removeAt).toBe(-1);
        await vi.advanceTimersByTimeAsync(grace + 10);
        expect(timeline.indexOf('lb2:remove')).toBeGreaterThan(timeline.indexOf('lb1:garp:became master'));
      }
    }
  });

  it('a fault releases the VIP at once, without the grace', async () => {
    const { lb1, timeline } = await settledPair({ handover_grace_ms: 5000 });
    lb1.node.feed({ type: 'fault', reason: 'interface eth0 down' });
    await vi.advanceTimersByTimeAsync(0);
    expect(timeline.at(-1)).toBe('lb1:remove');
  });

  it('drops forged and replayed adverts by reason and does not move the VIP', async () => {
    const { bus, lines, lb1, lb2 } = await settledPair();
    const forged = encodeAdvert(
      { synced: true, shuttingDown: false, priority: 255, intervalMs: 100, clusterId: 7, nodeId: 'evil', address: '10.0.0.66', bootEpoch: 1n, sequence: 1n },
      Buffer.from('not-the-cluster-key-at-all-00000'),
    );
    const captured = bus.wire.find((b) => b.includes(Buffer.from('lb1')));
    expect(captured).toBeDefined();
    for (let i = 0; i < 5; i++) {
      bus.inject(forged, '10.0.0.66');
      bus.inject(captured!, '10.0.0.66');
      await vi.advanceTimersByTimeAsync(50);
    }
    expect(lb1.node.state).toBe('MASTER');
    expect(lb2.node.state).toBe('BACKUP');
    expect(lb1.node.drops.get('hmac')).toBe(5);
    expect(lb2.node.drops.get('hmac')).toBe(5);
    expect(lb2.node.drops.get('stale')).toBe(5);
    expect(lb1.ops.filter((o) => o === 'add')).toHaveLength(1);
    // Floods are throttled: one line for the first drop of each kind, not one per packet.
    expect(lines.filter((l) => l.event === 'advert_dropped' && l.fields['node'] === 'lb2').length).toBeLessThanOrEqual(2);
  });

  it('logs a foreign cluster on our group once, naming the sender', async () => {
    const bus = new AdvertBus();
    const lines: Line[] = [];
    const lb1 = makeNode(bus, 'lb1', '10.0.0.11', 150, lines);
    await lb1.node.start();
    const other = encodeAdvert({ synced: true, shuttingDown: false, priority: 100, intervalMs: 100, clusterId: 8, nodeId: 'x1', address: '10.0.0.77', bootEpoch: 1n, sequence: 1n }, KEY);
    for (let i = 0; i < 3; i++) bus.inject(other, '10.0.0.77');
    const foreign = lines.filter((l) => l.event === 'foreign_cluster');
    expect(foreign).toHaveLength(1);
    expect(foreign[0]?.fields).toMatchObject({ sender: '10.0.0.77', claimed_node: 'x1', cluster_id: 8 });
    expect(lb1.node.drops.get('cluster')).toBe(3);
  });

  it('puts back a VIP deleted behind its back, only while master', async () => {
    const bus = new AdvertBus();
    const lines: Line[] = [];
    const lb1 = makeNode(bus, 'lb1', '10.0.0.11', 150, lines);
    await lb1.node.start();
    lb1.node.vipDeleted('10.0.0.100', 'eth0');
    await vi.advanceTimersByTimeAsync(0);
    expect(lb1.ops).toEqual([]);
    await vi.advanceTimersByTimeAsync(1000);
    expect(lb1.node.state).toBe('MASTER');
    const before = lb1.ops.length;
    lb1.node.vipDeleted('10.0.0.100', 'eth0');
    await vi.advanceTimersByTimeAsync(0);
    expect(lb1.ops.slice(before)).toEqual(['add', 'garp:vip restored']);
    expect(lines.some((l) => l.event === 'vip_restored')).toBe(true);
  });

  it('refreshes GARP and renews the VIP lifetime while master, and stops when it steps down', async () => {
    const bus = new AdvertBus();
    const lines: Line[] = [];
    const lb1 = makeNode(bus, 'lb1', '10.0.0.11', 150, lines, { garp: { refresh_ms: 1000 }, vip_lifetime_ms: 3000 });
    await lb1.node.start();
    await vi.advanceTimersByTimeAsync(3500);
    expect(lb1.ops.filter((o) => o === 'garp:refresh').length).toBeGreaterThanOrEqual(2);
    expect(lb1.ops.filter((o) => o === 'renew').length).toBeGreaterThanOrEqual(2);
    lb1.node.feed({ type: 'fault', reason: 'interface eth0 down' });
    await vi.advanceTimersByTimeAsync(0);
    expect(lb1.ops.at(-1)).toBe('remove');
    const count = lb1.ops.length;
    await vi.advanceTimersByTimeAsync(5000);
    expect(lb1.ops.length).toBe(count);
  });
});
