/**
 * Messages between the data plane (main thread) and the election worker. Plain objects
 * only: they cross a structured-clone boundary.
 */
import type { ClusterConfig } from '../../config/cluster-schema.js';
import type { LogEntry, LogFormat, LogLevel } from '../../adapters/logger.js';
import type { ElectionNodeStatus } from './election-node.js';
import type { ControlResult } from '../control/control-types.js';
import type { WorkerControlRequest } from './worker-control.js';

export interface ElectionWorkerData {
  cluster: ClusterConfig;
  nodeName: string;
  logLevel: LogLevel;
  logFormat: LogFormat;
  /** False when replication runs: the node must not preempt before it has the master's tables. */
  startSynced: boolean;
}

export type ToWorker =
  /** The data plane's event loop is alive. */
  | { type: 'tick' }
  /** A tracked service gained or lost its last healthy backend. */
  | { type: 'service'; name: string; healthy: boolean }
  /** Replication: this node's tables are (not) in step with the master's (the advert flag). */
  | { type: 'synced'; synced: boolean; cause: string }
  /** The followed master's process looks dead (its replication link closed without a close frame). */
  | { type: 'master_lost'; nodeId: string; cause: string }
  /** Answer to `verify`. */
  | { type: 'verified'; ok: boolean; cause: string }
  /** Planned stop: release the VIP, send priority 0, run the stop hook. */
  | { type: 'shutdown'; cause: string }
  /** An operator's request (failover, release, reload); answered by `control_result` with the same id. */
  | { type: 'control'; id: number; request: WorkerControlRequest };

export type FromWorker =
  | { type: 'ready'; status: ElectionNodeStatus }
  | { type: 'status'; status: ElectionNodeStatus }
  | { type: 'stopped' }
  /** Check now that every service reaches a backend, and answer with `verified`. */
  | { type: 'verify'; timeoutMs: number }
  | { type: 'fatal'; code: string; message: string }
  | { type: 'control_result'; id: number; result: ControlResult }
  /** One of the worker's log lines (already on stdout), for the admin API's event stream. */
  | { type: 'log'; entry: LogEntry };
