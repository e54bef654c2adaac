import { describe, it, expect } from 'vitest';
import {
  ICMP_ECHO_REPLY,
  ICMP_ECHO_REQUEST,
  encodeEchoRequest,
  icmpFromIpv4,
  internetChecksum,
  parseEcho,
  parseEchoReply,
} from './icmp-packet.js';

const WINDOWS_PING_DATA = Buffer.from('abcdefghijklmnopqrstuvwabcdefghi', 'ascii');

/** A 20-byte IPv4 header (no options) carrying ICMP, checksum left at 0 (we never check it). */
function ipv4Header(ihlWords = 5, protocol = 1): Buffer {
  const h = Buffer.alloc(ihlWords * 4);
  h.writeUInt8(0x40 | ihlWords, 0);
  h.writeUInt8(64, 8); // ttl
  h.writeUInt8(protocol, 9);
  Buffer.from([127, 0, 0, 1]).copy(h, 12);
  Buffer.from([127, 0, 0, 1]).copy(h, 16);
  return h;
}

function echoReplyFor(request: Buffer): Buffer {
  const reply = Buffer.from(request);
  reply.writeUInt8(ICMP_ECHO_REPLY, 0);
  reply.writeUInt16BE(0, 2);
  reply.writeUInt16BE(internetChecksum(reply), 2);
  return reply;
}

describe('internetChecksum', () => {
  it('matches the RFC 1071 worked example', () => {
    // RFC 1071 section 3: the sum of 0001 f203 f4f5 f6f7 is ddf2, so the checksum is 220d.
    expect(internetChecksum(Buffer.from([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]))).toBe(0x220d);
  });

  it('matches the checksum of the classic Windows ping packet (id 1, seq 0x0a09)', () => {
    const pkt = Buffer.concat([Buffer.from([0x08, 0x00, 0x00, 0x00, 0x00, 0x01, 0x0a, 0x09]), WINDOWS_PING_DATA]);
    expect(internetChecksum(pkt)).toBe(0x4352);
  });

  it('pads an odd trailing byte with zero', () => {
    expect(internetChecksum(Buffer.from([0x00, 0x01, 0xf2]))).toBe(internetChecksum(Buffer.from([0x00, 0x01, 0xf2, 0x00])));
  });

  it('a packet with its checksum filled in sums to zero', () => {
    expect(internetChecksum(encodeEchoRequest(0x1234, 0xbeef, Buffer.from('halo')))).toBe(0);
  });
});

describe('encodeEchoRequest', () => {
  it('encodes the classic Windows ping packet byte for byte', () => {
    const pkt = encodeEchoRequest(1, 0x0a09, WINDOWS_PING_DATA);
    expect(pkt.subarray(0, 8).toString('hex')).toBe('0800435200010a09');
    expect(pkt.subarray(8)).toEqual(WINDOWS_PING_DATA);
  });

  it('rejects identifiers and sequences outside 16 bits', () => {
    expect(() => encodeEchoRequest(-1, 0)).toThrow(RangeError);
    expect(() => encodeEchoRequest(0x10000, 0)).toThrow(RangeError);
    expect(() => encodeEchoRequest(1, 70000)).toThrow(RangeError);
    expect(() => encodeEchoRequest(1, 1.5)).toThrow(RangeError);
  });
});

describe('parseEcho / parseEchoReply', () => {
  it('parses an echo reply', () => {
    const reply = echoReplyFor(encodeEchoRequest(0xabcd, 42, Buffer.from('payload')));
    const msg = parseEchoReply(reply);
    expect(msg).not.toBeNull();
    expect(msg?.type).toBe(ICMP_ECHO_REPLY);
    expect(msg?.identifier).toBe(0xabcd);
    expect(msg?.sequence).toBe(42);
    expect(msg?.payload.toString()).toBe('payload');
  });

  it('parses a request with parseEcho but not with parseEchoReply (our own looped-back request)', () => {
    const req = encodeEchoRequest(7, 8);
    expect(parseEcho(req)?.type).toBe(ICMP_ECHO_REQUEST);
    expect(parseEchoReply(req)).toBeNull();
  });

  it('rejects short buffers', () => {
    expect(parseEcho(Buffer.alloc(0))).toBeNull();
    expect(parseEcho(Buffer.from([0, 0, 0xff, 0xff, 0, 0, 0]))).toBeNull();
  });

  it('rejects a corrupted reply (bad checksum)', () => {
    const reply = echoReplyFor(encodeEchoRequest(1, 2, Buffer.from('abcd')));
    reply[9] = (reply[9] as number) ^ 0xff;
    expect(parseEchoReply(reply)).toBeNull();
  });

  it('rejects other ICMP types and non-zero codes', () => {
    const unreachable = Buffer.alloc(8);
    unreachable.writeUInt8(3, 0); // destination unreachable
    unreachable.writeUInt8(3, 1); // port unreachable
    unreachable.writeUInt16BE(internetChecksum(unreachable), 2);
    expect(parseEcho(unreachable)).toBeNull();
    const oddCode = Buffer.alloc(8);
    oddCode.writeUInt8(1, 1);
    oddCode.writeUInt16BE(internetChecksum(oddCode), 2);
    expect(parseEcho(oddCode)).toBeNull();
  });

  it('rejects garbage', () => {
    const garbage = Buffer.from('this is not an icmp packet at all', 'ascii');
    expect(parseEcho(garbage)).toBeNull();
  });

  it('reads a reply that sits in the middle of a larger buffer', () => {
    const reply = echoReplyFor(encodeEchoRequest(9, 10, Buffer.from('xy')));
    const big = Buffer.concat([Buffer.from([1, 2, 3]), reply, Buffer.from([4])]);
    expect(parseEchoReply(big.subarray(3, 3 + reply.length))?.sequence).toBe(10);
  });
});

describe('icmpFromIpv4', () => {
  it('skips a 20-byte IPv4 header', () => {
    const reply = echoReplyFor(encodeEchoRequest(3, 4));
    const icmp = icmpFromIpv4(Buffer.concat([ipv4Header(), reply]));
    expect(icmp).toEqual(reply);
    expect(parseEchoReply(icmp ?? Buffer.alloc(0))?.identifier).toBe(3);
  });

  it('skips IHL*4 bytes when the header carries options', () => {
    const reply = echoReplyFor(encodeEchoRequest(5, 6));
    const icmp = icmpFromIpv4(Buffer.concat([ipv4Header(6), reply]));
    expect(icmp).toEqual(reply);
  });

  it('rejects short buffers, other IP versions, bad IHL and other protocols', () => {
    expect(icmpFromIpv4(Buffer.alloc(19))).toBeNull();
    const v6 = ipv4Header();
    v6[0] = 0x65;
    expect(icmpFromIpv4(Buffer.concat([v6, Buffer.alloc(8)]))).toBeNull();
    const tinyIhl = ipv4Header();
    tinyIhl[0] = 0x44;
    expect(icmpFromIpv4(Buffer.concat([tinyIhl, Buffer.alloc(8)]))).toBeNull();
    // IHL claims 60 bytes but only 28 are there
    const longIhl = ipv4Header();
    longIhl[0] = 0x4f;
    expect(icmpFromIpv4(Buffer.concat([longIhl, Buffer.alloc(8)]))).toBeNull();
    expect(icmpFromIpv4(Buffer.concat([ipv4Header(5, 6), Buffer.alloc(8)]))).toBeNull();
  });
});
