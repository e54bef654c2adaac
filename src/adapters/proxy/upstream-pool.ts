/**
 * Backend connections for the HTTP proxy: connecting (with the connect timeout checked
 * by the proxy's sweep), and a keep-alive pool of idle connections per backend so most
 * requests skip the TCP handshake. An idle connection that speaks or closes is dropped
 * at once; one idle longer than `idleMs` is closed before the backend's own keep-alive
 * timeout can race a new request.
 */
import net from 'node:net';
import type { Clock } from '../../core/clock.js';
import type { BackendTarget, ConnectionHandle } from '../../core/service/dispatcher-types.js';

/** Whoever uses an upstream connection right now: an exchange or a tunnel. */
export interface UpstreamOwner {
  onUpstreamConnect(up: UpstreamConn): void;
  onUpstreamData(up: UpstreamConn, chunk: Buffer): void;
  onUpstreamDrain(up: UpstreamConn): void;
  /** The socket closed; `cause` is an error code, or undefined for an orderly close. */
  onUpstreamClose(up: UpstreamConn, cause: string | undefined): void;
  /** A handler above threw (a bug): give up on the exchange without crashing the process. */
  onInternalError(): void;
}

/** Byte counts go to the dispatcher in batches: per read would cost more than the proxying. */
const FLUSH_BYTES = 256 * 1024;

export class UpstreamConn {
  readonly socket: net.Socket;
  owner: UpstreamOwner | undefined;
  /** Accounting handle from dispatcher.connected(), set once connected. */
  handle: ConnectionHandle | undefined;
  connected = false;
  closed = false;
  /** Requests this connection has carried (0 while serving its first). */
  served = 0;
  /** When connecting began, then when it last went idle. */
  since: number;
  cause: string | undefined;
  /** Sitting in the pool's idle list. */
  idle = false;
  private pendingUp = 0;
  private pendingDown = 0;

  constructor(
    private readonly pool: UpstreamPool,
    readonly target: BackendTarget,
    readonly key: string,
    owner: UpstreamOwner,
    now: number,
  ) {
    this.owner = owner;
    this.since = now;
    const socket = net.connect({ host: target.address, port: target.port, noDelay: true });
    this.socket = socket;
    socket.on('connect', () => {
      this.connected = true;
      try {
        this.owner?.onUpstreamConnect(this);
      } catch (err) {
        this.internalError(err);
      }
    });
    socket.on('data', (chunk: Buffer) => {
      try {
        if (this.owner !== undefined) this.owner.onUpstreamData(this, chunk);
        else this.fail('unexpected data on an idle connection');
      } catch (err) {
        this.internalError(err);
      }
    });
    socket.on('drain', () => {
      try {
        this.owner?.onUpstreamDrain(this);
      } catch (err) {
        this.internalError(err);
      }
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.cause ??= err.code ?? err.message;
    });
    socket.on('close', () => {
      this.closed = true;
      this.pool.forget(this);
      const now = this.pool.clock.now();
      const owner = this.owner;
      this.owner = undefined;
      try {
        this.flushBytes(now);
        this.handle?.end(now);
        owner?.onUpstreamClose(this, this.cause);
      } catch (err) {
        this.pool.reportError(err);
        owner?.onInternalError();
      }
    });
  }

  /** Bytes moved for this connection's requests; reported to the handle in batches. */
  count(toBackend: number, toClient: number): void {
    this.pendingUp += toBackend;
    this.pendingDown += toClient;
    if (this.pendingUp + this.pendingDown >= FLUSH_BYTES) this.flushBytes(this.pool.clock.now());
  }

  flushBytes(now: number): void {
    const h = this.handle;
    if (h === undefined) return;
    if (this.pendingUp > 0) h.bytesToBackend(this.pendingUp, now);
    if (this.pendingDown > 0) h.bytesToClient(this.pendingDown, now);
    this.pendingUp = 0;
    this.pendingDown = 0;
  }

