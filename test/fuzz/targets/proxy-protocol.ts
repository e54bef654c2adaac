/**
 * Fuzz target: the PROXY protocol v1/v2 parser (src/core/proxy-protocol.ts).
 *
 * decodeProxyHeader promises never to throw and to end every input as ok, incomplete or
 * invalid with a code from PROXY_REJECT_CODES. Checked on top, for every accepted header:
 * it decodes the same from exactly its own `length` bytes, every shorter prefix is
 * "incomplete" (a reader waiting for more bytes never gets a wrong answer first), and a
 * v1 line's address texts are what Node's own parser (node:net) calls an address of
 * that family: an independent oracle for the hand-written address parsers.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import {
  PROXY_REJECT_CODES,
  PROXY_V2_SIGNATURE,
  decodeProxyHeader,
  encodeProxyV1,
  encodeProxyV2,
  formatIPv4,
  formatIPv6,
  normalizeAddress,
  type ProxiedConnection,
  type ProxyDecodeResult,
  type ProxyEndpoint,
} from '../../../src/core/proxy-protocol.js';
import { assertThat, byteMutations, describeThrown, ipv4Arb, ipv6Arb, mutateBytes, property, type FuzzTarget } from '../harness.js';

export type ProxyDecoder = (buf: Uint8Array) => ProxyDecodeResult;

const KNOWN_CODES: ReadonlySet<string> = new Set(PROXY_REJECT_CODES);
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

const portArb = fc.oneof(fc.constantFrom(0, 1, 65535), fc.nat(65535));
const endpointArb = (addr: fc.Arbitrary<string>): fc.Arbitrary<ProxyEndpoint> => fc.record({ address: addr, port: portArb }, { noNullPrototype: true });

export const connectionArb: fc.Arbitrary<ProxiedConnection> = fc.oneof(
  fc.record({ source: endpointArb(ipv4Arb), destination: endpointArb(ipv4Arb), transport: fc.constantFrom('stream' as const, 'dgram' as const) }, { noNullPrototype: true }),
  fc.record({ source: endpointArb(ipv6Arb), destination: endpointArb(ipv6Arb), transport: fc.constantFrom('stream' as const, 'dgram' as const) }, { noNullPrototype: true }),
  // Mixed families: the encoder widens the IPv4 side to IPv4-mapped IPv6.
  fc.record(
    { source: endpointArb(fc.oneof(ipv4Arb, ipv6Arb)), destination: endpointArb(fc.oneof(ipv4Arb, ipv6Arb)), transport: fc.constantFrom('stream' as const, 'dgram' as const) },
    { noNullPrototype: true },
  ),
);

/** What the decoder should report for a connection the encoder wrote: IPv4 folded, mixed pairs widened to IPv6. */
function expectedPair(c: ProxiedConnection): { family: 'inet' | 'inet6'; source: ProxyEndpoint; destination: ProxyEndpoint } {
  const s = normalizeAddress(c.source.address)!;
  const d = normalizeAddress(c.destination.address)!;
  const v4 = s.family === 4 && d.family === 4;
  const text = (a: typeof s): string => (v4 ? formatIPv4(a.bytes) : a.family === 4 ? `::ffff:${formatIPv4(a.bytes)}` : formatIPv6(a.bytes));
  return { family: v4 ? 'inet' : 'inet6', source: { address: text(s), port: c.source.port }, destination: { address: text(d), port: c.destination.port } };
}

// ---------------------------------------------------------------- a v1 grammar with hostile tokens

/** IPv6-ish text from pieces, a dotted quad allowed anywhere: "::", ":" and "." land in every position. */
const v6Piece = fc.constantFrom('0', 'ffff', '1.2.3.4', '01.2.3.4', 'g');
const v6Half = fc.array(v6Piece, { maxLength: 4 }).map((p) => p.join(':'));
const hostileAddress = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(v6Half, fc.constantFrom('::', ':', ':::', '.'), v6Half).map(([head, sep, tail]) => head + sep + tail) },
  { weight: 1, arbitrary: fc.constantFrom('1.2.3.4.5', '1..2.3', '256.1.1.1', '1.2.3', '-1.2.3.4', '1.2.3.4%eth0', 'fe80::1%eth0', '::ffff:1.2.3.4', '1::2::3', '') },
  { weight: 1, arbitrary: fc.oneof(ipv4Arb, ipv6Arb) },
);
const hostilePort = fc.oneof(portArb.map(String), fc.constantFrom('', '65536', '00', '01', '-1', '1e3', '0x10', '99999', '+1'));
const lineEnd = fc.oneof({ weight: 6, arbitrary: fc.constant('\r\n') }, { weight: 1, arbitrary: fc.constantFrom('\n', '\r', '\r\r\n', '') });

