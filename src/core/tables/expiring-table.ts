/**
 * A string-keyed table whose entries carry an absolute expiry (monotonic ms) and
 * whose every change is one TableEvent, so replication can stream it.
 *
 * Expiry uses an indexed min-heap with lazy extension: the heap key of an entry may
 * lag behind (be earlier than) its real expiry. Extending an entry (touch, the per-
 * datagram hot path) is then O(1); the entry is re-sifted only when its stale key
 * reaches the top. expire() therefore looks at the top only and costs nothing when
 * nothing is due, however large the table.
 *
 * Full table (maxEntries): an entry that is already expired is reclaimed first. Then
 * `whenFull: 'evict'` (the default) evicts the entry closest to expiry, emitting a
 * delete with reason 'expired' (it would have gone first anyway); `'refuse'` makes
 * set() of a new key return false. Entries without expiry are never evicted, so a
 * table holding only those refuses. A 'refuse' table's owner can still evict on its own
 * terms with evictClosest() (delete reason 'evicted'), when it must settle what the
 * entry held (UDP flows: a socket and load accounting).
 */
import type { DeleteReason, TableEvent, TableKind, TableListener } from './table-event.js';

export interface ExpiringTableOptions {
  readonly name: string;
  readonly kind: TableKind;
  /** Undefined: unbounded. */
  readonly maxEntries?: number;
  readonly whenFull?: 'evict' | 'refuse';
  /**
   * touch() emits a set event only when the expiry moved more than this past the last
   * emitted one. Default: a quarter of the ttl given to touch().
   */
  readonly refreshMs?: number;
  /** A listener threw. The table stays consistent and the other listeners still run. */
  readonly onListenerError?: (err: unknown, event: TableEvent) => void;
}

export interface TableEntry<V> {
  readonly key: string;
  readonly value: V;
  readonly expiresAt: number | null;
  /** Table seq of the last set event for this entry. */
  readonly seq: number;
}

interface Slot<V> {
  readonly key: string;
  value: V;
  expiresAt: number | null;
  seq: number;
  emittedExpiry: number | null;
  /** Heap ordering key; <= expiresAt while in the heap (lazy extension). */
  heapKey: number;
  /** -1 when not in the heap (no expiry). */
  heapIndex: number;
}

function expiryOf(now: number, ttlMs: number | null): number | null {
  if (ttlMs === null) return null;
  // Negative or NaN ttl means "already due", never "forever".
  return now + (ttlMs > 0 ? ttlMs : 0);
}

function isExpired(slot: Slot<unknown>, now: number): boolean {
  return slot.expiresAt !== null && now >= slot.expiresAt;
}

export class ExpiringTable<V> {
  readonly name: string;
  readonly kind: TableKind;
  readonly maxEntries: number;
  readonly whenFull: 'evict' | 'refuse';

  private readonly slots = new Map<string, Slot<V>>();
  private readonly heap: Slot<V>[] = [];
  private listeners: readonly TableListener<V>[] = [];
  private readonly refreshMs: number | undefined;
  private readonly onListenerError: ((err: unknown, event: TableEvent) => void) | undefined;
  private lastSeq = 0;
  private work = 0;
  private listenerFailures = 0;

  constructor(opts: ExpiringTableOptions) {
    this.name = opts.name;
    this.kind = opts.kind;
    this.maxEntries = opts.maxEntries !== undefined && opts.maxEntries > 0 ? opts.maxEntries : Number.POSITIVE_INFINITY;
    this.whenFull = opts.whenFull ?? 'evict';
    this.refreshMs = opts.refreshMs;
    this.onListenerError = opts.onListenerError;
  }

  /** Seq of the last event emitted; strictly increasing per table. */
  get seq(): number {
    return this.lastSeq;
  }

  /** Entries held, including expired ones expire() has not removed yet. */
  get size(): number {
    return this.slots.size;
  }

  /** Heap nodes examined by expire() and eviction, cumulative: a cost meter for tests and metrics. */
  get expireWork(): number {
    return this.work;
  }

  get listenerErrors(): number {
    return this.listenerFailures;
  }

