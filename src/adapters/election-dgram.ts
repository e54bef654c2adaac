/**
 * The election's advert transport (design.md section 3): one UDP4 socket that sends
 * advert buffers to the multicast group or to every unicast peer, and hands received
 * datagrams to the caller. No policy: decoding, authentication and replay checks live
 * in core/election/advert.ts, and the caller logs state transitions, so nothing here
 * logs per packet or throws on the send path.
 */
import dgram from 'node:dgram';
import { HaloError } from '../core/errors.js';

/**
 * Larger datagrams are never adverts (an advert is at most ADVERT_MAX_LENGTH, about 150
 * bytes); dropping them here keeps junk away from the HMAC check.
 */
export const MAX_ADVERT_DATAGRAM_BYTES = 1024;

export interface ElectionTransportOptions {
  readonly mode: 'multicast' | 'unicast';
  /** multicast group (multicast mode only) */
  readonly group: string;
  /** bound locally and sent to, on the group or on every peer */
  readonly port: number;
  /** multicast TTL; 1 keeps adverts on the local link */
  readonly ttl: number;
  /** unicast mode: the other nodes' addresses */
  readonly peers: readonly string[];
  /** the interface adverts go out on; named in errors */
  readonly interfaceName: string;
  /** our IPv4 address on interfaceName: multicast membership and egress, unicast bind */
  readonly localAddress: string;
  /**
   * Every datagram that passed the size and own-address filters. Must not throw (an
   * exception would escape a socket event handler); the buffer is the caller's.
   */
  onMessage(buf: Buffer, from: { address: string; port: number }): void;
}

export interface ElectionTransportStats {
  /** datagrams the kernel accepted, counted per destination */
  sent: number;
  /** datagrams handed to onMessage */
  received: number;
  /** sends that failed (or were refused: not open, too large) */
  sendErrors: number;
  /** received datagrams over MAX_ADVERT_DATAGRAM_BYTES, dropped */
  oversize: number;
  /** received datagrams from our own localAddress, dropped */
  own: number;
  /** errors the socket emitted outside a send (rare: the kernel reports most on send) */
  socketErrors: number;
  lastSendError?: string;
}

type State = 'new' | 'starting' | 'open' | 'closed';

/** errno codes a bind or membership typically fails with, and what they mean here. */
const ERRNO_HINTS: Readonly<Record<string, string>> = {
  EADDRINUSE: 'another socket already holds this port',
  EADDRNOTAVAIL: 'the address is not assigned to any interface in this network namespace',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENODEV: 'no such interface',
  EINVAL: 'invalid argument (is the group a multicast address, 224.0.0.0/4?)',
  ENOBUFS: 'too many multicast memberships (net.ipv4.igmp_max_memberships)',
};

function errnoText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code) return ERRNO_HINTS[code] ? `${code} (${ERRNO_HINTS[code]})` : code;
    return err.message;
  }
  return String(err);
}

function errnoCode(err: unknown): string | undefined {
  return err instanceof Error ? (err as NodeJS.ErrnoException).code : undefined;
}

export class ElectionTransport {
  private readonly opts: ElectionTransportOptions;
  private readonly destinations: readonly string[];
  private readonly counters: Omit<ElectionTransportStats, 'lastSendError'> = {
    sent: 0,
    received: 0,
    sendErrors: 0,
    oversize: 0,
    own: 0,
    socketErrors: 0,
  };
  private lastSendError: string | undefined;
  private socket: dgram.Socket | undefined;
  private state: State = 'new';
  private joined = false;
  private closing: Promise<void> | undefined;

  constructor(opts: ElectionTransportOptions) {
    this.opts = opts;
    this.destinations = opts.mode === 'multicast' ? [opts.group] : [...opts.peers];
  }

  get stats(): ElectionTransportStats {
    const out: ElectionTransportStats = { ...this.counters };
    if (this.lastSendError !== undefined) out.lastSendError = this.lastSendError;
    return out;
  }

  /** Where the socket is bound, once open (tests and status). */
  get boundPort(): number | undefined {
    return this.state === 'open' ? this.socket?.address().port : undefined;
  }

