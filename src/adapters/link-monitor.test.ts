import { describe, expect, it } from 'vitest';
import { parseIpLinkLine } from './link-monitor.js';

// Captured from `ip -o link show` and `ip -o monitor link` (iproute2 6.1) in a namespace
// holding a veth pair va/vb, while toggling each side and deleting one.
const SAMPLES = {
  show: '3: va@vb: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP mode DEFAULT group default qlen 1000\\    link/ether f2:d8:4d:f3:3e:33 brd ff:ff:ff:ff:ff:ff',
  loopback: '1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\\    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00',
  peerInOtherNs: '5: vd@if5: <BROADCAST,MULTICAST> mtu 1500 qdisc noop state DOWN mode DEFAULT group default qlen 1000\\    link/ether 5e:67:6b:af:02:a5 brd ff:ff:ff:ff:ff:ff link-netns halo-cap11167',
  created: '2: vb@NONE: <BROADCAST,MULTICAST> mtu 1500 qdisc noop state DOWN group default \\    link/ether 32:8b:d6:ed:05:31 brd ff:ff:ff:ff:ff:ff',
  peerDown: '3: va@vb: <NO-CARRIER,BROADCAST,MULTICAST,UP,M-DOWN> mtu 1500 qdisc noqueue state LOWERLAYERDOWN group default \\    link/ether f2:d8:4d:f3:3e:33 brd ff:ff:ff:ff:ff:ff',
  transient: '2: vb@va: <NO-CARRIER,BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state LOWERLAYERDOWN group default \\    link/ether 32:8b:d6:ed:05:31 brd ff:ff:ff:ff:ff:ff',
  adminDown: '2: vb@va: <BROADCAST,MULTICAST> mtu 1500 qdisc noqueue state DOWN group default \\    link/ether 32:8b:d6:ed:05:31 brd ff:ff:ff:ff:ff:ff',
  up: '2: vb@va: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP group default \\    link/ether 32:8b:d6:ed:05:31 brd ff:ff:ff:ff:ff:ff',
  deleted: 'Deleted 3: va@NONE: <BROADCAST,MULTICAST> mtu 1500 qdisc noop state DOWN group default \\    link/ether f2:d8:4d:f3:3e:33 brd ff:ff:ff:ff:ff:ff',
  movedAway: 'Deleted 4: vd@vc: <BROADCAST,MULTICAST,M-DOWN> mtu 1500 qdisc noop state DOWN group default \\    link/ether 5e:67:6b:af:02:a5 brd ff:ff:ff:ff:ff:ff new-netnsid 0 new-ifindex 5',
  vlan: '7: eth0.100@eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP mode DEFAULT group default qlen 1000\\    link/ether 02:42:ac:11:00:02 brd ff:ff:ff:ff:ff:ff',
};

describe('parseIpLinkLine', () => {
  it('reads an up link and strips the @peer suffix from the name', () => {
    expect(parseIpLinkLine(SAMPLES.show)).toEqual({
      name: 'va',
      label: 'va@vb',
      up: true,
      deleted: false,
      flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'],
      cause: 'link up',
    });
    expect(parseIpLinkLine(SAMPLES.loopback)).toMatchObject({ name: 'lo', label: 'lo', up: true });
    expect(parseIpLinkLine(SAMPLES.up)).toMatchObject({ name: 'vb', up: true });
    expect(parseIpLinkLine(SAMPLES.vlan)).toMatchObject({ name: 'eth0.100', label: 'eth0.100@eth0', up: true });
  });

  it('says down, with why, for: no UP flag, carrier lost, carrier lost while LOWER_UP lingers', () => {
    expect(parseIpLinkLine(SAMPLES.created)).toMatchObject({ name: 'vb', up: false, cause: 'administratively down' });
    expect(parseIpLinkLine(SAMPLES.peerInOtherNs)).toMatchObject({ name: 'vd', up: false, cause: 'administratively down' });
    expect(parseIpLinkLine(SAMPLES.adminDown)).toMatchObject({ up: false, cause: 'administratively down' });
    expect(parseIpLinkLine(SAMPLES.peerDown)).toMatchObject({ name: 'va', up: false, cause: 'no carrier' });
    expect(parseIpLinkLine(SAMPLES.transient)).toMatchObject({ name: 'vb', up: false, cause: 'no carrier' });
    expect(parseIpLinkLine('4: x: <BROADCAST,MULTICAST,UP> mtu 1500 state DOWN')).toMatchObject({ up: false, cause: 'lower layer down' });
  });

  it('reads Deleted messages (deleted, or moved to another namespace) as down', () => {
    expect(parseIpLinkLine(SAMPLES.deleted)).toMatchObject({ name: 'va', up: false, deleted: true, cause: 'interface deleted' });
    expect(parseIpLinkLine(SAMPLES.movedAway)).toMatchObject({ name: 'vd', up: false, deleted: true });
    expect(parseIpLinkLine('Deleted 9: up0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500')).toMatchObject({ up: false, deleted: true });
  });

  it('ignores what is not a link line', () => {
    expect(parseIpLinkLine('')).toBeUndefined();
    expect(parseIpLinkLine('    link/ether f2:d8:4d:f3:3e:33 brd ff:ff:ff:ff:ff:ff')).toBeUndefined();
    expect(parseIpLinkLine('Device "nope" does not exist.')).toBeUndefined();
    expect(parseIpLinkLine('nsid 0 (iproute2 netns name: x)')).toBeUndefined();
  });
});
