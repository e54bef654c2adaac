/**
 * The listening side of replication: every node runs one (docs/design-as-built.md
 * section 4). It accepts WebSocket connections (wss with mutual TLS when configured),
 * runs the listener handshake, and hands each authenticated peer to `onPeer`. Until the
 * handshake is done a peer can send text frames only; a binary frame, a malformed
 * message, a wrong key or a late answer closes it with a code and reason, and is counted.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { HaloError } from '../../core/errors.js';
import { CLOSE_TOO_MANY_PEERS, CONTROL_MAX_BYTES, encodeControl, type CloseCode } from '../../core/replication/handshake-messages.js';
import { ListenerHandshake, refuseStep, type HandshakeIdentity, type HandshakeStep } from '../../core/replication/handshake-state.js';
import type { Logger } from '../logger.js';

export interface ReplicationTls {
  cert: Buffer;
  key: Buffer;
  ca: Buffer;
}

export interface AuthenticatedPeer {
  readonly node: string;
  readonly remote: string;
  readonly ws: WebSocket;
}

export interface ReplicationServerOptions {
  host: string;
  port: number;
  tls?: ReplicationTls | undefined;
  identity: HandshakeIdentity;
  handshakeTimeoutMs: number;
  /** Authenticated peers at once; more are refused with 4429. */
  maxPeers: number;
  /** The master's epoch for welcome (undefined when this node is not master). */
  epoch(): number | undefined;
  /** An authenticated peer: from here on the caller owns the socket. */
  onPeer(peer: AuthenticatedPeer): void;
  log: Logger;
}

/** What a dialler (standby) accepts: updates and snapshot chunks are batched, so a few MB. */
export const DATA_MAX_PAYLOAD = 16 * 1024 * 1024;
/** Handshakes in progress at once, beyond the peers: more are cut at once (a flood of idle sockets). */
const MAX_PENDING_HANDSHAKES = 16;

export interface ServerCounters {
  accepted: number;
  /** by close code: 4401 auth, 4403 cluster, 4409 config, 4400 protocol, 4408 timeout, 4429 peers */
  refused: Record<number, number>;
  peers: number;
}

export class ReplicationServer {
  readonly #opts: ReplicationServerOptions;
  #http: HttpServer | undefined;
  #wss: WebSocketServer | undefined;
  readonly #sockets = new Set<WebSocket>();
  readonly #peers = new Set<WebSocket>();
  readonly counters: ServerCounters = { accepted: 0, refused: {}, peers: 0 };

  constructor(opts: ReplicationServerOptions) {
    this.#opts = opts;
  }

  /** Bound address (port 0 in tests picks one). */
  get address(): AddressInfo | undefined {
    const a = this.#http?.address();
    return a !== null && typeof a === 'object' ? a : undefined;
  }

  async listen(): Promise<void> {
    const { tls } = this.#opts;
    const http = tls
      ? createHttpsServer({ cert: tls.cert, key: tls.key, ca: tls.ca, requestCert: true, rejectUnauthorized: true })
      : createHttpServer();
    http.on('request', (_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain' }).end('halo replication: WebSocket only\n');
    });
    // A TLS client without a valid certificate never reaches us as a WebSocket: count it here.
    http.on('tlsClientError', (err: Error) => this.#refused(4401, `TLS: ${err.message}`, 'unknown'));
    // The listener only ever receives control messages and acks: nothing large.
    const wss = new WebSocketServer({ server: http, maxPayload: CONTROL_MAX_BYTES, perMessageDeflate: false });
    wss.on('connection', (ws, req) => this.#accept(ws, req));
    this.#http = http;
    this.#wss = wss;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        reject(new HaloError('HALO_ERR_LISTEN', `replication cannot listen on ${this.#opts.host}:${this.#opts.port}: ${err.message}`, { code: err.code }, { cause: err }));
      };
      http.once('error', onError);
      http.listen(this.#opts.port, this.#opts.host, () => {
        http.off('error', onError);
        http.on('error', (err) => this.#opts.log.error('replication_server_error', { cause: err.message }));
        resolve();
      });
    });
  }

  async close(): Promise<void> {
    for (const ws of this.#sockets) ws.terminate();
    this.#sockets.clear();
    this.#peers.clear();
    this.#wss?.close();
    const http = this.#http;
    this.#http = undefined;
    if (http) await new Promise<void>((resolve) => http.close(() => resolve()));
  }

  #accept(ws: WebSocket, req: IncomingMessage): void {
    const remote = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;
    if (this.#sockets.size - this.#peers.size >= MAX_PENDING_HANDSHAKES) {
      this.#refused(CLOSE_TOO_MANY_PEERS, `${MAX_PENDING_HANDSHAKES} handshakes already in progress`, remote);
      ws.terminate();
      return;
    }
    this.#sockets.add(ws);
    ws.on('close', () => {
      this.#sockets.delete(ws);
      if (this.#peers.delete(ws)) this.counters.peers = this.#peers.size;
    });
    ws.on('error', (err) => this.#opts.log.debug('replication_socket_error', { remote, cause: err.message }));
    const hs = new ListenerHandshake(this.#opts.identity, { epoch: () => this.#opts.epoch() });
    const timer = setTimeout(() => this.#step(ws, remote, hs.timeout()), this.#opts.handshakeTimeoutMs);
    const onMessage = (data: RawData, isBinary: boolean): void => {
      const text = rawText(data);
      let step: HandshakeStep;
      const full = `this node already has ${this.#peers.size} replication peers (cluster.replication.max_peers)`;
      if (this.#peers.size >= this.#opts.maxPeers) step = hs.abort(CLOSE_TOO_MANY_PEERS, full);
      else if (isBinary) step = hs.abort(4400, 'binary frame during the handshake');
      else if (Buffer.byteLength(text) > CONTROL_MAX_BYTES) step = hs.abort(4400, `control message of ${Buffer.byteLength(text)} bytes (at most ${CONTROL_MAX_BYTES})`);
      else step = hs.receiveText(text);
      // two handshakes finishing together: the later one is refused instead of welcomed
      if (step.done && this.#peers.size >= this.#opts.maxPeers) step = refuseStep(CLOSE_TOO_MANY_PEERS, full);
      this.#step(ws, remote, step);
      if (step.done) {
        clearTimeout(timer);
        ws.off('message', onMessage);
        this.#peers.add(ws);
        this.counters.accepted += 1;
        this.counters.peers = this.#peers.size;
        this.#opts.onPeer({ node: step.done.peerNode, remote, ws });
      } else if (step.fail) {
        clearTimeout(timer);
        ws.off('message', onMessage);
      }
    };
    ws.on('message', onMessage);
    ws.on('close', () => clearTimeout(timer));
  }

  #step(ws: WebSocket, remote: string, step: HandshakeStep): void {
    if (step.send && ws.readyState === ws.OPEN) ws.send(encodeControl(step.send));
    if (step.fail) {
      this.#refused(step.fail.closeCode, step.fail.detail, remote);
      if (ws.readyState === ws.OPEN) ws.close(step.fail.closeCode, step.fail.reason);
      // a peer that does not answer the close handshake is cut after a second
      setTimeout(() => ws.terminate(), 1000).unref();
    }
  }

  #refused(code: CloseCode | number, detail: string, remote: string): void {
    this.counters.refused[code] = (this.counters.refused[code] ?? 0) + 1;
    this.#opts.log.warn('replication_peer_refused', { remote, close_code: code, cause: detail });
  }
}

export function rawText(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

export function rawBytes(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}
