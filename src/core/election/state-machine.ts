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
import { DEFAULT_DOWN_ADVERTS, RFC_SKEW_REFERENCE, masterDownInterval, skewTime, type SkewMode } from './timers.js';

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

  // BACKUP: Master_Down_Timer = #downBase + (Master_Down_Interval or Skew_Time), derived
  // on demand so a priority change re-times a running timer.
  #masterAdverIntervalMs: number;
  #downBase = 0;
  #downKind: 'interval' | 'skew' | 'lost' = 'interval';
  #zeroFrom: string | undefined;
  #lostCause: string | undefined;
  #master: KnownMaster | undefined;
  /** Last lower-priority advert we discarded in order to preempt its sender. */
  #ignored: KnownMaster | undefined;
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
    this.#masterAdverIntervalMs = opts.intervalMs;
    this.downAdverts = downAdverts;
    if (opts.skew !== undefined && opts.skew !== 'rfc' && opts.skew !== 'relative') throw new RangeError(`skew must be 'rfc' or 'relative', got ${String(opts.skew)}`);
    this.skew = opts.skew ?? 'rfc';
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
    const due = this.#state === 'MASTER' ? this.#advertAt : this.#state === 'BACKUP' ? this.#downAt() : undefined;
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
      master: this.#master === undefined ? undefined : { ...this.#master },
      masterAdverIntervalMs: this.#masterAdverIntervalMs,
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
    if (this.#state === 'BACKUP' && now >= this.#downAt()) out.push(...this.#takeOver(now));
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

  /**
   * Not in RFC 5798: a hint that the followed master's process died. One more advert
   * interval plus Skew_Time lets a master that is in fact alive prove it (its next advert
   * restarts Master_Down_Timer as 6.4.2 says); a dead one is taken over well before
   * Master_Down_Interval.
   */
  #onMasterLost(nodeId: unknown, cause: unknown, now: number): ElectionAction[] {
    if (typeof nodeId !== 'string' || typeof cause !== 'string') {
      this.#dropped.invalid += 1;
      return [];
    }
    if (this.#state !== 'BACKUP' || this.#master?.nodeId !== nodeId) return [];
    const length = this.#masterAdverIntervalMs + this.#skewTime();
    if (now + length < this.#downAt()) {
      this.#downBase = now;
      this.#downKind = 'lost';
      this.#lostCause = cause;
    }
    return [];
  }

  /** RFC 5798 6.4.2, Backup receiving an ADVERTISEMENT. */
  #backupAdvert(e: AdvertEvent, now: number): ElectionAction[] {
    if (e.priority === 0) {
      // The master is leaving: wait Skew_Time only, unless the timer would fire sooner anyway.
      if (now + this.#skewTime() < this.#downAt()) {
        this.#downBase = now;
        this.#downKind = 'skew';
        this.#zeroFrom = e.from.nodeId;
      }
      return [];
    }
    if (!this.#wouldPreempt(e.priority)) {
      this.#preemptSince = undefined;
    } else {
      this.#preemptSince ??= now;
      if (now - this.#preemptSince >= this.#prio.preemptDelayMs) {
        // Discard it, so Master_Down_Timer runs out and we take over.
        this.#ignored = toKnown(e, now);
        return [];
      }
      // Still inside preempt_delay: follow this master like any other.
    }
    this.#follow(toKnown(e, now));
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
    let cause: string;
    const ignored = this.#ignored;
    if (ignored !== undefined && ignored.at >= this.#downBase) {
      cause = `preempt: higher priority ${this.priority} > ${ignored.priority} of ${ignored.nodeId}${this.#prio.why()}`;
    } else if (this.#downKind === 'skew') {
      cause = `priority 0 from ${this.#zeroFrom ?? 'unknown'}`;
    } else if (this.#downKind === 'lost' && this.#master !== undefined) {
      cause = `master down: no advert for ${formatMs(now - this.#master.at)} ms (last from ${this.#master.nodeId}) after ${this.#lostCause ?? 'a sign it died'}`;
    } else {
      const last = this.#master === undefined ? '' : ` (last from ${this.#master.nodeId})`;
      cause = `master down: no advert for ${formatMs(now - this.#downBase)} ms${last}`;
    }
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
    // Also resets Master_Adver_Interval to ours (RFC 5798 6.4.1) until a master tells us its own.
    this.#clearBackup();
    this.#downBase = now;
    if (master !== undefined) this.#follow(master);
    return become;
  }

  /** Accept an advert (RFC 5798 6.4.2): learn its interval and restart Master_Down_Timer from it. */
  #follow(m: KnownMaster): void {
    this.#master = m;
    this.#masterAdverIntervalMs = m.intervalMs;
    this.#downBase = m.at;
    this.#downKind = 'interval';
    this.#zeroFrom = undefined;
    this.#lostCause = undefined;
    this.#ignored = undefined;
  }

  /**
   * Priority or synced changed while BACKUP. If we were letting a live lower-priority
   * master's timer run out and may no longer preempt it, follow it from its last advert
   * as if we had accepted it then; otherwise the timer would fire on a live master.
   */
  #reassessPreempt(): void {
    const ignored = this.#ignored;
    if (ignored !== undefined && ignored.at >= this.#downBase && !this.#wouldPreempt(ignored.priority)) {
      this.#follow(ignored);
    }
    if (this.#master !== undefined && !this.#wouldPreempt(this.#master.priority)) this.#preemptSince = undefined;
  }

  #wouldPreempt(theirPriority: number): boolean {
    return this.#prio.preempts(theirPriority, this.#synced && this.#notReady === undefined);
  }

  #downAt(): number {
    const skew = this.#skewTime();
    const length =
      this.#downKind === 'skew'
        ? skew
        : this.#downKind === 'lost'
          ? this.#masterAdverIntervalMs + skew
          : masterDownInterval(this.priority, this.#masterAdverIntervalMs, this.downAdverts, this.#skewReference());
    return this.#downBase + length;
  }

  #skewTime(): number {
    return skewTime(this.priority, this.#masterAdverIntervalMs, this.#skewReference());
  }

  /**
   * RFC 5798 measures Skew_Time from 256. Relative skew measures it from the priority of
   * the master whose adverts the timer is counting (followed, or ignored to preempt it):
   * every backup hears the same master, so the gaps between them, which decide who fires
   * first, are the RFC's, and the offset they all shared is gone. Backups at or above
   * that priority wait no skew and may collide; the master-vs-master rule (6.4.3) settles
   * it, as it does for equal priorities. With no master heard yet, the RFC's 256.
   */
  #skewReference(): number {
    if (this.skew === 'rfc') return RFC_SKEW_REFERENCE;
    const p = this.#master?.priority ?? this.#ignored?.priority;
    return p !== undefined && p >= 1 && p <= 255 ? p : RFC_SKEW_REFERENCE;
  }

  #clearBackup(): void {
    this.#master = undefined;
    this.#ignored = undefined;
    this.#preemptSince = undefined;
    this.#zeroFrom = undefined;
    this.#lostCause = undefined;
    this.#downKind = 'interval';
    this.#masterAdverIntervalMs = this.intervalMs;
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

function formatMs(ms: number): string {
  return String(Math.round(ms * 10) / 10);
}
