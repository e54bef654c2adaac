/**
 * `halo lab` as root: the topology it builds, the processes it runs, the faults it
 * injects and the cleanup. Failover itself is not tested here (the election tests use
 * the lab for that); the nodes run with `election: false` so this suite tests the lab
 * whatever state the election work is in.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { netnsSupport } from '../helpers/netns.js';
import { HALO_BIN, killAll, spawnHalo } from '../helpers/processes.js';
import { Lab, labHosts, type LabState } from '../../src/app/lab/index.js';
import { nodeConfig } from '../../src/app/lab/configs.js';

const support = netnsSupport();
const NAME = `ht${process.pid % 1000}${randomBytes(2).toString('hex')}`;
const HOSTS = ['lb1', 'lb2', 'be1', 'be2', 'client'];

function sh(cmd: string, args: string[], timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs }, (err, stdout, stderr) => (err ? reject(new Error(`${cmd} ${args.join(' ')}: ${stderr || err.message}`)) : resolve(stdout)));
  });
}

async function namespacesOf(name: string): Promise<string[]> {
  return (await sh('ip', ['netns', 'list'])).split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n.startsWith(`${name}-`));
}

interface BridgeRow { ifname: string; master?: string; state?: string; flags?: string[] }
async function bridgeLinks(name: string): Promise<Map<string, BridgeRow>> {
  const rows = JSON.parse(await sh('bridge', ['-j', '-n', `${name}-sw`, 'link', 'show'])) as BridgeRow[];
  return new Map(rows.map((r) => [r.ifname, r]));
}

async function eth0Flags(ns: string): Promise<string[]> {
  const [row] = JSON.parse(await sh('ip', ['-j', '-n', ns, 'link', 'show', 'dev', 'eth0'])) as Array<{ flags: string[] }>;
  return row?.flags ?? [];
}

/** Alive and not a zombie: the lab's processes are this test process's children until reaped. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** The CLI in a child process: another process acting on the lab through state.json. */
async function cli(args: string[], opts: { uid?: number } = {}): Promise<{ code: number | null; out: string }> {
  if (opts.uid !== undefined) {
    const child = spawn(process.execPath, [HALO_BIN, ...args], { uid: opts.uid, gid: opts.uid, stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const [code] = (await once(child, 'close')) as [number | null];
    return { code, out };
  }
  const proc = spawnHalo(args);
  const [code] = (await once(proc.child, 'close')) as [number | null];
  return { code, out: proc.lines.join('\n') };
}

describe('halo lab: election-on configs are valid for `halo validate`', () => {
  const dir = mkdtempSync(join(tmpdir(), 'halo-lab-cfg-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('3 nodes, unicast, preempt off: every node config validates through the CLI', async () => {
    const keyFile = join(dir, 'cluster.key');
    writeFileSync(keyFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
    for (const node of labHosts('v', 3).filter((h) => h.role === 'lb')) {
      const file = join(dir, `${node.name}.yaml`);
      writeFileSync(file, stringify(nodeConfig({ lab: 'v', nodes: 3, node, clusterId: 42, keyFile, election: true, logLevel: 'info', clusterOverrides: { preempt: false, advert_interval_ms: 20, transport: { mode: 'unicast' } } })));
      const r = await cli(['validate', '--config', file]);
      expect(r.out).toContain('ok (2 services: web http :80, echo udp :53');
      expect(r.code).toBe(0);
    }
  });
});

describe.skipIf(!support.ok)(`halo lab in network namespaces${support.ok ? '' : ` (skipped: ${support.reason})`}`, () => {
  const lab = new Lab({ name: NAME, nodes: 2, election: false });
  let state: LabState;

  beforeAll(async () => {
    state = await lab.up();
  }, 60_000);

  afterAll(async () => {
    await killAll();
    // Whatever a failed test left: by state.json, and by name if that is gone.
    await lab.down().catch(() => undefined);
  }, 60_000);

  it('builds one namespace per host plus the switch, each eth0 on br0 with its address', async () => {
    expect((await namespacesOf(NAME)).sort()).toEqual([...HOSTS.map((h) => `${NAME}-${h}`), `${NAME}-sw`].sort());
    const ports = await bridgeLinks(NAME);
    for (const h of HOSTS) {
      expect(ports.get(h), h).toMatchObject({ master: 'br0', state: 'forwarding' });
    }
    for (const host of state.hosts) {
      const addrs = JSON.parse(await sh('ip', ['-j', '-n', host.namespace, 'addr', 'show', 'dev', 'eth0'])) as Array<{ addr_info: Array<{ local: string; prefixlen: number }> }>;
      expect(addrs[0]?.addr_info.some((a) => a.local === host.address && a.prefixlen === 24), host.name).toBe(true);
      expect(await eth0Flags(host.namespace)).toContain('LOWER_UP');
    }
    expect((await sh('ip', ['netns', 'exec', `${NAME}-lb1`, 'sysctl', '-n', 'net.ipv4.ip_nonlocal_bind'])).trim()).toBe('1');
    expect(existsSync(state.keyFile)).toBe(true);
  });

  it('the generated node configs pass `halo validate`', async () => {
    for (const host of state.hosts.filter((h) => h.role === 'lb')) {
      const r = await cli(['validate', '--config', host.config as string]);
      expect(r.out).toContain('ok (2 services: web http :80, echo udp :53');
      expect(r.code).toBe(0);
    }
  });

  it('from the client: each backend answers directly, and each node proxies to both (x-peer names the node)', async () => {
    for (const [host, backend] of [['10.77.0.21', 'be1'], ['10.77.0.22', 'be2']] as const) {
      const r = await lab.probe({ seconds: 1, host, port: 8080 });
      // Successes, not zero failures: a 100 ms timeout on a loaded CI machine is not this test's subject.
      expect(r.report.successes, `${backend}: ${JSON.stringify(r.report.windows)}`).toBeGreaterThan(0);
      expect(Object.keys(r.report.backends)).toEqual([backend]);
    }
    for (const [host, node] of [['10.77.0.11', 'lb1'], ['10.77.0.12', 'lb2']] as const) {
      const r = await lab.probe({ seconds: 1, host });
      expect(r.report.successes, `${node}: ${JSON.stringify(r.report.windows)}`).toBeGreaterThan(0);
      expect(r.report.servingNodes).toEqual([node]);
      expect(Object.keys(r.report.backends).sort()).toEqual(['be1', 'be2']);
    }
  });

  it('status lists the nodes and backends with their process, MAC and port; no one holds the VIP without election', async () => {
    const s = await lab.status();
    expect(s.nodes.map((n) => [n.name, n.address, n.running, n.holdsVip, n.state])).toEqual([
      ['lb1', '10.77.0.11', true, false, 'unknown'],
      ['lb2', '10.77.0.12', true, false, 'unknown'],
    ]);
    expect(s.backends.map((b) => [b.name, b.running])).toEqual([['be1', true], ['be2', true]]);
    for (const n of [...s.nodes, ...s.backends]) {
      expect(n.mac).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
      expect(n.port).toEqual({ name: n.name, up: true, state: 'forwarding' });
    }
    expect(s.vip).toBe('10.77.0.100/24');
  });

  it('linkdown takes the carrier away and traffic through the node stops until linkup', async () => {
    // lb1 may have been restarted by a test before this one: start from a node that serves
    // (on a loaded machine its start-up and first health checks take a while)
    let ready = false;
    for (let i = 0; i < 10 && !ready; i++) ready = (await lab.probe({ seconds: 1, host: '10.77.0.11' })).report.successes > 0;
    expect(ready, 'lb1 serves before the link goes down').toBe(true);
    // Long enough for lb1's health checks to bring the backends back after the link returns.
    const probing = lab.probe({ seconds: 6, host: '10.77.0.11' });
    await new Promise((r) => setTimeout(r, 1000));
    await lab.linkdown('lb1');
    const down = (await bridgeLinks(NAME)).get('lb1');
    expect(down?.flags ?? []).not.toContain('UP');
    expect(await eth0Flags(`${NAME}-lb1`)).toContain('NO-CARRIER');
    expect((await lab.status()).nodes[0]?.port?.up).toBe(false);
    await new Promise((r) => setTimeout(r, 500));
    await lab.linkup('lb1');
    expect((await bridgeLinks(NAME)).get('lb1')).toMatchObject({ state: 'forwarding' });
    expect(await eth0Flags(`${NAME}-lb1`)).toContain('LOWER_UP');
    const { report } = await probing;
    // The outage starts at the last success before the link went down and ends through lb1 again.
    expect(report.windows.length).toBeGreaterThanOrEqual(1);
    // The probe agent's own first attempts can fail on a loaded machine (a node process
    // warming up, 100 ms timeouts): that window runs from its start and is not the link's.
    const length = (x: { start: number; end?: number | undefined }): number => (x.end ?? x.start) - x.start;
    const w = report.windows.filter((x) => !x.fromStart).sort((a, b) => length(b) - length(a))[0];
    expect(w, JSON.stringify(report.windows)).toMatchObject({ nodeBefore: 'lb1', nodeAfter: 'lb1', ongoing: false, fromStart: false });
    expect(w?.failures).toBeGreaterThan(0);
    expect(report.nodeChanged).toBe(false);
  }, 30_000);

  it('partition disables the bridge port but keeps the carrier; heal restores forwarding', async () => {
    await lab.partition('lb2');
    expect((await bridgeLinks(NAME)).get('lb2')).toMatchObject({ state: 'disabled' });
    expect((await bridgeLinks(NAME)).get('lb2')?.flags).toContain('LOWER_UP');
    expect(await eth0Flags(`${NAME}-lb2`)).toContain('LOWER_UP');
    const r = await lab.probe({ seconds: 1, host: '10.77.0.12' });
    expect(r.report.successes).toBe(0);
    await lab.heal('lb2');
    expect((await bridgeLinks(NAME)).get('lb2')).toMatchObject({ state: 'forwarding' });
    // lb2 may have marked the backends down while cut off: rise takes a second or so.
    const healed = await lab.probe({ seconds: 3, host: '10.77.0.12' });
    expect(healed.report.servingNodes).toEqual(['lb2']);
  }, 30_000);

  it('stop (SIGTERM), kill (SIGKILL) and start act on one node by PID', async () => {
    const before = lab.state().hosts.find((h) => h.name === 'lb2')?.pid as number;
    expect(await lab.stop('lb2')).toEqual({ node: 'lb2', stopped: true, escalated: false });
    expect(alive(before)).toBe(false);
    expect(await lab.stop('lb2')).toEqual({ node: 'lb2', stopped: false, escalated: false });
    const pid = await lab.start('lb2');
    expect(pid).not.toBe(before);
    await expect(lab.start('lb2')).rejects.toThrow(/lb2 is already running/);
    expect(await lab.kill('lb2')).toBe(true);
    expect(alive(pid)).toBe(false);
    expect((await lab.status()).nodes.find((n) => n.name === 'lb2')?.running).toBe(false);
    await lab.start('lb2');
    expect((await lab.status()).nodes.find((n) => n.name === 'lb2')?.running).toBe(true);
    await expect(lab.kill('lb9')).rejects.toThrow('unknown node "lb9" (known: lb1, lb2, be1, be2)');
  }, 60_000);

  it('the CLI acts on the lab from another process; usage errors exit 2', async () => {
    const status = await cli(['lab', 'status', '--json', '--name', NAME]);
    expect(status.code).toBe(0);
    const parsed = JSON.parse(status.out) as { nodes: Array<{ name: string; running: boolean }> };
    expect(parsed.nodes.map((n) => [n.name, n.running])).toEqual([['lb1', true], ['lb2', true]]);
    const text = await cli(['lab', 'status', '--name', NAME]);
    expect(text.out).toMatch(/^lb1 +10\.77\.0\.11 /m);
    const unknown = await cli(['lab', 'linkdown', 'lb3', '--name', NAME]);
    expect(unknown.code).toBe(2);
    expect(unknown.out).toContain('unknown node "lb3" (known: lb1, lb2, be1, be2)');
    const logs = await cli(['lab', 'logs', '--name', NAME, '--lines', '5']);
    expect(logs.out).toMatch(/^lb1 \| .*node_started/m);
    const nobody = await cli(['lab', 'status', '--name', NAME], { uid: 65534 });
    expect(nobody.code).toBe(2);
    expect(nobody.out).toContain('needs root');
  }, 60_000);

  it('down kills every process and removes every namespace and file; a second down is a no-op', async () => {
    const pids = lab.state().hosts.flatMap((h) => (h.pid !== undefined ? [h.pid] : []));
    expect(pids.length).toBe(4);
    const report = await lab.down();
    expect(report.namespaces.sort()).toEqual([...HOSTS.map((h) => `${NAME}-${h}`), `${NAME}-sw`].sort());
    expect(await namespacesOf(NAME)).toEqual([]);
    for (const pid of pids) expect(alive(pid), String(pid)).toBe(false);
    expect(existsSync(lab.stateDir)).toBe(false);
    expect(await lab.down()).toEqual({ namespaces: [], killed: [] });
  }, 60_000);

  it('down without state.json cleans up by name, killing what runs there', async () => {
    const name = `${NAME}x`;
    await sh('ip', ['netns', 'add', `${name}-sw`]);
    await sh('ip', ['netns', 'add', `${name}-lb1`]);
    const sleeper = spawn('ip', ['netns', 'exec', `${name}-lb1`, 'sleep', '60'], { stdio: 'ignore' });
    try {
      for (let i = 0; i < 100 && (await sh('ip', ['netns', 'pids', `${name}-lb1`])).trim() === ''; i++) await new Promise((r) => setTimeout(r, 20));
      const report = await new Lab({ name }).down();
      expect(report.namespaces.sort()).toEqual([`${name}-lb1`, `${name}-sw`]);
      expect(await namespacesOf(name)).toEqual([]);
      const [code, sig] = (sleeper.exitCode !== null || sleeper.signalCode !== null ? [sleeper.exitCode, sleeper.signalCode] : await once(sleeper, 'exit')) as [number | null, string | null];
      expect([code, sig]).toEqual([null, 'SIGKILL']);
    } finally {
      sleeper.kill('SIGKILL');
      for (const ns of await namespacesOf(name)) await sh('ip', ['netns', 'del', ns]).catch(() => undefined);
    }
  }, 30_000);

  it('a failed up tears down what it built and rethrows', async () => {
    const name = `${NAME}f`;
    const dir = mkdtempSync(join(tmpdir(), 'halo-lab-fail-'));
    mkdirSync(dir, { recursive: true });
    try {
      const broken = new Lab({ name, stateDir: join(dir, 'state'), election: false, haloCommand: ['/bin/false'] });
      await expect(broken.up()).rejects.toThrow(/be1 exited while starting/);
      expect(await namespacesOf(name)).toEqual([]);
      expect(existsSync(join(dir, 'state'))).toBe(false);
    } finally {
      await new Lab({ name, stateDir: join(dir, 'state') }).down().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
