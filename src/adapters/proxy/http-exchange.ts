/**
 * One request/response exchange: admission and routing, a backend connection from the
 * picker, the request head and a streamed body with back-pressure, then the response
 * head and body back to the client; local answers (429, 502, 503, 504, 400, 408) when
 * that cannot happen. The dispatcher decides; the exchange moves bytes and reports.
 */
import { BODY_CLOSE } from '../../core/http/body-framing.js';
import { cookieKey } from '../../core/balancer/keys.js';
import { localResponse } from '../../core/http/local-response.js';
import type { RequestHead } from '../../core/http/request-head.js';
import { responseBodyKind, type ResponseHead } from '../../core/http/response-head.js';
import { buildInformationalHead, joinHead, requestHeadString, responseHeadString } from '../../core/http/rewrite.js';
import type { BackendTarget, Choice } from '../../core/service/dispatcher-types.js';
import { BackendPicker, type PickerListener } from './http-backend-picker.js';
import { PAUSE_BACKPRESSURE, PAUSE_OUTPUT, PAUSE_WAIT, type HttpProxyContext } from './http-context.js';
import type { HttpClientConn } from './http-client-conn.js';
import type { UpstreamConn } from './upstream-pool.js';

/** Methods safe to resend when a pooled connection turns out to be dead (RFC 9110 9.2.2). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);
/** Body bytes held while the backend connection is being set up before the client is paused. */
const QUEUE_LIMIT = 64 * 1024;
/** Small enough to copy into the head's buffer: one write instead of two. */
const COALESCE_LIMIT = 16 * 1024;
/** Report bytes to the dispatcher at least this often on long transfers. */
const ACCOUNT_EVERY = 1024 * 1024;
const MAX_INFORMATIONAL = 32;

export class HttpExchange implements PickerListener {
  /** Every byte of the request has arrived from the client. */
  reqComplete: boolean;
  /** Coarse time of the last byte moved either way (inactivity timeout). */
  lastActivity: number;
  private finished = false;
  private up: UpstreamConn | undefined;
  /** The head (and queued body) went to `up`. */
  private upReady = false;
  private upPaused = false;
  private reqHead: string | undefined;
  private queue: Buffer[] | undefined;
  private queued = 0;
  private choice: Choice | undefined;
  private picker: BackendPicker | undefined;
  private staleRetried = false;
  private sentAt = 0;
  /** Load accounting for least_connections / max_connections while the request is on a backend. */
  private inflight: { end(now: number): void } | undefined;
  /**
   * Deadline for the complete response head (not just its first byte: a backend that
   * sends half a head and stalls must time out too), armed once the request is sent.
   */
  private responseDeadline = 0;
  private sawResponseByte = false;
  private informational = 0;
  private resHead: ResponseHead | undefined;
  private closeClient = false;
  private upReusable = false;
  private bytesUp = 0;
  private bytesDown = 0;
  /** The backend connection carrying this request, for byte accounting. */
  private carrier: UpstreamConn | undefined;
  /** Close the client connection after answering, whatever the request said. */
  private mustClose = false;
  /**
   * The request body's clock (client_body_ms): when it started, moved forward by the
   * time the client spent paused by us; the body bytes received; the last check.
   */
  private bodyStart: number;
  private bodyBytes = 0;
  private bodyChecked: number;

  constructor(
    private readonly ctx: HttpProxyContext,
    private readonly client: HttpClientConn,
    readonly head: RequestHead,
  ) {
    this.reqComplete = client.reqFramer.done;
    this.lastActivity = ctx.coarseNow;
    this.bodyStart = ctx.coarseNow;
    this.bodyChecked = ctx.coarseNow;
    // An earlier exchange may have ended in the middle of a response head.
    client.resParser.reset();
  }

  get done(): boolean {
    return this.finished;
  }

  /** Admission, routing and choice; then connect or reuse a pooled connection. */
  start(): void {
    const { ctx, client, head } = this;
    const d = ctx.dispatcher;
    const now = ctx.clock.now();
    ctx.counters.requests++;
    const admission = d.admitRequest(client.ip, now);
    if (!admission.ok) {
      ctx.counters.rateLimited++;
      this.answer(429, 'too many requests from your address, slow down');
      return;
    }
    const persistence = d.service.persistence;
    const cookie = persistence.type === 'cookie' && head.headers.get('cookie') !== undefined ? cookieKey(head.headers.getAll('cookie'), persistence.cookie_name) : undefined;
    this.picker = new BackendPicker(ctx, { clientIp: client.ip, clientPort: client.port, pool: d.route(head), cookie }, this);
    this.picker.pick(now);
  }

