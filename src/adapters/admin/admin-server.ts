/**
 * The admin API's HTTP server (node:http, no framework):
 *   GET  /          the dashboard page, when the caller passes one
 *   GET  /status    the caller's status report as JSON
 *   GET  /metrics   Prometheus text
 *   GET  /events    WebSocket: log lines and status changes (?since=<epoch ms> replays); a browser
 *                   presents the token as the subprotocol `bearer.<base64url>` (auth.ts)
 *                   ?cluster=1: every node's log lines instead (halo logs), merged in time order
 *   POST /reload    the caller's reload handler, if any
 *   POST /failover  the caller's failover handler, if any; body {"hold_ms"?: n, "release"?: bool}
 * Every request is authorised first (auth.ts). Unknown paths are 404, a known path with
 * the wrong method 405 (with Allow), both JSON. Bodies are read only for POST /failover,
 * and bounded; a request with a body we do not read is answered and its connection closed.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { HaloError } from '../../core/errors.js';
import { isLoopbackAddress } from '../../config/admin-schema.js';
import type { Logger } from '../logger.js';
import { ThrottledWarning } from '../throttled-warning.js';
import { authorize, authorizePage, subprotocolToken, type AuthOptions } from './auth.js';
import { EventsHub, type EventFeed } from './events-socket.js';
import { BodyError, hasBody, readJsonBody, refuseUpgrade, sendError, sendJson } from './http-json.js';

export interface AdminActionResult {
  ok: boolean;
  message: string;
}

/** POST /failover's body: hand over for holdMs (the handler's default when absent), or end a hold. */
export interface FailoverRequest {
  holdMs?: number;
  release?: boolean;
}

export interface AdminServerOptions {
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  token?: Buffer | undefined;
  /** Default: 127.0.0.0/8 and ::1. */
  isLoopback?: (remoteAddress: string | undefined) => boolean;
  status(): unknown;
  /** GET /: a self-contained page and the Content-Security-Policy it needs; absent = 404. */
  dashboard?: { html: string; csp: string } | undefined;
  metrics(): Promise<{ contentType: string; body: string }>;
  events: EventFeed;
  /** GET /events?cluster=1: every node's lines (halo logs); absent = 501. */
  clusterEvents?: EventFeed | undefined;
  reload?: (() => Promise<AdminActionResult>) | undefined;
  failover?: ((req: FailoverRequest) => Promise<AdminActionResult>) | undefined;
  log: Logger;
  /** WebSocket clients on /events at once (default 32). */
  maxEventClients?: number;
  /** Unsent bytes after which an /events client is dropped (default 4 MiB). */
  maxBufferedBytes?: number;
  /** /events ping interval; a client that misses a pong is cut (default 15 s). */
  heartbeatMs?: number;
}

const MAX_BODY_BYTES = 4096;
const MAX_CONNECTIONS = 256;
const ROUTES: Record<string, readonly string[]> = {
  '/': ['GET'],
  '/status': ['GET'],
  '/metrics': ['GET'],
  '/events': ['GET'],
  '/reload': ['POST'],
  '/failover': ['POST'],
};

export class AdminServer {
  readonly #opts: AdminServerOptions;
  readonly #auth: AuthOptions;
  readonly #denied: ThrottledWarning;
  #http: Server | undefined;
  #hub: EventsHub | undefined;
  #clusterHub: EventsHub | undefined;

  constructor(opts: AdminServerOptions) {
    this.#opts = opts;
    this.#auth = { token: opts.token, isLoopback: opts.isLoopback ?? isLoopbackAddress };
    this.#denied = new ThrottledWarning(opts.log, 'admin_denied', 10_000);
  }

  get address(): AddressInfo | undefined {
    const a = this.#http?.address();
    return a !== null && typeof a === 'object' ? a : undefined;
  }

