/**
 * `bin/halo.js` run as users run it: executed directly, so its shebang's node flags apply
 * (--max-semi-space-size among them). A node with a cluster section must start: the
 * election worker may not inherit V8 heap flags (Node refuses them in a worker). Tests
 * elsewhere start `node bin/halo.js`, which skips the shebang, and missed exactly this.
 * In a namespace of its own (root only; skipped with the reason otherwise).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { workerExecArgv } from '../../src/app/election/election-host.js';
import { createNetns, netnsSupport, type Netns } from '../helpers/netns.js';
import { HALO_BIN } from '../helpers/processes.js';
import { testTempDir } from '../helpers/temp-dir.js';

const support = netnsSupport();
if (!support.ok) console.log(`skipping the shebang entry test: ${support.reason}`);

describe('workerExecArgv', () => {
  it('keeps loaders and conditions, drops V8 and per-process flags', () => {
    expect(workerExecArgv(['--max-semi-space-size=32', '--import', 'file:///tsx.mjs', '--max-old-space-size=500', '--conditions=dev', '--expose-gc', '--enable-source-maps', '--input-type=module'])).toEqual([
      '--import',
      'file:///tsx.mjs',
      '--conditions=dev',
      '--enable-source-maps',
    ]);
  });
});

describe.skipIf(!support.ok)(`bin/halo.js through its shebang${support.ok ? '' : ` (skipped: ${support.reason})`}`, () => {
  let ns: Netns | undefined;
  let child: ChildProcess | undefined;
  afterAll(async () => {
    child?.kill('SIGKILL');
    await ns?.destroy();
  });

  it('starts a node with a cluster section (election worker and all) and stops on SIGTERM', async () => {
    ns = await createNetns('shebang');
    await ns.ip('link', 'add', 'e0', 'type', 'veth', 'peer', 'name', 'e1');
    await ns.ip('addr', 'add', '10.217.0.1/24', 'dev', 'e0');
    await ns.ip('link', 'set', 'e0', 'up');
    await ns.ip('link', 'set', 'e1', 'up');
    await ns.ip('link', 'set', 'lo', 'up');
    const dir = testTempDir('halo-shebang-');
    writeFileSync(join(dir, 'cluster.key'), 'a-test-key-of-enough-length\n', { mode: 0o600 });
    const config = join(dir, 'halo.yaml');
    writeFileSync(
      config,
      [
        `node: { name: sb1, run_dir: ${dir} }`,
        'log: { format: json }',
        'admin: { listen: false }',
        'cluster:',
        '  id: 9',
        `  key_file: ${join(dir, 'cluster.key')}`,
        '  interface: e0',
        '  vips: [{ address: 10.217.0.100/24 }]',
        'services:',
        '  - { name: web, mode: tcp, listen: { address: 127.0.0.1, port: 18090 }, timeouts: { drain_ms: 100 }, backends: [{ name: a, address: 127.0.0.1, port: 18091 }] }',
        '',
      ].join('\n'),
    );
    // executed, not `node bin/halo.js`: the kernel runs the shebang line
    const proc = spawn('ip', ['netns', 'exec', ns.name, HALO_BIN, 'run', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    let out = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const deadline = Date.now() + 15_000;
    while (!/"message":"(node_started|start_failed)"/.test(out) && proc.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(out, out.slice(-2000)).toMatch(/"message":"node_started"/);
    expect(out).not.toMatch(/start_failed|invalid execArgv/);
    // its only backend is down, so the start-up check of the backends is still probing:
    // the stop must not wait for that check's deadline (it did, up to 10 s)
    const stopAt = Date.now();
    proc.kill('SIGTERM');
    const code = await new Promise<number | null>((r) => (proc.exitCode !== null ? r(proc.exitCode) : proc.once('exit', (c) => r(c))));
    expect(code).toBe(0);
    expect(Date.now() - stopAt).toBeLessThan(3000);
  }, 30_000);
});
