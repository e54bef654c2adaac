/**
 * Replication control messages: ws TEXT frames carrying one JSON object each (table
 * data goes in binary frames, see wire-frames.ts). The handshake authenticates both
 * peers with an HMAC challenge under the cluster key and compares config digests
 * before any table data flows (design.md section 4):
 *
 *   dialer                                  listener
 *     hello     {nonce Nd}            ->
 *               <- challenge {nonce Nl, proof_listener(Nl, Nd)}
 *     auth      {proof_dialer(Nd, Nl), config}  ->
 *               <- welcome {config, epoch?}          (or refuse, then close)
 *     sync      {epoch, seq}          ->            (standby, once welcomed)
 *               <- resume | snapshot_begin ... snapshot_end
 *     logs      {lines}  <->                    (either way once streaming: log-messages.ts)
 *
 * The parser is strict (unknown keys, wrong types, out-of-range numbers are errors
 * naming the field) because a lenient parser is how two versions end up silently
 * disagreeing. What the proof does NOT cover: the frames after the handshake, and the
 * hello role / config fields. A man in the middle who can relay the whole TCP stream
 * can still tamper with them; use wss (TLS) where that matters.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { HaloError } from '../errors.js';
import {
  HEX64_RE,
  UINT32_MAX,
  expectArray,
  expectHex64,
  expectName,
  expectObject,
  expectOneOf,
  expectRecord,
  expectString,
  expectUint,
  expectUintOrNull,
  handshakeError,
  show,
  type JsonObject,
} from './control-fields.js';
import { parseConfigDigest, parseSummary, type CanonicalSummary } from './config-digest.js';
import { parseLogs, type LogsMessage } from './log-messages.js';

export type { LogLine, LogsMessage } from './log-messages.js';

export const REPL_PROTOCOL_VERSION = 1;
/** Largest control message, in UTF-8 bytes; the adapter should also cap ws maxPayload. */
export const CONTROL_MAX_BYTES = 64 * 1024;
export const NONCE_BYTES = 32;
export const PROOF_DOMAIN = 'halo-repl-v1';

/** ws close codes (4000-4999 are the application's), HTTP-flavoured so they read at a glance. */
export const CLOSE_PROTOCOL_ERROR = 4400;
export const CLOSE_AUTH_FAILED = 4401;
export const CLOSE_CLUSTER_MISMATCH = 4403;
export const CLOSE_HANDSHAKE_TIMEOUT = 4408;
export const CLOSE_CONFIG_MISMATCH = 4409;
export const CLOSE_TOO_MANY_PEERS = 4429;
/** The dialled node is not the master (any more): the dialler follows the adverts instead. */
export const CLOSE_NOT_MASTER = 4421;
/** The standby's tables are out of step (gap, digest mismatch): it reconnects asking for a snapshot. */
export const CLOSE_RESYNC = 4412;
export type CloseCode = 4400 | 4401 | 4403 | 4408 | 4409 | 4412 | 4421 | 4429;
export const CLOSE_CODES: readonly CloseCode[] = [4400, 4401, 4403, 4408, 4409, 4412, 4421, 4429];

/** The `code` of a refuse message for each close code, so a peer's refusal maps back to one. */
export const REFUSE_CODES: Readonly<Record<CloseCode, string>> = {
  4400: 'protocol_error',
  4401: 'auth_failed',
  4403: 'cluster_mismatch',
  4408: 'handshake_timeout',
  4409: 'config_mismatch',
  4412: 'resync',
  4421: 'not_master',
  4429: 'too_many_peers',
};

/** A refuse code from the peer back to its close code; an unknown one (newer peer) is a protocol error. */
export function closeCodeOf(refuseCode: string): CloseCode {
  for (const [code, name] of Object.entries(REFUSE_CODES)) {
    if (name === refuseCode) return Number(code) as CloseCode;
  }
  return CLOSE_PROTOCOL_ERROR;
}

/** A ws close reason may hold 123 bytes of UTF-8 (125-byte control frame minus the code). */
export const CLOSE_REASON_MAX_BYTES = 123;
export const REFUSE_REASON_MAX_CHARS = 1024;

/** Cut `text` to at most `maxBytes` of UTF-8, never inside a character, marking the cut with "...". */
export function truncateUtf8(text: string, maxBytes: number = CLOSE_REASON_MAX_BYTES): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return bytes.toString('utf8');
  let end = Math.max(0, maxBytes - 3);
  // 0b10xxxxxx is a continuation byte: back up to the start of the character it belongs to.
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--;
  return `${bytes.toString('utf8', 0, end)}...`;
}

