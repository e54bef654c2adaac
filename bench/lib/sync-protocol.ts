/**
 * The IPC between bench/sync.ts and its two node processes (sync-node.ts): requests with
 * an id, one reply each, and a few unsolicited events. Times that cross processes are
 * nanoseconds of process.hrtime.bigint() (CLOCK_MONOTONIC, shared by every process on the
 * machine) minus a base the parent hands out, so they fit a double exactly.
 */

export type NodeRole = 'master' | 'standby';

export type Command =
  | {
      readonly type: 'init';
      readonly role: NodeRole;
      readonly name: string;
      /** Where it listens (every node does): 127.0.0.1 master, 127.0.0.2 standby, on the same port. */
      readonly address: string;
      readonly port: number;
      readonly keyHex: string;
      /** process.hrtime.bigint() base, as a decimal string. */
      readonly hrBase: string;
      readonly maxEntries: number;
      /** Lag samples this process may stamp (array size). */
      readonly sampleCapacity: number;
    }
  /** Master: the election made us master. */
  | { readonly type: 'elect' }
  /** Standby: the election names this master; timing starts now. */
  | { readonly type: 'follow'; readonly masterName: string; readonly masterAddress: string }
  | { readonly type: 'waitSynced'; readonly timeoutMs: number }
  /** Master: `rate` sets per second for `seconds`, every `sampleEvery`-th one a lag sample numbered from `sampleFrom`. */
  | { readonly type: 'load'; readonly rate: number; readonly seconds: number; readonly keySpace: number; readonly sampleEvery: number; readonly sampleFrom: number }
  /** Master: `count` new entries (fill keys from `from`), `batch` per event-loop turn. */
  | { readonly type: 'fill'; readonly from: number; readonly count: number; readonly batch: number }
  | { readonly type: 'counters' }
  | { readonly type: 'resetPhase' }
  /** Standby: apply times of samples [from, from + count). */
  | { readonly type: 'samples'; readonly from: number; readonly count: number }
  /** After two full GCs (node --expose-gc). */
  | { readonly type: 'memory' }
  /** Wait until the log has flushed everything queued (bounded). */
  | { readonly type: 'settle'; readonly timeoutMs: number }
  | { readonly type: 'stop' };

export interface Request {
  readonly id: number;
  readonly cmd: Command;
}

export interface SyncTiming {
  readonly followNs: number;
  /** Dial and handshake done (replication_connected). */
  readonly connectedNs: number;
  readonly syncedNs: number;
  /** Entries the standby's tables hold once synced. */
  readonly entries: number;
}

export interface LoadResult {
  readonly sets: number;
  readonly elapsedMs: number;
  /** Samples set, numbered sampleFrom..sampleFrom+samples-1, and their set times (ns). */
  readonly samples: number;
  readonly setNs: Float64Array;
  /** The log's seq once the last set was flushed: the standby has caught up when it applied it. */
  readonly seqAfter: number;
  /** Largest burst one timer turn had to issue (a sign of the event loop falling behind). */
  readonly maxBurst: number;
  readonly firstSetNs: number;
  readonly lastSetNs: number;
}

export interface Counters {
  /** Bytes written / read by every replication socket of this process, closed ones included. */
  readonly bytesWritten: number;
  readonly bytesRead: number;
  readonly cpuUserUs: number;
  readonly cpuSystemUs: number;
  /** Log events of the replication node, counted by name (cuts, snapshots, resets...). */
  readonly events: Readonly<Record<string, number>>;
  readonly logSeq: number;
  readonly appliedSeq: number | null;
  readonly applied: number;
  /** First and last apply since resetPhase (ns on the shared clock); 0 when none. */
  readonly firstApplyNs: number;
  readonly lastApplyNs: number;
  readonly entries: number;
  readonly synced: boolean;
  /** Event loop delay p99 / max (ms) since the last resetPhase. */
  readonly loopDelayP99Ms: number;
  readonly loopDelayMaxMs: number;
  /** Garbage collection pauses since the last resetPhase. */
  readonly gc: GcPauses;
}

export interface GcPauses {
  /** Scavenges (young generation). */
  minorCount: number;
  minorMs: number;
  minorMaxMs: number;
  /** Mark-compact and its incremental steps. */
  majorCount: number;
  majorMs: number;
  majorMaxMs: number;
}

export interface Memory {
  readonly heapUsed: number;
  readonly external: number;
  readonly arrayBuffers: number;
  readonly rss: number;
}

export type Reply = { readonly id: number; readonly ok: true; readonly result: unknown } | { readonly id: number; readonly ok: false; readonly error: string };

/** Unsolicited: a warning or error line of the node's log (for the parent's stderr). */
export interface LogEvent {
  readonly event: 'log';
  readonly line: string;
}

export type ChildMessage = Reply | LogEvent;
