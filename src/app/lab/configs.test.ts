import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseConfig } from '../../config/load.js';
import { deepMerge, needsCookieSecret, nodeConfig, type NodeConfigInput } from './configs.js';
import { labHosts } from './plan.js';

function input(node: string, nodes: number, extra: Partial<NodeConfigInput> = {}): NodeConfigInput {
  const host = labHosts('t', nodes).find((h) => h.name === node);
  if (host === undefined) throw new Error(node);
  return { lab: 't', nodes, node: host, clusterId: 7, keyFile: '/run/halo-lab/t/cluster.key', election: true, logLevel: 'info', ...extra };
}

describe('lab node configs', () => {
  it('every node of a 3-node lab passes the real schema and cross-checks, priorities 150/100/50', () => {
    const prios = ['lb1', 'lb2', 'lb3'].map((n) => {
      const cfg = parseConfig(stringify(nodeConfig(input(n, 3))), `${n}.yaml`);
      expect(cfg.node.name).toBe(n);
      expect(cfg.log.format).toBe('json');
      expect(cfg.cluster).toMatchObject({ id: 7, interface: 'eth0', key_file: '/run/halo-lab/t/cluster.key', vips: [{ address: '10.77.0.100/24' }] });
      expect(cfg.services.map((s) => `${s.name}/${s.mode}/${s.listen.address}:${s.listen.port}->${s.backends.map((b) => `${b.address}:${b.port}`).join(',')}`)).toEqual([
        'web/http/0.0.0.0:80->10.77.0.21:8080,10.77.0.22:8080',
        'echo/udp/0.0.0.0:53->10.77.0.21:5353,10.77.0.22:5353',
      ]);
      expect(cfg.services[0]?.health_check).toMatchObject({ type: 'tcp', interval_ms: 500 });
      return cfg.cluster?.priority;
    });
    expect(prios).toEqual([150, 100, 50]);
  });

  it('overrides merge over the defaults (per node last); unicast gets the other nodes as peers', () => {
    const cfg = nodeConfig(input('lb2', 3, {
      clusterOverrides: { preempt: false, preempt_delay_ms: 300, advert_interval_ms: 20, transport: { mode: 'unicast' } },
      nodeOverrides: { priority: 200 },
    }));
    const parsed = parseConfig(stringify(cfg));
    expect(parsed.cluster).toMatchObject({ preempt: false, preempt_delay_ms: 300, advert_interval_ms: 20, priority: 200, transport: { mode: 'unicast', peers: ['10.77.0.11', '10.77.0.13'] } });
  });

  it('peers given by the caller are kept', () => {
    const cfg = nodeConfig(input('lb1', 2, { clusterOverrides: { transport: { mode: 'unicast', peers: ['10.77.0.99'] } } }));
    expect((cfg['cluster'] as { transport: unknown }).transport).toEqual({ mode: 'unicast', peers: ['10.77.0.99'] });
  });

  it('election off: no cluster section, and the config is still valid', () => {
    const cfg = nodeConfig(input('lb1', 2, { election: false }));
    expect(cfg['cluster']).toBeUndefined();
    expect(parseConfig(stringify(cfg)).cluster).toBeUndefined();
  });

  it('a bad override is caught by the schema, naming its path', () => {
    const cfg = nodeConfig(input('lb1', 2, { clusterOverrides: { advert_interval_ms: 5 } }));
    expect(() => parseConfig(stringify(cfg))).toThrow(/cluster\.advert_interval_ms/);
  });
});

