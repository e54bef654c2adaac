/**
 * The election driver of one node: feeds the pure state machine (core/election) with
 * adverts, timers and tracking events, and carries out its actions with the adapters
 * (advert transport, VIP, notify hooks). Runs inside the election worker, away from the
 * data plane's event loop (design.md section 3, "Isolation").
 *
 * Ordering: adverts go out synchronously the moment the machine asks; VIP changes and
 * GARPs run one after another on a queue, so "add, garp, remove" always lands in that
 * order however fast the states flip; notify hooks have their own queue and never hold
 * up either.
 */
import type { Clock } from '../../core/clock.js';
import { ElectionStateMachine, type ElectionAction, type ElectionEvent, type ElectionState, type ElectionStatus } from '../../core/election/state-machine.js';
import { decodeAdvert, encodeAdvert, ReplayWindow } from '../../core/election/advert.js';
import type { Logger } from '../../adapters/logger.js';
import { AdvertDrops } from './advert-drops.js';
import { HandoverRelease } from './handover-release.js';

export type { AdvertTransport, ElectionNodeOptions, ElectionNodeStatus, HeardPeer, HookRunner, HookState, StateChange, TakeoverTimeline, VipControl } from './election-node-types.js';
import type { AdvertTransport, ElectionNodeOptions, ElectionNodeStatus, HeardPeer, HookState, StateChange, TakeoverTimeline } from './election-node-types.js';

/** Adverts are authenticated, so these are cluster members; the cap only bounds a misconfiguration. */
const MAX_HEARD = 64;

interface Takeover {
  base: number;
  baseKind: 'last advert' | 'start';
  detectedAt: number;
  cause: string;
  vipAddedAt?: number;
}

const HOOK_FOR: Record<ElectionState, HookState | undefined> = { MASTER: 'master', BACKUP: 'backup', FAULT: 'fault', INIT: undefined };

export class ElectionNode {
  readonly machine: ElectionStateMachine;
  readonly drops: AdvertDrops;
  readonly #opts: ElectionNodeOptions;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #replay = new ReplayWindow();
  readonly #bootEpoch: bigint;
  readonly #vipNames: string[];
  #transport: AdvertTransport | undefined;
  #sequence = 0n;
  #timer: NodeJS.Timeout | undefined;
  #refresh: NodeJS.Timeout | undefined;
  #renew: NodeJS.Timeout | undefined;
  #vipQueue: Promise<void> = Promise.resolve();
  #vipWanted = false;
  #takeover: Takeover | undefined;
  #lastHeardAt: number | undefined;
  #startedAt = 0;
  #stopped = false;
  /** Shutting down: events are ignored, adverts are only read to see the new master. */
  #stopping = false;
  readonly #release: HandoverRelease;
  #sent = 0;
  #accepted = 0;
  readonly #heard = new Map<string, Omit<HeardPeer, 'lastSeenMsAgo'> & { at: number }>();
  readonly #transitions: Record<ElectionState, number> = { INIT: 0, BACKUP: 0, MASTER: 0, FAULT: 0 };
  #lastChange: StateChange | undefined;
  #lastTakeover: TakeoverTimeline | undefined;

  constructor(opts: ElectionNodeOptions) {
    const c = opts.cluster;
    this.#opts = opts;
    this.#clock = opts.clock;
    this.#log = opts.log;
    this.#bootEpoch = opts.bootEpoch ?? BigInt(Date.now());
    this.#vipNames = c.vips.map((v) => v.address);
    this.drops = new AdvertDrops(this.#log, c.id);
    this.#release = new HandoverRelease({
      graceMs: c.handover_grace_ms,
      // The slowest backup (priority 1) takes over within down_adverts + 1 intervals.
      waitForMasterMs: (c.down_adverts + 1) * c.advert_interval_ms,
      release: () => {
        if (!this.#vipWanted) this.#enqueueVip('remove', () => this.#opts.vip.remove());
        return this.#vipQueue;
      },
      log: this.#log,
    });
    this.machine = new ElectionStateMachine({
      nodeId: opts.nodeName,
      address: opts.address,
      priority: c.priority,
      intervalMs: c.advert_interval_ms,
      downAdverts: c.down_adverts,
      skew: c.skew,
      preempt: c.preempt,
      preemptDelayMs: c.preempt_delay_ms,
      synced: opts.synced ?? true,
    });
  }

  get state(): ElectionState {
    return this.machine.state;
  }

