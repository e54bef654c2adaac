/**
 * The election advertisement: a versioned binary datagram, authenticated with
 * HMAC-SHA256 under the cluster key, plus the replay window and drop counters
 * that sit behind the decoder (design.md section 3, "Advertisement").
 *
 * Wire layout, version 1 (all integers big-endian; N = node id length):
 *
 * | offset | size | field        | notes                                                    |
 * |-------:|-----:|--------------|----------------------------------------------------------|
 * |      0 |    4 | magic        | ASCII "HALO" (48 41 4c 4f)                               |
 * |      4 |    1 | version      | 1                                                        |
 * |      5 |    1 | flags        | bit0 synced, bit1 shutting down, bits 2-7 reserved = 0   |
 * |      6 |    1 | priority     | 0-255 (0 = leaving: backups take over after Skew_Time)   |
 * |      7 |    1 | reserved     | 0                                                        |
 * |      8 |    2 | interval_ms  | uint16, 10-10000 (halo's range: 10 ms to 10 s)           |
 * |     10 |    4 | cluster_id   | uint32                                                   |
 * |     14 |    4 | address      | sender's IPv4 address (tie-break: higher wins)           |
 * |     18 |    8 | boot_epoch   | uint64, new on every process start                       |
 * |     26 |    8 | sequence     | uint64, increases with every advert within an epoch      |
 * |     34 |    1 | node_id_len  | N, 1-63                                                  |
 * |     35 |    N | node_id      | ASCII [A-Za-z0-9_.-]                                     |
 * | 35 + N |   32 | hmac         | HMAC-SHA256(cluster key, bytes 0 .. 34 + N)              |
 *
 * Total length 67 + N: 68 to 130 bytes. Every fixed-size field comes before the
 * one variable-length field, so magic, version and cluster id sit at fixed
 * offsets and can be checked before anything else is parsed.
 *
 * Decoding order, and why: magic and version first (a foreign protocol or a
 * future version may have another length); then the length; then the cluster
 * id, so a second cluster sharing our multicast group is reported as such (with
 * the sender's claimed, unauthenticated node id for the "log once" line) and not
 * as a flood of HMAC failures; then the node id length, which only locates the
 * HMAC; then the HMAC. No other field is looked at before the HMAC passes.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { HaloError } from '../errors.js';
import { parseIPv4 } from '../proxy-protocol.js';

export const ADVERT_MAGIC: Readonly<Buffer> = Buffer.from('HALO', 'ascii');
export const ADVERT_VERSION = 1;
export const ADVERT_HMAC_BYTES = 32;
export const NODE_ID_MAX_BYTES = 63;
export const ADVERT_MIN_INTERVAL_MS = 10;
export const ADVERT_MAX_INTERVAL_MS = 10_000;

const FLAG_SYNCED = 0x01;
const FLAG_SHUTTING_DOWN = 0x02;
const FLAGS_KNOWN = FLAG_SYNCED | FLAG_SHUTTING_DOWN;

const OFF_VERSION = 4;
const OFF_FLAGS = 5;
const OFF_PRIORITY = 6;
const OFF_RESERVED = 7;
const OFF_INTERVAL = 8;
const OFF_CLUSTER = 10;
const OFF_ADDRESS = 14;
const OFF_EPOCH = 18;
const OFF_SEQUENCE = 26;
const OFF_NODE_ID_LEN = 34;
const OFF_NODE_ID = 35;

export const ADVERT_MIN_LENGTH = OFF_NODE_ID + 1 + ADVERT_HMAC_BYTES;
export const ADVERT_MAX_LENGTH = OFF_NODE_ID + NODE_ID_MAX_BYTES + ADVERT_HMAC_BYTES;

const UINT64_MAX = (1n << 64n) - 1n;
const NODE_ID_RE = /^[A-Za-z0-9_.-]{1,63}$/;

export interface Advert {
  /** This node's tables are in step with the master's (replication); a node not synced does not preempt. */
  readonly synced: boolean;
  /** Sent with the last adverts on SIGTERM, together with priority 0. */
  readonly shuttingDown: boolean;
  /** 0-255. */
  readonly priority: number;
  /** 10-10000. */
  readonly intervalMs: number;
  /** uint32. */
  readonly clusterId: number;
  /** 1-63 characters of [A-Za-z0-9_.-]. */
  readonly nodeId: string;
  /** Strict dotted-quad IPv4. */
  readonly address: string;
  /** uint64; a new value on every process start. */
  readonly bootEpoch: bigint;
  /** uint64; strictly increasing within one boot epoch. */
  readonly sequence: bigint;
}

