/**
 * Persistence (stick) table: a client key (source IP, or a cookie) -> the backend it
 * sticks to, for ttlMs after its last use. Each use slides the expiry; a set event goes
 * out only when the expiry moved past the refresh threshold or the backend changed.
 * A full table evicts the entry closest to expiry (config: "oldest expire first").
 */
import { ExpiringTable, type TableEntry } from './expiring-table.js';
import { TypedTable } from './typed-table.js';

export interface PersistenceEntry {
  readonly pool: string;
  readonly backend: string;
}

export interface PersistenceTableOptions {
  readonly name: string;
  readonly kind: 'persist_source' | 'persist_cookie';
  readonly ttlMs: number;
  readonly maxEntries: number;
  /** Default ttlMs / 4. */
  readonly refreshMs?: number;
}

export class PersistenceTable extends TypedTable<PersistenceEntry> {
  readonly ttlMs: number;
  // A million clients stick to a handful of backends: share one frozen value per backend.
  private readonly targets = new Map<string, PersistenceEntry>();

  constructor(opts: PersistenceTableOptions) {
    super(
      new ExpiringTable<PersistenceEntry>({
        name: opts.name,
        kind: opts.kind,
        maxEntries: opts.maxEntries,
        whenFull: 'evict',
        refreshMs: opts.refreshMs ?? opts.ttlMs / 4,
      }),
    );
    this.ttlMs = opts.ttlMs;
  }

  lookup(key: string, now: number): PersistenceEntry | undefined {
    return this.table.get(key, now);
  }

  /**
   * Stick `key` to a backend for ttlMs from now. Same backend as before: the expiry
   * slides (event only past the refresh threshold). New key or another backend: a set
   * event. False only if the table could not make room.
   */
  stick(key: string, pool: string, backend: string, now: number): boolean {
    const current = this.table.get(key, now);
    if (current !== undefined && current.pool === pool && current.backend === backend) {
      this.table.touch(key, now, this.ttlMs);
      return true;
    }
    return this.table.set(key, this.target(pool, backend), now, this.ttlMs);
  }

  /**
   * Install an entry that came by replication: `ttlMs` is what the master had left plus
   * the caller's grace (null: no expiry). Unlike stick(), always a set event, so the
   * replica's own log and digests see exactly what was applied.
   */
  restore(key: string, pool: string, backend: string, now: number, ttlMs: number | null): boolean {
    return this.table.set(key, this.target(pool, backend), now, ttlMs);
  }

  forget(key: string, now: number): boolean {
    return this.table.delete(key, now);
  }

  expire(now: number, limit?: number): string[] {
    return this.table.expire(now, limit);
  }

  entries(now?: number): IterableIterator<TableEntry<PersistenceEntry>> {
    return this.table.entries(now);
  }

  private target(pool: string, backend: string): PersistenceEntry {
    // '/' cannot occur in pool or backend names (config NAME pattern).
    const id = `${pool}/${backend}`;
    let entry = this.targets.get(id);
    if (entry === undefined) {
      entry = Object.freeze({ pool, backend });
      this.targets.set(id, entry);
    }
    return entry;
  }
}
