/**
 * `GET /events` as a WebSocket: each client gets the feed's opening messages (a replay of
 * the recent log and the current status), then every live message. Server to client only.
 *
 * Bounded: at most maxClients at once; a client whose socket holds more than
 * maxBufferedBytes unsent is dropped (the node never buffers without limit for a reader
 * that does not read); a client that misses a heartbeat pong is cut.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from '../logger.js';

export interface EventFeed {
  /** What a new client gets first: the log since `sinceMs` (undefined: none) and the current status. */
  initial(sinceMs: number | undefined): unknown[];
  /** Live messages; returns the unsubscribe function. */
  subscribe(send: (message: unknown) => void): () => void;
}

export interface EventsHubOptions {
  feed: EventFeed;
  maxClients: number;
  maxBufferedBytes: number;
  heartbeatMs: number;
  log: Logger;
}

/** 1013 Try Again Later: the client may reconnect (with ?since=) once it keeps up. */
export const CLOSE_SLOW_CONSUMER = 1013;
const CLOSE_GOING_AWAY = 1001;
const TERMINATE_AFTER_MS = 1000;

interface Client {
  alive: boolean;
  remote: string;
}

export class EventsHub {
  readonly #opts: EventsHubOptions;
  readonly #wss = new WebSocketServer({ noServer: true, maxPayload: 1024, perMessageDeflate: false });
  readonly #clients = new Map<WebSocket, Client>();
  readonly #unsubscribe: () => void;
  readonly #heartbeat: NodeJS.Timeout;

  constructor(opts: EventsHubOptions) {
    this.#opts = opts;
    this.#unsubscribe = opts.feed.subscribe((message) => this.#broadcast(message));
    this.#heartbeat = setInterval(() => this.#beat(), opts.heartbeatMs);
    this.#heartbeat.unref();
  }

  get size(): number {
    return this.#clients.size;
  }

  get full(): boolean {
    return this.#clients.size >= this.#opts.maxClients;
  }

  /** The caller has checked the path, the credentials and `full`. */
  accept(req: IncomingMessage, socket: Duplex, head: Buffer, sinceMs: number | undefined): void {
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      const remote = req.socket.remoteAddress ?? '?';
      this.#clients.set(ws, { alive: true, remote });
      ws.on('pong', () => {
        const c = this.#clients.get(ws);
        if (c) c.alive = true;
      });
      ws.on('close', () => this.#clients.delete(ws));
      ws.on('error', () => ws.terminate());
      // Nothing a client sends means anything; maxPayload bounds it.
      ws.on('message', () => undefined);
      for (const m of this.#opts.feed.initial(sinceMs)) ws.send(JSON.stringify(m));
    });
  }

  #broadcast(message: unknown): void {
    if (this.#clients.size === 0) return;
    const text = JSON.stringify(message);
    for (const [ws, c] of this.#clients) {
      if (ws.readyState !== ws.OPEN) continue;
      if (ws.bufferedAmount > this.#opts.maxBufferedBytes) {
        this.#drop(ws, c, `more than ${this.#opts.maxBufferedBytes} bytes unsent`);
        continue;
      }
      ws.send(text);
    }
  }

  #drop(ws: WebSocket, c: Client, cause: string): void {
    this.#clients.delete(ws);
    ws.close(CLOSE_SLOW_CONSUMER, 'too slow: reconnect with ?since=');
    setTimeout(() => ws.terminate(), TERMINATE_AFTER_MS).unref();
    // Not from inside a broadcast: this line is itself an event for the other clients.
    setImmediate(() => this.#opts.log.warn('admin_events_client_dropped', { remote: c.remote, cause }));
  }

  #beat(): void {
    for (const [ws, c] of this.#clients) {
      if (!c.alive) {
        this.#clients.delete(ws);
        ws.terminate();
        continue;
      }
      c.alive = false;
      ws.ping();
    }
  }

  /** Close every client (1001), bounded: stragglers are terminated. */
  async close(): Promise<void> {
    clearInterval(this.#heartbeat);
    this.#unsubscribe();
    const closing = [...this.#clients.keys()].map(
      (ws) =>
        new Promise<void>((resolve) => {
          if (ws.readyState === ws.CLOSED) return resolve();
          const t = setTimeout(() => {
            ws.terminate();
            resolve();
          }, TERMINATE_AFTER_MS);
          ws.once('close', () => {
            clearTimeout(t);
            resolve();
          });
          ws.close(CLOSE_GOING_AWAY, 'node stopping');
        }),
    );
    this.#clients.clear();
    await Promise.all(closing);
    this.#wss.close();
  }
}