export type DecodeFailureReason = 'short' | 'magic' | 'version' | 'cluster' | 'malformed' | 'hmac';

/** A foreign cluster on our group. Nothing here is authenticated: use it for logs only. */
export interface ForeignClusterFailure {
  readonly ok: false;
  readonly reason: 'cluster';
  readonly clusterId: number;
  readonly claimedNodeId?: string;
  readonly claimedAddress?: string;
}

export type DecodeResult =
  | { readonly ok: true; readonly advert: Advert }
  | { readonly ok: false; readonly reason: Exclude<DecodeFailureReason, 'cluster'> }
  | ForeignClusterFailure;

/** Wire length of an advert from this node id (ASCII, so bytes = characters). */
export function advertLength(nodeId: string): number {
  return OFF_NODE_ID + nodeId.length + ADVERT_HMAC_BYTES;
}

export function isValidNodeId(nodeId: string): boolean {
  return NODE_ID_RE.test(nodeId);
}

/** IPv4 text to an unsigned 32-bit number, for the tie-break comparison; undefined if not a strict dotted quad. */
export function ipv4ToUint32(address: unknown): number | undefined {
  if (typeof address !== 'string') return undefined;
  const b = parseIPv4(address);
  if (!b) return undefined;
  return ((b[0]! << 24) >>> 0) + (b[1]! << 16) + (b[2]! << 8) + b[3]!;
}

function isUint(value: number, max: number): boolean {
  return Number.isInteger(value) && value >= 0 && value <= max;
}

function isUint64(value: bigint): boolean {
  return typeof value === 'bigint' && value >= 0n && value <= UINT64_MAX;
}

function fieldError(field: string, value: unknown, rule: string): HaloError {
  return new HaloError('HALO_ERR_ADVERT', `advert field ${field} must be ${rule}`, { field, value: String(value) });
}

function hmac(key: Buffer, body: Buffer): Buffer {
  return createHmac('sha256', key).update(body).digest();
}

/**
 * Serialise and sign. Throws HaloError on a field out of range (a bug in the
 * caller, not bad input from the network) and on an empty key.
 */
export function encodeAdvert(advert: Advert, key: Buffer): Buffer {
  if (key.length === 0) throw new HaloError('HALO_ERR_SECRET', 'the cluster key is empty');
  if (!isUint(advert.priority, 255)) throw fieldError('priority', advert.priority, 'an integer 0-255');
  if (!Number.isInteger(advert.intervalMs) || advert.intervalMs < ADVERT_MIN_INTERVAL_MS || advert.intervalMs > ADVERT_MAX_INTERVAL_MS) {
    throw fieldError('intervalMs', advert.intervalMs, `an integer ${ADVERT_MIN_INTERVAL_MS}-${ADVERT_MAX_INTERVAL_MS}`);
  }
  if (!isUint(advert.clusterId, 0xffff_ffff)) throw fieldError('clusterId', advert.clusterId, 'a uint32');
  if (!isValidNodeId(advert.nodeId)) throw fieldError('nodeId', advert.nodeId, `1-${NODE_ID_MAX_BYTES} characters of [A-Za-z0-9_.-]`);
  const address = parseIPv4(advert.address);
  if (!address) throw fieldError('address', advert.address, 'a dotted-quad IPv4 address');
  if (!isUint64(advert.bootEpoch)) throw fieldError('bootEpoch', advert.bootEpoch, 'a uint64 bigint');
  if (!isUint64(advert.sequence)) throw fieldError('sequence', advert.sequence, 'a uint64 bigint');

  const n = advert.nodeId.length;
  const buf = Buffer.alloc(advertLength(advert.nodeId));
  ADVERT_MAGIC.copy(buf, 0);
  buf[OFF_VERSION] = ADVERT_VERSION;
  buf[OFF_FLAGS] = (advert.synced ? FLAG_SYNCED : 0) | (advert.shuttingDown ? FLAG_SHUTTING_DOWN : 0);
  buf[OFF_PRIORITY] = advert.priority;
  buf[OFF_RESERVED] = 0;
  buf.writeUInt16BE(advert.intervalMs, OFF_INTERVAL);
  buf.writeUInt32BE(advert.clusterId, OFF_CLUSTER);
  buf.set(address, OFF_ADDRESS);
  buf.writeBigUInt64BE(advert.bootEpoch, OFF_EPOCH);
  buf.writeBigUInt64BE(advert.sequence, OFF_SEQUENCE);
  buf[OFF_NODE_ID_LEN] = n;
  buf.write(advert.nodeId, OFF_NODE_ID, 'ascii');
  const bodyEnd = OFF_NODE_ID + n;
  hmac(key, buf.subarray(0, bodyEnd)).copy(buf, bodyEnd);
  return buf;
}

