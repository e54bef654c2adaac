/**
 * Generators of VALID replication traffic for the replication fuzz target: binary frames
 * (every record kind and key form of wire-records.ts) and the JSON control messages of
 * handshake-messages.ts. Values are built in .map() as plain objects so a decoded value
 * compares deep-equal to the generated one.
 */
import fc from 'fast-check';
import { configDigest, type DigestBackend, type DigestService } from '../../../src/core/replication/config-digest.js';
import type { ControlMessage } from '../../../src/core/replication/handshake-messages.js';
import { logLine, type LogsMessage } from '../../../src/core/replication/log-messages.js';
import type { DictEntry } from '../../../src/core/replication/dictionary.js';
import type { Frame } from '../../../src/core/replication/wire-frames.js';
import type { ReplicationRecord, SetRecord } from '../../../src/core/replication/wire-records.js';
import { ipv4Arb, ipv6Arb } from '../harness.js';

const utf8Bytes = (s: string): number => Buffer.byteLength(s, 'utf8');

const portArb = fc.oneof(fc.constantFrom(0, 1, 65535), fc.nat(65535));
const safeNat = fc.oneof(fc.constantFrom(0, 1, 127, 128, 2 ** 31, 2 ** 32, Number.MAX_SAFE_INTEGER), fc.maxSafeNat());
const u32 = fc.oneof(fc.constantFrom(0, 1, 0xffff_ffff), fc.nat({ max: 0xffff_ffff }));

export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const nameArb = fc.stringMatching(NAME_PATTERN);
/** Dictionary strings: names as config writes them, or any text without lone surrogates of at most 255 UTF-8 bytes. */
const dictString = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('web/persist_source', 'web/udp_flows', 'dns/connections', 'web', 'app-1', 'default', '') },
  { weight: 2, arbitrary: nameArb },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 60 }).filter((s) => utf8Bytes(s) <= 255) },
);
const textKey = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme-ascii', minLength: 200, maxLength: 1024 }),
  fc.constantFrom('01.2.3.4', '1.2.3.4:01', '[::1]:80x', '::FFFF:1.2.3.4', 'a/1.2.3.4/5.6.7.8', '/1.2.3.4', '1.2.3.4:65536'),
).filter((s) => utf8Bytes(s) <= 1024);

/** Keys in every wire form: ipv4, ip:port, ipv6, [ipv6]:port, name/ipv4 and free text. */
export const keyArb = fc.oneof(
  ipv4Arb,
  fc.tuple(ipv4Arb, portArb).map(([ip, p]) => `${ip}:${p}`),
  ipv6Arb,
  fc.tuple(ipv6Arb, portArb).map(([ip, p]) => `[${ip}]:${p}`),
  fc.tuple(nameArb, ipv4Arb).map(([n, ip]) => `${n}/${ip}`),
  textKey,
);

const ttlArb = fc.option(safeNat, { nil: null, freq: 3 });

const persistSet: fc.Arbitrary<SetRecord> = fc
  .tuple(dictString, fc.constantFrom('persist_source' as const, 'persist_cookie' as const), keyArb, dictString, dictString, ttlArb)
  .map(([table, kind, key, pool, backend, ttlMs]) => ({ op: 'set', table, kind, key, value: { pool, backend }, ttlMs }));

const clientIpText = fc.oneof(ipv4Arb, ipv6Arb, fc.string({ unit: 'binary', maxLength: 30 }).filter((s) => utf8Bytes(s) <= 255));

/** Flows keyed by "ip:port" of their own client (the address then travels once) or by anything else. */
const flowSet: fc.Arbitrary<SetRecord> = fc
  .tuple(
    dictString,
    fc.constantFrom('udp_flows' as const, 'connections' as const),
    fc.oneof(
      fc.tuple(ipv4Arb, portArb).map(([ip, port]) => ({ key: `${ip}:${port}`, ip, port })),
      fc.tuple(ipv6Arb, portArb).map(([ip, port]) => ({ key: `[${ip}]:${port}`, ip, port })),
      fc.tuple(keyArb, clientIpText, portArb).map(([key, ip, port]) => ({ key, ip, port })),
    ),
    dictString,
    dictString,
    safeNat,
    ttlArb,
  )
  .map(([table, kind, k, pool, backend, ageMs, ttlMs]) => ({ op: 'set', table, kind, key: k.key, value: { clientIp: k.ip, clientPort: k.port, pool, backend, ageMs }, ttlMs }));

const deleteRecord: fc.Arbitrary<ReplicationRecord> = fc
  .tuple(dictString, fc.constantFrom('connections' as const, 'udp_flows' as const, 'persist_source' as const, 'persist_cookie' as const), keyArb)
  .map(([table, kind, key]) => ({ op: 'delete', table, kind, key }));

const setRecord = fc.oneof(persistSet, flowSet);
const anyRecord = fc.oneof(persistSet, flowSet, deleteRecord);

const dictEntries: fc.Arbitrary<DictEntry[]> = fc
  .uniqueArray(fc.tuple(fc.oneof(fc.nat(70), fc.constantFrom(127, 128, 65_535)), dictString), { maxLength: 8, selector: ([id]) => id })
  .map((pairs) => pairs.map(([id, value]) => ({ id, value })));

