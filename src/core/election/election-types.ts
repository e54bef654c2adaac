/**
 * The vocabulary of the election state machine (state-machine.ts).
 *
 * Events:
 *  - start                 INIT -> BACKUP (or FAULT if a fault is already reported)
 *  - advert                an authenticated advertisement from another node
 *                          (the codec has already checked HMAC, cluster and replay)
 *  - timer                 the deadline from nextDeadline() has been reached
 *  - fault / recover       tracking says the node cannot / can serve again
 *  - priority              the effective priority after tracking weights changed;
 *                          clamped to 1..254 like keepalived does
 *  - synced                whether our replicated tables are in step (issue 4)
 *  - ready                 whether our data plane can serve (every service has a healthy
 *                          backend); like `synced`, only gates preemption: a node that is
 *                          not ready never takes the VIP from a live master, but still
 *                          takes over from a dead one (marked degraded)
 *  - shutdown              planned stop: -> INIT, a master sends priority 0
 *  - handover              planned handover (`halo failover`): a master sends priority 0
 *                          and steps down to BACKUP (RFC 5798 6.4.3 with Backup instead of
 *                          Initialize), then is held out for holdMs: it advertises
 *                          HOLD_PRIORITY and never preempts, so it is every other node's
 *                          last resort; ignored unless MASTER
 *  - release               end the hold now (`halo failover --release`); it also ends by
 *                          itself after holdMs (a timer event) or with the process
 *  - configure             live election settings from a config reload: configured
 *                          priority (for status; the effective one still comes as a
 *                          `priority` event), preempt, preempt_delay; never a state change
 *                          by itself
 *
 * Actions (execute in the order returned):
 *  - become                a state change; `from`/`state` for notify hooks, `cause` is
 *                          one short line for the log, `degraded` is true when we took
 *                          the VIP with tables not in step. Informational: the driver
 *                          must not hold back the actions after it on hooks.
 *  - send_advert           send one advert now with this priority and synced flag;
 *                          priority 0 whenever we stop being master (shutdown, fault,
 *                          stepping down), so the others react at once
 *  - add_vip / remove_vip  idempotent VIP changes
 *  - garp                  (re-)announce the VIP with gratuitous ARP; `reason` for the log
 *  - note                  informational, for the log only (e.g. hold_released)
 *
 * remove_vip with `handover` set: a planned handover, the successor is not elected yet;
 * the driver keeps the VIP until it is heard (make-before-break), as on shutdown.
 */

import { ipv4ToUint32 } from './advert.js';
import type { SkewMode } from './timers.js';

export type ElectionState = 'INIT' | 'BACKUP' | 'MASTER' | 'FAULT';

export interface ElectionOptions {
  nodeId: string;
  /** Our IPv4 address, used only for the tie-break at equal priority. */
  address: string;
  /** Configured priority, 1..254 (255, the RFC's address owner, is not used by halo). */
  priority: number;
  /** Our advertisement interval in ms. */
  intervalMs: number;
  /** Missed adverts before a backup takes over (RFC 5798 fixes 3). */
  downAdverts?: number;
  /**
   * How Skew_Time is measured (timers.ts): 'rfc' from 256 (the default here, RFC 5798
   * 6.1), 'relative' from the priority of the master being timed (halo's config default).
   */
  skew?: SkewMode;
  /** Take over from a live master with a lower priority (default true). */
  preempt?: boolean;
  /** How long a lower-priority live master is tolerated before we preempt it (default 0). */
  preemptDelayMs?: number;
  /**
   * Whether our tables are in step at start (default true: with no replication there is
   * nothing to wait for). A driver with replication peers should start with false.
   */
  synced?: boolean;
}

export interface AdvertSender {
  nodeId: string;
  address: string;
}

export type ElectionEvent =
  | { type: 'start' }
  | { type: 'advert'; from: AdvertSender; priority: number; intervalMs: number; synced: boolean }
  | { type: 'timer' }
  | { type: 'fault'; reason: string }
  | { type: 'recover' }
  /** `cause` (e.g. "reload: priority 100 -> 200") is named by a preemption this change leads to. */
  | { type: 'priority'; priority: number; cause?: string }
  | { type: 'synced'; synced: boolean }
  | { type: 'ready'; ready: boolean; reason?: string }
  | { type: 'shutdown' }
  | { type: 'handover'; holdMs: number; cause: string }
  | { type: 'release'; cause: string }
  /**
   * A sign from outside the adverts that the master's process is gone (its replication
   * link closed without a close frame: the kernel closed the socket of a dead process).
   * A backup following that master then allows it one more advert interval (plus
   * Skew_Time) instead of the whole Master_Down_Interval; any advert from it cancels that.
   */
  | { type: 'master_lost'; nodeId: string; cause: string }
  | { type: 'configure'; priority: number; preempt: boolean; preemptDelayMs: number };

export type ElectionAction =
  | { type: 'become'; from: ElectionState; state: ElectionState; cause: string; degraded: boolean }
  | { type: 'send_advert'; priority: number; synced: boolean }
  | { type: 'add_vip' }
  | { type: 'remove_vip'; handover?: boolean }
  | { type: 'garp'; reason: string }
  | { type: 'note'; event: string; cause: string };

/** What a node held out after a handover advertises: above 0 (leaving), below any configured priority. */
export const HOLD_PRIORITY = 1;

/** A node held out of preemption after `halo failover`, until `until` (monotonic ms). */
export interface Hold {
  until: number;
  cause: string;
}

/** The master we follow (last advert we accepted as a backup). */
export interface KnownMaster {
  nodeId: string;
  address: string;
  priority: number;
  intervalMs: number;
  synced: boolean;
  /** When its last accepted advert arrived. */
  at: number;
}

export interface ElectionStatus {
  state: ElectionState;
  nodeId: string;
  configuredPriority: number;
  /** What we advertise: the tracked priority, or HOLD_PRIORITY while held. */
  priority: number;
  synced: boolean;
  /** Held out of preemption after a handover (absent or undefined: not held). */
  hold?: Hold | undefined;
  /** Why the data plane is not ready (undefined = ready). */
  notReady: string | undefined;
  faultReason: string | undefined;
  /** Set only while BACKUP. */
  master: KnownMaster | undefined;
  /** Master_Adver_Interval: the followed master's interval while BACKUP, ours otherwise. */
  masterAdverIntervalMs: number;
  nextDeadline: number | undefined;
  dropped: { own: number; invalid: number };
}

/** The master an accepted advert names, heard at `at`. */
export function toKnown(e: Extract<ElectionEvent, { type: 'advert' }>, at: number): KnownMaster {
  return { nodeId: e.from.nodeId, address: e.from.address, priority: e.priority, intervalMs: e.intervalMs, synced: e.synced, at };
}

/** Events may come from another thread as plain objects; check an advert before trusting it. */
export function isValidAdvert(e: Extract<ElectionEvent, { type: 'advert' }>): boolean {
  const from: unknown = e.from;
  if (typeof from !== 'object' || from === null) return false;
  const { nodeId, address } = from as Partial<AdvertSender>;
  return (
    typeof nodeId === 'string' &&
    nodeId !== '' &&
    ipv4ToUint32(address) !== undefined &&
    Number.isInteger(e.priority) &&
    e.priority >= 0 &&
    e.priority <= 255 &&
    Number.isFinite(e.intervalMs) &&
    e.intervalMs > 0 &&
    typeof e.synced === 'boolean'
  );
}
