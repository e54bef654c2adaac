/**
 * ICMP echo (RFC 792) codec and the Internet checksum (RFC 1071). Pure: the raw
 * socket lives in src/adapters/probes/icmp.ts.
 *
 * Echo message layout: type(1) code(1) checksum(2) identifier(2) sequence(2) data(...)
 */

export const ICMP_ECHO_REPLY = 0;
export const ICMP_ECHO_REQUEST = 8;
export const ICMP_HEADER_BYTES = 8;
const IPV4_MIN_HEADER_BYTES = 20;

/**
 * 16-bit one's complement of the one's complement sum of the bytes (an odd trailing
 * byte is padded with zero). A message whose checksum field is filled in sums to 0.
 */
export function internetChecksum(bytes: Uint8Array): number {
  let sum = 0;
  const even = bytes.length & ~1;
  for (let i = 0; i < even; i += 2) {
    sum += ((bytes[i] as number) << 8) | (bytes[i + 1] as number);
  }
  if (even !== bytes.length) sum += (bytes[even] as number) << 8;
  // Fold the carries back in; two folds suffice for any length under 2^16 words, loop for safety.
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}

export function encodeEchoRequest(identifier: number, sequence: number, payload: Uint8Array = new Uint8Array(0)): Buffer {
  if (!isUint16(identifier)) throw new RangeError(`identifier must be 0-65535, got ${identifier}`);
  if (!isUint16(sequence)) throw new RangeError(`sequence must be 0-65535, got ${sequence}`);
  const buf = Buffer.alloc(ICMP_HEADER_BYTES + payload.length);
  buf.writeUInt8(ICMP_ECHO_REQUEST, 0);
  buf.writeUInt8(0, 1);
  buf.writeUInt16BE(0, 2);
  buf.writeUInt16BE(identifier, 4);
  buf.writeUInt16BE(sequence, 6);
  buf.set(payload, ICMP_HEADER_BYTES);
  buf.writeUInt16BE(internetChecksum(buf), 2);
  return buf;
}

export interface EchoMessage {
  type: number;
  code: number;
  identifier: number;
  sequence: number;
  payload: Buffer;
}

/** Decode an echo request or reply; null for anything else, a short buffer or a bad checksum. */
export function parseEcho(icmp: Uint8Array): EchoMessage | null {
  if (icmp.length < ICMP_HEADER_BYTES) return null;
  const buf = Buffer.from(icmp.buffer, icmp.byteOffset, icmp.byteLength);
  const type = buf.readUInt8(0);
  const code = buf.readUInt8(1);
  if ((type !== ICMP_ECHO_REPLY && type !== ICMP_ECHO_REQUEST) || code !== 0) return null;
  if (internetChecksum(buf) !== 0) return null;
  return {
    type,
    code,
    identifier: buf.readUInt16BE(4),
    sequence: buf.readUInt16BE(6),
    payload: buf.subarray(ICMP_HEADER_BYTES),
  };
}

/** Decode an echo reply (type 0); requests (our own, looped back on 127.0.0.1) give null. */
export function parseEchoReply(icmp: Uint8Array): EchoMessage | null {
  const msg = parseEcho(icmp);
  return msg !== null && msg.type === ICMP_ECHO_REPLY ? msg : null;
}

/**
 * Raw IPv4 sockets deliver the IP header too: return the ICMP part after IHL*4 bytes,
 * or null when the buffer is not an IPv4 packet carrying ICMP.
 */
export function icmpFromIpv4(packet: Uint8Array): Buffer | null {
  if (packet.length < IPV4_MIN_HEADER_BYTES) return null;
  const first = packet[0] as number;
  if (first >> 4 !== 4) return null;
  const headerBytes = (first & 0x0f) * 4;
  if (headerBytes < IPV4_MIN_HEADER_BYTES || packet.length < headerBytes) return null;
  if (packet[9] !== 1) return null; // protocol field: 1 = ICMP
  return Buffer.from(packet.buffer, packet.byteOffset + headerBytes, packet.length - headerBytes);
}

function isUint16(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= 0xffff;
}
