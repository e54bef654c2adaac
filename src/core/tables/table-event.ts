/**
 * Every change to a table is one event, so replication can stream tables without
 * touching the proxies. Expiry is absolute (monotonic ms of the node that made it);
 * replication converts it to a remaining TTL on the wire.
 */
export type TableKind = 'connections' | 'udp_flows' | 'persist_source' | 'persist_cookie';

export type TableEvent<V = unknown> =
  | {
      readonly op: 'set';
      readonly table: string;
      readonly kind: TableKind;
      readonly key: string;
      readonly value: V;
      /** The value this set replaced (undefined: a new key); digests need it to stay incremental. */
      readonly previous: V | undefined;
      readonly expiresAt: number | null;
      readonly seq: number;
    }
  | { readonly op: 'delete'; readonly table: string; readonly kind: TableKind; readonly key: string; readonly value: V; readonly seq: number; readonly reason: DeleteReason };

/** removed: on purpose; expired: past its expiry; evicted: live, but dropped to make room in a full table. */
export type DeleteReason = 'removed' | 'expired' | 'evicted';

export type TableListener<V = unknown> = (event: TableEvent<V>) => void;
