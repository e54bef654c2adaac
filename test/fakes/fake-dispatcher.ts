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
}

export class FakeDispatcher implements ServiceDispatcher {
  readonly calls: FakeDispatcherCalls = { connected: [], connectFailed: [], requestDone: [], bytesToBackend: 0, bytesToClient: 0, ended: 0 };
  readonly down = new Set<string>();
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
    this.open = Math.max(0, this.open - 1);
  }
  admitRequest(): Admission {
    return { ok: true };
  }
  route(_input: HttpRouteInput): string {
    return 'default';
  }
  choose(req: ChooseRequest): Choice | undefined {
    const all = this.service.backends.filter((b) => !this.down.has(b.name) && !req.avoid?.has(b.name));
    if (all.length === 0) return undefined;
    const b = all[this.next++ % all.length]!;
    return { target: { pool: 'default', name: b.name, address: b.address, port: b.port }, persisted: false };
  }
  connected(target: BackendTarget): ConnectionHandle {
    this.calls.connected.push(target);
    let ended = false;
    return {
      id: String(this.calls.connected.length),
      bytesToBackend: (n) => { this.calls.bytesToBackend += n; },
      bytesToClient: (n) => { this.calls.bytesToClient += n; },
      end: () => { if (!ended) { ended = true; this.calls.ended++; } },
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
  udpDatagram(): void {}
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
