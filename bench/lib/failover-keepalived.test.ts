import { describe, expect, it } from 'vitest';
import { keepalivedArgv, keepalivedConfig, lastKeepalivedState } from './failover-keepalived.js';

describe('keepalivedConfig', () => {
  const conf = keepalivedConfig({ node: 'lb1', priority: 150, advertIntervalS: 0.1, virtualRouterId: 77, interface: 'eth0', vip: '10.77.0.100/24' });

  it('is one VRRPv3 instance with the priority, interval and VIP asked for', () => {
    expect(conf).toContain('vrrp_version 3');
    expect(conf).toMatch(/vrrp_instance \S+ \{/);
    expect(conf).toContain('  priority 150\n');
    expect(conf).toContain('  advert_int 0.1\n');
    expect(conf).toContain('  virtual_router_id 77\n');
    expect(conf).toContain('    10.77.0.100/24 dev eth0\n');
  });

  it('leaves preemption and gratuitous ARP at keepalived defaults, with no authentication (v3 has none)', () => {
    expect(conf).not.toMatch(/nopreempt|preempt_delay|garp|authentication/);
    expect(conf).toContain('state BACKUP');
  });

  it('braces balance', () => {
    expect(conf.split('{').length).toBe(conf.split('}').length);
  });
});

describe('keepalivedArgv', () => {
  it('runs in the foreground in the namespace with private pid files, logging to the console only', () => {
    const argv = keepalivedArgv('lab-lb1', { config: '/d/k.conf', pid: '/d/k.pid', vrrpPid: '/d/v.pid' });
    expect(argv.slice(0, 4)).toEqual(['netns', 'exec', 'lab-lb1', 'keepalived']);
    for (const flag of ['-n', '-l', '-G']) expect(argv).toContain(flag);
    expect(argv[argv.indexOf('-f') + 1]).toBe('/d/k.conf');
    expect(argv[argv.indexOf('-p') + 1]).toBe('/d/k.pid');
    expect(argv[argv.indexOf('-r') + 1]).toBe('/d/v.pid');
  });
});

describe('lastKeepalivedState', () => {
  it('is the last state entered, or undefined before any', () => {
    const out = [
      'Fri Nov 27 11:52:38 2026: (VI_1) Entering BACKUP STATE (init)',
      'Fri Nov 27 11:52:38 2026: (VI_1) Receive advertisement timeout',
      'Fri Nov 27 11:52:38 2026: (VI_1) Entering MASTER STATE',
    ].join('\n');
    expect(lastKeepalivedState(out)).toBe('MASTER');
    expect(lastKeepalivedState('Starting Keepalived v2.2.7')).toBeUndefined();
  });
});
