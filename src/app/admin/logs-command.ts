/**
 * `halo logs [-f] [--since T] [--node N] [--json]`: the whole cluster's log from any one
 * node. It reads the node's admin API (`GET /events?cluster=1`, found as `halo status`
 * finds it): a replay in time order, then, with -f, every new line through a short
 * reorder window so that lines from different nodes come out in time order.
 */
import { parseArgs } from 'node:util';
import { WebSocket, type RawData } from 'ws';
import { ConfigError, HaloError } from '../../core/errors.js';
import { ADMIN_DEFAULT_LISTEN } from '../../config/admin-schema.js';
import { compareShown, formatJson, formatText, LogsUsageError, parseSince, shownLine, type ShownLine } from './logs-text.js';
import { DEFAULT_REORDER_WINDOW_MS, ReorderWindow } from './reorder-window.js';
import { resolveTarget, type CommandIo } from './status-command.js';

export const LOGS_HELP = `Usage: halo logs [-f] [--since T] [--node N]... [--json] [--config FILE] [--admin URL] [--token-file FILE]

The merged log of the whole cluster, read from any one node: each line prefixed by its
node, in time order (UTC). Nodes pass their log lines to each other over the replication
links: the master holds everybody's, a standby its own, the master's and the other
standbys'. Each node keeps its own last 2000 lines and 5000 of the others'.

  -f, --follow          keep printing new lines until Ctrl-C; they are held ${DEFAULT_REORDER_WINDOW_MS} ms so
                        that lines from different nodes come out in time order
      --since T         from T: a duration back (30s, 10m, 1h30m, 2d), an ISO time
                        (2026-11-27T15:04:00Z) or epoch milliseconds (default: all lines held)
      --node N          only node N's lines (repeat for more nodes)
      --json            one JSON object per line (the node's JSON log line) instead of text
  -c, --config FILE     the node's config: admin.listen and admin.token_file/token_env
                        (without it and without --admin: http://${ADMIN_DEFAULT_LISTEN})
      --admin URL       the admin API to ask, e.g. http://10.0.0.2:9797 (overrides the config)
      --token-file FILE the bearer token (overrides the config's)
  -h, --help            this text

Lines from different nodes are ordered by their own clocks: keep the nodes' clocks in step.

Exit codes: 0 ok (with -f: stopped with Ctrl-C), 1 the node is unreachable, refused, or
the connection was lost, 2 bad usage or config.`;

const CONNECT_TIMEOUT_MS = 5000;
const REPLAY_TIMEOUT_MS = 10_000;
const DRAIN_EVERY_MS = 50;
const NODE_WIDTH_MIN = 3;

export interface LogsCommandOptions {
  io?: CommandIo;
  /** Wall-clock ms (--since and the reorder window). */
  now?: () => number;
  /** Stops -f (Ctrl-C); default: SIGINT and SIGTERM. */
  signal?: AbortSignal;
  windowMs?: number;
  replayTimeoutMs?: number;
}

const processIo: CommandIo = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
};

interface Wanted {
  follow: boolean;
  json: boolean;
  nodes: ReadonlySet<string>;
}

/** http://host:port -> ws://host:port/events?cluster=1&since=N */
export function eventsUrl(base: string, sinceMs: number): string {
  const url = new URL('/events', base);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.searchParams.set('cluster', '1');
  url.searchParams.set('since', String(Math.max(0, Math.floor(sinceMs))));
  return url.toString();
}

