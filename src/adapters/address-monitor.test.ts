import { describe, expect, it } from 'vitest';
import { matchDeleted, missingFrom, restartDelay, RESTART_MAX_MS, RESTART_MIN_MS, STABLE_RUN_MS } from './address-monitor.js';
import { parseIpAddrLine } from './ip-addr-lines.js';

// Captured from `ip -o monitor address` and `ip -o -4 addr show` (iproute2 6.1, kernel 6.18).
const CAPTURED = {
  primary: '2: va    inet 10.77.1.1/24 scope global va\\       valid_lft forever preferred_lft forever',
  vipWithLifetime: '2: va    inet 10.77.1.100/24 scope global secondary dynamic va\\       valid_lft 30sec preferred_lft 30sec',
  labelled: '2: va    inet 10.77.1.150/24 scope global secondary va:vip\\       valid_lft forever preferred_lft forever',
  deleted: 'Deleted 2: va    inet 10.77.1.100/24 scope global secondary dynamic va\\       valid_lft 30sec preferred_lft 30sec',
  expired: 'Deleted 2: va    inet 10.77.1.100/24 scope global secondary dynamic va\\       valid_lft 0sec preferred_lft 0sec',
  deletedLabelled: 'Deleted 2: va    inet 10.77.1.100/24 scope global secondary va:vip\\       valid_lft forever preferred_lft forever',
  deletedLo: 'Deleted 1: lo    inet 10.77.1.102/32 scope global lo\\       valid_lft forever preferred_lft forever',
} as const;

const WITH_LEN = [{ address: '10.77.1.100/24', interface: 'va' }];
const HOST_ONLY = [{ address: '10.77.1.100', interface: 'va' }];

describe('matchDeleted (captured `ip -o monitor address` lines)', () => {
  it('reports a deleted VIP, also one that expired or carried a label', () => {
    expect(matchDeleted(parseIpAddrLine(CAPTURED.deleted), WITH_LEN)).toEqual(WITH_LEN[0]);
    expect(matchDeleted(parseIpAddrLine(CAPTURED.expired), WITH_LEN)).toEqual(WITH_LEN[0]);
    expect(matchDeleted(parseIpAddrLine(CAPTURED.deletedLabelled), WITH_LEN)).toEqual(WITH_LEN[0]);
    expect(matchDeleted(parseIpAddrLine(CAPTURED.deleted), HOST_ONLY)).toEqual(HOST_ONLY[0]);
  });

  it('ignores additions, other addresses, other interfaces and another prefix length', () => {
    expect(matchDeleted(parseIpAddrLine(CAPTURED.vipWithLifetime), WITH_LEN)).toBeUndefined();
    expect(matchDeleted(parseIpAddrLine(CAPTURED.deletedLo), WITH_LEN)).toBeUndefined();
    expect(matchDeleted(parseIpAddrLine(CAPTURED.deleted), [{ address: '10.77.1.100/24', interface: 'vb' }])).toBeUndefined();
    expect(matchDeleted(parseIpAddrLine(CAPTURED.deleted), [{ address: '10.77.1.100/16', interface: 'va' }])).toBeUndefined();
    expect(matchDeleted(undefined, WITH_LEN)).toBeUndefined();
  });
});

describe('missingFrom', () => {
  it('lists watched addresses of that interface absent from `ip -o -4 addr show`', () => {
    const watched = [...WITH_LEN, { address: '10.77.1.150', interface: 'va' }, { address: '10.1.1.1/24', interface: 'other' }];
    const out = [CAPTURED.primary, CAPTURED.labelled].join('\n');
    expect(missingFrom(out, 'va', watched)).toEqual([WITH_LEN[0]]);
    expect(missingFrom([CAPTURED.primary, CAPTURED.vipWithLifetime, CAPTURED.labelled].join('\n'), 'va', watched)).toEqual([]);
  });
});

describe('restartDelay', () => {
  it('waits at least the minimum after a start, doubles while failing, bounded', () => {
    let prev = RESTART_MIN_MS;
    const delays: number[] = [];
    for (let i = 0; i < 8; i++) {
      const { delayMs, nextDelayMs } = restartDelay(prev, 600);
      delays.push(delayMs);
      prev = nextDelayMs;
    }
    expect(delays).toEqual([500, 1000, 2000, 4000, 5000, 5000, 5000, 5000]);
    expect(Math.max(...delays)).toBe(RESTART_MAX_MS);
    // a child that dies at once does not spin
    expect(restartDelay(0, 1).delayMs).toBe(RESTART_MIN_MS);
  });

  it('starts over after a stable run', () => {
    expect(restartDelay(RESTART_MAX_MS, STABLE_RUN_MS)).toEqual({ delayMs: RESTART_MIN_MS, nextDelayMs: 2 * RESTART_MIN_MS });
  });
});
