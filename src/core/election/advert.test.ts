import { createHmac } from 'node:crypto';
import { describe, it, expect } from 'vitest';
import { HaloError } from '../errors.js';
import {
  ADVERT_MAX_LENGTH,
  ADVERT_MIN_LENGTH,
  DROP_REASONS,
  DropCounters,
  ReplayWindow,
  advertLength,
  decodeAdvert,
  encodeAdvert,
  ipv4ToUint32,
  type Advert,
  type DecodeResult,
} from './advert.js';
import { seededRandom as prng } from '../../../test/helpers/seeded-random.js';

const KEY = Buffer.from('test-cluster-key');
const CLUSTER = 0x01020304;

const base: Advert = {
  synced: true,
  shuttingDown: false,
  priority: 150,
  intervalMs: 100,
  clusterId: CLUSTER,
  nodeId: 'lb1',
  address: '10.0.0.1',
  bootEpoch: 0x0102030405060708n,
  sequence: 42n,
};

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** Recompute the trailing HMAC, so a test can reach the checks made after authentication. */
function resign(buf: Buffer, key: Buffer = KEY): Buffer {
  const out = Buffer.from(buf);
  const bodyEnd = out.length - 32;
  createHmac('sha256', key).update(out.subarray(0, bodyEnd)).digest().copy(out, bodyEnd);
  return out;
}

function reasonOf(r: DecodeResult): string {
  return r.ok ? 'ok' : r.reason;
}

describe('encodeAdvert: byte layout', () => {
  it('lays out a known advert exactly (HMAC computed independently with Python hmac)', () => {
    const buf = encodeAdvert(base, KEY);
    expect(buf.toString('hex')).toBe(
      hex(`
        48414c4f 01 01 96 00 0064 01020304 0a000001
        0102030405060708 000000000000002a
        03 6c6231
        9feee27471beb2670807f5a2d5326403a1e9b5dc65b65aa4d0918bb6bbe1b458
      `).toString('hex'),
    );
    expect(buf.length).toBe(advertLength('lb1'));
    expect(buf.length).toBe(70);
  });

  it('encodes the flags as bit0 synced, bit1 shutting down', () => {
    const flags = (a: Partial<Advert>) => encodeAdvert({ ...base, ...a }, KEY)[5];
    expect(flags({ synced: false, shuttingDown: false })).toBe(0);
    expect(flags({ synced: true, shuttingDown: false })).toBe(1);
    expect(flags({ synced: false, shuttingDown: true })).toBe(2);
    expect(flags({ synced: true, shuttingDown: true })).toBe(3);
  });

  it('has a length between the documented bounds', () => {
    expect(encodeAdvert({ ...base, nodeId: 'a' }, KEY).length).toBe(ADVERT_MIN_LENGTH);
    expect(encodeAdvert({ ...base, nodeId: 'a'.repeat(63) }, KEY).length).toBe(ADVERT_MAX_LENGTH);
    expect([ADVERT_MIN_LENGTH, ADVERT_MAX_LENGTH]).toEqual([68, 130]);
  });
});

describe('round trip', () => {
  const cases: Array<[string, Partial<Advert>]> = [
    ['the base advert', {}],
    ['flags off', { synced: false, shuttingDown: false }],
    ['shutting down with priority 0', { priority: 0, shuttingDown: true }],
    ['priority 255', { priority: 255 }],
    ['interval 10 ms', { intervalMs: 10 }],
    ['interval 10 s', { intervalMs: 10_000 }],
    ['cluster 0', { clusterId: 0 }],
    ['cluster 0xffffffff', { clusterId: 0xffff_ffff }],
    ['one-character node id', { nodeId: 'x' }],
    ['63-character node id of every allowed class', { nodeId: ('Az09_.-'.repeat(10) + 'abc').slice(0, 63) }],
    ['address 0.0.0.0', { address: '0.0.0.0' }],
    ['address 255.255.255.255', { address: '255.255.255.255' }],
    ['epoch and sequence 0', { bootEpoch: 0n, sequence: 0n }],
    ['epoch and sequence at uint64 max', { bootEpoch: 2n ** 64n - 1n, sequence: 2n ** 64n - 1n }],
  ];
  for (const [name, patch] of cases) {
    it(name, () => {
      const advert = { ...base, ...patch };
      const r = decodeAdvert(encodeAdvert(advert, KEY), KEY, advert.clusterId);
      expect(r).toEqual({ ok: true, advert });
    });
  }
});