describe('lab node configs: backends and service overrides', () => {
  const route = (cfg: ReturnType<typeof parseConfig>) =>
    cfg.services.map((s) => `${s.name}/${s.mode}/${s.algorithm}/:${s.listen.port}->${s.backends.map((b) => `${b.name}@${b.address}:${b.port}`).join(',')}`);

  it('a third backend: be3 at .23 serves every service', () => {
    const cfg = parseConfig(stringify(nodeConfig(input('lb1', 2, { backends: 3 }))));
    expect(route(cfg)).toEqual([
      'web/http/round_robin/:80->be1@10.77.0.21:8080,be2@10.77.0.22:8080,be3@10.77.0.23:8080',
      'echo/udp/round_robin/:53->be1@10.77.0.21:5353,be2@10.77.0.22:5353,be3@10.77.0.23:5353',
    ]);
  });

  it('overrides merge into web and echo; unknown names add services on the demo ports; the cookie secret is filled in', () => {
    const cfg = parseConfig(stringify(nodeConfig(input('lb2', 2, {
      backends: 3,
      cookieSecretFile: '/run/halo-lab/t/cookie.key',
      services: {
        web: { persistence: { type: 'source_ip', ttl_ms: 60_000 } },
        echo: { udp_flow_idle_ms: 5000 },
        sticky: { mode: 'http', listen: { port: 81 }, persistence: { type: 'cookie', ttl_ms: 60_000 } },
        conns: { mode: 'tcp', listen: { port: 82 }, algorithm: 'least_connections', backends: [{ name: 'be1', address: '10.77.0.21', port: 8080 }] },
        own: { mode: 'http', listen: { port: 83 }, persistence: { type: 'cookie', secret_env: 'OWN_SECRET' } },
      },
    }))));
    expect(route(cfg)).toEqual([
      'web/http/round_robin/:80->be1@10.77.0.21:8080,be2@10.77.0.22:8080,be3@10.77.0.23:8080',
      'echo/udp/round_robin/:53->be1@10.77.0.21:5353,be2@10.77.0.22:5353,be3@10.77.0.23:5353',
      'sticky/http/round_robin/:81->be1@10.77.0.21:8080,be2@10.77.0.22:8080,be3@10.77.0.23:8080',
      'conns/tcp/least_connections/:82->be1@10.77.0.21:8080',
      'own/http/round_robin/:83->be1@10.77.0.21:8080,be2@10.77.0.22:8080,be3@10.77.0.23:8080',
    ]);
    const svc = (n: string) => cfg.services.find((s) => s.name === n);
    expect(svc('web')?.persistence).toMatchObject({ type: 'source_ip', ttl_ms: 60_000 });
    expect(svc('web')?.health_check).toMatchObject({ type: 'tcp', interval_ms: 500 });
    expect(svc('echo')?.udp_flow_idle_ms).toBe(5000);
    expect(svc('sticky')?.persistence).toMatchObject({ type: 'cookie', secret_file: '/run/halo-lab/t/cookie.key' });
    expect(svc('sticky')?.health_check).toMatchObject({ type: 'tcp', interval_ms: 500 });
    expect(svc('own')?.persistence.secret_file).toBeUndefined();
    expect(svc('own')?.persistence.secret_env).toBe('OWN_SECRET');
  });

  it('an added service without mode or port is refused, naming it', () => {
    expect(() => nodeConfig(input('lb1', 2, { services: { extra: { listen: { port: 90 } } } }))).toThrow('services.extra: a service the lab does not define needs mode and listen.port');
    expect(() => nodeConfig(input('lb1', 2, { services: { extra: { mode: 'tcp' } } }))).toThrow(/services\.extra/);
  });

  it('the lab writes a cookie secret only when a cookie service names none', () => {
    expect(needsCookieSecret({})).toBe(false);
    expect(needsCookieSecret({ web: { persistence: { type: 'source_ip' } } })).toBe(false);
    expect(needsCookieSecret({ web: { persistence: { type: 'cookie', secret_file: '/x' } } })).toBe(false);
    expect(needsCookieSecret({ web: { persistence: { type: 'cookie' } } })).toBe(true);
  });
});

describe('deepMerge', () => {
  it('merges mappings, replaces lists and scalars, skips undefined', () => {
    expect(deepMerge({ a: { b: 1, c: [1, 2] }, d: 1 }, { a: { c: [3] }, d: undefined, e: 2 })).toEqual({ a: { b: 1, c: [3] }, d: 1, e: 2 });
  });
});
