import { thrown } from '../../../test/helpers/thrown.js';
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { configDigest } from './config-digest.js';
import {
  CLOSE_CODES,
  CLOSE_PROTOCOL_ERROR,
  CONTROL_MAX_BYTES,
  REFUSE_CODES,
  closeCodeOf,
  encodeControl,
  makeNonce,
  parseControl,
  proof,
  truncateUtf8,
  verifyProof,
  type ControlMessage,
} from './handshake-messages.js';

const KEY = Buffer.from('0123456789abcdef-cluster-key');
const OTHER_KEY = Buffer.from('0123456789abcdef-another-key');
const ND = 'a'.repeat(64);
const NL = 'b'.repeat(64);
const CLUSTER = '42';


const config = configDigest([{ name: 'web', mode: 'http', persistence: { type: 'cookie', ttl_ms: 60_000 }, backends: [{ name: 'be1', address: '10.0.0.1', port: 80 }], pools: [] }]);

const VALID: readonly ControlMessage[] = [
  { type: 'hello', version: 1, cluster: CLUSTER, node: 'lb2', nonce: ND, role: 'standby' },
  { type: 'challenge', version: 1, cluster: CLUSTER, node: 'lb1', nonce: NL, proof: 'c'.repeat(64) },
  { type: 'auth', proof: 'd'.repeat(64), configDigest: config.digest, configSummary: config.summary },
  { type: 'welcome', configDigest: config.digest, configSummary: config.summary, epoch: 7 },
  { type: 'welcome', configDigest: config.digest, configSummary: config.summary },
  { type: 'sync', epoch: null, seq: null },
  { type: 'sync', epoch: 0xffff_ffff, seq: Number.MAX_SAFE_INTEGER },
  { type: 'snapshot_begin', snapshotId: 3, epoch: 7, atSeq: 1000, tables: [{ table: 'web/persist_source', entries: 12 }, { table: 'web/udp_flows', entries: 0 }] },
  { type: 'snapshot_end', snapshotId: 3, entries: 12 },
  { type: 'resume', epoch: 7, fromSeq: 1001 },
  { type: 'refuse', code: 'config_mismatch', reason: 'config differs: services.web: missing on peer' },
];

