import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/load.js';
import type { ServiceConfig } from '../../config/schema.js';
import { Dispatcher } from './dispatcher.js';

const SECRET = Buffer.from('a-test-secret-of-enough-length');

function service(extra: string, mode = 'http'): ServiceConfig {
  const cfg = parseConfig(`
services:
  - name: web
    mode: ${mode}
    listen: { port: 8080 }
    backends:
      - { name: a, address: 127.0.0.1, port: 9001 }
      - { name: b, address: 127.0.0.1, port: 9002 }
      - { name: c, address: 127.0.0.1, port: 9003 }
${extra}`);
  return cfg.services[0]!;
}

const header = () => undefined;

describe('Dispatcher', () => {
  it('spreads new clients over the pool and skips down and avoided backends', () => {
    const d = new Dispatcher(service(''));
    const seen = new Set<string>();
    for (let i = 0; i < 30; i++) seen.add(d.choose({ clientIp: `10.0.0.${i}` }, i)!.target.name);
    expect([...seen].sort()).toEqual(['a', 'b', 'c']);
    d.setBackendUp('default', 'b', false, 0);
    for (let i = 0; i < 30; i++) expect(d.choose({ clientIp: '10.0.0.1', avoid: new Set(['a']) }, i)!.target.name).toBe('c');
    d.setBackendUp('default', 'a', false, 0);
    d.setBackendUp('default', 'c', false, 0);
    expect(d.hasHealthyBackend()).toBe(false);
    expect(d.choose({ clientIp: '10.0.0.1' }, 0)).toBeUndefined();
  });

  it('source-IP persistence keeps a client on its backend and re-balances when it goes down', () => {
    const d = new Dispatcher(service('    persistence: { type: source_ip, ttl_ms: 10000 }'));
    const first = d.choose({ clientIp: '192.0.2.7' }, 0)!;
    expect(first.persisted).toBe(false);
    for (let t = 1; t < 20; t++) {
      const again = d.choose({ clientIp: '192.0.2.7' }, t * 100)!;
      expect(again.target.name).toBe(first.target.name);
      expect(again.persisted).toBe(true);
    }
    d.setBackendUp('default', first.target.name, false, 3000);
    const moved = d.choose({ clientIp: '192.0.2.7' }, 3000)!;
    expect(moved.target.name).not.toBe(first.target.name);
    // The new backend sticks, even after the old one returns.
    d.setBackendUp('default', first.target.name, true, 3100);
    expect(d.choose({ clientIp: '192.0.2.7' }, 3200)!.target.name).toBe(moved.target.name);
    // Past the TTL with no use, the entry is forgotten.
    d.tick(3200 + 10_001);
    expect(d.persistence!.size).toBe(0);
  });

  it('cookie persistence inserts a signed cookie and honours it; a forged one is ignored', () => {
    const d = new Dispatcher(service('    persistence: { type: cookie, secret_env: X, cookie_name: SRV }'), { cookieSecret: SECRET, wallSeconds: () => 1_800_000_000 });
    const first = d.choose({ clientIp: '192.0.2.1' }, 0)!;
    expect(first.setCookie).toMatch(/^SRV=[^;]+; Max-Age=1800; Path=\/; HttpOnly; SameSite=Lax$/);
    const value = first.setCookie!.slice(4, first.setCookie!.indexOf(';'));
    for (let i = 0; i < 10; i++) {
      const again = d.choose({ clientIp: `198.51.100.${i}`, cookie: value }, i)!;
      expect(again.target.name).toBe(first.target.name);
      expect(again.persisted).toBe(true);
      expect(again.setCookie).toBeUndefined();
    }
    const forged = value.replace(first.target.name, first.target.name === 'a' ? 'b' : 'a');
    const r = d.choose({ clientIp: '192.0.2.1', cookie: forged }, 20)!;
    expect(r.persisted).toBe(false);
    expect(r.setCookie).toBeDefined();
    // A client whose backend went down is re-balanced and gets a new cookie.
    d.setBackendUp('default', first.target.name, false, 30);
    const moved = d.choose({ clientIp: '192.0.2.1', cookie: value }, 30)!;
    expect(moved.target.name).not.toBe(first.target.name);
    expect(moved.setCookie).toBeDefined();
  });

  it('routes by rules to named pools', () => {
    const d = new Dispatcher(
      service(`    pools:
      - name: api
        backends: [{ name: api1, address: 127.0.0.1, port: 9101 }]
    rules:
      - { match: { path_prefix: /api/ }, pool: api }`),
    );
    const pool = d.route({ path: '/api/users?x=1', host: 'x', header });
    expect(pool).toBe('api');
    expect(d.choose({ clientIp: '1.2.3.4', pool }, 0)!.target).toEqual({ pool: 'api', name: 'api1', address: '127.0.0.1', port: 9101 });
    expect(d.route({ path: '/index.html', host: 'x', header })).toBe('default');
    expect(d.choose({ clientIp: '1.2.3.4', pool: 'nope' }, 0)).toBeUndefined();
  });

  it('enforces service and per-client connection limits and releases them', () => {
    const d = new Dispatcher(service('    limits: { max_connections: 3, max_connections_per_client: 2 }'));
    expect(d.admitConnection('10.0.0.1', 0).ok).toBe(true);
    expect(d.admitConnection('10.0.0.1', 0).ok).toBe(true);
    expect(d.admitConnection('10.0.0.1', 0)).toEqual({ ok: false, reason: 'max_connections_per_client' });
    expect(d.admitConnection('10.0.0.2', 0).ok).toBe(true);
    expect(d.admitConnection('10.0.0.3', 0)).toEqual({ ok: false, reason: 'max_connections' });
    d.releaseConnection('10.0.0.1', 1);
    expect(d.admitConnection('10.0.0.3', 1).ok).toBe(true);
    expect(d.snapshot(2).service.rejections).toMatchObject({ max_connections: 1, max_connections_per_client: 1 });
  });

  it('rate-limits requests per client', () => {
    const d = new Dispatcher(service('    limits: { requests_per_second_per_client: 5 }'));
    const results = Array.from({ length: 8 }, () => d.admitRequest('10.0.0.1', 0).ok);
    expect(results.filter(Boolean)).toHaveLength(5);
    expect(d.admitRequest('10.0.0.2', 0).ok).toBe(true);
    expect(d.admitRequest('10.0.0.1', 1000).ok).toBe(true);
  });

  it('never picks a backend at its max_connections cap until a connection ends', () => {
    const d = new Dispatcher(
      parseConfig(`
services:
  - name: t
    mode: tcp
    listen: { port: 1 }
    backends:
      - { name: a, address: 127.0.0.1, port: 9001, max_connections: 1 }
      - { name: b, address: 127.0.0.1, port: 9002, max_connections: 1 }
`).services[0]!,
    );
    const h1 = d.connected(d.choose({ clientIp: '1.1.1.1' }, 0)!.target, { clientIp: '1.1.1.1', clientPort: 1, connectMs: 1 }, 0);
    const second = d.choose({ clientIp: '1.1.1.1' }, 0)!;
    const h2 = d.connected(second.target, { clientIp: '1.1.1.1', clientPort: 2, connectMs: 1 }, 0);
    expect(d.choose({ clientIp: '1.1.1.1' }, 0)).toBeUndefined();
    h1.end(1);
    h1.end(1);
    expect(d.choose({ clientIp: '1.1.1.1' }, 1)).toBeDefined();
    h2.end(2);
    expect(d.backendStates().every((b) => b.active === 0)).toBe(true);
    expect(d.connections.size).toBe(0);
  });

  it('accounts connections and bytes into the table and metrics', () => {
    const d = new Dispatcher(service('', 'tcp'));
    const target = d.choose({ clientIp: '10.1.1.1' }, 0)!.target;
    const h = d.connected(target, { clientIp: '10.1.1.1', clientPort: 5555, connectMs: 2 }, 0);
    expect(d.connections.get(h.id)).toMatchObject({ clientIp: '10.1.1.1', clientPort: 5555, backend: target.name });
    h.bytesToBackend(100, 10);
    h.bytesToClient(1000, 10);
    const snap = d.snapshot(500).backends[`default/${target.name}`]!;
    expect(snap.concurrentConnections).toBe(1);
    expect(snap).toMatchObject({ bytesInTotal: 100, bytesOutTotal: 1000, totalConnections: 1 });
    h.end(600);
    expect(d.snapshot(700).backends[`default/${target.name}`]!.concurrentConnections).toBe(0);
  });

  it('keeps a UDP flow on one backend, caps flows by evicting the least recently seen, expires idle ones', () => {
    const d = new Dispatcher(service('    limits: { max_flows: 2 }\n    udp_flow_idle_ms: 1000', 'udp'));
    const f1 = d.udpFlow('10.0.0.1', 5000, 0);
    expect(f1 && 'target' in f1 && f1.created).toBe(true);
    for (let t = 1; t < 10; t++) {
      const again = d.udpFlow('10.0.0.1', 5000, t * 50);
      expect(again && 'target' in again && !again.created && again.target.name).toBe(f1 && 'target' in f1 && f1.target.name);
      d.udpDatagram('10.0.0.1:5000', 'to_backend', 10, t * 50);
    }
    expect(d.udpFlow('10.0.0.2', 5000, 100)).toMatchObject({ created: true });
    expect(d.udpFlow('10.0.0.2', 5000, 100)).not.toHaveProperty('ended');
    // Full: 10.0.0.2 (last seen at 100) is older than 10.0.0.1 (450) and makes room.
    expect(d.udpFlow('10.0.0.3', 5000, 500)).toMatchObject({ created: true, ended: ['10.0.0.2:5000'] });
    expect(d.flows.size).toBe(2);
    expect(d.flows.get('10.0.0.1:5000', 500)).toBeDefined();
    expect(d.snapshot(500).service.rejections).toMatchObject({ evicted: 1, max_flows: 0 });
    expect(d.snapshot(500).service.concurrentConnections).toBe(2);
    // An idle flow is reclaimed before a live one is evicted, and reported with it.
    expect(d.udpFlow('10.0.0.4', 5000, 1460)).toMatchObject({ created: true, ended: ['10.0.0.1:5000'] });
    expect(d.snapshot(1460).service.rejections.evicted).toBe(1);
    expect(d.expireUdpFlows(5000).sort()).toEqual(['10.0.0.3:5000', '10.0.0.4:5000']);
    expect(d.backendStates().every((b) => b.active === 0)).toBe(true);
    expect(d.snapshot(5000).service.concurrentConnections).toBe(0);
  });

  it('a flood of new UDP sources never locks out a new client and spares a busy flow', () => {
    const d = new Dispatcher(service('    limits: { max_flows: 100 }\n    udp_flow_idle_ms: 30000', 'udp'));
    const busy = '192.0.2.1:53';
    let evicted = 0;
    // 5000 spoofed sources at 10 per ms; the busy client sends every 5 ms (a flood churn of 10 ms).
    for (let i = 0; i < 5000; i++) {
      const now = Math.floor(i / 10);
      if (i % 50 === 0) {
        // As the proxy does: the flow, then the datagram that keeps it fresh.
        expect(d.udpFlow('192.0.2.1', 53, now)).toMatchObject({ key: busy, created: i === 0 });
        d.udpDatagram(busy, 'to_backend', 40, now);
      }
      const r = d.udpFlow(`10.${128 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`, 4000, now);
      expect(r).toMatchObject({ created: true });
      evicted += r && 'ended' in r && r.ended !== undefined ? r.ended.length : 0;
      expect(d.flows.size).toBeLessThanOrEqual(100);
    }
    expect(d.flows.get(busy, 500)).toBeDefined();
    expect(d.snapshot(500).service.rejections).toMatchObject({ evicted, max_flows: 0 });
    expect(evicted).toBeGreaterThan(4800);
    // The busy flow kept its first backend all along (no re-creation).
    expect(d.udpFlow('192.0.2.1', 53, 500)).toMatchObject({ created: false });
    expect(d.backendStates().reduce((n, b) => n + b.active, 0)).toBe(100);
  });

  it('moves a UDP flow off a backend that went down', () => {
    const d = new Dispatcher(service('', 'udp'));
    const f = d.udpFlow('10.0.0.1', 1, 0) as { target: { name: string } };
    d.setBackendUp('default', f.target.name, false, 1);
    const g = d.udpFlow('10.0.0.1', 1, 2) as { target: { name: string }; created: boolean };
    expect(g.created).toBe(true);
    expect(g.target.name).not.toBe(f.target.name);
    expect(d.backendStates().reduce((n, b) => n + b.active, 0)).toBe(1);
  });

  it('http: counts requests in flight as load, not idle pooled connections', () => {
    const d = new Dispatcher(service('    algorithm: least_connections'));
    const a = d.choose({ clientIp: '1.1.1.1' }, 0)!.target;
    // Many pooled connections to a, all idle: no load.
    for (let i = 0; i < 5; i++) d.connected(a, { clientIp: '1.1.1.1', clientPort: i, connectMs: 1 }, 0);
    expect(d.backendStates().find((b) => b.name === a.name)!.active).toBe(0);
    const req = d.beginRequest(a, 1);
    expect(d.backendStates().find((b) => b.name === a.name)!.active).toBe(1);
    for (let i = 0; i < 10; i++) expect(d.choose({ clientIp: '1.1.1.1' }, 2)!.target.name).not.toBe(a.name);
    req.end(3);
    req.end(3);
    expect(d.backendStates().every((b) => b.active === 0)).toBe(true);
  });
});
