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
 */

import { ipv4ToUint32 } from './advert.js';

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
  | { type: 'priority'; priority: number }
  | { type: 'synced'; synced: boolean }
  | { type: 'ready'; ready: boolean; reason?: string }
  | { type: 'shutdown' };

export type ElectionAction =
  | { type: 'become'; from: ElectionState; state: ElectionState; cause: string; degraded: boolean }
  | { type: 'send_advert'; priority: number; synced: boolean }
  | { type: 'add_vip' }
  | { type: 'remove_vip' }
  | { type: 'garp'; reason: string };

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
  priority: number;
  synced: boolean;
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
