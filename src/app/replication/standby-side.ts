/**
 * The standby's side of replication: follow the master the adverts name, dial it, send
 * `sync` (where our tables stand), apply what comes, ack, and say whether we are in step.
 * A resync (gap, digest mismatch) or a malformed frame resets the link and dials again at
 * once; a lost link or a refusal dials again after a backoff (100 ms doubling to 2 s).
 */
import type { RawData, WebSocket } from 'ws';
import { dialReplication, type DialOptions } from '../../adapters/replication/replication-dialer.js';
import { watchLiveness } from '../../adapters/replication/link-liveness.js';
import { rawBytes, rawText } from '../../adapters/replication/replication-server.js';
import type { Logger } from '../../adapters/logger.js';
import { CLOSE_PROTOCOL_ERROR, CLOSE_RESYNC, encodeControl, parseControl, truncateUtf8, type ControlMessage, type LogsMessage } from '../../core/replication/handshake-messages.js';
import { isLogsParseError } from '../../core/replication/log-messages.js';
import type { ApplierResult, ReplicaApplier } from '../../core/replication/replica-applier.js';

/** Links we cut ourselves for silence: their close (1006 too) says nothing about the master's process. */
const silent = new WeakSet<WebSocket>();

const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 2000;

export interface MasterTarget {
  node: string;
  address: string;
}

export interface StandbySideOptions {
  applier: () => ReplicaApplier;
  dial: Omit<DialOptions, 'host'>;
  linkTimeoutMs: number;
  /**
   * A link lost while in step (the master crashed, or the network blinked) leaves tables
   * that were complete a moment ago: they count as synced this long, so the takeover that
   * follows a crash is not logged degraded; a resync (gap, digest mismatch) ends it at once.
   */
  staleAfterMs: number;
  logger: Logger;
  now(): number;
  /** In step or not, with the reason; called on every change. */
  onSynced(synced: boolean, cause: string): void;
  /** The node's verdict now (the node also sets it, e.g. a master is in step by definition). */
  isSynced(): boolean;
  /** The master's side closed the link without a close frame: its process probably died. */
  onMasterLost?(node: string, cause: string): void;
  /** Linked to the master (sync sent): log lines may go up it. */
  onConnected?: ((ws: WebSocket, master: string) => void) | undefined;
  /** A `logs` message from the master (undefined: one that did not parse); not part of the stream. */
  onLogs?: ((ws: WebSocket, msg: LogsMessage | undefined) => void) | undefined;
}

export class StandbySide {
  readonly #opts: StandbySideOptions;
  #target: MasterTarget | undefined;
  #ws: WebSocket | undefined;
  #dialing = false;
  #retry: NodeJS.Timeout | undefined;
  #backoff = BACKOFF_MIN_MS;
  #lastError = '';
  #stale: NodeJS.Timeout | undefined;
  readonly counters = { dials: 0, dialFailures: 0, resyncs: 0, frameErrors: 0 };

  constructor(opts: StandbySideOptions) {
    this.#opts = opts;
  }

  get target(): MasterTarget | undefined {
    return this.#target;
  }

  get connected(): boolean {
    return this.#ws !== undefined;
  }

  get lastError(): string {
    return this.#lastError;
  }

