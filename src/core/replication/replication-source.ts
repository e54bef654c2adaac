/**
 * What the replication stream shares with the data plane: the tables it reads
 * (SourceTable, on the master and, since a standby may become master, on every node),
 * the sink a standby applies records into (ReplicaSink), and the conversion of a
 * table's content into wire records.
 *
 * Times in tables are absolute monotonic ms of the node that owns them; on the wire
 * they become relative (ttlMs, ageMs) at the moment of sending, because monotonic
 * clocks differ between nodes.
 */
import type { Buffer } from 'node:buffer';
import type { TableEntry } from '../tables/expiring-table.js';
import type { TableEvent, TableKind, TableListener } from '../tables/table-event.js';
import type { WireDictionary } from './dictionary.js';
import { encodeFrame, type Frame } from './wire-frames.js';
import { ReplicationFrameError } from './frame-error.js';
import { valueIdOf } from './table-digest.js';
import type { FlowValue, PersistValue, ReplicationRecord, SetRecord } from './wire-records.js';

export interface SourceTable {
  readonly name: string;
  readonly kind: TableKind;
  onEvent(l: TableListener<unknown>): () => void;
  /**
   * Live entries. A snapshot walks this lazily while the table keeps changing, so it
   * must iterate the live Map (insertion order, changes during iteration allowed), not
   * a copy.
   */
  entries(now?: number): Iterable<TableEntry<unknown>>;
  readonly size: number;
}

export type ApplyResult = 'applied' | 'unknown_table' | 'unknown_pool_or_backend' | 'full';
export const APPLY_RESULTS: readonly ApplyResult[] = ['applied', 'unknown_table', 'unknown_pool_or_backend', 'full'];

export interface ReplicaSink {
  apply(record: ReplicationRecord, now: number): ApplyResult;
  /** Empty every replicated table (a snapshot follows). */
  clear(now: number): void;
}

interface LooseValue {
  readonly pool?: unknown;
  readonly backend?: unknown;
  readonly clientIp?: unknown;
  readonly clientPort?: unknown;
  readonly createdAt?: unknown;
  readonly startedAt?: unknown;
}

function loose(value: unknown, kind: TableKind): LooseValue {
  if (typeof value !== 'object' || value === null) throw new ReplicationFrameError(`${kind} value is not an object`, 'value');
  return value;
}

function text(v: LooseValue, field: 'pool' | 'backend' | 'clientIp', kind: TableKind): string {
  const s = v[field];
  if (typeof s !== 'string') throw new ReplicationFrameError(`${kind} value: ${field} is not a string`, field);
  return s;
}

function num(v: LooseValue, field: 'clientPort' | 'createdAt' | 'startedAt', kind: TableKind): number {
  const n = v[field];
  if (typeof n !== 'number') throw new ReplicationFrameError(`${kind} value: ${field} is not a number`, field);
  return n;
}

/**
 * The replicated part of a table value. udp_flows carry createdAt, connections
 * startedAt (udp-flow-table.ts / connection-table.ts); both become an age at `now`.
 * Throws ReplicationFrameError when the value lacks a field (a table of the wrong kind).
 */
export function replicatedValue(kind: 'persist_source' | 'persist_cookie', value: unknown, now: number): PersistValue;
export function replicatedValue(kind: 'udp_flows' | 'connections', value: unknown, now: number): FlowValue;
export function replicatedValue(kind: TableKind, value: unknown, now: number): PersistValue | FlowValue;
export function replicatedValue(kind: TableKind, value: unknown, now: number): PersistValue | FlowValue {
  const v = loose(value, kind);
  const pool = text(v, 'pool', kind);
  const backend = text(v, 'backend', kind);
  if (kind === 'persist_source' || kind === 'persist_cookie') return { pool, backend };
  const since = num(v, kind === 'udp_flows' ? 'createdAt' : 'startedAt', kind);
  return { clientIp: text(v, 'clientIp', kind), clientPort: num(v, 'clientPort', kind), pool, backend, ageMs: now - since };
}

/**
 * The digest identity of a table value (valueIdOf of its replicated part), the same on
 * master and standby. Never throws: it runs for every event, and a malformed value
 * should show up as a digest mismatch, not break the log.
 */
export function valueIdentity(kind: TableKind, value: unknown): string {
  const v: LooseValue = typeof value === 'object' && value !== null ? value : {};
  const pool = String(v.pool);
  const backend = String(v.backend);
  if (kind === 'persist_source' || kind === 'persist_cookie') return valueIdOf({ pool, backend });
  return valueIdOf({ pool, backend, clientIp: String(v.clientIp), clientPort: typeof v.clientPort === 'number' ? v.clientPort : -1 });
}

/** A set record for an entry expiring at `expiresAt` (null: never), sent at `now`. */
export function toSetRecord(table: string, kind: TableKind, key: string, value: unknown, expiresAt: number | null, now: number): SetRecord {
  const ttlMs = expiresAt === null ? null : expiresAt - now;
  if (kind === 'persist_source' || kind === 'persist_cookie') {
    return { op: 'set', table, kind, key, value: replicatedValue(kind, value, now), ttlMs };
  }
  return { op: 'set', table, kind, key, value: replicatedValue(kind, value, now), ttlMs };
}

/** A table event as the wire record sent at `now` (remaining TTL, age). Throws ReplicationFrameError on a malformed value. */
export function toRecord(event: TableEvent<unknown>, now: number): ReplicationRecord {
  if (event.op === 'delete') return { op: 'delete', table: event.table, kind: event.kind, key: event.key };
  return toSetRecord(event.table, event.kind, event.key, event.value, event.expiresAt, now);
}

export interface EncodedRecords<R> {
  /** null when no record could be encoded. */
  readonly frame: Buffer | null;
  readonly kept: readonly R[];
  readonly rejected: number;
}

/**
 * Encode `records` into the frame `frameOf` builds. When the wire refuses one of them
 * (a key over 1 KiB, a full dictionary), the batch is re-encoded without the records
 * that fail alone: one bad key must not stop the stream for every other entry. Strings
 * interned by a failed attempt stay in `dict`; they are harmless definitions.
 */
export function encodeRecords<R extends ReplicationRecord>(records: readonly R[], frameOf: (records: readonly R[]) => Frame, dict: WireDictionary): EncodedRecords<R> {
  if (records.length === 0) return { frame: null, kept: [], rejected: 0 };
  try {
    return { frame: encodeFrame(frameOf(records), dict), kept: records, rejected: 0 };
  } catch (err) {
    if (!(err instanceof ReplicationFrameError)) throw err;
  }
  const kept = records.filter((rec) => {
    try {
      encodeFrame(frameOf([rec]), dict);
      return true;
    } catch (err) {
      if (err instanceof ReplicationFrameError) return false;
      throw err;
    }
  });
  const rejected = records.length - kept.length;
  return kept.length === 0 ? { frame: null, kept, rejected } : { frame: encodeFrame(frameOf(kept), dict), kept, rejected };
}