  /** Remove leftovers of a crashed run, open the transport, start as BACKUP. */
  async start(): Promise<void> {
    const c = this.#opts.cluster;
    const stale = await this.#opts.vip.removeStale();
    if (stale.length > 0) this.#log.warn('stale_vip_removed', { state: 'INIT', vips: stale, cause: 'left on the interface by an earlier run that did not stop cleanly' });
    this.#transport = this.#opts.makeTransport((buf, from) => {
      try {
        this.#onDatagram(buf, from);
      } catch (err) {
        // A datagram must never take the election down: count it, say why, go on.
        this.drops.drop('malformed', this.#clock.now(), { state: this.machine.state, sender: from.address, cause: `handling failed: ${(err as Error).message}` });
      }
    });
    await this.#transport.start();
    this.#startedAt = this.#clock.now();
    this.#log.info('election_started', {
      state: 'INIT',
      priority: c.priority,
      address: this.#opts.address,
      interface: c.interface,
      advert_interval_ms: c.advert_interval_ms,
      down_adverts: c.down_adverts,
      skew: c.skew,
      preempt: c.preempt,
      preempt_delay_ms: c.preempt_delay_ms,
      transport: c.transport.mode === 'multicast' ? `multicast ${c.transport.group}:${c.transport.port}` : `unicast ${c.transport.peers.join(',')} port ${c.transport.port}`,
      vips: this.#vipNames,
    });
    this.feed({ type: 'start' });
  }

  /** Feed one event (tracking, sync state) and carry out what the machine decides. */
  feed(event: ElectionEvent): void {
    if (this.#stopped || this.#stopping) return;
    const now = this.#clock.now();
    const before = this.machine.status();
    const actions = this.machine.step(event, now);
    this.#execute(actions, now, before);
  }

  /** The VIP vanished from the interface behind our back. */
  vipDeleted(address: string, iface: string): void {
    if (this.#stopped || this.#stopping || this.machine.state !== 'MASTER' || !this.#vipWanted) return;
    this.#log.warn('vip_restored', { state: 'MASTER', vip: address, interface: iface, cause: 'deleted from the interface by someone else while we are master' });
    this.#enqueueVip('add', () => this.#opts.vip.add());
    this.#enqueueVip('garp', () => this.#opts.vip.garp('vip restored'));
  }

  /**
   * Planned handover (`halo failover`): priority 0 now and twice more (a lost datagram
   * must not cost the backups a Master_Down_Interval), the VIP kept until the successor
   * is heard, then held out for holdMs. False when not MASTER.
   */
  handover(holdMs: number, cause: string): boolean {
    if (this.#stopped || this.#stopping || this.machine.state !== 'MASTER') return false;
    this.feed({ type: 'handover', holdMs, cause });
    for (const delay of [10, 20]) {
      setTimeout(() => {
        if (!this.#stopped && this.machine.state === 'BACKUP') this.#sendAdvert(0, this.machine.synced);
      }, delay);
    }
    return true;
  }

  status(): ElectionNodeStatus {
    const now = this.#clock.now();
    const tracking = this.#opts.tracking?.();
    return {
      ...this.machine.status(),
      address: this.#opts.address,
      vips: this.#vipNames,
      drops: this.drops.snapshot(),
      advertsSent: this.#sent,
      advertsAccepted: this.#accepted,
      ...(tracking !== undefined ? { tracking } : {}),
      peers: [...this.#heard.values()].reverse().map(({ at, ...p }) => ({ ...p, lastSeenMsAgo: Math.max(0, Math.round(now - at)) })),
      transitions: { ...this.#transitions },
      lastChange: this.#lastChange,
      lastTakeover: this.#lastTakeover,
      clockAt: now,
    };
  }

  /**
   * Planned stop: priority 0 adverts, the VIP kept until a new master has announced it
   * (make-before-break, bounded), then released; stop hook run. Resolves when the VIP is
   * gone and the hooks are done (bounded by the hook timeout).
   */
  async shutdown(cause: string): Promise<void> {
    if (this.#stopped || this.#stopping) return;
    const from = this.machine.state;
    const now = this.#clock.now();
    const before = this.machine.status();
    this.#stopping = true;
    this.#execute(this.machine.step({ type: 'shutdown' }, now), now, before);
    this.#clearTimers();
    if (from === 'MASTER') {
      // A lost datagram must not cost the backups a whole Master_Down_Interval.
      for (const delay of [10, 20]) setTimeout(() => this.#sendAdvert(0, this.machine.synced), delay);
    }
    await this.#release.done;
    // Whatever state we were in, leave nothing of ours on the interface.
    this.#vipWanted = false;
    this.#enqueueVip('remove', () => this.#opts.vip.remove());
    await this.#vipQueue;
    this.#stopped = true;
    this.#log.info('election_stopped', { state: 'INIT', from, cause });
    void this.#opts.hooks.notify('stop', from, cause);
    await this.#opts.hooks.drain(this.#opts.cluster.notify.timeout_ms + 1000);
    await this.#transport?.close();
    await this.#opts.vip.close();
  }

  #onDatagram(buf: Buffer, from: { address: string; port: number }): void {
    if (this.#stopped) return;
    const now = this.#clock.now();
    const c = this.#opts.cluster;
    const result = decodeAdvert(buf, this.#opts.key, c.id);
    if (!result.ok) {
      if (result.reason === 'cluster') this.drops.foreign(result, from.address, this.machine.state);
      else this.drops.drop(result.reason, now, { state: this.machine.state, sender: from.address });
      return;
    }
    const a = result.advert;
    if (this.#stopping) {
      if (a.nodeId !== this.#opts.nodeName && a.priority > 0 && this.#replay.accept(a.nodeId, a.bootEpoch, a.sequence) === 'ok') this.#release.masterHeard(a.nodeId, this.machine.state);
      return;
    }
    if (a.nodeId === this.#opts.nodeName) {
      // Our own name from another address: two nodes share a name, or a capture is replayed.
      this.drops.drop('own_node_id', now, { state: this.machine.state, sender: from.address });
      return;
    }
    if (this.#replay.accept(a.nodeId, a.bootEpoch, a.sequence) === 'stale') {
      this.drops.drop('stale', now, { state: this.machine.state, sender: from.address, node: a.nodeId });
      return;
    }
    this.#accepted++;
    this.#hear(a, now);
    const before = this.machine.status();
    const actions = this.machine.step({ type: 'advert', from: { nodeId: a.nodeId, address: a.address }, priority: a.priority, intervalMs: a.intervalMs, synced: a.synced }, now);
    const after = this.machine.status();
    if (after.state === 'BACKUP' && after.master?.nodeId === a.nodeId) this.#lastHeardAt = now;
    if (a.priority > 0) this.#release.masterHeard(a.nodeId, this.machine.state);
    this.#execute(actions, now, before);
  }

  /** Re-inserted on every advert, so the map's order is oldest heard first. */
  #hear(a: { nodeId: string; address: string; priority: number; synced: boolean; intervalMs: number; shuttingDown: boolean }, now: number): void {
    this.#heard.delete(a.nodeId);
    this.#heard.set(a.nodeId, { nodeId: a.nodeId, address: a.address, priority: a.priority, synced: a.synced, intervalMs: a.intervalMs, shuttingDown: a.shuttingDown, at: now });
    if (this.#heard.size > MAX_HEARD) {
      const oldest = this.#heard.keys().next().value;
      if (oldest !== undefined) this.#heard.delete(oldest);
    }
  }

  #execute(actions: ElectionAction[], now: number, before: ElectionStatus): void {
    for (const action of actions) {
      switch (action.type) {
        case 'become':
          this.#onBecome(action, now, before);
          break;
        case 'send_advert':
          this.#sendAdvert(action.priority, action.synced);
          break;
        case 'add_vip':
          this.#release.cancel();
          this.#vipWanted = true;
          this.#enqueueVip('add', async () => {
            await this.#opts.vip.add();
            if (this.#takeover) this.#takeover.vipAddedAt = this.#clock.now();
          });
          break;
        case 'remove_vip': {
          this.#vipWanted = false;
          const to = actions.find((x): x is Extract<ElectionAction, { type: 'become' }> => x.type === 'become');
          // Handing over to a live peer: keep serving until it has announced the VIP.
          // A fault (no link, stalled data plane, failing check) releases at once.
          // Never announce an address we are giving up: the new master's GARP must be the last.
          this.#opts.vip.stopGarp();
          // A planned handover waits for its successor to be heard, as a shutdown does.
          if (to?.state === 'BACKUP') this.#release.later(`stepped down: ${to.cause}`, action.handover === true, to.state);
          else if (to?.state === 'INIT') this.#release.later('shutdown', true, to.state);
          else this.#release.now();
          break;
        }
        case 'note':
          this.#log.info(action.event, { state: this.machine.state, cause: action.cause, priority: this.machine.priority });
          break;
        case 'garp':
          this.#enqueueVip('garp', async () => {
            await this.#opts.vip.garp(action.reason);
            this.#garpDone(action.reason);
          });
          break;
      }
    }
    this.#arm();
    this.#opts.onStatus?.(this.status());
  }

  #onBecome(action: Extract<ElectionAction, { type: 'become' }>, now: number, before: ElectionStatus): void {
    const status = this.machine.status();
    this.#log.info('state_change', { from: action.from, state: action.state, cause: action.cause, priority: status.priority, degraded: action.degraded || undefined, master: status.master?.nodeId });
    this.#transitions[action.state]++;
    this.#lastChange = { from: action.from, state: action.state, cause: action.cause, degraded: action.degraded, at: new Date().toISOString() };
    if (action.state === 'MASTER') {
      const heard = before.master?.at ?? this.#lastHeardAt;
      this.#takeover = heard === undefined ? { base: this.#startedAt, baseKind: 'start', detectedAt: now, cause: action.cause } : { base: heard, baseKind: 'last advert', detectedAt: now, cause: action.cause };
      this.#startMasterTimers();
    } else {
      this.#takeover = undefined;
      this.#stopMasterTimers();
    }
    const hook = HOOK_FOR[action.state];
    if (hook !== undefined) void this.#opts.hooks.notify(hook, action.from, action.cause);
  }

  #garpDone(reason: string): void {
    const t = this.#takeover;
    const state = this.machine.state;
    if (t === undefined || state !== 'MASTER') {
      this.#log.debug('garp_sent', { state, reason, vips: this.#vipNames });
      return;
    }
    this.#takeover = undefined;
    const at = this.#clock.now();
    const since = (x: number | undefined) => (x === undefined ? undefined : Math.round((x - t.base) * 10) / 10);
    this.#lastTakeover = { at: new Date().toISOString(), cause: t.cause, timelineFrom: t.baseKind, detectedMs: since(t.detectedAt), vipAddedMs: since(t.vipAddedAt), garpSentMs: since(at), vips: this.#vipNames };
    this.#log.info('takeover', {
      state,
      cause: t.cause,
      timeline_from: t.baseKind,
      detected_ms: since(t.detectedAt),
      vip_added_ms: since(t.vipAddedAt),
      garp_sent_ms: since(at),
      vips: this.#vipNames,
    });
  }

  #sendAdvert(priority: number, synced: boolean): void {
    const c = this.#opts.cluster;
    this.#sequence++;
    const buf = encodeAdvert(
      {
        synced,
        shuttingDown: priority === 0 && this.machine.state === 'INIT',
        priority,
        intervalMs: c.advert_interval_ms,
        clusterId: c.id,
        nodeId: this.#opts.nodeName,
        address: this.#opts.address,
        bootEpoch: this.#bootEpoch,
        sequence: this.#sequence,
      },
      this.#opts.key,
    );
    this.#sent++;
    this.#transport?.send(buf);
  }

  #enqueueVip(what: string, op: () => Promise<unknown>): void {
    this.#vipQueue = this.#vipQueue.then(async () => {
      try {
        await op();
      } catch (err) {
        // The next refresh or restore retries; the operator must see every failure.
        this.#log.error('vip_failed', { state: this.machine.state, op: what, code: (err as { code?: string }).code, cause: (err as Error).message });
      }
    });
  }

  #arm(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#stopped) return;
    const deadline = this.machine.nextDeadline();
    if (deadline === undefined) return;
    const delay = Math.max(0, deadline - this.#clock.now());
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      // Input before timeouts. After a stall (SIGSTOP, a paused VM, a swap storm) the
      // timers phase runs first, and the adverts that came meanwhile still wait in the
      // socket: a backup would take over from a live master it has not read yet. An
      // immediate runs after the poll phase has read them; the state machine checks its
      // deadlines against `now`, so a timer event that no longer applies does nothing.
      setImmediate(() => {
        if (!this.#stopped) this.feed({ type: 'timer' });
      });
    }, delay);
  }

  #startMasterTimers(): void {
    this.#stopMasterTimers();
    const c = this.#opts.cluster;
    if (c.garp.refresh_ms > 0) {
      this.#refresh = setInterval(() => this.#enqueueVip('garp', () => this.#opts.vip.garp('refresh')), c.garp.refresh_ms);
    }
    if (c.vip_lifetime_ms > 0) {
      // A third of the lifetime: two renewals may fail before the address expires under us.
      this.#renew = setInterval(() => {
        if (this.#vipWanted) this.#enqueueVip('renew', () => this.#opts.vip.renew());
      }, Math.floor(c.vip_lifetime_ms / 3));
    }
  }

  #stopMasterTimers(): void {
    if (this.#refresh) clearInterval(this.#refresh);
    if (this.#renew) clearInterval(this.#renew);
    this.#refresh = undefined;
    this.#renew = undefined;
  }

  #clearTimers(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#stopMasterTimers();
  }
}