describe('encodeAdvert refuses fields out of range', () => {
  const bad: Array<[string, Partial<Advert>]> = [
    ['priority -1', { priority: -1 }],
    ['priority 256', { priority: 256 }],
    ['priority 1.5', { priority: 1.5 }],
    ['interval 9', { intervalMs: 9 }],
    ['interval 10001', { intervalMs: 10_001 }],
    ['interval NaN', { intervalMs: Number.NaN }],
    ['cluster -1', { clusterId: -1 }],
    ['cluster 2^32', { clusterId: 2 ** 32 }],
    ['empty node id', { nodeId: '' }],
    ['64-character node id', { nodeId: 'a'.repeat(64) }],
    ['node id with a space', { nodeId: 'lb 1' }],
    ['node id with a slash', { nodeId: 'lb/1' }],
    ['non-ASCII node id', { nodeId: 'lbé' }],
    ['IPv6 address', { address: '::1' }],
    ['three-part address', { address: '10.0.1' }],
    ['octet 256', { address: '10.0.0.256' }],
    ['negative epoch', { bootEpoch: -1n }],
    ['epoch 2^64', { bootEpoch: 2n ** 64n }],
    ['negative sequence', { sequence: -1n }],
    ['sequence 2^64', { sequence: 2n ** 64n }],
  ];
  for (const [name, patch] of bad) {
    it(name, () => {
      let caught: unknown;
      try {
        encodeAdvert({ ...base, ...patch }, KEY);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(HaloError);
      expect((caught as HaloError).code).toBe('HALO_ERR_ADVERT');
    });
  }

  it('an empty key', () => {
    expect(() => encodeAdvert(base, Buffer.alloc(0))).toThrow(expect.objectContaining({ code: 'HALO_ERR_SECRET' }));
  });
});

describe('decodeAdvert rejections', () => {
  const good = encodeAdvert(base, KEY);

  it('accepts the good advert (control for the cases below)', () => {
    expect(reasonOf(decodeAdvert(good, KEY, CLUSTER))).toBe('ok');
  });

  it('wrong key -> hmac', () => {
    expect(reasonOf(decodeAdvert(good, Buffer.from('another-key'), CLUSTER))).toBe('hmac');
    expect(reasonOf(decodeAdvert(encodeAdvert(base, Buffer.from('another-key')), KEY, CLUSTER))).toBe('hmac');
  });

  it('an empty key never authenticates', () => {
    expect(reasonOf(decodeAdvert(good, Buffer.alloc(0), CLUSTER))).toBe('hmac');
  });

  it('a byte changed at any position is rejected, with the reason its position implies', () => {
    for (const mask of [0x01, 0x80, 0xff]) {
      for (let i = 0; i < good.length; i++) {
        const b = Buffer.from(good);
        b[i] = b[i]! ^ mask;
        const reason = reasonOf(decodeAdvert(b, KEY, CLUSTER));
        let want: string;
        if (i < 4) want = 'magic';
        else if (i === 4) want = 'version';
        else if (i >= 10 && i < 14) want = 'cluster';
        // The node id length only locates the HMAC: longer than the buffer is short, shorter leaves trailing bytes.
        else if (i === 34) want = b[34]! > 3 && b[34]! <= 63 ? 'short' : 'malformed';
        else want = 'hmac';
        expect(reason, `byte ${i} ^ ${mask}`).toBe(want);
      }
    }
  });

  it('truncated at every length -> short', () => {
    for (const big of [good, encodeAdvert({ ...base, nodeId: 'n'.repeat(63) }, KEY)]) {
      for (let len = 0; len < big.length; len++) {
        expect(reasonOf(decodeAdvert(big.subarray(0, len), KEY, CLUSTER)), `length ${len}`).toBe('short');
      }
    }
  });

  it('trailing bytes -> malformed, even when the HMAC covers them', () => {
    for (const extra of [1, 2, 32, 100]) {
      const longer = Buffer.concat([good, Buffer.alloc(extra, 0xaa)]);
      expect(reasonOf(decodeAdvert(longer, KEY, CLUSTER))).toBe('malformed');
    }
  });

  it('wrong magic and wrong version', () => {
    const m = Buffer.from(good);
    m.write('VRRP', 0, 'ascii');
    expect(reasonOf(decodeAdvert(m, KEY, CLUSTER))).toBe('magic');
    expect(reasonOf(decodeAdvert(Buffer.from('HAL'), KEY, CLUSTER))).toBe('short');
    expect(reasonOf(decodeAdvert(Buffer.from('HALX'), KEY, CLUSTER))).toBe('magic');
    for (const v of [0, 2, 255]) {
      const b = Buffer.from(good);
      b[4] = v;
      expect(reasonOf(decodeAdvert(resign(b), KEY, CLUSTER)), `version ${v}`).toBe('version');
    }
  });

  it('a foreign cluster is reported with its id and the sender it claims to be', () => {
    const foreign = encodeAdvert({ ...base, clusterId: 77, nodeId: 'other-lb.2', address: '192.168.5.9' }, Buffer.from('their-key'));
    expect(decodeAdvert(foreign, KEY, CLUSTER)).toEqual({
      ok: false,
      reason: 'cluster',
      clusterId: 77,
      claimedNodeId: 'other-lb.2',
      claimedAddress: '192.168.5.9',
    });
  });

  it('a foreign cluster with an unreadable node id leaves claimedNodeId out', () => {
    const foreign = encodeAdvert({ ...base, clusterId: 77 }, KEY);
    const badLen = Buffer.from(foreign);
    badLen[34] = 0;
    const badChars = Buffer.from(foreign);
    badChars[35] = 0x20;
    for (const b of [badLen, badChars]) {
      const r = decodeAdvert(b, KEY, CLUSTER);
      expect(r.ok).toBe(false);
      if (r.ok || r.reason !== 'cluster') throw new Error('expected a cluster failure');
      expect(r.clusterId).toBe(77);
      expect('claimedNodeId' in r).toBe(false);
    }
  });

  it('reserved flag bits set -> malformed, even with a valid HMAC', () => {
    for (let bit = 2; bit < 8; bit++) {
      const b = Buffer.from(good);
      b[5] = b[5]! | (1 << bit);
      expect(reasonOf(decodeAdvert(resign(b), KEY, CLUSTER)), `bit ${bit}`).toBe('malformed');
    }
  });

  it('a non-zero reserved byte -> malformed', () => {
    const b = Buffer.from(good);
    b[7] = 1;
    expect(reasonOf(decodeAdvert(resign(b), KEY, CLUSTER))).toBe('malformed');
  });

  it('an interval outside 10 ms - 10 s -> malformed', () => {
    for (const ms of [0, 9, 10_001, 65_535]) {
      const b = Buffer.from(good);
      b.writeUInt16BE(ms, 8);
      expect(reasonOf(decodeAdvert(resign(b), KEY, CLUSTER)), `${ms} ms`).toBe('malformed');
    }
  });

  it('node id length 0 or over 63 -> malformed', () => {
    for (const n of [0, 64, 255]) {
      const b = Buffer.from(good);
      b[34] = n;
      expect(reasonOf(decodeAdvert(b, KEY, CLUSTER)), `length ${n}`).toBe('malformed');
    }
    // A 64-byte id in a buffer long enough for it is still refused.
    const body = Buffer.concat([good.subarray(0, 34), Buffer.from([64]), Buffer.alloc(64, 0x61), Buffer.alloc(32)]);
    expect(reasonOf(decodeAdvert(resign(body), KEY, CLUSTER))).toBe('malformed');
  });

  it('node id with characters outside [A-Za-z0-9_.-] -> malformed, even with a valid HMAC', () => {
    for (const c of [0x00, 0x20, 0x2f, 0x3a, 0x7f, 0xc3, 0xff]) {
      const b = Buffer.from(good);
      b[36] = c;
      expect(reasonOf(decodeAdvert(resign(b), KEY, CLUSTER)), `byte ${c}`).toBe('malformed');
    }
  });
});

describe('decodeAdvert never throws', () => {
  it('on 5000 random buffers', () => {
    const rand = prng(1);
    const seen = new Set<string>();
    for (let i = 0; i < 5000; i++) {
      const len = Math.floor(rand() * 160);
      const b = Buffer.alloc(len);
      for (let j = 0; j < len; j++) b[j] = Math.floor(rand() * 256);
      // Half of them get a valid prefix and our cluster id, to reach the deeper checks.
      if (i % 2 === 0 && len >= 14) {
        b.write('HALO', 0, 'ascii');
        b[4] = 1;
        b.writeUInt32BE(CLUSTER, 10);
      }
      const r = decodeAdvert(b, KEY, CLUSTER);
      expect(r.ok).toBe(false);
      seen.add(reasonOf(r));
    }
    expect([...seen].sort()).toEqual(['hmac', 'magic', 'malformed', 'short']);
  });

  it('on 5000 random mutations of a valid advert, and accepts none', () => {
    const rand = prng(2);
    const good = encodeAdvert(base, KEY);
    for (let i = 0; i < 5000; i++) {
      const b = Buffer.from(good);
      const edits = 1 + Math.floor(rand() * 4);
      for (let e = 0; e < edits; e++) {
        const at = Math.floor(rand() * b.length);
        const v = Math.floor(rand() * 256);
        b[at] = v === b[at] ? (v + 1) & 0xff : v;
      }
      const cut = rand() < 0.2 ? Math.floor(rand() * b.length) : b.length;
      const r = decodeAdvert(b.subarray(0, cut), KEY, CLUSTER);
      expect(r.ok).toBe(false);
    }
  });
});

describe('ReplayWindow', () => {
  it('the same advert twice: the second is stale', () => {
    const w = new ReplayWindow();
    expect(w.accept('lb1', 7n, 1n)).toBe('ok');
    expect(w.accept('lb1', 7n, 1n)).toBe('stale');
  });

  it('an older sequence in the same epoch is stale; a newer one, even with a gap, is ok', () => {
    const w = new ReplayWindow();
    expect(w.accept('lb1', 7n, 10n)).toBe('ok');
    expect(w.accept('lb1', 7n, 9n)).toBe('stale');
    expect(w.accept('lb1', 7n, 0n)).toBe('stale');
    expect(w.accept('lb1', 7n, 15n)).toBe('ok');
    expect(w.accept('lb1', 7n, 11n)).toBe('stale');
  });

  it('a new epoch is accepted whatever its sequence (the sender restarted)', () => {
    const w = new ReplayWindow();
    expect(w.accept('lb1', 7n, 1000n)).toBe('ok');
    expect(w.accept('lb1', 3n, 0n)).toBe('ok');
    expect(w.accept('lb1', 3n, 1n)).toBe('ok');
  });

  it('an advert of an old epoch replayed after a newer one is stale, at any sequence', () => {
    const w = new ReplayWindow();
    expect(w.accept('lb1', 100n, 5n)).toBe('ok');
    expect(w.accept('lb1', 200n, 0n)).toBe('ok');
    expect(w.accept('lb1', 100n, 5n)).toBe('stale');
    expect(w.accept('lb1', 100n, 6n)).toBe('stale');
    expect(w.accept('lb1', 100n, 1_000_000n)).toBe('stale');
    expect(w.accept('lb1', 200n, 1n)).toBe('ok');
  });

  it('remembers the configured number of epochs, the current one included', () => {
    const w = new ReplayWindow({ epochsPerSender: 4 });
    for (const e of [1n, 2n, 3n, 4n]) expect(w.accept('lb1', e, 0n)).toBe('ok');
    for (const e of [1n, 2n, 3n]) expect(w.accept('lb1', e, 99n)).toBe('stale');
    expect(w.accept('lb1', 5n, 0n)).toBe('ok');
    // Epoch 1 has fallen out of memory (the documented limit); 2, 3 and 4 are still refused.
    for (const e of [2n, 3n, 4n]) expect(w.accept('lb1', e, 99n)).toBe('stale');
    expect(w.accept('lb1', 1n, 99n)).toBe('ok');
  });

  it('keeps senders apart', () => {
    const w = new ReplayWindow();
    expect(w.accept('lb1', 1n, 5n)).toBe('ok');
    expect(w.accept('lb2', 1n, 5n)).toBe('ok');
    expect(w.accept('lb2', 1n, 5n)).toBe('stale');
    expect(w.accept('lb1', 1n, 6n)).toBe('ok');
  });

  it('evicts the least recently accepted sender beyond the cap', () => {
    const w = new ReplayWindow({ maxSenders: 3 });
    w.accept('a', 1n, 1n);
    w.accept('b', 1n, 1n);
    w.accept('c', 1n, 1n);
    expect(w.accept('a', 1n, 2n)).toBe('ok'); // a is now the most recent; b the least
    expect(w.accept('d', 1n, 1n)).toBe('ok');
    expect(w.size).toBe(3);
    expect(w.has('b')).toBe(false);
    expect(['a', 'c', 'd'].every((id) => w.has(id))).toBe(true);
    // a stale advert does not refresh its sender
    expect(w.accept('c', 1n, 1n)).toBe('stale');
    w.accept('e', 1n, 1n);
    expect(w.has('c')).toBe(false);
    expect(w.has('a')).toBe(true);
  });

  it('stays bounded under many senders (default cap 256)', () => {
    const w = new ReplayWindow();
    for (let i = 0; i < 1000; i++) w.accept(`n${i}`, 1n, 1n);
    expect(w.size).toBe(256);
    expect(w.has('n999')).toBe(true);
    expect(w.has('n743')).toBe(false);
    expect(w.has('n744')).toBe(true);
  });

  it('forget drops a sender', () => {
    const w = new ReplayWindow();
    w.accept('lb1', 1n, 5n);
    w.forget('lb1');
    expect(w.has('lb1')).toBe(false);
    expect(w.accept('lb1', 1n, 5n)).toBe('ok');
  });

  it('drops a replayed captured advert end to end', () => {
    const w = new ReplayWindow();
    const captured = encodeAdvert({ ...base, sequence: 1n }, KEY);
    const later = encodeAdvert({ ...base, sequence: 2n }, KEY);
    const verdict = (b: Buffer) => {
      const r = decodeAdvert(b, KEY, CLUSTER);
      if (!r.ok) return r.reason;
      return w.accept(r.advert.nodeId, r.advert.bootEpoch, r.advert.sequence);
    };
    expect(verdict(captured)).toBe('ok');
    expect(verdict(later)).toBe('ok');
    expect(verdict(captured)).toBe('stale');
  });
});

describe('DropCounters', () => {
  it('counts by reason and starts every reason at 0', () => {
    const c = new DropCounters();
    expect(c.snapshot()).toEqual({ short: 0, magic: 0, version: 0, cluster: 0, malformed: 0, hmac: 0, stale: 0 });
    c.count('hmac');
    c.count('hmac');
    c.count('stale');
    expect(c.get('hmac')).toBe(2);
    expect(c.get('stale')).toBe(1);
    expect(c.get('magic')).toBe(0);
    expect(c.total()).toBe(3);
    expect(Object.keys(c.snapshot()).sort()).toEqual([...DROP_REASONS].sort());
  });

  it('the snapshot is a copy', () => {
    const c = new DropCounters();
    const s = c.snapshot();
    c.count('short');
    expect(s.short).toBe(0);
    expect(c.snapshot().short).toBe(1);
  });
});

describe('ipv4ToUint32', () => {
  it('orders addresses numerically for the tie-break', () => {
    expect(ipv4ToUint32('10.0.0.1')).toBe(0x0a000001);
    expect(ipv4ToUint32('255.255.255.255')).toBe(0xffff_ffff);
    expect(ipv4ToUint32('10.0.0.10')! > ipv4ToUint32('10.0.0.9')!).toBe(true);
    expect(ipv4ToUint32('192.168.0.1')! > ipv4ToUint32('10.255.255.255')!).toBe(true);
    expect(ipv4ToUint32('1.2.3')).toBeUndefined();
  });
});
