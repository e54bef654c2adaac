/**
 * Ghosts: the old master's TCP connections after a takeover. Their sessions died with
 * that node, but their clients are about to reconnect, so each keeps counting as load
 * on its backend (least-connections continues where the master left off) until its
 * client opens a new connection or the ghost timeout passes. This class only keeps the
 * books; the dispatcher ends the load of every ghost it hands back.
 */

export interface Ghost {
  readonly clientIp: string;
  readonly pool: string;
  readonly backend: string;
  /** Local monotonic ms the connection started (rebuilt from the replicated age). */
  readonly startedAt: number;
  ended: boolean;
}

interface Batch {
  readonly endsAt: number;
  readonly ghosts: Ghost[];
}

export class GhostConnections {
  endedByReconnect = 0;
  endedByTimeout = 0;
  endedByClear = 0;
  /** Per client, oldest first: a reconnect without a ghost on its backend ends the oldest. */
  private readonly byClient = new Map<string, Ghost[]>();
  /** One batch per takeover: all its ghosts share one deadline, so expiry needs no heap. */
  private batches: Batch[] = [];
  private liveCount = 0;

  get live(): number {
    return this.liveCount;
  }

  /** Ghost every connection of one takeover; all end by `endsAt` at the latest. */
  addBatch(connections: Iterable<Omit<Ghost, 'ended'>>, endsAt: number): void {
    const ghosts: Ghost[] = [];
    const touched = new Set<Ghost[]>();
    for (const c of connections) {
      const ghost: Ghost = { clientIp: c.clientIp, pool: c.pool, backend: c.backend, startedAt: c.startedAt, ended: false };
      ghosts.push(ghost);
      let list = this.byClient.get(c.clientIp);
      if (list === undefined) {
        list = [];
        this.byClient.set(c.clientIp, list);
      }
      list.push(ghost);
      touched.add(list);
    }
    if (ghosts.length === 0) return;
    for (const list of touched) list.sort((a, b) => a.startedAt - b.startedAt);
    this.batches.push({ endsAt, ghosts });
    this.liveCount += ghosts.length;
  }

  /**
   * A new connection from `clientIp` to pool/backend: its ghost on that backend if there
   * is one, else its oldest ghost; undefined when the client has none.
   */
  claim(clientIp: string, pool: string, backend: string): Ghost | undefined {
    const list = this.byClient.get(clientIp);
    if (list === undefined) return undefined;
    let i = list.findIndex((g) => g.pool === pool && g.backend === backend);
    if (i < 0) i = 0;
    const ghost = list[i];
    if (ghost === undefined) return undefined;
    list.splice(i, 1);
    if (list.length === 0) this.byClient.delete(clientIp);
    ghost.ended = true;
    this.liveCount--;
    this.endedByReconnect++;
    return ghost;
  }

  /** Ghosts whose timeout has passed at `now`, now ended. */
  expire(now: number): Ghost[] {
    if (this.batches.length === 0) return [];
    const due = this.batches.filter((b) => b.endsAt <= now);
    if (due.length === 0) return [];
    this.batches = this.batches.filter((b) => b.endsAt > now);
    const ended = this.endBatches(due);
    this.endedByTimeout += ended.length;
    return ended;
  }

  /** Every live ghost, now ended (the tables are being replaced by a snapshot). */
  clear(): Ghost[] {
    const ended = this.endBatches(this.batches);
    this.batches = [];
    this.byClient.clear();
    this.endedByClear += ended.length;
    return ended;
  }

  private endBatches(batches: readonly Batch[]): Ghost[] {
    const ended: Ghost[] = [];
    const clients = new Set<string>();
    for (const batch of batches) {
      for (const g of batch.ghosts) {
        if (g.ended) continue;
        g.ended = true;
        ended.push(g);
        clients.add(g.clientIp);
      }
    }
    // One filter per client rather than a splice per ghost: a NAT address may hold thousands.
    for (const ip of clients) {
      const rest = this.byClient.get(ip)?.filter((g) => !g.ended) ?? [];
      if (rest.length === 0) this.byClient.delete(ip);
      else this.byClient.set(ip, rest);
    }
    this.liveCount -= ended.length;
    return ended;
  }
}
