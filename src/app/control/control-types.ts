/**
 * The operator's requests to a running node (`halo reload`, `halo failover`, SIGHUP) and
 * their answers, the same whichever way they arrive: the control socket today, the admin
 * API's POST /reload and POST /failover, the election worker's control message.
 */

/** ok false: nothing was changed (a refused reload), or the request could not be met. */
export interface ControlResult {
  ok: boolean;
  /** One or more lines for the operator; a refusal lists every problem. */
  message: string;
}

export interface FailoverOptions {
  /** How long the old master keeps out of preemption; default DEFAULT_HOLD_MS. */
  holdMs?: number;
  /** End a hold now instead (`halo failover --release`). */
  release?: boolean;
}

/** What the control socket and the admin API call. */
export interface NodeControlHandlers {
  reload(): Promise<ControlResult>;
  failover(opts: FailoverOptions): Promise<ControlResult>;
}

/** One hour: long enough for maintenance, short enough that a forgotten hold ends by itself. */
export const DEFAULT_HOLD_MS = 3_600_000;
/** A week: beyond that, restart the node with a lower priority instead. */
export const MAX_HOLD_MS = 7 * 24 * 3_600_000;
