/**
 * PROXY protocol v1 (text) and v2 (binary), as specified in HAProxy's proxy-protocol.txt.
 * The encoder tells a backend who the real client is; the decoder serves tests and a
 * future "accept PROXY from an upstream" option, so it must never throw on garbage:
 * every input ends as ok, incomplete (wait for more bytes) or invalid (drop the peer).
 */

export interface ProxyEndpoint {
  readonly address: string;
  readonly port: number;
}

export interface ProxiedConnection {
  /** The real client. */
  readonly source: ProxyEndpoint;
  /** The address the client connected to (the service address). */
  readonly destination: ProxyEndpoint;
  /** v2 only (v1 knows TCP alone); default stream. */
  readonly transport?: 'stream' | 'dgram';
}

export type ProxyFamily = 'unspec' | 'inet' | 'inet6' | 'unix';
export type ProxyTransport = 'unspec' | 'stream' | 'dgram';

export interface ProxyTlv {
  readonly type: number;
  readonly value: Buffer;
}

export interface ProxyHeader {
  readonly version: 1 | 2;
  /** local: the proxy's own connection (e.g. a health check); use the real endpoints. */
  readonly command: 'proxy' | 'local';
  readonly family: ProxyFamily;
  readonly transport: ProxyTransport;
  /** Present for inet/inet6 with the proxy command; unix addresses are not decoded. */
  readonly source?: ProxyEndpoint;
  readonly destination?: ProxyEndpoint;
  /** v2 type-length-value extensions (empty for v1). */
  readonly tlvs: readonly ProxyTlv[];
}

/** Why a header was rejected: stable for metrics and tests; `reason` is the human text. */
export const PROXY_REJECT_CODES = [
  'not_proxy',
  'v1_prefix',
  'v1_bare_lf',
  'v1_non_printable',
  'v1_no_crlf',
  'v1_stray_cr',
  'v1_protocol',
  'v1_fields',
  'v1_address',
  'v1_port',
  'v2_signature',
  'v2_version',
  'v2_command',
  'v2_family',
  'v2_address_length',
  'v2_tlv',
] as const;
export type ProxyRejectCode = (typeof PROXY_REJECT_CODES)[number];

export type ProxyDecodeResult =
  | { readonly status: 'ok'; readonly header: ProxyHeader; readonly length: number }
  | { readonly status: 'incomplete' }
  | { readonly status: 'invalid'; readonly code: ProxyRejectCode; readonly reason: string };

export const PROXY_V2_SIGNATURE: Buffer = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** The longest legal v1 line, CRLF included ("PROXY TCP6 " + two full IPv6 + two ports). */
export const PROXY_V1_MAX_LENGTH = 107;
const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
const V2_HEADER_LENGTH = 16;
const V2_INET_LENGTH = 12;
const V2_INET6_LENGTH = 36;
const V2_UNIX_LENGTH = 216;

// ---------------------------------------------------------------- addresses

/** Strict dotted quad: four decimal octets, no leading zeros (they read as octal elsewhere). */
export function parseIPv4(text: string): Uint8Array | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!/^(0|[1-9]\d{0,2})$/.test(p)) return undefined;
    const v = Number(p);
    if (v > 255) return undefined;
    out[i] = v;
  }
  return out;
}

/** RFC 4291 text forms, including "::" and a trailing dotted quad; no zone id. */
export function parseIPv6(text: string): Uint8Array | undefined {
  if (text.length === 0 || text.length > 45) return undefined;
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groups: number[][] = [];
  for (let h = 0; h < halves.length; h++) {
    const half = halves[h]!;
    const out: number[] = [];
    if (half !== '') {
      const parts = half.split(':');
      for (let i = 0; i < parts.length; i++) {
        const p = parts[i]!;
        if (p.includes('.')) {
          // A dotted quad is only allowed as the very last element. Compared by index: comparing the
          // text let "1.2.3.4::1.2.3.4" through, its head being equal to its tail.
          if (i !== parts.length - 1 || h !== halves.length - 1) return undefined;
          const v4 = parseIPv4(p);
          if (!v4) return undefined;
          out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
        } else {
          if (!/^[0-9A-Fa-f]{1,4}$/.test(p)) return undefined;
          out.push(parseInt(p, 16));
        }
      }
    }
    groups.push(out);
  }
  const head = groups[0]!;
  const tail = groups[1];
  let words: number[];
  if (tail === undefined) {
    if (head.length !== 8) return undefined;
    words = head;
  } else {
    const fill = 8 - head.length - tail.length;
    if (fill < 1) return undefined;
    words = [...head, ...new Array<number>(fill).fill(0), ...tail];
  }
  const bytes = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    bytes[i * 2] = words[i]! >> 8;
    bytes[i * 2 + 1] = words[i]! & 0xff;
  }
  return bytes;
}

