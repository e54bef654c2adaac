/**
 * What the admin API reads from ElectionNodeStatus beyond the state machine's own status:
 * the peers heard in adverts, transitions, the last state change and takeover timeline,
 * the tracking behind the priority. Two ElectionNodes on an in-memory bus, fake clock
 * (the same harness as election-node.test.ts, reduced to what these fields need).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Tracker } from '../../core/election/tracking.js';
import { recordingLogger } from '../../../test/helpers/recording-logger.js';
import { ElectionNode, type VipControl } from '../election/election-node.js';
import { AdvertBus, quietVip, testCluster, TEST_CLUSTER_KEY } from '../../../test/fakes/advert-bus.js';

const vip: VipControl = quietVip();

function node(bus: AdvertBus, name: string, address: string, priority: number, tracker?: Tracker) {
  return new ElectionNode({
    cluster: testCluster({ priority }),
    nodeName: name,
    address,
    key: TEST_CLUSTER_KEY,
    log: recordingLogger(),
    clock: { now: () => performance.now() },
    vip,
    hooks: { notify: async () => undefined, drain: async () => undefined },
    makeTransport: (deliver) => bus.transport(address, deliver),
    ...(tracker !== undefined ? { tracking: () => tracker.status() } : {}),
  });
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'performance', 'Date'] });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('ElectionNodeStatus for the admin API', () => {
  it('the backup lists the master it hears, with the age of its last advert; the master hears nobody', async () => {
    const bus = new AdvertBus();
    const lb1 = node(bus, 'lb1', '10.0.0.11', 150);
    const lb2 = node(bus, 'lb2', '10.0.0.12', 100);
    await lb1.start();
    await lb2.start();
    await vi.advanceTimersByTimeAsync(1000);
    const s2 = lb2.status();
    expect(s2.peers).toHaveLength(1);
    expect(s2.peers[0]).toMatchObject({ nodeId: 'lb1', address: '10.0.0.11', priority: 150, synced: true, intervalMs: 100, shuttingDown: false });
    expect(s2.peers[0]!.lastSeenMsAgo).toBeLessThanOrEqual(100);
    expect(s2.clockAt).toBe(performance.now());
    expect(lb1.status().peers).toEqual([]);
    await vi.advanceTimersByTimeAsync(50);
    bus.silence('10.0.0.11');
    await vi.advanceTimersByTimeAsync(200);
    expect(lb2.status().peers[0]!.lastSeenMsAgo).toBeGreaterThanOrEqual(200);
  });

  it('counts transitions and keeps the last change and the takeover timeline', async () => {
    const bus = new AdvertBus();
    const lb1 = node(bus, 'lb1', '10.0.0.11', 150);
    const lb2 = node(bus, 'lb2', '10.0.0.12', 100);
    await lb1.start();
    await lb2.start();
    await vi.advanceTimersByTimeAsync(1000);
    expect(lb2.status().transitions).toEqual({ INIT: 0, BACKUP: 1, MASTER: 0, FAULT: 0 });
    expect(lb2.status().lastTakeover).toBeUndefined();
    bus.silence('10.0.0.11');
    await vi.advanceTimersByTimeAsync(1000);
    const s = lb2.status();
    expect(s.state).toBe('MASTER');
    expect(s.transitions).toEqual({ INIT: 0, BACKUP: 1, MASTER: 1, FAULT: 0 });
    expect(s.lastChange).toMatchObject({ from: 'BACKUP', state: 'MASTER', degraded: false });
    expect(s.lastChange!.cause).toMatch(/^master down: no advert for/);
    expect(Number.isFinite(Date.parse(s.lastChange!.at))).toBe(true);
    expect(s.lastTakeover).toMatchObject({ timelineFrom: 'last advert', vips: ['10.0.0.100/24'] });
    // Master_Down_Interval with the default relative skew: 3 x 100 + (150 - 100) x 100 / 256.
    expect(s.lastTakeover!.detectedMs).toBeGreaterThanOrEqual(319.5);
    expect(s.lastTakeover!.garpSentMs).toBeGreaterThanOrEqual(s.lastTakeover!.vipAddedMs!);
  });

  it('carries the tracker status when the driver passes one', async () => {
    const tracker = new Tracker(150, [{ kind: 'service', name: 'web', weight: -60 }]);
    tracker.set('service', 'web', false, 'no healthy backend');
    const lb1 = node(new AdvertBus(), 'lb1', '10.0.0.11', 150, tracker);
    expect(lb1.status().tracking?.objects[0]).toMatchObject({ name: 'web', ok: false, contribution: -60 });
    expect(node(new AdvertBus(), 'lb2', '10.0.0.12', 100).status().tracking).toBeUndefined();
  });
});
