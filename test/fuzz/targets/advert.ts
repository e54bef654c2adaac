/**
 * Fuzz target: the election advert codec (src/core/election/advert.ts).
 *
 * decodeAdvert promises never to throw and to end every datagram as an advert or one
 * of a fixed set of drop reasons. Beyond that, the HMAC makes two sharp properties
 * checkable: a mutated advert is never accepted unless the mutation left the bytes as
 * they were, and an advert re-signed after mutation (a key holder with a bug) is
 * accepted only when it re-encodes to exactly the same bytes.
 */
import { createHmac } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { ADVERT_MAX_INTERVAL_MS, ADVERT_MIN_INTERVAL_MS, DROP_REASONS, decodeAdvert, encodeAdvert, isValidNodeId, type Advert, type DecodeResult } from '../../../src/core/election/advert.js';
import { assertThat, byteMutations, describeThrown, ipv4Arb, mutateBytes, property, type FuzzTarget } from '../harness.js';

export type AdvertDecoder = (buf: Buffer, key: Buffer, expectedClusterId: number) => DecodeResult;

export const KEY = Buffer.from('fuzz-cluster-key-0123456789abcdef', 'utf8');
const OTHER_KEY = Buffer.from('another-cluster-key', 'utf8');
const HMAC_BYTES = 32;
const OFF_NODE_ID_LEN = 34;
const OFF_NODE_ID = 35;
const KNOWN_REASONS: ReadonlySet<string> = new Set(DROP_REASONS.filter((r) => r !== 'stale'));

const nodeIdArb = fc.stringMatching(/^[A-Za-z0-9_.-]{1,63}$/);
const uint64Arb = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });

export const advertArb: fc.Arbitrary<Advert> = fc.record(
  {
    synced: fc.boolean(),
    shuttingDown: fc.boolean(),
    priority: fc.nat(255),
    intervalMs: fc.integer({ min: ADVERT_MIN_INTERVAL_MS, max: ADVERT_MAX_INTERVAL_MS }),
    clusterId: fc.oneof(fc.constantFrom(0, 1, 0xffff_ffff), fc.nat({ max: 0xffff_ffff })),
    nodeId: nodeIdArb,
    address: ipv4Arb,
    bootEpoch: uint64Arb,
    sequence: uint64Arb,
  },
  // Plain objects, so a decoded advert compares deep-equal to the generated one.
  { noNullPrototype: true },
);

/** Decode, turning a throw into a property failure that names the input. */
function decodeChecked(decode: AdvertDecoder, buf: Buffer, key: Buffer, clusterId: number): DecodeResult {
  let r: DecodeResult;
  try {
    r = decode(buf, key, clusterId);
  } catch (err) {
    throw new Error(`decodeAdvert threw on ${buf.toString('hex')}: ${describeThrown(err)}`);
  }
  if (!r.ok) {
    assertThat(KNOWN_REASONS.has(r.reason), () => `unknown drop reason ${JSON.stringify(r.reason)} for ${buf.toString('hex')}`);
    if (r.reason === 'cluster') {
      assertThat(r.clusterId !== clusterId, 'a "cluster" drop for our own cluster id');
      assertThat(r.claimedNodeId === undefined || isValidNodeId(r.claimedNodeId), 'claimedNodeId is not a valid node id');
    }
  }
  return r;
}

/** Re-sign a (mutated) datagram as a key holder would, with the HMAC where its node id length byte puts it. */
export function resign(buf: Uint8Array, key: Buffer): Buffer {
  const b = Buffer.from(buf);
  const n = b[OFF_NODE_ID_LEN];
  if (n === undefined) return b;
  const bodyEnd = OFF_NODE_ID + n;
  if (b.length < bodyEnd + HMAC_BYTES) return b;
  createHmac('sha256', key).update(b.subarray(0, bodyEnd)).digest().copy(b, bodyEnd);
  return b;
}

export function createAdvertTarget(decode: AdvertDecoder = decodeAdvert): FuzzTarget {
  return {
    name: 'advert',
    defaultRuns: 350_000,
    ciRuns: 20_000,
    properties: [
      property('round-trip', 2, advertArb, (a) => {
        const r = decodeChecked(decode, encodeAdvert(a, KEY), KEY, a.clusterId);
        assertThat(r.ok && isDeepStrictEqual(r.advert, a), () => `round trip changed the advert: ${JSON.stringify(r, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))}`);
      }),
      property(
        'random-bytes',
        2,
        fc.tuple(
          fc.oneof(fc.constant(new Uint8Array(0)), fc.constant(Uint8Array.from([0x48, 0x41, 0x4c, 0x4f, 1])), fc.constant(Uint8Array.from([0x48, 0x41, 0x4c, 0x4f]))),
          fc.uint8Array({ maxLength: 140 }),
          fc.nat({ max: 0xffff_ffff }),
        ),
        ([prefix, tail, clusterId]) => {
          const buf = Buffer.concat([prefix, tail]);
          // Cluster id taken from the datagram half the time, so the length and HMAC checks are reached.
          const expected = buf.length >= 14 && clusterId % 2 === 0 ? buf.readUInt32BE(10) : clusterId;
          const r = decodeChecked(decode, buf, KEY, expected);
          assertThat(!r.ok, () => `random bytes authenticated: ${buf.toString('hex')}`);
        },
      ),
      property('mutated', 4, fc.tuple(advertArb, byteMutations), ([a, mutations]) => {
        const valid = encodeAdvert(a, KEY);
        const buf = Buffer.from(mutateBytes(valid, mutations));
        const r = decodeChecked(decode, buf, KEY, a.clusterId);
        if (r.ok) assertThat(buf.equals(valid), () => `a mutated advert was accepted: ${buf.toString('hex')}`);
        // Under another key nothing authenticates, mutated or not.
        assertThat(!decodeChecked(decode, buf, OTHER_KEY, a.clusterId).ok, 'accepted under the wrong key');
      }),
      property('mutated-resigned', 4, fc.tuple(advertArb, byteMutations), ([a, mutations]) => {
        const buf = resign(mutateBytes(encodeAdvert(a, KEY), mutations), KEY);
        const r = decodeChecked(decode, buf, KEY, a.clusterId);
        if (!r.ok) return;
        // An accepted advert has exactly one wire form: the one encodeAdvert gives it.
        let again: Buffer;
        try {
          again = encodeAdvert(r.advert, KEY);
        } catch (err) {
          throw new Error(`decoded an advert encodeAdvert refuses (${describeThrown(err)}): ${buf.toString('hex')}`);
        }
        assertThat(again.equals(buf), () => `accepted advert is not canonical: ${buf.toString('hex')} re-encodes as ${again.toString('hex')}`);
      }),
    ],
  };
}

export const advertTarget = createAdvertTarget();
