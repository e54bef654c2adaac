/**
 * What the election driver (election-node.ts) needs from its adapters and what it
 * reports: the transport, VIP and hook interfaces, its options, and its status.
 */
import type { Clock } from '../../core/clock.js';
import type { ClusterConfig } from '../../config/cluster-schema.js';
import type { ElectionState, ElectionStatus } from '../../core/election/state-machine.js';
import type { TrackerStatus } from '../../core/election/tracking.js';
import type { Logger } from '../../adapters/logger.js';
import type { AdvertDropReason } from './advert-drops.js';

export interface AdvertTransport {
  start(): Promise<void>;
  send(buf: Buffer): void;
  close(): Promise<void>;
}

export interface VipControl {
  add(): Promise<unknown>;
  renew(): Promise<void>;
  remove(): Promise<void>;
  removeStale(): Promise<string[]>;
  garp(reason: string): Promise<unknown>;
  /** Stop any GARP burst now (we are no longer master), keeping the address. */
  stopGarp(): void;
  close(): void | Promise<void>;
}

export type HookState = 'master' | 'backup' | 'fault' | 'stop';

export interface HookRunner {
  notify(to: HookState, from: string, cause: string): Promise<void>;
  drain(timeoutMs: number): Promise<void>;
}

export interface ElectionNodeOptions {
  cluster: ClusterConfig;
  nodeName: string;
  /** Our IPv4 address on the cluster interface. */
  address: string;
  key: Buffer;
  log: Logger;
  clock: Clock;
  vip: VipControl;
  hooks: HookRunner;
  makeTransport(onMessage: (buf: Buffer, from: { address: string; port: number }) => void): AdvertTransport;
  /** Status after every change, for the admin side. */
  onStatus?: (status: ElectionNodeStatus) => void;
  /** Start as not synced (replication peers configured). Default true. */
  synced?: boolean;
  /** New for every process start; wall-clock ms keeps it increasing across restarts. */
  bootEpoch?: bigint;
  /** The tracked objects behind the effective priority, for the status (admin API). */
  tracking?: () => TrackerStatus;
}

/** Another node as its last accepted advert showed it (only masters advertise); lastSeenMsAgo as of this status. */
export interface HeardPeer { nodeId: string; address: string; priority: number; synced: boolean; intervalMs: number; shuttingDown: boolean; lastSeenMsAgo: number }

/** The `takeover` log line kept for the status: ms from the base (last advert heard, or start); `at` is wall-clock ISO 8601. */
export interface TakeoverTimeline { at: string; cause: string; timelineFrom: 'last advert' | 'start'; detectedMs: number | undefined; vipAddedMs: number | undefined; garpSentMs: number | undefined; vips: string[] }

/** `at` is wall-clock ISO 8601. */
export interface StateChange { from: ElectionState; state: ElectionState; cause: string; degraded: boolean; at: string }

export interface ElectionNodeStatus extends ElectionStatus {
  address: string;
  vips: string[];
  drops: Readonly<Record<AdvertDropReason, number>>;
  advertsSent: number;
  advertsAccepted: number;
  /** Present when the driver passes `tracking`. */
  tracking?: TrackerStatus;
  /** Nodes heard in adverts, newest first (at most MAX_HEARD). */
  peers: HeardPeer[];
  /** Times each state was entered since start. */
  transitions: Record<ElectionState, number>;
  lastChange: StateChange | undefined;
  lastTakeover: TakeoverTimeline | undefined;
  /** The driver's clock when this status was built: monotonic times in it (hold, deadline) are relative to this. */
  clockAt: number;
}
