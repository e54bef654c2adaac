/**
 * The `logs` control message: log lines travelling over the authenticated replication
 * links, so that any node can show the whole cluster's log (`halo logs`). A standby sends
 * its own lines to the master; the master sends its own and relays every standby's to the
 * other standbys.
 *
 *   {"type":"logs","lines":[{"node":"lb2","boot":1764255000000,"seq":42,"at":1764255012345,
 *     "level":"info","message":"state_change","fields":{"state":"MASTER"}}]}
 *
 * Every bound below holds by construction on the sending side (logLine() clamps, and
 * encodeLogBatches() checks the result with this parser), so a message that breaks one
 * comes from a broken or hostile peer. Such a message costs its lines only, never the
 * link: the sides drop it (isLogsParseError) instead of resetting replication.
 */
import { HaloError } from '../errors.js';
import { expectArray, expectObject, expectOneOf, expectName, expectUint, handshakeError, isPlainObject, show, type JsonObject } from './control-fields.js';

export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export type LogLineLevel = (typeof LOG_LEVELS)[number];

export interface LogLine {
  readonly node: string;
  /**
   * The origin process's start (wall-clock ms): seq restarts with every process, so a
   * line is identified by (node, boot, seq).
   */
  readonly boot: number;
  readonly seq: number;
  /** Wall-clock ms of the line on its origin node. */
  readonly at: number;
  readonly level: LogLineLevel;
  /** The event name. */
  readonly message: string;
  readonly fields: Readonly<Record<string, unknown>>;
}

export interface LogsMessage {
  readonly type: 'logs';
  readonly lines: readonly LogLine[];
}

/** Lines per message: the sender batches at most this many. */
export const LOGS_MAX_LINES = 100;
/**
 * One message's JSON, in UTF-8 bytes: well under CONTROL_MAX_BYTES (64 KiB, also the
 * master's ws maxPayload), so a full batch never reaches the limit that ends a link.
 */
export const LOGS_MAX_BYTES = 48 * 1024;
export const LOG_MESSAGE_MAX_CHARS = 256;
/** A line's fields as JSON, in UTF-8 bytes; larger ones are cut (see logLine). */
export const LOG_FIELDS_MAX_BYTES = 4096;
export const LOG_FIELDS_MAX_KEYS = 64;
const FIELD_KEY_MAX_CHARS = 64;
const SAFE_MAX = Number.MAX_SAFE_INTEGER;

function parseFields(value: unknown, path: string): Readonly<Record<string, unknown>> {
  if (value === undefined) throw handshakeError(path, 'required, missing ({} if none)');
  if (!isPlainObject(value)) throw handshakeError(path, `expected an object, got ${show(value)}`);
  const keys = Object.keys(value);
  if (keys.length > LOG_FIELDS_MAX_KEYS) throw handshakeError(path, `expected at most ${LOG_FIELDS_MAX_KEYS} keys, got ${keys.length}`);
  for (const k of keys) if (k.length === 0 || k.length > FIELD_KEY_MAX_CHARS) throw handshakeError(path, `key ${show(k)}: expected 1-${FIELD_KEY_MAX_CHARS} chars`);
  const text = JSON.stringify(value);
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > LOG_FIELDS_MAX_BYTES) throw handshakeError(path, `over ${LOG_FIELDS_MAX_BYTES} bytes as JSON (${bytes})`);
  // What JSON can carry on, not what the parser happened to make: 1e999 (Infinity) becomes
  // null and -0 becomes 0 here, so a relayed line equals the one received (found by fuzzing).
  return JSON.parse(text) as Record<string, unknown>;
}

function parseLine(value: unknown, at: string): LogLine {
  const o = expectObject(value, at, ['node', 'boot', 'seq', 'at', 'level', 'message', 'fields']);
  const message = o['message'];
  if (typeof message !== 'string' || message.length > LOG_MESSAGE_MAX_CHARS) {
    throw handshakeError(`${at}.message`, message === undefined ? 'required, missing' : `expected a string of at most ${LOG_MESSAGE_MAX_CHARS} chars, got ${show(message)}`);
  }
  return {
    node: expectName(o['node'], `${at}.node`),
    boot: expectUint(o['boot'], `${at}.boot`, SAFE_MAX),
    seq: expectUint(o['seq'], `${at}.seq`, SAFE_MAX),
    at: expectUint(o['at'], `${at}.at`, SAFE_MAX),
    level: expectOneOf(o['level'], `${at}.level`, LOG_LEVELS),
    message,
    fields: parseFields(o['fields'], `${at}.fields`),
  };
}