  /** Request body bytes from the client. Returns the bytes past the end of this request. */
  acceptBody(chunk: Buffer): Buffer | undefined {
    if (this.finished) return undefined;
    this.lastActivity = this.ctx.coarseNow;
    const f = this.client.reqFramer;
    const n = f.feed(chunk, 0, chunk.length);
    if (n < 0) {
      this.ctx.counters.badRequests++;
      this.requestFailed(400, `malformed request body: ${f.error ?? 'framing error'}`);
      return undefined;
    }
    this.bodyBytes += n;
    if (n > 0) this.forwardBody(n === chunk.length ? chunk : chunk.subarray(0, n));
    if (!f.done) return undefined;
    this.reqComplete = true;
    if (this.upReady && this.resHead === undefined && !this.sawResponseByte) this.armResponseDeadline(this.ctx.clock.now());
    return n < chunk.length ? chunk.subarray(n) : undefined;
  }

  onClientDrain(): void {
    this.lastActivity = this.ctx.coarseNow;
    if (this.upPaused && this.up !== undefined) {
      this.upPaused = false;
      this.up.socket.resume();
    }
  }

  /** The client socket closed under us. */
  onClientClose(): void {
    if (this.finished) return;
    this.settle();
    this.dropUpstream('client closed');
  }

  /** Called by the proxy's sweep. */
  checkTimers(now: number): void {
    if (this.finished) return;
    const t = this.ctx.dispatcher.service.timeouts;
    if (this.responseDeadline !== 0 && now >= this.responseDeadline) {
      this.ctx.counters.backendTimeouts++;
      this.backendFailed(504, 'the backend did not answer in time');
      return;
    }
    if (!this.reqComplete && this.resHead === undefined && this.bodyLate(now, t.client_body_ms, t.client_body_min_bytes_per_sec)) {
      this.ctx.counters.bodyTimeouts++;
      this.requestFailed(408, 'request body not received in time');
      return;
    }
    const streaming = (!this.reqComplete && this.upReady) || this.resHead !== undefined;
    if (streaming && now - this.lastActivity >= t.idle_ms) {
      if (this.resHead === undefined) {
        this.ctx.counters.clientTimeouts++;
        this.requestFailed(408, 'request body not received in time');
      } else {
        this.abort('response stalled');
      }
    }
  }

  /**
   * Slow bodies: the body must arrive within limitMs of its head, plus one second per
   * minRate bytes received (Apache's mod_reqtimeout MinRate), so a trickle that keeps
   * the inactivity timeout at bay is still bounded while a big upload at a sane rate is
   * not. Time the client spent paused by us (backend connecting or slow) does not count.
   */
  private bodyLate(now: number, limitMs: number, minRate: number): boolean {
    if (this.client.pausedFor(PAUSE_WAIT | PAUSE_BACKPRESSURE | PAUSE_OUTPUT)) this.bodyStart += now - this.bodyChecked;
    this.bodyChecked = now;
    const allowance = minRate > 0 ? (this.bodyBytes * 1000) / minRate : 0;
    return now - this.bodyStart >= limitMs + allowance;
  }

  // --- backend connection -------------------------------------------------------------

  onBackendReady(up: UpstreamConn, choice: Choice, now: number): void {
    if (this.finished) {
      this.ctx.pool.release(up);
      return;
    }
    this.up = up;
    this.choice = choice;
    this.sendRequest(now);
  }

  onNoBackend(status: 502 | 503, message: string): void {
    if (status === 503) this.ctx.counters.noBackend++;
    else this.ctx.counters.backendErrors++;
    this.answer(status, message);
  }

  onUpstreamConnect(): void {
    // The picker owns connections until they are connected.
  }

  private sendRequest(now: number): void {
    const up = this.up!;
    const s = up.socket;
    this.reqHead ??= requestHeadString(this.head, this.client.ip);
    this.carrier = up;
    this.upReady = true;
    this.sentAt = now;
    // A stale-connection retry re-sends to the same backend: still one request in flight.
    this.inflight ??= this.ctx.dispatcher.beginRequest(up.target, now);
    let ok: boolean;
    const q = this.queue;
    if (q === undefined) {
      ok = s.write(this.reqHead, 'latin1');
    } else {
      this.queue = undefined;
      this.queued = 0;
      ok = s.write(joinHead(this.reqHead, q));
    }
    this.bytesUp += this.reqHead.length;
    if (!ok && !this.reqComplete) this.client.pauseFor(PAUSE_BACKPRESSURE);
    this.client.resumeFor(PAUSE_WAIT);
    if (this.reqComplete) this.armResponseDeadline(now);
  }

  private armResponseDeadline(now: number): void {
    this.responseDeadline = now + this.ctx.dispatcher.service.timeouts.backend_response_ms;
  }

