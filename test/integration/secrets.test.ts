/**
 * Secrets never leave the node (issue 6): a real `halo run` at debug level, in a network
 * namespace of its own, with a known cluster key, admin token and cookie secret, is
 * driven through start, reloads (good, invalid, and one whose new cookie secret file is
 * world-readable), a failover command, the admin API (/status, /metrics, /events, denied
 * requests), `halo status`, hostile replication peers, a SIGUSR2 status dump, `halo
 * validate` on a broken config, a stop, and a start refused for a loose key file. Then
 * no captured byte may hold any of the secrets in any form we can think of.
 * Root only (network namespaces); skipped with the reason otherwise.
 */
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { createNetns, netnsSupport, type Netns } from '../helpers/netns.js';
import { startNodeInNetns, type NodeInNetns } from '../helpers/netns-node.js';
import { HALO_BIN, killAll, startDemoBackend, startHalo, type Proc } from '../helpers/processes.js';
import { testTempDir } from '../helpers/temp-dir.js';

const support = netnsSupport();
const why = support.ok ? '' : ` (skipped: ${support.reason})`;

/** Every form of a secret a careless line could print: as written, its bytes in hex and base64, and the key's decoded bytes. */
export function secretForms(secret: string): string[] {
  const bytes = Buffer.from(secret, 'utf8');
  const forms = [secret, bytes.toString('hex'), bytes.toString('base64'), bytes.toString('base64url'), secret.slice(0, 16)];
  if (/^[0-9a-f]+$/i.test(secret) && secret.length % 2 === 0) {
    const raw = Buffer.from(secret, 'hex');
    forms.push(raw.toString('base64'), raw.toString('base64url'), raw.toString('latin1'));
  }
  // JSON would escape nothing in these, but a log line may quote or upper-case hex
  forms.push(...forms.filter((f) => /^[0-9a-f]+$/.test(f)).map((f) => f.toUpperCase()));
  // base64 without its padding, and 16-character slices of the long forms, catch a cut or re-padded copy
  return [...new Set(forms.flatMap((f) => [f.replace(/=+$/, ''), ...(f.length >= 32 ? [f.slice(8, 24)] : [])]).filter((f) => f.length >= 12))];
}

/** Each secret form found in the text, as "name: form". */
function leaks(text: string, secrets: Record<string, string>): string[] {
  return Object.entries(secrets).flatMap(([name, value]) => secretForms(value).filter((f) => text.includes(f)).map((f) => `${name}: ${f}`));
}

function run(cmd: string, args: string[], timeoutMs = 20_000): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : -1;
      resolve({ code, out: `${stdout}${stderr}` });
    });
  });
}

const ADMIN_PORT = 19797;
const WEB_PORT = 18080;
const ADDRESS = '10.219.0.1';

/** Runs in the node's namespace: HTTP and WebSocket requests to the admin API, returned whole. */
const DRIVER = `
import WebSocket from 'ws';
const base = 'http://127.0.0.1:${ADMIN_PORT}';
serve(async (cmd) => {
  if (cmd.op === 'http') {
    const res = await fetch(base + cmd.path, { method: cmd.method ?? 'GET', headers: cmd.headers ?? {}, body: cmd.body, signal: AbortSignal.timeout(10000) });
    return { status: res.status, headers: Object.fromEntries(res.headers), body: await res.text() };
  }
  if (cmd.op === 'ws') {
    return await new Promise((resolve) => {
      const ws = new WebSocket(base.replace('http', 'ws') + cmd.path, cmd.protocols ?? [], { headers: cmd.headers ?? {} });
      const messages = [];
      let refused;
      ws.on('message', (d) => messages.push(String(d)));
      ws.on('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => { refused = { status: res.statusCode, headers: res.headers, body }; ws.terminate(); });
      });
      ws.on('error', () => undefined);
      ws.on('close', () => resolve({ refused, messages }));
      setTimeout(() => ws.terminate(), cmd.ms ?? 1000);
    });
  }
});
`;

