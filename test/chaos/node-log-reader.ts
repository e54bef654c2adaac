/**
 * A lab node's JSON log read as it grows (each call reads only the new bytes), kept as
 * the election timeline the chaos checks need: every `state_change` with its time,
 * cause and whether the takeover was degraded (not synced), and every `backend_down`.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import type { StatePoint } from './timeline-checks.js';

export interface StateChange extends StatePoint {
  from?: string;
  cause?: string;
  degraded: boolean;
}

/** A `backend_down` line: the node's health checks gave up on a backend. */
export interface BackendDown {
  t: number;
  service: string;
  backend: string;
}

export class NodeLogReader {
  readonly changes: StateChange[] = [];
  readonly backendDowns: BackendDown[] = [];
  #offset = 0;
  #partial = '';

  constructor(readonly node: string, readonly path: string) {}

  /** Read what was appended since the last call; the new state changes. */
  poll(): StateChange[] {
    let size: number;
    try {
      size = statSync(this.path).size;
    } catch {
      return [];
    }
    if (size < this.#offset) {
      this.#offset = 0; // rewritten: start over
      this.#partial = '';
    }
    if (size === this.#offset) return [];
    const fd = openSync(this.path, 'r');
    let text: string;
    try {
      const buf = Buffer.alloc(size - this.#offset);
      const n = readSync(fd, buf, 0, buf.length, this.#offset);
      this.#offset += n;
      text = this.#partial + buf.subarray(0, n).toString('utf8');
    } finally {
      closeSync(fd);
    }
    const cut = text.lastIndexOf('\n');
    this.#partial = text.slice(cut + 1);
    const fresh: StateChange[] = [];
    for (const line of text.slice(0, cut + 1).split('\n')) {
      const down = line.includes('"backend_down"');
      if (!down && !line.includes('"state_change"')) continue;
      try {
        const e = JSON.parse(line) as Record<string, unknown>;
        if (down) {
          if (e['message'] === 'backend_down' && typeof e['timestamp'] === 'string') {
            this.backendDowns.push({ t: Date.parse(e['timestamp']), service: String(e['service']), backend: String(e['backend']) });
          }
          continue;
        }
        if (e['message'] !== 'state_change' || typeof e['state'] !== 'string' || typeof e['timestamp'] !== 'string') continue;
        fresh.push({
          t: Date.parse(e['timestamp']),
          state: e['state'],
          ...(typeof e['from'] === 'string' ? { from: e['from'] } : {}),
          ...(typeof e['cause'] === 'string' ? { cause: e['cause'] } : {}),
          degraded: e['degraded'] === true,
        });
      } catch {
        // a line cut by SIGKILL
      }
    }
    this.changes.push(...fresh);
    return fresh;
  }

  stateAt(t: number): string | undefined {
    let s: string | undefined;
    for (const c of this.changes) {
      if (c.t > t) break;
      s = c.state;
    }
    return s;
  }

  /** Drop changes older than `t`, keeping the last one before it. */
  trim(t: number): void {
    let keepFrom = 0;
    for (let i = 0; i < this.changes.length; i++) if ((this.changes[i] as StateChange).t <= t) keepFrom = i;
    this.changes.splice(0, keepFrom);
    const downFrom = this.backendDowns.findIndex((d) => d.t >= t);
    this.backendDowns.splice(0, downFrom < 0 ? this.backendDowns.length : downFrom);
  }
}