function readAddress(buf: Buffer, offset: number): string {
  return `${buf[offset]}.${buf[offset + 1]}.${buf[offset + 2]}.${buf[offset + 3]}`;
}

/** The node id as claimed, if its length byte and characters are sane; never trusted. */
function claimedNodeId(buf: Buffer): string | undefined {
  const n = buf[OFF_NODE_ID_LEN] ?? 0;
  if (n < 1 || n > NODE_ID_MAX_BYTES || buf.length < OFF_NODE_ID + n) return undefined;
  const id = buf.toString('latin1', OFF_NODE_ID, OFF_NODE_ID + n);
  return isValidNodeId(id) ? id : undefined;
}

/**
 * Parse and authenticate one datagram. Never throws: every input ends as an
 * advert or a failure reason to count. `expectedClusterId` is our uint32.
 */
export function decodeAdvert(buf: Buffer, key: Buffer, expectedClusterId: number): DecodeResult {
  if (buf.length < ADVERT_MAGIC.length) return { ok: false, reason: 'short' };
  if (ADVERT_MAGIC.compare(buf, 0, ADVERT_MAGIC.length) !== 0) return { ok: false, reason: 'magic' };
  if (buf.length <= OFF_VERSION) return { ok: false, reason: 'short' };
  if (buf[OFF_VERSION] !== ADVERT_VERSION) return { ok: false, reason: 'version' };
  if (buf.length < ADVERT_MIN_LENGTH) return { ok: false, reason: 'short' };

  const clusterId = buf.readUInt32BE(OFF_CLUSTER);
  if (clusterId !== expectedClusterId) {
    const nodeId = claimedNodeId(buf);
    return {
      ok: false,
      reason: 'cluster',
      clusterId,
      claimedAddress: readAddress(buf, OFF_ADDRESS),
      ...(nodeId === undefined ? {} : { claimedNodeId: nodeId }),
    };
  }

  const n = buf[OFF_NODE_ID_LEN] ?? 0;
  if (n < 1 || n > NODE_ID_MAX_BYTES) return { ok: false, reason: 'malformed' };
  const bodyEnd = OFF_NODE_ID + n;
  const total = bodyEnd + ADVERT_HMAC_BYTES;
  if (buf.length < total) return { ok: false, reason: 'short' };
  if (buf.length > total) return { ok: false, reason: 'malformed' };

  // An empty key would make the HMAC a checksum anyone can compute: never accept under it.
  if (key.length === 0) return { ok: false, reason: 'hmac' };
  const expected = hmac(key, buf.subarray(0, bodyEnd));
  if (!timingSafeEqual(expected, buf.subarray(bodyEnd, total))) return { ok: false, reason: 'hmac' };

  // Authenticated from here on; what remains is a sender with the key but a bug or a newer minor format.
  const flags = buf[OFF_FLAGS] ?? 0;
  if ((flags & ~FLAGS_KNOWN) !== 0) return { ok: false, reason: 'malformed' };
  if (buf[OFF_RESERVED] !== 0) return { ok: false, reason: 'malformed' };
  const intervalMs = buf.readUInt16BE(OFF_INTERVAL);
  if (intervalMs < ADVERT_MIN_INTERVAL_MS || intervalMs > ADVERT_MAX_INTERVAL_MS) return { ok: false, reason: 'malformed' };
  const nodeId = buf.toString('latin1', OFF_NODE_ID, bodyEnd);
  if (!isValidNodeId(nodeId)) return { ok: false, reason: 'malformed' };

  return {
    ok: true,
    advert: {
      synced: (flags & FLAG_SYNCED) !== 0,
      shuttingDown: (flags & FLAG_SHUTTING_DOWN) !== 0,
      priority: buf[OFF_PRIORITY] ?? 0,
      intervalMs,
      clusterId,
      nodeId,
      address: readAddress(buf, OFF_ADDRESS),
      bootEpoch: buf.readBigUInt64BE(OFF_EPOCH),
      sequence: buf.readBigUInt64BE(OFF_SEQUENCE),
    },
  };
}

