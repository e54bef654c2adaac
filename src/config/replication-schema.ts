/**
 * `cluster.replication`: the master streams its connection, UDP flow and persistence
 * tables to the standbys over WebSocket (docs/design-as-built.md section 4). On by
 * default whenever there is a cluster: a standby that takes over with empty tables
 * breaks every client's persistence.
 */
import { z } from 'zod';
import { bool, int, text } from './schema-helpers.js';

const MIB = 1024 * 1024;

export const replicationTlsSchema = z.strictObject({
  /** this node's certificate and key (PEM); the peer must present one signed by ca_file */
  cert_file: text('a PEM certificate file path'),
  key_file: text('a PEM private key file path'),
  /** the CA that signs every node's certificate (mutual TLS) */
  ca_file: text('a PEM CA file path'),
});

export const replicationSchema = z.strictObject({
  enabled: bool().default(true),
  /** every node listens here, on cluster.address; standbys dial the master */
  port: int(1, 65535).default(7947),
  /** wss with mutual TLS; without it the HMAC challenge with the cluster key still authenticates, but frames are not encrypted */
  tls: replicationTlsSchema.optional(),
  /** updates the master keeps for a reconnecting standby to resume from, by size ... */
  replay_buffer_bytes: int(64 * 1024, 4096 * MIB).default(32 * MIB),
  /** ... and by age: a standby away longer gets a snapshot (its TTLs would be stale) */
  replay_window_ms: int(100, 3_600_000).default(10_000),
  /** a standby whose socket holds more than this unsent is cut off, then resumes or gets a snapshot */
  max_peer_buffer_bytes: int(64 * 1024, 4096 * MIB).default(64 * MIB),
  /** the master sends per-table digests this often; a mismatch triggers a snapshot */
  digest_interval_ms: int(100, 3_600_000).default(5000),
  /** a link silent this long (no frame, no pong to the pings sent every quarter of it) is dead: reconnect */
  link_timeout_ms: int(100, 600_000).default(1500),
  /** hello to welcome, and a dial attempt */
  handshake_timeout_ms: int(100, 60_000).default(3000),
  /** at most this many standbys per master */
  max_peers: int(1, 64).default(8),
  /**
   * After a takeover, the old master's TCP connections are gone but still counted for
   * least-connections until their client reconnects or this long has passed.
   */
  ghost_connection_ms: int(0, 3_600_000).default(30_000),
});

export type ReplicationConfig = z.infer<typeof replicationSchema>;
export type ReplicationTlsConfig = z.infer<typeof replicationTlsSchema>;
