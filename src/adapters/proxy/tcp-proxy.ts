/**
 * The L4 TCP data plane for one service: accept, ask the dispatcher, connect with
 * retries, optionally send a PROXY header, then relay bytes both ways until both
 * sides are done. Every decision (admission, backend, persistence, accounting) belongs
 * to the ServiceDispatcher; this file only moves bytes and reports what happened.
 */
import net from 'node:net';
import type { Clock } from '../../core/clock.js';
import { HaloError } from '../../core/errors.js';
import { encodeProxyHeader } from '../../core/proxy-protocol.js';
import { sourceIpKey } from '../../core/balancer/keys.js';
import type { BackendTarget, ConnectionHandle, RejectReason, ServiceDispatcher } from '../../core/service/dispatcher-types.js';
import type { Logger } from '../logger.js';
import { systemClock } from '../system-clock.js';
import { ThrottledWarning } from '../throttled-warning.js';

export interface TcpProxyOptions {
  readonly dispatcher: ServiceDispatcher;
  readonly logger: Logger;
  readonly clock?: Clock;
  /**
   * How often open connections are swept: byte counts reported (throughput metrics) and
   * idle ones closed. Default min(1000, idle_ms / 4).
   */
  readonly sampleIntervalMs?: number;
}

export interface TcpProxyCounters {
  accepted: number;
  rejected: Record<RejectReason, number>;
  /** Clients closed because no backend was left to try. */
  noBackend: number;
  /** Failed backend connection attempts (each retry counts). */
  connectFailures: number;
  idleTimeouts: number;
  /** Socket errors other than a failed connect: client resets, broken pipes. */
  socketErrors: number;
  /** Errors from accept() itself (e.g. EMFILE). */
  acceptErrors: number;
}

/** What a session needs from its proxy; keeps TcpProxy's public surface small. */
interface SessionHost {
  readonly dispatcher: ServiceDispatcher;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly counters: TcpProxyCounters;
  readonly noBackendWarning: ThrottledWarning;
  done(s: TcpSession): void;
}

export class TcpProxy {
  readonly counters: TcpProxyCounters = {
    accepted: 0,
    rejected: { max_connections: 0, max_connections_per_client: 0, rate_limited: 0, max_flows: 0 },
    noBackend: 0,
    connectFailures: 0,
    idleTimeouts: 0,
    socketErrors: 0,
    acceptErrors: 0,
  };

  private readonly dispatcher: ServiceDispatcher;
  private readonly logger: Logger;
  private readonly clock: Clock;
  /** Sessions from admission to their final close; what drain waits for. */
  private readonly sessions = new Set<TcpSession>();
  private readonly host: SessionHost;
  private readonly server: net.Server;
  private readonly sampleIntervalMs: number;
  private sampler: NodeJS.Timeout | undefined;
  private closing: Promise<void> | undefined;
  private readonly idleWaiters: Array<() => void> = [];
  private readonly acceptWarning: ThrottledWarning;

