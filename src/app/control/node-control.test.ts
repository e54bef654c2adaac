/**
 * NodeControl.reload against a real data plane on loopback (no election): what a reload
 * applies, what it refuses, and that tables and answers survive it. Clients use their
 * own 127.0.0.x source address, so source-IP persistence sees many clients.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { loadConfigFile } from '../../config/load.js';
import { DataPlane } from '../data-plane.js';
import { startDemoBackend, type DemoBackend } from '../demo-backend.js';
import { freePort } from '../../../test/helpers/processes.js';
import { get } from '../../../test/helpers/http-client.js';
import { recordingLogger, type LogLine } from '../../../test/helpers/recording-logger.js';
import { testTempDir } from '../../../test/helpers/temp-dir.js';
import { NodeControl } from './node-control.js';

interface Env {
  file: string;
  plane: DataPlane;
  control: NodeControl;
  lines: LogLine[];
  backends: DemoBackend[];
  webPort: number;
  write(config: unknown): void;
  config(over?: { web?: Record<string, unknown>; extra?: unknown[]; node?: Record<string, unknown> }): Record<string, unknown>;
}

let env: Env | undefined;

async function setup(): Promise<Env> {
  const backends = await Promise.all(['be1', 'be2', 'be3'].map((name) => startDemoBackend({ name, host: '127.0.0.1', http: 0 })));
  const webPort = await freePort();
  const dir = testTempDir('halo-reload-');
  const file = join(dir, 'halo.yaml');
  const backend = (i: number, extra: Record<string, unknown> = {}) => ({ name: `be${i + 1}`, address: '127.0.0.1', port: backends[i]?.ports.http, ...extra });
  const config = (over: { web?: Record<string, unknown>; extra?: unknown[]; node?: Record<string, unknown> } = {}) => ({
    node: { name: 'n1', run_dir: dir, ...over.node },
    log: { level: 'info' },
    services: [
      { name: 'web', mode: 'http', listen: { address: '127.0.0.1', port: webPort }, health_check: { type: 'none' }, persistence: { type: 'source_ip', ttl_ms: 600_000 }, backends: [backend(0), backend(1)], ...over.web },
      ...(over.extra ?? []),
    ],
  });
  const write = (c: unknown) => writeFileSync(file, stringify(c));
  write(config());
  const lines: LogLine[] = [];
  const log = recordingLogger(lines, { node: 'n1' });
  const plane = new DataPlane(loadConfigFile(file), log);
  await plane.start();
  const control = new NodeControl({ configFile: file, config: plane.config, plane, election: undefined, replication: () => undefined, log, logLevelFixed: false });
  return { file, plane, control, lines, backends, webPort, write, config };
}

const clients = Array.from({ length: 20 }, (_, i) => `127.0.0.${i + 2}`);

async function route(port: number): Promise<string[]> {
  return Promise.all(clients.map(async (localAddress) => String((await get(port, '/', { localAddress })).headers['x-backend'])));
}

beforeEach(async () => {
  env = await setup();
});
afterEach(async () => {
  if (env === undefined) return;
  await env.plane.stop(0);
  await Promise.all(env.backends.map((b) => b.close()));
  env = undefined;
});

function e(): Env {
  if (env === undefined) throw new Error('no setup');
  return env;
}

describe('reload applied: no restart, tables kept', () => {
  it('a weight change, an added backend and an added service: every client keeps its backend, the new service answers, one reload line', async () => {
    const { control, plane, write, config, webPort, lines } = e();
    const before = await route(webPort);
    expect(new Set(before).size).toBe(2);
    const table = plane.services.get('web')?.dispatcher.persistence;
    const apiPort = await freePort();
    const be = e().backends;
    write(
      config({
        web: { backends: [{ name: 'be1', address: '127.0.0.1', port: be[0]?.ports.http, weight: 5 }, { name: 'be2', address: '127.0.0.1', port: be[1]?.ports.http }, { name: 'be3', address: '127.0.0.1', port: be[2]?.ports.http }] },
        extra: [{ name: 'api', mode: 'http', listen: { address: '127.0.0.1', port: apiPort }, health_check: { type: 'none' }, backends: [{ name: 'be3', address: '127.0.0.1', port: be[2]?.ports.http }] }],
      }),
    );
    const r = await control.reload();
    expect(r.ok).toBe(true);
    expect(r.message).toContain('services added: api');
    expect(r.message).toContain('service web: backends[be1].weight, backends[be3] added');
    expect(plane.services.get('web')?.dispatcher.persistence).toBe(table);
    expect(table?.size).toBe(20);
    expect(await route(webPort)).toEqual(before);
    expect((await get(apiPort)).headers['x-backend']).toBe('be3');
    const reload = lines.filter((l) => l.event === 'reload');
    expect(reload).toHaveLength(1);
    expect(reload[0]?.fields).toMatchObject({ services_added: ['api'], services_removed: [], services_changed: ['web: backends[be1].weight, backends[be3] added'], tables_reset: [], election_changed: [] });
    expect(control.config.services.map((s) => s.name)).toEqual(['web', 'api']);
  });

  it('a new listen port: the new one answers, the old one no longer accepts, the table stays', async () => {
    const { control, plane, write, config, webPort } = e();
    const before = await route(webPort);
    const port = await freePort();
    write(config({ web: { listen: { address: '127.0.0.1', port } } }));
    expect((await control.reload()).ok).toBe(true);
    expect(await route(port)).toEqual(before);
    await expect(get(webPort, '/', { timeoutMs: 1000 })).rejects.toThrow(/ECONNREFUSED/);
    expect(plane.boundPort('web')).toBe(port);
  });

  it('a removed service stops listening; a persistence TTL change resets that table and says so', async () => {
    const { control, write, config, webPort, lines, plane } = e();
    const apiPort = await freePort();
    const api = { name: 'api', mode: 'http', listen: { address: '127.0.0.1', port: apiPort }, health_check: { type: 'none' }, backends: [{ name: 'be3', address: '127.0.0.1', port: e().backends[2]?.ports.http }] };
    write(config({ extra: [api] }));
    expect((await control.reload()).ok).toBe(true);
    await route(webPort);
    write(config({ web: { persistence: { type: 'source_ip', ttl_ms: 60_000 } } }));
    const r = await control.reload();
    expect(r.ok).toBe(true);
    expect(r.message).toContain('tables started empty: web (persistence.ttl_ms changed)');
    await expect(get(apiPort, '/', { timeoutMs: 1000 })).rejects.toThrow(/ECONNREFUSED/);
    expect(plane.services.get('web')?.dispatcher.persistence?.size).toBe(0);
    expect((await get(webPort)).status).toBe(200);
    expect(lines.filter((l) => l.event === 'reload').at(-1)?.fields).toMatchObject({ services_removed: ['api'], tables_reset: ['web (persistence.ttl_ms changed)'] });
  });

  it('the same file again: nothing to do', async () => {
    expect(await e().control.reload()).toEqual({ ok: true, message: `${e().file}: no change` });
  });
});

describe('reload refused: the old config keeps running untouched', () => {
  it('an invalid file: every problem with its path, logged as reload_refused', async () => {
    const { control, write, config, webPort, lines, plane } = e();
    const before = await route(webPort);
    const bad = config({ web: { backends: [{ name: 'be1', address: '127.0.0.1', port: 70000 }], algorithm: 'fastest' } });
    write(bad);
    const r = await control.reload();
    expect(r.ok).toBe(false);
    expect(r.message).toContain('reload refused, the config in force keeps running:');
    expect(r.message).toContain('services[0].backends[0].port: expected an integer 1-65535, got 70000');
    expect(r.message).toContain('services[0].algorithm:');
    const refused = lines.find((l) => l.event === 'reload_refused');
    expect(refused?.level).toBe('error');
    expect(refused?.fields['problems']).toHaveLength(2);
    expect(await route(webPort)).toEqual(before);
    expect(plane.services.get('web')?.config.backends).toHaveLength(2);
    writeFileSync(e().file, 'services: [\n');
    expect((await control.reload()).message).toMatch(/YAML/);
  });

  it('a change that needs a restart refuses the whole reload, the live parts too', async () => {
    const { control, write, config, plane } = e();
    write(config({ node: { name: 'other' }, web: { retries: 5 } }));
    const r = await control.reload();
    expect(r).toEqual({ ok: false, message: 'reload refused, the config in force keeps running:\n  node.name: changed ("n1" -> "other"): needs a restart' });
    expect(plane.services.get('web')?.config.retries).toBe(2);
  });

  it('an added service whose port is taken: refused with the errno, nothing else applied', async () => {
    const { control, write, config, plane, webPort } = e();
    const be = e().backends;
    const taken = be[2]?.ports.http;
    write(
      config({
        web: { retries: 5 },
        extra: [{ name: 'api', mode: 'http', listen: { address: '127.0.0.1', port: taken }, health_check: { type: 'none' }, backends: [{ name: 'be3', address: '127.0.0.1', port: taken }] }],
      }),
    );
    const r = await control.reload();
    expect(r.ok).toBe(false);
    expect(r.message).toContain(`service api: cannot listen on tcp 127.0.0.1:${taken}: EADDRINUSE`);
    expect(plane.services.has('api')).toBe(false);
    expect(plane.services.get('web')?.config.retries).toBe(2);
    expect(control.config.services).toHaveLength(1);
    expect((await get(webPort)).status).toBe(200);
  });

  it('another file than the one the node runs', async () => {
    const r = await e().control.reload('/etc/hosts');
    expect(r.ok).toBe(false);
    expect(r.message).toContain(`this node runs ${e().file}, not /etc/hosts`);
  });
});

describe('failover without a cluster section', () => {
  it('says there is nothing to hand over', async () => {
    expect(await e().control.failover({})).toEqual({ ok: false, message: 'this node has no cluster section: no election, nothing to hand over' });
  });
});
