/**
 * The master's side of replication: every authenticated standby gets a PeerStream. It
 * answers the standby's `sync` with a resume or a snapshot, sends every flushed batch to
 * the peers that are streaming, pumps snapshots and catch-ups while their sockets have
 * room, and reads their acks. The proxy never waits on any of it: a peer whose socket
 * holds more than max_peer_buffer_bytes is cut off (behind) and caught up later.
 */
import type { RawData, WebSocket } from 'ws';
import type { AuthenticatedPeer } from '../../adapters/replication/replication-server.js';
import { rawBytes, rawText } from '../../adapters/replication/replication-server.js';
import { watchLiveness } from '../../adapters/replication/link-liveness.js';
import type { Logger } from '../../adapters/logger.js';
import { CLOSE_PROTOCOL_ERROR, CLOSE_RESYNC, encodeControl, parseControl, truncateUtf8, type ControlMessage, type LogsMessage } from '../../core/replication/handshake-messages.js';
import { isLogsParseError } from '../../core/replication/log-messages.js';
import { PeerStream, type PeerStart, type PeerStep, type PeerStreamStats } from '../../core/replication/peer-stream.js';
import type { ReplicationLog } from '../../core/replication/replication-log.js';

/** Below this many bytes waiting in a peer's socket, the next snapshot chunk or catch-up goes out. */
const LOW_WATER_BYTES = 1024 * 1024;

interface Peer {
  readonly peer: AuthenticatedPeer;
  stream: PeerStream | undefined;
  readonly since: number;
}

export interface PeerStatus extends Partial<PeerStreamStats> {
  node: string;
  remote: string;
  connectedForMs: number;
  /** Streaming: it has the snapshot (or resumed) and gets every update. */
  synced: boolean;
  /** Times this standby asked for a fresh snapshot (gap, digest mismatch), and the last reason. */
  resyncs: number;
  lastResync: string | undefined;
}

export interface MasterSideOptions {
  log: ReplicationLog;
  linkTimeoutMs: number;
  maxPeerBufferBytes: number;
  syncTimeoutMs: number;
  logger: Logger;
  now(): number;
  /** A `logs` message from a standby (any time after welcome); not part of the stream. */
  onLogs?: ((peer: AuthenticatedPeer, msg: LogsMessage | undefined) => void) | undefined;
  /** The standby sent `sync`: it reads text frames now, so log lines may go to it. */
  onStreaming?: ((peer: AuthenticatedPeer) => void) | undefined;
}

export class MasterSide {
  readonly #opts: MasterSideOptions;
  readonly #peers = new Map<WebSocket, Peer>();
  readonly counters = { protocolErrors: 0, cuts: 0, snapshots: 0, resumes: 0 };
  /** By standby node name: survives its reconnects. */
  readonly #resyncs = new Map<string, { count: number; last: string }>();

  constructor(opts: MasterSideOptions) {
    this.#opts = opts;
  }

  get size(): number {
    return this.#peers.size;
  }

