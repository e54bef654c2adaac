/**
 * Fuzz target: the replication wire (src/core/replication): the binary frame codec
 * (wire-frames, wire-records, wire-varint, dictionary) and the JSON control messages
 * (handshake-messages, config-digest, log-messages).
 *
 * Promises checked: decodeFrame throws nothing but ReplicationFrameError
 * (HALO_ERR_REPL_FRAME) naming a known field at an offset inside the frame, and a
 * rejected DICT frame leaves the dictionary as it was; parseControl throws nothing but
 * HALO_ERR_REPL_HANDSHAKE naming the field. Whatever either accepts re-encodes to
 * something that decodes to the same value, so no accepted input is one the sender side
 * could not have produced.
 */
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { HaloError } from '../../../src/core/errors.js';
import { WireDictionary } from '../../../src/core/replication/dictionary.js';
import { ReplicationFrameError } from '../../../src/core/replication/frame-error.js';
import { encodeControl, parseControl, type ControlMessage } from '../../../src/core/replication/handshake-messages.js';
import { decodeFrame, encodeFrames, type Frame } from '../../../src/core/replication/wire-frames.js';
import { assertThat, byteMutations, describeThrown, jsonMutation, mutateBytes, mutateJson, mutateText, property, textMutation, type FuzzTarget } from '../harness.js';
import { controlArb, frameArb } from './replication-arbitraries.js';

export interface ReplicationCodec {
  readonly decodeFrame: (buf: Uint8Array, dict: WireDictionary) => Frame;
  readonly parseControl: (text: string) => ControlMessage;
}

/** The `field` of every ReplicationFrameError the decoders raise (wire-frames/records/varint.ts). */
const FRAME_FIELDS: ReadonlySet<string> = new Set([
  'type', 'entry count', 'id', 'string length', 'string', 'epoch', 'firstSeq', 'record count', 'snapshotId', 'chunk', 'atSeq',
  'table count', 'table', 'count', 'digest', 'seq', 'end', 'flags', 'key name', 'key', 'key port', 'key length', 'ttlMs',
  'pool', 'backend', 'address tag', 'clientIp', 'clientIp length', 'clientPort', 'ageMs',
]);

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const show = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x));

/** Strings a receiver already knows, so random and mutated records reach past the dictionary lookups. */
function primedDictionary(): WireDictionary {
  const d = new WireDictionary();
  ['web/persist_source', 'web', 'app-1', 'a/b', '', 'dns/udp_flows', 'x', 'default'].forEach((s, i) => d.define(i, s));
  return d;
}

function decodeChecked(codec: ReplicationCodec, buf: Uint8Array, dict: WireDictionary): Frame | undefined {
  const before = dict.entries();
  try {
    return codec.decodeFrame(buf, dict);
  } catch (err) {
    assertThat(err instanceof ReplicationFrameError && err.code === 'HALO_ERR_REPL_FRAME', () => `decodeFrame threw ${describeThrown(err)} on ${hex(buf)}`);
    assertThat(FRAME_FIELDS.has(err.field), () => `unknown frame error field ${JSON.stringify(err.field)}: ${err.message}`);
    assertThat(Number.isInteger(err.offset) && err.offset >= 0 && err.offset <= buf.length, () => `error offset ${err.offset} outside 0..${buf.length}: ${err.message}`);
    assertThat(isDeepStrictEqual(dict.entries(), before), () => `a rejected frame changed the dictionary: ${hex(buf)}`);
    return undefined;
  }
}

/** Send `frame` over a fresh link (DICT frame first when needed); what the receiver ends up with. */
function overFreshLink(codec: ReplicationCodec, frame: Frame): Frame {
  const sender = new WireDictionary();
  const receiver = new WireDictionary();
  let out: Frame | undefined;
  for (const bytes of encodeFrames(frame, sender)) out = codec.decodeFrame(bytes, receiver);
  if (out === undefined) throw new Error('encodeFrames returned no frame');
  return out;
}

/** An accepted frame is one a sender could have sent: it survives re-encoding unchanged. */
function checkReencodes(codec: ReplicationCodec, frame: Frame, input: Uint8Array): void {
  let again: Frame;
  try {
    again = overFreshLink(codec, frame);
  } catch (err) {
    throw new Error(`accepted ${hex(input)} as ${show(frame)}, which does not re-encode: ${describeThrown(err)}`);
  }
  assertThat(isDeepStrictEqual(again, frame), () => `accepted ${hex(input)} as ${show(frame)}, re-encoded it decodes as ${show(again)}`);
}

function parseChecked(codec: ReplicationCodec, text: string): ControlMessage | undefined {
  try {
    return codec.parseControl(text);
  } catch (err) {
    assertThat(err instanceof HaloError && err.code === 'HALO_ERR_REPL_HANDSHAKE', () => `parseControl threw ${describeThrown(err)} on ${JSON.stringify(text.slice(0, 300))}`);
    const field = err.details['field'];
    assertThat(typeof field === 'string' && field.length > 0 && err.message.startsWith(`${field}: `), () => `handshake error does not name its field: ${err.message}`);
    return undefined;
  }
}

