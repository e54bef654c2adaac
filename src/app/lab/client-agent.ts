/**
 * The client side of `Lab.client()`, run inside the client namespace as the hidden
 * `halo lab client-agent`: it carries out one ClientJob (client-jobs.ts) and writes one
 * JSON line per event, `start` first and `done` last. It ends by itself when the job is
 * done or its time is up; `stop()` (stdin closed, SIGTERM) ends it early.
 */
import { request } from 'node:http';
import { createSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { nodeForAddress } from './plan.js';
import {
  DEFAULT_HTTP_TIMEOUT_MS,
  DEFAULT_UDP_TIMEOUT_MS,
  parseUdpAnswer,
  responseHeadFields,
  type ClientCommand,
  type ClientEvent,
  type ClientJob,
  type HttpJob,
  type TcpJob,
  type UdpJob,
} from './client-jobs.js';

export interface ClientAgent {
  command(cmd: ClientCommand): void;
  stop(reason: string): void;
  readonly done: Promise<void>;
}

const round = (n: number) => Math.round(n * 10) / 10;
const MAX_HEAD_BYTES = 16 * 1024;

class Ticker {
  readonly #t0 = performance.now();
  now(): number {
    return round(performance.now() - this.#t0);
  }
}

/** Resolves after ms, or at once when the signal aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted || ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

export function startClientAgent(job: ClientJob, write: (line: string) => void): ClientAgent {
  const clock = new Ticker();
  const emit = (e: ClientEvent) => write(JSON.stringify(e));
  const stopper = new AbortController();
  let reason = 'finished';
  let onCommand: (cmd: ClientCommand) => void = () => undefined;
  emit({ type: 'start', wall: Date.now() });
  const run = async () => {
    switch (job.mode) {
      case 'http':
        return runHttp(job, clock, emit, stopper.signal);
      case 'udp':
        return runUdp(job, clock, emit, stopper.signal);
      case 'tcp':
        return runTcp(job, clock, emit, stopper.signal, (h) => (onCommand = h));
    }
  };
  const done = run().then(
    () => emit({ type: 'done', t: clock.now(), reason }),
    (err: unknown) => emit({ type: 'done', t: clock.now(), reason: `failed: ${(err as Error).message}` }),
  );
  const stop = (why: string) => {
    if (stopper.signal.aborted) return;
    reason = why;
    stopper.abort();
  };
  return {
    command: (cmd) => ('end' in cmd ? stop('told to end') : onCommand(cmd)),
    stop,
    done,
  };
}

function httpOnce(job: HttpJob, i: number, clock: Ticker, emit: (e: ClientEvent) => void): Promise<void> {
  const spec = job.requests[i] ?? {};
  const started = clock.now();
  const timeoutMs = job.timeoutMs ?? DEFAULT_HTTP_TIMEOUT_MS;
  const base = { type: 'http' as const, i, ...(spec.source !== undefined ? { source: spec.source } : {}) };
  return new Promise((resolve) => {
    let settled = false;
    const finish = (fields: { ok: boolean; status?: number; backend?: string; node?: string; setCookie?: string[]; error?: string }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      emit({ ...base, ...fields, t: started, ms: round(clock.now() - started) });
      resolve();
    };
    const req = request(
      {
        host: job.host,
        port: job.port,
        path: spec.path ?? '/',
        agent: false,
        ...(spec.source !== undefined ? { localAddress: spec.source } : {}),
        headers: { connection: 'close', ...(spec.cookie !== undefined ? { cookie: spec.cookie } : {}) },
      },
      (res) => {
        const backend = res.headers['x-backend'];
        const peer = res.headers['x-peer'];
        const node = nodeForAddress(typeof peer === 'string' ? peer : undefined);
        const setCookie = res.headers['set-cookie'];
        res.resume();
        res.on('error', (e: NodeJS.ErrnoException) => finish({ ok: false, error: e.code ?? e.message }));
        res.on('end', () =>
          finish({
            ok: res.statusCode === 200,
            ...(res.statusCode !== undefined ? { status: res.statusCode } : {}),
            ...(typeof backend === 'string' ? { backend } : {}),
            ...(node !== undefined ? { node } : {}),
            ...(setCookie !== undefined ? { setCookie } : {}),
          }),
        );
      },
    );
    const timer = setTimeout(() => {
      finish({ ok: false, error: 'timeout' });
      req.destroy();
    }, timeoutMs);
    req.on('error', (e: NodeJS.ErrnoException) => finish({ ok: false, error: e.code ?? e.message }));
    req.end();
  });
}

async function runHttp(job: HttpJob, clock: Ticker, emit: (e: ClientEvent) => void, stop: AbortSignal): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < job.requests.length && !stop.aborted) {
      const i = next++;
      await httpOnce(job, i, clock, emit);
    }
  };
  await Promise.all(Array.from({ length: Math.min(job.concurrency ?? 8, job.requests.length) }, worker));
}

async function runUdp(job: UdpJob, clock: Ticker, emit: (e: ClientEvent) => void, stop: AbortSignal): Promise<void> {
  // Not connected: an ICMP port unreachable from a dead node's kernel must not end the run.
  const sock = createSocket('udp4');
  sock.on('message', (msg) => {
    const a = parseUdpAnswer(msg.toString('utf8'));
    if (a !== undefined) emit({ type: 'udp_answer', seq: a.seq, t: clock.now(), backend: a.backend });
  });
  sock.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind({ port: 0, ...(job.source !== undefined ? { address: job.source } : {}) }, () => resolve());
  });
  try {
    const t0 = performance.now();
    // Ticks against t0, so one late tick does not push every later one back.
    for (let seq = 0; seq * job.intervalMs < job.durationMs && !stop.aborted; seq++) {
      await pause(t0 + seq * job.intervalMs - performance.now(), stop);
      if (stop.aborted) break;
      emit({ type: 'udp_sent', seq, t: clock.now() });
      sock.send(String(seq), job.port, job.host);
    }
    await new Promise((r) => setTimeout(r, job.timeoutMs ?? DEFAULT_UDP_TIMEOUT_MS));
  } finally {
    sock.close();
  }
}

/** Connect from `source`, send one keep-alive request, resolve with the answer's head fields. */
function openHeld(job: TcpJob, source: string): Promise<{ socket: Socket; backend?: string; peer?: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: job.host, port: job.port, localAddress: source });
    let head = '';
    const fail = (why: string) => {
      clearTimeout(timer);
      socket.destroy();
      reject(new Error(why));
    };
    const timer = setTimeout(() => fail('timeout'), job.timeoutMs ?? DEFAULT_HTTP_TIMEOUT_MS);
    socket.setEncoding('latin1');
    socket.on('connect', () => socket.write('GET / HTTP/1.1\r\nHost: halo-lab\r\n\r\n'));
    const onData = (chunk: string) => {
      head += chunk;
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.length > MAX_HEAD_BYTES) fail('answer head too large');
        return;
      }
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
      socket.resume();
      const f = responseHeadFields(head.slice(0, end));
      resolve({ socket, ...(f.backend !== undefined ? { backend: f.backend } : {}), ...(f.peer !== undefined ? { peer: f.peer } : {}) });
    };
    const onError = (e: NodeJS.ErrnoException) => fail(e.code ?? e.message);
    const onClose = () => fail('closed before an answer');
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
  });
}

