/**
 * Log lines over real replication links on loopback: a master (127.0.0.1) and two
 * standbys (127.0.0.2, .3), each with its own logger, EventLog and ClusterLog as `halo
 * run` wires them. Every node ends up with every other node's lines (the standbys' through
 * the master's relay), once each, while the tables still replicate; after a takeover the
 * lines flow through the new master.
 */
import { Writable } from 'node:stream';
import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, type Logger } from '../../src/adapters/logger.js';
import { systemClock } from '../../src/adapters/system-clock.js';
import { ClusterLog } from '../../src/app/admin/cluster-log.js';
import { EventLog } from '../../src/app/admin/event-log.js';
import { ReplicationNode } from '../../src/app/replication/replication-node.js';
import { createDispatcher, type Dispatcher } from '../../src/core/service/dispatcher.js';
import { dispatcherPlane, replicaConfig, TEST_KEY } from '../helpers/replica-node.js';

interface LogNode {
  name: string;
  address: string;
  log: Logger;
  cluster: ClusterLog;
  node: ReplicationNode;
  dispatcher: Dispatcher;
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const discard = () => new Writable({ write: (_c, _e, cb) => cb() });

function logNode(name: string, address: string, port: number): LogNode {
  const config = replicaConfig(port);
  const cluster = config.cluster ?? (() => { throw new Error('no cluster'); })();
  const service = config.services[0] ?? (() => { throw new Error('no service'); })();
  const events = new EventLog();
  const log = createLogger({ level: 'info', format: 'json', node: name, stream: discard(), tap: events.tap });
  const clusterLog = new ClusterLog({ node: name, own: events, boot: Date.now() });
  const dispatcher = createDispatcher(service, { bootTag: name });
  const node = new ReplicationNode({
    cluster,
    services: config.services,
    nodeName: name,
    address,
    key: TEST_KEY,
    plane: dispatcherPlane(dispatcher),
    logger: log.child({ component: 'replication' }),
    now: () => systemClock.now(),
    onSynced: () => undefined,
    logs: { store: clusterLog, forwardDebug: () => false },
  });
  return { name, address, log, cluster: clusterLog, node, dispatcher };
}

const MASTER = { state: 'MASTER', master: undefined };
const following = (m: LogNode) => ({ state: 'BACKUP', master: { nodeId: m.name, address: m.address } });
/** The test's marker lines a node holds, as "node:event". */
const marks = (n: LogNode) => n.cluster.since(0).filter((l) => l.message.startsWith('mark_')).map((l) => `${l.node}:${l.message}`);
const has = (n: LogNode, ...want: string[]) => want.every((w) => marks(n).includes(w));

describe('cluster logs over replication links (loopback)', () => {
  const nodes: LogNode[] = [];
  afterEach(async () => {
    await Promise.all(nodes.splice(0).map((n) => n.node.stop()));
  });

  async function trio(): Promise<[LogNode, LogNode, LogNode]> {
    const port = await freePort();
    const m = logNode('m', '127.0.0.1', port);
    const s1 = logNode('s1', '127.0.0.2', port);
    const s2 = logNode('s2', '127.0.0.3', port);
    nodes.push(m, s1, s2);
    for (const n of nodes) await n.node.start();
    // lines from before the links exist travel as each link's backlog
    for (const n of nodes) n.log.info('mark_boot', { who: n.name });
    m.node.onElection(MASTER);
    s1.node.onElection(following(m));
    s2.node.onElection(following(m));
    return [m, s1, s2];
  }

  it("every node gets every other node's lines, standbys' through the master's relay, once each; tables still replicate", async () => {
    const [m, s1, s2] = await trio();
    await expect.poll(() => has(m, 's1:mark_boot', 's2:mark_boot'), { timeout: 5000 }).toBe(true);
    await expect.poll(() => has(s1, 'm:mark_boot', 's2:mark_boot'), { timeout: 5000 }).toBe(true);
    await expect.poll(() => has(s2, 'm:mark_boot', 's1:mark_boot'), { timeout: 5000 }).toBe(true);

    const t = Date.now();
    s1.log.warn('mark_live', { n: 1 });
    m.log.info('mark_live', { n: 2 });
    await expect.poll(() => has(s2, 's1:mark_live', 'm:mark_live') && has(m, 's1:mark_live') && has(s1, 'm:mark_live'), { timeout: 3000 }).toBe(true);
    const relayed = s2.cluster.since(0).find((l) => l.node === 's1' && l.message === 'mark_live');
    expect(relayed).toMatchObject({ level: 'warn', fields: { n: 1 } });
    expect(Date.now() - t).toBeLessThan(1500);

    // replication's own lines travel too (they are lines like any other), each one once
    for (const n of [m, s1, s2]) {
      const keys = n.cluster.since(0).map((l) => `${l.node}/${l.boot}/${l.seq}`);
      expect(new Set(keys).size, n.name).toBe(keys.length);
      expect(n.cluster.since(0).some((l) => l.node !== n.name && l.message.startsWith('replication_'))).toBe(true);
    }
    // the tables are unaffected: entries made on the master reach both standbys
    for (let i = 1; i <= 20; i++) m.dispatcher.choose({ clientIp: `192.0.2.${i}` }, systemClock.now());
    for (const s of [s1, s2]) await expect.poll(() => s.node.status().tables['web/persist_source']?.entries, { timeout: 5000 }).toBe(20);
    expect(s1.node.status().synced).toBe(true);
    expect(m.node.status().logs).toMatchObject({ links: 2, rejected: 0, dropped: 0 });
    expect(s2.node.status().logs).toMatchObject({ links: 1, rejected: 0, dropped: 0 });
    expect(m.node.status().logs?.relayed).toBeGreaterThan(0);
  });

  it('after a takeover the lines flow through the new master, and what the old one said before it went is kept', async () => {
    const [m, s1, s2] = await trio();
    await expect.poll(() => has(s2, 'm:mark_boot', 's1:mark_boot'), { timeout: 5000 }).toBe(true);
    m.log.error('mark_last_words');
    await expect.poll(() => has(s1, 'm:mark_last_words') && has(s2, 'm:mark_last_words'), { timeout: 3000 }).toBe(true);
    await m.node.stop();
    nodes.splice(nodes.indexOf(m), 1);
    s1.node.onElection(MASTER);
    s2.node.onElection(following(s1));
    s1.log.warn('mark_takeover');
    s2.log.info('mark_after');
    await expect.poll(() => has(s2, 's1:mark_takeover') && has(s1, 's2:mark_after'), { timeout: 5000 }).toBe(true);
    expect(has(s2, 'm:mark_last_words')).toBe(true);
    const order = s2.cluster.since(0).filter((l) => ['mark_last_words', 'mark_takeover', 'mark_after'].includes(l.message)).map((l) => l.message);
    expect(order).toEqual(['mark_last_words', 'mark_takeover', 'mark_after']);
  });
});
