/**
 * Dispatcher.reconfigure: a config reload applied to a running service keeps its tables
 * (persistence, connections, UDP flows) and its load accounting right.
 */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/load.js';
import type { ServiceConfig } from '../../config/schema.js';
import { Dispatcher } from './dispatcher.js';
import { tableChanges } from './table-changes.js';

const A = '      - { name: a, address: 127.0.0.1, port: 9001 }';
const B = '      - { name: b, address: 127.0.0.1, port: 9002 }';
const C = '      - { name: c, address: 127.0.0.1, port: 9003 }';

function service(opts: { backends?: string[]; extra?: string; mode?: string; algorithm?: string } = {}): ServiceConfig {
  const cfg = parseConfig(`
services:
  - name: web
    mode: ${opts.mode ?? 'tcp'}
    listen: { port: 8080 }
    algorithm: ${opts.algorithm ?? 'round_robin'}
    backends:
${(opts.backends ?? [A, B, C]).join('\n')}
${opts.extra ?? ''}`);
  return cfg.services[0]!;
}

const info = (ip: string, port = 1) => ({ clientIp: ip, clientPort: port, connectMs: 1 });
const active = (d: Dispatcher) => Object.fromEntries(d.backendStates().map((s) => [`${s.pool}/${s.name}`, s.active]));

describe('Dispatcher.reconfigure keeps the tables', () => {
  it('source-IP persistence: every client keeps its backend across a weight change and an added backend; same table object', () => {
    const persist = '    persistence: { type: source_ip, ttl_ms: 600000 }';
    const d = new Dispatcher(service({ extra: persist }));
    const clients = Array.from({ length: 30 }, (_, i) => `10.0.0.${i + 1}`);
    const before = clients.map((ip) => d.choose({ clientIp: ip }, 0)?.target.name);
    expect(new Set(before).size).toBe(3);
    const table = d.persistence;
    d.reconfigure(service({ backends: [A, B.replace('port: 9002 }', 'port: 9002, weight: 5 }'), C, '      - { name: d, address: 127.0.0.1, port: 9004 }'], extra: persist }));
    expect(d.persistence).toBe(table);
    expect(table?.size).toBe(30);
    const after = clients.map((ip) => d.choose({ clientIp: ip }, 1000));
    expect(after.map((c) => c?.target.name)).toEqual(before);
    expect(after.every((c) => c?.persisted === true)).toBe(true);
    // New clients can land on the new backend.
    const fresh = new Set(Array.from({ length: 40 }, (_, i) => d.choose({ clientIp: `10.1.0.${i}` }, 2000)?.target.name));
    expect(fresh.has('d')).toBe(true);
  });

  it('the connection table and UDP flows keep their entries; a flow keeps its backend', () => {
    const d = new Dispatcher(service({ mode: 'udp' }));
    const flow = d.udpFlow('10.0.0.1', 5000, 0);
    if (flow === undefined || 'rejected' in flow) throw new Error('no flow');
    const tcp = new Dispatcher(service());
    const h = tcp.connected(tcp.choose({ clientIp: '10.0.0.2' }, 0)!.target, info('10.0.0.2'), 0);
    d.reconfigure(service({ mode: 'udp', backends: [A, B, C, '      - { name: d, address: 127.0.0.1, port: 9004 }'] }));
    tcp.reconfigure(service({ backends: [A, B, C, '      - { name: d, address: 127.0.0.1, port: 9004 }'] }));
    const again = d.udpFlow('10.0.0.1', 5000, 100);
    expect(again).toMatchObject({ created: false, target: { name: flow.target.name } });
    expect(d.flows.size).toBe(1);
    expect(tcp.connections.get(h.id)).toBeDefined();
    h.end(200);
    expect(tcp.connections.size).toBe(0);
  });
});