  onEvent(listener: TableListener<V>): () => void {
    this.listeners = [...this.listeners, listener];
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  /** The value, or undefined when absent or expired (expiresAt <= now). */
  get(key: string, now: number): V | undefined {
    const slot = this.slots.get(key);
    if (slot === undefined || isExpired(slot, now)) return undefined;
    return slot.value;
  }

  has(key: string, now: number): boolean {
    return this.get(key, now) !== undefined;
  }

  /** The value even when expired but not yet removed (the caller decides). */
  peek(key: string): V | undefined {
    return this.slots.get(key)?.value;
  }

  /** Absolute expiry: null = never, undefined = no such entry. */
  expiresAt(key: string): number | null | undefined {
    const slot = this.slots.get(key);
    return slot === undefined ? undefined : slot.expiresAt;
  }

  /** The expiry carried by the last set event for this key (what replicas believe). */
  lastEmittedExpiry(key: string): number | null | undefined {
    const slot = this.slots.get(key);
    return slot === undefined ? undefined : slot.emittedExpiry;
  }

  /**
   * Insert or replace; expiry = now + ttlMs (null: never). Emits a set event.
   * False only when the key is new and the table is full and cannot make room.
   */
  set(key: string, value: V, now: number, ttlMs: number | null): boolean {
    let slot = this.slots.get(key);
    let previous: V | undefined;
    if (slot === undefined) {
      if (this.slots.size >= this.maxEntries && !this.makeRoom(now)) return false;
      // Keys are built with template literals (`${pool}/${ip}`): V8 keeps those as cons
      // strings, 244 B per persistence entry against 193 B flat (1M entries, measured).
      // Reading a character flattens it in place; the GC then drops the cons wrapper.
      key.charCodeAt(0);
      slot = { key, value, expiresAt: null, seq: 0, emittedExpiry: null, heapKey: 0, heapIndex: -1 };
      this.slots.set(key, slot);
    } else {
      previous = slot.value;
      slot.value = value;
    }
    this.setExpiry(slot, expiryOf(now, ttlMs));
    this.emitSet(slot, previous);
    return true;
  }

  /**
   * Extend a live entry's expiry to now + ttlMs. Emits a set event only when the expiry
   * moved more than refreshMs from the last emitted one, so per-packet touches do not
   * flood replication. Returns the value, or undefined when absent or expired (an
   * expired entry is not revived).
   */
  touch(key: string, now: number, ttlMs: number): V | undefined {
    const slot = this.slots.get(key);
    if (slot === undefined || isExpired(slot, now)) return undefined;
    const expiry = expiryOf(now, ttlMs);
    this.setExpiry(slot, expiry);
    const refresh = this.refreshMs ?? ttlMs / 4;
    if (slot.emittedExpiry === null || expiry === null || Math.abs(expiry - slot.emittedExpiry) > refresh) {
      this.emitSet(slot, slot.value);
    }
    return slot.value;
  }

  /** Remove on purpose; emits a delete with reason 'removed'. */
  delete(key: string, _now: number): boolean {
    const slot = this.slots.get(key);
    if (slot === undefined) return false;
    this.remove(slot, 'removed');
    return true;
  }

  /**
   * Remove entries whose expiry is <= now, at most `limit` of them, emitting a delete
   * with reason 'expired' for each. Returns the removed keys; `each` sees every removed
   * value (callers that keep per-entry accounting need it).
   */
  expire(now: number, limit = Number.POSITIVE_INFINITY, each?: (key: string, value: V) => void): string[] {
    const removed: string[] = [];
    while (removed.length < limit) {
      const top = this.dueTop(now);
      if (top === undefined) break;
      this.remove(top, 'expired');
      removed.push(top.key);
      each?.(top.key, top.value);
    }
    return removed;
  }

  /**
   * Remove the entry closest to expiry (for entries that slide on use: the least recently
   * used), live or not, emitting a delete with reason 'evicted'. Undefined when no entry
   * has an expiry. The caller settles whatever the entry held.
   */
  evictClosest(_now: number): TableEntry<V> | undefined {
    const top = this.settledTop();
    if (top === undefined) return undefined;
    this.remove(top, 'evicted');
    return { key: top.key, value: top.value, expiresAt: top.expiresAt, seq: top.seq };
  }

  /** Live entries (expired ones skipped when `now` is given), for snapshots. */
  *entries(now?: number): IterableIterator<TableEntry<V>> {
    for (const slot of this.slots.values()) {
      if (now !== undefined && isExpired(slot, now)) continue;
      yield { key: slot.key, value: slot.value, expiresAt: slot.expiresAt, seq: slot.seq };
    }
  }

  // --- internals ---------------------------------------------------------------

  /** Free one slot for a new key; false when the policy or the contents forbid it. */
  private makeRoom(now: number): boolean {
    const due = this.dueTop(now);
    if (due !== undefined) {
      this.remove(due, 'expired');
      return true;
    }
    if (this.whenFull === 'refuse') return false;
    const closest = this.settledTop();
    if (closest === undefined) return false;
    this.remove(closest, 'expired');
    return true;
  }

  /** The top entry when it is truly expired at `now`, else undefined. */
  private dueTop(now: number): Slot<V> | undefined {
    for (;;) {
      const top = this.heap[0];
      if (top === undefined) return undefined;
      this.work++;
      if (top.heapKey > now) return undefined;
      if (top.expiresAt !== null && top.expiresAt > now) {
        this.reKey(top);
        continue;
      }
      return top;
    }
  }

  /** The top with its heap key brought up to date: the entry closest to expiry. */
  private settledTop(): Slot<V> | undefined {
    for (;;) {
      const top = this.heap[0];
      if (top === undefined) return undefined;
      this.work++;
      if (top.expiresAt === top.heapKey) return top;
      this.reKey(top);
    }
  }

  private reKey(top: Slot<V>): void {
    // Only slots with an expiry live in the heap, and their expiry only lags upward.
    top.heapKey = top.expiresAt ?? Number.POSITIVE_INFINITY;
    this.siftDown(top.heapIndex);
  }

  private setExpiry(slot: Slot<V>, expiry: number | null): void {
    slot.expiresAt = expiry;
    if (expiry === null) {
      if (slot.heapIndex >= 0) this.heapRemove(slot);
    } else if (slot.heapIndex < 0) {
      slot.heapKey = expiry;
      slot.heapIndex = this.heap.length;
      this.heap.push(slot);
      this.siftUp(slot.heapIndex);
    } else if (expiry < slot.heapKey) {
      slot.heapKey = expiry;
      this.siftUp(slot.heapIndex);
    }
    // A later expiry stays lazy: fixed when the stale key reaches the top.
  }

  private remove(slot: Slot<V>, reason: DeleteReason): void {
    if (slot.heapIndex >= 0) this.heapRemove(slot);
    this.slots.delete(slot.key);
    this.emit({ op: 'delete', table: this.name, kind: this.kind, key: slot.key, value: slot.value, seq: ++this.lastSeq, reason });
  }

  private emitSet(slot: Slot<V>, previous: V | undefined): void {
    slot.seq = ++this.lastSeq;
    slot.emittedExpiry = slot.expiresAt;
    this.emit({ op: 'set', table: this.name, kind: this.kind, key: slot.key, value: slot.value, previous, expiresAt: slot.expiresAt, seq: slot.seq });
  }

  private emit(event: TableEvent<V>): void {
    // The array is replaced on (un)subscribe, so this iteration is stable.
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        this.listenerFailures++;
        this.onListenerError?.(err, event);
      }
    }
  }

  private at(i: number): Slot<V> {
    // Callers only pass indices inside the heap.
    return this.heap[i] as Slot<V>;
  }

  private place(slot: Slot<V>, i: number): void {
    this.heap[i] = slot;
    slot.heapIndex = i;
  }

  private heapRemove(slot: Slot<V>): void {
    const i = slot.heapIndex;
    const last = this.heap.pop() as Slot<V>;
    slot.heapIndex = -1;
    if (last === slot) return;
    this.place(last, i);
    this.siftUp(i);
    this.siftDown(last.heapIndex);
  }

  private siftUp(i: number): void {
    const slot = this.at(i);
    while (i > 0) {
      const parentIndex = (i - 1) >> 1;
      const parent = this.at(parentIndex);
      if (parent.heapKey <= slot.heapKey) break;
      this.place(parent, i);
      i = parentIndex;
    }
    this.place(slot, i);
  }

  private siftDown(i: number): void {
    const n = this.heap.length;
    const slot = this.at(i);
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      let child = left;
      if (right < n && this.at(right).heapKey < this.at(left).heapKey) child = right;
      const c = this.at(child);
      if (c.heapKey >= slot.heapKey) break;
      this.place(c, i);
      i = child;
    }
    this.place(slot, i);
  }
}