  /** An authenticated standby: it must send `sync` first. */
  accept(peer: AuthenticatedPeer): void {
    const { ws } = peer;
    const entry: Peer = { peer, stream: undefined, since: this.#opts.now() };
    this.#peers.set(ws, entry);
    const timer = setTimeout(() => {
      if (entry.stream === undefined) this.#protocolError(entry, `no sync within ${this.#opts.syncTimeoutMs} ms of welcome`);
    }, this.#opts.syncTimeoutMs);
    ws.on('message', (data: RawData, isBinary: boolean) => this.#onMessage(entry, data, isBinary));
    watchLiveness(ws, this.#opts.linkTimeoutMs, (silentMs) =>
      this.#opts.logger.warn('replication_peer_silent', { peer: peer.node, remote: peer.remote, silent_ms: silentMs, cause: 'no frame and no pong: link considered dead' }),
    );
    ws.on('close', (code, reason) => {
      clearTimeout(timer);
      this.#peers.delete(ws);
      if (code === CLOSE_RESYNC) {
        const r = this.#resyncs.get(peer.node) ?? { count: 0, last: '' };
        this.#resyncs.set(peer.node, { count: r.count + 1, last: reason.toString('utf8') });
      }
      this.#opts.logger.info('replication_peer_gone', { peer: peer.node, remote: peer.remote, close_code: code, cause: reason.toString('utf8') || 'closed' });
    });
  }

  /** Frames from log.flush() or log.digestFrames(): to every streaming peer, in order. */
  broadcast(frames: readonly Buffer[]): void {
    if (frames.length === 0) return;
    const now = this.#opts.now();
    for (const p of this.#peers.values()) {
      const { stream } = p;
      if (stream === undefined) continue;
      const decision = stream.offer(frames, p.peer.ws.bufferedAmount, this.#opts.maxPeerBufferBytes, now);
      if (decision === 'send') for (const f of frames) p.peer.ws.send(f);
      else if (decision === 'cut') {
        this.counters.cuts += 1;
        this.#opts.logger.warn('replication_peer_behind', {
          peer: p.peer.node,
          buffered_bytes: p.peer.ws.bufferedAmount,
          cause: `the standby is not keeping up (more than ${this.#opts.maxPeerBufferBytes} bytes unsent, or frames missed); it resumes from the replay buffer or gets a snapshot once its socket drains`,
        });
      }
    }
  }

  /** Snapshot chunks and catch-ups, for peers whose sockets have room; call every few ms. */
  pump(): void {
    const now = this.#opts.now();
    for (const p of this.#peers.values()) {
      const { stream } = p;
      if (stream === undefined || p.peer.ws.bufferedAmount > LOW_WATER_BYTES) continue;
      if (stream.phase === 'snapshot') {
        // a few chunks per call, so one large snapshot does not hold the event loop
        for (let i = 0; i < 4 && stream.phase === 'snapshot' && p.peer.ws.bufferedAmount <= LOW_WATER_BYTES; i++) {
          const step = stream.pump(now);
          if (step === null) break;
          this.#send(p, step);
        }
      } else if (stream.phase === 'behind') {
        const start = stream.drained(this.#opts.log, now);
        if (start) this.#send(p, start);
      }
    }
  }

  /** No longer master: every standby goes, with the reason. */
  closeAll(code: number, reason: string): void {
    for (const p of this.#peers.values()) p.peer.ws.close(code, truncateUtf8(reason));
    this.#peers.clear();
  }

  status(): PeerStatus[] {
    const now = this.#opts.now();
    return [...this.#peers.values()].map((p) => ({
      node: p.peer.node,
      remote: p.peer.remote,
      connectedForMs: Math.round(now - p.since),
      ...(p.stream ? p.stream.stats(now) : { phase: 'idle' as const }),
      synced: p.stream?.phase === 'streaming',
      resyncs: this.#resyncs.get(p.peer.node)?.count ?? 0,
      lastResync: this.#resyncs.get(p.peer.node)?.last,
    }));
  }

  #onMessage(p: Peer, data: RawData, isBinary: boolean): void {
    const now = this.#opts.now();
    if (isBinary) {
      if (p.stream === undefined) return this.#protocolError(p, 'binary frame before sync');
      const r = p.stream.onFrame(rawBytes(data), now);
      if (!r.ok) this.#protocolError(p, r.error);
      return;
    }
    let msg: ControlMessage;
    try {
      msg = parseControl(rawText(data));
    } catch (err) {
      // log lines are never worth the link: a malformed `logs` message costs its lines only
      if (isLogsParseError(err)) return this.#opts.onLogs?.(p.peer, undefined);
      return this.#protocolError(p, (err as Error).message);
    }
    // before the stream logic: log lines come and go beside it, before or after sync
    if (msg.type === 'logs') return this.#opts.onLogs?.(p.peer, msg);
    if (p.stream !== undefined) return this.#protocolError(p, 'a control message after sync');
    if (msg.type !== 'sync') return this.#protocolError(p, `expected sync, got ${msg.type}`);
    p.stream = new PeerStream({ sync: { epoch: msg.epoch, seq: msg.seq } });
    const start = p.stream.start(this.#opts.log, now);
    this.#send(p, start);
    this.#opts.onStreaming?.(p.peer);
  }

  #send(p: Peer, step: PeerStart | PeerStep): void {
    const { ws } = p.peer;
    if (step.kind === 'resume' || step.kind === 'snapshot') {
      if (step.kind === 'resume') this.counters.resumes += 1;
      else this.counters.snapshots += 1;
      this.#opts.logger.info(step.kind === 'resume' ? 'replication_resume' : 'replication_snapshot', {
        peer: p.peer.node,
        ...(step.kind === 'resume' ? { from_seq: step.control.fromSeq } : { entries: step.cursor.total, at_seq: step.cursor.atSeq }),
      });
      ws.send(encodeControl(step.control));
      if (step.kind === 'resume') for (const f of step.frames) ws.send(f);
      return;
    }
    if (step.kind === 'end') {
      ws.send(encodeControl(step.control));
      this.#opts.logger.info('replication_snapshot_sent', { peer: p.peer.node, entries: step.control.entries });
    }
    for (const f of step.frames) ws.send(f);
  }

  #protocolError(p: Peer, cause: string): void {
    this.counters.protocolErrors += 1;
    this.#opts.logger.warn('replication_protocol_error', { peer: p.peer.node, remote: p.peer.remote, cause });
    p.peer.ws.close(CLOSE_PROTOCOL_ERROR, truncateUtf8(cause));
    this.#peers.delete(p.peer.ws);
  }
}
