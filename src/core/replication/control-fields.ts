/**
 * Strict readers for the JSON of replication control messages. Every problem is a
 * HaloError HALO_ERR_REPL_HANDSHAKE whose message starts with the field's path
 * (`hello.nonce: expected 64 hex chars, got "abc"`), so the refusal sent to the peer and
 * the log line both say exactly what was wrong.
 *
 * Values from the peer are echoed shortened and JSON-quoted: a hostile peer cannot put
 * control characters or kilobytes of text into our logs through an error message.
 */
import { HaloError } from '../errors.js';

export type JsonObject = Readonly<Record<string, unknown>>;

/** Same rule as config names (schema-helpers.ts NAME), repeated here so core does not import zod. */
export const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
export const HEX64_RE = /^[0-9a-f]{64}$/;
export const UINT32_MAX = 0xffff_ffff;

const SHOW_MAX = 40;

export function handshakeError(path: string, problem: string): HaloError {
  return new HaloError('HALO_ERR_REPL_HANDSHAKE', `${path}: ${problem}`, { field: path });
}

/** A short, quoted rendering of a peer-supplied value for an error message. */
export function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') {
    const quoted = JSON.stringify(value.length > SHOW_MAX ? `${value.slice(0, SHOW_MAX)}...` : value);
    return value.length > SHOW_MAX ? `${quoted} (${value.length} chars)` : quoted;
  }
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  return String(value);
}

export function isPlainObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Own properties only: a peer naming a service "constructor" must not reach Object.prototype. */
export function own<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

/** An object with no key outside `allowed` (unknown keys are errors, never ignored). */
export function expectObject(value: unknown, path: string, allowed: readonly string[]): JsonObject {
  if (value === undefined) throw handshakeError(path, 'required, missing');
  if (!isPlainObject(value)) throw handshakeError(path, `expected an object, got ${show(value)}`);
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) throw handshakeError(path, `unknown key ${show(key)}`);
  }
  return value;
}

/** An object whose keys are names chosen by the sender (services, pools, backends); the caller checks each key. */
export function expectRecord(value: unknown, path: string, maxKeys: number): JsonObject {
  if (value === undefined) throw handshakeError(path, 'required, missing');
  if (!isPlainObject(value)) throw handshakeError(path, `expected an object, got ${show(value)}`);
  const n = Object.keys(value).length;
  if (n > maxKeys) throw handshakeError(path, `expected at most ${maxKeys} entries, got ${n}`);
  return value;
}

export function expectString(value: unknown, path: string, pattern: RegExp, what: string): string {
  if (value === undefined) throw handshakeError(path, 'required, missing');
  if (typeof value !== 'string' || !pattern.test(value)) throw handshakeError(path, `expected ${what}, got ${show(value)}`);
  return value;
}

export function expectName(value: unknown, path: string): string {
  return expectString(value, path, NAME_RE, "a name (letters, digits, '_', '.', '-'; at most 63 chars)");
}

export function expectHex64(value: unknown, path: string): string {
  return expectString(value, path, HEX64_RE, '64 hex chars (lowercase)');
}

/** An integer 0..max; max is at most Number.MAX_SAFE_INTEGER so JSON numbers stay exact. */
export function expectUint(value: unknown, path: string, max: number): number {
  if (value === undefined) throw handshakeError(path, 'required, missing');
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > max) {
    throw handshakeError(path, `expected an integer 0-${max}, got ${show(value)}`);
  }
  return value;
}

export function expectUintOrNull(value: unknown, path: string, max: number): number | null {
  if (value === null) return null;
  if (value === undefined) throw handshakeError(path, 'required, missing (null if none)');
  return expectUint(value, path, max);
}

export function expectOneOf<const T extends readonly string[]>(value: unknown, path: string, values: T): T[number] {
  if (value === undefined) throw handshakeError(path, 'required, missing');
  if (typeof value !== 'string' || !(values as readonly string[]).includes(value)) throw handshakeError(path, `expected one of ${values.join(', ')}, got ${show(value)}`);
  return value as T[number];
}

export function expectArray(value: unknown, path: string, maxItems: number): readonly unknown[] {
  if (value === undefined) throw handshakeError(path, 'required, missing');
  if (!Array.isArray(value)) throw handshakeError(path, `expected a list, got ${show(value)}`);
  if (value.length > maxItems) throw handshakeError(path, `expected at most ${maxItems} items, got ${value.length}`);
  return value;
}
