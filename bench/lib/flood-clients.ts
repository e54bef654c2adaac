/**
 * The socket-level clients of the flood bench, run inside the client namespace by
 * flood-agent.ts: real idle connections, huge headers, slow bodies, slowloris heads,
 * and a well-behaved client whose success rate is the measure. Every loop is bounded
 * in count and every wait in time.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import net from 'node:net';

const CONNECT_MS = 3000;

function connect(host: string, port: number): Promise<net.Socket | undefined> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const timer = setTimeout(() => {
      s.destroy();
      resolve(undefined);
    }, CONNECT_MS);
    s.once('connect', () => {
      clearTimeout(timer);
      resolve(s);
    });
    s.once('error', () => {
      clearTimeout(timer);
      resolve(undefined);
    });
  });
}

/** Runs `task(i)` for i < count with at most `width` at once; stops starting new ones after maxMs. */
async function pool(count: number, width: number, maxMs: number, task: (i: number) => Promise<void>): Promise<void> {
  const deadline = Date.now() + maxMs;
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < count && Date.now() < deadline) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(width, count) }, lane));
}

// --- idle connections -------------------------------------------------------------------

/** Idle connections by the port they went to, and how many of those the server closed. */
const idle = new Map<number, { open: Set<net.Socket>; closedByServer: number }>();

export async function openIdle(host: string, port: number, count: number, maxMs: number): Promise<{ open: number; failed: number }> {
  let failed = 0;
  const set = idle.get(port) ?? { open: new Set<net.Socket>(), closedByServer: 0 };
  idle.set(port, set);
  await pool(count, 100, maxMs, async () => {
    const s = await connect(host, port);
    if (s === undefined) {
      failed++;
      return;
    }
    s.on('error', () => undefined);
    s.on('data', () => undefined);
    s.once('close', () => {
      if (set.open.delete(s)) set.closedByServer++;
    });
    set.open.add(s);
  });
  return { open: set.open.size, failed };
}

export function closeIdle(port: number): { stillOpen: number; closedByServer: number } {
  const set = idle.get(port);
  if (set === undefined) return { stillOpen: 0, closedByServer: 0 };
  idle.delete(port);
  const stillOpen = set.open.size;
  for (const s of [...set.open]) {
    set.open.delete(s);
    s.destroy();
  }
  return { stillOpen, closedByServer: set.closedByServer };
}

// --- hostile HTTP -----------------------------------------------------------------------

type Outcome = Record<string, number>;

/**
 * Holds a connection until the server answers and closes, or maxMs: the status line
 * seen ('431', '408', ...) or 'none', plus whether the server closed it.
 */
function watch(s: net.Socket, maxMs: number): Promise<{ status: string; closed: boolean; ms: number }> {
  const start = Date.now();
  return new Promise((resolve) => {
    let head = '';
    const finish = (closed: boolean): void => {
      clearTimeout(timer);
      s.destroy();
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(head);
      resolve({ status: m?.[1] ?? 'none', closed, ms: Date.now() - start });
    };
    const timer = setTimeout(() => finish(false), maxMs);
    s.on('data', (b: Buffer) => {
      if (head.length < 64) head += b.toString('latin1');
    });
    s.on('error', () => undefined);
    s.once('close', () => finish(true));
  });
}

function tally(out: Outcome, key: string): void {
  out[key] = (out[key] ?? 0) + 1;
}

/** Requests whose headers total `bytes` (a 1 MB header line by default), 10 at a time. */
export async function hugeHeaders(host: string, port: number, count: number, bytes: number, maxMs: number): Promise<Outcome> {
  const out: Outcome = {};
  const chunk = Buffer.alloc(64 * 1024, 'a');
  await pool(count, 10, maxMs, async () => {
    const s = await connect(host, port);
    if (s === undefined) return tally(out, 'connect_failed');
    const seen = watch(s, 10_000);
    s.write(`GET / HTTP/1.1\r\nHost: flood\r\nX-Big: `);
    // Write until the whole header is out or the server has closed on us.
    for (let sent = 0; sent < bytes && !s.destroyed && s.writable; sent += chunk.length) {
      if (!s.write(chunk.subarray(0, Math.min(chunk.length, bytes - sent)))) await new Promise((r) => setTimeout(r, 5));
    }
    if (!s.destroyed && s.writable) s.write('\r\n\r\n');
    const r = await seen;
    tally(out, `${r.status}${r.closed ? '+closed' : ''}`);
  });
  return out;
}

/** POSTs announcing 1 MB and sending one byte every 200 ms: the body timeout must end them. */
export async function slowBodies(host: string, port: number, count: number, maxMs: number): Promise<Outcome & { maxHeldMs: number }> {
  const out: Outcome = {};
  let maxHeldMs = 0;
  await pool(count, count, maxMs, async () => {
    const s = await connect(host, port);
    if (s === undefined) return tally(out, 'connect_failed');
    const seen = watch(s, maxMs);
    s.write('POST /upload HTTP/1.1\r\nHost: flood\r\nContent-Length: 1000000\r\n\r\n');
    const drip = setInterval(() => {
      if (!s.destroyed) s.write('x');
    }, 200);
    const r = await seen;
    clearInterval(drip);
    maxHeldMs = Math.max(maxHeldMs, r.ms);
    tally(out, `${r.status}${r.closed ? '+closed' : ''}`);
  });
  return { ...out, maxHeldMs };
}

