/**
 * One client connection: reads request heads, runs exchanges one at a time (pipelined
 * requests wait in a stash while the socket is paused), keeps the connection alive
 * between requests, enforces the header and idle timeouts, and turns into a tunnel
 * after a 101.
 */
import type net from 'node:net';
import { BODY_CHUNKED, BODY_LENGTH, BodyFramer } from '../../core/http/body-framing.js';
import { localResponse } from '../../core/http/local-response.js';
import { RequestHeadParser, type RequestHead } from '../../core/http/request-head.js';
import { ResponseHeadParser } from '../../core/http/response-head.js';
import { PAUSE_OUTPUT, PAUSE_STASH, type HttpProxyContext } from './http-context.js';
import { HttpExchange } from './http-exchange.js';
import { HttpTunnel } from './http-tunnel.js';
import type { UpstreamConn } from './upstream-pool.js';

const P_IDLE = 0;
const P_HEAD = 1;
const P_EXCHANGE = 2;
const P_TUNNEL = 3;
const P_CLOSING = 4;
const P_CLOSED = 5;

/** After our FIN, how long a client may take to close its side before we cut it. */
const LINGER_MS = 2000;

export class HttpClientConn {
  readonly reqParser: RequestHeadParser;
  readonly reqFramer = new BodyFramer();
  readonly resParser = new ResponseHeadParser();
  readonly resFramer = new BodyFramer();
  /** The client half-closed after a complete request: answer it, then close. */
  closeRequested = false;
  private phase = P_IDLE;
  /** Start of the current phase: idle since, head started at, closing since. */
  private since: number;
  private exchange: HttpExchange | undefined;
  private tunnel: HttpTunnel | undefined;
  private stash: Buffer | undefined;
  private pauseFlags = 0;
  private inLoop = false;
  private loopAgain = false;
  private endSent = false;
  /** A request head has begun on this connection (before that, the header timeout applies to idling). */
  private spoke = false;

  constructor(
    private readonly ctx: HttpProxyContext,
    readonly socket: net.Socket,
    readonly ip: string,
    readonly port: number,
    private readonly onClosed: (conn: HttpClientConn) => void,
  ) {
    this.since = ctx.coarseNow;
    this.reqParser = new RequestHeadParser(ctx.dispatcher.service.limits.max_header_bytes);
    socket.on('data', (chunk: Buffer) => {
      try {
        this.onData(chunk);
      } catch (err) {
        this.internalError(err);
      }
    });
    socket.on('end', () => {
      try {
        this.onEnd();
      } catch (err) {
        this.internalError(err);
      }
    });
    socket.on('drain', () => {
      try {
        if (this.exchange !== undefined) this.exchange.onClientDrain();
        else if (this.tunnel !== undefined) this.tunnel.onClientDrain();
        else if ((this.pauseFlags & PAUSE_OUTPUT) !== 0 && this.phase === P_IDLE) {
          this.resumeFor(PAUSE_OUTPUT);
          this.runStash();
        }
      } catch (err) {
        this.internalError(err);
      }
    });
    socket.on('finish', () => {
      if (this.phase === P_CLOSING) this.since = this.ctx.coarseNow;
    });
    socket.on('error', () => {
      // Resets and timeouts are normal client behaviour; 'close' follows and cleans up.
    });
    socket.on('close', () => {
      try {
        this.onClose();
      } catch (err) {
        this.ctx.logger.error('http_internal_error', { service: this.ctx.dispatcher.service.name, error: String(err) });
      }
    });
  }