describe('parseControl / encodeControl', () => {
  it.each(VALID.map((m) => [m.type, m] as const))('round-trips %s', (_type, msg) => {
    expect(parseControl(encodeControl(msg))).toEqual(msg);
  });

  const hello: object = { ...(VALID[0] as object) };
  const text = (o: unknown) => JSON.stringify(o);
  const mutate = (i: number, patch: Record<string, unknown>) => text({ ...(VALID[i] as object), ...patch });

  it.each<[string, string, string]>([
    ['not JSON', '{"type":', 'control message: not JSON'],
    ['a list', '[1]', 'control message: expected an object, got a list'],
    ['null', 'null', 'control message: expected an object, got null'],
    ['no type', '{}', 'type: required, missing'],
    ['an unknown type', text({ type: 'bye' }), 'type: expected one of hello, challenge, auth, welcome, sync, snapshot_begin, snapshot_end, resume, refuse, logs, got "bye"'],
    ['an unknown key', mutate(0, { extra: true }), 'hello: unknown key "extra"'],
    ['another version', mutate(0, { version: 2 }), 'hello.version: expected 1, got 2 (this node speaks replication protocol version 1)'],
    ['a missing version', text({ ...hello, version: undefined }), 'hello.version: required, missing'],
    ['a bad cluster', mutate(0, { cluster: 'a b' }), 'hello.cluster: expected a cluster id'],
    ['a numeric cluster', mutate(0, { cluster: 42 }), 'hello.cluster: expected a cluster id (1-64 of letters, digits, \'_\', \'.\', \':\', \'-\'), got 42'],
    ['a bad node', mutate(0, { node: '-lb' }), 'hello.node: expected a name'],
    ['a short nonce', mutate(0, { nonce: 'abc' }), 'hello.nonce: expected 64 hex chars (lowercase), got "abc"'],
    ['an uppercase nonce', mutate(0, { nonce: 'A'.repeat(64) }), 'hello.nonce: expected 64 hex chars'],
    ['a bad role', mutate(0, { role: 'backup' }), 'hello.role: expected one of standby, master, got "backup"'],
    ['a bad challenge proof', mutate(1, { proof: 'zz' }), 'challenge.proof: expected 64 hex chars'],
    ['a challenge without nonce', text({ ...(VALID[1] as object), nonce: undefined }), 'challenge.nonce: required, missing'],
    ['a bad auth digest', mutate(2, { configDigest: 'x' }), 'auth.configDigest: expected 64 hex chars'],
    ['a bad auth summary', mutate(2, { configSummary: { detail: 'pools', services: { web: { mode: 'http' } } } }), 'auth.configSummary.services.web.persistence: required, missing'],
    ['a negative welcome epoch', mutate(3, { epoch: -1 }), 'welcome.epoch: expected an integer 0-4294967295, got -1'],
    ['a fractional welcome epoch', mutate(3, { epoch: 1.5 }), 'welcome.epoch: expected an integer'],
    ['a sync with only an epoch', mutate(5, { epoch: 3 }), 'sync.seq: expected null exactly when sync.epoch is null'],
    ['a sync without seq', text({ type: 'sync', epoch: null }), 'sync.seq: required, missing (null if none)'],
    ['a sync epoch over u32', mutate(6, { epoch: 2 ** 32 }), 'sync.epoch: expected an integer 0-4294967295'],
    ['an unsafe sync seq', mutate(6, { seq: 2 ** 53 }), 'sync.seq: expected an integer 0-9007199254740991'],
    ['snapshot tables not a list', mutate(7, { tables: {} }), 'snapshot_begin.tables: expected a list, got an object'],
    ['a duplicate snapshot table', mutate(7, { tables: [{ table: 't', entries: 1 }, { table: 't', entries: 2 }] }), 'snapshot_begin.tables[1].table: duplicate table "t"'],
    ['a bad snapshot table name', mutate(7, { tables: [{ table: 'a b', entries: 1 }] }), 'snapshot_begin.tables[0].table: expected a table name'],
    ['negative snapshot entries', mutate(7, { tables: [{ table: 't', entries: -1 }] }), 'snapshot_begin.tables[0].entries: expected an integer'],
    ['a snapshot without atSeq', text({ ...(VALID[7] as object), atSeq: undefined }), 'snapshot_begin.atSeq: required, missing'],
    ['a snapshot_end without entries', text({ type: 'snapshot_end', snapshotId: 1 }), 'snapshot_end.entries: required, missing'],
    ['a string fromSeq', mutate(9, { fromSeq: '5' }), 'resume.fromSeq: expected an integer 0-9007199254740991, got "5"'],
    ['a bad refuse code', mutate(10, { code: 'Auth Failed' }), 'refuse.code: expected a code token'],
    ['a refuse without reason', text({ type: 'refuse', code: 'x' }), 'refuse.reason: required, missing'],
    ['a long refuse reason', mutate(10, { reason: 'r'.repeat(1025) }), 'refuse.reason: expected a string of at most 1024 chars, got "rrrr'],
  ])('rejects %s, naming the field', (_what, input, message) => {
    const err = thrown(() => parseControl(input));
    expect(err.code).toBe('HALO_ERR_REPL_HANDSHAKE');
    expect(err.message).toContain(message);
  });

  it('rejects a message over 64 KiB, counting UTF-8 bytes', () => {
    const padded = (reasonChars: number, ch: string) => text({ type: 'refuse', code: 'x', reason: ch.repeat(reasonChars) });
    // Over in UTF-16 length (the cheap test), then under in length but over in UTF-8 bytes.
    expect(thrown(() => parseControl(' '.repeat(CONTROL_MAX_BYTES) + padded(1, 'a'))).message).toBe(`control message: over ${CONTROL_MAX_BYTES} bytes`);
    const multi = ' '.repeat(CONTROL_MAX_BYTES - 100) + padded(60, '\u20ac'); // 60 chars, 180 bytes
    expect(multi.length).toBeLessThanOrEqual(CONTROL_MAX_BYTES);
    expect(thrown(() => parseControl(multi)).message).toBe(`control message: over ${CONTROL_MAX_BYTES} bytes`);
  });

  it('echoes a long or hostile value shortened and quoted', () => {
    const err = thrown(() => parseControl(mutate(0, { node: `x\n${'y'.repeat(500)}` })));
    expect(err.message).not.toContain('\n');
    expect(err.message.length).toBeLessThan(200);
    expect(err.message).toContain('(502 chars)');
  });

  it('encodeControl refuses to send what the peer would reject', () => {
    const bad = { ...VALID[0], nonce: 'short' } as ControlMessage;
    expect(thrown(() => encodeControl(bad)).message).toContain('hello.nonce');
  });

  it('an auth message for 100 services x 50 backends fits in one control message', () => {
    const big = configDigest(
      Array.from({ length: 100 }, (_, s) => ({
        name: `svc-${s}`,
        mode: 'http',
        persistence: { type: 'source_ip', ttl_ms: 1_800_000 },
        backends: Array.from({ length: 50 }, (_, b) => ({ name: `be-${b}`, address: `10.${s}.${b}.1`, port: 8080 })),
        pools: [],
      })),
    );
    const bytes = Buffer.byteLength(encodeControl({ type: 'auth', proof: ND, configDigest: big.digest, configSummary: big.summary }));
    expect(bytes).toBeLessThan(CONTROL_MAX_BYTES * 0.8);
  });
});

describe('makeNonce', () => {
  it('uses the injected randomness, as 64 lowercase hex chars', () => {
    expect(makeNonce((n) => Buffer.alloc(n, 0xab))).toBe('ab'.repeat(32));
  });

  it('rejects a source that returns the wrong length', () => {
    expect(thrown(() => makeNonce(() => Buffer.alloc(16))).message).toBe('nonce source returned 16 bytes, expected 32');
  });
});

