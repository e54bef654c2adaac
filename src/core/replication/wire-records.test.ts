import { describe, expect, it } from 'vitest';
import { WireDictionary } from './dictionary.js';
import { ReplicationFrameError } from './frame-error.js';
import { KEY_FORM, KEY_MAX_BYTES, keyForm, readRecord, writeRecord, type ReplicationRecord } from './wire-records.js';
import { ByteReader, ByteWriter } from './wire-varint.js';

/** Encode with a sender dictionary, hand its definitions to a receiver, decode. */
function roundTrip(rec: ReplicationRecord, sender = new WireDictionary()): { back: ReplicationRecord; bytes: Uint8Array } {
  const w = new ByteWriter();
  w.what = 'record';
  w.index = 0;
  writeRecord(w, rec, sender);
  const bytes = w.finish();
  const receiver = new WireDictionary();
  for (const e of sender.entries()) receiver.define(e.id, e.value);
  const r = new ByteReader(bytes);
  r.what = 'record';
  r.index = 0;
  const back = readRecord(r, receiver);
  r.expectEnd();
  return { back, bytes };
}

function encodeError(rec: ReplicationRecord): ReplicationFrameError {
  const w = new ByteWriter();
  w.what = 'record';
  w.index = 3;
  try {
    writeRecord(w, rec, new WireDictionary());
  } catch (err) {
    expect(err).toBeInstanceOf(ReplicationFrameError);
    return err as ReplicationFrameError;
  }
  throw new Error('expected encoding to fail');
}

const persist = (key: string, ttlMs: number | null = 1_800_000): ReplicationRecord => ({
  op: 'set',
  table: 'web/persist_source',
  kind: 'persist_source',
  key,
  value: { pool: 'web', backend: 'app-1' },
  ttlMs,
});

describe('record round trips', () => {
  it('persist_source with an IPv4 key: 4-byte key, <= 16 bytes on a dictionary hit', () => {
    const sender = new WireDictionary();
    roundTrip(persist('10.0.0.1'), sender);
    const { back, bytes } = roundTrip(persist('192.168.255.254'), sender);
    expect(back).toEqual(persist('192.168.255.254'));
    expect(bytes.length).toBeLessThanOrEqual(16);
    // flags, table id, 4 key bytes, 3-byte ttl, pool id, backend id.
    expect(bytes.length).toBe(11);
  });

  it('persist_cookie with a text key', () => {
    const rec: ReplicationRecord = { op: 'set', table: 'web/persist_cookie', kind: 'persist_cookie', key: 'c0ffee.Zm9v', value: { pool: 'web', backend: 'b2' }, ttlMs: 60_000 };
    expect(roundTrip(rec).back).toEqual(rec);
  });

  it('udp_flows with an ip:port key sends the client address once and derives it', () => {
    const rec: ReplicationRecord = {
      op: 'set',
      table: 'dns/udp_flows',
      kind: 'udp_flows',
      key: '203.0.113.9:5353',
      value: { clientIp: '203.0.113.9', clientPort: 5353, pool: 'dns', backend: 'ns1', ageMs: 1234 },
      ttlMs: 30_000,
    };
    const { back, bytes } = roundTrip(rec);
    expect(back).toEqual(rec);
    expect(bytes[0]! & 0x80).toBe(0);
    // flags, table, 6 key bytes, ttl 3, pool, backend, age 2: no address repeated.
    expect(bytes.length).toBe(15);
  });

  it('udp_flows with a bracketed IPv6 key derives the address too', () => {
    const rec: ReplicationRecord = {
      op: 'set',
      table: 'dns/udp_flows',
      kind: 'udp_flows',
      key: '[2001:db8::53]:40000',
      value: { clientIp: '2001:db8::53', clientPort: 40000, pool: 'dns', backend: 'ns1', ageMs: 0 },
      ttlMs: 0,
    };
    const { back, bytes } = roundTrip(rec);
    expect(back).toEqual(rec);
    expect(bytes[0]! & 0x80).toBe(0);
    expect((bytes[0]! >> 3) & 7).toBe(KEY_FORM.ipv6Port);
  });

  it('udp_flows whose value disagrees with its key still round-trips (address inline)', () => {
    const rec: ReplicationRecord = {
      op: 'set',
      table: 'dns/udp_flows',
      kind: 'udp_flows',
      key: '10.0.0.1:53',
      value: { clientIp: '10.0.0.2', clientPort: 53, pool: 'dns', backend: 'ns1', ageMs: 5 },
      ttlMs: 100,
    };
    const { back, bytes } = roundTrip(rec);
    expect(back).toEqual(rec);
    expect(bytes[0]! & 0x80).toBe(0x80);
  });

  it('connections carry the client address inline: IPv4, IPv6 and a non-IP text', () => {
    for (const clientIp of ['198.51.100.7', '2001:db8::7', '::ffff:10.1.2.3', 'unix:/run/x.sock']) {
      const rec: ReplicationRecord = {
        op: 'set',
        table: 'web/connections',
        kind: 'connections',
        key: 'conn-42',
        value: { clientIp, clientPort: 61000, pool: 'web', backend: 'app-1', ageMs: 987_654 },
        ttlMs: null,
      };
      expect(roundTrip(rec).back).toEqual(rec);
    }
  });

  it('deletes of every kind', () => {
    for (const kind of ['connections', 'udp_flows', 'persist_source', 'persist_cookie'] as const) {
      const rec: ReplicationRecord = { op: 'delete', table: `t/${kind}`, kind, key: kind === 'udp_flows' ? '1.2.3.4:5' : 'k' };
      expect(roundTrip(rec).back).toEqual(rec);
    }
  });
});