describe.skipIf(!support.ok)(`secrets stay secret: logs, status, metrics, events, CLI${why}`, () => {
  let ns: Netns;
  let driver: NodeInNetns;
  let node: Proc & { configFile: string };
  const dir = testTempDir('halo-secrets-');
  const key = randomBytes(32).toString('hex');
  const token = randomBytes(24).toString('base64url');
  const cookie = randomBytes(32).toString('hex');
  const secrets = { key, token, cookie };
  const keyFile = join(dir, 'cluster.key');
  const tokenFile = join(dir, 'admin.token');
  const cookieFile = join(dir, 'cookie.secret');
  const looseCookieFile = join(dir, 'loose-cookie.secret');
  /** Everything any step printed or answered, for the final search. */
  const captured: string[] = [];
  let config: Record<string, unknown>;

  beforeAll(async () => {
    writeFileSync(keyFile, `${key}\n`, { mode: 0o600 });
    writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
    writeFileSync(cookieFile, `${cookie}\n`, { mode: 0o600 });
    // a reload must refuse this one: mode set after the write, whatever the umask
    writeFileSync(looseCookieFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
    chmodSync(looseCookieFile, 0o644);
    ns = await createNetns('secrets');
    await ns.ip('link', 'add', 'e0', 'type', 'veth', 'peer', 'name', 'e1');
    await ns.ip('addr', 'add', `${ADDRESS}/24`, 'dev', 'e0');
    await ns.ip('link', 'set', 'e0', 'up');
    await ns.ip('link', 'set', 'e1', 'up');
    const backend = await startDemoBackend('be1', { netns: ns.name });
    config = {
      node: { name: 'lb1', run_dir: dir },
      admin: { listen: `127.0.0.1:${ADMIN_PORT}`, token_file: tokenFile },
      cluster: { id: 77, key_file: keyFile, interface: 'e0', address: ADDRESS, vips: [{ address: '10.219.0.100/24' }], advert_interval_ms: 50 },
      services: [
        {
          name: 'web',
          mode: 'http',
          listen: { address: '127.0.0.1', port: WEB_PORT },
          backends: [{ name: 'be1', address: '127.0.0.1', port: backend.http }],
          persistence: { type: 'cookie', secret_file: cookieFile },
          timeouts: { drain_ms: 100 },
        },
      ],
    };
    node = await startHalo(config, {}, { netns: ns.name });
    await node.waitFor((e) => e['message'] === 'node_started');
    await node.waitFor((e) => e['message'] === 'state_change' && e['state'] === 'MASTER', 10_000);
    driver = await startNodeInNetns(ns.name, DRIVER, { maxLifetimeMs: 120_000 });
  }, 60_000);

  afterAll(async () => {
    await driver?.stop();
    await killAll();
    await ns?.destroy();
  });

  const http = async (path: string, opts: { method?: string; headers?: Record<string, string>; body?: string } = {}) => {
    const r = await driver.ask<{ status: number; headers: Record<string, string>; body: string }>({ op: 'http', path, ...opts }, 15_000);
    captured.push(JSON.stringify(r));
    return r;
  };
  const bearer = { authorization: `Bearer ${token}` };
  const cli = async (args: string[], inNetns = false) => {
    const r = inNetns ? await run('ip', ['netns', 'exec', ns.name, process.execPath, HALO_BIN, ...args]) : await run(process.execPath, [HALO_BIN, ...args]);
    captured.push(r.out);
    return r;
  };
  const writeConfig = (c: unknown) => writeFileSync(node.configFile, stringify(c));

  it('the search finds a secret in each form it looks for (or it could not fail)', () => {
    const k = 'ab'.repeat(32);
    expect(leaks(`x ${Buffer.from(k, 'hex').toString('base64')} y`, { k })).not.toEqual([]);
    expect(leaks(Buffer.from(`${k}`).toString('base64'), { k })).not.toEqual([]);
    expect(leaks(k.toUpperCase(), { k })).not.toEqual([]);
    expect(leaks(`cut: ${k.slice(8, 24)}`, { k })).not.toEqual([]);
    expect(leaks('nothing here', { k })).toEqual([]);
  });

  it('admin API with the token: /status, /metrics, /events; without it: 401 saying nothing', async () => {
    const status = await http('/status', { headers: bearer });
    expect(status.status).toBe(200);
    expect(JSON.parse(status.body)).toMatchObject({ node: 'lb1' });
    const metrics = await http('/metrics', { headers: bearer });
    expect(metrics.body).toContain('halo_election_state');
    for (const denied of [await http('/status'), await http(`/status?token=${token}`), await http('/metrics', { headers: { authorization: 'Bearer wrong-token-0123456789' } })]) {
      expect(denied.status).toBe(401);
      expect(denied.body).not.toMatch(/lb1|web|be1|MASTER|10\.219/);
    }
    const events = await driver.ask<{ refused?: unknown; messages: string[] }>({ op: 'ws', path: '/events?since=0', headers: bearer, ms: 1500 }, 10_000);
    captured.push(JSON.stringify(events));
    expect(events.refused).toBeUndefined();
    expect(events.messages.some((m) => m.includes('node_started'))).toBe(true);
    const browser = await driver.ask<{ refused?: unknown; messages: string[] }>({ op: 'ws', path: '/events', protocols: [`bearer.${Buffer.from(token).toString('base64url')}`], ms: 500 }, 10_000);
    captured.push(JSON.stringify(browser));
    expect(browser.messages.length).toBeGreaterThan(0);
  });

  it('reloads: a good one applies; an invalid one and one with a world-readable cookie secret are refused and change nothing', async () => {
    const svc = (config['services'] as Array<Record<string, unknown>>)[0]!;
    const weighted = { ...config, services: [{ ...svc, backends: [{ ...(svc['backends'] as object[])[0], weight: 5 }] }] };
    writeConfig(weighted);
    const good = await cli(['reload', '--config', node.configFile]);
    expect(good.code, good.out).toBe(0);
    writeConfig({ ...weighted, services: [{ ...svc, listen: { port: 'eighty' } }] });
    const invalid = await http('/reload', { method: 'POST', headers: bearer });
    expect(invalid.status).toBe(409);
    writeConfig({ ...weighted, services: [...(weighted.services as object[]), { ...svc, name: 'web2', listen: { address: '127.0.0.1', port: WEB_PORT + 1 }, persistence: { type: 'cookie', secret_file: looseCookieFile } }] });
    const loose = await cli(['reload', '--config', node.configFile]);
    expect(loose.code).toBe(1);
    expect(loose.out).toContain(`services[web2].persistence.secret_file: ${looseCookieFile} has mode 0644`);
    expect(loose.out).toContain(`chmod 600 ${looseCookieFile}`);
    const refused = await node.waitFor((e) => e['message'] === 'reload_refused' && e['code'] === 'HALO_ERR_KEY_PERMISSIONS');
    expect(String(refused['problems'])).toContain('has mode 0644');
    const after = JSON.parse((await http('/status', { headers: bearer })).body) as { services: Array<{ name: string }> };
    expect(after.services.map((s) => s.name)).toEqual(['web']);
    writeConfig(weighted);
  });

  it('failover on the only node: refused (nobody takes over), then released; halo status through the config', async () => {
    const failover = await cli(['failover', '--config', node.configFile]);
    expect(failover.out).toMatch(/no other node/);
    const release = await cli(['failover', '--config', node.configFile, '--release']);
    expect(release.code, release.out).toBe(0);
    const viaApi = await http('/failover', { method: 'POST', headers: { ...bearer, 'content-type': 'application/json' }, body: '{"hold_ms": 0}' });
    expect([200, 409]).toContain(viaApi.status);
    const status = await cli(['status', '--config', node.configFile], true);
    expect(status.code, status.out).toBe(0);
    expect(status.out).toContain('lb1');
    const json = await cli(['status', '--config', node.configFile, '--json'], true);
    expect(json.code, json.out).toBe(0);
    const wrong = await cli(['status', '--config', node.configFile, '--token-file', cookieFile], true);
    expect(wrong.code).toBe(1);
  }, 30_000);

  it('hostile replication peers (wrong key, garbage, an authenticated one) and a SIGUSR2 status dump', async () => {
    const script = fileURLToPath(new URL('../fixtures/replication-hostile-peer.ts', import.meta.url));
    const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
    const peer = await run('ip', ['netns', 'exec', ns.name, process.execPath, '--import', tsx, script, ADDRESS, '7947', keyFile, node.configFile], 60_000);
    captured.push(peer.out);
    expect(peer.out).toContain('wrongKey');
    node.child.kill('SIGUSR2');
    await node.waitFor((e) => e['message'] === 'status');
  }, 70_000);

  it('halo validate on a broken config, a stop, and a start refused for a world-readable key', async () => {
    const broken = join(dir, 'broken.yaml');
    writeFileSync(broken, stringify({ ...config, cluster: { ...(config['cluster'] as object), key_env: 'ALSO' }, admin: { listen: '0.0.0.0:9797', token_file: tokenFile, token_env: 'X' } }));
    const validate = await cli(['validate', '--config', broken]);
    expect(validate.code).not.toBe(0);
    expect(validate.out).toContain('exactly one of key_file or key_env');

    node.child.kill('SIGTERM');
    await node.waitFor((e) => e['message'] === 'node_stopped', 15_000);
    await node.kill();

    const looseKey = join(dir, 'loose-cluster.key');
    writeFileSync(looseKey, `${key}\n`, { mode: 0o600 });
    chmodSync(looseKey, 0o640 | 0o004);
    const refused = await startHalo({ ...config, cluster: { ...(config['cluster'] as object), key_file: looseKey } }, {}, { netns: ns.name });
    const failed = await refused.waitFor((e) => e['message'] === 'start_failed');
    expect(failed['code']).toBe('HALO_ERR_KEY_PERMISSIONS');
    expect(String(failed['cause'])).toBe(`cluster.key_file: ${looseKey} has mode 0644: other users can read it, so it cannot hold a secret (allowed: 0600, or 0640 for a group such as root:halo); fix: chmod 600 ${looseKey}`);
    const code = refused.child.exitCode ?? ((await once(refused.child, 'exit')) as [number | null])[0];
    expect(code).toBe(1);
    captured.push(refused.lines.join('\n'));
  }, 40_000);

  it('no secret in any form in anything captured: logs of every step, API answers, CLI output', () => {
    const logs = node.lines.join('\n');
    // the log is the real thing, debug lines included
    expect(logs).toContain('"level":"debug"');
    for (const m of ['node_started', 'reload', 'reload_refused', 'failover_requested', 'admin_denied', 'node_stopped']) expect(logs, m).toContain(`"${m}"`);
    const all = [logs, ...captured].join('\n');
    expect(all).toContain('halo_election_state');
    expect(all).toContain('HALO_ERR_KEY_PERMISSIONS');
    expect(leaks(all, secrets)).toEqual([]);
    // and the files themselves are what the node read (so the search looked for the right thing)
    expect(readFileSync(keyFile, 'utf8').trim()).toBe(key);
  });
});
