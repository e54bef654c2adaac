/**
 * The election against a hostile or degraded network, in the lab's namespaces: forged,
 * replayed, foreign-cluster and truncated adverts from a third namespace (a replay of the
 * gone master's higher-priority advert included), unicast peers with multicast blocked by
 * iptables, and a data plane under full load (the election runs in its own worker, so
 * wrk against the VIP must not cause a takeover).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import type { Lab } from '../../src/app/lab/index.js';
import { encodeAdvert } from '../../src/core/election/advert.js';
import { netnsSupport } from '../helpers/netns.js';
import { startNodeInNetns, type NodeInNetns } from '../helpers/netns-node.js';
import { labLogEvents, labNamespace, measureFailover, useLab, waitMaster } from '../helpers/lab.js';

const run = promisify(execFile);
const support = netnsSupport();
const maybe = support.ok ? describe : describe.skip;
const why = support.ok ? '' : ` (skipped: ${support.reason})`;

const GROUP = '239.255.72.76';
const PORT = 7946;

/** Every state change so far, as "lb2 BACKUP->MASTER (cause)", so a failure names them. */
function stateChanges(lab: Lab): string[] {
  return ['lb1', 'lb2'].flatMap((n) =>
    labLogEvents(lab, n)
      .filter((e) => e['message'] === 'state_change')
      .map((e) => `${n} ${String(e['from'])}->${String(e['state'])} (${String(e['cause'])})`),
  );
}

/**
 * A process in the client namespace on the advert group: `capture` returns (base64) the
 * first advert heard from `node` after the call, `send` multicasts a datagram `count`
 * times, 10 ms apart.
 */
function attacker(lab: Lab): Promise<NodeInNetns> {
  return startNodeInNetns(
    labNamespace(lab, 'client'),
    `
    import dgram from 'node:dgram';
    const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    await new Promise((r) => sock.bind(${PORT}, r));
    sock.addMembership('${GROUP}', '10.77.0.31');
    sock.setMulticastInterface('10.77.0.31');
    let wanted;
    let captured;
    sock.on('message', (m) => { if (wanted && !captured && m.includes(Buffer.from(wanted))) captured = m; });
    serve(async (cmd) => {
      if (cmd.op === 'capture') {
        wanted = cmd.node;
        captured = undefined;
        for (let i = 0; i < 100 && !captured; i++) await new Promise((r) => setTimeout(r, 20));
        if (!captured) throw new Error('no advert from ' + cmd.node + ' heard in 2 s');
        return captured.toString('base64');
      }
      if (cmd.op === 'send') {
        const buf = Buffer.from(cmd.b64, 'base64');
        for (let i = 0; i < cmd.count; i++) {
          sock.send(buf, ${PORT}, '${GROUP}');
          await new Promise((r) => setTimeout(r, 10));
        }
        return cmd.count;
      }
    });
    `,
  );
}

type Drops = Record<string, number>;

/** The node's advert drop counters by reason (its SIGUSR2 status line). */
async function drops(lab: Lab, node: string): Promise<Drops> {
  return ((await lab.nodeStatus(node)).election?.['drops'] ?? {}) as Drops;
}

function delta(after: Drops, before: Drops): Drops {
  return Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)]));
}

