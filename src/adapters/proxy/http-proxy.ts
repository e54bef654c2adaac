/**
 * The L7 HTTP/1.1 data plane of one service, built on node:net (node:http costs more
 * than half the throughput): our own head parser and body framing, bytes forwarded as
 * buffers, a keep-alive pool per backend. The proxy owns sockets and timers; every
 * decision (admission, routing, backend choice, persistence, accounting) is the
 * dispatcher's.
 */
import net from 'node:net';
import { sourceIpKey } from '../../core/balancer/keys.js';
import type { Clock } from '../../core/clock.js';
import type { ServiceDispatcher } from '../../core/service/dispatcher-types.js';
import { HaloError } from '../../core/errors.js';
import type { Logger } from '../logger.js';
import { systemClock } from '../system-clock.js';
import { HttpClientConn } from './http-client-conn.js';
import { newCounters, type HttpProxyContext, type HttpProxyCounters } from './http-context.js';
import { UpstreamPool } from './upstream-pool.js';

export interface HttpProxyOptions {
  readonly dispatcher: ServiceDispatcher;
  readonly logger: Logger;
  readonly clock?: Clock;
  /** Idle backend connections close after this (default 4 s: below node's and nginx's 5 s keep-alive). */
  readonly upstreamIdleMs?: number;
  /** Idle connections kept per backend (default 256). */
  readonly maxIdlePerBackend?: number;
}

export class HttpProxy {
  readonly counters: HttpProxyCounters = newCounters();
  private readonly ctx: HttpProxyContext;
  private readonly clients = new Set<HttpClientConn>();
  private server: net.Server | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private closing: Promise<void> | undefined;

  constructor(private readonly opts: HttpProxyOptions) {
    const clock = opts.clock ?? systemClock;
    const pool = new UpstreamPool({
      clock,
      idleMs: opts.upstreamIdleMs ?? 4000,
      maxIdlePerBackend: opts.maxIdlePerBackend ?? 256,
      onError: (err) => opts.logger.error('http_internal_error', { service: opts.dispatcher.service.name, error: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
    });
    this.ctx = {
      dispatcher: opts.dispatcher,
      logger: opts.logger,
      clock,
      pool,
      counters: this.counters,
      coarseNow: clock.now(),
      draining: false,
    };
  }

  /** Open client connections. */
  get connections(): number {
    return this.clients.size;
  }

  /** Backend connections, open or connecting (idle pooled ones included). */
  get upstreamConnections(): number {
    return this.ctx.pool.size;
  }

  listen(): Promise<{ address: string; port: number }> {
    if (this.server !== undefined) return Promise.reject(new Error('HttpProxy.listen called twice'));
    const svc = this.opts.dispatcher.service;
    const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.onConnection(socket));
    this.server = server;
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        this.server = undefined;
        reject(new HaloError('HALO_ERR_LISTEN', `service ${svc.name}: cannot listen on ${svc.listen.address}:${svc.listen.port}: ${err.code ?? err.message}`, { service: svc.name }, { cause: err }));
      };
      server.once('error', onError);
      server.listen({ host: svc.listen.address, port: svc.listen.port }, () => {
        server.off('error', onError);
        server.on('error', (err) => this.opts.logger.error('http_server_error', { service: svc.name, error: err.message }));
        const addr = server.address() as net.AddressInfo;
        this.scheduleSweep();
        this.opts.logger.info('http_listening', { service: svc.name, address: addr.address, port: addr.port });
        resolve({ address: addr.address, port: addr.port });
      });
    });
  }

  private onConnection(socket: net.Socket): void {
    // Tables, limits and X-Forwarded-For all want ::ffff:a.b.c.d as a.b.c.d.
    const ip = sourceIpKey(socket.remoteAddress);
    const port = socket.remotePort;
    if (ip === undefined || port === undefined || this.ctx.draining) {
      socket.on('error', () => {});
      socket.destroy();
      return;
    }
    const d = this.opts.dispatcher;
    const admission = d.admitConnection(ip, this.ctx.clock.now());
    if (!admission.ok) {
      this.counters.rejectedConnections++;
      socket.on('error', () => {});
      socket.destroy();
      return;
    }
    this.counters.connections++;
    const conn = new HttpClientConn(this.ctx, socket, ip, port, (c) => {
      this.clients.delete(c);
      d.releaseConnection(c.ip, this.ctx.clock.now());
    });
    this.clients.add(conn);
  }

  /** The sweep period: a tenth of the shortest timeout, between 5 ms and 250 ms. */
  private sweepInterval(): number {
    const t = this.opts.dispatcher.service.timeouts;
    const shortest = Math.min(t.client_header_ms, t.idle_ms, t.connect_ms, t.backend_response_ms);
    return Math.max(5, Math.min(250, Math.floor(shortest / 10)));
  }

  private scheduleSweep(): void {
    this.sweepTimer = setTimeout(() => {
      this.sweep();
      if (this.server !== undefined || this.clients.size > 0) this.scheduleSweep();
    }, this.sweepInterval());
    this.sweepTimer.unref();
  }

  /** All timeouts in one pass instead of a timer per socket and request. */
  private sweep(): void {
    const now = this.ctx.clock.now();
    this.ctx.coarseNow = now;
    for (const c of this.clients) {
      try {
        c.checkTimers(now);
      } catch (err) {
        this.opts.logger.error('http_sweep_error', { service: this.opts.dispatcher.service.name, error: String(err) });
        c.destroy();
      }
    }
    this.ctx.pool.sweep(now, this.opts.dispatcher.service.timeouts.connect_ms);
  }

  /**
   * Stop accepting, let in-flight exchanges finish (their responses say Connection:
   * close) for up to drainMs, then cut whatever is left.
   */
  close(drainMs: number): Promise<void> {
    this.closing ??= this.doClose(drainMs);
    return this.closing;
  }

  private async doClose(drainMs: number): Promise<void> {
    this.ctx.draining = true;
    const server = this.server;
    this.server = undefined;
    const serverClosed = server === undefined ? Promise.resolve() : new Promise<void>((resolve) => server.close(() => resolve()));
    this.ctx.pool.close();
    for (const c of this.clients) if (c.idle) c.checkTimers(this.ctx.clock.now());
    const deadline = this.ctx.clock.now() + drainMs;
    // Bounded wait: polls until every client is gone or the drain time is up.
    while (this.clients.size > 0 && this.ctx.clock.now() < deadline) {
      await new Promise((r) => setTimeout(r, Math.min(50, Math.max(1, deadline - this.ctx.clock.now()))));
    }
    for (const c of [...this.clients]) c.destroy();
    this.ctx.pool.destroyAll();
    if (this.sweepTimer !== undefined) clearTimeout(this.sweepTimer);
    await serverClosed;
  }
}
