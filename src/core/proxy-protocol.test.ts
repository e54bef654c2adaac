import { describe, it, expect } from 'vitest';
import {
  decodeProxyHeader,
  encodeProxyHeader,
  encodeProxyV1,
  encodeProxyV2,
  formatIPv6,
  normalizeAddress,
  parseIPv4,
  parseIPv6,
  PROXY_REJECT_CODES,
  PROXY_V2_SIGNATURE,
  type ProxyRejectCode,
} from './proxy-protocol.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const conn = (src: string, sport: number, dst: string, dport: number) => ({
  source: { address: src, port: sport },
  destination: { address: dst, port: dport },
});

describe('address parsing', () => {
  it('parses strict dotted quads only', () => {
    expect(Array.from(parseIPv4('192.168.0.1')!)).toEqual([192, 168, 0, 1]);
    for (const bad of ['256.1.1.1', '01.2.3.4', '1.2.3', '1.2.3.4.5', '', 'a.b.c.d', '1..2.3', ' 1.2.3.4']) {
      expect(parseIPv4(bad), bad).toBeUndefined();
    }
  });

  it('parses IPv6 text forms and rejects malformed ones', () => {
    expect(formatIPv6(parseIPv6('2001:DB8:0:0:0:0:0:1')!)).toBe('2001:db8::1');
    expect(formatIPv6(parseIPv6('::')!)).toBe('::');
    expect(formatIPv6(parseIPv6('::1')!)).toBe('::1');
    expect(formatIPv6(parseIPv6('1::')!)).toBe('1::');
    expect(formatIPv6(parseIPv6('2001:db8:0:1:0:0:0:1')!)).toBe('2001:db8:0:1::1');
    // RFC 5952: a single zero group is not compressed; on a tie the first run wins.
    expect(formatIPv6(parseIPv6('2001:db8:0:1:1:1:1:1')!)).toBe('2001:db8:0:1:1:1:1:1');
    expect(formatIPv6(parseIPv6('1:0:0:2:0:0:3:4')!)).toBe('1::2:0:0:3:4');
    expect(formatIPv6(parseIPv6('::ffff:10.0.0.1')!)).toBe('::ffff:10.0.0.1');
    for (const bad of ['1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9', '1::2::3', '12345::', 'g::1', '1.2.3.4::', ':1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8::', 'fe80::1%eth0']) {
      expect(parseIPv6(bad), bad).toBeUndefined();
    }
  });

  it('folds IPv4-mapped IPv6 to IPv4 and drops zone ids', () => {
    expect(normalizeAddress('::ffff:1.2.3.4')).toEqual({ family: 4, bytes: new Uint8Array([1, 2, 3, 4]) });
    expect(normalizeAddress('::ffff:0102:0304')).toEqual({ family: 4, bytes: new Uint8Array([1, 2, 3, 4]) });
    expect(normalizeAddress('fe80::1%eth0')?.family).toBe(6);
    expect(normalizeAddress(undefined)).toBeUndefined();
    expect(normalizeAddress('localhost')).toBeUndefined();
  });
});

describe('PROXY v1 encoding', () => {
  it('writes the spec example for TCP4', () => {
    expect(encodeProxyV1(conn('192.168.0.1', 56324, '192.168.0.11', 443)).toString('latin1')).toBe('PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n');
  });

  it('writes TCP6 in canonical form', () => {
    expect(encodeProxyV1(conn('2001:DB8::0:1', 1, '::1', 65535)).toString('latin1')).toBe('PROXY TCP6 2001:db8::1 ::1 1 65535\r\n');
  });

  it('writes IPv4-mapped addresses from a dual-stack socket as TCP4', () => {
    expect(encodeProxyV1(conn('::ffff:10.1.2.3', 4000, '::ffff:10.0.0.1', 80)).toString('latin1')).toBe('PROXY TCP4 10.1.2.3 10.0.0.1 4000 80\r\n');
  });

  it('writes UNKNOWN when an address is missing or a port is out of range', () => {
    expect(encodeProxyV1(conn('', 1, '10.0.0.1', 80)).toString('latin1')).toBe('PROXY UNKNOWN\r\n');
    expect(encodeProxyV1(conn('10.0.0.2', 70000, '10.0.0.1', 80)).toString('latin1')).toBe('PROXY UNKNOWN\r\n');
  });

  it('stays within the 107-byte limit with the longest addresses', () => {
    const max = 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff';
    const line = encodeProxyV1(conn(max, 65535, max, 65535));
    expect(line.length).toBe(104);
    expect(line.length).toBeLessThanOrEqual(107);
  });
});

