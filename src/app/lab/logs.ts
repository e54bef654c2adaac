/**
 * `halo lab logs`: the nodes' log files as one stream, each line prefixed with its node.
 * Without follow: the last lines of each, merged by their JSON timestamp. With follow:
 * then every new line as it lands (polled: the files are plain appends by other processes).
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { sleep } from './system.js';

export interface LogSource {
  name: string;
  path: string;
}

export interface TailOptions {
  follow?: boolean;
  /** lines per file shown first (default 20) */
  lines?: number;
  write: (line: string) => void;
  /** ends a follow */
  signal?: AbortSignal;
  pollMs?: number;
  /** the JSON lines as they are; default: time, level, event and fields, like the text log format */
  raw?: boolean;
}

const MAX_READ = 4 * 1024 * 1024;

function size(path: string): number | undefined {
  try {
    return statSync(path).size;
  } catch {
    return undefined;
  }
}

function readRange(path: string, from: number, to: number): string {
  const fd = openSync(path, 'r');
  try {
    const len = Math.max(0, to - from);
    const buf = Buffer.alloc(len);
    const n = readSync(fd, buf, 0, len, from);
    return buf.subarray(0, n).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

function timestampOf(line: string): number {
  const m = /"timestamp":"([^"]+)"/.exec(line);
  const t = m?.[1] !== undefined ? Date.parse(m[1]) : NaN;
  return Number.isNaN(t) ? 0 : t;
}

/** A JSON log line as `11:47:43.111 INFO  node_stopping cause=SIGTERM`; anything else as it is. */
export function renderLine(line: string): string {
  if (!line.startsWith('{')) return line;
  let e: Record<string, unknown>;
  try {
    e = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const { timestamp, level, message, node: _node, ...rest } = e;
  if (typeof message !== 'string') return line;
  const time = typeof timestamp === 'string' ? (timestamp.split('T')[1] ?? timestamp).replace(/Z$/, '') : '';
  const fields = Object.entries(rest)
    .map(([k, v]) => `${k}=${typeof v === 'string' && !/[\s"=]/.test(v) ? v : JSON.stringify(v)}`)
    .join(' ');
  return `${time} ${String(level ?? '').toUpperCase().padEnd(5)} ${message}${fields ? ` ${fields}` : ''}`;
}

/** Width the prefixes so columns line up: "lb1    | ..." */
function prefixer(sources: readonly LogSource[]): (name: string, line: string) => string {
  const width = Math.max(...sources.map((s) => s.name.length));
  return (name, line) => `${name.padEnd(width)} | ${line}`;
}

/** The last `count` complete lines of a file, reading at most MAX_READ from its end. */
export function lastLines(path: string, count: number): { lines: string[]; end: number } {
  const end = size(path);
  if (end === undefined) return { lines: [], end: 0 };
  const text = readRange(path, Math.max(0, end - MAX_READ), end);
  const lines = text.split('\n');
  lines.pop(); // the part after the last newline: empty, or a line still being written
  const consumed = text.endsWith('\n') ? end : end - Buffer.byteLength(text.slice(text.lastIndexOf('\n') + 1));
  return { lines: count >= lines.length ? lines : lines.slice(lines.length - count), end: consumed };
}

export async function tailLogs(sources: readonly LogSource[], opts: TailOptions): Promise<void> {
  const pad = prefixer(sources);
  const prefix = opts.raw === true ? pad : (name: string, line: string) => pad(name, renderLine(line));
  const offsets = new Map<string, number>();
  const first: Array<{ name: string; line: string; t: number; i: number }> = [];
  for (const s of sources) {
    const { lines, end } = lastLines(s.path, opts.lines ?? 20);
    offsets.set(s.path, end);
    lines.forEach((line, i) => first.push({ name: s.name, line, t: timestampOf(line), i }));
  }
  first.sort((a, b) => a.t - b.t || a.i - b.i);
  for (const e of first) opts.write(prefix(e.name, e.line));
  if (!opts.follow) return;

  const poll = opts.pollMs ?? 200;
  while (!opts.signal?.aborted) {
    await sleep(poll);
    let present = 0;
    for (const s of sources) {
      const end = size(s.path);
      if (end === undefined) continue;
      present++;
      let from = offsets.get(s.path) ?? 0;
      if (end < from) from = 0; // truncated or replaced: start over
      if (end === from) continue;
      const text = readRange(s.path, from, Math.min(end, from + MAX_READ));
      const cut = text.lastIndexOf('\n');
      if (cut < 0) continue; // no complete line yet
      for (const line of text.slice(0, cut).split('\n')) opts.write(prefix(s.name, line));
      offsets.set(s.path, from + Buffer.byteLength(text.slice(0, cut + 1)));
    }
    // The lab went down (its state directory removed): nothing left to follow.
    if (present === 0) return;
  }
}
