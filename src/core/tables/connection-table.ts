/**
 * Open TCP connections (and HTTP backend connections), keyed by connection id. An
 * entry never expires: it is set once at open and deleted at close, so replication
 * sees exactly two events per connection. Byte counters live in the entry and are
 * updated in place without events (a replica learns the totals it needs from metrics,
 * not from the table stream).
 */
import { ExpiringTable, type TableEntry } from './expiring-table.js';
import { TypedTable } from './typed-table.js';

export interface ConnectionEntry {
  readonly clientIp: string;
  readonly clientPort: number;
  readonly pool: string;
  readonly backend: string;
  /** Monotonic ms on the node that accepted the connection. */
  readonly startedAt: number;
  /**
   * Set when the connection came by replication (its TCP session lives on another
   * node): its load was counted without metrics, so its end is accounted the same way.
   */
  readonly replicated?: true;
  /** Client -> backend. */
  bytesIn: number;
  /** Backend -> client. */
  bytesOut: number;
}

export interface ConnectionInfo {
  readonly clientIp: string;
  readonly clientPort: number;
  readonly pool: string;
  readonly backend: string;
}

export class ConnectionTable extends TypedTable<ConnectionEntry> {
  constructor(opts: { name: string; maxEntries?: number }) {
    // Admission limits (max_connections) decide who gets in; a full table refuses
    // rather than silently dropping the record of a live connection.
    super(
      new ExpiringTable<ConnectionEntry>({
        name: opts.name,
        kind: 'connections',
        whenFull: 'refuse',
        ...(opts.maxEntries !== undefined ? { maxEntries: opts.maxEntries } : {}),
      }),
    );
  }

  /**
   * Record a new connection. The returned entry is live: hold it and bump its counters
   * directly on the hot path. Undefined when the id is already open or the table is full.
   */
  open(id: string, info: ConnectionInfo, now: number): ConnectionEntry | undefined {
    if (this.table.peek(id) !== undefined) return undefined;
    const entry: ConnectionEntry = {
      clientIp: info.clientIp,
      clientPort: info.clientPort,
      pool: info.pool,
      backend: info.backend,
      startedAt: now,
      bytesIn: 0,
      bytesOut: 0,
    };
    return this.table.set(id, entry, now, null) ? entry : undefined;
  }

  /**
   * Install (or overwrite) a connection that came by replication; `ageMs` rebuilds
   * startedAt on this node's clock. Undefined only when the table is full.
   */
  restore(id: string, info: ConnectionInfo, now: number, ageMs: number): ConnectionEntry | undefined {
    const entry: ConnectionEntry = {
      clientIp: info.clientIp,
      clientPort: info.clientPort,
      pool: info.pool,
      backend: info.backend,
      startedAt: now - ageMs,
      replicated: true,
      bytesIn: 0,
      bytesOut: 0,
    };
    return this.table.set(id, entry, now, null) ? entry : undefined;
  }

  get(id: string): ConnectionEntry | undefined {
    return this.table.peek(id);
  }

  /** Count bytes on an open connection; false when the id is unknown. */
  addBytes(id: string, direction: 'to_backend' | 'to_client', n: number): boolean {
    const entry = this.table.peek(id);
    if (entry === undefined) return false;
    if (direction === 'to_backend') entry.bytesIn += n;
    else entry.bytesOut += n;
    return true;
  }

  /** Forget a closed connection; returns its final entry. Idempotent. */
  close(id: string, now: number): ConnectionEntry | undefined {
    const entry = this.table.peek(id);
    if (entry === undefined) return undefined;
    this.table.delete(id, now);
    return entry;
  }

  entries(): IterableIterator<TableEntry<ConnectionEntry>> {
    return this.table.entries();
  }
}