maybe(`election under attack: forged and replayed adverts${why}`, () => {
  const lab = useLab('fa');

  it('priority 255 signed with a wrong key, and a captured valid advert replayed: no VIP move, drops counted', async () => {
    await waitMaster(lab, 'lb1');
    const changesBefore = stateChanges(lab);
    const mallory = await attacker(lab);
    try {
      const captured = await mallory.ask<string>({ op: 'capture', node: 'lb1' }, 5000);
      const forged = encodeAdvert(
        { synced: true, shuttingDown: false, priority: 255, intervalMs: 50, clusterId: lab.state().clusterId, nodeId: 'lb9', address: '10.77.0.31', bootEpoch: BigInt(Date.now()), sequence: 1n },
        Buffer.from('this-is-not-the-cluster-key-0000'),
      );
      await mallory.ask({ op: 'send', b64: forged.toString('base64'), count: 50 }, 10_000);
      // Wait a few adverts so the capture is surely older than what lb2 has seen.
      await new Promise((r) => setTimeout(r, 300));
      await mallory.ask({ op: 'send', b64: captured, count: 50 }, 10_000);
    } finally {
      await mallory.stop();
    }
    await new Promise((r) => setTimeout(r, 500));
    const s = await waitMaster(lab, 'lb1');
    expect(s.nodes.find((n) => n.name === 'lb2')?.state).toBe('BACKUP');
    expect(stateChanges(lab)).toEqual(changesBefore);
    const drops = labLogEvents(lab, 'lb2').filter((e) => e['message'] === 'advert_dropped');
    expect(drops.map((e) => e['reason'])).toEqual(expect.arrayContaining(['hmac', 'stale']));
    const lb1Drops = labLogEvents(lab, 'lb1').filter((e) => e['message'] === 'advert_dropped');
    expect(lb1Drops.map((e) => e['reason'])).toEqual(expect.arrayContaining(['hmac', 'own_node_id']));
  });

  it('another cluster id at priority 255 and truncated adverts: no VIP move, each counted under its reason on master and backup', async () => {
    await waitMaster(lab, 'lb1');
    const changesBefore = stateChanges(lab);
    const before = { lb1: await drops(lab, 'lb1'), lb2: await drops(lab, 'lb2') };
    const mallory = await attacker(lab);
    const N = 20;
    try {
      const captured = Buffer.from(await mallory.ask<string>({ op: 'capture', node: 'lb1' }, 5000), 'base64');
      // the cluster id is checked before the HMAC, so the key does not matter; the real one is not needed
      const foreign = encodeAdvert(
        { synced: true, shuttingDown: false, priority: 255, intervalMs: 50, clusterId: (lab.state().clusterId + 1) >>> 0, nodeId: 'lb9', address: '10.77.0.31', bootEpoch: 1n, sequence: 1n },
        Buffer.from('any-key-at-all-for-another-cluster'),
      );
      await mallory.ask({ op: 'send', b64: foreign.toString('base64'), count: N }, 10_000);
      // a genuine advert cut short: before the HMAC's end, inside the fixed header, before the magic
      for (const cut of [captured.length - 1, 20, 3]) {
        await mallory.ask({ op: 'send', b64: captured.subarray(0, cut).toString('base64'), count: N }, 10_000);
      }
    } finally {
      await mallory.stop();
    }
    await new Promise((r) => setTimeout(r, 300));
    const s = await waitMaster(lab, 'lb1');
    expect(s.nodes.find((n) => n.name === 'lb2')?.state).toBe('BACKUP');
    expect(stateChanges(lab)).toEqual(changesBefore);
    for (const node of ['lb1', 'lb2'] as const) {
      const d = delta(await drops(lab, node), before[node]);
      // multicast on a lab bridge loses nothing in practice; half leaves room for a dropped datagram
      expect(d['cluster'], `${node} cluster drops ${JSON.stringify(d)}`).toBeGreaterThanOrEqual(N / 2);
      expect(d['short'], `${node} short drops ${JSON.stringify(d)}`).toBeGreaterThanOrEqual((3 * N) / 2);
      expect(d['hmac'], `${node}: nothing reached the HMAC check ${JSON.stringify(d)}`).toBe(0);
    }
    expect(labLogEvents(lab, 'lb2').some((e) => e['message'] === 'foreign_cluster' && e['claimed_node'] === 'lb9')).toBe(true);
  });

  // Last in this lab: lb1 does not come back.
  it('the old master gone, its captured higher-priority advert replayed: the new master keeps the VIP (stale)', async () => {
    await waitMaster(lab, 'lb1');
    const mallory = await attacker(lab);
    try {
      const captured = await mallory.ask<string>({ op: 'capture', node: 'lb1' }, 5000);
      expect(Buffer.from(captured, 'base64')[6], 'the capture is lb1 at a priority above lb2 (100)').toBeGreaterThan(100);
      await lab.stop('lb1');
      await waitMaster(lab, 'lb2');
      const changesBefore = stateChanges(lab);
      const before = await drops(lab, 'lb2');
      // Higher priority than lb2's, signed with the real key, from a node lb2 no longer hears:
      // only the replay window (same boot epoch, sequence not newer) stops it.
      await mallory.ask({ op: 'send', b64: captured, count: 50 }, 10_000);
      await new Promise((r) => setTimeout(r, 500));
      await waitMaster(lab, 'lb2');
      expect(stateChanges(lab)).toEqual(changesBefore);
      expect(delta(await drops(lab, 'lb2'), before)['stale']).toBeGreaterThanOrEqual(25);
    } finally {
      await mallory.stop();
    }
  }, 40_000);
});

maybe(`election over unicast peers with multicast blocked${why}`, () => {
  const lab = useLab('uc', { clusterOverrides: { transport: { mode: 'unicast' } } });
  // Runs after useLab's beforeAll has built the lab.
  beforeAll(async () => {
    for (const lb of ['lb1', 'lb2']) {
      for (const chain of ['INPUT', 'OUTPUT']) {
        await run('ip', ['netns', 'exec', labNamespace(lab, lb), 'iptables', '-A', chain, '-d', '224.0.0.0/4', '-j', 'DROP']);
      }
    }
  }, 30_000);

  it('elects lb1, and lb2 takes over when lb1 is killed', async () => {
    await waitMaster(lab, 'lb1');
    // lb2 must be following lb1's adverts (not master by itself): unicast works.
    await new Promise((r) => setTimeout(r, 500));
    expect((await lab.status()).nodes.find((n) => n.name === 'lb2')?.state).toBe('BACKUP');
    const r = await measureFailover(lab, 'lb2', () => lab.kill('lb1').then(() => undefined));
    expect(r.servingNodes.at(-1)).toBe('lb2');
    await waitMaster(lab, 'lb2');
  });
});

function hasWrk(): boolean {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
    return true;
  } catch (err) {
    // wrk --version exits 1 after printing its version.
    return (err as { status?: number }).status === 1;
  }
}

const loadOk = support.ok && hasWrk();
const loadWhy = !support.ok ? ` (skipped: ${support.reason})` : hasWrk() ? '' : ' (skipped: wrk is not installed; .ci/run installs it)';

(loadOk ? describe : describe.skip)(`election under full data-plane load${loadWhy}`, () => {
  const lab = useLab('ld');

  it('60 s of wrk against the VIP causes no takeover', async () => {
    await waitMaster(lab, 'lb1');
    const changesBefore = stateChanges(lab);
    const { stdout } = await run('ip', ['netns', 'exec', labNamespace(lab, 'client'), 'wrk', '-t', '2', '-c', '64', '-d', '60s', '--timeout', '2s', 'http://10.77.0.100/'], { timeout: 90_000 });
    const requests = Number(/(\d+) requests in/.exec(stdout)?.[1] ?? 0);
    expect(requests).toBeGreaterThan(1000);
    expect(stateChanges(lab)).toEqual(changesBefore);
    const s = await waitMaster(lab, 'lb1');
    expect(s.nodes.find((n) => n.name === 'lb2')?.state).toBe('BACKUP');
  }, 120_000);
});