export function formatIPv4(b: Uint8Array, offset = 0): string {
  return `${b[offset]}.${b[offset + 1]}.${b[offset + 2]}.${b[offset + 3]}`;
}

function isV4Mapped(b: Uint8Array, offset = 0): boolean {
  for (let i = 0; i < 10; i++) if (b[offset + i] !== 0) return false;
  return b[offset + 10] === 0xff && b[offset + 11] === 0xff;
}

/** RFC 5952 canonical text: lower case, longest zero run (2+ groups, first on a tie) as "::". */
export function formatIPv6(b: Uint8Array, offset = 0): string {
  if (isV4Mapped(b, offset)) return `::ffff:${formatIPv4(b, offset + 12)}`;
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push((b[offset + i * 2]! << 8) | b[offset + i * 2 + 1]!);
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (ws: number[]) => ws.map((w) => w.toString(16)).join(':');
  if (bestStart < 0) return hex(words);
  return `${hex(words.slice(0, bestStart))}::${hex(words.slice(bestStart + bestLen))}`;
}

export type ParsedAddress = { readonly family: 4; readonly bytes: Uint8Array } | { readonly family: 6; readonly bytes: Uint8Array };

/**
 * A socket address as Node reports it, with IPv4-mapped IPv6 (::ffff:1.2.3.4, from
 * dual-stack listeners) folded to IPv4 and any zone id dropped (PROXY has no room for it).
 */
export function normalizeAddress(address: string | undefined): ParsedAddress | undefined {
  if (address === undefined) return undefined;
  const v4 = parseIPv4(address);
  if (v4) return { family: 4, bytes: v4 };
  const pct = address.indexOf('%');
  const v6 = parseIPv6(pct >= 0 ? address.slice(0, pct) : address);
  if (!v6) return undefined;
  if (isV4Mapped(v6)) return { family: 4, bytes: v6.slice(12) };
  return { family: 6, bytes: v6 };
}

function validPort(p: number): boolean {
  return Number.isInteger(p) && p >= 0 && p <= 65535;
}

/** Both ends in one family, or undefined (the header then says UNKNOWN / UNSPEC). */
function resolvePair(c: ProxiedConnection): { family: 4 | 6; src: Uint8Array; dst: Uint8Array } | undefined {
  const src = normalizeAddress(c.source.address);
  const dst = normalizeAddress(c.destination.address);
  if (!src || !dst || !validPort(c.source.port) || !validPort(c.destination.port)) return undefined;
  if (src.family === dst.family) return { family: src.family, src: src.bytes, dst: dst.bytes };
  // Mixed families: express the IPv4 side as IPv4-mapped IPv6, which any receiver can read.
  const widen = (a: ParsedAddress) => {
    if (a.family === 6) return a.bytes;
    const out = new Uint8Array(16);
    out[10] = 0xff;
    out[11] = 0xff;
    out.set(a.bytes, 12);
    return out;
  };
  return { family: 6, src: widen(src), dst: widen(dst) };
}

// ---------------------------------------------------------------- encoding

/** "PROXY TCP4 src dst sport dport\r\n", or "PROXY UNKNOWN\r\n" when the addresses are unusable. */
export function encodeProxyV1(c: ProxiedConnection): Buffer {
  const pair = resolvePair(c);
  if (!pair) return Buffer.from('PROXY UNKNOWN\r\n', 'latin1');
  const fmt = pair.family === 4 ? formatIPv4 : formatIPv6;
  const line = `PROXY TCP${pair.family} ${fmt(pair.src)} ${fmt(pair.dst)} ${c.source.port} ${c.destination.port}\r\n`;
  return Buffer.from(line, 'latin1');
}

/**
 * Binary header: signature, 0x21 (v2, PROXY) or 0x20 (v2, LOCAL), family/transport,
 * big-endian length, then addresses and ports. Unusable addresses give AF_UNSPEC with
 * no address block, which the receiver treats like LOCAL.
 */
