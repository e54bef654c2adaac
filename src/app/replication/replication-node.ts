/**
 * Replication on one node (docs/design-as-built.md section 4): the always-on log of this
 * node's tables, the listener every node runs, the master side (stream to standbys) and
 * the standby side (follow the master). The election's status decides the role: MASTER
 * streams, BACKUP follows the master the adverts name. Whether this node's tables are in
 * step goes back to the election (the advert's synced flag), so a node that comes back
 * does not preempt with empty tables.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readSecretFile } from '../../config/secret-file.js';
import type { ServiceConfig } from '../../config/schema.js';
import type { ClusterConfig } from '../../config/cluster-schema.js';
import type { Logger } from '../../adapters/logger.js';
import { ReplicationServer, type AuthenticatedPeer, type ReplicationTls } from '../../adapters/replication/replication-server.js';
import { HaloError } from '../../core/errors.js';
import { configDigest } from '../../core/replication/config-digest.js';
import { CLOSE_NOT_MASTER, encodeControl, truncateUtf8 } from '../../core/replication/handshake-messages.js';
import type { HandshakeIdentity } from '../../core/replication/handshake-state.js';
import { ReplicaApplier, type ApplierStatus } from '../../core/replication/replica-applier.js';
import type { ReplicaSink, SourceTable } from '../../core/replication/replication-source.js';
import { ReplicationLog, type ReplicationLogStats } from '../../core/replication/replication-log.js';
import type { ReplicaRole } from '../../core/service/replica-types.js';
import { LogRelay, type LogRelayStats, type LogStore } from './log-relay.js';
import { MasterSide, type PeerStatus } from './master-side.js';
import { StandbySide } from './standby-side.js';

/** Flush the log (and pump snapshots, send acks) this often: the batching window. */
const FLUSH_INTERVAL_MS = 5;
/** WebSocket "service restart": the peer should reconnect (after a reload, with the new config digest). */
const CLOSE_RELOADED = 1012;

export interface ReplicatedPlane {
  replicatedTables(): SourceTable[];
  replicaSink(): ReplicaSink;
  setReplicaRole(role: ReplicaRole, now: number): void;
}

export interface ReplicationNodeOptions {
  cluster: ClusterConfig;
  services: readonly ServiceConfig[];
  nodeName: string;
  /** This node's cluster address: where it listens. */
  address: string;
  key: Buffer;
  plane: ReplicatedPlane;
  logger: Logger;
  now(): number;
  onSynced(synced: boolean, cause: string): void;
  /** The followed master's process looks dead (see StandbySide): the election may take over sooner. */
  onMasterLost?(node: string, cause: string): void;
  /**
   * The cluster log: this node's lines go to its peers over the links, theirs come into
   * it (log-relay.ts). Without it, `logs` messages from peers are ignored.
   */
  logs?: { store: LogStore; forwardDebug(): boolean } | undefined;
}

export interface ElectionView {
  state: string;
  master: { nodeId: string; address: string } | undefined;
}

export interface ReplicationStatus {
  role: 'master' | 'standby' | 'idle';
  synced: boolean;
  log: ReplicationLogStats;
  peers: PeerStatus[];
  standby: { master: string | undefined; connected: boolean; lastError: string; applier: ApplierStatus } | undefined;
  refused: Record<number, number>;
  /** Entries per replicated table, and each table's digest (hex) as this node's log sees it. */
  tables: Record<string, { entries: number; digest: string }>;
  /** Log lines over the links (absent without a cluster log); `dropped` is logs_dropped. */
  logs?: LogRelayStats;
}

export function loadReplicationTls(cluster: ClusterConfig): ReplicationTls | undefined {
  const tls = cluster.replication.tls;
  if (tls === undefined) return undefined;
  const read = (path: string, field: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new HaloError('HALO_ERR_SECRET', `cluster.replication.tls.${field}: cannot read ${path}: ${(err as Error).message}`, { path }, { cause: err });
    }
  };
  // the certificates are public; the private key is a secret file (mode checked)
  return { cert: read(tls.cert_file, 'cert_file'), key: readSecretFile(tls.key_file, 'cluster.replication.tls.key_file'), ca: read(tls.ca_file, 'ca_file') };
}

