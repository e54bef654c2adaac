/**
 * The node's recent log lines in memory, for `GET /events` (and `halo logs -f`): every
 * line of the main thread (through the logger's tap) and of the election worker (through
 * the ElectionHost), in arrival order, in a fixed-size ring so a chatty node never grows
 * it. Created before the logger, so the lines of start-up are in it too.
 */
import type { LogEntry } from '../../adapters/logger.js';
import type { ElectionHostEvent } from '../election/election-host.js';

export const DEFAULT_EVENT_LOG_CAPACITY = 2000;

export interface LogRecord {
  /** 1, 2, 3... per process: a client that reconnects can tell what it missed. */
  seq: number;
  /** Wall-clock ms of the line (its timestamp; arrival time if it has none). */
  at: number;
  entry: LogEntry;
}

export interface EventLogOptions {
  capacity?: number;
  /** Wall-clock ms; tests pass their own. */
  now?: () => number;
}

export class EventLog {
  readonly capacity: number;
  readonly #ring: Array<LogRecord | undefined>;
  readonly #now: () => number;
  readonly #listeners = new Set<(record: LogRecord) => void>();
  #next = 0;
  #seq = 0;

  constructor(opts: EventLogOptions = {}) {
    this.capacity = Math.max(1, Math.floor(opts.capacity ?? DEFAULT_EVENT_LOG_CAPACITY));
    this.#ring = new Array<LogRecord | undefined>(this.capacity);
    this.#now = opts.now ?? Date.now;
  }

  /** For createLogger({ tap }): bound, so it can be passed as is. */
  readonly tap = (entry: LogEntry): void => {
    const parsed = typeof entry.timestamp === 'string' ? Date.parse(entry.timestamp) : Number.NaN;
    const record: LogRecord = { seq: ++this.#seq, at: Number.isFinite(parsed) ? parsed : this.#now(), entry };
    this.#ring[this.#next] = record;
    this.#next = (this.#next + 1) % this.capacity;
    for (const l of this.#listeners) {
      try {
        l(record);
      } catch {
        // One listener's failure must not cost the others (or the logger) the line.
      }
    }
  };

  /** The election worker's lines, as the ElectionHost re-emits them; returns the unsubscribe function. */
  follow(source: { subscribe(listener: (event: ElectionHostEvent) => void): () => void }): () => void {
    return source.subscribe((event) => {
      if (event.type === 'log') this.tap(event.entry);
    });
  }

  /** Lines at or after `sinceMs` (wall-clock), oldest first; at most `capacity`. */
  since(sinceMs: number): LogRecord[] {
    const out: LogRecord[] = [];
    for (let i = 0; i < this.capacity; i++) {
      const r = this.#ring[(this.#next + i) % this.capacity];
      if (r !== undefined && r.at >= sinceMs) out.push(r);
    }
    return out;
  }

  get size(): number {
    return Math.min(this.#seq, this.capacity);
  }

  subscribe(listener: (record: LogRecord) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