export type ReplRole = 'standby' | 'master';
/** Which side of the connection computes a proof; part of the HMAC input so proofs differ by direction. */
export type ProofRole = 'dialer' | 'listener';

export interface HelloMessage {
  readonly type: 'hello';
  readonly version: 1;
  readonly cluster: string;
  readonly node: string;
  readonly nonce: string;
  readonly role: ReplRole;
}
export interface ChallengeMessage {
  readonly type: 'challenge';
  readonly version: 1;
  readonly cluster: string;
  readonly node: string;
  readonly nonce: string;
  /** proof('listener', listener nonce, dialer nonce, cluster, listener node). */
  readonly proof: string;
}
export interface AuthMessage {
  readonly type: 'auth';
  /** proof('dialer', dialer nonce, listener nonce, cluster, dialer node). */
  readonly proof: string;
  readonly configDigest: string;
  readonly configSummary: CanonicalSummary;
}
export interface WelcomeMessage {
  readonly type: 'welcome';
  readonly configDigest: string;
  readonly configSummary: CanonicalSummary;
  /** The master's current replication epoch, when the listener is the master. */
  readonly epoch?: number;
}
export interface SyncMessage {
  readonly type: 'sync';
  /** Both null: the standby's tables are empty and it wants a snapshot. */
  readonly epoch: number | null;
  readonly seq: number | null;
}
export interface SnapshotTable {
  readonly table: string;
  readonly entries: number;
}
export interface SnapshotBeginMessage {
  readonly type: 'snapshot_begin';
  readonly snapshotId: number;
  readonly epoch: number;
  readonly atSeq: number;
  readonly tables: readonly SnapshotTable[];
}
export interface SnapshotEndMessage {
  readonly type: 'snapshot_end';
  readonly snapshotId: number;
  readonly entries: number;
}
export interface ResumeMessage {
  readonly type: 'resume';
  readonly epoch: number;
  readonly fromSeq: number;
}
export interface RefuseMessage {
  readonly type: 'refuse';
  readonly code: string;
  readonly reason: string;
}

export type ControlMessage =
  | HelloMessage
  | ChallengeMessage
  | AuthMessage
  | WelcomeMessage
  | SyncMessage
  | SnapshotBeginMessage
  | SnapshotEndMessage
  | ResumeMessage
  | RefuseMessage
  | LogsMessage;
export type ControlType = ControlMessage['type'];
export const CONTROL_TYPES = ['hello', 'challenge', 'auth', 'welcome', 'sync', 'snapshot_begin', 'snapshot_end', 'resume', 'refuse', 'logs'] as const satisfies readonly ControlType[];

/** Cluster ids travel as text so the adapter can pass the config's uint32 as String(id). */
const CLUSTER_RE = /^[A-Za-z0-9_.:-]{1,64}$/;
const TABLE_RE = /^[A-Za-z0-9_.:/-]{1,255}$/;
const REFUSE_CODE_RE = /^[a-z0-9_]{1,32}$/;
const MAX_TABLES = 4096;
const SEQ_MAX = Number.MAX_SAFE_INTEGER;

function expectVersion(value: unknown, path: string): 1 {
  if (value === undefined) throw handshakeError(path, 'required, missing');
  if (value !== REPL_PROTOCOL_VERSION) throw handshakeError(path, `expected ${REPL_PROTOCOL_VERSION}, got ${show(value)} (this node speaks replication protocol version ${REPL_PROTOCOL_VERSION})`);
  return REPL_PROTOCOL_VERSION;
}

const expectCluster = (v: unknown, path: string): string => expectString(v, path, CLUSTER_RE, "a cluster id (1-64 of letters, digits, '_', '.', ':', '-')");

function parseHello(o: JsonObject): HelloMessage {
  expectObject(o, 'hello', ['type', 'version', 'cluster', 'node', 'nonce', 'role']);
  return {
    type: 'hello',
    version: expectVersion(o['version'], 'hello.version'),
    cluster: expectCluster(o['cluster'], 'hello.cluster'),
    node: expectName(o['node'], 'hello.node'),
    nonce: expectHex64(o['nonce'], 'hello.nonce'),
    role: expectOneOf(o['role'], 'hello.role', ['standby', 'master'] as const),
  };
}