  constructor(opts: TcpProxyOptions) {
    this.dispatcher = opts.dispatcher;
    // The caller's logger already names the service.
    this.logger = opts.logger;
    this.clock = opts.clock ?? systemClock;
    this.sampleIntervalMs = opts.sampleIntervalMs ?? Math.max(10, Math.min(1000, Math.floor(this.dispatcher.service.timeouts.idle_ms / 4)));
    this.host = {
      dispatcher: this.dispatcher,
      logger: this.logger,
      clock: this.clock,
      counters: this.counters,
      noBackendWarning: new ThrottledWarning(this.logger, 'tcp_no_backend'),
      done: (s) => this.sessionDone(s),
    };
    this.acceptWarning = new ThrottledWarning(this.logger, 'tcp_accept_error');
    // pauseOnConnect: not a byte is read from the client until its backend is connected,
    // so a failed connect can be retried elsewhere with nothing lost.
    this.server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, (socket) => this.onConnection(socket));
  }

  /** Bind the service's listen address (port 0 picks a free port, for tests). */
  listen(): Promise<{ address: string; port: number }> {
    const { address, port } = this.dispatcher.service.listen;
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        reject(new HaloError('HALO_ERR_LISTEN', `service ${this.dispatcher.service.name} cannot listen on ${address}:${port}: ${err.code ?? err.message}`, { address, port }, { cause: err }));
      };
      this.server.once('error', onError);
      this.server.listen({ host: address, port }, () => {
        this.server.off('error', onError);
        this.server.on('error', (err: NodeJS.ErrnoException) => {
          this.counters.acceptErrors++;
          this.acceptWarning.hit(this.clock.now(), { code: err.code ?? err.message });
        });
        this.sampler = setInterval(() => this.sample(), this.sampleIntervalMs);
        this.sampler.unref();
        const bound = this.server.address() as net.AddressInfo;
        this.logger.info('tcp_listening', { address: bound.address, port: bound.port });
        resolve({ address: bound.address, port: bound.port });
      });
    });
  }

  get openConnections(): number {
    return this.sessions.size;
  }

  /** Stop accepting, let open connections finish for up to drainMs, then cut the rest. */
  close(drainMs: number = this.dispatcher.service.timeouts.drain_ms): Promise<void> {
    this.closing ??= this.shutdown(drainMs);
    return this.closing;
  }

  private async shutdown(drainMs: number): Promise<void> {
    const serverClosed = new Promise<void>((resolve) => {
      if (!this.server.listening) resolve();
      else this.server.close(() => resolve());
    });
    if (drainMs > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.allSessionsDone(), new Promise<void>((r) => (timer = setTimeout(r, drainMs)))]);
      clearTimeout(timer);
    }
    const cut = this.sessions.size;
    for (const s of [...this.sessions]) s.destroy();
    // Destroyed sockets report close on the next tick; wait so every handle is ended.
    await this.allSessionsDone();
    await serverClosed;
    if (this.sampler) clearInterval(this.sampler);
    this.logger.info('tcp_closed', { cut_connections: cut });
  }

  private allSessionsDone(): Promise<void> {
    if (this.sessions.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Report the bytes moved since the last sample on every open connection; close idle ones. */
  sample(): void {
    if (this.sessions.size === 0) return;
    const now = this.clock.now();
    const idleMs = this.dispatcher.service.timeouts.idle_ms;
    for (const s of this.sessions) s.sweep(now, idleMs);
  }

  private sessionDone(s: TcpSession): void {
    this.sessions.delete(s);
    if (this.sessions.size === 0 && this.idleWaiters.length > 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  private onConnection(client: net.Socket): void {
    const now = this.clock.now();
    const ip = sourceIpKey(client.remoteAddress);
    if (ip === undefined) {
      // Already reset by the peer before we looked at it.
      client.destroy();
      return;
    }
    const admission = this.dispatcher.admitConnection(ip, now);
    if (!admission.ok) {
      this.counters.rejected[admission.reason]++;
      this.logger.debug('tcp_rejected', { client: ip, reason: admission.reason });
      client.destroy();
      return;
    }
    this.counters.accepted++;
    const s = new TcpSession(this.host, client, ip);
    this.sessions.add(s);
    s.start(now);
  }
}

/**
 * Where every backend socket reads into (see onBackendRead). One for the process: reads
 * run one at a time on the event loop and each chunk is copied out before the next.
 */
const backendReadBuffer = Buffer.allocUnsafeSlow(64 * 1024);

/** One client connection and its backend connection. */
class TcpSession {
  private backend: net.Socket | undefined;
  private target: BackendTarget | undefined;
  private handle: ConnectionHandle | undefined;
  private avoid: Set<string> | undefined;
  private attempts = 0;
  private connectStart = 0;
  private established = false;
  private done = false;
  private idledOut = false;
  private clientClosed = false;
  private backendClosed = true;
  private reportedUp = 0;
  private reportedDown = 0;
  /** Bytes handed to the kernel on both sides at the last sweep, and when that last changed. */
  private delivered = 0;
  private lastProgress = 0;

  constructor(
    private readonly proxy: SessionHost,
    private readonly client: net.Socket,
    private readonly clientIp: string,
  ) {}

  start(now: number): void {
    this.client.on('error', this.onClientError);
    this.client.on('close', this.onClientClose);
    this.attempt(now);
  }

  private attempt(now: number): void {
    const { dispatcher } = this.proxy;
    const svc = dispatcher.service;
    if (this.attempts > svc.retries) {
      this.giveUp('retries_exhausted');
      return;
    }
    const req = this.avoid === undefined ? { clientIp: this.clientIp } : { clientIp: this.clientIp, avoid: this.avoid };
    const choice = dispatcher.choose(req, now);
    if (choice === undefined) {
      this.giveUp(this.attempts === 0 ? 'no_healthy_backend' : 'retries_exhausted');
      return;
    }
    this.attempts++;
    this.target = choice.target;
    this.connectStart = now;
    const b = net.connect({
      host: choice.target.address,
      port: choice.target.port,
      allowHalfOpen: true,
      noDelay: true,
      onread: { buffer: backendReadBuffer, callback: this.onBackendRead },
    });
    this.backend = b;
    this.backendClosed = false;
    b.setTimeout(svc.timeouts.connect_ms);
    b.on('connect', this.onBackendConnect);
    b.on('timeout', this.onBackendTimeout);
    b.on('error', this.onBackendError);
    b.on('close', this.onBackendClose);
  }

  /** Nothing has been sent to this backend yet, so another one can take the client. */
  private connectFailed(cause: string): void {
    const b = this.backend!;
    const target = this.target!;
    const { dispatcher, logger, counters } = this.proxy;
    const now = this.proxy.clock.now();
    counters.connectFailures++;
    dispatcher.connectFailed(target, cause, now);
    logger.debug('tcp_connect_failed', { backend: target.name, cause, attempt: this.attempts });
    // Detach first: the failed socket's close must not look like the session's end.
    b.off('connect', this.onBackendConnect);
    b.off('timeout', this.onBackendTimeout);
    b.off('error', this.onBackendError);
    b.off('close', this.onBackendClose);
    b.on('error', ignoreError);
    b.destroy();
    this.backend = undefined;
    this.backendClosed = true;
    (this.avoid ??= new Set()).add(target.name);
    if (this.clientClosed) this.finish();
    else this.attempt(now);
  }

  private giveUp(reason: string): void {
    this.proxy.counters.noBackend++;
    this.proxy.noBackendWarning.hit(this.proxy.clock.now(), { reason, client: this.clientIp });
    this.client.destroy();
  }

  private readonly onBackendConnect = (): void => {
    const b = this.backend!;
    const c = this.client;
    const { dispatcher } = this.proxy;
    const svc = dispatcher.service;
    const now = this.proxy.clock.now();
    this.established = true;
    this.handle = dispatcher.connected(this.target!, { clientIp: this.clientIp, clientPort: c.remotePort ?? 0, connectMs: now - this.connectStart }, now);
    if (svc.proxy_protocol !== 'none') {
      b.write(
        encodeProxyHeader(svc.proxy_protocol, {
          source: { address: c.remoteAddress ?? '', port: c.remotePort ?? 0 },
          destination: { address: c.localAddress ?? '', port: c.localPort ?? 0 },
        }),
      );
    }
    // Idle detection is the proxy's sweep (progress of byte counters), not a socket timer:
    // a socket timeout is re-armed on every read and write, a cost paid per chunk.
    b.setTimeout(0);
    this.lastProgress = now;
    c.on('data', this.onClientData);
    c.on('end', this.onClientEnd);
    c.on('drain', this.onClientDrain);
    b.on('end', this.onBackendEnd);
    b.on('drain', this.onBackendDrain);
    c.resume();
  };

  // A manual relay rather than pipe(): the same back-pressure with fewer listeners and
  // less bookkeeping per connection, which is what short connections pay for.
  private readonly onClientData = (chunk: Buffer): void => {
    if (!this.backend!.write(chunk)) this.client.pause();
  };
  /**
   * Backend bytes arrive through onread, not 'data': no Readable buffering, no emit, and
   * no fresh 64 KiB allocation per read. The read buffer is shared by every backend socket
   * and is overwritten by the next read, so what goes to the client is a copy (small
   * responses are a slice of Buffer's pool). Returning false stops reading (onClientDrain
   * resumes). Reads start after 'connect', so onBackendConnect has run.
   */
  private readonly onBackendRead = (n: number, buf: Uint8Array): boolean => {
    const chunk = Buffer.allocUnsafe(n);
    chunk.set(n === buf.length ? buf : buf.subarray(0, n));
    return this.client.write(chunk);
  };
  private readonly onBackendDrain = (): void => {
    this.client.resume();
  };
  private readonly onClientDrain = (): void => {
    this.backend!.resume();
  };
  // Half-close: a FIN from one side becomes a FIN to the other. With allowHalfOpen each
  // socket destroys itself once it has both received and sent a FIN.
  private readonly onClientEnd = (): void => {
    this.backend!.end();
  };
  private readonly onBackendEnd = (): void => {
    this.client.end();
  };

  private readonly onBackendTimeout = (): void => {
    if (!this.established) this.connectFailed('timeout');
  };

  /**
   * Called by the proxy's sweep: report bytes, and close the connection when nothing
   * moved either way for idleMs. Progress is bytes read from either side minus what is
   * still queued for writing, so a slow reader still draining a response is not idle.
   */
  sweep(now: number, idleMs: number): void {
    if (!this.established || this.done) return;
    this.report(now);
    const b = this.backend!;
    const c = this.client;
    const delivered = c.bytesRead + b.bytesRead - c.writableLength - b.writableLength;
    if (delivered !== this.delivered) {
      this.delivered = delivered;
      this.lastProgress = now;
      return;
    }
    if (now - this.lastProgress >= idleMs && !this.idledOut) {
      this.idledOut = true;
      this.proxy.counters.idleTimeouts++;
      this.destroy();
    }
  }

  private readonly onBackendError = (err: NodeJS.ErrnoException): void => {
    if (!this.established) {
      this.connectFailed(err.code ?? 'error');
      return;
    }
    this.proxy.counters.socketErrors++;
    this.destroy();
  };

  private readonly onClientError = (): void => {
    this.proxy.counters.socketErrors++;
    this.destroy();
  };

  private readonly onClientClose = (): void => {
    this.clientClosed = true;
    if (this.backendClosed) this.finish();
    // Still connecting: abort, nothing was sent anywhere. Established: a clean close means
    // both FINs were relayed and the backend is only flushing; anything else cuts it.
    else if (!this.established || !cleanlyClosed(this.client)) this.backend!.destroy();
  };

  private readonly onBackendClose = (): void => {
    this.backendClosed = true;
    if (this.clientClosed) this.finish();
    else if (!cleanlyClosed(this.backend!)) this.client.destroy();
  };

  /** Tear both sockets down now (errors, idle timeout, end of drain). */
  destroy(): void {
    this.client.destroy();
    this.backend?.destroy();
  }

  /** Hand the bytes moved since the last report to the connection handle. */
  report(now: number): void {
    const h = this.handle;
    if (h === undefined) return;
    const up = this.client.bytesRead - this.reportedUp;
    const down = this.backend!.bytesRead - this.reportedDown;
    if (up > 0) {
      this.reportedUp += up;
      h.bytesToBackend(up, now);
    }
    if (down > 0) {
      this.reportedDown += down;
      h.bytesToClient(down, now);
    }
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    const now = this.proxy.clock.now();
    if (this.handle !== undefined) {
      this.report(now);
      this.handle.end(now);
    }
    this.proxy.dispatcher.releaseConnection(this.clientIp, now);
    this.proxy.done(this);
  }
}

function cleanlyClosed(s: net.Socket): boolean {
  return s.readableEnded && s.writableFinished;
}

function ignoreError(): void {}
