/** What the parts of the HTTP proxy (client connections, exchanges, tunnels) share. */
import type { Clock } from '../../core/clock.js';
import type { ServiceDispatcher } from '../../core/service/dispatcher-types.js';
import type { Logger } from '../logger.js';
import type { UpstreamPool } from './upstream-pool.js';

/** Plain counters the admin/metrics layer can read; every malformed input is counted. */
export interface HttpProxyCounters {
  connections: number;
  rejectedConnections: number;
  requests: number;
  badRequests: number;
  headerTooLarge: number;
  /** Request heads (or a new connection's first byte) not in within client_header_ms. */
  headTimeouts: number;
  /** Request bodies not in within client_body_ms plus their rate allowance. */
  bodyTimeouts: number;
  clientTimeouts: number;
  rateLimited: number;
  noBackend: number;
  connectFailures: number;
  retries: number;
  staleRetries: number;
  badResponses: number;
  backendErrors: number;
  backendTimeouts: number;
  upgrades: number;
}

export function newCounters(): HttpProxyCounters {
  return {
    connections: 0,
    rejectedConnections: 0,
    requests: 0,
    badRequests: 0,
    headerTooLarge: 0,
    headTimeouts: 0,
    bodyTimeouts: 0,
    clientTimeouts: 0,
    rateLimited: 0,
    noBackend: 0,
    connectFailures: 0,
    retries: 0,
    staleRetries: 0,
    badResponses: 0,
    backendErrors: 0,
    backendTimeouts: 0,
    upgrades: 0,
  };
}

export interface HttpProxyContext {
  readonly dispatcher: ServiceDispatcher;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly pool: UpstreamPool;
  readonly counters: HttpProxyCounters;
  /**
   * Monotonic ms refreshed by the sweep: precise enough for inactivity timeouts and
   * saves a clock read on every socket read.
   */
  coarseNow: number;
  /** close() was called: answer in-flight requests with Connection: close. */
  draining: boolean;
}

/** Reasons a client socket is paused; it reads again only when none is left. */
export const PAUSE_STASH = 1;
export const PAUSE_BACKPRESSURE = 2;
export const PAUSE_WAIT = 4;
/** Our responses to this client are piling up unread: no new request until they drain. */
export const PAUSE_OUTPUT = 8;
