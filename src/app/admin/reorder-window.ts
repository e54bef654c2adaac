/**
 * `halo logs -f` prints the cluster's lines in time order although they arrive out of it:
 * a node's own lines at once, its peers' after the relay's batching (about 100 ms per
 * hop). Each line is held `windowMs` after it arrives; a line leaves when it is the
 * oldest held (by its time stamp) and its wait is over. A line later than that (a link
 * that stalled) is still printed, out of order, never dropped. Bounded: past maxHeld
 * lines, the oldest leave at once. Pure: the caller passes its clock.
 */
import { compareShown, type ShownLine } from './logs-text.js';

export const DEFAULT_REORDER_WINDOW_MS = 300;

interface Held {
  line: ShownLine;
  due: number;
}

export class ReorderWindow {
  readonly windowMs: number;
  readonly #maxHeld: number;
  /** Sorted by time stamp, oldest first (arrivals are nearly in order: insertion walks from the end). */
  readonly #held: Held[] = [];

  constructor(windowMs = DEFAULT_REORDER_WINDOW_MS, maxHeld = 10_000) {
    this.windowMs = Math.max(0, windowMs);
    this.#maxHeld = Math.max(1, maxHeld);
  }

  get size(): number {
    return this.#held.length;
  }

  /** Hold a line that arrived at `now`; returns the lines pushed out by the bound (usually none). */
  push(line: ShownLine, now: number): ShownLine[] {
    let i = this.#held.length;
    while (i > 0 && compareShown((this.#held[i - 1] as Held).line, line) > 0) i--;
    this.#held.splice(i, 0, { line, due: now + this.windowMs });
    const over = this.#held.length - this.#maxHeld;
    return over > 0 ? this.#held.splice(0, over).map((h) => h.line) : [];
  }

  /** The lines to print now, in order. */
  drain(now: number): ShownLine[] {
    let n = 0;
    while (n < this.#held.length && (this.#held[n] as Held).due <= now) n++;
    return this.#held.splice(0, n).map((h) => h.line);
  }

  /** Everything held, in order (the stream ended). */
  flush(): ShownLine[] {
    return this.#held.splice(0).map((h) => h.line);
  }

  /** When the next line is due (undefined: none held). */
  nextDue(): number | undefined {
    return this.#held[0]?.due;
  }
}
