/**
 * Hand-built IPv4 packets for the flood bench: UDP datagrams and TCP SYNs from spoofed
 * sources, sent through a raw socket with IP_HDRINCL (the kernel would otherwise put
 * the sender's own address in). The kernel fills in the IP total length and header
 * checksum; the TCP checksum is ours (a wrong one is dropped before the SYN queue),
 * and the UDP checksum is left 0 ("none", allowed over IPv4).
 */

const IP_HEADER = 20;
const UDP_HEADER = 8;
const TCP_HEADER = 20;

/** Dotted quad to its 32-bit value. */
export function ipToInt(ip: string): number {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new RangeError(`not an IPv4 address: ${ip}`);
  return (((parts[0] as number) << 24) | ((parts[1] as number) << 16) | ((parts[2] as number) << 8) | (parts[3] as number)) >>> 0;
}

export function intToIp(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/**
 * The i-th spoofed source inside base/prefix, skipping the network's .0 and .255 host
 * octets so no address looks like a broadcast. Throws when i does not fit.
 */
export function spoofedSource(base: string, prefix: number, i: number): string {
  const size = 2 ** (32 - prefix);
  // 254 usable host octets per 256 addresses.
  const block = Math.floor(i / 254);
  const offset = block * 256 + (i % 254) + 1;
  if (!Number.isInteger(i) || i < 0 || offset >= size) throw new RangeError(`source ${i} does not fit in ${base}/${prefix}`);
  return intToIp((ipToInt(base) + offset) >>> 0);
}

function writeIpHeader(buf: Buffer, protocol: number, src: string, dst: string, id: number): void {
  buf.writeUInt8(0x45, 0); // version 4, 5 words
  buf.writeUInt8(0, 1);
  buf.writeUInt16BE(buf.length, 2);
  buf.writeUInt16BE(id & 0xffff, 4);
  buf.writeUInt16BE(0x4000, 6); // don't fragment
  buf.writeUInt8(64, 8);
  buf.writeUInt8(protocol, 9);
  buf.writeUInt16BE(0, 10);
  buf.writeUInt32BE(ipToInt(src), 12);
  buf.writeUInt32BE(ipToInt(dst), 16);
  buf.writeUInt16BE(checksum(buf, 0, IP_HEADER, 0), 10);
}

/** Internet checksum (RFC 1071) of buf[start, end) on top of `sum`. */
export function checksum(buf: Buffer, start: number, end: number, sum: number): number {
  let s = sum;
  let i = start;
  for (; i + 1 < end; i += 2) s += buf.readUInt16BE(i);
  if (i < end) s += (buf[i] as number) << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

export function udpPacket(src: string, sport: number, dst: string, dport: number, payload: Buffer, id = 0): Buffer {
  const buf = Buffer.alloc(IP_HEADER + UDP_HEADER + payload.length);
  writeIpHeader(buf, 17, src, dst, id);
  buf.writeUInt16BE(sport, IP_HEADER);
  buf.writeUInt16BE(dport, IP_HEADER + 2);
  buf.writeUInt16BE(UDP_HEADER + payload.length, IP_HEADER + 4);
  buf.writeUInt16BE(0, IP_HEADER + 6);
  payload.copy(buf, IP_HEADER + UDP_HEADER);
  return buf;
}

/** A bare SYN (no options): what a SYN flood sends. */
export function synPacket(src: string, sport: number, dst: string, dport: number, seq: number, id = 0): Buffer {
  const buf = Buffer.alloc(IP_HEADER + TCP_HEADER);
  writeIpHeader(buf, 6, src, dst, id);
  const t = IP_HEADER;
  buf.writeUInt16BE(sport, t);
  buf.writeUInt16BE(dport, t + 2);
  buf.writeUInt32BE(seq >>> 0, t + 4);
  buf.writeUInt32BE(0, t + 8);
  buf.writeUInt8(5 << 4, t + 12);
  buf.writeUInt8(0x02, t + 13); // SYN
  buf.writeUInt16BE(64240, t + 14);
  // Pseudo-header: source, destination, zero + protocol, TCP length.
  const pseudo = Buffer.alloc(12);
  pseudo.writeUInt32BE(ipToInt(src), 0);
  pseudo.writeUInt32BE(ipToInt(dst), 4);
  pseudo.writeUInt16BE(6, 8);
  pseudo.writeUInt16BE(TCP_HEADER, 10);
  const partial = ~checksum(pseudo, 0, 12, 0) & 0xffff;
  buf.writeUInt16BE(checksum(buf, t, buf.length, partial), t + 16);
  return buf;
}