function checkControlAccepted(codec: ReplicationCodec, msg: ControlMessage, text: string): void {
  let again: ControlMessage;
  try {
    again = codec.parseControl(encodeControl(msg));
  } catch (err) {
    throw new Error(`accepted ${JSON.stringify(text.slice(0, 300))}, which does not re-encode: ${describeThrown(err)}`);
  }
  // Compared as JSON: log line fields are free-form JSON, where 1e999 parses as Infinity and goes
  // out again as null (and -0 as 0): a fidelity gap of parseFields in log-messages.ts, listed in
  // docs/reliability.md. Every typed field is a bounded integer or a string, which this
  // comparison still checks exactly.
  assertThat(JSON.stringify(again) === JSON.stringify(msg), () => `accepted ${JSON.stringify(text.slice(0, 300))}; re-encoded it parses differently`);
}

const CONTROL_KEYS = ['type', 'version', 'epoch', 'seq', 'extra', 'default', 'services', 'pools', 'backends', 'lines', 'fields'];
const JSON_FRAGMENTS = ['"', '{', '}', '[', ']', ',', ':', 'null', '-0', '1e999', '"__proto__":1,', '\\u0000', '\\ud800', '"type":"hello",', '9007199254740993', ' '];

export function createReplicationTarget(codec: ReplicationCodec = { decodeFrame, parseControl }): FuzzTarget {
  return {
    name: 'replication',
    defaultRuns: 250_000,
    ciRuns: 8_000,
    properties: [
      property('frame-round-trip', 2, frameArb, (frame) => {
        let got: Frame;
        try {
          got = overFreshLink(codec, frame);
        } catch (err) {
          throw new Error(`valid frame ${show(frame)} failed to round-trip: ${describeThrown(err)}`);
        }
        assertThat(isDeepStrictEqual(got, frame), () => `round trip changed ${show(frame)} into ${show(got)}`);
      }),
      property(
        'frame-random-bytes',
        2,
        fc.tuple(fc.oneof(fc.integer({ min: 1, max: 5 }), fc.nat(255)), fc.uint8Array({ maxLength: 64 })),
        ([type, body]) => {
          const buf = Uint8Array.from([type, ...body]);
          const frame = decodeChecked(codec, buf, primedDictionary());
          if (frame !== undefined) checkReencodes(codec, frame, buf);
        },
      ),
      property('frame-mutated', 4, fc.tuple(frameArb, byteMutations, fc.boolean()), ([frame, mutations, mutateDict]) => {
        const sender = new WireDictionary();
        const receiver = new WireDictionary();
        const wire = encodeFrames(frame, sender);
        const last = wire.length - 1;
        // Usually the DICT frame goes through intact and the frame using it is mutated; sometimes the reverse.
        const victim = mutateDict && last > 0 ? 0 : last;
        for (let i = 0; i <= last; i++) {
          if (i !== victim) {
            decodeChecked(codec, wire[i]!, receiver);
            continue;
          }
          const buf = mutateBytes(wire[i]!, mutations);
          const got = decodeChecked(codec, buf, receiver);
          if (got !== undefined) checkReencodes(codec, got, buf);
        }
      }),
      property('control-round-trip', 2, controlArb, (msg) => {
        let got: ControlMessage;
        try {
          got = codec.parseControl(encodeControl(msg));
        } catch (err) {
          throw new Error(`valid control message ${JSON.stringify(msg).slice(0, 300)} failed to round-trip: ${describeThrown(err)}`);
        }
        assertThat(isDeepStrictEqual(got, msg), () => `round trip changed ${JSON.stringify(msg).slice(0, 300)}`);
      }),
      property('control-mutated-json', 3, fc.tuple(controlArb, fc.array(jsonMutation(CONTROL_KEYS), { minLength: 1, maxLength: 3 })), ([msg, mutations]) => {
        const value: unknown = JSON.parse(JSON.stringify(msg));
        for (const m of mutations) mutateJson(value, m);
        const text = JSON.stringify(value);
        const got = parseChecked(codec, text);
        if (got !== undefined) checkControlAccepted(codec, got, text);
      }),
      property('control-mutated-text', 2, fc.tuple(controlArb, fc.array(textMutation(JSON_FRAGMENTS), { minLength: 1, maxLength: 4 })), ([msg, mutations]) => {
        const text = mutateText(JSON.stringify(msg), mutations);
        const got = parseChecked(codec, text);
        if (got !== undefined) checkControlAccepted(codec, got, text);
      }),
    ],
  };
}

export const replicationTarget = createReplicationTarget();