  get eventClients(): number {
    return (this.#hub?.size ?? 0) + (this.#clusterHub?.size ?? 0);
  }

  async listen(): Promise<AddressInfo> {
    const http = createServer({ maxHeaderSize: 8192 });
    http.requestTimeout = 10_000;
    http.headersTimeout = 5_000;
    http.keepAliveTimeout = 5_000;
    http.maxHeadersCount = 50;
    http.maxConnections = MAX_CONNECTIONS;
    http.on('request', (req: IncomingMessage, res: ServerResponse) => void this.#request(req, res));
    http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.#upgrade(req, socket, head));
    http.on('clientError', (_err, socket) => socket.destroy());
    this.#hub = new EventsHub({
      feed: this.#opts.events,
      maxClients: this.#opts.maxEventClients ?? 32,
      maxBufferedBytes: this.#opts.maxBufferedBytes ?? 4 * 1024 * 1024,
      heartbeatMs: this.#opts.heartbeatMs ?? 15_000,
      log: this.#opts.log,
    });
    const cluster = this.#opts.clusterEvents;
    this.#clusterHub =
      cluster === undefined
        ? undefined
        : new EventsHub({ feed: cluster, maxClients: this.#opts.maxEventClients ?? 32, maxBufferedBytes: this.#opts.maxBufferedBytes ?? 4 * 1024 * 1024, heartbeatMs: this.#opts.heartbeatMs ?? 15_000, log: this.#opts.log });
    this.#http = http;
    const { host, port } = this.#opts;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        void this.#hub?.close();
        void this.#clusterHub?.close();
        reject(new HaloError('HALO_ERR_LISTEN', `admin.listen: cannot listen on ${host.includes(':') ? `[${host}]` : host}:${port}: ${err.code ?? err.message}`, { host, port }, { cause: err }));
      };
      http.once('error', onError);
      http.listen(port, host, () => {
        http.off('error', onError);
        resolve();
      });
    });
    return this.address as AddressInfo;
  }

  async close(): Promise<void> {
    const http = this.#http;
    this.#http = undefined;
    await this.#hub?.close();
    await this.#clusterHub?.close();
    if (http === undefined) return;
    await new Promise<void>((resolve) => {
      http.close(() => resolve());
      http.closeAllConnections();
    });
  }

  #deny(req: IncomingMessage, code: string, message: string): void {
    // Never the Authorization header: only who asked for what.
    this.#denied.hit(performance.now(), { remote: req.socket.remoteAddress, method: req.method, path: (req.url ?? '').split('?')[0], code, cause: message });
  }

  async #request(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    // A body we are not going to read: answer and close instead of reading it.
    const readsBody = method === 'POST' && path === '/failover';
    if (hasBody(req) && !readsBody) res.setHeader('connection', 'close');
    const who = { headers: req.headers, remoteAddress: req.socket.remoteAddress };
    const auth = path === '/' && method === 'GET' ? authorizePage(who, this.#auth) : authorize(who, this.#auth);
    if (!auth.ok) {
      this.#deny(req, auth.code, auth.message);
      sendError(res, auth.status, auth.code, auth.message, auth.status === 401 ? { 'www-authenticate': 'Bearer realm="halo"' } : {});
      return;
    }
    const allowed = ROUTES[path];
    if (allowed === undefined) return sendError(res, 404, 'not_found', `no such path: ${path} (try /status, /metrics, /events)`);
    if (!allowed.includes(method)) return sendError(res, 405, 'method_not_allowed', `${path} accepts ${allowed.join(', ')}, not ${method}`, { allow: allowed.join(', ') });
    try {
      switch (path) {
        case '/': {
          const page = this.#opts.dashboard;
          if (page === undefined) return sendError(res, 404, 'not_found', 'this node serves no dashboard (try /status, /metrics, /events)');
          res.writeHead(200, {
            'content-type': 'text/html; charset=utf-8',
            'content-length': Buffer.byteLength(page.html),
            'cache-control': 'no-store',
            'x-content-type-options': 'nosniff',
            'content-security-policy': page.csp,
            'x-frame-options': 'DENY',
            'referrer-policy': 'no-referrer',
          });
          res.end(page.html);
          return;
        }
        case '/status':
          return sendJson(res, 200, await this.#opts.status());
        case '/metrics': {
          const m = await this.#opts.metrics();
          res.writeHead(200, { 'content-type': m.contentType, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(m.body) });
          res.end(m.body);
          return;
        }
        case '/events':
          return sendError(res, 426, 'upgrade_required', '/events is a WebSocket: connect with ws://host:port/events', { upgrade: 'websocket' });
        case '/reload': {
          const reload = this.#opts.reload;
          if (reload === undefined) return sendError(res, 501, 'not_implemented', 'this node has no reload handler');
          return this.#action(res, 'reload', await reload());
        }
        case '/failover': {
          const failover = this.#opts.failover;
          if (failover === undefined) return sendError(res, 501, 'not_implemented', 'this node has no failover handler');
          const parsed = parseFailover(await readJsonBody(req, MAX_BODY_BYTES));
          if (typeof parsed === 'string') return sendError(res, 400, 'bad_request', parsed);
          return this.#action(res, 'failover', await failover(parsed));
        }
      }
    } catch (err) {
      if (err instanceof BodyError) return sendError(res, err.status, err.code, err.message, { connection: 'close' });
      this.#opts.log.error('admin_request_failed', { method, path, cause: (err as Error).message });
      if (!res.headersSent) sendError(res, 500, 'internal', (err as Error).message);
      else res.destroy();
    }
  }

  /** 200 when done, 409 when the node refused (e.g. failover on a backup), with the handler's message. */
  #action(res: ServerResponse, what: string, result: AdminActionResult): void {
    this.#opts.log.info('admin_action', { action: what, ok: result.ok, cause: result.message });
    sendJson(res, result.ok ? 200 : 409, { ok: result.ok, message: result.message });
  }

  #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const url = new URL(req.url ?? '/', 'http://admin');
    // Authorised first, as plain requests are: an unauthorised client learns nothing, not even which paths exist.
    // ws echoes the first offered subprotocol, as a browser requires: the bearer one is the only one we expect.
    const offered = subprotocolToken(req.headers);
    const auth = authorize({ headers: req.headers, remoteAddress: req.socket.remoteAddress, token: offered?.token }, this.#auth);
    if (!auth.ok) {
      this.#deny(req, auth.code, auth.message);
      return refuseUpgrade(socket, auth.status, auth.code, auth.message);
    }
    if (url.pathname !== '/events') return refuseUpgrade(socket, 404, 'not_found', `no WebSocket at ${url.pathname} (try /events)`);
    if (req.method !== 'GET') return refuseUpgrade(socket, 405, 'method_not_allowed', '/events accepts GET');
    const raw = url.searchParams.get('since');
    let since: number | undefined;
    if (raw !== null) {
      since = Number(raw);
      if (!/^\d{1,16}$/.test(raw) || !Number.isSafeInteger(since)) return refuseUpgrade(socket, 400, 'bad_request', `since: expected wall-clock milliseconds since the epoch, got "${raw.slice(0, 40)}"`);
    }
    const cluster = url.searchParams.get('cluster');
    if (cluster !== null && cluster !== '0' && cluster !== '1') return refuseUpgrade(socket, 400, 'bad_request', `cluster: expected 1 (every node's log lines) or 0 (this node's lines and status), got "${cluster.slice(0, 40)}"`);
    if (cluster === '1' && this.#clusterHub === undefined) return refuseUpgrade(socket, 501, 'not_implemented', 'this node keeps no cluster log');
    const hub = cluster === '1' ? this.#clusterHub : this.#hub;
    if (hub === undefined || hub.full) return refuseUpgrade(socket, 503, 'unavailable', 'too many /events clients; try again later');
    hub.accept(req, socket, head, since);
  }
}

/** `{}` / `{"hold_ms": 600000}` / `{"release": true}`; anything else is a message for the 400. */
export function parseFailover(body: unknown): FailoverRequest | string {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'expected a JSON object like {"hold_ms": 600000} or {"release": true}';
  const out: FailoverRequest = {};
  for (const [k, v] of Object.entries(body)) {
    if (k === 'hold_ms') {
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) return `hold_ms: expected a whole number of milliseconds >= 0, got ${JSON.stringify(v)}`;
      out.holdMs = v;
    } else if (k === 'release') {
      if (typeof v !== 'boolean') return `release: expected true or false, got ${JSON.stringify(v)}`;
      out.release = v;
    } else {
      return `${k}: unknown key (known: hold_ms, release)`;
    }
  }
  return out;
}
