/**
 * The L4 UDP data plane for one service. One socket on the service address receives
 * every client datagram; each flow (client ip:port) gets its own upstream socket,
 * connected to its backend, so replies are told apart by socket and the kernel filters
 * strangers. Replies leave through the service socket, so the client sees them come
 * from the address it sent to. The dispatcher owns the flow table and its expiry.
 */
import dgram from 'node:dgram';
import dns from 'node:dns';
import net from 'node:net';
import type { Clock } from '../../core/clock.js';
import { HaloError } from '../../core/errors.js';
import type { BackendTarget, ServiceDispatcher } from '../../core/service/dispatcher-types.js';
import type { Logger } from '../logger.js';
import { systemClock } from '../system-clock.js';
import { ThrottledWarning } from '../throttled-warning.js';

export interface UdpProxyOptions {
  readonly dispatcher: ServiceDispatcher;
  readonly logger: Logger;
  readonly clock?: Clock;
}

export interface UdpProxyCounters {
  datagramsToBackend: number;
  datagramsToClient: number;
  /** New flows refused by the dispatcher (max_flows). */
  rejected: number;
  /** Datagrams dropped because no backend is healthy. */
  noBackend: number;
  /** Datagrams dropped while an upstream socket was still connecting and its queue was full. */
  queueDrops: number;
  flowsOpened: number;
  flowsExpired: number;
  /** Flows the dispatcher ended to make room for a new one (a full table), sockets closed at once. */
  flowsEnded: number;
  /** ICMP port unreachable from a backend (ECONNREFUSED on the connected upstream socket). */
  backendUnreachable: number;
  /** Any other socket error, upstream or on the service socket. */
  socketErrors: number;
}

/** Datagrams held per flow while its upstream socket connects (a few ticks on a LAN). */
const MAX_QUEUED = 64;

interface UdpFlow {
  readonly key: string;
  readonly target: BackendTarget;
  readonly clientAddress: string;
  readonly clientPort: number;
  readonly socket: dgram.Socket;
  /** Datagrams waiting for connect(); undefined once connected. */
  queue: Buffer[] | undefined;
  closed: boolean;
  /** Last datagram either way (monotonic ms), for the local backstop expiry. */
  lastActive: number;
}

export class UdpProxy {
  readonly counters: UdpProxyCounters = {
    datagramsToBackend: 0,
    datagramsToClient: 0,
    rejected: 0,
    noBackend: 0,
    queueDrops: 0,
    flowsOpened: 0,
    flowsExpired: 0,
    flowsEnded: 0,
    backendUnreachable: 0,
    socketErrors: 0,
  };

  private readonly dispatcher: ServiceDispatcher;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly socket: dgram.Socket;
  private readonly flows = new Map<string, UdpFlow>();
  private readonly rejectedWarning: ThrottledWarning;
  private readonly noBackendWarning: ThrottledWarning;
  private readonly errorWarning: ThrottledWarning;
  private expiryTimer: NodeJS.Timeout | undefined;
  private expiryIntervalMs = 1000;
  private closing: Promise<void> | undefined;

  constructor(opts: UdpProxyOptions) {
    this.dispatcher = opts.dispatcher;
    // The caller's logger already names the service.
    this.logger = opts.logger;
    this.clock = opts.clock ?? systemClock;
    this.rejectedWarning = new ThrottledWarning(this.logger, 'udp_flow_rejected');
    this.noBackendWarning = new ThrottledWarning(this.logger, 'udp_no_backend');
    this.errorWarning = new ThrottledWarning(this.logger, 'udp_socket_error');
    this.socket = dgram.createSocket({ type: net.isIPv6(opts.dispatcher.service.listen.address) ? 'udp6' : 'udp4', lookup: literalLookup });
  }

