/**
 * The flood bench's hands inside a network namespace (a process cannot switch
 * namespace): `ip netns exec NS node --import tsx bench/lib/flood-agent.ts MAX_MS`.
 * Commands come as JSON lines `{ id, op, ... }` on stdin; each is answered with
 * `{ id, ok, result | error }` on stdout. The agent exits when stdin closes and after
 * MAX_MS whatever happens, so a crashed bench leaves nothing running.
 *
 * Ops: udpFlood / synFlood (spoofed, raw socket), idle / closeIdle (real idle
 * connections), hugeHeaders, slowBodies, slowloris, legitStart / legitMark / legitStop
 * (a well-behaved client), metrics (scrape halo's admin /metrics).
 */
import { createInterface } from 'node:readline';
import { legitMark, legitStart, legitStop, closeIdle, hugeHeaders, openIdle, slowBodies, slowloris } from './flood-clients.js';
import { spoofedSource, synPacket, udpPacket } from './flood-packets.js';

type Cmd = Record<string, unknown> & { id: number; op: string };

interface RawSocket {
  send(buf: Buffer, offset: number, length: number, address: string, cb: (err: Error | null) => void): void;
  setOption(level: number, option: number, value: number): void;
  close(): void;
  on(event: 'error', listener: (err: Error) => void): void;
}

interface RawModule {
  createSocket(opts: { protocol: number }): RawSocket;
  SocketLevel: { IPPROTO_IP: number };
  SocketOption: { IP_HDRINCL: number };
}

const maxMs = Number(process.argv[2] ?? 600_000);
setTimeout(() => {
  process.stderr.write('flood-agent: max lifetime reached\n');
  process.exit(3);
}, maxMs).unref();

/** Packets handed to the raw socket and not yet sent: bounds the agent's memory. */
const WINDOW = 512;

const sockets = new Map<number, RawSocket>();

/**
 * One raw socket per protocol for the agent's life, never closed: with a close and a new
 * socket in between, a SYN flood after a UDP flood never got a send callback (seen every
 * time; fd reuse under raw-socket's poll handle is the likely cause).
 */
async function rawSocket(protocol: number): Promise<RawSocket> {
  const known = sockets.get(protocol);
  if (known !== undefined) return known;
  // raw-socket ships no types for these constants; the shape is declared above.
  const raw = (await import('raw-socket')).default as unknown as RawModule;
  const sock = raw.createSocket({ protocol });
  sock.on('error', () => undefined);
  sock.setOption(raw.SocketLevel.IPPROTO_IP, raw.SocketOption.IP_HDRINCL, 1);
  sockets.set(protocol, sock);
  return sock;
}

/**
 * Sends `count` packets built by `make(i)` through one raw IP_HDRINCL socket, at most
 * `ratePerSec` (0 = as fast as the socket takes them). Bounded by count and maxMs.
 */
async function rawFlood(protocol: number, count: number, ratePerSec: number, maxRunMs: number, make: (i: number) => Buffer): Promise<{ sent: number; errors: number; ms: number }> {
  const sock = await rawSocket(protocol);
  const start = Date.now();
  let next = 0;
  let done = 0;
  let errors = 0;
  await new Promise<void>((resolve) => {
    let inFlight = 0;
    const pump = (): void => {
      const elapsed = Date.now() - start;
      if (elapsed > maxRunMs) next = count; // out of time: stop issuing
      const allowed = ratePerSec > 0 ? Math.min(count, Math.floor((elapsed / 1000) * ratePerSec) + WINDOW) : count;
      while (inFlight < WINDOW && next < allowed) {
        const p = make(next++);
        inFlight++;
        sock.send(p, 0, p.length, destination, (err) => {
          inFlight--;
          done++;
          if (err) errors++;
          if (inFlight === 0 && next >= count) resolve();
          else if (inFlight < WINDOW / 2) setImmediate(pump);
        });
      }
      if (inFlight === 0 && next >= count) resolve();
      else if (next < count && inFlight < WINDOW / 2) setTimeout(pump, 5);
    };
    pump();
  });
  return { sent: done - errors, errors, ms: Date.now() - start };
}

let destination = '127.0.0.1';

async function handle(cmd: Cmd): Promise<unknown> {
  const n = (k: string): number => Number(cmd[k]);
  const s = (k: string): string => String(cmd[k]);
  switch (cmd.op) {
    case 'udpFlood': {
      destination = s('dst');
      const payload = Buffer.from('flood');
      return rawFlood(17, n('count'), n('rate'), n('maxMs'), (i) => udpPacket(spoofedSource(s('base'), n('prefix'), i), 4000 + (i % 1000), s('dst'), n('port'), payload, i));
    }
    case 'synFlood': {
      destination = s('dst');
      return rawFlood(6, n('count'), n('rate'), n('maxMs'), (i) => synPacket(spoofedSource(s('base'), n('prefix'), i), 1024 + (i % 60_000), s('dst'), n('port'), i * 7919, i));
    }
    case 'idle':
      return openIdle(s('host'), n('port'), n('count'), n('maxMs'));
    case 'closeIdle':
      return closeIdle(n('port'));
    case 'hugeHeaders':
      return hugeHeaders(s('host'), n('port'), n('count'), n('bytes'), n('maxMs'));
    case 'slowBodies':
      return slowBodies(s('host'), n('port'), n('count'), n('maxMs'));
    case 'slowloris':
      return slowloris(s('host'), n('port'), n('count'), n('maxMs'));
    case 'legitStart':
      return legitStart({ host: s('host'), httpPort: n('httpPort'), tcpPort: n('tcpPort'), udpPort: n('udpPort'), intervalMs: n('intervalMs'), maxMs: n('maxMs') });
    case 'legitMark':
      return legitMark();
    case 'legitStop':
      return legitStop();
    case 'metrics': {
      const res = await fetch(s('url'), { signal: AbortSignal.timeout(n('timeoutMs') || 5000) });
      return await res.text();
    }
    default:
      throw new Error(`unknown op ${cmd.op}`);
  }
}

createInterface({ input: process.stdin }).on('line', (line) => {
  let cmd: Cmd;
  try {
    cmd = JSON.parse(line) as Cmd;
  } catch {
    return;
  }
  handle(cmd).then(
    (result) => process.stdout.write(`${JSON.stringify({ id: cmd.id, ok: true, result: result ?? null })}\n`),
    (err: unknown) => process.stdout.write(`${JSON.stringify({ id: cmd.id, ok: false, error: err instanceof Error ? err.message : String(err) })}\n`),
  );
});
process.stdin.on('end', () => process.exit(0));
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