export function encodeProxyV2(c: ProxiedConnection, opts: { readonly command?: 'proxy' | 'local' } = {}): Buffer {
  const command = opts.command === 'local' ? 0x20 : 0x21;
  const transport = c.transport === 'dgram' ? 0x02 : 0x01;
  const pair = opts.command === 'local' ? undefined : resolvePair(c);
  const addrLen = pair === undefined ? 0 : pair.family === 4 ? V2_INET_LENGTH : V2_INET6_LENGTH;
  const out = Buffer.alloc(V2_HEADER_LENGTH + addrLen);
  PROXY_V2_SIGNATURE.copy(out, 0);
  out[12] = command;
  out[13] = pair === undefined ? 0x00 : ((pair.family === 4 ? 0x1 : 0x2) << 4) | transport;
  out.writeUInt16BE(addrLen, 14);
  if (pair !== undefined) {
    const n = pair.src.length;
    out.set(pair.src, 16);
    out.set(pair.dst, 16 + n);
    out.writeUInt16BE(c.source.port, 16 + 2 * n);
    out.writeUInt16BE(c.destination.port, 18 + 2 * n);
  }
  return out;
}

export function encodeProxyHeader(version: 'v1' | 'v2', c: ProxiedConnection): Buffer {
  return version === 'v1' ? encodeProxyV1(c) : encodeProxyV2(c);
}

// ---------------------------------------------------------------- decoding

const INCOMPLETE: ProxyDecodeResult = { status: 'incomplete' };

function invalid(code: ProxyRejectCode, reason: string): ProxyDecodeResult {
  return { status: 'invalid', code, reason };
}

/** True when `buf` is shorter than `prefix` and agrees with it so far. */
function isPrefixOf(buf: Uint8Array, prefix: Uint8Array): boolean {
  if (buf.length >= prefix.length) return false;
  for (let i = 0; i < buf.length; i++) if (buf[i] !== prefix[i]) return false;
  return true;
}

