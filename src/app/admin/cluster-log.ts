/**
 * The whole cluster's recent log as this node knows it: its own lines (the EventLog) and
 * the lines other nodes sent over replication (log-relay.ts), for `GET /events?cluster=1`
 * and `halo logs`. The received lines are kept by node in one bounded store: when it is
 * full, the node holding the most lines loses its oldest, so a chatty node cannot push a
 * quiet one's lines out.
 */
import type { EventFeed } from '../../adapters/admin/events-socket.js';
import { logLine, type LogLine } from '../../core/replication/log-messages.js';
import type { LogStore } from '../replication/log-relay.js';
import type { EventLog, LogRecord } from './event-log.js';

/** Lines received from other nodes, all nodes together. */
export const DEFAULT_CLUSTER_LOG_CAPACITY = 5000;
/** Distinct nodes kept; lines from more are dropped (a cluster has a handful). */
export const DEFAULT_CLUSTER_LOG_MAX_NODES = 32;

export interface ClusterLogOptions {
  /** This node's name. */
  node: string;
  own: EventLog;
  /** This process's start, wall-clock ms (identifies its lines across restarts). */
  boot: number;
  capacity?: number;
  maxNodes?: number;
}

/** A FIFO with O(1) shift, compacted now and then. */
class LineQueue {
  #items: LogLine[] = [];
  #head = 0;

  get size(): number {
    return this.#items.length - this.#head;
  }

  push(line: LogLine): void {
    this.#items.push(line);
  }

  shift(): void {
    this.#head++;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
  }

  *since(sinceMs: number): Generator<LogLine> {
    for (let i = this.#head; i < this.#items.length; i++) {
      const l = this.#items[i] as LogLine;
      if (l.at >= sinceMs) yield l;
    }
  }
}

/** Time order; ties by node, then by the node's own order. */
export function compareLines(a: LogLine, b: LogLine): number {
  return a.at - b.at || (a.node < b.node ? -1 : a.node > b.node ? 1 : 0) || a.boot - b.boot || a.seq - b.seq;
}

export class ClusterLog implements LogStore {
  readonly node: string;
  readonly boot: number;
  readonly capacity: number;
  readonly #own: EventLog;
  readonly #maxNodes: number;
  readonly #byNode = new Map<string, LineQueue>();
  readonly #listeners = new Set<(line: LogLine) => void>();
  readonly #ownListeners = new Set<(line: LogLine) => void>();
  #size = 0;
  #dropped = 0;

  constructor(opts: ClusterLogOptions) {
    this.node = opts.node;
    this.boot = opts.boot;
    this.#own = opts.own;
    this.capacity = Math.max(1, Math.floor(opts.capacity ?? DEFAULT_CLUSTER_LOG_CAPACITY));
    this.#maxNodes = Math.max(1, Math.floor(opts.maxNodes ?? DEFAULT_CLUSTER_LOG_MAX_NODES));
    opts.own.subscribe((r) => {
      const line = this.#lineOf(r);
      this.#emit(this.#ownListeners, line);
      this.#emit(this.#listeners, line);
    });
  }

  ownSince(sinceMs: number): LogLine[] {
    return this.#own.since(sinceMs).map((r) => this.#lineOf(r));
  }

  /** Own and received lines at or after `sinceMs`, in time order. */
  since(sinceMs: number): LogLine[] {
    const out = this.ownSince(sinceMs);
    for (const q of this.#byNode.values()) for (const l of q.since(sinceMs)) out.push(l);
    return out.sort(compareLines);
  }

  onOwn(listener: (line: LogLine) => void): () => void {
    this.#ownListeners.add(listener);
    return () => this.#ownListeners.delete(listener);
  }

  /** Every line, own and received, as it comes. */
  subscribe(listener: (line: LogLine) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  add(lines: readonly LogLine[]): void {
    for (const line of lines) {
      let q = this.#byNode.get(line.node);
      if (q === undefined) {
        if (this.#byNode.size >= this.#maxNodes) {
          this.#dropped++;
          continue;
        }
        q = new LineQueue();
        this.#byNode.set(line.node, q);
      }
      if (this.#size >= this.capacity) this.#evict();
      q.push(line);
      this.#size++;
      this.#emit(this.#listeners, line);
    }
  }

  /** Received lines held, by node (own lines are the EventLog's). */
  stats(): { held: number; capacity: number; dropped: number; nodes: Record<string, number> } {
    return { held: this.#size, capacity: this.capacity, dropped: this.#dropped, nodes: Object.fromEntries([...this.#byNode].map(([n, q]) => [n, q.size])) };
  }

  #evict(): void {
    let largest: LineQueue | undefined;
    for (const q of this.#byNode.values()) if (largest === undefined || q.size > largest.size) largest = q;
    if (largest === undefined || largest.size === 0) return;
    largest.shift();
    this.#size--;
  }

  #lineOf(r: LogRecord): LogLine {
    return logLine({ node: this.node, boot: this.boot }, r.seq, r.at, r.entry);
  }

  #emit(listeners: ReadonlySet<(line: LogLine) => void>, line: LogLine): void {
    for (const l of listeners) {
      try {
        l(line);
      } catch {
        // one listener's failure must not cost the others (or the logger) the line
      }
    }
  }
}

/** One line on `GET /events?cluster=1`: the node's JSON log line, and where it came from. */
export interface ClusterLogMessage {
  type: 'log';
  node: string;
  boot: number;
  seq: number;
  at: number;
  entry: Record<string, unknown>;
}

/** After the replay: the client knows everything before this was history. */
export interface ReplayedMessage {
  type: 'replayed';
  lines: number;
}

export function clusterLogMessage(l: LogLine): ClusterLogMessage {
  // the line's own keys win over same-named fields
  return { type: 'log', node: l.node, boot: l.boot, seq: l.seq, at: l.at, entry: { ...l.fields, timestamp: new Date(l.at).toISOString(), node: l.node, level: l.level, message: l.message } };
}

/**
 * The `/events?cluster=1` feed: the merged lines since `since` (none without it) in time
 * order, a `replayed` marker, then every line as this node gets it (own lines at once,
 * other nodes' after the relay's batching: clients reorder over a short window).
 */
export function clusterEventFeed(log: ClusterLog): EventFeed {
  return {
    initial: (sinceMs) => {
      const lines = sinceMs === undefined ? [] : log.since(sinceMs).map(clusterLogMessage);
      return [...lines, { type: 'replayed', lines: lines.length } satisfies ReplayedMessage];
    },
    subscribe: (send) => log.subscribe((l) => send(clusterLogMessage(l))),
  };
}