describe('record edge cases', () => {
  it('ttl: null, 0 and large values round-trip; fractions round up; negative becomes 0', () => {
    expect(roundTrip(persist('10.0.0.1', null)).back).toMatchObject({ ttlMs: null });
    expect(roundTrip(persist('10.0.0.1', 0)).back).toMatchObject({ ttlMs: 0 });
    expect(roundTrip(persist('10.0.0.1', 2 ** 40)).back).toMatchObject({ ttlMs: 2 ** 40 });
    expect(roundTrip(persist('10.0.0.1', 10.2)).back).toMatchObject({ ttlMs: 11 });
    expect(roundTrip(persist('10.0.0.1', -5)).back).toMatchObject({ ttlMs: 0 });
  });

  it('IPv6 keys: canonical text goes binary, other spellings stay text, both round-trip exactly', () => {
    for (const key of ['2001:db8::1', '::1', 'fe80::1:2', '2001:DB8::1', '2001:0db8::1', '::ffff:1.2.3.4', '[::1]:80', '[2001:db8::1]:080']) {
      expect(roundTrip(persist(key)).back).toEqual(persist(key));
    }
    expect(keyForm('2001:db8::1')).toBe(KEY_FORM.ipv6);
    expect(keyForm('2001:DB8::1')).toBe(KEY_FORM.utf8);
  });

  it('IPv4 look-alikes stay text: leading zeros, octet > 255, port > 65535, port with leading zero', () => {
    for (const key of ['010.0.0.1', '256.1.1.1', '1.2.3.4:65536', '1.2.3.4:080', '1.2.3', '1.2.3.4.5', '1.2.3.4:', 'a.b.c.d']) {
      expect(keyForm(key)).toBe(KEY_FORM.utf8);
      expect(roundTrip(persist(key)).back).toEqual(persist(key));
    }
    expect(keyForm('0.0.0.0')).toBe(KEY_FORM.ipv4);
    expect(keyForm('255.255.255.255:65535')).toBe(KEY_FORM.ipv4Port);
    expect(keyForm('1.2.3.4:0')).toBe(KEY_FORM.ipv4Port);
  });

  it('unicode, empty and maximum-size text keys', () => {
    for (const key of ['', 'ключ-😀-鍵', 'x'.repeat(KEY_MAX_BYTES), 'é'.repeat(KEY_MAX_BYTES / 2), 'a\u0000b']) {
      expect(roundTrip(persist(key)).back).toEqual(persist(key));
    }
  });

  it('refuses a key over 1024 bytes and a key with a lone surrogate, naming record and field', () => {
    const err = encodeError(persist('é'.repeat(513)));
    expect(err.message).toBe('record 3: key of 1026 bytes exceeds 1024');
    expect(err.field).toBe('key');
    expect(encodeError(persist('a\uDC00')).message).toContain('record 3: key has a lone surrogate');
  });

  it('refuses bad ports, non-finite times and unknown kinds', () => {
    const flow = (clientPort: number, ageMs: number): ReplicationRecord => ({
      op: 'set',
      table: 't',
      kind: 'connections',
      key: 'c1',
      value: { clientIp: '10.0.0.1', clientPort, pool: 'p', backend: 'b', ageMs },
      ttlMs: null,
    });
    expect(encodeError(flow(70000, 1)).message).toContain('record 3: clientPort 70000');
    expect(encodeError(flow(1, Number.NaN)).message).toContain('record 3: ageMs NaN is not a finite number');
    expect(encodeError(persist('1.2.3.4', Number.POSITIVE_INFINITY)).field).toBe('ttlMs');
    // A record from a misbehaving caller: the type system would stop a literal one.
    const bad = { ...persist('k'), kind: 'sessions' } as unknown as ReplicationRecord;
    expect(encodeError(bad).message).toContain('kind "sessions" is not a table kind');
  });

  it('refuses pool names the dictionary cannot hold, naming the record', () => {
    const rec: ReplicationRecord = { op: 'set', table: 't', kind: 'persist_source', key: 'k', value: { pool: 'p'.repeat(300), backend: 'b' }, ttlMs: null };
    expect(encodeError(rec).message).toBe('record 3: pool of 300 bytes exceeds the dictionary limit of 255');
  });
});

