/**
 * Log lines over the replication links (`logs` control messages, log-messages.ts), so
 * that every node holds the whole cluster's recent log:
 *   - upstream link (this standby -> its master): this node's own lines;
 *   - downstream link (this master -> a standby): this node's own lines, and every other
 *     standby's lines as they arrive (the master relays; standbys never do).
 * So the master holds everybody's lines, a standby its own, the master's and the other
 * standbys'. A new link first carries a backlog (upstream: our own recent lines;
 * downstream: everything we hold), so a node that (re)joins sees what happened while it
 * was away; the receiver drops copies (LineDedupe), so nothing shows twice.
 *
 * Each link has its own LogOutbox (bounded queue, rate limit, batches). Lines wait while
 * the socket holds more than LOW_WATER_BYTES (a snapshot is going out): tables first.
 */
import type { WebSocket } from 'ws';
import type { Logger } from '../../adapters/logger.js';
import type { LogLine, LogsMessage } from '../../core/replication/log-messages.js';
import { LineDedupe, LogOutbox, DEFAULT_LOG_OUTBOX_LIMITS, type LogOutboxLimits } from '../../core/replication/log-outbox.js';

/** At most one logs_dropped warning per this many ms, with the count since the last one. */
const DROP_WARNING_EVERY_MS = 10_000;
/** Above this many bytes waiting in the socket, log lines wait (snapshots and updates go first). */
const LOW_WATER_BYTES = 256 * 1024;

/** Where lines come from and go: the node's cluster log (src/app/admin/cluster-log.ts). */
export interface LogStore {
  /** This node's name and its process's boot id (ms): the origin of its own lines. */
  readonly node: string;
  readonly boot: number;
  /** This node's own lines at or after `sinceMs`, oldest first. */
  ownSince(sinceMs: number): LogLine[];
  /** Every line held (own and received) at or after `sinceMs`, oldest first. */
  since(sinceMs: number): LogLine[];
  /** This node's own lines as they are written; returns the unsubscribe function. */
  onOwn(listener: (line: LogLine) => void): () => void;
  /** Lines received from other nodes (already deduplicated). */
  add(lines: readonly LogLine[]): void;
}

export type LinkRole = 'upstream' | 'downstream';

export interface LogRelayOptions {
  store: LogStore;
  /** Monotonic ms (rate limits and batching). */
  now(): number;
  /** Debug lines leave this node only while its log level is debug. */
  forwardDebug(): boolean;
  logger: Logger;
  limits?: Partial<LogOutboxLimits>;
}

export interface LogRelayStats {
  links: number;
  /** Lines sent, over every link since the start. */
  sent: number;
  /** Lines received and kept (new), and relayed to other standbys. */
  received: number;
  relayed: number;
  /** Copies received (already held, or our own in a backlog): not an error. */
  duplicates: number;
  /** logs_dropped: lines a full queue discarded (oldest first), over every link. */
  dropped: number;
  /** Lines refused: a standby sending another node's lines, or a malformed `logs` message. */
  rejected: number;
}

interface Link {
  readonly ws: WebSocket;
  readonly peer: string;
  readonly role: LinkRole;
  readonly outbox: LogOutbox;
}

function originOrder(a: LogLine, b: LogLine): number {
  return (a.node < b.node ? -1 : a.node > b.node ? 1 : 0) || a.boot - b.boot || a.seq - b.seq;
}

export class LogRelay {
  readonly #opts: LogRelayOptions;
  readonly #limits: LogOutboxLimits;
  readonly #links = new Map<WebSocket, Link>();
  readonly #dedupe = new LineDedupe();
  readonly #unsubscribe: () => void;
  #dropsUnreported = 0;
  #dropWarnedAt = Number.NEGATIVE_INFINITY;
  readonly #counters = { received: 0, relayed: 0, duplicates: 0, rejected: 0 };
  /** Totals of links already gone, so stats stay cumulative. */
  #closedSent = 0;
  #closedDropped = 0;

