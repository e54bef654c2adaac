/**
 * What happens to an advert we drop: counted by reason (for /metrics and status), and
 * logged without flooding: one throttled line per reason (a flood of one kind never hides
 * the first of another), and a foreign cluster on our group once per claimed sender.
 */
import { DropCounters, type DropReason, type ForeignClusterFailure } from '../../core/election/advert.js';
import type { Logger } from '../../adapters/logger.js';
import { ThrottledWarning } from '../../adapters/throttled-warning.js';

export type AdvertDropReason = DropReason | 'own_node_id';

const CAUSES: Partial<Record<AdvertDropReason, string>> = {
  own_node_id: 'an advert with our own node name from another address: a duplicate node.name or a replay',
  stale: 'replayed or reordered advert (epoch, sequence not newer)',
};

export class AdvertDrops {
  readonly counters = new DropCounters();
  #ownNodeId = 0;
  readonly #warnings = new Map<AdvertDropReason, ThrottledWarning>();
  readonly #foreignLogged = new Set<string>();

  constructor(
    private readonly log: Logger,
    private readonly clusterId: number,
  ) {}

  drop(reason: AdvertDropReason, now: number, fields: Record<string, unknown>): void {
    if (reason === 'own_node_id') this.#ownNodeId++;
    else this.counters.count(reason);
    let warning = this.#warnings.get(reason);
    if (warning === undefined) {
      warning = new ThrottledWarning(this.log, 'advert_dropped', 10_000);
      this.#warnings.set(reason, warning);
    }
    const cause = CAUSES[reason];
    warning.hit(now, { reason, ...fields, ...(cause !== undefined ? { cause } : {}) });
  }

  /** Counted like any drop, but logged once per claimed sender with what to do about it. */
  foreign(f: ForeignClusterFailure, sender: string, state: string): void {
    this.counters.count('cluster');
    const who = `${f.claimedNodeId ?? '?'}@${sender}`;
    if (this.#foreignLogged.has(who)) return;
    this.#foreignLogged.add(who);
    this.log.warn('foreign_cluster', { state, sender, claimed_node: f.claimedNodeId, claimed_address: f.claimedAddress, cluster_id: f.clusterId, our_cluster_id: this.clusterId, cause: 'another cluster advertises on our group and port; give one of them another cluster.id or group' });
  }

  snapshot(): Readonly<Record<AdvertDropReason, number>> {
    return { ...this.counters.snapshot(), own_node_id: this.#ownNodeId };
  }

  get(reason: AdvertDropReason): number {
    return reason === 'own_node_id' ? this.#ownNodeId : this.counters.get(reason);
  }
}