/** Request heads sent one header line a second: the header timeout must end them. */
export async function slowloris(host: string, port: number, count: number, maxMs: number): Promise<Outcome & { maxHeldMs: number }> {
  const out: Outcome = {};
  let maxHeldMs = 0;
  await pool(count, count, maxMs, async (i) => {
    const s = await connect(host, port);
    if (s === undefined) return tally(out, 'connect_failed');
    const seen = watch(s, maxMs);
    s.write('GET / HTTP/1.1\r\nHost: flood\r\n');
    let n = 0;
    const drip = setInterval(() => {
      if (!s.destroyed) s.write(`X-Slow-${i}-${n++}: 1\r\n`);
    }, 1000);
    const r = await seen;
    clearInterval(drip);
    maxHeldMs = Math.max(maxHeldMs, r.ms);
    tally(out, `${r.status}${r.closed ? '+closed' : ''}`);
  });
  return { ...out, maxHeldMs };
}

// --- the well-behaved client ------------------------------------------------------------

export interface LegitOptions {
  readonly host: string;
  readonly httpPort: number;
  readonly tcpPort: number;
  readonly udpPort: number;
  readonly intervalMs: number;
  readonly maxMs: number;
}

type Kind = 'http' | 'tcp' | 'udp_new' | 'udp_flow';
type Counts = Record<Kind, { ok: number; total: number }>;
const zero = (): Counts => ({ http: { ok: 0, total: 0 }, tcp: { ok: 0, total: 0 }, udp_new: { ok: 0, total: 0 }, udp_flow: { ok: 0, total: 0 } });

let counts = zero();
let running = false;
let flowSocket: UdpSocket | undefined;

const ANSWER_MS = 2000;

function httpGet(host: string, port: number): Promise<boolean> {
  return connect(host, port).then(
    (s) =>
      new Promise<boolean>((resolve) => {
        if (s === undefined) return resolve(false);
        let got = '';
        const timer = setTimeout(() => done(false), ANSWER_MS);
        const done = (ok: boolean): void => {
          clearTimeout(timer);
          s.destroy();
          resolve(ok);
        };
        s.on('data', (b: Buffer) => {
          got += b.toString('latin1');
          if (/^HTTP\/1\.1 200 /.test(got) && got.includes('\r\n\r\n')) done(true);
        });
        s.on('error', () => done(false));
        s.on('close', () => done(false));
        s.write(`GET / HTTP/1.1\r\nHost: legit\r\nConnection: close\r\n\r\n`);
      }),
  );
}

function tcpEcho(host: string, port: number): Promise<boolean> {
  return connect(host, port).then(
    (s) =>
      new Promise<boolean>((resolve) => {
        if (s === undefined) return resolve(false);
        const timer = setTimeout(() => done(false), ANSWER_MS);
        const done = (ok: boolean): void => {
          clearTimeout(timer);
          s.destroy();
          resolve(ok);
        };
        s.on('data', (b: Buffer) => done(b.toString().startsWith('ping')));
        s.on('error', () => done(false));
        s.on('close', () => done(false));
        s.write('ping\n');
      }),
  );
}

function udpAsk(sock: UdpSocket, host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => done(false), ANSWER_MS);
    const onMsg = (m: Buffer): void => done(m.toString().endsWith('legit'));
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      sock.off('message', onMsg);
      resolve(ok);
    };
    sock.on('message', onMsg);
    sock.send('legit', port, host);
  });
}

async function newUdpClient(host: string, port: number): Promise<boolean> {
  const sock = createSocket('udp4');
  sock.on('error', () => undefined);
  try {
    return await udpAsk(sock, host, port);
  } finally {
    sock.close();
  }
}

async function record(kind: Kind, p: Promise<boolean>): Promise<void> {
  const ok = await p.catch(() => false);
  counts[kind].total++;
  if (ok) counts[kind].ok++;
}

export function legitStart(o: LegitOptions): { started: boolean } {
  if (running) return { started: false };
  running = true;
  counts = zero();
  flowSocket = createSocket('udp4');
  flowSocket.on('error', () => undefined);
  const sock = flowSocket;
  const deadline = Date.now() + o.maxMs;
  void (async () => {
    while (running && Date.now() < deadline) {
      const t0 = Date.now();
      await Promise.all([
        record('http', httpGet(o.host, o.httpPort)),
        record('tcp', tcpEcho(o.host, o.tcpPort)),
        record('udp_new', newUdpClient(o.host, o.udpPort)),
        record('udp_flow', udpAsk(sock, o.host, o.udpPort)),
      ]);
      await new Promise((r) => setTimeout(r, Math.max(0, o.intervalMs - (Date.now() - t0))));
    }
    running = false;
  })();
  return { started: true };
}

/** The counts since the last mark (or start), and a fresh window. */
export function legitMark(): Counts {
  const c = counts;
  counts = zero();
  return c;
}

export function legitStop(): Counts {
  running = false;
  flowSocket?.close();
  flowSocket = undefined;
  return legitMark();
}
