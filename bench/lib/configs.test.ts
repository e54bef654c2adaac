import { describe, it, expect } from 'vitest';
import { parse } from 'yaml';
import { configSchema } from '../../src/config/schema.js';
import { haloConf, haproxyConf, nginxBackendConf, nginxUdpConf, type Ports } from './configs.js';

const ports: Ports = {
  httpBackends: [20001, 20002],
  iperfBackend: 20003,
  udpBackend: 20004,
  haloHttp: 20005,
  haloTcp: 20006,
  haloIperf: 20007,
  haloUdp: 20008,
  haproxyHttp: 20009,
  haproxyTcp: 20010,
  haproxyIperf: 20011,
  nginxUdp: 20012,
};

describe('haloConf', () => {
  it('is a valid halo config with one service per requested mode, health checks off', () => {
    const cfg = configSchema.parse(parse(haloConf(ports, ['http', 'tcp', 'iperf', 'udp'])));
    expect(cfg.services.map((s) => [s.mode, s.listen.address, s.listen.port, s.health_check.type])).toEqual([
      ['http', '127.0.0.1', 20005, 'none'],
      ['tcp', '127.0.0.1', 20006, 'none'],
      ['tcp', '127.0.0.1', 20007, 'none'],
      ['udp', '127.0.0.1', 20008, 'none'],
    ]);
    expect(cfg.services[0]?.backends.map((b) => b.port)).toEqual([20001, 20002]);
  });
  it('leaves out the modes not asked for', () => {
    const cfg = configSchema.parse(parse(haloConf(ports, ['tcp'])));
    expect(cfg.services.map((s) => s.name)).toEqual(['bench-tcp']);
  });
});

describe('reference configs', () => {
  it('pins HAProxy to one thread and lists both backends in http and tcp mode', () => {
    const cfg = haproxyConf(ports);
    expect(cfg).toMatch(/^\s+nbthread 1$/m);
    expect(cfg.match(/server web1 127\.0\.0\.1:20001/g)).toHaveLength(2);
    expect(cfg).toContain('bind 127.0.0.1:20009');
    expect(cfg).toContain('server iperf 127.0.0.1:20003');
  });
  it('keeps nginx to one worker on loopback', () => {
    expect(nginxBackendConf('/tmp/x', [20001, 20002])).toMatch(/worker_processes 1;[\s\S]*listen 127\.0\.0\.1:20001 [\s\S]*listen 127\.0\.0\.1:20002 /);
    const udp = nginxUdpConf('/tmp/x', '/m.so', 20012, 20004);
    expect(udp).toContain('load_module /m.so;');
    expect(udp).toContain('worker_processes 1;');
    expect(udp).toContain('listen 127.0.0.1:20012 udp;');
    expect(udp).toContain('server 127.0.0.1:20004;');
  });
});