/** A well-formed line with one field replaced by a hostile token. */
const oneBadField = fc
  .tuple(fc.constantFrom('TCP4' as const, 'TCP6' as const), fc.nat(3), hostileAddress, hostilePort, ipv4Arb, ipv6Arb, portArb, lineEnd)
  .map(([proto, which, badAddress, badPort, v4, v6, port, end]) => {
    const fields = [proto === 'TCP4' ? v4 : v6, proto === 'TCP4' ? v4 : v6, String(port), String(port)];
    fields[which] = which < 2 ? badAddress : badPort;
    return `PROXY ${proto} ${fields.join(' ')}${end}`;
  });

/** Field soup: any count, any separator. */
const freeForm = fc
  .tuple(
    fc.constantFrom('TCP4', 'TCP6', 'UNKNOWN', 'TCP5', 'tcp6', ''),
    fc.array(fc.tuple(fc.oneof(hostileAddress, hostilePort), fc.constantFrom(' ', ' ', '  ', '\t', '')), { maxLength: 6 }),
    lineEnd,
  )
  .map(([proto, fields, end]) => `PROXY ${proto}${fields.map(([f, sep]) => sep + f).join('')}${end}`);

const v1Line = fc.oneof({ weight: 3, arbitrary: oneBadField }, { weight: 1, arbitrary: freeForm }).map((line) => Buffer.from(line, 'latin1'));

// ---------------------------------------------------------------- checks

function decodeChecked(decode: ProxyDecoder, buf: Uint8Array): ProxyDecodeResult {
  let r: ProxyDecodeResult;
  try {
    r = decode(buf);
  } catch (err) {
    throw new Error(`decodeProxyHeader threw on ${hex(buf)}: ${describeThrown(err)}`);
  }
  assertThat(r.status === 'ok' || r.status === 'incomplete' || r.status === 'invalid', () => `unknown status for ${hex(buf)}`);
  if (r.status === 'invalid') {
    assertThat(KNOWN_CODES.has(r.code), () => `unknown reject code ${JSON.stringify(r.code)} for ${hex(buf)}`);
    assertThat(typeof r.reason === 'string' && r.reason.length > 0, 'a rejection without a reason text');
  }
  return r;
}

/** Invariants of any accepted header; `prefixCut` picks which strict prefix to try. */
function checkAccepted(decode: ProxyDecoder, buf: Uint8Array, r: Extract<ProxyDecodeResult, { status: 'ok' }>, prefixCut: number): void {
  const { header, length } = r;
  assertThat(Number.isInteger(length) && length > 0 && length <= buf.length, () => `length ${length} outside 1..${buf.length}`);
  const own = decodeChecked(decode, buf.subarray(0, length));
  assertThat(isDeepStrictEqual(own, r), () => `the header's own ${length} bytes decode differently: ${hex(buf)}`);
  const cut = prefixCut % length;
  const prefix = decodeChecked(decode, buf.subarray(0, cut));
  assertThat(prefix.status === 'incomplete', () => `prefix of ${cut}/${length} bytes is ${prefix.status}, not incomplete: ${hex(buf)}`);
  const hasAddresses = header.source !== undefined;
  assertThat(hasAddresses === (header.destination !== undefined), 'source without destination or the reverse');
  for (const ep of [header.source, header.destination]) {
    if (ep === undefined) continue;
    assertThat(Number.isInteger(ep.port) && ep.port >= 0 && ep.port <= 65535, `port ${ep.port} out of range`);
    const ok = header.family === 'inet' ? isIPv4(ep.address) : header.family === 'inet6' && isIPv6(ep.address);
    assertThat(ok, () => `decoded ${header.family} address ${JSON.stringify(ep.address)} is not one`);
  }
  if (header.version === 1 && header.family !== 'unspec') {
    // The oracle: the address texts as they stood on the line, judged by node:net.
    const fields = Buffer.from(buf.subarray(6, length - 2)).toString('latin1').split(' ');
    const valid = header.family === 'inet' ? isIPv4 : isIPv6;
    for (const text of [fields[1] ?? '', fields[2] ?? '']) {
      assertThat(valid(text), () => `v1 accepted ${JSON.stringify(text)} as ${header.family}, node:net disagrees: ${JSON.stringify(Buffer.from(buf.subarray(0, length)).toString('latin1'))}`);
    }
  }
  if (header.version === 2) {
    assertThat(length === 16 + ((buf[14]! << 8) | buf[15]!), 'v2 length is not 16 + the length field');
    assertThat(hasAddresses === (header.command === 'proxy' && (header.family === 'inet' || header.family === 'inet6')), 'v2 addresses present for the wrong command or family');
  }
}

