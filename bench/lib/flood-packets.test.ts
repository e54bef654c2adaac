import { describe, expect, it } from 'vitest';
import { checksum, intToIp, ipToInt, spoofedSource, synPacket, udpPacket } from './flood-packets.js';

describe('flood packets', () => {
  it('converts addresses both ways', () => {
    expect(ipToInt('10.128.0.1')).toBe(0x0a800001);
    expect(intToIp(0xc0a80aff)).toBe('192.168.10.255');
    expect(() => ipToInt('10.1.2')).toThrow(RangeError);
  });

  it('spoofs unique sources inside the prefix, never .0 or .255', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const ip = spoofedSource('10.128.0.0', 9, i);
      expect(ip.endsWith('.0') || ip.endsWith('.255')).toBe(false);
      seen.add(ip);
    }
    expect(seen.size).toBe(2000);
    expect(spoofedSource('10.128.0.0', 9, 0)).toBe('10.128.0.1');
    expect(spoofedSource('10.128.0.0', 9, 254)).toBe('10.128.1.1');
    // 1M sources fit in a /9; a /24 holds 254.
    expect(spoofedSource('10.128.0.0', 9, 999_999)).toMatch(/^10\.(12[89]|1[3-9]\d|2[0-5]\d)\./);
    expect(() => spoofedSource('10.0.0.0', 24, 254)).toThrow(RangeError);
  });

  it('builds a UDP datagram with a valid IP header', () => {
    const p = udpPacket('10.128.0.1', 4000, '10.99.0.1', 5353, Buffer.from('hi'), 7);
    expect(p.length).toBe(30);
    expect(p.readUInt16BE(2)).toBe(30);
    expect(p[9]).toBe(17);
    expect(checksum(p, 0, 20, 0)).toBe(0); // a correct header sums to zero
    expect(p.readUInt16BE(24)).toBe(10);
    expect(p.subarray(28).toString()).toBe('hi');
  });

  it('builds a SYN whose TCP checksum verifies over the pseudo-header', () => {
    const p = synPacket('10.128.3.4', 40000, '10.99.0.1', 8080, 123456, 1);
    expect(p[33]).toBe(0x02);
    const pseudo = Buffer.alloc(12);
    pseudo.writeUInt32BE(ipToInt('10.128.3.4'), 0);
    pseudo.writeUInt32BE(ipToInt('10.99.0.1'), 4);
    pseudo.writeUInt16BE(6, 8);
    pseudo.writeUInt16BE(20, 10);
    expect(checksum(Buffer.concat([pseudo, p.subarray(20)]), 0, 32, 0)).toBe(0);
  });
});
