/**
 * After a 101 Switching Protocols (WebSocket and other upgrades): bytes flow raw both
 * ways with back-pressure, half-closes are passed on, and the backend connection is
 * never pooled. An idle tunnel closes after the service's idle_ms.
 */
import { PAUSE_BACKPRESSURE, type HttpProxyContext } from './http-context.js';
import type { HttpClientConn } from './http-client-conn.js';
import type { UpstreamConn, UpstreamOwner } from './upstream-pool.js';

const LINGER_MS = 2000;

export class HttpTunnel implements UpstreamOwner {
  private lastActivity: number;
  private upClosedAt = 0;

  constructor(
    private readonly ctx: HttpProxyContext,
    private readonly client: HttpClientConn,
    private readonly up: UpstreamConn,
    toClient: Buffer,
    bytesFromBackend: number,
    toBackend: Buffer | undefined,
  ) {
    this.lastActivity = ctx.coarseNow;
    up.owner = this;
    if (up.socket.isPaused()) up.socket.resume();
    up.count(0, bytesFromBackend);
    if (!client.socket.write(toClient)) up.socket.pause();
    if (toBackend !== undefined) this.fromClient(toBackend);
  }

  fromClient(chunk: Buffer): void {
    this.lastActivity = this.ctx.coarseNow;
    this.up.count(chunk.length, 0);
    if (this.up.closed) return;
    if (!this.up.socket.write(chunk)) this.client.pauseFor(PAUSE_BACKPRESSURE);
  }

  onUpstreamConnect(): void {
    // Already connected: a tunnel only starts on a live connection.
  }

  onUpstreamData(_up: UpstreamConn, chunk: Buffer): void {
    this.lastActivity = this.ctx.coarseNow;
    this.up.count(0, chunk.length);
    if (!this.client.socket.write(chunk)) this.up.socket.pause();
  }

  onUpstreamDrain(): void {
    this.client.resumeFor(PAUSE_BACKPRESSURE);
  }

  onClientDrain(): void {
    if (!this.up.closed) this.up.socket.resume();
  }

  /** The client half-closed: pass the FIN on and keep relaying the backend's bytes. */
  onClientEnd(): void {
    if (!this.up.closed) this.up.socket.end();
  }

  onUpstreamClose(_up: UpstreamConn, cause: string | undefined): void {
    this.upClosedAt = this.ctx.coarseNow;
    if (cause !== undefined) this.client.destroy();
    else this.client.socket.end();
  }

  onInternalError(): void {
    this.client.destroy();
  }

  onClientClose(): void {
    if (!this.up.closed) this.up.fail('client closed');
  }

  checkTimers(now: number): void {
    const idle = now - this.lastActivity >= this.ctx.dispatcher.service.timeouts.idle_ms;
    const lingered = this.upClosedAt !== 0 && now - this.upClosedAt >= LINGER_MS;
    if (idle || lingered) {
      this.up.fail(idle ? 'tunnel idle' : 'tunnel closing');
      this.client.tunnelClosed();
    }
  }
}