async function runTcp(job: TcpJob, clock: Ticker, emit: (e: ClientEvent) => void, stop: AbortSignal, commands: (h: (cmd: ClientCommand) => void) => void): Promise<void> {
  const held = new Map<number, Socket>();
  const closeOne = (i: number) => {
    const s = held.get(i);
    if (s === undefined) return;
    held.delete(i);
    s.destroy();
    emit({ type: 'tcp_closed', i, by: 'us', t: clock.now() });
  };
  commands((cmd) => {
    if ('close' in cmd) for (const i of cmd.close) closeOne(i);
  });
  try {
    for (let i = 0; i < job.sources.length && !stop.aborted; i++) {
      const source = job.sources[i] as string;
      try {
        const c = await openHeld(job, source);
        held.set(i, c.socket);
        const node = nodeForAddress(c.peer);
        emit({ type: 'tcp_open', i, source, ...(c.backend !== undefined ? { backend: c.backend } : {}), ...(node !== undefined ? { node } : {}), t: clock.now() });
        let error: string | undefined;
        c.socket.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
        c.socket.on('close', () => {
          if (held.get(i) !== c.socket) return;
          held.delete(i);
          emit({ type: 'tcp_closed', i, by: 'peer', ...(error !== undefined ? { error } : {}), t: clock.now() });
        });
      } catch (err) {
        emit({ type: 'tcp_failed', i, source, error: (err as Error).message, t: clock.now() });
      }
    }
    await pause(job.holdMs, stop);
  } finally {
    for (const i of [...held.keys()]) closeOne(i);
  }
}
