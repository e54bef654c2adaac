/**
 * A minimal ServiceDispatcher for proxy unit tests: round robin over the service's own
 * backends (or a rule-less pool), no persistence, records every call. Integration tests
 * use the real dispatcher (src/core/service/dispatcher.ts).
 */
import type { ServiceConfig } from '../../src/config/schema.js';
import type {
  Admission,
  BackendTarget,
  Choice,
  ChooseRequest,
  ConnectionHandle,
  HttpRouteInput,
  ServiceDispatcher,
  UdpFlowResult,
} from '../../src/core/service/dispatcher-types.js';

export interface FakeDispatcherCalls {
  connected: BackendTarget[];
  connectFailed: Array<{ target: BackendTarget; cause: string }>;
  requestDone: Array<{ target: BackendTarget; status: number }>;
  bytesToBackend: number;
  bytesToClient: number;
  ended: number;
  /** The info passed with each connected() call, in order. */
  connectedInfo: Array<{ clientIp: string; clientPort: number; connectMs: number }>;
  udpBytes: { to_backend: number; to_client: number };
  /** releaseConnection() calls (admitted connections must each release exactly once). */
  released: number;
}

export class FakeDispatcher implements ServiceDispatcher {
  readonly calls: FakeDispatcherCalls = { connected: [], connectFailed: [], requestDone: [], bytesToBackend: 0, bytesToClient: 0, ended: 0, connectedInfo: [], udpBytes: { to_backend: 0, to_client: 0 }, released: 0 };
  readonly down = new Set<string>();
  /** http tests: L7 routing (e.g. compileRules(service.rules)); "default" when unset. */
  routeFn: ((input: HttpRouteInput) => string) | undefined;
  /** http tests: a Set-Cookie value every choice carries. */
  setCookie: string | undefined;
  /** http tests: refuse every request as rate limited. */
  rateLimited = false;
  /** Every choose() request, to check the pool, cookie and avoid-list a proxy passed. */
  readonly chooseCalls: ChooseRequest[] = [];
  private next = 0;
  private open = 0;
  private readonly flows = new Map<string, { target: BackendTarget; last: number }>();

  constructor(readonly service: ServiceConfig) {}

  admitConnection(): Admission {
    const max = this.service.limits.max_connections;
    if (max > 0 && this.open >= max) return { ok: false, reason: 'max_connections' };
    this.open++;
    return { ok: true };
  }
  releaseConnection(): void {
    this.calls.released++;
    this.open = Math.max(0, this.open - 1);
  }
  admitRequest(): Admission {
    return this.rateLimited ? { ok: false, reason: 'rate_limited' } : { ok: true };
  }
  route(input: HttpRouteInput): string {
    return this.routeFn ? this.routeFn(input) : 'default';
  }
  choose(req: ChooseRequest): Choice | undefined {
    this.chooseCalls.push(req);
    const pool = req.pool ?? 'default';
    const backends = pool === 'default' ? this.service.backends : (this.service.pools.find((p) => p.name === pool)?.backends ?? []);
    const all = backends.filter((b) => !this.down.has(b.name) && !req.avoid?.has(b.name));
    if (all.length === 0) return undefined;
    const b = all[this.next++ % all.length]!;
    const target = { pool, name: b.name, address: b.address, port: b.port };
    return this.setCookie === undefined ? { target, persisted: false } : { target, persisted: false, setCookie: this.setCookie };
  }
  connected(target: BackendTarget, info: { clientIp: string; clientPort: number; connectMs: number }): ConnectionHandle {
    this.calls.connected.push(target);
    this.calls.connectedInfo.push(info);
    let ended = false;
    return {
      id: String(this.calls.connected.length),
      bytesToBackend: (n) => { this.calls.bytesToBackend += n; },
      bytesToClient: (n) => { this.calls.bytesToClient += n; },
      end: () => { if (!ended) { ended = true; this.calls.ended++; } },
    };
  }
  /** http requests in flight (beginRequest minus end); must return to 0. */
  inflight = 0;
  beginRequest(): { end(now: number): void } {
    this.inflight++;
    let ended = false;
    return {
      end: () => {
        if (ended) return;
        ended = true;
        this.inflight--;
      },
    };
  }
  connectFailed(target: BackendTarget, cause: string): void {
    this.calls.connectFailed.push({ target, cause });
  }
  requestDone(target: BackendTarget, status: number): void {
    this.calls.requestDone.push({ target, status });
  }
  udpFlow(clientIp: string, clientPort: number, now: number): UdpFlowResult | { rejected: 'max_flows' } | undefined {
    const key = `${clientIp}:${clientPort}`;
    const flow = this.flows.get(key);
    if (flow) {
      flow.last = now;
      return { target: flow.target, created: false, key };
    }
    if (this.flows.size >= this.service.limits.max_flows) return { rejected: 'max_flows' };
    const choice = this.choose({ clientIp });
    if (!choice) return undefined;
    this.flows.set(key, { target: choice.target, last: now });
    return { target: choice.target, created: true, key };
  }
  udpDatagram(_key: string, direction: 'to_backend' | 'to_client', bytes: number): void {
    this.calls.udpBytes[direction] += bytes;
  }
  expireUdpFlows(now: number): string[] {
    const gone: string[] = [];
    for (const [key, f] of this.flows) {
      if (now - f.last >= this.service.udp_flow_idle_ms) {
        this.flows.delete(key);
        gone.push(key);
      }
    }
    return gone;
  }
  setBackendUp(_pool: string, backend: string, up: boolean): void {
    if (up) this.down.delete(backend);
    else this.down.add(backend);
  }
  hasHealthyBackend(): boolean {
    return this.service.backends.some((b) => !this.down.has(b.name));
  }
  tick(): void {}
}