  private internalError(err: unknown): void {
    this.pool.reportError(err);
    const owner = this.owner;
    this.owner = undefined;
    this.fail('internal error');
    owner?.onInternalError();
  }

  /** Close now, recording why (first cause wins). */
  fail(cause: string): void {
    this.cause ??= cause;
    this.socket.destroy();
  }
}

export interface UpstreamPoolOptions {
  readonly clock: Clock;
  /** A handler threw: log it (the connection is closed, the process lives on). */
  readonly onError: (err: unknown) => void;
  /** Close idle connections after this long (keep it below the backends' keep-alive timeout). */
  readonly idleMs: number;
  readonly maxIdlePerBackend: number;
}

export function targetKey(t: BackendTarget): string {
  return `${t.pool}/${t.name}@${t.address}:${t.port}`;
}

export class UpstreamPool {
  readonly clock: Clock;
  private readonly idle = new Map<string, UpstreamConn[]>();
  private readonly all = new Set<UpstreamConn>();
  private closing = false;

  constructor(private readonly opts: UpstreamPoolOptions) {
    this.clock = opts.clock;
  }

  reportError(err: unknown): void {
    this.opts.onError(err);
  }

  /** Connections open or opening, idle included. */
  get size(): number {
    return this.all.size;
  }

  get idleCount(): number {
    let n = 0;
    for (const list of this.idle.values()) n += list.length;
    return n;
  }

  /** The most recently used idle connection to `target`, now owned by `owner`. */
  acquire(target: BackendTarget, owner: UpstreamOwner): UpstreamConn | undefined {
    const list = this.idle.get(targetKey(target));
    if (list === undefined) return undefined;
    for (;;) {
      const up = list.pop();
      if (up === undefined) return undefined;
      up.idle = false;
      if (up.closed || up.socket.destroyed) continue;
      up.owner = owner;
      return up;
    }
  }

  connect(target: BackendTarget, owner: UpstreamOwner): UpstreamConn {
    const up = new UpstreamConn(this, target, targetKey(target), owner, this.clock.now());
    this.all.add(up);
    return up;
  }

  /** Back to the idle list after a clean exchange; closed instead when full or shutting down. */
  release(up: UpstreamConn): void {
    up.owner = undefined;
    up.served++;
    if (this.closing || up.closed) {
      up.fail('pool closing');
      return;
    }
    let list = this.idle.get(up.key);
    if (list === undefined) {
      list = [];
      this.idle.set(up.key, list);
    }
    if (list.length >= this.opts.maxIdlePerBackend) {
      up.fail('idle pool full');
      return;
    }
    if (up.socket.isPaused()) up.socket.resume();
    up.since = this.clock.now();
    up.idle = true;
    list.push(up);
  }

  /** Called by a connection when its socket closed. */
  forget(up: UpstreamConn): void {
    this.all.delete(up);
    if (!up.idle) return;
    up.idle = false;
    const list = this.idle.get(up.key);
    if (list === undefined) return;
    const i = list.indexOf(up);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.idle.delete(up.key);
  }

  /** Close idle connections past idleMs and connections stuck connecting past connectMs. */
  sweep(now: number, connectMs: number): void {
    for (const up of this.all) {
      up.flushBytes(now);
      if (up.idle) {
        if (now - up.since >= this.opts.idleMs) up.fail('idle');
      } else if (!up.connected && !up.closed && now - up.since >= connectMs) {
        up.fail('connect timeout');
      }
    }
  }

  /** Close idle connections now; busy ones close when their exchange ends. */
  close(): void {
    this.closing = true;
    for (const list of [...this.idle.values()]) {
      for (const up of [...list]) up.fail('pool closing');
    }
  }

  /** Close everything, busy connections included. */
  destroyAll(): void {
    this.closing = true;
    for (const up of [...this.all]) up.fail('pool closing');
  }
}
