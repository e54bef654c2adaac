/**
 * The replication handshake of one connection, per side, as pure state machines the
 * ws adapter drives (no sockets, no timers): feed every control message to
 * `receive` (or the raw text to `receiveText`), then carry out the step in order:
 *   send  - send this message (a TEXT frame, encodeControl)
 *   fail  - close with fail.closeCode and fail.reason (already cut to 123 bytes);
 *           when `send` is a refuse message, send it first
 *   done  - the peer is authenticated and has the same config: hand the socket over
 *           to replication (the next messages are sync / resume / snapshots)
 *
 * The adapter owns the deadline: when it passes, call `timeout()`. A binary frame
 * during the handshake, or too many peers, goes through `abort(code, reason)`.
 *
 * Checks, in order, and why: cluster id before the proof, so a second cluster on the
 * network reads as such and not as an attack; the proof before the config, so an
 * unauthenticated peer learns nothing about our services; a peer using our own node
 * name is refused, since it is either a misconfiguration or our own messages relayed
 * back at us.
 */
import {
  CLOSE_AUTH_FAILED,
  CLOSE_CLUSTER_MISMATCH,
  CLOSE_CONFIG_MISMATCH,
  CLOSE_HANDSHAKE_TIMEOUT,
  CLOSE_PROTOCOL_ERROR,
  REFUSE_CODES,
  REFUSE_REASON_MAX_CHARS,
  REPL_PROTOCOL_VERSION,
  closeCodeOf,
  makeNonce,
  parseControl,
  proof,
  truncateUtf8,
  verifyProof,
  type ChallengeMessage,
  type CloseCode,
  type ControlMessage,
  type ControlType,
  type HelloMessage,
  type ReplRole,
} from './handshake-messages.js';
import { compareConfig, type ConfigDigest } from './config-digest.js';
import { isHaloError } from '../errors.js';

export interface HandshakeIdentity {
  /** The cluster key (src/app/secrets.ts loadSecret). */
  readonly key: Buffer;
  /** The cluster id as text (String(config.cluster.id)). */
  readonly cluster: string;
  readonly node: string;
  readonly config: ConfigDigest;
  /** crypto.randomBytes in production; injected so tests are deterministic. */
  readonly randomBytes: (n: number) => Buffer;
}

export interface HandshakeFailure {
  readonly closeCode: CloseCode;
  /** For the ws close frame: at most 123 bytes of UTF-8. */
  readonly reason: string;
  /** The whole reason, for the log. */
  readonly detail: string;
  /** The peer refused us (we send nothing back). */
  readonly byPeer: boolean;
}

export interface HandshakeDone {
  readonly peerNode: string;
  /** listener side: the role the dialer announced in hello. */
  readonly peerRole?: ReplRole;
  /** dialer side: the master's epoch from welcome, if it sent one. */
  readonly epoch?: number;
}

export interface HandshakeStep {
  readonly send?: ControlMessage;
  readonly done?: HandshakeDone;
  readonly fail?: HandshakeFailure;
}

export type DialerState = 'idle' | 'await_challenge' | 'await_welcome' | 'done' | 'failed';
export type ListenerState = 'await_hello' | 'await_auth' | 'done' | 'failed';
type Ended = 'done' | 'failed';

/** A refuse message to send, then close with `closeCode`. */
export function refuseStep(closeCode: CloseCode, reason: string): HandshakeStep {
  const refuseReason = reason.length > REFUSE_REASON_MAX_CHARS ? `${reason.slice(0, REFUSE_REASON_MAX_CHARS - 3)}...` : reason;
  return {
    send: { type: 'refuse', code: REFUSE_CODES[closeCode], reason: refuseReason },
    fail: { closeCode, reason: truncateUtf8(reason), detail: reason, byPeer: false },
  };
}

abstract class HandshakeBase<S extends string> {
  protected stateName: S | Ended;
  protected readonly nonce: string;

