import { describe, expect, it } from 'vitest';
import { CLIENT_EXTRA_MAX, clientExtraAddress, isLabNamespace, labHosts, labNamespaces, nodeForAddress } from './plan.js';

describe('lab plan', () => {
  it('lbK = .1K, be1/be2 = .21/.22, client = .31, one namespace each plus the switch', () => {
    expect(labHosts('x', 3).map((h) => `${h.name}=${h.address}@${h.namespace}`)).toEqual([
      'lb1=10.77.0.11@x-lb1',
      'lb2=10.77.0.12@x-lb2',
      'lb3=10.77.0.13@x-lb3',
      'be1=10.77.0.21@x-be1',
      'be2=10.77.0.22@x-be2',
      'client=10.77.0.31@x-client',
    ]);
    expect(labNamespaces('x', 2)).toEqual(['x-lb1', 'x-lb2', 'x-be1', 'x-be2', 'x-client', 'x-sw']);
  });

  it('a third backend is be3 at .23, before the client', () => {
    expect(labHosts('x', 2, 3).map((h) => `${h.name}=${h.address}`)).toEqual(['lb1=10.77.0.11', 'lb2=10.77.0.12', 'be1=10.77.0.21', 'be2=10.77.0.22', 'be3=10.77.0.23', 'client=10.77.0.31']);
    expect(labNamespaces('x', 2, 3)).toContain('x-be3');
    expect(isLabNamespace('x', 'x-be3')).toBe(true);
  });

  it('extra client addresses run .160 to .254 and no further', () => {
    expect(clientExtraAddress(0)).toBe('10.77.0.160');
    expect(clientExtraAddress(CLIENT_EXTRA_MAX - 1)).toBe('10.77.0.254');
    expect(() => clientExtraAddress(CLIENT_EXTRA_MAX)).toThrow(RangeError);
    expect(() => clientExtraAddress(-1)).toThrow(RangeError);
    expect(() => clientExtraAddress(1.5)).toThrow(RangeError);
  });

  it('x-peer names the node that proxied, v4-mapped too; other addresses name none', () => {
    expect(nodeForAddress('10.77.0.11')).toBe('lb1');
    expect(nodeForAddress('::ffff:10.77.0.13')).toBe('lb3');
    expect(nodeForAddress('10.77.0.21')).toBeUndefined();
    expect(nodeForAddress('10.77.0.111')).toBeUndefined();
    expect(nodeForAddress(undefined)).toBeUndefined();
  });

  it('a namespace belongs to a lab by exact shape, so lab "a" never claims lab "a-b"', () => {
    expect(isLabNamespace('a', 'a-lb1')).toBe(true);
    expect(isLabNamespace('a', 'a-sw')).toBe(true);
    expect(isLabNamespace('a', 'a-client')).toBe(true);
    expect(isLabNamespace('a', 'a-b-lb1')).toBe(false);
    expect(isLabNamespace('a', 'ab-lb1')).toBe(false);
    expect(isLabNamespace('a', 'a-lb1x')).toBe(false);
  });
});