/** The body of a `logs` message (parseControl has checked its size and type). */
export function parseLogs(o: JsonObject): LogsMessage {
  expectObject(o, 'logs', ['type', 'lines']);
  const lines = expectArray(o['lines'], 'logs.lines', LOGS_MAX_LINES);
  if (lines.length === 0) throw handshakeError('logs.lines', 'expected at least one line');
  return { type: 'logs', lines: lines.map((l, i) => parseLine(l, `logs.lines[${i}]`)) };
}

/** A parse error inside a `logs` message (not a malformed or unknown message as such). */
export function isLogsParseError(err: unknown): boolean {
  if (!(err instanceof HaloError) || err.code !== 'HALO_ERR_REPL_HANDSHAKE') return false;
  const field = err.details['field'];
  return typeof field === 'string' && /^logs(\.|$)/.test(field);
}

const RESERVED = new Set(['level', 'message', 'timestamp', 'node']);

/** Fields as JSON within LOG_FIELDS_MAX_BYTES: over it, a prefix of the JSON text under `truncated`. */
function clampFields(fields: Record<string, unknown>): Record<string, unknown> {
  let text: string;
  try {
    text = JSON.stringify(fields);
  } catch {
    // a cycle or a BigInt the logger did not flatten: the line still goes, without its fields
    return { truncated: 'fields not serialisable' };
  }
  const keys = Object.keys(fields).length;
  if (keys === 0) return {};
  if (keys <= LOG_FIELDS_MAX_KEYS && validKeys(fields) && Buffer.byteLength(text, 'utf8') <= LOG_FIELDS_MAX_BYTES) return JSON.parse(text) as Record<string, unknown>;
  // Escaping can make a char 6 bytes of JSON: halve until it fits (at most ~12 rounds).
  let cut = LOG_FIELDS_MAX_BYTES;
  for (;;) {
    const out = { truncated: `${text.slice(0, cut)}...` };
    if (Buffer.byteLength(JSON.stringify(out), 'utf8') <= LOG_FIELDS_MAX_BYTES) return out;
    cut = Math.floor(cut / 2);
  }
}

function validKeys(fields: Record<string, unknown>): boolean {
  return Object.keys(fields).every((k) => k.length > 0 && k.length <= FIELD_KEY_MAX_CHARS);
}

/**
 * One of this node's log entries (the logger's JSON-able form) as a line for the wire,
 * clamped so the peer's parser accepts it: unknown levels read as info, the event name
 * is cut to LOG_MESSAGE_MAX_CHARS, oversized fields become a `truncated` prefix.
 */
export function logLine(origin: { node: string; boot: number }, seq: number, at: number, entry: Readonly<Record<string, unknown>>): LogLine {
  const level = (LOG_LEVELS as readonly unknown[]).includes(entry['level']) ? (entry['level'] as LogLineLevel) : 'info';
  const rawMessage = entry['message'];
  const message = (typeof rawMessage === 'string' ? rawMessage : String(rawMessage ?? '')).slice(0, LOG_MESSAGE_MAX_CHARS);
  // fromEntries defines own properties: a "__proto__" key stays a key, never a prototype
  const fields = Object.fromEntries(Object.entries(entry).filter(([k, v]) => !RESERVED.has(k) && v !== undefined));
  return { node: origin.node, boot: Math.max(0, Math.floor(origin.boot)), seq: Math.max(0, Math.floor(seq)), at: Math.max(0, Math.floor(at)), level, message, fields: clampFields(fields) };
}

/**
 * Lines as `logs` message texts of at most `maxLines` lines and LOGS_MAX_BYTES each, in
 * order. Each text is checked with parseLogs, so we never send what the peer rejects; a
 * line that fails it (only a bug in logLine could make one) is left out and counted.
 */
export function encodeLogBatches(lines: readonly LogLine[], maxLines = LOGS_MAX_LINES): { texts: string[]; invalid: number } {
  const texts: string[] = [];
  let invalid = 0;
  let batch: string[] = [];
  let bytes = 0;
  const head = '{"type":"logs","lines":[';
  const tail = ']}';
  const overhead = head.length + tail.length;
  const flush = (): void => {
    if (batch.length > 0) texts.push(`${head}${batch.join(',')}${tail}`);
    batch = [];
    bytes = 0;
  };
  const limit = Math.max(1, Math.min(LOGS_MAX_LINES, maxLines));
  for (const line of lines) {
    const text = JSON.stringify(line);
    try {
      parseLine(JSON.parse(text) as unknown, 'logs.lines[0]');
    } catch {
      invalid++;
      continue;
    }
    const size = Buffer.byteLength(text, 'utf8');
    if (batch.length >= limit || (batch.length > 0 && overhead + bytes + batch.length + size > LOGS_MAX_BYTES)) flush();
    batch.push(text);
    bytes += size;
  }
  flush();
  return { texts, invalid };
}