  listen(): Promise<{ address: string; port: number }> {
    const { address, port } = this.dispatcher.service.listen;
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        reject(new HaloError('HALO_ERR_LISTEN', `service ${this.dispatcher.service.name} cannot bind udp ${address}:${port}: ${err.code ?? err.message}`, { address, port }, { cause: err }));
      };
      this.socket.once('error', onError);
      this.socket.bind({ address, port }, () => {
        this.socket.off('error', onError);
        this.socket.on('error', (err: NodeJS.ErrnoException) => this.onSocketError(err, 'service'));
        this.socket.on('message', (msg, rinfo) => this.onClientDatagram(msg, rinfo));
        const idle = this.dispatcher.service.udp_flow_idle_ms;
        this.expiryIntervalMs = Math.max(25, Math.min(1000, Math.floor(idle / 4)));
        this.expiryTimer = setInterval(() => this.expire(), this.expiryIntervalMs);
        this.expiryTimer.unref();
        const bound = this.socket.address();
        this.logger.info('udp_listening', { address: bound.address, port: bound.port });
        resolve({ address: bound.address, port: bound.port });
      });
    });
  }

  get flowCount(): number {
    return this.flows.size;
  }

  /** UDP has nothing to drain: flows are stateless to the client, so close at once. */
  close(_drainMs?: number): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    if (this.expiryTimer) clearInterval(this.expiryTimer);
    const open = this.flows.size;
    for (const flow of this.flows.values()) this.closeFlow(flow);
    this.flows.clear();
    await new Promise<void>((resolve) => {
      try {
        this.socket.close(() => resolve());
      } catch {
        // Never bound (listen failed or was not called): nothing to close.
        resolve();
      }
    });
    this.logger.info('udp_closed', { flows: open });
  }

  /** Forget flows the dispatcher expired and close their upstream sockets. */
  expire(): void {
    const now = this.clock.now();
    for (const key of this.dispatcher.expireUdpFlows(now)) {
      const flow = this.flows.get(key);
      if (flow === undefined) continue;
      this.flows.delete(key);
      this.closeFlow(flow);
      this.counters.flowsExpired++;
    }
    // Backstop: the dispatcher may drop flows on its own (e.g. expiring inside udpFlow
    // to make room), and those keys never come back here. A socket idle past the same
    // limit plus one sweep is surely forgotten; if not, the next datagram reopens it.
    const limit = this.dispatcher.service.udp_flow_idle_ms + this.expiryIntervalMs;
    for (const flow of this.flows.values()) {
      if (now - flow.lastActive <= limit) continue;
      this.flows.delete(flow.key);
      this.closeFlow(flow);
      this.counters.flowsExpired++;
    }
  }

  private onClientDatagram(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const now = this.clock.now();
    const r = this.dispatcher.udpFlow(rinfo.address, rinfo.port, now);
    if (r === undefined) {
      this.counters.noBackend++;
      this.noBackendWarning.hit(now);
      return;
    }
    if ('rejected' in r) {
      this.counters.rejected++;
      this.rejectedWarning.hit(now, { reason: r.rejected, flows: this.flows.size });
      return;
    }
    // Closed now, not at the next sweep: under a flood of new sources a sweep's worth of
    // evicted flows would hold a socket each past max_flows.
    if (r.ended !== undefined) for (const key of r.ended) this.dropFlow(key);
    let flow = this.flows.get(r.key);
    if (flow !== undefined && (r.created || flow.closed || !sameBackend(flow.target, r.target))) {
      // The dispatcher started this flow afresh, or replication moved it to another backend.
      this.flows.delete(r.key);
      this.closeFlow(flow);
      flow = undefined;
    }
    // A flow the dispatcher knows but this proxy has no socket for (replicated from the
    // old master, or a socket lost to an error) opens one to the flow's own backend:
    // after a takeover the client keeps its backend.
    flow ??= this.openFlow(r.key, r.target, rinfo);
    flow.lastActive = now;
    if (flow.queue !== undefined) {
      if (flow.queue.length >= MAX_QUEUED) {
        this.counters.queueDrops++;
        return;
      }
      flow.queue.push(msg);
    } else {
      flow.socket.send(msg);
    }
    this.counters.datagramsToBackend++;
    this.dispatcher.udpDatagram(r.key, 'to_backend', msg.length, now);
  }

  private dropFlow(key: string): void {
    const flow = this.flows.get(key);
    if (flow === undefined) return;
    this.flows.delete(key);
    this.closeFlow(flow);
    this.counters.flowsEnded++;
  }

  private openFlow(key: string, target: BackendTarget, rinfo: dgram.RemoteInfo): UdpFlow {
    const socket = dgram.createSocket({ type: net.isIPv6(target.address) ? 'udp6' : 'udp4' });
    const flow: UdpFlow = { key, target, clientAddress: rinfo.address, clientPort: rinfo.port, socket, queue: [], closed: false, lastActive: 0 };
    this.flows.set(key, flow);
    this.counters.flowsOpened++;
    socket.on('message', (reply) => {
      const now = this.clock.now();
      flow.lastActive = now;
      this.socket.send(reply, flow.clientPort, flow.clientAddress);
      this.counters.datagramsToClient++;
      this.dispatcher.udpDatagram(key, 'to_client', reply.length, now);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => this.onSocketError(err, target.name));
    // connect() binds an ephemeral port first; only this backend's datagrams reach us.
    socket.connect(target.port, target.address, (err?: Error) => {
      if (flow.closed) return;
      if (err !== undefined && err !== null) {
        this.onSocketError(err as NodeJS.ErrnoException, target.name);
        // The dispatcher still holds the flow; the next datagram opens a new socket.
        flow.closed = true;
        this.closeFlow(flow);
        return;
      }
      const queued = flow.queue ?? [];
      flow.queue = undefined;
      for (const m of queued) socket.send(m);
    });
    return flow;
  }

  private closeFlow(flow: UdpFlow): void {
    flow.closed = true;
    flow.queue = undefined;
    try {
      flow.socket.close();
    } catch {
      // Already closed (ERR_SOCKET_DGRAM_NOT_RUNNING): the goal is met.
    }
  }

  private onSocketError(err: NodeJS.ErrnoException, where: string): void {
    if (err.code === 'ECONNREFUSED') this.counters.backendUnreachable++;
    else this.counters.socketErrors++;
    this.errorWarning.hit(this.clock.now(), { where, code: err.code ?? err.message });
  }
}

function sameBackend(a: BackendTarget, b: BackendTarget): boolean {
  return a.pool === b.pool && a.name === b.name;
}

/**
 * Replies go to the client's address, always an IP literal from rinfo. dgram resolves
 * the address of every send() through dns.lookup, which answers literals a tick later;
 * answering at once saves a tick and a closure per datagram. Anything that is not a
 * literal still goes to the real resolver.
 */
function literalLookup(host: string, opts: dns.LookupOneOptions | number, cb: (err: NodeJS.ErrnoException | null, address: string, family: number) => void): void {
  const family = net.isIP(host);
  if (family !== 0) cb(null, host, family);
  else dns.lookup(host, typeof opts === 'number' ? { family: opts } : opts, cb);
}