export async function logsMain(args: string[], opts: LogsCommandOptions = {}): Promise<number> {
  const io = opts.io ?? processIo;
  const now = opts.now ?? Date.now;
  let v;
  try {
    v = parseArgs({
      args,
      options: {
        follow: { type: 'boolean', short: 'f' },
        since: { type: 'string' },
        node: { type: 'string', multiple: true },
        json: { type: 'boolean' },
        config: { type: 'string', short: 'c' },
        admin: { type: 'string' },
        'token-file': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    io.stderr(`HALO_ERR_CLI_USAGE: halo logs: ${(err as Error).message.replace(/\. To specify.*$/s, '')}\n${LOGS_HELP}\n`);
    return 2;
  }
  if (v.help === true) {
    io.stdout(`${LOGS_HELP}\n`);
    return 0;
  }
  let url: string;
  let token: string | undefined;
  try {
    const since = v.since === undefined ? 0 : parseSince(v.since, now());
    for (const n of v.node ?? []) if (n.trim() === '') throw new LogsUsageError('--node: expected a node name, got ""');
    const target = resolveTarget(v);
    url = eventsUrl(target.base, since);
    token = target.token;
  } catch (err) {
    if (err instanceof ConfigError || err instanceof HaloError) {
      io.stderr(`${err.code}: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const wanted: Wanted = { follow: v.follow === true, json: v.json === true, nodes: new Set(v.node ?? []) };
  const stop = opts.signal === undefined ? processStop(wanted.follow) : { signal: opts.signal, dispose: () => undefined };
  try {
    return await stream(url, token, wanted, { io, now, signal: stop.signal, windowMs: opts.windowMs ?? DEFAULT_REORDER_WINDOW_MS, replayTimeoutMs: opts.replayTimeoutMs ?? REPLAY_TIMEOUT_MS });
  } finally {
    stop.dispose();
  }
}

/** Ctrl-C (and a closed stdout, e.g. `| head`) end the command cleanly. */
function processStop(follow: boolean): { signal: AbortSignal; dispose(): void } {
  const ac = new AbortController();
  const abort = (): void => ac.abort();
  const onStdoutError = (): void => ac.abort();
  if (follow) {
    process.once('SIGINT', abort);
    process.once('SIGTERM', abort);
  }
  process.stdout.on('error', onStdoutError);
  return {
    signal: ac.signal,
    dispose: () => {
      process.off('SIGINT', abort);
      process.off('SIGTERM', abort);
      process.stdout.off('error', onStdoutError);
    },
  };
}

interface StreamContext {
  io: CommandIo;
  now: () => number;
  signal: AbortSignal;
  windowMs: number;
  replayTimeoutMs: number;
}

function stream(url: string, token: string | undefined, wanted: Wanted, ctx: StreamContext): Promise<number> {
  const { io } = ctx;
  return new Promise<number>((resolve) => {
    const ws = new WebSocket(url, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` }, handshakeTimeout: CONNECT_TIMEOUT_MS, perMessageDeflate: false, maxPayload: 1024 * 1024 });
    const window = new ReorderWindow(ctx.windowMs);
    const replay: ShownLine[] = [];
    const seen = new Set<string>();
    let replaying = true;
    let shown = 0;
    let width = NODE_WIDTH_MIN;
    let done = false;
    let drain: NodeJS.Timeout | undefined;
    let replayTimer: NodeJS.Timeout | undefined;

    const print = (lines: readonly ShownLine[]): void => {
      if (lines.length === 0) return;
      for (const l of lines) width = Math.max(width, l.node.length);
      shown += lines.length;
      io.stdout(`${lines.map((l) => (wanted.json ? formatJson(l) : formatText(l, width))).join('\n')}\n`);
    };
    const finish = (code: number, error?: string): void => {
      if (done) return;
      done = true;
      clearTimeout(replayTimer);
      if (drain) clearInterval(drain);
      ctx.signal.removeEventListener('abort', onAbort);
      print(window.flush());
      if (error !== undefined) io.stderr(`${error}\n`);
      else if (shown === 0 && wanted.nodes.size > 0 && seen.size > 0) {
        io.stderr(`halo logs: no lines from ${[...wanted.nodes].join(', ')} (lines were held from ${[...seen].sort().join(', ')})\n`);
      }
      ws.removeAllListeners();
      ws.on('error', () => undefined);
      ws.terminate();
      resolve(code);
    };
    const endReplay = (): void => {
      replaying = false;
      clearTimeout(replayTimer);
      replay.sort(compareShown);
      if (!wanted.follow) {
        print(replay);
        return finish(0);
      }
      const t = ctx.now();
      // through the window too: a peer's line still in flight may belong before the replay's last
      for (const l of replay) print(window.push(l, t));
      replay.length = 0;
      drain = setInterval(() => print(window.drain(ctx.now())), DRAIN_EVERY_MS);
    };
    const onAbort = (): void => finish(0);
    if (ctx.signal.aborted) return finish(0);
    ctx.signal.addEventListener('abort', onAbort);
    replayTimer = setTimeout(() => finish(1, `HALO_ERR_ADMIN: ${url}: connected, but the replay did not end within ${ctx.replayTimeoutMs} ms`), ctx.replayTimeoutMs);

    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (isBinary) return;
      let m: unknown;
      try {
        m = JSON.parse(rawString(data));
      } catch {
        return;
      }
      const type = (m as { type?: unknown }).type;
      // a node without the cluster feed ends its replay with the current status instead
      if (replaying && (type === 'replayed' || (type === 'status' && (m as { reason?: unknown }).reason === 'current'))) return endReplay();
      const line = shownLine(m);
      if (line === undefined) return;
      seen.add(line.node);
      if (wanted.nodes.size > 0 && !wanted.nodes.has(line.node)) return;
      if (replaying) replay.push(line);
      else print(window.push(line, ctx.now()));
    });
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (body.length < 4096) body += chunk;
      });
      res.on('end', () => finish(1, `HALO_ERR_ADMIN: ${url} answered ${res.statusCode ?? '?'}${refusal(body)}`));
      res.on('error', () => finish(1, `HALO_ERR_ADMIN: ${url} answered ${res.statusCode ?? '?'}`));
    });
    ws.on('error', (err: NodeJS.ErrnoException) => {
      finish(1, `HALO_ERR_ADMIN: cannot reach ${url}: ${err.code ?? err.message} (is halo running there, with admin.listen on that address?)`);
    });
    ws.on('close', (code: number, reason: Buffer) => {
      const why = `${code}${reason.length > 0 ? ` ${reason.toString('utf8')}` : ''}`;
      finish(1, `HALO_ERR_ADMIN: ${url}: the node closed the connection (${why})`);
    });
  });
}

function rawString(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

/** The admin API's JSON error body, as ` code: message`. */
function refusal(body: string): string {
  try {
    const e = (JSON.parse(body) as { error?: { code?: string; message?: string } }).error;
    if (e !== undefined) return ` ${e.code ?? ''}: ${e.message ?? ''}`;
  } catch {
    // not JSON: show what there is
  }
  return body === '' ? '' : `: ${body.slice(0, 200)}`;
}
