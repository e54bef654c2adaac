import { describe, expect, it } from 'vitest';
import { parseIpAddrLine, parseIpAddrOutput } from './ip-addr-lines.js';

// Captured from `ip -o -4 addr show dev va` and `ip -o monitor address` (iproute2 6.1,
// kernel 6.18) in a namespace with a veth va; `\` is the literal one-line separator.
const CAPTURED = {
  primary: '2: va    inet 10.77.1.1/24 scope global va\\       valid_lft forever preferred_lft forever',
  vipWithLifetime: '2: va    inet 10.77.1.100/24 scope global secondary dynamic va\\       valid_lft 30sec preferred_lft 30sec',
  labelled: '2: va    inet 10.77.1.150/24 scope global secondary va:vip\\       valid_lft forever preferred_lft forever',
  peer: '2: va    inet 10.9.9.1 peer 10.9.9.2/32 scope global va\\       valid_lft forever preferred_lft forever',
  inet6: '2: va    inet6 fe80::44eb:25ff:fe2f:f5be/64 scope link \\       valid_lft forever preferred_lft forever',
  loopback32: '1: lo    inet 10.77.1.102/32 scope global lo\\       valid_lft forever preferred_lft forever',
  deleted: 'Deleted 2: va    inet 10.77.1.100/24 scope global secondary dynamic va\\       valid_lft 30sec preferred_lft 30sec',
  expired: 'Deleted 2: va    inet 10.77.1.100/24 scope global secondary dynamic va\\       valid_lft 0sec preferred_lft 0sec',
  deletedLabelled: 'Deleted 2: va    inet 10.77.1.100/24 scope global secondary va:vip\\       valid_lft forever preferred_lft forever',
  deletedLo: 'Deleted 1: lo    inet 10.77.1.102/32 scope global lo\\       valid_lft forever preferred_lft forever',
} as const;

describe('parseIpAddrLine', () => {
  it('reads address, prefix, device, label and lifetimes', () => {
    expect(parseIpAddrLine(CAPTURED.vipWithLifetime)).toEqual({
      deleted: false,
      ifindex: 2,
      ifname: 'va',
      address: '10.77.1.100',
      prefixLength: 24,
      cidr: '10.77.1.100/24',
      label: 'va',
      validLft: 30,
      preferredLft: 30,
    });
    expect(parseIpAddrLine(CAPTURED.primary)).toMatchObject({ cidr: '10.77.1.1/24', validLft: 'forever', preferredLft: 'forever', deleted: false });
    expect(parseIpAddrLine(CAPTURED.loopback32)).toMatchObject({ ifname: 'lo', cidr: '10.77.1.102/32' });
  });

  it('keeps the device name apart from a label', () => {
    expect(parseIpAddrLine(CAPTURED.labelled)).toMatchObject({ ifname: 'va', label: 'va:vip', cidr: '10.77.1.150/24' });
  });

  it('takes the prefix length of a point-to-point address from its peer', () => {
    expect(parseIpAddrLine(CAPTURED.peer)).toMatchObject({ address: '10.9.9.1', prefixLength: 32, cidr: '10.9.9.1/32' });
  });

  it('marks Deleted lines, expiry included, and accepts an `ip -ts` timestamp and an @suffix', () => {
    expect(parseIpAddrLine(CAPTURED.deleted)).toMatchObject({ deleted: true, cidr: '10.77.1.100/24' });
    expect(parseIpAddrLine(CAPTURED.expired)).toMatchObject({ deleted: true, validLft: 0 });
    expect(parseIpAddrLine(`[2026-11-27T11:53:32.023828] ${CAPTURED.deleted}`)).toMatchObject({ deleted: true, ifname: 'va' });
    expect(parseIpAddrLine(CAPTURED.primary.replace('va ', 'va@if3 '))).toMatchObject({ ifname: 'va' });
  });

  it('ignores inet6 and anything that is not an address line', () => {
    expect(parseIpAddrLine(CAPTURED.inet6)).toBeUndefined();
    expect(parseIpAddrLine('')).toBeUndefined();
    expect(parseIpAddrLine('2: va: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500')).toBeUndefined();
  });

  it('parses a whole `ip -o addr show` output', () => {
    const out = [CAPTURED.primary, CAPTURED.vipWithLifetime, CAPTURED.inet6, ''].join('\n');
    expect(parseIpAddrOutput(out).map((e) => e.cidr)).toEqual(['10.77.1.1/24', '10.77.1.100/24']);
  });
});
