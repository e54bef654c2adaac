import { problems } from '../../test/helpers/config-problems.js';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../core/errors.js';
import { parseConfig } from './load.js';


const base = (extra = '', backendExtra = '') => `
services:
  - name: web
    mode: http
    listen: { port: 8080 }
    backends:
      - { name: a, address: 127.0.0.1, port: 9001${backendExtra} }
      - { name: b, address: 127.0.0.1, port: 9002 }
${extra}`;

describe('parseConfig', () => {
  it('fills defaults and freezes the result', () => {
    const cfg = parseConfig(base());
    const svc = cfg.services[0]!;
    expect(svc.algorithm).toBe('round_robin');
    expect(svc.health_check.type).toBe('tcp');
    expect(svc.health_check.rise).toBe(2);
    expect(svc.backends[0]!.weight).toBe(1);
    expect(svc.timeouts.connect_ms).toBe(3000);
    expect(cfg.node.name).toBe('halo');
    expect(Object.isFrozen(svc.backends[0])).toBe(true);
  });

  it('cluster.skew: relative by default, rfc on request, anything else named by path', () => {
    const cluster = (extra: string) => base(`cluster:\n  id: 1\n  key_env: K\n  interface: eth0\n  vips: [{ address: 10.0.0.100/24 }]\n${extra}`);
    expect(parseConfig(cluster('')).cluster?.skew).toBe('relative');
    expect(parseConfig(cluster('  skew: rfc\n')).cluster?.skew).toBe('rfc');
    expect(problems(cluster('  skew: none\n'))).toEqual(['cluster.skew: expected one of relative, rfc, got "none"']);
  });

  it('names the path and the expected value of a bad port', () => {
    expect(problems(base('', '').replace('port: 9001', 'port: "80x"'))).toEqual(['services[0].backends[0].port: expected an integer 1-65535, got "80x"']);
    expect(problems(base().replace('port: 9002', 'port: 70000'))).toEqual(['services[0].backends[1].port: expected an integer 1-65535, got 70000']);
  });

  it('rejects unknown keys instead of ignoring them', () => {
    expect(problems(base('', ', wieght: 2'))).toEqual(['services[0].backends[0].wieght: unknown key (check the spelling; see docs/config.md)']);
  });

  it('reports a missing required key', () => {
    const p = problems('services:\n  - name: web\n    listen: { port: 1 }\n    backends: [{ name: a, address: 1.2.3.4, port: 1 }]\n');
    expect(p).toHaveLength(1);
    expect(p[0]).toMatch(/^services\[0\]\.mode: expected one of tcp, udp, http, got nothing/);
  });

  it('reports every problem at once', () => {
    const p = problems(base().replace('mode: http', 'mode: htp').replace('port: 9002', 'port: 0'));
    expect(p).toHaveLength(2);
    expect(p.join('\n')).toContain('services[0].mode: expected one of tcp, udp, http, got "htp"');
    expect(p.join('\n')).toContain('services[0].backends[1].port');
  });

  it('reports YAML syntax errors', () => {
    expect(() => parseConfig('services: [\n')).toThrow(/YAML/);
    try {
      parseConfig('a: 1\na: 2\n');
    } catch (err) {
      expect((err as ConfigError).code).toBe('HALO_ERR_CONFIG_PARSE');
    }
  });

  it('reports an unresolved alias and an alias bomb as YAML errors, not a leaked ReferenceError (fuzzer find)', () => {
    const bomb = 'a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nservices: [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n';
    for (const [text, message] of [
      ['*a', /^\/etc\/halo\.yaml: YAML: Unresolved alias/],
      ['services: *x\n', /^\/etc\/halo\.yaml: YAML: Unresolved alias/],
      [bomb, /^\/etc\/halo\.yaml: YAML: Excessive alias count/],
    ] as const) {
      let caught: unknown;
      try {
        parseConfig(text, '/etc/halo.yaml');
      } catch (err) {
        caught = err;
      }
      expect(caught, text).toBeInstanceOf(ConfigError);
      expect((caught as ConfigError).code).toBe('HALO_ERR_CONFIG_PARSE');
      expect((caught as ConfigError).message).toMatch(message);
    }
  });

  it('cross-checks duplicate names, overlapping listeners and references', () => {
    const text = `
services:
  - name: web
    mode: http
    listen: { port: 8080 }
    backends: [{ name: a, address: 127.0.0.1, port: 1 }, { name: a, address: 127.0.0.1, port: 2 }]
    rules: [{ match: { path_prefix: /x }, pool: nope }]
  - name: web
    mode: tcp
    listen: { address: 127.0.0.1, port: 8080 }
    backends: [{ name: a, address: 127.0.0.1, port: 1 }]
    proxy_protocol: v3
`;
    const p = problems(text);
    expect(p).toEqual(['services[1].proxy_protocol: expected one of none, v1, v2, got "v3"']);
    const p2 = problems(text.replace('v3', 'v1'));
    expect(p2).toContain('services[1].name: duplicate service name "web" (also services[0])');
    expect(p2).toContain('services[0].backends[1].name: duplicate backend name "a" (also services[0].backends[0])');
    expect(p2).toContain('services[0].rules[0].pool: no pool named "nope" (known: default)');
    expect(p2.some((x) => x.startsWith('services[1].listen: tcp port 8080 on 127.0.0.1 overlaps services[0].listen'))).toBe(true);
  });

  it('a udp service on the same port as a tcp one does not overlap', () => {
    const text = `${base()}  - name: dns
    mode: udp
    listen: { port: 8080 }
    backends: [{ name: a, address: 127.0.0.1, port: 53 }]
`;
    const cfg = parseConfig(text);
    expect(cfg.services[1]!.health_check.type).toBe('none');
  });

  it('requires a secret for cookie persistence and mode http', () => {
    expect(problems(base('    persistence: { type: cookie }'))).toEqual([
      'services[0].persistence: cookie persistence needs secret_file or secret_env (every node must sign cookies with the same secret)',
    ]);
    const tcp = base('    persistence: { type: cookie, secret_env: S }').replace('mode: http', 'mode: tcp');
    expect(problems(tcp)).toEqual(['services[0].persistence.type: cookie persistence needs mode http (this service is tcp); use source_ip']);
  });

  it('checks health check timing and status range', () => {
    const p = problems(base('    health_check: { interval_ms: 100, timeout_ms: 500, expect_status: [500, 200] }'));
    expect(p).toContain('services[0].health_check.timeout_ms: 500 is longer than interval_ms 100');
    expect(p).toContain('services[0].health_check.expect_status: low 500 is above high 200');
  });

  it('rejects rules outside http mode and a pool named default', () => {
    const p = problems(
      base('    pools: [{ name: default, backends: [{ name: x, address: 127.0.0.1, port: 3 }] }]\n    rules: [{ match: { host: a.example }, pool: default }]').replace('mode: http', 'mode: tcp'),
    );
    expect(p).toContain('services[0].rules: rules need mode http (this service is tcp)');
    expect(p.some((x) => x.startsWith('services[0].pools[0].name: duplicate pool name "default"'))).toBe(true);
  });
});