function startsWith(buf: Uint8Array, prefix: Uint8Array): boolean {
  if (buf.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (buf[i] !== prefix[i]) return false;
  return true;
}

/** Decode a PROXY header (either version) at the start of `buf`; `length` is how many bytes it used. */
export function decodeProxyHeader(buf: Uint8Array): ProxyDecodeResult {
  if (buf.length === 0) return INCOMPLETE;
  if (buf[0] === 0x50) return decodeProxyV1(buf);
  if (buf[0] === 0x0d) return decodeProxyV2(buf);
  return invalid('not_proxy', 'not a PROXY protocol header');
}

const PORT_RE = /^(0|[1-9]\d{0,4})$/;

export function decodeProxyV1(buf: Uint8Array): ProxyDecodeResult {
  if (isPrefixOf(buf, V1_PREFIX)) return INCOMPLETE;
  if (!startsWith(buf, V1_PREFIX)) return invalid('v1_prefix', 'v1: missing "PROXY " prefix');
  let end = -1;
  const limit = Math.min(buf.length, PROXY_V1_MAX_LENGTH);
  for (let i = V1_PREFIX.length; i < limit; i++) {
    if (buf[i] === 0x0a) {
      if (buf[i - 1] !== 0x0d) return invalid('v1_bare_lf', 'v1: bare LF');
      end = i + 1;
      break;
    }
    // Only printable ASCII and the final CR belong on the line.
    const ch = buf[i]!;
    if (ch !== 0x0d && (ch < 0x20 || ch > 0x7e)) return invalid('v1_non_printable', 'v1: non-printable byte');
  }
  if (end < 0) return buf.length >= PROXY_V1_MAX_LENGTH ? invalid('v1_no_crlf', 'v1: no CRLF within 107 bytes') : INCOMPLETE;
  const line = Buffer.from(buf.buffer, buf.byteOffset + V1_PREFIX.length, end - 2 - V1_PREFIX.length).toString('latin1');
  if (line.includes('\r')) return invalid('v1_stray_cr', 'v1: stray CR');
  const fields = line.split(' ');
  const proto = fields[0];
  if (proto === 'UNKNOWN') {
    // The spec says a receiver ignores whatever follows UNKNOWN up to the CRLF.
    return { status: 'ok', length: end, header: { version: 1, command: 'proxy', family: 'unspec', transport: 'unspec', tlvs: [] } };
  }
  if (proto !== 'TCP4' && proto !== 'TCP6') return invalid('v1_protocol', 'v1: protocol must be TCP4, TCP6 or UNKNOWN');
  if (fields.length !== 5) return invalid('v1_fields', 'v1: expected 4 fields after the protocol, single-space separated');
  const [, srcText, dstText, sportText, dportText] = fields as [string, string, string, string, string];
  const parse = proto === 'TCP4' ? parseIPv4 : parseIPv6;
  const src = parse(srcText);
  const dst = parse(dstText);
  if (!src || !dst) return invalid('v1_address', `v1: address is not a valid ${proto === 'TCP4' ? 'IPv4' : 'IPv6'} address`);
  if (!PORT_RE.test(sportText) || !PORT_RE.test(dportText)) return invalid('v1_port', 'v1: malformed port');
  const sport = Number(sportText);
  const dport = Number(dportText);
  if (sport > 65535 || dport > 65535) return invalid('v1_port', 'v1: port out of range');
  const fmt = proto === 'TCP4' ? formatIPv4 : formatIPv6;
  return {
    status: 'ok',
    length: end,
    header: {
      version: 1,
      command: 'proxy',
      family: proto === 'TCP4' ? 'inet' : 'inet6',
      transport: 'stream',
      source: { address: fmt(src), port: sport },
      destination: { address: fmt(dst), port: dport },
      tlvs: [],
    },
  };
}

const FAMILIES: readonly ProxyFamily[] = ['unspec', 'inet', 'inet6', 'unix'];
const TRANSPORTS: readonly ProxyTransport[] = ['unspec', 'stream', 'dgram'];

export function decodeProxyV2(buf: Uint8Array): ProxyDecodeResult {
  if (isPrefixOf(buf, PROXY_V2_SIGNATURE)) return INCOMPLETE;
  if (!startsWith(buf, PROXY_V2_SIGNATURE)) return invalid('v2_signature', 'v2: bad signature');
  if (buf.length < V2_HEADER_LENGTH) return INCOMPLETE;
  const verCmd = buf[12]!;
  if (verCmd >> 4 !== 0x2) return invalid('v2_version', 'v2: version must be 2');
  const cmd = verCmd & 0x0f;
  if (cmd > 1) return invalid('v2_command', 'v2: unknown command');
  const famByte = buf[13]!;
  const family = FAMILIES[famByte >> 4];
  const transport = TRANSPORTS[famByte & 0x0f];
  if (family === undefined || transport === undefined) return invalid('v2_family', 'v2: unknown address family or transport');
  const len = (buf[14]! << 8) | buf[15]!;
  const total = V2_HEADER_LENGTH + len;
  if (buf.length < total) return INCOMPLETE;
  const command = cmd === 0 ? 'local' : 'proxy';
  const need = family === 'inet' ? V2_INET_LENGTH : family === 'inet6' ? V2_INET6_LENGTH : family === 'unix' ? V2_UNIX_LENGTH : 0;
  if (len < need) return invalid('v2_address_length', `v2: ${len} bytes is too short for ${family} addresses`);
  let source: ProxyEndpoint | undefined;
  let destination: ProxyEndpoint | undefined;
  const a = V2_HEADER_LENGTH;
  if (family === 'inet') {
    source = { address: formatIPv4(buf, a), port: (buf[a + 8]! << 8) | buf[a + 9]! };
    destination = { address: formatIPv4(buf, a + 4), port: (buf[a + 10]! << 8) | buf[a + 11]! };
  } else if (family === 'inet6') {
    source = { address: formatIPv6(buf, a), port: (buf[a + 32]! << 8) | buf[a + 33]! };
    destination = { address: formatIPv6(buf, a + 16), port: (buf[a + 34]! << 8) | buf[a + 35]! };
  }
  const tlvs: ProxyTlv[] = [];
  // For unspec the whole block is opaque (the spec says skip it), so TLVs are only read after known addresses.
  if (family !== 'unspec') {
    let p = a + need;
    while (p < total) {
      if (total - p < 3) return invalid('v2_tlv', 'v2: truncated TLV header');
      const type = buf[p]!;
      const vlen = (buf[p + 1]! << 8) | buf[p + 2]!;
      if (p + 3 + vlen > total) return invalid('v2_tlv', 'v2: TLV runs past the header');
      tlvs.push({ type, value: Buffer.from(buf.subarray(p + 3, p + 3 + vlen)) });
      p += 3 + vlen;
    }
  }
  const header: ProxyHeader =
    command === 'proxy' && source !== undefined && destination !== undefined
      ? { version: 2, command, family, transport, source, destination, tlvs }
      : { version: 2, command, family, transport, tlvs };
  return { status: 'ok', length: total, header };
}
