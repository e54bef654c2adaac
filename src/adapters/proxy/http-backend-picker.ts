/**
 * Getting a backend connection for one request: the dispatcher's choice, then an idle
 * pooled connection or a new one; when connecting fails, the next choice avoiding the
 * backends that failed, up to the service's `retries`. The connect timeout is enforced
 * by the pool's sweep.
 */
import type { Choice, ChooseRequest } from '../../core/service/dispatcher-types.js';
import type { HttpProxyContext } from './http-context.js';
import type { UpstreamConn, UpstreamOwner } from './upstream-pool.js';

export interface PickerListener extends UpstreamOwner {
  /** A connection is ready for the request (pooled or just connected); the listener owns it now. */
  onBackendReady(up: UpstreamConn, choice: Choice, now: number): void;
  /** 503 when no backend was eligible, 502 when every connect attempt failed. */
  onNoBackend(status: 502 | 503, message: string): void;
}

export interface PickRequest {
  readonly clientIp: string;
  readonly clientPort: number;
  readonly pool: string;
  readonly cookie: string | undefined;
}

export class BackendPicker implements UpstreamOwner {
  private avoid: Set<string> | undefined;
  private failures = 0;
  private connecting: UpstreamConn | undefined;
  private choice: Choice | undefined;

  constructor(
    private readonly ctx: HttpProxyContext,
    private readonly req: PickRequest,
    private readonly listener: PickerListener,
  ) {}

  pick(now: number): void {
    const d = this.ctx.dispatcher;
    const req: { -readonly [K in keyof ChooseRequest]: ChooseRequest[K] } = { clientIp: this.req.clientIp, pool: this.req.pool };
    if (this.req.cookie !== undefined) req.cookie = this.req.cookie;
    if (this.avoid !== undefined) req.avoid = this.avoid;
    const choice = d.choose(req, now);
    if (choice === undefined) {
      if (this.failures > 0) this.listener.onNoBackend(502, 'could not connect to any backend');
      else this.listener.onNoBackend(503, `no healthy backend for service "${d.service.name}"`);
      return;
    }
    this.choice = choice;
    const pooled = this.ctx.pool.acquire(choice.target, this.listener);
    if (pooled !== undefined) this.listener.onBackendReady(pooled, choice, now);
    else this.connecting = this.ctx.pool.connect(choice.target, this);
  }

  /** A fresh connection to the chosen backend (a pooled one died under the request). */
  reconnect(): void {
    if (this.choice !== undefined) this.connecting = this.ctx.pool.connect(this.choice.target, this);
  }

  /** The request is over: abandon a connection still being set up. */
  cancel(): void {
    const up = this.connecting;
    this.connecting = undefined;
    if (up !== undefined) {
      up.owner = undefined;
      up.fail('request ended');
    }
  }

  onUpstreamConnect(up: UpstreamConn): void {
    if (up !== this.connecting) return;
    this.connecting = undefined;
    const now = this.ctx.clock.now();
    up.handle = this.ctx.dispatcher.connected(up.target, { clientIp: this.req.clientIp, clientPort: this.req.clientPort, connectMs: now - up.since }, now);
    up.owner = this.listener;
    this.listener.onBackendReady(up, this.choice!, now);
  }

  onUpstreamData(up: UpstreamConn): void {
    up.fail('data before connect');
  }

  onUpstreamDrain(): void {}

  onUpstreamClose(up: UpstreamConn, cause: string | undefined): void {
    if (up !== this.connecting) return;
    this.connecting = undefined;
    const { ctx } = this;
    const d = ctx.dispatcher;
    const now = ctx.clock.now();
    d.connectFailed(up.target, cause ?? 'closed', now);
    ctx.counters.connectFailures++;
    ctx.logger.debug('http_connect_failed', { service: d.service.name, backend: up.target.name, cause });
    (this.avoid ??= new Set()).add(up.target.name);
    this.failures++;
    if (this.failures <= d.service.retries) {
      ctx.counters.retries++;
      this.pick(now);
    } else {
      this.listener.onNoBackend(502, 'could not connect to a backend');
    }
  }

  onInternalError(): void {
    this.listener.onInternalError();
  }
}