export interface ReplayWindowOptions {
  /** Senders remembered; the least recently accepted is forgotten beyond this. Default 256. */
  readonly maxSenders?: number;
  /** Epochs remembered per sender, the current one included; none of them is accepted again once left. Default 4. */
  readonly epochsPerSender?: number;
}

interface SenderState {
  epoch: bigint;
  sequence: bigint;
  /** Epochs this sender has left, oldest first. */
  readonly past: bigint[];
}

/**
 * Replay protection per sender node id, for adverts that already passed the HMAC.
 *
 * Within an epoch the sequence must grow. A different epoch means the sender
 * restarted and is accepted, unless it is one of the last few epochs seen from
 * that sender (a captured advert replayed after the restart). Epochs need not be
 * ordered (they may be random), so an epoch older than the remembered ones, or
 * any epoch of a sender evicted or never seen (e.g. after our own restart), is
 * accepted once: the cost is one genuine-but-old advert, bounded by the next
 * real advert from that sender, which is accepted because its epoch differs.
 */
export class ReplayWindow {
  private readonly senders = new Map<string, SenderState>();
  private readonly maxSenders: number;
  private readonly epochsPerSender: number;

  constructor(options: ReplayWindowOptions = {}) {
    this.maxSenders = Math.max(1, Math.floor(options.maxSenders ?? 256));
    this.epochsPerSender = Math.max(1, Math.floor(options.epochsPerSender ?? 4));
  }

  accept(nodeId: string, epoch: bigint, sequence: bigint): 'ok' | 'stale' {
    const state = this.senders.get(nodeId);
    if (!state) {
      this.remember(nodeId, { epoch, sequence, past: [] });
      return 'ok';
    }
    if (epoch === state.epoch) {
      if (sequence <= state.sequence) return 'stale';
      state.sequence = sequence;
    } else {
      if (state.past.includes(epoch)) return 'stale';
      state.past.push(state.epoch);
      while (state.past.length > this.epochsPerSender - 1) state.past.shift();
      state.epoch = epoch;
      state.sequence = sequence;
    }
    this.remember(nodeId, state);
    return 'ok';
  }

  /** Drop a sender's history (e.g. removed from the configured peers). */
  forget(nodeId: string): void {
    this.senders.delete(nodeId);
  }

  has(nodeId: string): boolean {
    return this.senders.has(nodeId);
  }

  get size(): number {
    return this.senders.size;
  }

  /** Map order is insertion order: re-inserting moves the sender to the most recent end. */
  private remember(nodeId: string, state: SenderState): void {
    this.senders.delete(nodeId);
    this.senders.set(nodeId, state);
    while (this.senders.size > this.maxSenders) {
      const oldest = this.senders.keys().next();
      if (oldest.done) break;
      this.senders.delete(oldest.value);
    }
  }
}

export type DropReason = DecodeFailureReason | 'stale';
export const DROP_REASONS: readonly DropReason[] = ['short', 'magic', 'version', 'cluster', 'malformed', 'hmac', 'stale'];

/** Rejected adverts by reason, for /metrics. */
export class DropCounters {
  private readonly counts = new Map<DropReason, number>(DROP_REASONS.map((r) => [r, 0]));

  count(reason: DropReason): void {
    this.counts.set(reason, (this.counts.get(reason) ?? 0) + 1);
  }

  get(reason: DropReason): number {
    return this.counts.get(reason) ?? 0;
  }

  total(): number {
    let sum = 0;
    for (const v of this.counts.values()) sum += v;
    return sum;
  }

  snapshot(): Readonly<Record<DropReason, number>> {
    const out = {} as Record<DropReason, number>;
    for (const r of DROP_REASONS) out[r] = this.get(r);
    return out;
  }
}