  private forwardBody(buf: Buffer): void {
    this.bytesUp += buf.length;
    if (this.upReady) {
      if (!this.up!.socket.write(buf)) this.client.pauseFor(PAUSE_BACKPRESSURE);
      if (this.bytesUp >= ACCOUNT_EVERY) this.account();
      return;
    }
    (this.queue ??= []).push(buf);
    this.queued += buf.length;
    if (this.queued > QUEUE_LIMIT) this.client.pauseFor(PAUSE_WAIT);
  }

  onUpstreamDrain(up: UpstreamConn): void {
    if (up !== this.up) return;
    this.lastActivity = this.ctx.coarseNow;
    this.client.resumeFor(PAUSE_BACKPRESSURE);
  }

  onUpstreamClose(up: UpstreamConn, cause: string | undefined): void {
    if (up !== this.up || this.finished) return;
    this.up = undefined;
    this.upReady = false;
    if (this.resHead === undefined) {
      // A pooled connection the backend closed while idle: resend once on a fresh one.
      if (!this.sawResponseByte && up.served > 0 && !this.staleRetried && this.reqComplete && !this.head.hasBody && IDEMPOTENT.has(this.head.method)) {
        this.staleRetried = true;
        this.ctx.counters.staleRetries++;
        this.picker!.reconnect();
        return;
      }
      this.backendFailed(502, cause === undefined ? 'the backend closed the connection without a response' : `the backend connection failed (${cause})`);
      return;
    }
    const f = this.client.resFramer;
    if (f.kind === BODY_CLOSE && cause === undefined) {
      f.endOfStream();
      this.responseComplete();
      return;
    }
    this.abort('backend closed mid-response');
  }

  // --- response ----------------------------------------------------------------------

  onUpstreamData(up: UpstreamConn, chunk: Buffer): void {
    if (up !== this.up || this.finished) return;
    this.lastActivity = this.ctx.coarseNow;
    if (this.resHead === undefined) this.onResponseHeadData(chunk);
    else this.forwardResponse(chunk);
  }

  private onResponseHeadData(chunk: Buffer): void {
    this.sawResponseByte = true;
    let data: Buffer | undefined = chunk;
    while (data !== undefined) {
      const r = this.client.resParser.push(data);
      if (r.kind === 'incomplete') return;
      if (r.kind === 'error') {
        this.ctx.counters.badResponses++;
        this.backendFailed(502, `the backend sent an invalid response (${r.reason})`);
        return;
      }
      const h = r.head;
      if (h.status >= 200) {
        this.onResponseHead(h, r.rest);
        return;
      }
      if (h.status === 101) {
        if (this.head.upgrade && this.reqComplete) {
          this.startTunnel(h, r.rest);
        } else {
          this.ctx.counters.badResponses++;
          this.backendFailed(502, 'the backend switched protocols without being asked');
        }
        return;
      }
      if (++this.informational > MAX_INFORMATIONAL) {
        this.ctx.counters.badResponses++;
        this.backendFailed(502, 'too many informational responses');
        return;
      }
      // 1xx interim responses: HTTP/1.0 clients do not expect them (RFC 9110 15.2).
      if (this.head.versionMinor === 1) {
        this.bytesDown += h.headBytes;
        this.client.socket.write(buildInformationalHead(h));
      }
      if (this.reqComplete && this.upReady) this.armResponseDeadline(this.ctx.clock.now());
      this.sawResponseByte = false;
      data = r.rest;
    }
  }

  private onResponseHead(h: ResponseHead, rest: Buffer | undefined): void {
    const { ctx, client, head } = this;
    const choice = this.choice!;
    const now = ctx.clock.now();
    ctx.dispatcher.requestDone(choice.target, h.status, now - this.sentAt, now);
    this.resHead = h;
    this.responseDeadline = 0;
    const framing = responseBodyKind(h, head.method);
    const f = client.resFramer.reset(framing.kind, framing.length);
    this.closeClient = !head.keepAlive || ctx.draining || framing.kind === BODY_CLOSE || !this.reqComplete || client.closeRequested;
    this.upReusable = h.keepAlive && !head.upgrade && framing.kind !== BODY_CLOSE;
    let body: Buffer | undefined;
    if (rest !== undefined) {
      const n = f.feed(rest, 0, rest.length);
      if (n < 0) {
        ctx.counters.badResponses++;
        this.backendFailed(502, `the backend sent an invalid body (${f.error ?? 'framing error'})`);
        return;
      }
      if (n > 0) body = n === rest.length ? rest : rest.subarray(0, n);
      if (n < rest.length) this.upReusable = false;
    }
    const out = responseHeadString(h, { setCookie: choice.setCookie, close: this.closeClient, clientMinor: head.versionMinor });
    this.bytesDown += h.headBytes + (body?.length ?? 0);
    const s = client.socket;
    let ok: boolean;
    if (body === undefined) ok = s.write(out, 'latin1');
    else if (body.length <= COALESCE_LIMIT) ok = s.write(joinHead(out, body));
    else {
      s.write(out, 'latin1');
      ok = s.write(body);
    }
    if (f.done) {
      this.responseComplete();
    } else if (!ok) {
      this.upPaused = true;
      this.up!.socket.pause();
    }
  }