export const frameArb: fc.Arbitrary<Frame> = fc.oneof(
  dictEntries.map((entries): Frame => ({ type: 'dict', entries })),
  fc
    .tuple(u32, fc.array(anyRecord, { minLength: 1, maxLength: 6 }), safeNat)
    .map(([epoch, records, seq]): Frame => ({ type: 'updates', epoch, firstSeq: Math.max(1, Math.min(seq, Number.MAX_SAFE_INTEGER - records.length + 1)), records })),
  fc.tuple(safeNat, safeNat, fc.array(setRecord, { maxLength: 6 })).map(([snapshotId, chunk, records]): Frame => ({ type: 'snapshot_chunk', snapshotId, chunk, records })),
  fc
    .tuple(u32, safeNat, fc.array(fc.tuple(dictString, safeNat, fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })), { maxLength: 5 }))
    .map(([epoch, atSeq, tables]): Frame => ({ type: 'digest', epoch, atSeq, tables: tables.map(([table, count, digest]) => ({ table, count, digest })) })),
  fc.tuple(u32, safeNat).map(([epoch, seq]): Frame => ({ type: 'ack', epoch, seq })),
);

// ---------------------------------------------------------------- control messages

const hex64 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex'));
const clusterArb = fc.stringMatching(/^[A-Za-z0-9_.:-]{1,64}$/);
const tokenArb = fc.stringMatching(/^[a-z0-9_]{1,32}$/);
const tableArb = fc.stringMatching(/^[A-Za-z0-9_.:/-]{1,40}$/);
const hostArb = fc.oneof(ipv4Arb, ipv6Arb, fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9.-]{0,30}$/));

const backendsArb: fc.Arbitrary<DigestBackend[]> = fc
  .uniqueArray(nameArb, { minLength: 1, maxLength: 4 })
  .chain((names) => fc.tuple(...names.map((name) => fc.tuple(hostArb, fc.integer({ min: 1, max: 65535 })).map(([address, port]): DigestBackend => ({ name, address, port })))));

const poolsArb = fc
  .uniqueArray(nameArb.filter((n) => n !== 'default'), { maxLength: 2 })
  .chain((names) => fc.tuple(...names.map((name) => backendsArb.map((backends) => ({ name, backends })))));

const serviceArb = (name: string): fc.Arbitrary<DigestService> =>
  fc
    .tuple(tokenArb, tokenArb, fc.integer({ min: 1000, max: 10_000_000 }), backendsArb, poolsArb)
    .map(([mode, type, ttl_ms, backends, pools]) => ({ name, mode, persistence: { type, ttl_ms }, backends, pools }));

const servicesArb: fc.Arbitrary<DigestService[]> = fc.uniqueArray(nameArb, { maxLength: 3 }).chain((names) => fc.tuple(...names.map(serviceArb)));

/** A config digest at every summary detail level (the byte budget decides which). */
const digestArb = fc.tuple(servicesArb, fc.constantFrom(48 * 1024, 600, 200, 60, 0)).map(([services, max]) => configDigest(services, { maxSummaryBytes: max }));

const logFields = fc.dictionary(fc.string({ minLength: 1, maxLength: 10 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 });
const logsArb: fc.Arbitrary<LogsMessage> = fc
  .array(fc.tuple(nameArb, safeNat, safeNat, safeNat, fc.constantFrom('error', 'warn', 'info', 'debug', 'trace'), fc.string({ maxLength: 300 }), logFields), {
    minLength: 1,
    maxLength: 4,
  })
  .map((lines) => ({ type: 'logs', lines: lines.map(([node, boot, seq, at, level, message, fields]) => logLine({ node, boot }, seq, at, { ...fields, level, message })) }));

export const controlArb: fc.Arbitrary<ControlMessage> = fc.oneof(
  fc.tuple(clusterArb, nameArb, hex64, fc.constantFrom('standby' as const, 'master' as const)).map(([cluster, node, nonce, role]): ControlMessage => ({ type: 'hello', version: 1, cluster, node, nonce, role })),
  fc.tuple(clusterArb, nameArb, hex64, hex64).map(([cluster, node, nonce, proof]): ControlMessage => ({ type: 'challenge', version: 1, cluster, node, nonce, proof })),
  fc.tuple(hex64, digestArb).map(([proof, d]): ControlMessage => ({ type: 'auth', proof, configDigest: d.digest, configSummary: d.summary })),
  fc.tuple(digestArb, fc.option(u32, { nil: undefined })).map(([d, epoch]): ControlMessage => {
    const welcome = { type: 'welcome', configDigest: d.digest, configSummary: d.summary } as const;
    return epoch === undefined ? welcome : { ...welcome, epoch };
  }),
  fc.option(fc.tuple(u32, safeNat), { nil: null }).map((p): ControlMessage => ({ type: 'sync', epoch: p === null ? null : p[0], seq: p === null ? null : p[1] })),
  fc
    .tuple(safeNat, u32, safeNat, fc.uniqueArray(tableArb, { maxLength: 4 }), safeNat)
    .map(([snapshotId, epoch, atSeq, tables, entries]): ControlMessage => ({ type: 'snapshot_begin', snapshotId, epoch, atSeq, tables: tables.map((table) => ({ table, entries })) })),
  fc.tuple(safeNat, safeNat).map(([snapshotId, entries]): ControlMessage => ({ type: 'snapshot_end', snapshotId, entries })),
  fc.tuple(u32, safeNat).map(([epoch, fromSeq]): ControlMessage => ({ type: 'resume', epoch, fromSeq })),
  fc.tuple(tokenArb, fc.string({ maxLength: 1024 })).map(([code, reason]): ControlMessage => ({ type: 'refuse', code, reason })),
  logsArb,
);