  /** A bug above us threw: this connection dies, the process does not. */
  private internalError(err: unknown): void {
    this.ctx.logger.error('http_internal_error', { service: this.ctx.dispatcher.service.name, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    this.destroy();
  }

  get idle(): boolean {
    return this.phase === P_IDLE;
  }

  pauseFor(flag: number): void {
    if (this.pauseFlags === 0) this.socket.pause();
    this.pauseFlags |= flag;
  }

  /** Whether the client is paused for any of these reasons (our doing, not the client's slowness). */
  pausedFor(flags: number): boolean {
    return (this.pauseFlags & flags) !== 0;
  }

  resumeFor(flag: number): void {
    if ((this.pauseFlags & flag) === 0) return;
    this.pauseFlags &= ~flag;
    if (this.pauseFlags === 0 && this.phase !== P_CLOSED) this.socket.resume();
  }

  private onData(chunk: Buffer): void {
    switch (this.phase) {
      case P_IDLE:
      case P_HEAD:
        this.onHeadData(chunk);
        return;
      case P_EXCHANGE: {
        const ex = this.exchange!;
        const rest = ex.reqComplete ? chunk : ex.acceptBody(chunk);
        if (rest !== undefined && this.phase === P_EXCHANGE) this.addStash(rest);
        return;
      }
      case P_TUNNEL:
        this.tunnel!.fromClient(chunk);
        return;
      default:
      // Closing: bytes after our last response are read and dropped so the close stays clean.
    }
  }

  private addStash(buf: Buffer): void {
    this.stash = this.stash === undefined ? buf : Buffer.concat([this.stash, buf]);
    this.pauseFor(PAUSE_STASH);
  }

  private onHeadData(chunk: Buffer): void {
    this.spoke = true;
    const r = this.reqParser.push(chunk);
    if (r.kind === 'incomplete') {
      if (this.phase === P_IDLE && this.reqParser.inProgress) {
        this.phase = P_HEAD;
        this.since = this.ctx.clock.now();
      }
      return;
    }
    if (r.kind === 'error') {
      const c = this.ctx.counters;
      if (r.status === 431) c.headerTooLarge++;
      else c.badRequests++;
      this.ctx.logger.debug('http_bad_request', { service: this.ctx.dispatcher.service.name, client: this.ip, status: r.status, reason: r.reason });
      this.sendAndClose(localResponse(r.status, r.reason, true));
      return;
    }
    this.startExchange(r.head, r.rest);
  }

  private startExchange(head: RequestHead, rest: Buffer | undefined): void {
    this.phase = P_EXCHANGE;
    this.reqFramer.reset(head.chunked ? BODY_CHUNKED : BODY_LENGTH, head.contentLength > 0 ? head.contentLength : 0);
    const ex = new HttpExchange(this.ctx, this, head);
    this.exchange = ex;
    if (rest !== undefined) {
      const after = ex.reqComplete ? rest : ex.acceptBody(rest);
      if (after !== undefined && !ex.done) this.addStash(after);
    }
    if (!ex.done) ex.start();
  }

  /** The exchange is over and its response written (or being flushed). */
  exchangeDone(close: boolean): void {
    this.exchange = undefined;
    if (this.phase !== P_EXCHANGE) return;
    const had = this.pauseFlags;
    this.pauseFlags &= PAUSE_STASH;
    if (had !== 0 && this.pauseFlags === 0) this.socket.resume();
    if (close || this.closeRequested || this.ctx.draining) {
      this.closeGracefully();
      return;
    }
    this.phase = P_IDLE;
    this.since = this.ctx.coarseNow;
    if (this.socket.writableNeedDrain) {
      // A client that pipelines without reading must not make us buffer answers without bound.
      this.pauseFor(PAUSE_OUTPUT);
      return;
    }
    this.runStash();
  }

  /** Parse stashed pipelined bytes; a loop rather than recursion when answers are synchronous. */
  private runStash(): void {
    if (this.inLoop) {
      this.loopAgain = true;
      return;
    }
    this.inLoop = true;
    try {
      do {
        this.loopAgain = false;
        if (this.phase !== P_IDLE) break;
        const s = this.stash;
        this.stash = undefined;
        if (s === undefined) break;
        this.onHeadData(s);
      } while (this.loopAgain);
    } finally {
      this.inLoop = false;
    }
    if (this.stash === undefined) this.resumeFor(PAUSE_STASH);
  }

  startTunnel(up: UpstreamConn, toClient: Buffer, bytesFromBackend: number): void {
    this.exchange = undefined;
    this.phase = P_TUNNEL;
    const stash = this.stash;
    this.stash = undefined;
    this.tunnel = new HttpTunnel(this.ctx, this, up, toClient, bytesFromBackend, stash);
    this.pauseFlags = PAUSE_STASH;
    this.resumeFor(PAUSE_STASH);
  }

  tunnelClosed(): void {
    this.tunnel = undefined;
    this.destroy();
  }

  private onEnd(): void {
    switch (this.phase) {
      case P_EXCHANGE:
        if (this.exchange!.reqComplete) {
          this.closeRequested = true;
          return;
        }
        this.exchange!.onClientClose();
        this.destroy();
        return;
      case P_TUNNEL:
        this.tunnel!.onClientEnd();
        return;
      default:
        // Our FIN follows once pending writes flush; both sides ended, the socket destroys itself.
        this.closeGracefully();
    }
  }

  /** Write a final response and close once it is flushed. */
  sendAndClose(buf: Buffer): void {
    this.socket.write(buf);
    this.closeGracefully();
  }

  private closeGracefully(): void {
    if (this.phase === P_CLOSED) return;
    this.phase = P_CLOSING;
    this.since = this.ctx.coarseNow;
    this.stash = undefined;
    if (!this.endSent) {
      this.endSent = true;
      this.socket.end();
    }
    // Keep reading (and dropping) until the client closes: an unread byte would turn our close into a reset.
    this.pauseFlags = 0;
    this.socket.resume();
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** Called by the proxy's sweep. */
  checkTimers(now: number): void {
    const t = this.ctx.dispatcher.service.timeouts;
    switch (this.phase) {
      case P_IDLE: {
        // A connection that never sent a byte is held to the header timeout, not the
        // keep-alive one: otherwise connect-and-say-nothing pins a socket for idle_ms.
        const limit = this.spoke ? t.idle_ms : Math.min(t.idle_ms, t.client_header_ms);
        if (now - this.since >= limit || this.ctx.draining) {
          if (!this.spoke && !this.ctx.draining) this.ctx.counters.headTimeouts++;
          this.closeGracefully();
        }
        return;
      }
      case P_HEAD:
        if (now - this.since >= t.client_header_ms) {
          this.ctx.counters.headTimeouts++;
          this.reqParser.reset();
          this.sendAndClose(localResponse(408, 'request head not received in time', true));
        }
        return;
      case P_EXCHANGE:
        this.exchange!.checkTimers(now);
        return;
      case P_TUNNEL:
        this.tunnel!.checkTimers(now);
        return;
      case P_CLOSING: {
        const limit = this.socket.writableFinished ? LINGER_MS : t.idle_ms;
        if (now - this.since >= limit) this.destroy();
        return;
      }
      default:
    }
  }

  private onClose(): void {
    if (this.phase === P_CLOSED) return;
    this.phase = P_CLOSED;
    this.stash = undefined;
    const ex = this.exchange;
    this.exchange = undefined;
    ex?.onClientClose();
    const tunnel = this.tunnel;
    this.tunnel = undefined;
    tunnel?.onClientClose();
    this.onClosed(this);
  }
}
