/**
 * What `halo logs` prints, and how it reads --since. Pure: the caller passes the clock.
 *
 *   12:04:31.120 lb1  INFO  node_started config=/etc/halo/halo.yaml
 *   12:04:33.481 lb2  WARN  replication_link_lost master=lb1 cause="link closed (1006)"
 *
 * The time is UTC (as in the nodes' own logs), then the node, then the node's text format.
 */
import { HaloError } from '../../core/errors.js';

/** A log line as `halo logs` handles it (from an /events message). */
export interface ShownLine {
  node: string;
  /** Wall-clock ms on the origin node. */
  at: number;
  /** Ties between equal times: the origin's order. */
  boot: number;
  seq: number;
  /** The node's JSON log line: level, message, timestamp, node and the fields. */
  entry: Record<string, unknown>;
}

const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION_RE = /^(?:\d+(?:ms|s|m|h|d))+$/;
const PART_RE = /(\d+)(ms|s|m|h|d)/g;

export class LogsUsageError extends HaloError {
  constructor(message: string) {
    super('HALO_ERR_CLI_USAGE', message);
    this.name = 'LogsUsageError';
  }
}

/**
 * --since: a duration back from now (`90s`, `10m`, `1h30m`, `2d`), an ISO time
 * (`2026-11-27T15:04:00Z`; without a zone it is the local time) or epoch milliseconds.
 * Returns wall-clock ms.
 */
export function parseSince(text: string, now: number): number {
  const t = text.trim();
  if (DURATION_RE.test(t)) {
    let ms = 0;
    for (const [, n, unit] of t.matchAll(PART_RE)) ms += Number(n) * (UNITS[unit ?? ''] ?? 0);
    return now - ms;
  }
  if (/^\d{1,16}$/.test(t)) return Number(t);
  // a date needs its dashes: Date.parse would read "5" or "May" as a date too
  if (/^\d{4}-\d{2}-\d{2}/.test(t)) {
    const ms = Date.parse(t);
    if (Number.isFinite(ms)) return ms;
  }
  throw new LogsUsageError(`--since: expected a duration (30s, 10m, 1h, 2d), an ISO time (2026-11-27T15:04:00Z) or epoch milliseconds, got "${text.slice(0, 60)}"`);
}

/** Time order; ties by node, then the node's own order. */
export function compareShown(a: ShownLine, b: ShownLine): number {
  return a.at - b.at || (a.node < b.node ? -1 : a.node > b.node ? 1 : 0) || a.boot - b.boot || a.seq - b.seq;
}

/**
 * C0/C1 control characters as \u escapes: lines come from other nodes, and whatever a
 * field holds (a backend's header, a path) must not drive the terminal.
 */
export function escapeControls(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** HH:MM:SS.mmm, UTC. */
export function clockTime(ms: number): string {
  return new Date(ms).toISOString().slice(11, 23);
}

function fieldValue(v: unknown): string {
  if (typeof v === 'string' && v !== '' && !/[\s"=\\]/.test(v)) return v;
  return JSON.stringify(v) ?? String(v);
}

const SHOWN_APART = new Set(['level', 'message', 'timestamp', 'node']);

/** One line for people: `HH:MM:SS.mmm node  LEVEL event k=v ...`, node padded to nodeWidth. */
export function formatText(line: ShownLine, nodeWidth: number): string {
  const e = line.entry;
  const level = String(e['level'] ?? 'info').toUpperCase().padEnd(5);
  const message = String(e['message'] ?? '');
  const fields = Object.entries(e)
    .filter(([k, v]) => !SHOWN_APART.has(k) && v !== undefined)
    .map(([k, v]) => `${k}=${fieldValue(v)}`)
    .join(' ');
  return escapeControls(`${clockTime(line.at)} ${line.node.padEnd(nodeWidth)}  ${level} ${message}${fields ? ` ${fields}` : ''}`);
}

/** One line for machines: the node's own JSON log line (it names its node). */
export function formatJson(line: ShownLine): string {
  return JSON.stringify({ ...line.entry, node: line.node });
}

/**
 * An /events message as a line, or undefined for other messages (status, replayed). A
 * node without the cluster feed sends its own lines without `node`: the entry names it.
 */
export function shownLine(message: unknown): ShownLine | undefined {
  if (typeof message !== 'object' || message === null) return undefined;
  const m = message as Record<string, unknown>;
  if (m['type'] !== 'log' || typeof m['entry'] !== 'object' || m['entry'] === null) return undefined;
  const entry = m['entry'] as Record<string, unknown>;
  const node = typeof m['node'] === 'string' ? m['node'] : typeof entry['node'] === 'string' ? entry['node'] : '?';
  const at = typeof m['at'] === 'number' ? m['at'] : typeof entry['timestamp'] === 'string' ? Date.parse(entry['timestamp']) : Number.NaN;
  if (!Number.isFinite(at)) return undefined;
  return { node, at, boot: typeof m['boot'] === 'number' ? m['boot'] : 0, seq: typeof m['seq'] === 'number' ? m['seq'] : 0, entry };
}
