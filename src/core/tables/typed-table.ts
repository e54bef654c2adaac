import type { ExpiringTable } from './expiring-table.js';
import type { TableKind, TableListener } from './table-event.js';

/**
 * What every typed table (connections, UDP flows, persistence) exposes of the
 * ExpiringTable it wraps: identity, size, the event sequence and the event stream that
 * replication reads.
 */
export abstract class TypedTable<V> {
  protected constructor(protected readonly table: ExpiringTable<V>) {}

  get name(): string {
    return this.table.name;
  }

  get kind(): TableKind {
    return this.table.kind;
  }

  get size(): number {
    return this.table.size;
  }

  get seq(): number {
    return this.table.seq;
  }

  onEvent(listener: TableListener<V>): () => void {
    return this.table.onEvent(listener);
  }
}
