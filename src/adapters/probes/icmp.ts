/**
 * ICMP echo health probe over one raw IPv4 socket shared by every probe in the
 * process. Replies are matched by identifier + sequence + source address + a
 * per-process payload token, because a raw ICMP socket sees every ICMP packet the
 * host receives (other pings, our own requests looped back on 127.0.0.1).
 *
 * Raw sockets need root or CAP_NET_RAW. When the socket cannot be created the probe
 * answers ok:false with a cause starting with ICMP_NEEDS_ROOT (callers log it once).
 * raw-socket is loaded lazily so a missing native build degrades the same way
 * instead of failing the import of the whole data plane.
 *
 * While no probe is in flight the socket's receive watcher is paused, so an idle
 * socket does not keep the process alive (raw-socket has no unref()).
 */
import { randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import type raw from 'raw-socket';
import { encodeEchoRequest, icmpFromIpv4, parseEchoReply } from '../../core/health/icmp-packet.js';
import { ABORTED_CAUSE, errorText, timeoutCause, type ProbeOptions, type ProbeResult, type ProbeTarget } from './probe.js';

export const ICMP_NEEDS_ROOT = 'icmp needs root (CAP_NET_RAW)';
const ICMP_UNAVAILABLE = 'icmp unavailable';

/** True for causes that will not go away by retrying (no privilege, no native module). */
export function icmpUnavailable(cause: string): boolean {
  return cause.startsWith(ICMP_NEEDS_ROOT) || cause.startsWith(ICMP_UNAVAILABLE);
}

type Outcome = { ok: boolean; cause: string };

interface Pending {
  address: string;
  settle: (outcome: Outcome) => void;
}

class IcmpEndpoint {
  readonly identifier = process.pid & 0xffff;
  readonly token = randomBytes(8);
  readonly #socket: raw.RawSocket;
  readonly #pending = new Map<number, Pending>();
  #nextSeq = 0;
  #closed = false;
  readonly #onGone: (ep: IcmpEndpoint) => void;

  constructor(socket: raw.RawSocket, onGone: (ep: IcmpEndpoint) => void) {
    this.#socket = socket;
    this.#onGone = onGone;
    socket.on('message', (buf, source) => this.#onMessage(buf, source));
    // raw-socket closes the socket itself after an 'error'.
    socket.on('error', (err) => this.#gone(`icmp socket error: ${errorText(err)}`));
    socket.on('close', () => this.#gone('icmp socket closed'));
    socket.pauseRecv();
  }

  /** Send one echo request; `settle` is called once with the reply, or never if cancel() runs first. */
  send(address: string, settle: (outcome: Outcome) => void): { cancel: () => void } | Outcome {
    const seq = this.#allocateSequence();
    if (seq === undefined) return { ok: false, cause: 'icmp too many probes in flight' };
    this.#pending.set(seq, { address, settle });
    if (this.#socket.recvPaused) this.#socket.resumeRecv();
    const packet = encodeEchoRequest(this.identifier, seq, this.token);
    this.#socket.send(packet, 0, packet.length, address, (err) => {
      if (err) this.#settle(seq, { ok: false, cause: `icmp send ${errorText(err)}` });
    });
    return { cancel: () => this.#forget(seq) };
  }

  close(): void {
    if (this.#closed) return;
    this.#gone(ABORTED_CAUSE);
    this.#socket.close();
  }

  #allocateSequence(): number | undefined {
    for (let i = 0; i <= 0xffff; i += 1) {
      const seq = this.#nextSeq;
      this.#nextSeq = (this.#nextSeq + 1) & 0xffff;
      if (!this.#pending.has(seq)) return seq;
    }
    return undefined;
  }

  #onMessage(buf: Buffer, source: string): void {
    const reply = parseEchoReply(icmpFromIpv4(buf) ?? Buffer.alloc(0));
    if (reply === null || reply.identifier !== this.identifier || !reply.payload.equals(this.token)) return;
    const p = this.#pending.get(reply.sequence);
    if (p === undefined || p.address !== source) return;
    this.#settle(reply.sequence, { ok: true, cause: 'echo reply' });
  }

  #settle(seq: number, outcome: Outcome): void {
    const p = this.#pending.get(seq);
    if (p === undefined) return;
    this.#forget(seq);
    p.settle(outcome);
  }

  #forget(seq: number): void {
    this.#pending.delete(seq);
    if (this.#pending.size === 0 && !this.#closed && !this.#socket.recvPaused) this.#socket.pauseRecv();
  }

  #gone(cause: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#onGone(this);
    const all = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of all) p.settle({ ok: false, cause });
  }
}

let shared: IcmpEndpoint | undefined;
/** Set once creation failed for a reason that retrying cannot fix. */
let unavailable: string | undefined;
let creating: Promise<IcmpEndpoint | string> | undefined;

async function endpoint(): Promise<IcmpEndpoint | string> {
  if (shared) return shared;
  if (unavailable !== undefined) return unavailable;
  creating ??= (async () => {
    let mod: typeof raw;
    try {
      mod = (await import('raw-socket')).default;
    } catch (err) {
      unavailable = `${ICMP_UNAVAILABLE}: raw-socket failed to load: ${errorText(err)}`;
      return unavailable;
    }
    try {
      const socket = mod.createSocket({ protocol: mod.Protocol.ICMP, addressFamily: mod.AddressFamily.IPv4 });
      shared = new IcmpEndpoint(socket, (ep) => {
        if (shared === ep) shared = undefined;
      });
      return shared;
    } catch (err) {
      unavailable = `${ICMP_NEEDS_ROOT}: ${err instanceof Error ? err.message : String(err)}`;
      return unavailable;
    }
  })().finally(() => {
    creating = undefined;
  });
  return creating;
}

async function resolveIpv4(address: string): Promise<string | Outcome> {
  if (net.isIPv4(address)) return address;
  if (net.isIPv6(address)) return { ok: false, cause: 'icmp supports IPv4 targets only' };
  try {
    return (await lookup(address, { family: 4 })).address;
  } catch (err) {
    return { ok: false, cause: `resolve ${errorText(err)}` };
  }
}

export function icmpProbe(target: ProbeTarget, opts: ProbeOptions, signal?: AbortSignal): Promise<ProbeResult> {
  const started = performance.now();
  if (signal?.aborted) return Promise.resolve({ ok: false, ms: 0, cause: ABORTED_CAUSE });

  return new Promise<ProbeResult>((resolve) => {
    let settled = false;
    let cancel: (() => void) | undefined;

    const finish = (outcome: Outcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      cancel?.();
      resolve({ ok: outcome.ok, ms: performance.now() - started, cause: outcome.cause });
    };
    const onAbort = (): void => finish({ ok: false, cause: ABORTED_CAUSE });
    const timer = setTimeout(() => finish({ ok: false, cause: timeoutCause(opts.timeoutMs) }), opts.timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });

    void (async () => {
      const address = await resolveIpv4(target.address);
      if (settled) return;
      if (typeof address !== 'string') return finish(address);
      const ep = await endpoint();
      if (settled) return;
      if (typeof ep === 'string') return finish({ ok: false, cause: ep });
      const sent = ep.send(address, finish);
      if ('cancel' in sent) cancel = sent.cancel;
      else finish(sent);
    })().catch((err: unknown) => finish({ ok: false, cause: `icmp ${errorText(err)}` }));
  });
}

/** Close the shared socket (shutdown, tests); probes in flight end with 'aborted'. A later probe opens a new one. */
export function closeIcmpSocket(): void {
  shared?.close();
}