describe('Dispatcher.reconfigure keeps load accounting right', () => {
  it('least_connections: a new balancer (backend added) is told the open connections; their ends are counted on it', () => {
    const d = new Dispatcher(service({ algorithm: 'least_connections', backends: [A, B] }));
    const target = (name: string) => ({ pool: 'default', name, address: '127.0.0.1', port: name === 'a' ? 9001 : 9002 });
    const open = [1, 2, 3].map((i) => d.connected(target('a'), info(`10.0.0.${i}`), 0));
    d.connected(target('b'), info('10.0.0.9'), 0);
    d.reconfigure(service({ algorithm: 'least_connections', backends: [A, B, C] }));
    expect(active(d)).toEqual({ 'default/a': 3, 'default/b': 1, 'default/c': 0 });
    // c (0) first, then b and c tie before a (3): a is not picked until it drains.
    const picks = Array.from({ length: 3 }, (_, i) => {
      const c = d.choose({ clientIp: `10.2.0.${i}` }, 10)!;
      d.connected(c.target, info(`10.2.0.${i}`), 10);
      return c.target.name;
    });
    expect(picks).not.toContain('a');
    for (const h of open) h.end(20);
    expect(active(d)['default/a']).toBe(0);
    // a is now the least loaded: the balancer saw the ends.
    expect(d.choose({ clientIp: '10.3.0.1' }, 30)?.target.name).toBe('a');
  });

  it('a removed backend: its open connection ends cleanly, it leaves status and metrics, and its persistent clients move', () => {
    const persist = '    persistence: { type: source_ip, ttl_ms: 600000 }';
    const d = new Dispatcher(service({ extra: persist }));
    let onC: string | undefined;
    for (let i = 1; i < 30 && onC === undefined; i++) if (d.choose({ clientIp: `10.0.0.${i}` }, 0)?.target.name === 'c') onC = `10.0.0.${i}`;
    if (onC === undefined) throw new Error('nobody on c');
    const h = d.connected({ pool: 'default', name: 'c', address: '127.0.0.1', port: 9003 }, info(onC), 0);
    expect(d.snapshot(0).service.concurrentConnections).toBe(1);
    d.reconfigure(service({ backends: [A, B], extra: persist }));
    expect(d.backendStates().map((s) => s.name)).toEqual(['a', 'b']);
    expect(Object.keys(d.snapshot(0).backends).sort()).toEqual(['default/a', 'default/b']);
    expect(d.snapshot(0).service.backendsTotal).toBe(2);
    expect(['a', 'b']).toContain(d.choose({ clientIp: onC }, 10)?.target.name);
    h.end(20);
    expect(d.snapshot(20).service.concurrentConnections).toBe(0);
  });

  it('a weight change keeps the balancer (weighted round robin follows the new weights); weight 0 drains', () => {
    const d = new Dispatcher(service({ algorithm: 'weighted_round_robin' }));
    d.reconfigure(service({ algorithm: 'weighted_round_robin', backends: [A.replace('port: 9001 }', 'port: 9001, weight: 3 }'), B, C.replace('port: 9003 }', 'port: 9003, weight: 0 }')] }));
    const counts: Record<string, number> = {};
    for (let i = 0; i < 40; i++) {
      const name = d.choose({ clientIp: `10.0.0.${i}` }, i)?.target.name ?? 'none';
      counts[name] = (counts[name] ?? 0) + 1;
    }
    expect(counts).toEqual({ a: 30, b: 10 });
  });

  it('health survives: a backend down stays down (also when its port moves); a moved backend gets a new target', () => {
    const d = new Dispatcher(service());
    d.setBackendUp('default', 'b', false, 0);
    d.reconfigure(service({ backends: [A, B.replace('9002', '9012'), C] }));
    expect(d.backendStates().find((s) => s.name === 'b')?.up).toBe(false);
    d.setBackendUp('default', 'b', true, 10);
    const seen = new Map<string, number>();
    for (let i = 0; i < 9; i++) {
      const t = d.choose({ clientIp: `10.0.0.${i}` }, 20)!.target;
      seen.set(t.name, t.port);
    }
    expect(seen.get('b')).toBe(9012);
  });

  it('max_connections per backend: a lower cap applies to the load already there', () => {
    const d = new Dispatcher(service({ backends: [A, B] }));
    const target = { pool: 'default', name: 'a', address: '127.0.0.1', port: 9001 };
    d.connected(target, info('10.0.0.1'), 0);
    d.connected(target, info('10.0.0.2'), 0);
    d.reconfigure(service({ backends: [A.replace('port: 9001 }', 'port: 9001, max_connections: 2 }'), B] }));
    for (let i = 0; i < 6; i++) expect(d.choose({ clientIp: `10.1.0.${i}` }, 10)?.target.name).toBe('b');
  });
});

