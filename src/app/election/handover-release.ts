/**
 * Make-before-break: a master handing over to a live peer keeps the VIP (and keeps
 * serving) until the new master has had time to announce it, instead of leaving the
 * clients with an address nobody answers for the ~10-20 ms of `ip addr` + first GARP.
 * One pending release at a time; a new one, or the VIP being wanted again, replaces it.
 */
import type { Logger } from '../../adapters/logger.js';

export interface HandoverReleaseOptions {
  graceMs: number;
  /** Shutdown: how long to wait for another node's advert before the grace starts anyway. */
  waitForMasterMs: number;
  /** Carry out the release; resolves when the VIP is gone. */
  release(): Promise<void>;
  log: Logger;
}

interface Pending {
  /** Still waiting for another node's advert (shutdown): then the grace starts. */
  waitingForMaster: boolean;
  timer: NodeJS.Timeout;
  done: Promise<void>;
  resolve: () => void;
}

export class HandoverRelease {
  #pending: Pending | undefined;

  constructor(private readonly opts: HandoverReleaseOptions) {}

  /** Resolves when the pending release (if any) has been carried out or cancelled. */
  get done(): Promise<void> | undefined {
    return this.#pending?.done;
  }

  /** Release at once (a fault): whatever was pending is dropped. */
  now(): void {
    this.cancel();
    void this.opts.release();
  }

  /** Release after the grace, or, waiting for a master, after it is heard plus the grace. */
  later(reason: string, waitForMaster: boolean, state: string): void {
    this.cancel();
    if (this.opts.graceMs === 0) return this.now();
    let resolve!: () => void;
    const done = new Promise<void>((r) => (resolve = r));
    const wait = waitForMaster ? this.opts.waitForMasterMs + this.opts.graceMs : this.opts.graceMs;
    const timer = setTimeout(() => this.#due(), wait);
    this.#pending = { waitingForMaster: waitForMaster, timer, done, resolve };
    this.opts.log.debug('vip_release_deferred', { state, reason, wait_ms: wait, cause: waitForMaster ? 'waiting for a new master to announce itself' : 'grace for the new master to announce the VIP' });
  }

  /** Another node advertises as master: the grace starts now. */
  masterHeard(nodeId: string, state: string): void {
    const p = this.#pending;
    if (p === undefined || !p.waitingForMaster) return;
    p.waitingForMaster = false;
    clearTimeout(p.timer);
    p.timer = setTimeout(() => this.#due(), this.opts.graceMs);
    this.opts.log.debug('vip_release_scheduled', { state, new_master: nodeId, grace_ms: this.opts.graceMs });
  }

  /** The VIP is wanted again (we are master again): nothing to release. */
  cancel(): void {
    const p = this.#pending;
    if (p === undefined) return;
    clearTimeout(p.timer);
    this.#pending = undefined;
    p.resolve();
  }

  #due(): void {
    const p = this.#pending;
    if (p === undefined) return;
    this.#pending = undefined;
    void this.opts.release().then(p.resolve);
  }
}