describe('PROXY v2 encoding', () => {
  it('writes TCP4 byte for byte (header as captured from haproxy in the wild)', () => {
    // 172.19.0.1:42578 -> 172.19.0.3:80
    const expected = hex('0d0a0d0a000d0a515549540a 21 11 000c ac130001 ac130003 a652 0050');
    expect(encodeProxyV2(conn('172.19.0.1', 42578, '172.19.0.3', 80))).toEqual(expected);
  });

  it('writes TCP6 byte for byte', () => {
    const expected = hex(
      '0d0a0d0a000d0a515549540a 21 21 0024' +
        '20010db8000000000000000000000001' +
        '00000000000000000000000000000001' +
        '04d2 01bb',
    );
    expect(encodeProxyV2(conn('2001:db8::1', 1234, '::1', 443))).toEqual(expected);
  });

  it('folds IPv4-mapped addresses to AF_INET', () => {
    const out = encodeProxyV2(conn('::ffff:127.0.0.1', 1, '::ffff:127.0.0.2', 2));
    expect(out[13]).toBe(0x11);
    expect(out.readUInt16BE(14)).toBe(12);
  });

  it('widens a mixed pair to IPv4-mapped IPv6', () => {
    const out = encodeProxyV2(conn('10.0.0.1', 1, '2001:db8::2', 2));
    expect(out[13]).toBe(0x21);
    expect(out.subarray(16, 32)).toEqual(hex('00000000000000000000ffff0a000001'));
    expect(encodeProxyV1(conn('10.0.0.1', 1, '2001:db8::2', 2)).toString()).toBe('PROXY TCP6 ::ffff:10.0.0.1 2001:db8::2 1 2\r\n');
  });

  it('writes DGRAM, UNSPEC and LOCAL forms', () => {
    expect(encodeProxyV2({ ...conn('10.0.0.1', 1, '10.0.0.2', 2), transport: 'dgram' })[13]).toBe(0x12);
    expect(encodeProxyV2(conn('nope', 1, '10.0.0.2', 2))).toEqual(hex('0d0a0d0a000d0a515549540a 21 00 0000'));
    expect(encodeProxyV2(conn('10.0.0.1', 1, '10.0.0.2', 2), { command: 'local' })).toEqual(hex('0d0a0d0a000d0a515549540a 20 00 0000'));
  });

  it('encodeProxyHeader picks the version', () => {
    const c = conn('10.0.0.1', 1, '10.0.0.2', 2);
    expect(encodeProxyHeader('v1', c)).toEqual(encodeProxyV1(c));
    expect(encodeProxyHeader('v2', c)).toEqual(encodeProxyV2(c));
  });
});