describe('Dispatcher.reconfigure: limits, pools and rules', () => {
  it('a lower per-client cap counts the connections already open', () => {
    const d = new Dispatcher(service({ extra: '    limits: { max_connections_per_client: 5 }' }));
    for (let i = 0; i < 3; i++) expect(d.admitConnection('10.0.0.1', 0).ok).toBe(true);
    d.reconfigure(service({ extra: '    limits: { max_connections_per_client: 3, max_connections: 10 }' }));
    expect(d.admitConnection('10.0.0.1', 1)).toEqual({ ok: false, reason: 'max_connections_per_client' });
    d.releaseConnection('10.0.0.1', 2);
    expect(d.admitConnection('10.0.0.1', 3).ok).toBe(true);
    expect(d.service.limits.max_connections).toBe(10);
  });

  it('a request rate limit set by a reload applies at once', () => {
    const d = new Dispatcher(service({ mode: 'http' }));
    for (let i = 0; i < 5; i++) expect(d.admitRequest('10.0.0.1', 0).ok).toBe(true);
    d.reconfigure(service({ mode: 'http', extra: '    limits: { requests_per_second_per_client: 2 }' }));
    expect([0, 1, 2].map(() => d.admitRequest('10.0.0.1', 10).ok)).toEqual([true, true, false]);
  });

  it('a pool and a rule added, then removed', () => {
    const d = new Dispatcher(service({ mode: 'http' }));
    const header = () => undefined;
    expect(d.route({ path: '/api/x', host: 'h', header })).toBe('default');
    d.reconfigure(service({ mode: 'http', extra: '    pools:\n      - name: api\n        backends: [{ name: api1, address: 127.0.0.1, port: 9101 }]\n    rules:\n      - { match: { path_prefix: /api/ }, pool: api }' }));
    expect(d.route({ path: '/api/x', host: 'h', header })).toBe('api');
    expect(d.choose({ clientIp: '10.0.0.1', pool: 'api' }, 0)?.target.name).toBe('api1');
    d.reconfigure(service({ mode: 'http' }));
    expect(d.route({ path: '/api/x', host: 'h', header })).toBe('default');
    expect(d.choose({ clientIp: '10.0.0.1', pool: 'api' }, 0)).toBeUndefined();
    expect(d.backendStates().map((s) => s.pool)).toEqual(['default', 'default', 'default']);
  });
});

describe('tableChanges: what needs a new dispatcher', () => {
  it('names each setting that changes a table, and only those', () => {
    const base = service({ extra: '    persistence: { type: source_ip, ttl_ms: 600000 }' });
    expect(tableChanges(base, service({ backends: [A, B], algorithm: 'least_connections', extra: '    persistence: { type: source_ip, ttl_ms: 600000 }\n    retries: 5' }))).toEqual([]);
    expect(tableChanges(base, service({ extra: '    persistence: { type: source_ip, ttl_ms: 60000, max_entries: 10 }' }))).toEqual(['persistence.ttl_ms', 'persistence.max_entries']);
    expect(tableChanges(base, service())).toEqual(['persistence.type']);
    expect(tableChanges(service(), service({ mode: 'udp' }))).toEqual(['mode']);
    expect(tableChanges(service({ mode: 'udp' }), service({ mode: 'udp', extra: '    udp_flow_idle_ms: 5000\n    limits: { max_flows: 10 }' }))).toEqual(['udp_flow_idle_ms', 'limits.max_flows']);
    // An unused TTL of no table at all is no change.
    expect(tableChanges(service(), service({ extra: '    persistence: { type: none, ttl_ms: 5000 }' }))).toEqual([]);
  });

  it('reconfigure refuses them, changing nothing', () => {
    const d = new Dispatcher(service({ extra: '    persistence: { type: source_ip, ttl_ms: 600000 }' }));
    expect(() => d.reconfigure(service({ backends: [A], extra: '    persistence: { type: source_ip, ttl_ms: 1000 }' }))).toThrow(/persistence.ttl_ms cannot change in place/);
    expect(d.backendStates()).toHaveLength(3);
    expect(() => d.reconfigure(service({ mode: 'http', extra: '    persistence: { type: source_ip, ttl_ms: 600000 }' }))).toThrow(/mode/);
  });
});
