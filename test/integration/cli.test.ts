import { afterAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
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
  it('validate exits 0 on a good config and names its services', async () => {
    const r = await exitOf(['validate', '--config', 'deploy/examples/single-node.yaml']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('ok (3 services: web http :8080, web-tcp tcp :8081, dns-like udp :8053)');
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
