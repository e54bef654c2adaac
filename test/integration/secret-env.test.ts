/**
 * Secrets given by environment variable (cluster.key_env, admin.token_env, a cookie
 * secret_env) stay in halo: a notify hook that dumps its whole environment, and a track
 * script doing the same, see none of them (issue 6: "secrets never appear"). Root only
 * (a network namespace for the VIP); skipped with the reason otherwise.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envWithout, secretEnvNames } from '../../src/config/secret-env.js';
import { createNetns, netnsSupport, type Netns } from '../helpers/netns.js';
import { killAll, startDemoBackend, startHalo } from '../helpers/processes.js';
import { testTempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait.js';

const support = netnsSupport();
const why = support.ok ? '' : ` (skipped: ${support.reason})`;
const ADDRESS = '10.219.1.1';

describe('secretEnvNames and envWithout', () => {
  it('lists every variable a config reads a secret from, and strips exactly those', () => {
    const config = {
      cluster: { key_env: 'K' },
      admin: { token_env: 'T' },
      services: [{ persistence: { secret_env: 'C' } }, { persistence: {} }, { persistence: { secret_env: 'K' } }],
    } as unknown as Parameters<typeof secretEnvNames>[0];
    expect(secretEnvNames(config)).toEqual(['C', 'K', 'T']);
    expect(envWithout({ K: '1', T: '2', C: '3', PATH: '/bin' }, ['C', 'K', 'T'])).toEqual({ PATH: '/bin' });
  });
});

describe.skipIf(!support.ok)(`notify hooks and track scripts never inherit a secret${why}`, () => {
  const dir = testTempDir('halo-secret-env-');
  const hookDump = join(dir, 'hook-env.txt');
  const scriptDump = join(dir, 'script-env.txt');
  const secrets = { HALO_TEST_CLUSTER_KEY: randomBytes(32).toString('hex'), HALO_TEST_ADMIN_TOKEN: randomBytes(24).toString('hex'), HALO_TEST_COOKIE: randomBytes(32).toString('hex') };
  let ns: Netns;

  beforeAll(async () => {
    ns = await createNetns('secenv');
    await ns.ip('link', 'add', 'e0', 'type', 'veth', 'peer', 'name', 'e1');
    await ns.ip('addr', 'add', `${ADDRESS}/24`, 'dev', 'e0');
    await ns.ip('link', 'set', 'e0', 'up');
    await ns.ip('link', 'set', 'e1', 'up');
    const backend = await startDemoBackend('be1', { netns: ns.name });
    const config = {
      node: { name: 'lb1', run_dir: dir },
      admin: { listen: '127.0.0.1:0', token_env: 'HALO_TEST_ADMIN_TOKEN' },
      cluster: {
        id: 78,
        key_env: 'HALO_TEST_CLUSTER_KEY',
        interface: 'e0',
        address: ADDRESS,
        vips: [{ address: '10.219.1.100/24' }],
        notify: { master: ['/bin/sh', '-c', `env > ${hookDump}`] },
        track: { scripts: [{ name: 'dump', command: ['/bin/sh', '-c', `env > ${scriptDump}`], interval_ms: 500, timeout_ms: 400 }] },
      },
      services: [
        {
          name: 'web',
          mode: 'http',
          listen: { address: '127.0.0.1', port: 18081 },
          backends: [{ name: 'be1', address: '127.0.0.1', port: backend.http }],
          persistence: { type: 'cookie', secret_env: 'HALO_TEST_COOKIE' },
        },
      ],
    };
    const node = await startHalo(config, secrets, { netns: ns.name });
    await node.waitFor((e) => e['message'] === 'state_change' && e['state'] === 'MASTER', 15_000);
  }, 60_000);

  afterAll(async () => {
    await killAll();
    await ns?.destroy();
  });

  it('the master hook and the track script ran, and their environment holds none of the secrets', async () => {
    await waitFor(() => existsSync(hookDump) && existsSync(scriptDump) && readFileSync(hookDump, 'utf8').includes('HALO_STATE=MASTER'), 'the hook and the script to dump their environment', 10_000);
    for (const file of [hookDump, scriptDump]) {
      const text = readFileSync(file, 'utf8');
      expect(text).toContain('PATH=');
      for (const [name, value] of Object.entries(secrets)) {
        expect(text, `${file}: ${name}`).not.toContain(value);
        expect(text, `${file}: ${name}`).not.toContain(`${name}=`);
      }
    }
  }, 20_000);
});