describe('proof / verifyProof', () => {
  const listenerProof = proof(KEY, 'listener', NL, ND, CLUSTER, 'lb1');
  const dialerProof = proof(KEY, 'dialer', ND, NL, CLUSTER, 'lb2');

  it('matches an independent computation of the documented layout', () => {
    const parts = [Buffer.from('halo-repl-v1'), Buffer.from('listener'), Buffer.from(NL, 'hex'), Buffer.from(ND, 'hex'), Buffer.from(CLUSTER), Buffer.from('lb1')];
    const input = Buffer.concat(parts.flatMap((p) => [Buffer.from([0, 0, 0, p.length]), p]));
    expect(listenerProof).toBe(createHmac('sha256', KEY).update(input).digest('hex'));
  });

  it('verifies with the same key and arguments', () => {
    expect(verifyProof(KEY, 'listener', NL, ND, CLUSTER, 'lb1', listenerProof)).toBe(true);
    expect(verifyProof(KEY, 'dialer', ND, NL, CLUSTER, 'lb2', dialerProof)).toBe(true);
  });

  it('fails with a wrong key', () => {
    expect(verifyProof(OTHER_KEY, 'listener', NL, ND, CLUSTER, 'lb1', listenerProof)).toBe(false);
    expect(proof(OTHER_KEY, 'listener', NL, ND, CLUSTER, 'lb1')).not.toBe(listenerProof);
  });

  it('fails in the other direction: a proof cannot be replayed as the other side\'s', () => {
    expect(verifyProof(KEY, 'dialer', NL, ND, CLUSTER, 'lb1', listenerProof)).toBe(false);
    expect(verifyProof(KEY, 'listener', ND, NL, CLUSTER, 'lb2', dialerProof)).toBe(false);
    // Even with the same nonces in the same order and the same node, the role alone changes the proof.
    expect(proof(KEY, 'dialer', NL, ND, CLUSTER, 'lb1')).not.toBe(listenerProof);
  });

  it('fails with the nonces swapped or changed', () => {
    expect(verifyProof(KEY, 'listener', ND, NL, CLUSTER, 'lb1', listenerProof)).toBe(false);
    expect(verifyProof(KEY, 'listener', NL, 'c'.repeat(64), CLUSTER, 'lb1', listenerProof)).toBe(false);
  });

  it('fails for another cluster or node name, and fields cannot be shifted between each other', () => {
    expect(verifyProof(KEY, 'listener', NL, ND, '43', 'lb1', listenerProof)).toBe(false);
    expect(verifyProof(KEY, 'listener', NL, ND, CLUSTER, 'lb3', listenerProof)).toBe(false);
    expect(proof(KEY, 'listener', NL, ND, '4', '2lb1')).not.toBe(proof(KEY, 'listener', NL, ND, '42', 'lb1'));
  });

  it('rejects malformed candidates and empty keys without throwing', () => {
    expect(verifyProof(KEY, 'listener', NL, ND, CLUSTER, 'lb1', listenerProof.slice(2))).toBe(false);
    expect(verifyProof(KEY, 'listener', NL, ND, CLUSTER, 'lb1', listenerProof.toUpperCase())).toBe(false);
    expect(verifyProof(KEY, 'listener', 'x', ND, CLUSTER, 'lb1', listenerProof)).toBe(false);
    expect(verifyProof(Buffer.alloc(0), 'listener', NL, ND, CLUSTER, 'lb1', listenerProof)).toBe(false);
    expect(thrown(() => proof(Buffer.alloc(0), 'listener', NL, ND, CLUSTER, 'lb1')).code).toBe('HALO_ERR_SECRET');
  });
});

describe('close codes and reasons', () => {
  it('maps every refuse code back to its close code; unknown codes are protocol errors', () => {
    for (const code of CLOSE_CODES) expect(closeCodeOf(REFUSE_CODES[code])).toBe(code);
    expect(closeCodeOf('from_the_future')).toBe(CLOSE_PROTOCOL_ERROR);
  });

  it('keeps a short reason as is', () => {
    expect(truncateUtf8('config differs')).toBe('config differs');
    expect(truncateUtf8('x'.repeat(123))).toBe('x'.repeat(123));
  });

  it.each<[string, string]>([
    ['ASCII', 'a'.repeat(200)],
    ['2-byte characters', '\u00e9'.repeat(100)],
    ['3-byte characters', 'a\u20ac'.repeat(60)],
    ['4-byte characters', 'x\u{1f600}'.repeat(40)],
  ])('cuts %s to at most 123 bytes on a character boundary', (_what, reason) => {
    const out = truncateUtf8(reason);
    expect(Buffer.byteLength(out)).toBeLessThanOrEqual(123);
    expect(Buffer.byteLength(out)).toBeGreaterThan(115);
    expect(out.endsWith('...')).toBe(true);
    expect(out).not.toContain('\ufffd');
    expect(reason.startsWith(out.slice(0, -3))).toBe(true);
  });
});
