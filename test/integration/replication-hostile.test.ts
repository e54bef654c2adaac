/**
 * Hostile replication peers against real `halo run` nodes in the lab (issue 4): from the
 * client namespace, a raw socket sending a frame before any handshake, one sending `sync`
 * without one, a dialler with a wrong key, an authenticated peer sending a malformed
 * ack, and the recorded frames of an authenticated session replayed on a new connection. None reads a table (no binary frame before authentication), none changes one (the
 * standby stays in step with the same digest), each is refused with its close code and
 * counted, and both nodes keep running.
 */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { LAB_REPLICATION_PORT } from '../../src/app/lab/index.js';
import { netnsSupport } from '../helpers/netns.js';
import { ensureReplicatedPair, httpRequests, useLab, waitTablesInStep } from '../helpers/lab.js';

const support = netnsSupport();
const maybe = support.ok ? describe : describe.skip;
const why = support.ok ? '' : ` (skipped: ${support.reason})`;

interface Outcome {
  code: number | null;
  binaryFrames: number;
  error?: string;
  framesSent?: number;
}

function hostilePeer(namespace: string, host: string, keyFile: string, config: string): Promise<Record<string, Outcome>> {
  const script = fileURLToPath(new URL('../fixtures/replication-hostile-peer.ts', import.meta.url));
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  const args = ['netns', 'exec', namespace, process.execPath, '--import', tsx, script, host, String(LAB_REPLICATION_PORT), keyFile, config];
  return new Promise((resolve, reject) => {
    execFile('ip', args, { timeout: 40_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`hostile peer failed: ${err.message}\n${stderr}`));
      else resolve(JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, Outcome>);
    });
  });
}

maybe(`replication: hostile peers against a running pair${why}`, () => {
  const lab = useLab('rh', { services: { web: { persistence: { type: 'source_ip', ttl_ms: 600_000 } } } });
  let sources: string[] = [];
  beforeAll(async () => {
    sources = await lab.addClientAddresses(10);
    await ensureReplicatedPair(lab);
  }, 60_000);

  it('get nothing, change nothing, are refused with their close codes and counted; both nodes keep running', async () => {
    await httpRequests(lab, { host: '10.77.0.100', port: 80, requests: sources.map((source) => ({ source })) });
    const before = await waitTablesInStep(lab, ['web/persist_source'], { entries: 10 });
    const state = lab.state();
    const lb1 = state.hosts.find((h) => h.name === 'lb1');
    const client = state.hosts.find((h) => h.role === 'client');
    if (lb1?.config === undefined || client === undefined) throw new Error('lab without lb1 config or client');

    const r = await hostilePeer(client.namespace, lb1.address, state.keyFile, lb1.config);
    expect(r['garbageBeforeHandshake']).toMatchObject({ code: 4400, binaryFrames: 0 });
    expect(r['syncWithoutHandshake']).toMatchObject({ code: 4400, binaryFrames: 0 });
    expect(r['wrongKey']?.code, r['wrongKey']?.error).toBe(4401);
    expect(r['wrongKey']?.binaryFrames).toBe(0);
    // authenticated: it got the snapshot, then its malformed ack closed its link only
    expect(r['garbageAck']?.code, JSON.stringify(r['garbageAck'])).toBe(4400);
    expect(r['garbageAck']?.binaryFrames, 'the authenticated peer was sent the snapshot: the channel the others were denied').toBeGreaterThan(0);

    // the recording is of a real session: welcomed, it got the snapshot; hello, auth and sync went out
    expect(r['genuine']?.binaryFrames, JSON.stringify(r['genuine'])).toBeGreaterThan(0);
    expect(r['genuine']?.framesSent).toBeGreaterThanOrEqual(3);
    // the same bytes on a new connection: the master's new nonce makes the recorded proof wrong
    expect(r['replayed'], JSON.stringify(r['replayed'])).toMatchObject({ code: 4401, binaryFrames: 0 });

    const after = await waitTablesInStep(lab, ['web/persist_source'], { entries: 10 });
    expect(after.standby.replication?.tables['web/persist_source']).toEqual(before.standby.replication?.tables['web/persist_source']);
    expect(after.master.replication?.tables['web/persist_source']).toEqual(before.master.replication?.tables['web/persist_source']);
    expect(after.master.replication?.peers.map((p) => p.node)).toEqual(['lb2']);
    expect(after.master.replication?.refused[4400]).toBeGreaterThanOrEqual(2);
    expect(after.master.replication?.refused[4401], 'wrong key and the replay').toBeGreaterThanOrEqual(2);
    const nodes = (await lab.status()).nodes.filter((n) => n.name.startsWith('lb'));
    expect(nodes.map((n) => `${n.name} ${n.running ? 'running' : 'dead'}`)).toEqual(['lb1 running', 'lb2 running']);
  }, 90_000);
});
