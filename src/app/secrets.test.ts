/**
 * Every place halo reads a secret file refuses one with a loose mode (src/config/secret-file.ts):
 * the cluster key, the admin token (node and `halo status`), a cookie secret, the
 * replication TLS private key. The env-var forms have no file to check.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../config/load.js';
import { HaloError } from '../core/errors.js';
import { loadSecret } from './secrets.js';
import { loadCookieSecret } from './data-plane.js';
import { loadReplicationTls } from './replication/replication-node.js';
import { resolveTarget } from './admin/status-command.js';

const dir = mkdtempSync(join(tmpdir(), 'halo-secrets-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, mode: number, content = 'secret-of-enough-length-0123\n'): string {
  const f = join(dir, name);
  writeFileSync(f, content, { mode: 0o600 });
  chmodSync(f, mode);
  return f;
}

function codeOf(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof HaloError)) throw err;
    return { code: err.code, message: err.message };
  }
  throw new Error('expected a HaloError');
}

const cluster = (keyFile: string, tls = '') => `
node: { name: lb1 }
cluster:
  id: 7
  key_file: ${keyFile}
  interface: eth0
  vips: [{ address: 10.0.0.100/24 }]
${tls}
services:
  - name: web
    mode: http
    listen: { port: 8080 }
    backends: [{ name: a, address: 10.0.0.1, port: 80 }]
`;

describe('loadSecret: the cluster key and the admin token', () => {
  it('0600 and 0640 are read; 0644 is refused naming cluster.key_file, the mode and the chmod', () => {
    const keys = { file: 'key_file', env: 'key_env' };
    expect(loadSecret({ file: file('k600', 0o600) }, 'cluster', 'cluster key', 16, keys).toString()).toBe('secret-of-enough-length-0123');
    expect(loadSecret({ file: file('k640', 0o640) }, 'cluster', 'cluster key', 16, keys).length).toBe(28);
    const loose = file('k644', 0o644);
    const r = codeOf(() => loadSecret({ file: loose }, 'cluster', 'cluster key', 16, keys));
    expect(r.code).toBe('HALO_ERR_KEY_PERMISSIONS');
    expect(r.message).toBe(`cluster.key_file: ${loose} has mode 0644: other users can read it, so it cannot hold a secret (allowed: 0600, or 0640 for a group such as root:halo); fix: chmod 600 ${loose}`);
  });

  it('admin.token_file with group write is refused under its own key', () => {
    const f = file('t620', 0o620);
    const r = codeOf(() => loadSecret({ file: f }, 'admin', 'admin token', 16, { file: 'token_file', env: 'token_env' }));
    expect(r.code).toBe('HALO_ERR_KEY_PERMISSIONS');
    expect(r.message).toMatch(/^admin\.token_file: .* has mode 0620: its group can write it/);
  });

  it('a secret from the environment has no file mode to check', () => {
    process.env['HALO_SECRETS_TEST'] = 'from-the-environment-0123';
    try {
      expect(loadSecret({ env: 'HALO_SECRETS_TEST' }, 'cluster', 'cluster key').toString()).toBe('from-the-environment-0123');
    } finally {
      delete process.env['HALO_SECRETS_TEST'];
    }
  });
});

describe('loadCookieSecret', () => {
  it('a cookie secret_file readable by others is refused as services[NAME].persistence.secret_file', () => {
    const loose = file('c604', 0o604);
    const cfg = parseConfig(`
services:
  - name: web
    mode: http
    listen: { port: 8080 }
    backends: [{ name: a, address: 10.0.0.1, port: 80 }]
    persistence: { type: cookie, secret_file: ${loose} }
`);
    const r = codeOf(() => loadCookieSecret(cfg.services[0]!));
    expect(r.code).toBe('HALO_ERR_KEY_PERMISSIONS');
    expect(r.message).toMatch(/^services\[web\]\.persistence\.secret_file: .* has mode 0604: other users can read it/);
    chmodSync(loose, 0o600);
    expect(loadCookieSecret(cfg.services[0]!)?.toString()).toBe('secret-of-enough-length-0123');
  });
});

describe('loadReplicationTls', () => {
  it('the private key must be private; the certificate and the CA may be world-readable', () => {
    const cert = file('node.crt', 0o644, 'CERT');
    const ca = file('ca.crt', 0o644, 'CA');
    const key = file('node.key', 0o644, 'KEY');
    const cfg = parseConfig(cluster(file('k', 0o600), `  replication: { tls: { cert_file: ${cert}, key_file: ${key}, ca_file: ${ca} } }`));
    const r = codeOf(() => loadReplicationTls(cfg.cluster!));
    expect(r.code).toBe('HALO_ERR_KEY_PERMISSIONS');
    expect(r.message).toMatch(/^cluster\.replication\.tls\.key_file: .*node\.key has mode 0644/);
    chmodSync(key, 0o600);
    const loaded = loadReplicationTls(cfg.cluster!);
    expect(loaded?.key.toString()).toBe('KEY');
    expect(loaded?.cert.toString()).toBe('CERT');
  });
});

describe('halo status --token-file', () => {
  it('a token file others can read is refused with HALO_ERR_KEY_PERMISSIONS; a missing one stays a usage error', () => {
    const loose = file('cli-token', 0o644);
    const r = codeOf(() => resolveTarget({ admin: 'http://127.0.0.1:9797', 'token-file': loose }));
    expect(r.code).toBe('HALO_ERR_KEY_PERMISSIONS');
    expect(r.message).toMatch(/^--token-file: .* has mode 0644/);
    expect(codeOf(() => resolveTarget({ admin: 'http://127.0.0.1:9797', 'token-file': join(dir, 'none') }))).toEqual({ code: 'HALO_ERR_CLI_USAGE', message: `--token-file: cannot read ${join(dir, 'none')}: ENOENT` });
    chmodSync(loose, 0o600);
    expect(resolveTarget({ admin: 'http://127.0.0.1:9797', 'token-file': loose }).token).toBe('secret-of-enough-length-0123');
  });
});