describe('record decode errors', () => {
  function decodeError(bytes: number[], dict = new WireDictionary(), setsOnly = false): ReplicationFrameError {
    const r = new ByteReader(Uint8Array.from(bytes));
    r.what = 'record';
    r.index = 2;
    try {
      readRecord(r, dict, setsOnly);
    } catch (err) {
      expect(err).toBeInstanceOf(ReplicationFrameError);
      return err as ReplicationFrameError;
    }
    throw new Error('expected decoding to fail');
  }

  it('names an unknown dictionary id with its field and offset', () => {
    const err = decodeError([0x04, 0x07]);
    expect(err.message).toBe('record 2: table: unknown dictionary id 7 at offset 1');
    expect(err.field).toBe('table');
  });

  it('rejects unknown key forms, flag bits a delete cannot have, and deletes in snapshots', () => {
    expect(decodeError([6 << 3]).message).toBe('record 2: flags: key form 6 is unknown at offset 0');
    expect(decodeError([0x01 | 0x40]).message).toContain('ttl or address bit on a delete');
    expect(decodeError([0x01], new WireDictionary(), true).message).toContain('delete in a snapshot chunk');
    expect(decodeError([0x04 | 0x80]).message).toContain('address bit on a persist_source record');
    // A connections set with a text key and no inline address has no client address at all.
    expect(decodeError([0x00]).message).toContain('client address neither inline nor in an ip:port key');
  });

  it('rejects a key length past the end and over the limit', () => {
    const dict = new WireDictionary();
    dict.define(0, 't');
    expect(decodeError([0x05, 0x00, 0x84, 0x07, 0x61], dict).message).toBe('record 2: key length 900 past end of frame at offset 4');
    expect(decodeError([0x05, 0x00, 0x81, 0x08], dict).message).toBe('record 2: key length 1025 exceeds 1024 at offset 4');
  });
});

describe('name/IPv4 keys (source-IP persistence: "pool/a.b.c.d")', () => {
  it('packs the pool name through the dictionary and the address in 4 bytes', () => {
    const sender = new WireDictionary();
    roundTrip(persist('default/10.0.0.1'), sender); // defines the strings once
    const { back, bytes } = roundTrip(persist('default/10.0.0.2'), sender);
    expect(back).toEqual(persist('default/10.0.0.2'));
    expect((bytes[0]! >> 3) & 7).toBe(KEY_FORM.namedIpv4);
    // flags, table, name id, 4 address bytes, ttl (3), pool, backend
    expect(bytes.length).toBe(12);
  });

  it('round-trips a delete and the edges of the form', () => {
    for (const key of ['a/0.0.0.0', 'web-pool_2.x/255.255.255.255', `${'p'.repeat(63)}/1.2.3.4`]) {
      expect(keyForm(key), key).toBe(KEY_FORM.namedIpv4);
      expect(roundTrip(persist(key)).back).toEqual(persist(key));
      const del: ReplicationRecord = { op: 'delete', table: 'web/persist_source', kind: 'persist_source', key };
      expect(roundTrip(del).back).toEqual(del);
    }
  });

  it('sends as text whatever would not come back byte for byte', () => {
    for (const key of ['default/010.0.0.1', 'default/1.2.3', 'a/b/1.2.3.4', '/1.2.3.4', `${'p'.repeat(64)}/1.2.3.4`, 'dé/1.2.3.4', 'default/1.2.3.4 ']) {
      expect(keyForm(key), key).toBe(KEY_FORM.utf8);
      expect(roundTrip(persist(key)).back).toEqual(persist(key));
    }
  });
});
