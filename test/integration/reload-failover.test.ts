/**
 * `halo reload` (and SIGHUP) and `halo failover` end to end in the lab: real nodes in
 * network namespaces, the real CLI talking to them over their control sockets, the
 * client through the VIP. A reload must not move the VIP or lose tables (keepalived's
 * and HAProxy's traps, design.md section 8); a bad one keeps the old config running; a
 * planned handover is make-before-break and the old master stays out until released.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse, stringify } from 'yaml';
import { LAB_VIP, defaultHaloCommand } from '../../src/app/lab/index.js';
import { netnsSupport } from '../helpers/netns.js';
import { waitForAsync } from '../helpers/wait.js';
import { httpRequests, isSyncedStandby, labLogEventsSince, labNode, measureFailover, useLab, waitMaster, waitNodeStatus, waitServedBy, type HttpResult } from '../helpers/lab.js';

const run = promisify(execFile);
const support = netnsSupport();
const maybe = support.ok ? describe : describe.skip;
const why = support.ok ? '' : ` (skipped: ${support.reason})`;

const API_PORT = 81;

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The real `halo` command from the root namespace: it reaches the nodes through their sockets in run_dir. */
async function halo(args: string[]): Promise<CliResult> {
  const [node, ...script] = defaultHaloCommand();
  try {
    const { stdout, stderr } = await run(node as string, [...script, ...args], { timeout: 30_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

const routes = (rs: HttpResult[]) => rs.map((r) => `${r.source ?? 'client'} ${r.ok ? `${r.backend ?? '?'} via ${r.node ?? '?'}` : `failed ${r.error ?? r.status ?? '?'}`}`);

maybe(`reload and planned failover, 2 nodes${why}`, () => {
  const lab = useLab('rf', { services: { web: { persistence: { type: 'source_ip', ttl_ms: 600_000 } } } });
  const runDir = mkdtempSync(join(tmpdir(), 'halo-rf-'));
  let sources: string[] = [];
  const configOf = (node: string) => {
    const host = lab.state().hosts.find((h) => h.name === node);
    if (host?.config === undefined) throw new Error(`no config for ${node}`);
    return host.config;
  };
  const read = (node: string) => parse(readFileSync(configOf(node), 'utf8')) as { node: Record<string, unknown>; services: Array<Record<string, unknown>> };
  const write = (node: string, config: unknown) => writeFileSync(configOf(node), stringify(config), { mode: 0o600 });
  const events = (node: string, since: number, message: string) => labLogEventsSince(lab, node, since).filter((e) => e['message'] === message);

  beforeAll(async () => {
    sources = await lab.addClientAddresses(20);
    // Concurrent labs share node names: each node of this one gets a run_dir of this test's own.
    await lab.stop('lb2');
    await lab.stop('lb1');
    for (const node of ['lb1', 'lb2']) write(node, { ...read(node), node: { ...read(node).node, run_dir: runDir } });
    await lab.start('lb1');
    await lab.start('lb2');
    await waitMaster(lab, 'lb1', 15_000);
    await waitNodeStatus(lab, 'lb2', isSyncedStandby, 'synced standby of lb1', 15_000);
  }, 60_000);
  afterAll(() => {
    rmSync(runDir, { recursive: true, force: true });
  });

  it('reload of the master with a new weight and a new service: still master, no state change, tables kept, the new service answers through the VIP', async () => {
    const job = { host: LAB_VIP, port: 80, requests: sources.map((source) => ({ source })), concurrency: 10 };
    const before = await httpRequests(lab, job);
    expect(routes(before).filter((r) => !r.endsWith('via lb1'))).toEqual([]);
    expect(new Set(before.map((r) => r.backend)).size).toBe(2);
    const since = Date.now();

    // Rolling reload: lb1 first, then lb2 (a standby on the old config is refused meanwhile).
    for (const node of ['lb1', 'lb2']) {
      const cfg = read(node);
      const web = cfg.services.find((s) => s['name'] === 'web') as { backends: Array<Record<string, unknown>> };
      web.backends = web.backends.map((b) => (b['name'] === 'be2' ? { ...b, weight: 4 } : b));
      cfg.services.push({ name: 'api', mode: 'http', listen: { port: API_PORT }, backends: web.backends.map((b) => ({ name: b['name'], address: b['address'], port: b['port'] })) });
      write(node, cfg);
    }
    const r1 = await halo(['reload', '--config', configOf('lb1')]);
    expect(r1, JSON.stringify(r1)).toMatchObject({ code: 0 });
    expect(r1.stdout).toContain('services added: api');
    expect(r1.stdout).toContain('service web: backends[be2].weight');
    expect(r1.stdout).toContain('replication: config digest changed');
    const r2 = await halo(['reload', '--config', configOf('lb2')]);
    expect(r2, JSON.stringify(r2)).toMatchObject({ code: 0 });

    const s = await waitMaster(lab, 'lb1', 3000);
    expect(labNode(s, 'lb2')).toMatchObject({ state: 'BACKUP', holdsVip: false });
    expect(events('lb1', since, 'state_change')).toEqual([]);
    expect(events('lb2', since, 'state_change')).toEqual([]);
    expect(events('lb1', since, 'reload')[0]).toMatchObject({ services_added: ['api'], services_changed: ['web: backends[be2].weight'], tables_reset: [], state: 'MASTER', priority: 150 });
    // The same priority in every advert: lb2 still follows lb1 at 150.
    const lb2 = await waitNodeStatus(lab, 'lb2', isSyncedStandby, 'synced again after both reloads', 15_000);
    expect((lb2.election as { master?: { nodeId?: string; priority?: number } }).master).toMatchObject({ nodeId: 'lb1', priority: 150 });

    const after = await httpRequests(lab, job);
    expect(routes(after)).toEqual(routes(before));
    const api = await httpRequests(lab, { host: LAB_VIP, port: API_PORT, requests: [{}, {}] });
    expect(api.map((r) => `${r.ok} ${r.node}`)).toEqual(['true lb1', 'true lb1']);
  }, 60_000);

  it('a broken config is refused (halo reload and SIGHUP): every problem named, logged, the old config keeps serving', async () => {
    const good = readFileSync(configOf('lb1'), 'utf8');
    const since = Date.now();
    try {
      const cfg = read('lb1');
      const web = cfg.services.find((s) => s['name'] === 'web') as { backends: Array<Record<string, unknown>> };
      web.backends = [{ ...web.backends[0], port: 70_000 }];
      cfg.services.push({ name: 'extra', mode: 'tcp', listen: { port: 82 }, backends: web.backends, colour: 'blue' });
      write('lb1', cfg);
      const r = await halo(['reload', '--config', configOf('lb1')]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('reload refused, the config in force keeps running');
      expect(r.stderr).toContain('services[0].backends[0].port: expected an integer 1-65535, got 70000');
      expect(r.stderr).toContain('services[3].colour: unknown key');

      const pid = Number(readFileSync(join(runDir, 'lb1.pid'), 'utf8'));
      expect(pid).toBe(lab.state().hosts.find((h) => h.name === 'lb1')?.pid);
      process.kill(pid, 'SIGHUP');
      await waitForAsync(async () => events('lb1', since, 'reload_refused').length >= 2, 'a second reload_refused after SIGHUP', 5000);
      const refused = events('lb1', since, 'reload_refused');
      expect(refused[0]?.['problems']).toEqual(expect.arrayContaining(['services[0].backends[0].port: expected an integer 1-65535, got 70000']));
      expect(refused.map((e) => e['level'])).toEqual(['error', 'error']);

      await waitMaster(lab, 'lb1', 3000);
      const served = await httpRequests(lab, { host: LAB_VIP, port: 80, requests: [{}, {}, {}] });
      const api = await httpRequests(lab, { host: LAB_VIP, port: API_PORT, requests: [{}] });
      expect([...served, ...api].every((x) => x.ok && x.node === 'lb1')).toBe(true);
      expect(events('lb1', since, 'state_change')).toEqual([]);
    } finally {
      writeFileSync(configOf('lb1'), good, { mode: 0o600 });
    }
  }, 60_000);

  it('halo failover: lb2 takes over make-before-break, lb1 stays backup during the hold, --release brings it back', async () => {
    await waitMaster(lab, 'lb1');
    await waitNodeStatus(lab, 'lb2', isSyncedStandby, 'synced standby of lb1', 15_000);
    let answer: CliResult | undefined;
    const report = await measureFailover(lab, 'lb2', async () => {
      answer = await halo(['failover', '--config', configOf('lb1'), '--hold', '10m']);
    });
    expect(answer, JSON.stringify(answer)).toMatchObject({ code: 0 });
    expect(answer?.stdout).toMatch(/^lb1 handed over to lb2 \(priority 100\) in \d+ ms; lb1 is BACKUP and keeps out of preemption/);
    // Make-before-break: lb1 keeps answering until lb2 has announced the VIP.
    expect(report.failures, JSON.stringify(report.windows)).toBeLessThanOrEqual(2);
    expect(report.servingNodes.at(-1)).toBe('lb2');
    const since = Date.now();
    const cause = labLogEventsSince(lab, 'lb2', since - 15_000).filter((e) => e['message'] === 'state_change' && e['state'] === 'MASTER').at(-1)?.['cause'];
    expect(String(cause)).toBe('priority 0 from lb1');

    // The hold: lb2's adverts at 100 < 150 for 3 s, and lb1 does not preempt.
    await new Promise((r) => setTimeout(r, 3000));
    const held = await waitMaster(lab, 'lb2', 2000);
    expect(labNode(held, 'lb1').state).toBe('BACKUP');
    expect(events('lb1', since, 'state_change')).toEqual([]);
    const lb1 = await waitNodeStatus(lab, 'lb1', (st) => st.election?.state === 'BACKUP', 'lb1 backup', 5000);
    expect(lb1.election).toMatchObject({ priority: 1, hold: { cause: 'operator: halo failover, hold 10m' } });

    const again = await halo(['failover', '--config', configOf('lb1')]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('lb1 is BACKUP, not MASTER; the master is lb2');

    await waitNodeStatus(lab, 'lb1', isSyncedStandby, 'lb1 synced standby of lb2', 15_000);
    const released = await halo(['failover', '--config', configOf('lb1'), '--release']);
    expect(released, JSON.stringify(released)).toMatchObject({ code: 0 });
    expect(released.stdout).toContain('lb1: hold released, advertising priority 150 again');
    await waitMaster(lab, 'lb1', 10_000);
    await waitServedBy(lab, 'lb1');
    const back = events('lb1', since, 'state_change').filter((e) => e['state'] === 'MASTER').at(-1)?.['cause'];
    expect(String(back)).toBe('preempt: higher priority 150 > 100 of lb2 (released by the operator (halo failover --release))');
  }, 90_000);
});