  private forwardResponse(chunk: Buffer): void {
    const f = this.client.resFramer;
    const n = f.feed(chunk, 0, chunk.length);
    if (n < 0) {
      this.ctx.counters.badResponses++;
      this.abort(`invalid response body: ${f.error ?? 'framing error'}`);
      return;
    }
    this.bytesDown += n;
    if (n > 0) {
      const ok = this.client.socket.write(n === chunk.length ? chunk : chunk.subarray(0, n));
      if (!ok && !f.done) {
        this.upPaused = true;
        this.up!.socket.pause();
      }
    }
    if (f.done) {
      if (n < chunk.length) this.upReusable = false;
      this.responseComplete();
    } else if (this.bytesDown >= ACCOUNT_EVERY) {
      this.account();
    }
  }

  private responseComplete(): void {
    this.settle();
    const up = this.up;
    this.up = undefined;
    if (up !== undefined) {
      up.owner = undefined;
      if (this.upReusable && this.reqComplete && this.client.reqFramer.done && !this.ctx.draining && !up.closed) {
        this.upPaused = false;
        this.ctx.pool.release(up);
      } else {
        up.fail('not reusable');
      }
    }
    this.client.exchangeDone(this.closeClient);
  }

  // --- upgrade ------------------------------------------------------------------------

  private startTunnel(h: ResponseHead, rest: Buffer | undefined): void {
    const up = this.up!;
    const now = this.ctx.clock.now();
    this.ctx.dispatcher.requestDone(this.choice!.target, 101, now - this.sentAt, now);
    this.ctx.counters.upgrades++;
    this.settle();
    this.up = undefined;
    const out = responseHeadString(h, { setCookie: this.choice!.setCookie, close: false, clientMinor: 1, upgraded: true });
    this.client.startTunnel(up, joinHead(out, rest ?? []), h.headBytes + (rest?.length ?? 0));
  }

  // --- failures -----------------------------------------------------------------------

  /** The backend failed after we sent it something: 502/504 if the client has seen nothing yet. */
  private backendFailed(status: 502 | 504, message: string): void {
    if (this.resHead !== undefined) {
      this.abort(message);
      return;
    }
    const now = this.ctx.clock.now();
    const target: BackendTarget | undefined = this.choice?.target;
    if (target !== undefined) this.ctx.dispatcher.requestDone(target, status, now - this.sentAt, now);
    this.ctx.counters.backendErrors++;
    this.ctx.logger.debug('http_backend_failed', { service: this.ctx.dispatcher.service.name, backend: target?.name, status, message });
    this.answer(status, message);
  }

  /** The request itself was bad or too slow: answer if we still can, always close. */
  private requestFailed(status: 400 | 408, message: string): void {
    if (this.resHead !== undefined) {
      this.abort(message);
      return;
    }
    this.mustClose = true;
    this.answer(status, message);
  }

  /** Answer with a local response; the client connection survives only if the request was fully read. */
  private answer(status: number, message: string): void {
    this.settle();
    this.dropUpstream('exchange answered locally');
    const close = this.mustClose || !this.reqComplete || !this.head.keepAlive || this.ctx.draining || this.client.closeRequested;
    this.client.socket.write(localResponse(status, message, close));
    this.client.exchangeDone(close);
  }

  /** Nothing sensible can be sent any more: close both sides. */
  private abort(reason: string): void {
    this.ctx.logger.debug('http_exchange_aborted', { service: this.ctx.dispatcher.service.name, reason });
    this.settle();
    this.dropUpstream(reason);
    this.client.destroy();
  }

  private dropUpstream(reason: string): void {
    this.picker?.cancel();
    const up = this.up;
    this.up = undefined;
    this.upReady = false;
    this.queue = undefined;
    if (up !== undefined) {
      up.owner = undefined;
      up.fail(reason);
    }
  }

  /** The exchange is over, whichever way: final byte counts, and the backend's load drops. */
  private settle(): void {
    this.finished = true;
    this.account();
    this.inflight?.end(this.ctx.clock.now());
    this.inflight = undefined;
  }

  /** Hand the byte counts to the backend connection, which reports them in batches. */
  private account(): void {
    if (this.carrier === undefined) return;
    this.carrier.count(this.bytesUp, this.bytesDown);
    this.bytesUp = 0;
    this.bytesDown = 0;
  }

  onInternalError(): void {
    this.abort('internal error');
  }
}
