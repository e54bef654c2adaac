/**
 * The dialling side of replication: a standby connects to the master it learned from the
 * adverts and runs the dialler handshake. Resolves with the authenticated socket once the
 * master has welcomed us; rejects with HALO_ERR_REPL_HANDSHAKE naming the close code and
 * the reason (ours or the master's) otherwise.
 */
import { WebSocket, type ClientOptions, type RawData } from 'ws';
import { HaloError } from '../../core/errors.js';
import { CLOSE_HANDSHAKE_TIMEOUT, CONTROL_MAX_BYTES, encodeControl } from '../../core/replication/handshake-messages.js';
import { DialerHandshake, type HandshakeIdentity, type HandshakeStep } from '../../core/replication/handshake-state.js';
import { DATA_MAX_PAYLOAD, rawText, type AuthenticatedPeer, type ReplicationTls } from './replication-server.js';

export interface DialOptions {
  host: string;
  port: number;
  tls?: ReplicationTls | undefined;
  identity: HandshakeIdentity;
  timeoutMs: number;
}

export interface DialedPeer extends AuthenticatedPeer {
  /** The master's epoch from welcome. */
  readonly epoch: number | undefined;
}

export function replicationUrl(host: string, port: number, tls: boolean): string {
  const h = host.includes(':') ? `[${host}]` : host;
  return `${tls ? 'wss' : 'ws'}://${h}:${port}/`;
}

export function dialReplication(opts: DialOptions): Promise<DialedPeer> {
  const url = replicationUrl(opts.host, opts.port, opts.tls !== undefined);
  const remote = `${opts.host}:${opts.port}`;
  return new Promise<DialedPeer>((resolve, reject) => {
    const options: ClientOptions = { maxPayload: DATA_MAX_PAYLOAD, perMessageDeflate: false, handshakeTimeout: opts.timeoutMs };
    if (opts.tls) {
      // Mutual TLS with the cluster's own CA: the chain is checked; node certificates need
      // not carry the address we dial (the HMAC handshake still names the node).
      Object.assign(options, { cert: opts.tls.cert, key: opts.tls.key, ca: opts.tls.ca, rejectUnauthorized: true, checkServerIdentity: () => undefined });
    }
    const ws = new WebSocket(url, options);
    const hs = new DialerHandshake(opts.identity, 'standby');
    let settled = false;
    const fail = (code: number, detail: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(new HaloError('HALO_ERR_REPL_HANDSHAKE', `replication to ${remote}: ${detail}`, { remote, closeCode: code }));
    };
    const apply = (step: HandshakeStep): void => {
      if (step.send && ws.readyState === ws.OPEN) ws.send(encodeControl(step.send));
      if (step.fail) {
        if (!step.fail.byPeer && ws.readyState === ws.OPEN) ws.close(step.fail.closeCode, step.fail.reason);
        setTimeout(() => ws.terminate(), 1000).unref();
        fail(step.fail.closeCode, step.fail.detail);
      } else if (step.done && !settled) {
        settled = true;
        clearTimeout(timer);
        ws.off('message', onMessage);
        resolve({ node: step.done.peerNode, remote, ws, epoch: step.done.epoch });
      }
    };
    const timer = setTimeout(() => {
      apply(hs.timeout());
      ws.terminate();
      fail(CLOSE_HANDSHAKE_TIMEOUT, `no welcome within ${opts.timeoutMs} ms`);
    }, opts.timeoutMs);
    const onMessage = (data: RawData, isBinary: boolean): void => {
      const text = rawText(data);
      if (isBinary) apply(hs.abort(4400, 'binary frame during the handshake'));
      else if (Buffer.byteLength(text) > CONTROL_MAX_BYTES) apply(hs.abort(4400, `control message of ${Buffer.byteLength(text)} bytes`));
      else apply(hs.receiveText(text));
    };
    ws.on('message', onMessage);
    ws.on('open', () => apply(hs.start()));
    ws.on('error', (err) => fail(0, err.message));
    ws.on('close', (code, reason) => fail(code, `closed (${code}${reason.length > 0 ? `: ${reason.toString('utf8')}` : ''}) during the handshake`));
  });
}
