import { describe, expect, it } from 'vitest';
import { diffConfigs, diffPaths } from './config-diff.js';
import { parseConfig } from './load.js';

const CLUSTER = `
cluster:
  id: 7
  key_env: HALO_KEY
  interface: eth0
  priority: 150
  vips: [{ address: 10.0.0.100/24 }]
  track:
    scripts: [{ name: chk, command: [/bin/true], weight: -20 }]
`;

function config(opts: { cluster?: string; services?: string; head?: string } = {}) {
  return parseConfig(`
${opts.head ?? 'node: { name: lb1 }'}
${opts.cluster ?? CLUSTER}
services:
  - name: web
    mode: http
    listen: { port: 80 }
    persistence: { type: source_ip, ttl_ms: 600000 }
    backends:
      - { name: a, address: 10.0.0.11, port: 8080 }
      - { name: b, address: 10.0.0.12, port: 8080 }
  - name: echo
    mode: udp
    listen: { port: 53 }
    backends: [{ name: a, address: 10.0.0.11, port: 5353 }]
${opts.services ?? ''}`);
}

describe('diffConfigs: services', () => {
  it('the same file: unchanged, nothing to refuse', () => {
    const d = diffConfigs(config(), config());
    expect(d).toMatchObject({ unchanged: true, servicesAdded: [], servicesRemoved: [], servicesChanged: [], electionLive: [], restartNeeded: [], digestChanged: false, logLevel: false });
  });

  it('a backend weight and an added backend: changed in place, tables kept; the weight alone keeps the replication digest', () => {
    const web = (backends: string) => parseConfig(`node: { name: lb1 }\n${CLUSTER}\nservices:\n  - name: web\n    mode: http\n    listen: { port: 80 }\n    persistence: { type: source_ip, ttl_ms: 600000 }\n    backends:\n${backends}\n  - name: echo\n    mode: udp\n    listen: { port: 53 }\n    backends: [{ name: a, address: 10.0.0.11, port: 5353 }]\n`);
    const A = '      - { name: a, address: 10.0.0.11, port: 8080 }';
    const B = '      - { name: b, address: 10.0.0.12, port: 8080 }';
    expect(diffConfigs(config(), web([A, B].join('\n'))).unchanged).toBe(true);
    // Reordered backends are no change; the weight is.
    const d = diffConfigs(config(), web([B, A.replace('8080 }', '8080, weight: 3 }')].join('\n')));
    expect(d.servicesChanged).toEqual([{ name: 'web', fields: ['backends[a].weight'], rebind: false, rebuild: [] }]);
    expect(d.digestChanged).toBe(false);
    expect(d.restartNeeded).toEqual([]);
    const added = diffConfigs(config(), web([A, B, '      - { name: c, address: 10.0.0.13, port: 8080 }'].join('\n')));
    expect(added.servicesChanged).toEqual([{ name: 'web', fields: ['backends[c] added'], rebind: false, rebuild: [] }]);
    expect(added.digestChanged).toBe(true);
  });

  it('a service added and one removed; a listen port change is a rebind, a persistence TTL change a rebuild', () => {
    const more = config({ services: '  - name: api\n    mode: tcp\n    listen: { port: 81 }\n    backends: [{ name: a, address: 10.0.0.11, port: 9000 }]' });
    const d = diffConfigs(config(), more);
    expect(d).toMatchObject({ servicesAdded: ['api'], servicesRemoved: [], servicesChanged: [], digestChanged: true, unchanged: false });
    expect(diffConfigs(more, config())).toMatchObject({ servicesAdded: [], servicesRemoved: ['api'] });

    const moved = parseConfig(JSON.stringify({ ...JSON.parse(JSON.stringify(config())), services: config().services.map((s) => (s.name === 'web' ? { ...s, listen: { address: '0.0.0.0', port: 8080 }, persistence: { ...s.persistence, ttl_ms: 60_000 } } : s)) }));
    const m = diffConfigs(config(), moved);
    expect(m.servicesChanged).toEqual([{ name: 'web', fields: ['listen.port', 'persistence.ttl_ms'], rebind: true, rebuild: ['persistence.ttl_ms'] }]);
  });
});