  constructor(opts: LogRelayOptions) {
    this.#opts = opts;
    this.#limits = { ...DEFAULT_LOG_OUTBOX_LIMITS, ...opts.limits };
    this.#unsubscribe = opts.store.onOwn((line) => {
      if (line.level === 'debug' && !opts.forwardDebug()) return;
      for (const link of this.#links.values()) this.#push(link, [line]);
    });
  }

  /** A link that is ready for text frames (downstream: once the standby has sent `sync`). */
  attach(ws: WebSocket, peer: string, role: LinkRole): void {
    if (this.#links.has(ws)) return;
    const link: Link = { ws, peer, role, outbox: new LogOutbox(this.#opts.now(), this.#limits) };
    this.#links.set(ws, link);
    ws.once('close', () => this.#detach(link));
    const store = this.#opts.store;
    const backlog = role === 'upstream' ? store.ownSince(0) : store.since(0);
    const debug = this.#opts.forwardDebug();
    // only as much as the queue holds: the newest lines; then in each origin's own order,
    // which the peer's LineDedupe relies on (time order can differ: the election worker's
    // lines reach the log a moment after they were stamped)
    const lines = backlog.filter((l) => debug || l.level !== 'debug').slice(-this.#limits.maxQueued);
    link.outbox.push(lines.sort(originOrder));
  }

  /** A `logs` message from the peer on `ws`. */
  receive(ws: WebSocket, msg: LogsMessage): void {
    const link = this.#links.get(ws);
    // our peers send lines only once the link is attached (after sync): anything else is not theirs to send
    if (link === undefined) {
      this.#counters.rejected += msg.lines.length;
      return;
    }
    const { role, peer } = link;
    const store = this.#opts.store;
    const fresh: LogLine[] = [];
    for (const line of msg.lines) {
      const own = line.node === store.node && line.boot === store.boot;
      // a standby speaks for itself only (the master relays); that also rules out loops
      const foreign = role === 'downstream' && line.node !== peer;
      if (foreign) {
        this.#counters.rejected += 1;
        continue;
      }
      // our own lines come back in a master's backlog: we have them
      if (own || !this.#dedupe.admit(line)) {
        this.#counters.duplicates += 1;
        continue;
      }
      fresh.push(line);
    }
    if (fresh.length === 0) return;
    this.#counters.received += fresh.length;
    store.add(fresh);
    if (role !== 'downstream') return;
    const now = this.#opts.now();
    for (const other of this.#links.values()) {
      if (other.ws === ws || other.role !== 'downstream') continue;
      this.#push(other, fresh);
      this.#counters.relayed += fresh.length;
      // they waited one batching interval already: no second one
      this.#send(other, now, true);
    }
  }

  /** A `logs` message from `ws` that did not parse: its lines are lost, the link is kept. */
  rejectMessage(): void {
    this.#counters.rejected += 1;
  }

  /** Send what is due on every link; call every few ms. */
  tick(): void {
    const now = this.#opts.now();
    for (const link of this.#links.values()) this.#send(link, now, false);
    this.#reportDrops(now);
  }

  stats(): LogRelayStats {
    let sent = this.#closedSent;
    let dropped = this.#closedDropped;
    for (const l of this.#links.values()) {
      const s = l.outbox.stats();
      sent += s.sent;
      dropped += s.dropped;
    }
    return { links: this.#links.size, sent, ...this.#counters, dropped };
  }

  close(): void {
    this.#unsubscribe();
    for (const link of [...this.#links.values()]) this.#detach(link);
  }

  /** Only queues: it runs inside logger calls (onOwn), so it must neither send nor log. */
  #push(link: Link, lines: readonly LogLine[]): void {
    const before = link.outbox.stats().dropped;
    link.outbox.push(lines);
    this.#dropsUnreported += link.outbox.stats().dropped - before;
  }

  /** From tick(), never from #push: the warning is itself a line that goes into the queues. */
  #reportDrops(now: number): void {
    if (this.#dropsUnreported === 0 || now - this.#dropWarnedAt < DROP_WARNING_EVERY_MS) return;
    const count = this.#dropsUnreported;
    this.#dropsUnreported = 0;
    this.#dropWarnedAt = now;
    this.#opts.logger.warn('logs_dropped', { count, cause: `more than ${this.#limits.maxQueued} log lines waited for a replication link (or its rate limit of ${this.#limits.ratePerSec} lines/s): the oldest were dropped; the nodes' own logs still have them` });
  }

  #send(link: Link, now: number, early: boolean): void {
    const { ws, outbox } = link;
    if (ws.readyState !== ws.OPEN || ws.bufferedAmount > LOW_WATER_BYTES) return;
    if (!early && !outbox.due(now)) return;
    for (const text of outbox.take(now)) ws.send(text);
  }

  #detach(link: Link): void {
    if (this.#links.get(link.ws) !== link) return;
    this.#links.delete(link.ws);
    const s = link.outbox.stats();
    this.#closedSent += s.sent;
    this.#closedDropped += s.dropped;
  }
}
