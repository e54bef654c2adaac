/**
 * The VRRP-like election of one node, as a pure state machine (RFC 5798 section 6.4,
 * plus keepalived's preempt_delay and halo's "not synced" rule).
 *
 * It does no I/O and keeps no timers: the driver feeds it events with the current
 * monotonic time, carries out the returned actions in order, and after every step
 * arms one timer for `nextDeadline()`, at which it calls `step({ type: 'timer' }, now)`.
 * A timer event before the deadline is harmless (nothing happens), so the driver
 * may wake early. The events and actions are listed in election-types.ts.
 *
 * Ordering: higher priority wins; at equal priority the higher IPv4 address wins, and
 * at equal address (a misconfiguration) the greater node id, so that both sides of a
 * conflict always agree on who stays master.
 */

import type {
  AdvertSender,
  ElectionAction,
  ElectionEvent,
  ElectionOptions,
  ElectionState,
  ElectionStatus,
  KnownMaster,
} from './election-types.js';
import { HOLD_PRIORITY, isValidAdvert, toKnown } from './election-types.js';
import { ipv4ToUint32 } from './advert.js';
import { PriorityState } from './priority-state.js';
import { MasterDownTimer } from './master-down-timer.js';
import { DEFAULT_DOWN_ADVERTS, masterDownInterval, type SkewMode } from './timers.js';

export type * from './election-types.js';

type AdvertEvent = Extract<ElectionEvent, { type: 'advert' }>;

export class ElectionStateMachine {
  readonly nodeId: string;
  readonly address: string;
  readonly intervalMs: number;
  readonly downAdverts: number;
  readonly skew: SkewMode;

  readonly #addr: number;
  #state: ElectionState = 'INIT';
  readonly #prio: PriorityState;
  #synced: boolean;
  #notReady: string | undefined;
  #faultReason: string | undefined;
  #lastNow = Number.NEGATIVE_INFINITY;
  readonly #dropped = { own: 0, invalid: 0 };

  // MASTER
  #advertAt = 0;

  // BACKUP
  readonly #timer: MasterDownTimer;
  /** When we first became willing to preempt the current lower-priority master. */
  #preemptSince: number | undefined;

  constructor(opts: ElectionOptions) {
    if (typeof opts.nodeId !== 'string' || opts.nodeId === '') throw new RangeError('nodeId must be a non-empty string');
    const addr = ipv4ToUint32(opts.address);
    if (addr === undefined) throw new RangeError(`address must be a dotted IPv4 address, got ${String(opts.address)}`);
    this.#prio = new PriorityState({ priority: opts.priority, preempt: opts.preempt ?? true, preemptDelayMs: opts.preemptDelayMs ?? 0 });
    const downAdverts = opts.downAdverts ?? DEFAULT_DOWN_ADVERTS;
    // Validates intervalMs and downAdverts with the same rules the timers use.
    masterDownInterval(opts.priority, opts.intervalMs, downAdverts);

    this.nodeId = opts.nodeId;
    this.address = opts.address;
    this.#addr = addr;
    this.intervalMs = opts.intervalMs;
    this.downAdverts = downAdverts;
    if (opts.skew !== undefined && opts.skew !== 'rfc' && opts.skew !== 'relative') throw new RangeError(`skew must be 'rfc' or 'relative', got ${String(opts.skew)}`);
    this.skew = opts.skew ?? 'rfc';
    this.#timer = new MasterDownTimer({ intervalMs: opts.intervalMs, downAdverts, skew: this.skew });
    this.#synced = opts.synced ?? true;
  }

  get state(): ElectionState {
    return this.#state;
  }

  /** What we advertise: the tracked priority, or HOLD_PRIORITY while held out after a handover. */
  get priority(): number {
    return this.#prio.advertised;
  }

  get synced(): boolean {
    return this.#synced;
  }

  /** The earliest time the machine needs a timer event, or undefined if it needs none. */
  nextDeadline(): number | undefined {
    const due = this.#state === 'MASTER' ? this.#advertAt : this.#state === 'BACKUP' ? this.#timer.deadline(this.priority) : undefined;
    const hold = this.#prio.hold;
    return due === undefined || hold === undefined ? due : Math.min(due, hold.until);
  }