describe('diffConfigs: election settings', () => {
  it('priority, preempt, preempt_delay, a tracked weight and the notify hooks apply live', () => {
    const next = config({ cluster: CLUSTER.replace('priority: 150', 'priority: 200\n  preempt: false\n  preempt_delay_ms: 5000\n  notify: { master: [/usr/local/bin/notify] }').replace('weight: -20', 'weight: -30') });
    const d = diffConfigs(config(), next);
    expect(d.restartNeeded).toEqual([]);
    expect(d.electionLive.sort()).toEqual(['cluster.notify.master', 'cluster.preempt', 'cluster.preempt_delay_ms', 'cluster.priority', 'cluster.track.scripts[chk].weight']);
    expect(d.servicesChanged).toEqual([]);
  });

  it('identity, transport, VIPs, intervals and tracked objects added need a restart: each path named with its values', () => {
    const next = config({
      cluster: CLUSTER.replace('id: 7', 'id: 8').replace('interface: eth0', 'interface: eth1').replace('10.0.0.100/24', '10.0.0.101/24').replace('priority: 150', 'priority: 150\n  advert_interval_ms: 100\n  skew: rfc').replace("scripts: [{ name: chk, command: [/bin/true], weight: -20 }]", "scripts: [{ name: chk, command: [/bin/true], weight: -20 }, { name: other, command: [/bin/true] }]"),
    });
    const d = diffConfigs(config(), next);
    expect(d.electionLive).toEqual([]);
    expect(d.restartNeeded).toEqual([
      'cluster.id: changed (7 -> 8): needs a restart',
      'cluster.interface: changed ("eth0" -> "eth1"): needs a restart',
      'cluster.advert_interval_ms: changed (40 -> 100): needs a restart',
      'cluster.skew: changed ("relative" -> "rfc"): needs a restart',
      'cluster.vips: changed ([{"address":"10.0.0.100/24"}] -> [{"address":"10.0.0.101/24"}]): needs a restart',
      'cluster.track.scripts[other] added: added: needs a restart',
    ]);
  });

  it('a track script command change, a cluster section added, the node name and the log format need a restart; log.level does not', () => {
    const script = diffConfigs(config(), config({ cluster: CLUSTER.replace('command: [/bin/true]', 'command: [/bin/false]') }));
    expect(script.restartNeeded).toEqual(['cluster.track.scripts[chk].command: changed (["/bin/true"] -> ["/bin/false"]): needs a restart']);
    const single = config({ cluster: '' });
    expect(diffConfigs(single, config()).restartNeeded).toEqual(['cluster: added: needs a restart']);
    expect(diffConfigs(config(), single).restartNeeded).toEqual(['cluster: removed: needs a restart']);
    const head = diffConfigs(config(), config({ head: 'node: { name: lb9, run_dir: /tmp/x }\nlog: { level: debug, format: json }' }));
    expect(head.logLevel).toBe(true);
    expect(head.restartNeeded).toEqual([
      'node.name: changed ("lb1" -> "lb9"): needs a restart',
      'node.run_dir: changed ("/run/halo" -> "/tmp/x"): needs a restart',
      'log.format: changed ("text" -> "json"): needs a restart',
    ]);
  });
});

describe('diffPaths', () => {
  it('matches named lists by name and compares other lists whole', () => {
    expect(diffPaths({ xs: [{ name: 'a', v: 1 }, { name: 'b', v: 2 }] }, { xs: [{ name: 'b', v: 3 }, { name: 'c', v: 1 }] }, '')).toEqual(['xs[a] removed', 'xs[b].v', 'xs[c] added']);
    expect(diffPaths({ ps: ['1.1.1.1', '2.2.2.2'] }, { ps: ['2.2.2.2', '1.1.1.1'] }, 'root')).toEqual(['root.ps']);
    expect(diffPaths({ a: 1 }, { a: 1 }, '')).toEqual([]);
  });
});
