import { describe, expect, it } from 'vitest';
import type { LogLine } from '../../core/replication/log-messages.js';
import { ClusterLog, clusterEventFeed, clusterLogMessage } from './cluster-log.js';
import { EventLog } from './event-log.js';

const iso = (ms: number) => new Date(ms).toISOString();
const remote = (node: string, seq: number, at: number): LogLine => ({ node, boot: 9, seq, at, level: 'warn', message: `${node}-${seq}`, fields: { k: seq } });

function setup(opts: { capacity?: number; maxNodes?: number } = {}) {
  const own = new EventLog({ capacity: 100 });
  const log = new ClusterLog({ node: 'lb2', own, boot: 500, ...opts });
  const write = (message: string, at: number) => own.tap({ level: 'info', message, timestamp: iso(at), node: 'lb2', component: 'x' });
  return { own, log, write };
}

describe('ClusterLog', () => {
  it('merges its own lines and the received ones in time order, each naming its node', () => {
    const { log, write } = setup();
    write('own-a', 1000);
    log.add([remote('lb1', 1, 900), remote('lb1', 2, 1500)]);
    write('own-b', 2000);
    log.add([remote('lb3', 1, 1000)]);
    expect(log.since(0).map((l) => `${l.at} ${l.node} ${l.message}`)).toEqual(['900 lb1 lb1-1', '1000 lb2 own-a', '1000 lb3 lb3-1', '1500 lb1 lb1-2', '2000 lb2 own-b']);
    expect(log.since(1500).map((l) => l.message)).toEqual(['lb1-2', 'own-b']);
    expect(log.ownSince(0)).toEqual([{ node: 'lb2', boot: 500, seq: 1, at: 1000, level: 'info', message: 'own-a', fields: { component: 'x' } }, expect.objectContaining({ message: 'own-b', seq: 2 })]);
  });

  it('when full, the node holding the most lines loses its oldest: a chatty node cannot push out a quiet one', () => {
    const { log } = setup({ capacity: 4 });
    log.add([remote('quiet', 1, 1)]);
    log.add(Array.from({ length: 10 }, (_, i) => remote('chatty', i + 1, 10 + i)));
    expect(log.stats()).toMatchObject({ held: 4, nodes: { quiet: 1, chatty: 3 } });
    expect(log.since(0).map((l) => l.message)).toEqual(['quiet-1', 'chatty-8', 'chatty-9', 'chatty-10']);
  });

  it('keeps at most maxNodes nodes; lines of more are dropped and counted', () => {
    const { log } = setup({ maxNodes: 2 });
    log.add([remote('a', 1, 1), remote('b', 1, 2), remote('c', 1, 3), remote('a', 2, 4)]);
    expect(log.stats()).toMatchObject({ held: 3, dropped: 1, nodes: { a: 2, b: 1 } });
  });

  it('hands own lines to onOwn and every line to subscribe', () => {
    const { log, write } = setup();
    const own: string[] = [];
    const all: string[] = [];
    log.onOwn((l) => own.push(l.message));
    const off = log.subscribe((l) => all.push(l.message));
    write('mine', 1);
    log.add([remote('lb1', 1, 2)]);
    off();
    write('later', 3);
    expect(own).toEqual(['mine', 'later']);
    expect(all).toEqual(['mine', 'lb1-1']);
  });
});

describe('clusterEventFeed (GET /events?cluster=1)', () => {
  it('replays the merged lines since the given time, ends the replay with a marker, then streams', () => {
    const { log, write } = setup();
    write('own-a', 1000);
    log.add([remote('lb1', 1, 900), remote('lb1', 2, 3000)]);
    const feed = clusterEventFeed(log);
    expect(feed.initial(950)).toEqual([clusterLogMessage(log.since(950)[0] as LogLine), clusterLogMessage(remote('lb1', 2, 3000)), { type: 'replayed', lines: 2 }]);
    expect(feed.initial(undefined)).toEqual([{ type: 'replayed', lines: 0 }]);
    const got: unknown[] = [];
    const off = feed.subscribe((m) => got.push(m));
    log.add([remote('lb3', 1, 4000)]);
    off();
    expect(got).toEqual([{ type: 'log', node: 'lb3', boot: 9, seq: 1, at: 4000, entry: { k: 1, timestamp: iso(4000), node: 'lb3', level: 'warn', message: 'lb3-1' } }]);
  });

  it("the line's own node, level, message and time win over same-named fields", () => {
    const m = clusterLogMessage({ ...remote('lb1', 1, 5), fields: { node: 'evil', level: 'error', message: 'x', timestamp: 'y', other: 1 } });
    expect(m.entry).toEqual({ node: 'lb1', level: 'warn', message: 'lb1-1', timestamp: iso(5), other: 1 });
  });
});