  status(): ElectionStatus {
    return {
      state: this.#state,
      nodeId: this.nodeId,
      configuredPriority: this.#prio.configured,
      priority: this.priority,
      synced: this.#synced,
      hold: this.#prio.hold,
      notReady: this.#notReady,
      faultReason: this.#faultReason,
      master: this.#timer.master === undefined ? undefined : { ...this.#timer.master },
      masterAdverIntervalMs: this.#timer.adverIntervalMs,
      nextDeadline: this.nextDeadline(),
      dropped: { ...this.#dropped },
    };
  }

  step(event: ElectionEvent, now: number): ElectionAction[] {
    if (!Number.isFinite(now)) throw new RangeError(`now must be a finite number, got ${now}`);
    // The clock is monotonic; if a driver ever feeds an older time, deadlines must not move back.
    now = Math.max(now, this.#lastNow);
    this.#lastNow = now;
    // Events can arrive from another thread as plain objects, so nothing here trusts the type.
    switch (event?.type) {
      case 'start':
        return this.#onStart(now);
      case 'advert':
        return this.#onAdvert(event, now);
      case 'timer':
        return this.#onTimer(now);
      case 'fault':
        return this.#onFault(event.reason);
      case 'recover':
        return this.#onRecover(now);
      case 'priority':
        return this.#onPriority(event.priority, event.cause, now);
      case 'synced':
        return this.#onSynced(event.synced);
      case 'ready':
        return this.#onReady(event.ready, event.reason);
      case 'shutdown':
        return this.#onShutdown();
      case 'handover':
        return this.#onHandover(event.holdMs, event.cause, now);
      case 'master_lost':
        return this.#onMasterLost(event.nodeId, event.cause, now);
      case 'release':
        return this.#prio.hold === undefined ? [] : this.#endHold(now, typeof event.cause === 'string' ? event.cause : 'released');
      case 'configure':
        if (!this.#prio.configure(event)) this.#dropped.invalid += 1;
        else if (this.#state === 'BACKUP') this.#reassessPreempt();
        return [];
      default:
        this.#dropped.invalid += 1;
        return [];
    }
  }

  #onStart(now: number): ElectionAction[] {
    if (this.#state !== 'INIT') return [];
    // RFC 5798 6.4.1 goes straight to Master at priority 255; halo never uses 255.
    if (this.#faultReason !== undefined) return [this.#become('FAULT', `fault: ${this.#faultReason}`)];
    return [this.#enterBackup(now, 'start')];
  }

  #onTimer(now: number): ElectionAction[] {
    const hold = this.#prio.expired(now);
    const out = hold !== undefined ? this.#endHold(now, `hold expired (${hold.cause})`) : [];
    if (this.#state === 'MASTER' && now >= this.#advertAt) {
      // From now, not from the old deadline: after a stall one advert is enough, not a burst.
      this.#advertAt = now + this.intervalMs;
      out.push(this.#advert());
    }
    if (this.#state === 'BACKUP' && now >= this.#timer.deadline(this.priority)) out.push(...this.#takeOver(now));
    return out;
  }

  #onAdvert(e: AdvertEvent, now: number): ElectionAction[] {
    if (!isValidAdvert(e)) {
      this.#dropped.invalid += 1;
      return [];
    }
    // Our own advert looped back by multicast.
    if (e.from.nodeId === this.nodeId) {
      this.#dropped.own += 1;
      return [];
    }
    if (this.#state === 'BACKUP') return this.#backupAdvert(e, now);
    if (this.#state === 'MASTER') return this.#masterAdvert(e, now);
    return [];
  }

  /** Not in RFC 5798: a hint that the followed master's process died (MasterDownTimer.masterLost). */
  #onMasterLost(nodeId: unknown, cause: unknown, now: number): ElectionAction[] {
    if (typeof nodeId !== 'string' || typeof cause !== 'string') {
      this.#dropped.invalid += 1;
      return [];
    }
    if (this.#state === 'BACKUP' && this.#timer.master?.nodeId === nodeId) this.#timer.masterLost(now, this.priority, cause);
    return [];
  }

  /** RFC 5798 6.4.2, Backup receiving an ADVERTISEMENT. */
  #backupAdvert(e: AdvertEvent, now: number): ElectionAction[] {
    if (e.priority === 0) {
      this.#timer.masterLeaving(now, this.priority, e.from.nodeId);
      return [];
    }
    if (!this.#wouldPreempt(e.priority)) {
      this.#preemptSince = undefined;
    } else {
      this.#preemptSince ??= now;
      if (now - this.#preemptSince >= this.#prio.preemptDelayMs) {
        // Discard it, so Master_Down_Timer runs out and we take over.
        this.#timer.ignore(toKnown(e, now));
        return [];
      }
      // Still inside preempt_delay: follow this master like any other.
    }
    this.#timer.follow(toKnown(e, now));
    return [];
  }

  /** RFC 5798 6.4.3, Master receiving an ADVERTISEMENT. */
  #masterAdvert(e: AdvertEvent, now: number): ElectionAction[] {
    if (e.priority === 0) {
      // Another master is leaving: re-announce at once so backups and ARP caches settle on us.
      this.#advertAt = now + this.intervalMs;
      return [this.#advert(), { type: 'garp', reason: `priority 0 from ${e.from.nodeId}` }];
    }
    const ours = this.priority;
    let cause: string | undefined;
    if (e.priority > ours) {
      cause = `higher priority ${e.priority} > ${ours} from ${e.from.nodeId}${this.#prio.why()}`;
    } else if (e.priority === ours && this.#compareTo(e.from) < 0) {
      cause = `equal priority ${ours}, higher address ${e.from.address} > ${this.address} from ${e.from.nodeId}`;
    }
    if (cause !== undefined) {
      const become = this.#enterBackup(now, cause, toKnown(e, now));
      // Priority 0 says "I am no longer master" (as on shutdown). If the winner's advert
      // reached us before ours reached it, this is the only way it learns of the split brain,
      // and its 6.4.3 answer (advert + GARP) fixes the ARP caches we pointed at us.
      return [become, this.#advert(0), { type: 'remove_vip' }];
    }
    // Split brain healing: the other master will step down on our advert, and the GARP fixes
    // the ARP caches it poisoned (keepalived leaves them stale for minutes).
    this.#advertAt = now + this.intervalMs;
    return [this.#advert(), { type: 'garp', reason: `outranked master ${e.from.nodeId} (priority ${e.priority}) heard` }];
  }

  #onFault(reason: unknown): ElectionAction[] {
    const text = typeof reason === 'string' && reason !== '' ? reason : 'unspecified';
    this.#faultReason = text;
    const from = this.#state;
    if (from === 'INIT' || from === 'FAULT') return [];
    const become = this.#become('FAULT', `fault: ${text}`);
    this.#clearBackup();
    // A faulted master says so with priority 0, so backups take over in Skew_Time.
    return from === 'MASTER' ? [become, this.#advert(0), { type: 'remove_vip' }] : [become];
  }

  #onRecover(now: number): ElectionAction[] {
    const reason = this.#faultReason;
    if (reason === undefined) return [];
    this.#faultReason = undefined;
    if (this.#state !== 'FAULT') return [];
    return [this.#enterBackup(now, `recovered from fault: ${reason}`)];
  }

  #onPriority(priority: unknown, cause: unknown, now: number): ElectionAction[] {
    if (typeof priority !== 'number' || !Number.isInteger(priority)) {
      this.#dropped.invalid += 1;
      return [];
    }
    if (!this.#prio.setTracked(priority, cause)) return [];
    if (this.#state === 'MASTER') {
      // Tell backups now rather than at the next interval, so a better one can preempt sooner.
      this.#advertAt = now + this.intervalMs;
      return [this.#advert()];
    }
    if (this.#state === 'BACKUP') this.#reassessPreempt();
    return [];
  }

  #onSynced(synced: unknown): ElectionAction[] {
    if (typeof synced !== 'boolean') {
      this.#dropped.invalid += 1;
      return [];
    }
    this.#synced = synced;
    if (this.#state === 'BACKUP') this.#reassessPreempt();
    return [];
  }

  #onReady(ready: unknown, reason: unknown): ElectionAction[] {
    if (typeof ready !== 'boolean') {
      this.#dropped.invalid += 1;
      return [];
    }
    this.#notReady = ready ? undefined : typeof reason === 'string' && reason !== '' ? reason : 'not ready';
    if (this.#state === 'BACKUP') this.#reassessPreempt();
    return [];
  }

  #onShutdown(): ElectionAction[] {
    const from = this.#state;
    if (from === 'INIT') return [];
    const become = this.#become('INIT', 'shutdown');
    this.#clearBackup();
    // The priority 0 advert goes first: it starts the backups' Skew_Time while we drop the VIP.
    return from === 'MASTER' ? [become, this.#advert(0), { type: 'remove_vip' }] : [become];
  }

  /** `halo failover`: RFC 5798 6.4.3's Shutdown (priority 0: Skew_Time, 6.4.2), but to Backup, then held out. */
  #onHandover(holdMs: unknown, cause: unknown, now: number): ElectionAction[] {
    if (typeof holdMs !== 'number' || !Number.isFinite(holdMs) || holdMs < 0) {
      this.#dropped.invalid += 1;
      return [];
    }
    if (this.#state !== 'MASTER') return [];
    const why = typeof cause === 'string' && cause !== '' ? cause : 'planned handover';
    this.#prio.holdFor(now, holdMs, why);
    const become = this.#enterBackup(now, `handover: ${why}`);
    return [become, this.#advert(0), { type: 'remove_vip', handover: true }];
  }

  #endHold(now: number, cause: string): ElectionAction[] {
    this.#prio.endHold(cause);
    const out: ElectionAction[] = [{ type: 'note', event: 'hold_released', cause }];
    if (this.#state === 'MASTER') {
      // A last-resort master advertises its real priority again at once.
      this.#advertAt = now + this.intervalMs;
      out.push(this.#advert());
    } else if (this.#state === 'BACKUP') {
      this.#reassessPreempt();
    }
    return out;
  }

  /** Master_Down_Timer fired: RFC 5798 6.4.2 "transition to the Master state". */
  #takeOver(now: number): ElectionAction[] {
    const ignored = this.#timer.ignoredSinceRestart;
    let cause =
      ignored !== undefined ? `preempt: higher priority ${this.priority} > ${ignored.priority} of ${ignored.nodeId}${this.#prio.why()}` : this.#timer.expiryCause(now);
    const degraded = !this.#synced || this.#notReady !== undefined;
    if (!this.#synced) cause += '; tables not synced';
    if (this.#notReady !== undefined) cause += `; data plane not ready: ${this.#notReady}`;
    const held = this.#prio.hold;
    if (held !== undefined) cause += `; held out (${held.cause}): priority ${HOLD_PRIORITY}, last resort`;
    const become = this.#become('MASTER', cause, degraded);
    this.#clearBackup();
    this.#advertAt = now + this.intervalMs;
    return [become, this.#advert(), { type: 'add_vip' }, { type: 'garp', reason: 'became master' }];
  }

  #enterBackup(now: number, cause: string, master?: KnownMaster): ElectionAction {
    const become = this.#become('BACKUP', cause);
    this.#preemptSince = undefined;
    // Also resets Master_Adver_Interval to ours (RFC 5798 6.4.1) until a master tells us its own.
    this.#timer.restart(now);
    if (master !== undefined) this.#timer.follow(master);
    return become;
  }

  /**
   * Priority or synced changed while BACKUP. If we were letting a live lower-priority
   * master's timer run out and may no longer preempt it, follow it from its last advert
   * as if we had accepted it then; otherwise the timer would fire on a live master.
   */
  #reassessPreempt(): void {
    const ignored = this.#timer.ignoredSinceRestart;
    if (ignored !== undefined && !this.#wouldPreempt(ignored.priority)) this.#timer.follow(ignored);
    const master = this.#timer.master;
    if (master !== undefined && !this.#wouldPreempt(master.priority)) this.#preemptSince = undefined;
  }

  #wouldPreempt(theirPriority: number): boolean {
    return this.#prio.preempts(theirPriority, this.#synced && this.#notReady === undefined);
  }

  #clearBackup(): void {
    this.#timer.clear();
    this.#preemptSince = undefined;
  }

  #become(state: ElectionState, cause: string, degraded = false): ElectionAction {
    const from = this.#state;
    this.#state = state;
    this.#prio.forgetCause();
    return { type: 'become', from, state, cause, degraded };
  }

  #advert(priority: number = this.priority): ElectionAction {
    return { type: 'send_advert', priority, synced: this.#synced };
  }

  /** < 0 when the sender outranks us at equal priority. */
  #compareTo(other: AdvertSender): number {
    const theirs = ipv4ToUint32(other.address) ?? 0;
    if (theirs !== this.#addr) return this.#addr - theirs;
    return this.nodeId < other.nodeId ? -1 : this.nodeId > other.nodeId ? 1 : 0;
  }
}