function checkAny(decode: ProxyDecoder, buf: Uint8Array, prefixCut: number): void {
  const r = decodeChecked(decode, buf);
  if (r.status === 'ok') checkAccepted(decode, buf, r, prefixCut);
  if (r.status === 'incomplete') {
    // Waiting is only right while the input could still become a header.
    assertThat(buf.length < 16 + 0xffff, () => `incomplete at ${buf.length} bytes`);
    if (buf[0] === 0x50) assertThat(buf.length < 107, () => `v1 incomplete at ${buf.length} bytes`);
  }
}

const tlvArb = fc.array(fc.tuple(fc.nat(255), fc.uint8Array({ maxLength: 24 })), { maxLength: 4 });

function withTlvs(header: Buffer, tlvs: readonly (readonly [number, Uint8Array])[]): Buffer {
  const parts = tlvs.map(([type, value]) => Buffer.concat([Buffer.from([type, value.length >> 8, value.length & 0xff]), value]));
  const out = Buffer.concat([header, ...parts]);
  out.writeUInt16BE(out.length - 16, 14);
  return out;
}

export function createProxyTarget(decode: ProxyDecoder = decodeProxyHeader): FuzzTarget {
  return {
    name: 'proxy',
    defaultRuns: 300_000,
    ciRuns: 20_000,
    properties: [
      property('round-trip-v1', 1, fc.tuple(connectionArb, fc.uint8Array({ maxLength: 16 }), fc.nat()), ([c, payload, cut]) => {
        const enc = encodeProxyV1(c);
        const buf = Buffer.concat([enc, payload]);
        const r = decodeChecked(decode, buf);
        assertThat(r.status === 'ok' && r.length === enc.length, () => `v1 round trip: ${JSON.stringify(r)} for ${enc.toString('latin1')}`);
        const want = expectedPair(c);
        assertThat(
          r.header.family === want.family && isDeepStrictEqual(r.header.source, want.source) && isDeepStrictEqual(r.header.destination, want.destination),
          () => `v1 round trip changed the endpoints: ${JSON.stringify(r.header)} for ${JSON.stringify(want)}`,
        );
        checkAccepted(decode, buf, r, cut);
      }),
      property('round-trip-v2', 1, fc.tuple(connectionArb, fc.boolean(), tlvArb, fc.uint8Array({ maxLength: 16 }), fc.nat()), ([c, local, tlvs, payload, cut]) => {
        const enc = withTlvs(encodeProxyV2(c, local ? { command: 'local' } : {}), local ? [] : tlvs);
        const buf = Buffer.concat([enc, payload]);
        const r = decodeChecked(decode, buf);
        assertThat(r.status === 'ok' && r.length === enc.length, () => `v2 round trip: ${JSON.stringify(r)} for ${enc.toString('hex')}`);
        checkAccepted(decode, buf, r, cut);
        if (local) {
          assertThat(r.header.command === 'local' && r.header.source === undefined, 'LOCAL decoded with addresses');
          return;
        }
        const want = expectedPair(c);
        assertThat(r.header.command === 'proxy' && r.header.family === want.family && r.header.transport === c.transport, 'v2 round trip changed command, family or transport');
        assertThat(isDeepStrictEqual(r.header.source, want.source) && isDeepStrictEqual(r.header.destination, want.destination), 'v2 round trip changed the endpoints');
        const got = r.header.tlvs.map((t) => [t.type, hex(t.value)]);
        assertThat(isDeepStrictEqual(got, tlvs.map(([type, v]) => [type, hex(v)])), 'v2 round trip changed the TLVs');
      }),
      property(
        'random-bytes',
        2,
        fc.tuple(
          fc.constantFrom(Buffer.alloc(0), Buffer.from('PROXY ', 'latin1'), Buffer.from('PROXY TCP4 ', 'latin1'), Buffer.from('PROXY TCP6 ', 'latin1'), PROXY_V2_SIGNATURE, Buffer.from([0x0d, 0x0a, 0x0d])),
          fc.uint8Array({ maxLength: 120 }),
          fc.nat(),
        ),
        ([prefix, tail, cut]) => checkAny(decode, Buffer.concat([prefix, tail]), cut),
      ),
      property('v1-grammar', 4, fc.tuple(v1Line, fc.nat()), ([line, cut]) => checkAny(decode, line, cut)),
      property(
        'mutated',
        4,
        fc.tuple(connectionArb, fc.constantFrom('v1' as const, 'v2' as const), tlvArb, byteMutations, fc.nat()),
        ([c, version, tlvs, mutations, cut]) => {
          const valid = version === 'v1' ? encodeProxyV1(c) : withTlvs(encodeProxyV2(c), tlvs);
          checkAny(decode, mutateBytes(valid, mutations), cut);
        },
      ),
    ],
  };
}

export const proxyTarget = createProxyTarget();