  constructor(
    protected readonly id: HandshakeIdentity,
    initial: S,
  ) {
    this.stateName = initial;
    this.nonce = makeNonce(id.randomBytes);
  }

  get state(): S | Ended {
    return this.stateName;
  }

  /** Parse and receive one TEXT frame; a malformed message ends the handshake with 4400. */
  receiveText(text: string): HandshakeStep {
    if (this.finished()) return this.afterEnd();
    let msg: ControlMessage;
    try {
      msg = parseControl(text);
    } catch (err) {
      if (!isHaloError(err)) throw err;
      return this.abort(CLOSE_PROTOCOL_ERROR, err.message);
    }
    return this.receive(msg);
  }

  receive(msg: ControlMessage): HandshakeStep {
    if (this.finished()) return this.afterEnd();
    if (msg.type === 'refuse') {
      this.stateName = 'failed';
      const detail = `peer refused (${msg.code}): ${msg.reason}`;
      return { fail: { closeCode: closeCodeOf(msg.code), reason: truncateUtf8(detail), detail, byPeer: true } };
    }
    return this.handle(msg);
  }

  /** The adapter's handshake deadline passed. */
  timeout(): HandshakeStep {
    return this.abort(CLOSE_HANDSHAKE_TIMEOUT, `handshake timed out (${this.stateName})`);
  }

  /** End the handshake from outside (binary frame, too many peers, shutting down). */
  abort(closeCode: CloseCode, reason: string): HandshakeStep {
    if (this.finished()) return this.afterEnd();
    this.stateName = 'failed';
    return refuseStep(closeCode, reason);
  }

  protected abstract handle(msg: Exclude<ControlMessage, { type: 'refuse' }>): HandshakeStep;

  private finished(): boolean {
    return this.stateName === 'done' || this.stateName === 'failed';
  }

  protected unexpected(expected: ControlType, got: ControlType): HandshakeStep {
    return this.abort(CLOSE_PROTOCOL_ERROR, `expected ${expected}, got ${got}`);
  }

  /** Checks shared by hello (at the listener) and challenge (at the dialer). */
  protected checkPeer(msg: HelloMessage | ChallengeMessage): HandshakeStep | null {
    if (msg.cluster !== this.id.cluster) {
      return this.abort(CLOSE_CLUSTER_MISMATCH, `cluster id mismatch: ${msg.type}.cluster is ${msg.cluster}, this node is in cluster ${this.id.cluster}`);
    }
    if (msg.node === this.id.node) return this.abort(CLOSE_PROTOCOL_ERROR, `${msg.type}.node: the peer uses our own node name ${msg.node}`);
    if (msg.nonce === this.nonce) return this.abort(CLOSE_AUTH_FAILED, `${msg.type}.nonce: the peer sent our own nonce back`);
    return null;
  }

  protected configStep(peer: ConfigDigest): HandshakeStep | null {
    const diff = compareConfig(this.id.config, peer);
    return diff === null ? null : this.abort(CLOSE_CONFIG_MISMATCH, diff);
  }

  private afterEnd(): HandshakeStep {
    return { fail: { closeCode: CLOSE_PROTOCOL_ERROR, reason: 'handshake already over', detail: `handshake already over (${this.stateName})`, byPeer: false } };
  }
}

/** The side that opens the connection: hello, then expects challenge, then welcome. */
export class DialerHandshake extends HandshakeBase<Exclude<DialerState, Ended>> {
  private peerNode = '';

  constructor(
    id: HandshakeIdentity,
    private readonly role: ReplRole,
  ) {
    super(id, 'idle');
  }

  /** The first message; call once, right after the connection opens. */
  start(): HandshakeStep {
    if (this.stateName !== 'idle') return this.abort(CLOSE_PROTOCOL_ERROR, `start() in state ${this.stateName}`);
    this.stateName = 'await_challenge';
    return { send: { type: 'hello', version: REPL_PROTOCOL_VERSION, cluster: this.id.cluster, node: this.id.node, nonce: this.nonce, role: this.role } };
  }

