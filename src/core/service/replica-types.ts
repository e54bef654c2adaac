/**
 * The replica side's vocabulary. SourceTable, ApplyResult and ReplicaSink are the
 * stream's (src/core/replication/replication-source.ts), re-exported so the data plane
 * names one place; the role and status are the data plane's own.
 */
import type { ApplyResult } from '../replication/replication-source.js';

export type { ApplyResult, ReplicaSink, SourceTable } from '../replication/replication-source.js';

/**
 * standby: tables hold exactly what the master sent (no local expiry);
 * master: local expiry runs. standby -> master is the takeover.
 */
export type ReplicaRole = 'standby' | 'master';

export interface ReplicaStatus {
  readonly role: ReplicaRole;
  /** Records applied into this service's tables, by result. */
  readonly applied: Readonly<Record<ApplyResult, number>>;
  readonly ghosts: {
    /** Old master's connections still counted as load after a takeover. */
    readonly live: number;
    readonly endedByReconnect: number;
    readonly endedByTimeout: number;
    /** Ended because the tables were cleared for a snapshot (this node became a standby again). */
    readonly endedByClear: number;
  };
}