function parseChallenge(o: JsonObject): ChallengeMessage {
  expectObject(o, 'challenge', ['type', 'version', 'cluster', 'node', 'nonce', 'proof']);
  return {
    type: 'challenge',
    version: expectVersion(o['version'], 'challenge.version'),
    cluster: expectCluster(o['cluster'], 'challenge.cluster'),
    node: expectName(o['node'], 'challenge.node'),
    nonce: expectHex64(o['nonce'], 'challenge.nonce'),
    proof: expectHex64(o['proof'], 'challenge.proof'),
  };
}

function parseAuth(o: JsonObject): AuthMessage {
  expectObject(o, 'auth', ['type', 'proof', 'configDigest', 'configSummary']);
  return {
    type: 'auth',
    proof: expectHex64(o['proof'], 'auth.proof'),
    configDigest: parseConfigDigest(o['configDigest'], 'auth.configDigest'),
    configSummary: parseSummary(o['configSummary'], 'auth.configSummary'),
  };
}

function parseWelcome(o: JsonObject): WelcomeMessage {
  expectObject(o, 'welcome', ['type', 'configDigest', 'configSummary', 'epoch']);
  const msg: WelcomeMessage = {
    type: 'welcome',
    configDigest: parseConfigDigest(o['configDigest'], 'welcome.configDigest'),
    configSummary: parseSummary(o['configSummary'], 'welcome.configSummary'),
  };
  return o['epoch'] === undefined ? msg : { ...msg, epoch: expectUint(o['epoch'], 'welcome.epoch', UINT32_MAX) };
}

function parseSync(o: JsonObject): SyncMessage {
  expectObject(o, 'sync', ['type', 'epoch', 'seq']);
  const epoch = expectUintOrNull(o['epoch'], 'sync.epoch', UINT32_MAX);
  const seq = expectUintOrNull(o['seq'], 'sync.seq', SEQ_MAX);
  if ((epoch === null) !== (seq === null)) throw handshakeError('sync.seq', `expected null exactly when sync.epoch is null, got epoch ${show(epoch)} and seq ${show(seq)}`);
  return { type: 'sync', epoch, seq };
}

function parseSnapshotBegin(o: JsonObject): SnapshotBeginMessage {
  expectObject(o, 'snapshot_begin', ['type', 'snapshotId', 'epoch', 'atSeq', 'tables']);
  const seen = new Set<string>();
  const tables = expectArray(o['tables'], 'snapshot_begin.tables', MAX_TABLES).map((t, i): SnapshotTable => {
    const at = `snapshot_begin.tables[${i}]`;
    const obj = expectObject(t, at, ['table', 'entries']);
    const table = expectString(obj['table'], `${at}.table`, TABLE_RE, "a table name (1-255 of letters, digits, '_', '.', ':', '/', '-')");
    if (seen.has(table)) throw handshakeError(`${at}.table`, `duplicate table ${show(table)}`);
    seen.add(table);
    return { table, entries: expectUint(obj['entries'], `${at}.entries`, SEQ_MAX) };
  });
  return {
    type: 'snapshot_begin',
    snapshotId: expectUint(o['snapshotId'], 'snapshot_begin.snapshotId', SEQ_MAX),
    epoch: expectUint(o['epoch'], 'snapshot_begin.epoch', UINT32_MAX),
    atSeq: expectUint(o['atSeq'], 'snapshot_begin.atSeq', SEQ_MAX),
    tables,
  };
}

function parseSnapshotEnd(o: JsonObject): SnapshotEndMessage {
  expectObject(o, 'snapshot_end', ['type', 'snapshotId', 'entries']);
  return {
    type: 'snapshot_end',
    snapshotId: expectUint(o['snapshotId'], 'snapshot_end.snapshotId', SEQ_MAX),
    entries: expectUint(o['entries'], 'snapshot_end.entries', SEQ_MAX),
  };
}

function parseResume(o: JsonObject): ResumeMessage {
  expectObject(o, 'resume', ['type', 'epoch', 'fromSeq']);
  return { type: 'resume', epoch: expectUint(o['epoch'], 'resume.epoch', UINT32_MAX), fromSeq: expectUint(o['fromSeq'], 'resume.fromSeq', SEQ_MAX) };
}

function parseRefuse(o: JsonObject): RefuseMessage {
  expectObject(o, 'refuse', ['type', 'code', 'reason']);
  const code = expectString(o['code'], 'refuse.code', REFUSE_CODE_RE, 'a code token (a-z, 0-9, _)');
  const reason = o['reason'];
  if (typeof reason !== 'string' || reason.length > REFUSE_REASON_MAX_CHARS) {
    throw handshakeError('refuse.reason', reason === undefined ? 'required, missing' : `expected a string of at most ${REFUSE_REASON_MAX_CHARS} chars, got ${show(reason)}`);
  }
  return { type: 'refuse', code, reason };
}

