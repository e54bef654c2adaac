import { afterAll, describe, expect, it } from 'vitest';
import { readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { killAll, spawnHalo } from '../helpers/processes.js';
import { testTempDir } from '../helpers/temp-dir.js';

afterAll(killAll);

async function exitOf(args: string[]): Promise<{ code: number | null; out: string }> {
  const proc = spawnHalo(args);
  const [code] = (await once(proc.child, 'exit')) as [number | null];
  // Let the last stdout/stderr chunks arrive.
  await new Promise((r) => setImmediate(r));
  return { code, out: proc.lines.join('\n') };
}

function file(text: string): string {
  const dir = testTempDir('halo-cli-');
  const f = join(dir, 'c.yaml');
  writeFileSync(f, text);
  return f;
}

describe('halo CLI', () => {
  it('every command answers --help with its usage and exit 0', async () => {
    for (const command of ['run', 'validate', 'demo-backend', 'reload', 'failover', 'status', 'logs', 'lab']) {
      const r = await exitOf([command, '--help']);
      expect(r.code, `${command}: ${r.out}`).toBe(0);
      expect(r.out, command).toMatch(/usage/i);
    }
  });

  it('validate exits 0 on a good config and names its services', async () => {
    const r = await exitOf(['validate', '--config', 'deploy/examples/single-node.yaml']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('ok (3 services: web http :8080, web-tcp tcp :8081, dns-like udp :8053; no cluster section: single node, no VIP)');
  });

  it('validate accepts every example in deploy/examples and summarises the election', async () => {
    const examples = readdirSync('deploy/examples').filter((f) => f.endsWith('.yaml'));
    expect(examples.length).toBeGreaterThanOrEqual(4);
    for (const f of examples) {
      const r = await exitOf(['validate', '--config', `deploy/examples/${f}`]);
      expect(r.code, `${f}: ${r.out}`).toBe(0);
    }
    const pair = await exitOf(['validate', '--config', 'deploy/examples/pair-lb2.yaml']);
    expect(pair.out).toContain('cluster 4242 on eth0, priority 100, adverts every 40 ms (multicast), VIP 10.0.0.100/24, tables replicated on port 7947');
  });

  it('validate names the cluster problems by path', async () => {
    const f = file('cluster:\n  id: 1\n  interface: eth0\n  vips: [{ address: 10.0.0.100 }]\n  transport: { mode: unicast }\nservices:\n  - { name: web, mode: tcp, listen: { port: 80 }, backends: [{ name: a, address: 127.0.0.1, port: 81 }] }\n');
    const r = await exitOf(['validate', '--config', f]);
    expect(r.code).toBe(2);
    expect(r.out).toContain('cluster.vips[0].address: expected an IPv4 address with prefix length, e.g. 10.0.0.100/24, got "10.0.0.100"');
  });

  it('validate exits 2 and names the path of every problem', async () => {
    const f = file('services:\n  - name: web\n    mode: http\n    listen: { port: 8080 }\n    backends:\n      - { name: a, address: 127.0.0.1, port: "80x" }\n');
    const r = await exitOf(['validate', '--config', f]);
    expect(r.code).toBe(2);
    expect(r.out).toContain('services[0].backends[0].port: expected an integer 1-65535, got "80x"');
    expect(r.out).toContain('HALO_ERR_CONFIG_INVALID');
  });

  it('validate exits 2 on a missing file, naming it', async () => {
    const r = await exitOf(['validate', '--config', '/nonexistent/halo.yaml']);
    expect(r.code).toBe(2);
    expect(r.out).toContain('cannot read /nonexistent/halo.yaml: ENOENT');
  });

  it('an unknown flag is a usage error naming the flag', async () => {
    const r = await exitOf(['run', '--config', 'x.yaml', '--colour']);
    expect(r.code).toBe(2);
    expect(r.out).toMatch(/HALO_ERR_CLI_USAGE: .*--colour/);
  });

  it('a bad --log-format is named', async () => {
    const r = await exitOf(['run', '--config', 'x.yaml', '--log-format', 'xml']);
    expect(r.code).toBe(2);
    expect(r.out).toContain('--log-format: expected text or json, got "xml"');
  });

  it('demo-backend needs a name', async () => {
    const r = await exitOf(['demo-backend', '--http', '0']);
    expect(r.code).toBe(2);
    expect(r.out).toContain('--name is required');
  });
});