export class ReplicationNode {
  readonly #opts: ReplicationNodeOptions;
  readonly log: ReplicationLog;
  readonly #server: ReplicationServer;
  readonly #master: MasterSide;
  readonly #standby: StandbySide;
  readonly #logs: LogRelay | undefined;
  #applier: ReplicaApplier;
  #role: 'master' | 'standby' | 'idle' = 'idle';
  #synced = false;
  #flush: NodeJS.Timeout | undefined;
  #digest: NodeJS.Timeout | undefined;
  /**
   * Shared with the listener and the dialer, which read it at every handshake: a reload
   * replaces its config digest in place (the other fields never change).
   */
  readonly #identity: { -readonly [K in keyof HandshakeIdentity]: HandshakeIdentity[K] };

  constructor(opts: ReplicationNodeOptions) {
    this.#opts = opts;
    const r = opts.cluster.replication;
    const tls = loadReplicationTls(opts.cluster);
    // A random epoch per start: a standby's position from an earlier run of this node never matches.
    this.log = new ReplicationLog({
      epoch: randomBytes(4).readUInt32BE(0),
      tables: opts.plane.replicatedTables(),
      replay: { maxBytes: r.replay_buffer_bytes, maxFrames: Math.max(1024, Math.floor(r.replay_buffer_bytes / 512)), windowMs: r.replay_window_ms },
    });
    const identity = { key: opts.key, cluster: String(opts.cluster.id), node: opts.nodeName, config: configDigest(opts.services), randomBytes };
    this.#identity = identity;
    this.#server = new ReplicationServer({
      host: opts.address,
      port: r.port,
      tls,
      identity,
      handshakeTimeoutMs: r.handshake_timeout_ms,
      maxPeers: r.max_peers,
      epoch: () => (this.#role === 'master' ? this.log.epoch : undefined),
      onPeer: (peer) => this.#onPeer(peer),
      log: opts.logger,
    });
    const logs = opts.logs === undefined ? undefined : new LogRelay({ store: opts.logs.store, forwardDebug: opts.logs.forwardDebug, now: opts.now, logger: opts.logger });
    this.#logs = logs;
    this.#master = new MasterSide({
      log: this.log,
      linkTimeoutMs: r.link_timeout_ms,
      maxPeerBufferBytes: r.max_peer_buffer_bytes,
      syncTimeoutMs: r.handshake_timeout_ms,
      logger: opts.logger,
      now: opts.now,
      onLogs: (peer, msg) => (msg === undefined ? logs?.rejectMessage() : logs?.receive(peer.ws, msg)),
      onStreaming: (peer) => logs?.attach(peer.ws, peer.node, 'downstream'),
    });
    this.#applier = this.#newApplier();
    this.#standby = new StandbySide({
      applier: () => this.#applier,
      dial: { port: r.port, tls, identity, timeoutMs: r.handshake_timeout_ms },
      linkTimeoutMs: r.link_timeout_ms,
      // within the replay window a reconnect resumes where it stopped: tables that old are still in step
      staleAfterMs: r.replay_window_ms,
      logger: opts.logger,
      now: opts.now,
      onSynced: (synced, cause) => this.#setSynced(synced, cause),
      isSynced: () => this.#synced,
      onMasterLost: (node, cause) => this.#opts.onMasterLost?.(node, cause),
      onConnected: (ws, master) => logs?.attach(ws, master, 'upstream'),
      onLogs: (ws, msg) => (msg === undefined ? logs?.rejectMessage() : logs?.receive(ws, msg)),
    });
  }

  async start(): Promise<void> {
    await this.#server.listen();
    this.#flush = setInterval(() => this.#tick(), FLUSH_INTERVAL_MS);
    this.#digest = setInterval(() => {
      if (this.#role === 'master') this.#master.broadcast([...this.log.flush(this.#opts.now()), ...this.log.digestFrames()]);
    }, this.#opts.cluster.replication.digest_interval_ms);
    this.#opts.logger.info('replication_listening', { address: `${this.#opts.address}:${this.#server.address?.port ?? this.#opts.cluster.replication.port}`, tls: this.#opts.cluster.replication.tls !== undefined, epoch: this.log.epoch });
  }

  /** Bound port (tests listen on 0). */
  get port(): number | undefined {
    return this.#server.address?.port;
  }

  /**
   * A config reload: the log follows the data plane's tables as they are now (kept tables
   * keep their subscription, new ones are subscribed). When the services' digest changed,
   * every link is closed and handshakes again with the new one: a peer still on the old
   * config is refused, naming the difference, until it is reloaded too; a standby says
   * "not synced" until it is in step again.
   */
  reconfigure(services: readonly ServiceConfig[]): { digestChanged: boolean } {
    this.log.setTables(this.#opts.plane.replicatedTables());
    const config = configDigest(services);
    const digestChanged = config.digest !== this.#identity.config.digest;
    this.#identity.config = config;
    if (digestChanged) {
      this.#master.closeAll(CLOSE_RELOADED, 'config reloaded: handshake again');
      this.#standby.redial('config reloaded: handshake again with the new config digest');
    }
    this.#opts.logger.info('replication_reconfigured', { role: this.#role, digest_changed: digestChanged, tables: this.log.digests().size, cause: digestChanged ? 'services or backends changed: peers handshake again' : 'config digest unchanged: links kept' });
    return { digestChanged };
  }

  /** The election's latest status: decides the role and the master to follow. */
  onElection(view: ElectionView): void {
    const now = this.#opts.now();
    if (view.state === 'MASTER') {
      if (this.#role === 'master') return;
      const was = this.#role;
      this.#role = 'master';
      this.#standby.follow(undefined);
      // Our tables now change by themselves: a position we had in another master's stream is void.
      this.#applier.detach(true);
      this.#opts.plane.setReplicaRole('master', now);
      // a master's tables are the reference: it is in step by definition
      if (!this.#synced) this.#setSynced(true, 'master: its tables are the reference');
      this.#opts.logger.info('replication_role', { role: 'master', was, cause: 'elected master: streaming to standbys' });
      return;
    }
    if (view.state === 'BACKUP' && view.master !== undefined) {
      if (this.#role !== 'standby') {
        const was = this.#role;
        this.#role = 'standby';
        this.#master.closeAll(CLOSE_NOT_MASTER, 'no longer master');
        this.#opts.plane.setReplicaRole('standby', now);
        this.#opts.logger.info('replication_role', { role: 'standby', was, cause: `following master ${view.master.nodeId}` });
        // no preempting back before this node has the new master's tables
        if (this.#synced) this.#setSynced(false, `now following ${view.master.nodeId}: waiting for its tables`);
      }
      this.#standby.follow({ node: view.master.nodeId, address: view.master.address });
      return;
    }
    // A planned handover (halo failover): BACKUP before the successor is heard. We serve
    // until it has the VIP, so keep streaming: it takes over synced, with our last entries.
    if (view.state === 'BACKUP' && this.#role === 'master') return;
    if (this.#role === 'master') {
      // FAULT or shutting down: nobody should stream from us any more
      this.#master.closeAll(CLOSE_NOT_MASTER, `no longer master (${view.state})`);
      this.#role = 'idle';
    }
  }

  status(): ReplicationStatus {
    return {
      role: this.#role,
      synced: this.#synced,
      log: this.log.stats(),
      peers: this.#master.status(),
      standby:
        this.#role === 'standby'
          ? { master: this.#standby.target?.node, connected: this.#standby.connected, lastError: this.#standby.lastError, applier: this.#applier.status() }
          : undefined,
      refused: { ...this.#server.counters.refused },
      tables: Object.fromEntries([...this.log.digests()].map(([name, d]) => [name, { entries: d.count, digest: d.value.toString(16) }])),
      ...(this.#logs === undefined ? {} : { logs: this.#logs.stats() }),
    };
  }

  async stop(): Promise<void> {
    if (this.#flush) clearInterval(this.#flush);
    if (this.#digest) clearInterval(this.#digest);
    this.#logs?.close();
    this.#standby.stop();
    this.#master.closeAll(1001, 'node stopping');
    await this.#server.close();
    this.log.close();
  }

  #newApplier(): ReplicaApplier {
    return new ReplicaApplier({ sink: this.#opts.plane.replicaSink(), localDigests: () => this.log.digests() });
  }

  #tick(): void {
    const frames = this.log.flush(this.#opts.now());
    if (this.#role === 'master') {
      this.#master.broadcast(frames);
      this.#master.pump();
    } else if (this.#role === 'standby') {
      this.#standby.tick();
    }
    this.#logs?.tick();
  }

  #onPeer(peer: AuthenticatedPeer): void {
    if (this.#role !== 'master') {
      const reason = `${this.#opts.nodeName} is not the master (${this.#role})`;
      peer.ws.send(encodeControl({ type: 'refuse', code: 'not_master', reason }));
      peer.ws.close(CLOSE_NOT_MASTER, truncateUtf8(reason));
      return;
    }
    this.#opts.logger.info('replication_peer', { peer: peer.node, remote: peer.remote });
    this.#master.accept(peer);
  }

  #setSynced(synced: boolean, cause: string): void {
    this.#synced = synced;
    this.#opts.onSynced(synced, cause);
  }
}
