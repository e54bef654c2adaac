/**
 * The `cluster` section: election, adverts, VIPs, tracking and notify hooks
 * (design.md section 3). Absent = a single node with no election and no VIP.
 *
 * Defaults are chosen for sub-second failover out of the box that also rides out a lossy
 * link: adverts every 40 ms and 5 missed adverts give Master_Down_Interval = 200 ms +
 * Skew_Time (under 40 ms).
 */
import { z } from 'zod';
import { replicationSchema } from './replication-schema.js';
import { bool, int, list, name, oneOf, show, text, IPV4 } from './schema-helpers.js';

const CIDR = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}\/([0-9]|[12]\d|3[0-2])$/;
const IFNAME = /^[A-Za-z0-9_.@:-]{1,15}$/;

const ifname = () => text('an interface name (at most 15 characters)', IFNAME);
const argv = (what: string) =>
  list(z.string({ error: (iss) => `expected a string, got ${show(iss.input)}` }), what).min(1, { error: `expected a command: a list, program first, e.g. ["/usr/local/bin/${what}", "--flag"]` });

/** Track weights follow keepalived: negative lowers priority while failing, positive raises it while fine, 0 means FAULT. */
const weight = () => int(-253, 253).default(0);

export const vipSchema = z.strictObject({
  /** address with prefix length, e.g. 10.0.0.100/24 */
  address: text('an IPv4 address with prefix length, e.g. 10.0.0.100/24', CIDR),
  /** default: cluster.interface */
  interface: ifname().optional(),
});

export const trackInterfaceSchema = z.strictObject({
  name: ifname(),
  weight: weight(),
});

export const trackServiceSchema = z.strictObject({
  /** the service (services[].name) that must have at least one healthy backend */
  name: name('a service name'),
  weight: weight(),
});

export const trackScriptSchema = z.strictObject({
  name: name('a track script name'),
  /** argv, program first; run without a shell; exit 0 = success */
  command: argv('check'),
  interval_ms: int(100, 3_600_000).default(2000),
  timeout_ms: int(10, 600_000).default(1000),
  rise: int(1, 100).default(2),
  fall: int(1, 100).default(2),
  weight: weight(),
});

export const notifySchema = z.strictObject({
  /** argv each, program first; halo appends NEW_STATE OLD_STATE NODE and sets HALO_* env */
  master: argv('notify-master').optional(),
  backup: argv('notify-backup').optional(),
  fault: argv('notify-fault').optional(),
  stop: argv('notify-stop').optional(),
  /** a hook still running after this is killed (SIGKILL) and logged */
  timeout_ms: int(10, 600_000).default(5000),
});

export const transportSchema = z.strictObject({
  mode: oneOf(['multicast', 'unicast'] as const).default('multicast'),
  /** multicast group (IPv4, 224.0.0.0/4) */
  group: text('an IPv4 multicast group', IPV4).default('239.255.72.76'),
  port: int(1, 65535).default(7946),
  /** multicast TTL; 1 keeps adverts on the local link */
  ttl: int(1, 255).default(1),
  /** unicast: the other nodes' addresses */
  peers: list(text('an IPv4 peer address', IPV4), 'peer addresses').default([]),
});

export const clusterSchema = z.strictObject({
  /** shared by every node of one cluster; adverts with another id are dropped */
  id: int(1, 4_294_967_295),
  /** HMAC-SHA256 key for adverts: from a file or an environment variable, never inline */
  key_file: z.string().optional(),
  key_env: z.string().optional(),
  /** the interface adverts go out on and VIPs are added to */
  interface: ifname(),
  /** our address in adverts and for the tie-break; default: the interface's first IPv4 address */
  address: text('an IPv4 address', IPV4).optional(),
  priority: int(1, 254).default(100),
  advert_interval_ms: int(10, 10_000).default(40),
  /**
   * adverts missed before a backup takes over. RFC 5798 uses 3; at 20-25 adverts a second
   * that is a false takeover every few minutes on a link losing 5% of its packets (3
   * losses in a row); 5 makes it about once in a month.
   */
  down_adverts: int(2, 100).default(5),
  /**
   * Skew_Time measured from the followed master's priority (relative) or from 256 as in
   * RFC 5798 (rfc). Relative keeps the RFC's gaps between backups, so the same one wins,
   * and drops the wait they all shared: (256 - master priority)/256 of an interval.
   */
  skew: oneOf(['relative', 'rfc'] as const).default('relative'),
  preempt: bool().default(true),
  /** how long a live lower-priority master is left in place before we preempt it */
  preempt_delay_ms: int(0, 3_600_000).default(0),
  transport: transportSchema.default(transportSchema.parse({})),
  vips: list(vipSchema, 'VIPs').min(1, { error: 'expected at least one VIP' }),
  garp: z
    .strictObject({
      /** gratuitous ARPs sent at takeover */
      count: int(1, 100).default(3),
      /** spacing of the burst */
      interval_ms: int(10, 10_000).default(100),
      /** re-announce while master; 0 = off (not recommended) */
      refresh_ms: int(0, 3_600_000).default(10_000),
    })
    .default({ count: 3, interval_ms: 100, refresh_ms: 10_000 }),
  /**
   * The VIP is added with this lifetime and renewed by the master, so a crashed node's
   * VIP disappears by itself; 0 = forever. The kernel counts whole seconds: rounded up.
   */
  vip_lifetime_ms: z.union([z.literal(0), int(2000, 86_400_000)], { error: (iss) => `expected 0 or an integer 2000-86400000, got ${show(iss.input)}` }).default(30_000),
  /**
   * Make-before-break: a master handing over to a live peer (shutdown, preempted, split
   * brain healed) keeps the VIP this long after the new master's first advert, so the
   * clients are never left with nobody answering; 0 = release at once (keepalived).
   */
  handover_grace_ms: int(0, 10_000).default(150),
  /** the data plane must tick the election this often, or the node goes to FAULT */
  liveness_timeout_ms: int(100, 600_000).default(2000),
  track: z
    .strictObject({
      interfaces: list(trackInterfaceSchema, 'interfaces').default([]),
      services: list(trackServiceSchema, 'services').default([]),
      scripts: list(trackScriptSchema, 'scripts').default([]),
    })
    .default({ interfaces: [], services: [], scripts: [] }),
  notify: notifySchema.default(notifySchema.parse({})),
  replication: replicationSchema.default(replicationSchema.parse({})),
});

export type ClusterConfig = z.infer<typeof clusterSchema>;
export type VipConfig = z.infer<typeof vipSchema>;
export type TrackScriptConfig = z.infer<typeof trackScriptSchema>;
export type NotifyConfig = z.infer<typeof notifySchema>;
export type TransportConfig = z.infer<typeof transportSchema>;
