/**
 * `halo demo-backend`: a tiny backend for labs, tests and docker compose. HTTP answers
 * with its name (and `/healthz`), UDP echoes each datagram prefixed with its name, and
 * an optional TCP echo port prefixes nothing (for byte-exact tests).
 */
import { createServer, type Server } from 'node:http';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface DemoBackendOptions {
  name: string;
  host?: string;
  http?: number;
  udp?: number;
  tcpEcho?: number;
  /** Delay every HTTP answer (not /healthz) by this many ms: a slow backend for balancer tests. */
  delayMs?: number;
}

export interface DemoBackend {
  readonly ports: { http?: number; udp?: number; tcpEcho?: number };
  close(): Promise<void>;
}

const MAX_SIZE = 256 * 1024 * 1024;

function httpServer(name: string, delayMs: number): Server {
  let served = 0;
  const server = createServer((req, res) => {
    served++;
    if (req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    // Drain any request body so keep-alive works, then answer with who we are.
    let bodyBytes = 0;
    req.on('data', (chunk: Buffer) => { bodyBytes += chunk.length; });
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      // ?size=N answers with N bytes (bandwidth tests); ?delay=N adds to --delay-ms.
      const size = Math.min(MAX_SIZE, Math.max(0, Number(url.searchParams.get('size') ?? 0) || 0));
      const delay = delayMs + Math.min(60_000, Math.max(0, Number(url.searchParams.get('delay') ?? 0) || 0));
      const answer = () => {
        const head = `${name}\n`;
        res.writeHead(200, {
          'content-type': 'text/plain',
          'content-length': size > 0 ? size : Buffer.byteLength(head),
          'x-backend': name,
          'x-served': String(served),
          // The address the request came from: behind halo, the node that proxied it.
          'x-peer': req.socket.remoteAddress ?? '',
          'x-body-bytes': String(bodyBytes),
          'x-seen-forwarded-for': req.headers['x-forwarded-for'] ?? '',
          'x-seen-forwarded-proto': req.headers['x-forwarded-proto'] ?? '',
          'x-seen-forwarded': req.headers['forwarded'] ?? '',
        });
        if (size === 0) {
          res.end(head);
          return;
        }
        const chunk = Buffer.alloc(Math.min(size, 64 * 1024), 0x61);
        let left = size;
        const pump = () => {
          while (left > 0) {
            const n = Math.min(left, chunk.length);
            left -= n;
            if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
              res.once('drain', pump);
              return;
            }
          }
          res.end();
        };
        pump();
      };
      if (delay > 0) setTimeout(answer, delay);
      else answer();
    });
  });
  server.keepAliveTimeout = 65_000;
  return server;
}

export async function startDemoBackend(opts: DemoBackendOptions): Promise<DemoBackend> {
  const host = opts.host ?? '0.0.0.0';
  const ports: { http?: number; udp?: number; tcpEcho?: number } = {};
  let http: Server | undefined;
  let udp: UdpSocket | undefined;
  let tcp: TcpServer | undefined;

  if (opts.http !== undefined) {
    const server = httpServer(opts.name, opts.delayMs ?? 0);
    http = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.http, host, () => resolve());
    });
    ports.http = (server.address() as AddressInfo).port;
  }
  if (opts.udp !== undefined) {
    const sock = createSocket('udp4');
    udp = sock;
    const prefix = Buffer.from(`${opts.name}:`);
    sock.on('message', (msg, rinfo) => sock.send(Buffer.concat([prefix, msg]), rinfo.port, rinfo.address));
    sock.on('error', () => { /* a send to a vanished client is not our problem */ });
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(opts.udp, host, () => resolve());
    });
    ports.udp = sock.address().port;
  }
  if (opts.tcpEcho !== undefined) {
    const server = createTcpServer({ allowHalfOpen: true }, (s) => {
      s.on('error', () => s.destroy());
      s.pipe(s);
    });
    tcp = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.tcpEcho, host, () => resolve());
    });
    ports.tcpEcho = (server.address() as AddressInfo).port;
  }

  return {
    ports,
    async close() {
      await Promise.all([
        http ? new Promise<void>((r) => { http.closeAllConnections(); http.close(() => r()); }) : undefined,
        udp ? new Promise<void>((r) => udp.close(() => r())) : undefined,
        tcp ? new Promise<void>((r) => tcp.close(() => r())) : undefined,
      ]);
    },
  };
}