describe('PROXY decoding', () => {
  it('round-trips v1 and v2, reporting the header length so payload can follow', () => {
    for (const c of [conn('192.168.0.1', 56324, '192.168.0.11', 443), conn('2001:db8::1', 0, 'fe80::2', 65535)]) {
      for (const enc of [encodeProxyV1(c), encodeProxyV2(c)]) {
        const r = decodeProxyHeader(Buffer.concat([enc, Buffer.from('GET / HTTP/1.1\r\n')]));
        expect(r.status).toBe('ok');
        if (r.status !== 'ok') continue;
        expect(r.length).toBe(enc.length);
        expect(r.header.command).toBe('proxy');
        expect(r.header.transport).toBe('stream');
        expect(r.header.source).toEqual(c.source);
        expect(r.header.destination).toEqual(c.destination);
      }
    }
  });

  it('reports incomplete for every strict prefix of a valid header', () => {
    const c = conn('2001:db8::1', 1, '2001:db8::2', 2);
    for (const enc of [encodeProxyV1(c), encodeProxyV2(c)]) {
      for (let n = 0; n < enc.length; n++) expect(decodeProxyHeader(enc.subarray(0, n)).status, `${n}`).toBe('incomplete');
    }
  });

  it('accepts UNKNOWN with or without trailing text', () => {
    for (const line of ['PROXY UNKNOWN\r\n', 'PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n']) {
      const r = decodeProxyHeader(Buffer.from(line));
      expect(r).toMatchObject({ status: 'ok', length: line.length, header: { family: 'unspec', version: 1 } });
    }
  });

  it('rejects malformed v1 lines, each with its reject code', () => {
    const bad: [string, ProxyRejectCode][] = [
      ['PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n', 'v1_bare_lf'],
      ['PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n', 'v1_fields'],
      ['PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n', 'v1_fields'],
      ['PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n', 'v1_fields'],
      ['PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n', 'v1_port'],
      ['PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n', 'v1_port'],
      ['PROXY TCP4 ::1 ::2 1 2\r\n', 'v1_address'],
      ['PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n', 'v1_address'],
      ['PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n', 'v1_protocol'],
      ['PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n', 'v1_stray_cr'],
      ['PROXY TCP4 1.2.3.4\x005.6.7.8 1 2\r\n', 'v1_non_printable'],
      ['PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n', 'v1_prefix'],
      [`PROXY UNKNOWN ${'x'.repeat(120)}\r\n`, 'v1_no_crlf'],
      ['GET / HTTP/1.1\r\n', 'not_proxy'],
    ];
    for (const [line, code] of bad) expect(decodeProxyHeader(Buffer.from(line, 'latin1')), JSON.stringify(line)).toMatchObject({ status: 'invalid', code });
  });

  it('rejects a dotted quad before "::" even when the text after it is the same (fuzzer find)', () => {
    // parseIPv6 compared the half's text instead of its position, so a head equal to the tail passed.
    for (const text of ['1.2.3.4::1.2.3.4', '1:1.2.3.4::1:1.2.3.4']) expect(parseIPv6(text), text).toBeUndefined();
    expect(decodeProxyHeader(Buffer.from('PROXY TCP6 1.2.3.4::1.2.3.4 :: 0 0\r\n', 'latin1'))).toMatchObject({ status: 'invalid', code: 'v1_address' });
    expect(formatIPv6(parseIPv6('::1.2.3.4')!)).toBe('::102:304');
  });

  it('gives up on a v1 line with no CRLF after 107 bytes instead of waiting forever', () => {
    expect(decodeProxyHeader(Buffer.from(`PROXY UNKNOWN ${'x'.repeat(100)}`)).status).toBe('invalid');
  });

  it('decodes v2 LOCAL, UNSPEC and TLVs', () => {
    const local = decodeProxyHeader(hex('0d0a0d0a000d0a515549540a 20 11 000c 0a000001 0a000002 0001 0002'));
    expect(local).toMatchObject({ status: 'ok', length: 28, header: { command: 'local', family: 'inet' } });
    if (local.status === 'ok') expect(local.header.source).toBeUndefined();

    const unspec = decodeProxyHeader(hex('0d0a0d0a000d0a515549540a 21 00 0003 aabbcc'));
    expect(unspec).toMatchObject({ status: 'ok', length: 19, header: { family: 'unspec', tlvs: [] } });

    // PP2_TYPE_ALPN (0x01) "h2" and PP2_TYPE_NOOP (0x04) with no value.
    const withTlv = decodeProxyHeader(hex('0d0a0d0a000d0a515549540a 21 11 0014 0a000001 0a000002 0001 0002 01 0002 6832 04 0000'));
    expect(withTlv.status).toBe('ok');
    if (withTlv.status === 'ok') {
      expect(withTlv.header.tlvs.map((t) => [t.type, t.value.toString()])).toEqual([[1, 'h2'], [4, '']]);
      expect(withTlv.header.source).toEqual({ address: '10.0.0.1', port: 1 });
    }
  });

  it('rejects malformed v2 headers, each with its reject code', () => {
    const sig = '0d0a0d0a000d0a515549540a';
    const bad: [string, ProxyRejectCode][] = [
      [`${sig} 11 11 000c 0a000001 0a000002 0001 0002`, 'v2_version'], // version 1 in the binary form
      [`${sig} 22 11 000c 0a000001 0a000002 0001 0002`, 'v2_command'], // command 2
      [`${sig} 21 41 000c 0a000001 0a000002 0001 0002`, 'v2_family'], // family 4
      [`${sig} 21 13 000c 0a000001 0a000002 0001 0002`, 'v2_family'], // transport 3
      [`${sig} 21 11 0008 0a000001 0a000002`, 'v2_address_length'], // too short for AF_INET
      [`${sig} 21 21 000c 0a000001 0a000002 0001 0002`, 'v2_address_length'], // too short for AF_INET6
      [`${sig} 21 11 000e 0a000001 0a000002 0001 0002 0100`, 'v2_tlv'], // TLV header truncated
      [`${sig} 21 11 0010 0a000001 0a000002 0001 0002 01 0005 68`, 'v2_tlv'], // TLV overruns
      ['0d0a0d0a000d0a515549540b 21 11 000c 0a000001 0a000002 0001 0002', 'v2_signature'], // signature
    ];
    for (const [h, code] of bad) expect(decodeProxyHeader(hex(h)), h).toMatchObject({ status: 'invalid', code });
  });

  it('waits for the announced v2 length', () => {
    expect(decodeProxyHeader(hex('0d0a0d0a000d0a515549540a 21 11 000c 0a000001')).status).toBe('incomplete');
  });

  it('never throws on random garbage, including garbage behind a valid signature', () => {
    let seed = 12345;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed;
    };
    const prefixes = [Buffer.alloc(0), PROXY_V2_SIGNATURE, Buffer.from('PROXY '), Buffer.from('PROXY TCP4 ')];
    for (let i = 0; i < 4000; i++) {
      const body = Buffer.alloc(rnd() % 140);
      for (let j = 0; j < body.length; j++) body[j] = rnd() & 0xff;
      const buf = Buffer.concat([prefixes[i % prefixes.length]!, body]);
      const r = decodeProxyHeader(buf);
      expect(['ok', 'incomplete', 'invalid']).toContain(r.status);
      if (r.status === 'invalid') expect(PROXY_REJECT_CODES).toContain(r.code);
      if (r.status === 'ok') expect(r.length).toBeLessThanOrEqual(buf.length);
    }
  });
});