  /** The master to replicate from (undefined: none, e.g. we are master). */
  follow(target: MasterTarget | undefined): void {
    if (target?.address === this.#target?.address && target?.node === this.#target?.node) return;
    this.#target = target;
    this.#backoff = BACKOFF_MIN_MS;
    // no master to follow: this node is master (or out); its synced flag is the caller's business
    if (target === undefined) this.#drop('no master to follow', false);
    else this.#drop(`master is now ${target.node} (${target.address})`);
    if (target !== undefined) this.#dial();
  }

  /** Drop the link and dial again now: a config reload changed what the handshake says. */
  redial(cause: string): void {
    if (this.#target === undefined) return;
    this.#backoff = BACKOFF_MIN_MS;
    this.#drop(cause);
    this.#dial();
  }

  /** Acks due by time; call every few ms. */
  tick(): void {
    const ws = this.#ws;
    if (ws === undefined) return;
    const ack = this.#opts.applier().ackDue(this.#opts.now());
    if (ack) ws.send(ack);
  }

  stop(): void {
    this.#target = undefined;
    this.#drop('stopping');
  }

  #drop(cause: string, report = true): void {
    if (this.#retry) clearTimeout(this.#retry);
    this.#retry = undefined;
    const ws = this.#ws;
    this.#ws = undefined;
    if (ws) {
      ws.removeAllListeners('message');
      ws.close(1000, truncateUtf8(cause));
    }
    this.#opts.applier().detach(false);
    if (report) this.#report(false, cause);
    else if (this.#stale) {
      clearTimeout(this.#stale);
      this.#stale = undefined;
    }
  }

  #dial(): void {
    const target = this.#target;
    if (target === undefined || this.#dialing || this.#ws !== undefined) return;
    this.#dialing = true;
    this.counters.dials += 1;
    dialReplication({ ...this.#opts.dial, host: target.address }).then(
      (peer) => {
        this.#dialing = false;
        if (this.#target !== target) {
          peer.ws.close(1000, 'master changed while dialling');
          this.#dial();
          return;
        }
        this.#lastError = '';
        this.#ws = peer.ws;
        const applier = this.#opts.applier();
        applier.beginSession();
        const sync = applier.syncMessage();
        this.#opts.logger.info('replication_connected', { master: peer.node, remote: peer.remote, sync_epoch: sync.epoch, sync_seq: sync.seq });
        peer.ws.on('message', (data: RawData, isBinary: boolean) => this.#onMessage(peer.ws, data, isBinary));
        peer.ws.on('close', (code, reason) => this.#onClose(peer.ws, code, reason.toString('utf8')));
        peer.ws.on('error', () => undefined);
        watchLiveness(peer.ws, this.#opts.linkTimeoutMs, (silentMs) => {
          silent.add(peer.ws);
          this.#opts.logger.warn('replication_master_silent', { master: peer.node, silent_ms: silentMs, cause: 'no frame and no pong: link considered dead' });
        });
        peer.ws.send(encodeControl(sync));
        this.#opts.onConnected?.(peer.ws, peer.node);
      },
      (err: unknown) => {
        this.#dialing = false;
        // we follow another master now (or none, e.g. we took over): this dial is history
        if (this.#target !== target) {
          this.#dial();
          return;
        }
        this.counters.dialFailures += 1;
        const cause = (err as Error).message;
        // the same failure again and again is logged once, not every backoff
        if (cause !== this.#lastError) this.#opts.logger.warn('replication_dial_failed', { master: target.node, address: target.address, cause });
        this.#lastError = cause;
        this.#later();
      },
    );
  }

  #later(): void {
    if (this.#target === undefined || this.#retry !== undefined) return;
    const delay = this.#backoff;
    this.#backoff = Math.min(BACKOFF_MAX_MS, this.#backoff * 2);
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      this.#dial();
    }, delay);
  }

  #onClose(ws: WebSocket, code: number, reason: string): void {
    if (this.#ws !== ws) return;
    this.#ws = undefined;
    // 1006 without our own liveness cut: the master's socket was closed under it, which is
    // what the kernel does when its process dies. A silent link (cut cable) is not this.
    const target = this.#target;
    if (code === 1006 && !silent.has(ws) && target !== undefined) this.#opts.onMasterLost?.(target.node, 'its replication link closed without a close frame');
    this.#opts.applier().detach(false);
    const cause = `link closed (${code}${reason ? `: ${reason}` : ''})`;
    this.#lastError = cause;
    this.#opts.logger.warn('replication_link_lost', {
      master: this.#target?.node,
      cause,
      ...(this.#opts.isSynced() ? { tables: `in step until the link was lost; still counted synced for ${this.#opts.staleAfterMs} ms unless it resumes` } : {}),
    });
    this.#staleLater(cause);
    this.#later();
  }

  /** Synced now: stays so for staleAfterMs, then not synced unless the stream came back. */
  #staleLater(cause: string): void {
    if (!this.#opts.isSynced()) return;
    if (this.#stale) clearTimeout(this.#stale);
    this.#stale = setTimeout(() => {
      this.#stale = undefined;
      if (!this.#opts.applier().synced) this.#report(false, `${cause}; not back within ${this.#opts.staleAfterMs} ms`);
    }, this.#opts.staleAfterMs);
  }

  #onMessage(ws: WebSocket, data: RawData, isBinary: boolean): void {
    if (this.#ws !== ws) return;
    const now = this.#opts.now();
    const applier = this.#opts.applier();
    let r: ApplierResult;
    if (isBinary) {
      r = applier.onFrame(rawBytes(data), now);
    } else {
      let msg: ControlMessage;
      try {
        msg = parseControl(rawText(data));
      } catch (err) {
        // log lines are never worth the link: a malformed `logs` message costs its lines only
        if (isLogsParseError(err)) return this.#opts.onLogs?.(ws, undefined);
        return this.#reset(ws, CLOSE_PROTOCOL_ERROR, `bad control message from the master: ${(err as Error).message}`);
      }
      // before the applier: log lines are not part of the stream (no resync, no ack)
      if (msg.type === 'logs') return this.#opts.onLogs?.(ws, msg);
      // e.g. not_master: the adverts have not caught up yet; try again after the backoff
      if (msg.type === 'refuse') return this.#reset(ws, 1000, `refused by ${this.#target?.node ?? 'the peer'} (${msg.code}): ${msg.reason}`);
      r = applier.onControl(msg, now);
    }
    if (r.ack) ws.send(r.ack);
    if (r.error) {
      this.counters.frameErrors += 1;
      return this.#reset(ws, CLOSE_PROTOCOL_ERROR, `malformed frame from the master: ${r.error.message}`);
    }
    if (r.resync) {
      this.counters.resyncs += 1;
      return this.#reset(ws, CLOSE_RESYNC, r.resync);
    }
    if (applier.synced !== this.#opts.isSynced()) {
      if (applier.synced) this.#backoff = BACKOFF_MIN_MS;
      this.#report(applier.synced, applier.synced ? 'tables in step with the master' : 'receiving a snapshot');
    }
  }

  /**
   * Close the link and dial again after the backoff (100 ms at first; it grows only while
   * resets repeat without the tables getting in step): the next sync says where we stand.
   */
  #reset(ws: WebSocket, code: number, cause: string): void {
    this.#opts.logger.warn('replication_reset', { master: this.#target?.node, close_code: code, cause });
    this.#ws = undefined;
    this.#lastError = cause;
    ws.removeAllListeners('message');
    ws.close(code, truncateUtf8(cause));
    this.#opts.applier().detach(false);
    if (code === CLOSE_RESYNC) this.#report(false, cause);
    else this.#staleLater(cause);
    this.#later();
  }

  #report(synced: boolean, cause: string): void {
    if (this.#stale) clearTimeout(this.#stale);
    this.#stale = undefined;
    if (synced === this.#opts.isSynced()) return;
    this.#opts.onSynced(synced, cause);
  }
}
