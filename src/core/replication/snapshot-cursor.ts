/**
 * One snapshot of the LIVE tables, read lazily chunk by chunk, so a million entries
 * never become one array and the proxy keeps changing the tables meanwhile.
 *
 * Why that converges: the snapshot starts at the log's latest flushed seq (atSeq). Any
 * change made after that has a seq > atSeq and reaches the standby in the updates sent
 * after snapshot_end. An entry changed while the snapshot runs may appear here with
 * its old or its new value and again in those updates; records are idempotent (set
 * overwrites, delete removes), so the standby ends with the master's content.
 *
 * Termination: Map iteration visits entries added during the walk, so a table under
 * constant insertion could keep a cursor busy forever. Each table is read for at most
 * as many entries as it held at the start. Entries present at the start come first in
 * insertion order, so every one still present is reached within that bound; the newer
 * ones come in the updates anyway.
 *
 * Dictionary: chunk records intern their strings in the log's dictionary. The cursor
 * sends the definitions the standby has not had from it (ids from `knownIds` up, ids
 * being dense) in a DICT frame before the chunk that needs them, so the first chunk
 * carries the whole dictionary. It never calls takeNew(): that belongs to the live
 * stream, which then announces the same ids to the streaming peers (harmless repeats).
 */
import type { Buffer } from 'node:buffer';
import type { TableEntry } from '../tables/expiring-table.js';
import type { DictEntry, WireDictionary } from './dictionary.js';
import type { SnapshotBeginMessage, SnapshotEndMessage, SnapshotTable } from './handshake-messages.js';
import { encodeRecords, toSetRecord, type SourceTable } from './replication-source.js';
import { encodeFrame, MAX_RECORDS_PER_FRAME } from './wire-frames.js';
import type { SetRecord } from './wire-records.js';
import { ReplicationFrameError } from './frame-error.js';

export interface SnapshotCursorOptions {
  readonly snapshotId: number;
  readonly epoch: number;
  readonly atSeq: number;
  readonly tables: readonly SourceTable[];
  readonly dict: WireDictionary;
  readonly chunkRecords: number;
  /** Records the wire refused (counted by the log). */
  readonly onRejected?: (n: number) => void;
}

interface Walk {
  readonly table: SourceTable;
  readonly iterator: Iterator<TableEntry<unknown>>;
  /** Entries still to visit (the table's size at the start, counting skipped ones). */
  left: number;
}

export class SnapshotCursor {
  readonly snapshotId: number;
  readonly epoch: number;
  readonly atSeq: number;
  /** Table sizes at the start, as announced in snapshot_begin. */
  readonly tables: readonly SnapshotTable[];
  /** Sum of `tables` entries: progress total (entries expired or deleted meanwhile are not sent). */
  readonly total: number;
  private readonly dict: WireDictionary;
  private readonly chunkRecords: number;
  private readonly onRejected: ((n: number) => void) | undefined;
  private readonly walks: Walk[];
  private walkIndex = 0;
  private chunk = 0;
  private sent = 0;
  private knownIds = 0;
  private finished = false;

  constructor(opts: SnapshotCursorOptions) {
    if (!Number.isSafeInteger(opts.chunkRecords) || opts.chunkRecords < 1 || opts.chunkRecords > MAX_RECORDS_PER_FRAME) {
      throw new ReplicationFrameError(`snapshot chunkRecords ${opts.chunkRecords} is not an integer 1..${MAX_RECORDS_PER_FRAME}`, 'chunkRecords');
    }
    this.snapshotId = opts.snapshotId;
    this.epoch = opts.epoch;
    this.atSeq = opts.atSeq;
    this.dict = opts.dict;
    this.chunkRecords = opts.chunkRecords;
    this.onRejected = opts.onRejected;
    this.tables = opts.tables.map((t) => ({ table: t.name, entries: t.size }));
    this.total = this.tables.reduce((sum, t) => sum + t.entries, 0);
    // Iterators are created now, so entries present at the start are what the walk is bounded by.
    this.walks = opts.tables.map((table) => ({ table, iterator: table.entries()[Symbol.iterator](), left: table.size }));
  }

  /** Records sent so far (what snapshot_end announces once done). */
  get sentEntries(): number {
    return this.sent;
  }

  get done(): boolean {
    return this.finished;
  }

  beginMessage(): SnapshotBeginMessage {
    return { type: 'snapshot_begin', snapshotId: this.snapshotId, epoch: this.epoch, atSeq: this.atSeq, tables: this.tables };
  }

  endMessage(): SnapshotEndMessage {
    return { type: 'snapshot_end', snapshotId: this.snapshotId, entries: this.sent };
  }

  /**
   * The next chunk's frames (a DICT frame first when the chunk uses strings the standby
   * has not had), or null when the snapshot is complete. Entries expired at `now` are
   * skipped; TTLs are relative to `now`.
   */
  next(now: number): Buffer[] | null {
    while (!this.finished) {
      const records = this.collect(now);
      if (records.length === 0) {
        this.finished = true;
        break;
      }
      const snapshotId = this.snapshotId;
      const chunk = this.chunk;
      const encoded = encodeRecords(records, (recs) => ({ type: 'snapshot_chunk', snapshotId, chunk, records: recs }), this.dict);
      if (encoded.rejected > 0) this.onRejected?.(encoded.rejected);
      if (encoded.frame === null) continue;
      this.chunk++;
      this.sent += encoded.kept.length;
      const fresh = this.unknownToPeer();
      return fresh.length === 0 ? [encoded.frame] : [encodeFrame({ type: 'dict', entries: fresh }, this.dict), encoded.frame];
    }
    return null;
  }

  private collect(now: number): SetRecord[] {
    const records: SetRecord[] = [];
    while (records.length < this.chunkRecords) {
      const walk = this.walks[this.walkIndex];
      if (walk === undefined) break;
      const step = walk.left > 0 ? walk.iterator.next() : undefined;
      if (step === undefined || step.done === true) {
        this.walkIndex++;
        continue;
      }
      walk.left--;
      const e = step.value;
      if (e.expiresAt !== null && now >= e.expiresAt) continue;
      try {
        records.push(toSetRecord(walk.table.name, walk.table.kind, e.key, e.value, e.expiresAt, now));
      } catch (err) {
        if (!(err instanceof ReplicationFrameError)) throw err;
        this.onRejected?.(1);
      }
    }
    return records;
  }

  private unknownToPeer(): DictEntry[] {
    const out: DictEntry[] = [];
    for (let id = this.knownIds; id < this.dict.size; id++) {
      const value = this.dict.lookup(id);
      if (value !== undefined) out.push({ id, value });
    }
    this.knownIds = this.dict.size;
    return out;
  }
}
