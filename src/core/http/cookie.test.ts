import { describe, expect, it } from 'vitest';
import { findCookie } from './cookie.js';

describe('findCookie', () => {
  it('finds a cookie among others and across Cookie fields', () => {
    expect(findCookie(['a=1; HALO_SRV=web1.sig; b=2'], 'HALO_SRV')).toBe('web1.sig');
    expect(findCookie(['a=1', 'HALO_SRV=x'], 'HALO_SRV')).toBe('x');
    expect(findCookie(['HALO_SRV="quoted"'], 'HALO_SRV')).toBe('quoted');
    expect(findCookie(['HALO_SRV='], 'HALO_SRV')).toBe('');
  });

  it('does not match on a name that only ends or starts with the wanted one', () => {
    expect(findCookie(['XHALO_SRV=1; HALO_SRVX=2'], 'HALO_SRV')).toBeUndefined();
    expect(findCookie(['a=HALO_SRV=3'], 'HALO_SRV')).toBeUndefined();
    expect(findCookie([], 'HALO_SRV')).toBeUndefined();
    expect(findCookie([';;  ;'], 'HALO_SRV')).toBeUndefined();
  });
});
