/**
 * UDP flows: client "ip:port" -> backend, forgotten after `idleMs` without a datagram.
 * Every datagram extends the flow (touch); a set event goes out only when the expiry
 * moved past the refresh threshold, so replicas keep flows alive without one event per
 * packet. The table itself refuses a new flow at `maxFlows`: making room is the
 * dispatcher's call, because a flow holds a socket in the proxy and load on a backend
 * that must be settled. It makes room with evictOldest(): under a flood of new sources
 * (1M spoofed addresses) refusing would lock every new client out until the flood's
 * flows idled out, while evicting the least recently seen flow lets new clients in and
 * keeps every flow busier than the flood's churn (maxFlows / new sources per second).
 */
import { ExpiringTable, type TableEntry } from './expiring-table.js';
import { TypedTable } from './typed-table.js';

export interface UdpFlowEntry {
  readonly clientIp: string;
  readonly clientPort: number;
  readonly pool: string;
  readonly backend: string;
  readonly createdAt: number;
  /**
   * Set when the flow came by replication: its load was counted on arrival without
   * metrics, so its end must be accounted the same way.
   */
  readonly replicated?: true;
  /** Client -> backend. */
  packetsIn: number;
  bytesIn: number;
  /** Backend -> client. */
  packetsOut: number;
  bytesOut: number;
}

export interface UdpFlowInfo {
  readonly clientIp: string;
  readonly clientPort: number;
  readonly pool: string;
  readonly backend: string;
}

export interface UdpFlowTableOptions {
  readonly name: string;
  readonly idleMs: number;
  readonly maxFlows: number;
  /** Default idleMs / 4. */
  readonly refreshMs?: number;
}

export class UdpFlowTable extends TypedTable<UdpFlowEntry> {
  readonly idleMs: number;

  /** The flow key for a client address; IPv6 literals are bracketed so ':' stays unambiguous. */
  static key(clientIp: string, clientPort: number): string {
    return clientIp.includes(':') ? `[${clientIp}]:${clientPort}` : `${clientIp}:${clientPort}`;
  }

  constructor(opts: UdpFlowTableOptions) {
    super(
      new ExpiringTable<UdpFlowEntry>({
        name: opts.name,
        kind: 'udp_flows',
        maxEntries: opts.maxFlows,
        whenFull: 'refuse',
        refreshMs: opts.refreshMs ?? opts.idleMs / 4,
      }),
    );
    this.idleMs = opts.idleMs;
  }

  get expireWork(): number {
    return this.table.expireWork;
  }

  /** The live flow, or undefined when absent or idle past its expiry. */
  get(key: string, now: number): UdpFlowEntry | undefined {
    return this.table.get(key, now);
  }

  /**
   * Start a flow (replacing a stale one under the same key; call get() first). The
   * returned entry is live. Undefined when the table is full of live flows.
   */
  create(key: string, info: UdpFlowInfo, now: number): UdpFlowEntry | undefined {
    const entry: UdpFlowEntry = {
      clientIp: info.clientIp,
      clientPort: info.clientPort,
      pool: info.pool,
      backend: info.backend,
      createdAt: now,
      packetsIn: 0,
      bytesIn: 0,
      packetsOut: 0,
      bytesOut: 0,
    };
    return this.table.set(key, entry, now, this.idleMs) ? entry : undefined;
  }

  /**
   * Install (or overwrite) a flow that came by replication. `ttlMs` is the master's
   * remaining idle time plus the caller's grace; `ageMs` rebuilds createdAt on this
   * node's clock. A new key is refused when the table is full, without reclaiming an
   * expired flow: that flow's load would end unaccounted (the caller settles ends).
   */
  restore(key: string, info: UdpFlowInfo, now: number, ttlMs: number | null, ageMs: number): UdpFlowEntry | undefined {
    if (this.table.peek(key) === undefined && this.table.size >= this.table.maxEntries) return undefined;
    const entry: UdpFlowEntry = {
      clientIp: info.clientIp,
      clientPort: info.clientPort,
      pool: info.pool,
      backend: info.backend,
      createdAt: now - ageMs,
      replicated: true,
      packetsIn: 0,
      bytesIn: 0,
      packetsOut: 0,
      bytesOut: 0,
    };
    return this.table.set(key, entry, now, ttlMs) ? entry : undefined;
  }

  /**
   * One datagram on a flow: counters and idle expiry. Returns the flow, or undefined
   * when it is unknown or already idle-expired (a datagram does not revive it).
   */
  datagram(key: string, direction: 'to_backend' | 'to_client', bytes: number, now: number): UdpFlowEntry | undefined {
    const entry = this.table.touch(key, now, this.idleMs);
    if (entry === undefined) return undefined;
    if (direction === 'to_backend') {
      entry.packetsIn++;
      entry.bytesIn += bytes;
    } else {
      entry.packetsOut++;
      entry.bytesOut += bytes;
    }
    return entry;
  }

  /**
   * Drop the least recently seen flow (closest to its idle expiry) to make room; its
   * delete (reason 'evicted') replicates like any other. Returns the flow so the caller
   * can close its socket and end its load; undefined when the table is empty.
   */
  evictOldest(now: number): { readonly key: string; readonly flow: UdpFlowEntry } | undefined {
    const e = this.table.evictClosest(now);
    return e === undefined ? undefined : { key: e.key, flow: e.value };
  }

  get maxFlows(): number {
    return this.table.maxEntries;
  }

  remove(key: string, now: number): boolean {
    return this.table.delete(key, now);
  }

  /** Flows idle past their expiry are removed; the proxy closes their sockets. */
  expire(now: number, limit?: number, each?: (key: string, flow: UdpFlowEntry) => void): string[] {
    return this.table.expire(now, limit, each);
  }

  /** The flow even when idle-expired but not yet removed (to settle its accounting). */
  peek(key: string): UdpFlowEntry | undefined {
    return this.table.peek(key);
  }

  entries(now?: number): IterableIterator<TableEntry<UdpFlowEntry>> {
    return this.table.entries(now);
  }
}