  /**
   * Multicast: bind 0.0.0.0:port (reuseAddr), join the group on localAddress only, send
   * out of localAddress with `ttl`, loopback off. Node has no SO_BINDTODEVICE; none is
   * needed: the kernel accepts the group's frames only on interfaces where the group was
   * joined, and we join on localAddress's interface alone (in halo's own namespace
   * nothing else joins it). The wildcard bind also lets unicast datagrams to this port
   * in; they are authenticated like any advert.
   * Unicast: bind localAddress:port, so adverts arrive only on that address.
   * Rejects with HALO_ERR_ELECTION_SOCKET naming interface, address, port and errno.
   */
  start(): Promise<void> {
    if (this.state !== 'new') {
      return Promise.reject(new HaloError('HALO_ERR_ELECTION_SOCKET', `election transport on ${this.opts.interfaceName} was already started (state ${this.state})`));
    }
    this.state = 'starting';
    const { mode, port, localAddress, interfaceName, group } = this.opts;
    const bindAddress = mode === 'multicast' ? '0.0.0.0' : localAddress;
    const socket = dgram.createSocket({ type: 'udp4', reuseAddr: mode === 'multicast' });
    this.socket = socket;
    // Always listened for, so a late error (after a close during start, say) cannot
    // become an uncaught exception; only errors of an open socket are worth counting.
    socket.on('error', () => {
      if (this.state === 'open') this.counters.socketErrors++;
    });
    const what =
      mode === 'multicast'
        ? `multicast group ${group} port ${port} on ${interfaceName} (${localAddress})`
        : `unicast ${localAddress}:${port} on ${interfaceName}`;
    const fail = (step: string, err: unknown): HaloError =>
      new HaloError(
        'HALO_ERR_ELECTION_SOCKET',
        `election socket for ${what}: ${step} failed: ${errnoText(err)}`,
        { mode, interface: interfaceName, address: localAddress, bindAddress, port, group, step, errno: errnoCode(err) },
        { cause: err },
      );
    const closedEarly = (): HaloError =>
      new HaloError('HALO_ERR_ELECTION_SOCKET', `election socket for ${what}: closed before it finished starting`, { interface: interfaceName, port });

    return new Promise<void>((resolve, reject) => {
      const onStartError = (err: Error): void => {
        socket.off('listening', onListening);
        socket.off('close', onCloseDuringStart);
        this.state = 'closed';
        try {
          socket.close();
        } catch {
          // never bound: nothing to close
        }
        reject(fail(`bind ${bindAddress}:${port}`, err));
      };
      const onCloseDuringStart = (): void => {
        socket.off('error', onStartError);
        socket.off('listening', onListening);
        reject(closedEarly());
      };
      const onListening = (): void => {
        socket.off('error', onStartError);
        socket.off('close', onCloseDuringStart);
        if (this.state !== 'starting') {
          // close() ran while the bind was in flight; Node closes the socket right after this
          reject(closedEarly());
          return;
        }
        let step = '';
        try {
          if (mode === 'multicast') {
            step = `addMembership(${group}, ${localAddress})`;
            socket.addMembership(group, localAddress);
            this.joined = true;
            step = `setMulticastInterface(${localAddress})`;
            socket.setMulticastInterface(localAddress);
            step = `setMulticastTTL(${this.opts.ttl})`;
            socket.setMulticastTTL(this.opts.ttl);
            step = 'setMulticastLoopback(false)';
            socket.setMulticastLoopback(false);
          }
        } catch (err) {
          this.state = 'closed';
          socket.close();
          reject(fail(step, err));
          return;
        }
        socket.on('message', (msg, rinfo) => this.onDatagram(msg, rinfo));
        this.state = 'open';
        resolve();
      };
      socket.once('error', onStartError);
      socket.once('listening', onListening);
      socket.once('close', onCloseDuringStart);
      try {
        socket.bind({ port, address: bindAddress });
      } catch (err) {
        onStartError(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  /**
   * Fire-and-forget: never throws and never logs. Failures (including sending while not
   * open, or a buffer over MAX_ADVERT_DATAGRAM_BYTES) land in stats.sendErrors and
   * stats.lastSendError. The buffer must not be modified until the kernel took it
   * (the next tick); encodeAdvert returns a fresh buffer each time.
   */
  send(buf: Buffer): void {
    const socket = this.socket;
    if (this.state !== 'open' || !socket) {
      this.recordSendError(this.state === 'closed' ? 'transport closed' : 'transport not started');
      return;
    }
    if (buf.length > MAX_ADVERT_DATAGRAM_BYTES) {
      this.recordSendError(`datagram of ${buf.length} bytes exceeds ${MAX_ADVERT_DATAGRAM_BYTES}`);
      return;
    }
    for (const dest of this.destinations) {
      try {
        socket.send(buf, this.opts.port, dest, (err) => {
          if (err) this.recordSendError(`to ${dest}:${this.opts.port}: ${errnoText(err)}`);
          else this.counters.sent++;
        });
      } catch (err) {
        // dgram throws synchronously on a socket closed under us or a bad argument
        this.recordSendError(`to ${dest}:${this.opts.port}: ${errnoText(err)}`);
      }
    }
  }

  /** Leave the group and close the socket. Idempotent; safe before start. */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    const socket = this.socket;
    const wasOpen = this.state === 'open' || this.state === 'starting';
    this.state = 'closed';
    if (!socket || !wasOpen) {
      this.closing = Promise.resolve();
      return this.closing;
    }
    this.closing = new Promise<void>((resolve) => {
      if (this.joined) {
        try {
          socket.dropMembership(this.opts.group, this.opts.localAddress);
        } catch {
          // the interface or its address may already be gone; closing drops it anyway
        }
        this.joined = false;
      }
      try {
        socket.close(() => resolve());
      } catch {
        resolve();
      }
    });
    return this.closing;
  }

  private onDatagram(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    // Our own adverts come back when a unicast peer list includes us, or through a
    // looping network; they must never count as another node's.
    if (rinfo.address === this.opts.localAddress) {
      this.counters.own++;
      return;
    }
    if (msg.length > MAX_ADVERT_DATAGRAM_BYTES) {
      this.counters.oversize++;
      return;
    }
    this.counters.received++;
    this.opts.onMessage(msg, { address: rinfo.address, port: rinfo.port });
  }

  private recordSendError(text: string): void {
    this.counters.sendErrors++;
    this.lastSendError = text;
  }
}