const PARSERS: Readonly<Record<ControlType, (o: JsonObject) => ControlMessage>> = {
  hello: parseHello,
  challenge: parseChallenge,
  auth: parseAuth,
  welcome: parseWelcome,
  sync: parseSync,
  snapshot_begin: parseSnapshotBegin,
  snapshot_end: parseSnapshotEnd,
  resume: parseResume,
  refuse: parseRefuse,
  logs: parseLogs,
};

/** Parse one control message; throws HaloError HALO_ERR_REPL_HANDSHAKE naming the field. */
export function parseControl(text: string): ControlMessage {
  // UTF-8 never takes fewer bytes than UTF-16 code units, so the cheap length test comes first.
  if (text.length > CONTROL_MAX_BYTES || Buffer.byteLength(text, 'utf8') > CONTROL_MAX_BYTES) {
    throw handshakeError('control message', `over ${CONTROL_MAX_BYTES} bytes`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw handshakeError('control message', `not JSON (${err instanceof Error ? err.message.slice(0, 80) : 'parse error'})`);
  }
  const obj = expectRecord(raw, 'control message', 16);
  const type = expectOneOf(obj['type'], 'type', CONTROL_TYPES);
  return PARSERS[type](obj);
}

/** Serialise a message, checked by the same parser the peer runs, so we never send what it would reject. */
export function encodeControl(msg: ControlMessage): string {
  const text = JSON.stringify(msg);
  parseControl(text);
  return text;
}

/** A fresh 32-byte nonce as lowercase hex; randomness is injected (crypto.randomBytes in the adapter). */
export function makeNonce(randomBytes: (n: number) => Buffer): string {
  const bytes = randomBytes(NONCE_BYTES);
  if (bytes.length !== NONCE_BYTES) throw new HaloError('HALO_ERR_REPL_HANDSHAKE', `nonce source returned ${bytes.length} bytes, expected ${NONCE_BYTES}`);
  return bytes.toString('hex');
}

function lengthPrefixed(parts: readonly Buffer[]): Buffer {
  const out: Buffer[] = [];
  for (const part of parts) {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(part.length, 0);
    out.push(len, part);
  }
  return Buffer.concat(out);
}

function proofBytes(key: Buffer, role: ProofRole, ownNonce: string, peerNonce: string, cluster: string, nodeName: string): Buffer {
  if (!HEX64_RE.test(ownNonce) || !HEX64_RE.test(peerNonce)) throw new HaloError('HALO_ERR_REPL_HANDSHAKE', 'proof: nonces must be 64 lowercase hex chars');
  // Every field length-prefixed: ("ab", "c") and ("a", "bc") must not hash alike.
  const input = lengthPrefixed([
    Buffer.from(PROOF_DOMAIN, 'utf8'),
    Buffer.from(role, 'utf8'),
    Buffer.from(ownNonce, 'hex'),
    Buffer.from(peerNonce, 'hex'),
    Buffer.from(cluster, 'utf8'),
    Buffer.from(nodeName, 'utf8'),
  ]);
  return createHmac('sha256', key).update(input).digest();
}

/**
 * HMAC-SHA256 proof that the prover (`role`, named `nodeName`) holds the cluster key,
 * bound to both nonces in prover-first order: the listener proves over (Nl, Nd), the
 * dialer over (Nd, Nl), and the role is hashed too, so neither proof replays as the other.
 */
export function proof(key: Buffer, role: ProofRole, ownNonce: string, peerNonce: string, cluster: string, nodeName: string): string {
  // An empty key would make the proof a checksum anyone can compute.
  if (key.length === 0) throw new HaloError('HALO_ERR_SECRET', 'the cluster key is empty');
  return proofBytes(key, role, ownNonce, peerNonce, cluster, nodeName).toString('hex');
}

/** Check a peer's proof; same argument order as proof(), from the prover's point of view. */
export function verifyProof(key: Buffer, role: ProofRole, ownNonce: string, peerNonce: string, cluster: string, nodeName: string, candidate: string): boolean {
  if (key.length === 0 || !HEX64_RE.test(candidate) || !HEX64_RE.test(ownNonce) || !HEX64_RE.test(peerNonce)) return false;
  return timingSafeEqual(proofBytes(key, role, ownNonce, peerNonce, cluster, nodeName), Buffer.from(candidate, 'hex'));
}
