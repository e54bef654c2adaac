/**
 * The contract between a proxy (adapters/proxy/*) and the pure per-service logic
 * (core/service/dispatcher.ts): admission limits, L7 routing, backend choice with
 * persistence, accounting into balancers, tables and metrics. Every method takes the
 * monotonic time `now` (ms); none does I/O or waits. Proxies own sockets; the
 * dispatcher owns every decision and every table.
 */
import type { ServiceConfig } from '../../config/schema.js';

export interface BackendTarget {
  /** "default" for the service's own backends, else a pool name from config. */
  readonly pool: string;
  readonly name: string;
  readonly address: string;
  readonly port: number;
}

export type RejectReason = 'max_connections' | 'max_connections_per_client' | 'rate_limited' | 'max_flows';

export type Admission = { readonly ok: true } | { readonly ok: false; readonly reason: RejectReason };

export interface ChooseRequest {
  readonly clientIp: string;
  /** http: the pool picked by route(); defaults to "default". */
  readonly pool?: string;
  /** http: the raw value of the persistence cookie when the client sent one. */
  readonly cookie?: string;
  /** Backends that already failed for this request/connection (retry picks another). */
  readonly avoid?: ReadonlySet<string>;
}

export interface Choice {
  readonly target: BackendTarget;
  /** http cookie persistence: a Set-Cookie value to add to the response (name=value; attributes). */
  readonly setCookie?: string;
  /** True when persistence (cookie or source IP) decided, false when the balancer did. */
  readonly persisted: boolean;
}

/** Accounting for one proxied TCP connection (or one HTTP backend connection). */
export interface ConnectionHandle {
  readonly id: string;
  /** Bytes from client to backend. */
  bytesToBackend(n: number, now: number): void;
  /** Bytes from backend to client. */
  bytesToClient(n: number, now: number): void;
  /** Idempotent. */
  end(now: number): void;
}

export interface HttpRouteInput {
  readonly path: string;
  readonly host: string | undefined;
  /** Lower-case header name -> first value. */
  header(name: string): string | undefined;
}

export interface UdpFlowResult {
  readonly target: BackendTarget;
  /** True when this datagram created the flow (the proxy opens its upstream socket). */
  readonly created: boolean;
  /** Stable flow key ("ip:port"), also the table key. */
  readonly key: string;
  /**
   * Keys of flows the dispatcher ended to make room for this one (idle-expired, or the
   * least recently seen evicted from a full table): the proxy closes their sockets now.
   */
  readonly ended?: readonly string[];
}

export interface ServiceDispatcher {
  readonly service: ServiceConfig;

  /** A new client connection. When ok, call releaseConnection once it closes. */
  admitConnection(clientIp: string, now: number): Admission;
  releaseConnection(clientIp: string, now: number): void;
  /** http: one request from this client (rate limit). */
  admitRequest(clientIp: string, now: number): Admission;

  /** http: ordered rules -> pool name ("default" when none matches). */
  route(input: HttpRouteInput): string;
  /** Persistence first (if its backend is up and not avoided), then the pool's balancer. */
  choose(req: ChooseRequest, now: number): Choice | undefined;

  /** The backend connection is established: connection table, balancer and metrics. */
  connected(target: BackendTarget, info: { clientIp: string; clientPort: number; connectMs: number }, now: number): ConnectionHandle;
  /** Connecting failed or timed out: counted; the proxy retries with `avoid`. */
  connectFailed(target: BackendTarget, cause: string, now: number): void;
  /**
   * http: a request is in flight on this backend, from the moment it is sent until its
   * exchange is over (response complete, failed, abandoned or upgraded). This is what
   * least_connections and max_connections count in http mode, since pooled keep-alive
   * connections sitting idle are no load. Call end() exactly once; it is idempotent.
   */
  beginRequest(target: BackendTarget, now: number): { end(now: number): void };
  /** http: a complete request was sent to this backend and answered in `ms` (time to response head). */
  requestDone(target: BackendTarget, status: number, ms: number, now: number): void;

  /**
   * udp: the flow for a datagram from a client, creating it (and choosing a backend) if
   * new. A full table makes room: idle flows first, then the least recently seen one.
   */
  udpFlow(clientIp: string, clientPort: number, now: number): UdpFlowResult | { readonly rejected: RejectReason } | undefined;
  /** udp: one datagram of `bytes` moved on a flow. */
  udpDatagram(key: string, direction: 'to_backend' | 'to_client', bytes: number, now: number): void;
  /** udp: flows idle past udp_flow_idle_ms (and their keys) are removed; the proxy closes their sockets. */
  expireUdpFlows(now: number): string[];

  /** Health state of a backend changed (from the health monitor). */
  setBackendUp(pool: string, backend: string, up: boolean, now: number): void;
  /** Any backend up in this pool? */
  hasHealthyBackend(pool?: string): boolean;
  /** Expire persistence and other tables; call about once a second. */
  tick(now: number): void;
}