  protected handle(msg: Exclude<ControlMessage, { type: 'refuse' }>): HandshakeStep {
    if (this.stateName === 'idle') return this.abort(CLOSE_PROTOCOL_ERROR, `got ${msg.type} before hello was sent`);
    if (this.stateName === 'await_challenge') {
      if (msg.type !== 'challenge') return this.unexpected('challenge', msg.type);
      const bad = this.checkPeer(msg);
      if (bad) return bad;
      if (!verifyProof(this.id.key, 'listener', msg.nonce, this.nonce, this.id.cluster, msg.node, msg.proof)) {
        return this.abort(CLOSE_AUTH_FAILED, `authentication failed: ${msg.node}'s challenge proof does not match our cluster key`);
      }
      this.peerNode = msg.node;
      this.stateName = 'await_welcome';
      return {
        send: {
          type: 'auth',
          proof: proof(this.id.key, 'dialer', this.nonce, msg.nonce, this.id.cluster, this.id.node),
          configDigest: this.id.config.digest,
          configSummary: this.id.config.summary,
        },
      };
    }
    if (msg.type !== 'welcome') return this.unexpected('welcome', msg.type);
    const bad = this.configStep({ digest: msg.configDigest, summary: msg.configSummary });
    if (bad) return bad;
    this.stateName = 'done';
    return { done: msg.epoch === undefined ? { peerNode: this.peerNode } : { peerNode: this.peerNode, epoch: msg.epoch } };
  }
}

export interface ListenerOptions {
  /** The epoch to put in welcome (the master's current one); undefined = none. */
  readonly epoch?: () => number | undefined;
}

/** The side that accepts the connection: expects hello, then auth; answers challenge, then welcome. */
export class ListenerHandshake extends HandshakeBase<Exclude<ListenerState, Ended>> {
  private hello: HelloMessage | undefined;

  constructor(
    id: HandshakeIdentity,
    private readonly options: ListenerOptions = {},
  ) {
    super(id, 'await_hello');
  }

  protected handle(msg: Exclude<ControlMessage, { type: 'refuse' }>): HandshakeStep {
    if (this.stateName === 'await_hello') {
      if (msg.type !== 'hello') return this.unexpected('hello', msg.type);
      const bad = this.checkPeer(msg);
      if (bad) return bad;
      this.hello = msg;
      this.stateName = 'await_auth';
      return {
        send: {
          type: 'challenge',
          version: REPL_PROTOCOL_VERSION,
          cluster: this.id.cluster,
          node: this.id.node,
          nonce: this.nonce,
          proof: proof(this.id.key, 'listener', this.nonce, msg.nonce, this.id.cluster, this.id.node),
        },
      };
    }
    if (msg.type !== 'auth') return this.unexpected('auth', msg.type);
    const hello = this.hello;
    if (hello === undefined) return this.abort(CLOSE_PROTOCOL_ERROR, 'auth without hello');
    if (!verifyProof(this.id.key, 'dialer', hello.nonce, this.nonce, this.id.cluster, hello.node, msg.proof)) {
      return this.abort(CLOSE_AUTH_FAILED, `authentication failed: ${hello.node}'s auth proof does not match our cluster key`);
    }
    const bad = this.configStep({ digest: msg.configDigest, summary: msg.configSummary });
    if (bad) return bad;
    this.stateName = 'done';
    const epoch = this.options.epoch?.();
    const { digest, summary } = this.id.config;
    return {
      send: epoch === undefined ? { type: 'welcome', configDigest: digest, configSummary: summary } : { type: 'welcome', configDigest: digest, configSummary: summary, epoch },
      done: { peerNode: hello.node, peerRole: hello.role },
    };
  }
}
