/**
 * An in-memory advert network for unit tests of the election driver: every open member
 * receives what the others send (never its own), and the bus keeps what went over the
 * wire so a test can replay it. The real sockets are exercised in namespaces
 * (test/integration/election-*.test.ts).
 */
import { clusterSchema, type ClusterConfig } from '../../src/config/cluster-schema.js';
import type { AdvertTransport, VipControl } from '../../src/app/election/election-node.js';

export const TEST_CLUSTER_KEY = Buffer.from('0123456789abcdef0123456789abcdef');

export type Deliver = (buf: Buffer, from: { address: string; port: number }) => void;

export class AdvertBus {
  readonly members = new Set<{ address: string; deliver: Deliver; open: boolean }>();
  /** Datagrams seen on the wire, for replay attacks. */
  readonly wire: Buffer[] = [];

  transport(address: string, deliver: Deliver): AdvertTransport {
    const member = { address, deliver, open: false };
    this.members.add(member);
    return {
      start: async () => void (member.open = true),
      close: async () => void (member.open = false),
      send: (buf) => {
        if (!member.open) return;
        this.wire.push(buf);
        this.inject(buf, address);
      },
    };
  }

  /** Deliver `buf` to every open member but the sender. */
  inject(buf: Buffer, fromAddress: string): void {
    for (const m of this.members) if (m.open && m.address !== fromAddress) m.deliver(buf, { address: fromAddress, port: 7946 });
  }

  /** The member at `address` neither sends nor hears any more (a crash as the others see it). */
  silence(address: string): void {
    for (const m of this.members) if (m.address === address) m.open = false;
  }
}

/** A cluster section for tests: id 7, VIP 10.0.0.100/24 on eth0, adverts every 100 ms, 3 missed (RFC 5798's timers). */
export function testCluster(over: Record<string, unknown> = {}): ClusterConfig {
  return clusterSchema.parse({ id: 7, key_env: 'X', interface: 'eth0', vips: [{ address: '10.0.0.100/24' }], advert_interval_ms: 100, down_adverts: 3, ...over });
}

/** A VIP that does nothing; pass `record` to see the operations. */
export function quietVip(record: (op: string) => void = () => undefined): VipControl {
  return {
    add: async () => record('add'),
    renew: async () => record('renew'),
    remove: async () => record('remove'),
    removeStale: async () => [],
    garp: async (reason) => record(`garp:${reason}`),
    stopGarp: () => record('stop-garp'),
    close: () => undefined,
  };
}
