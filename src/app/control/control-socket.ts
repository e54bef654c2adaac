/**
 * The local control channel of a running node: a Unix socket <run_dir>/<node>.sock
 * (mode 0600: whoever may use it may also signal the process) and a pid file
 * <run_dir>/<node>.pid for `kill -HUP`. `halo reload` and `halo failover` find both
 * through the config file. One JSON request line, one JSON answer line, then close.
 *
 * Best effort by design: a node that cannot create them (no permission, a live node
 * of the same name already there, as in two labs on one machine) logs why and runs
 * without; SIGHUP still reloads. Its files are removed at stop only if still its own.
 */
import { chmodSync, mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import type { Logger } from '../../adapters/logger.js';
import type { ControlResult, NodeControlHandlers } from './control-types.js';

export type ControlRequest = { op: 'reload'; configFile?: string } | { op: 'failover'; holdMs?: number } | { op: 'release' };

export interface ControlPaths {
  socket: string;
  pidFile: string;
}

/** Where the node named in a config keeps its socket and pid file. */
export function controlPaths(runDir: string, node: string): ControlPaths {
  return { socket: join(runDir, `${node}.sock`), pidFile: join(runDir, `${node}.pid`) };
}

/** sun_path is 108 bytes on Linux, with the terminating NUL. */
const MAX_SOCKET_PATH = 107;
const MAX_REQUEST_BYTES = 4096;
const REQUEST_TIMEOUT_MS = 5000;
const MAX_CLIENTS = 8;

export interface ControlServerOptions {
  runDir: string;
  node: string;
  /** Reload gets the file the client named, if any. */
  handlers: NodeControlHandlers & { reload(file?: string): Promise<ControlResult> };
  log: Logger;
}

export class ControlServer {
  readonly paths: ControlPaths;
  readonly #opts: ControlServerOptions;
  #server: Server | undefined;
  #inode: number | undefined;
  #clients = 0;

  constructor(opts: ControlServerOptions) {
    this.#opts = opts;
    this.paths = controlPaths(opts.runDir, opts.node);
  }

  /** True when listening and the pid file is written; false (logged) when running without. */
  async start(): Promise<boolean> {
    const { socket, pidFile } = this.paths;
    const unavailable = (cause: string) => {
      this.#opts.log.warn('control_unavailable', { socket, pid_file: pidFile, cause: `${cause}; SIGHUP still reloads, halo reload and halo failover cannot reach this node` });
      return false;
    };
    if (Buffer.byteLength(socket) > MAX_SOCKET_PATH) return unavailable(`the socket path is longer than ${MAX_SOCKET_PATH} bytes (shorten node.run_dir)`);
    try {
      mkdirSync(this.#opts.runDir, { recursive: true, mode: 0o755 });
    } catch (err) {
      return unavailable(`cannot create ${this.#opts.runDir}: ${errno(err)}`);
    }
    if (await answers(socket)) return unavailable(`another running node listens on ${socket}`);
    try {
      unlinkSync(socket); // a crashed run's leftover
    } catch {
      // none
    }
    const server = createServer({ allowHalfOpen: false }, (c) => this.#serve(c));
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(socket, () => resolve());
      });
      chmodSync(socket, 0o600);
      this.#inode = statSync(socket).ino;
      writeFileSync(pidFile, `${process.pid}\n`, { mode: 0o644 });
    } catch (err) {
      server.close();
      return unavailable(`cannot listen on ${socket}: ${errno(err)}`);
    }
    server.on('error', (err) => this.#opts.log.error('control_error', { socket, cause: err.message }));
    this.#server = server;
    this.#opts.log.info('control_listening', { socket, pid_file: pidFile, pid: process.pid });
    return true;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    if (server === undefined) return;
    this.#server = undefined;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const { socket, pidFile } = this.paths;
    try {
      // Another node may have replaced it since (after our crash-free stop it is ours).
      if (statSync(socket).ino === this.#inode) unlinkSync(socket);
    } catch {
      // gone
    }
    try {
      if (readFileSync(pidFile, 'utf8').trim() === String(process.pid)) unlinkSync(pidFile);
    } catch {
      // gone
    }
  }

  #serve(c: Socket): void {
    if (this.#clients >= MAX_CLIENTS) {
      c.end(`${JSON.stringify({ ok: false, message: 'too many control requests at once' })}\n`);
      return;
    }
    this.#clients++;
    c.on('close', () => this.#clients--);
    c.on('error', () => undefined);
    c.setTimeout(REQUEST_TIMEOUT_MS, () => c.destroy());
    let text = '';
    c.setEncoding('utf8');
    c.on('data', (chunk: string) => {
      text += chunk;
      const nl = text.indexOf('\n');
      if (nl < 0 && text.length <= MAX_REQUEST_BYTES) return;
      c.removeAllListeners('data');
      // The answer may take a while (a failover waits for the new master): no idle timeout now.
      c.setTimeout(0);
      void this.#answer(nl < 0 ? undefined : text.slice(0, nl)).then((r) => c.end(`${JSON.stringify(r)}\n`));
    });
  }

  async #answer(line: string | undefined): Promise<ControlResult> {
    const req = parseRequest(line);
    if (typeof req === 'string') return { ok: false, message: req };
    const h = this.#opts.handlers;
    switch (req.op) {
      case 'reload':
        return h.reload(req.configFile);
      case 'failover':
        return h.failover(req.holdMs !== undefined ? { holdMs: req.holdMs } : {});
      case 'release':
        return h.failover({ release: true });
    }
  }
}

/** The request, or why it is not one. */
export function parseRequest(line: string | undefined): ControlRequest | string {
  if (line === undefined) return `bad request: expected one JSON line of at most ${MAX_REQUEST_BYTES} bytes`;
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return 'bad request: not JSON';
  }
  if (typeof v !== 'object' || v === null) return 'bad request: expected an object';
  const r = v as Record<string, unknown>;
  if (r['op'] === 'reload' && (r['configFile'] === undefined || typeof r['configFile'] === 'string')) return r['configFile'] === undefined ? { op: 'reload' } : { op: 'reload', configFile: r['configFile'] as string };
  if (r['op'] === 'release') return { op: 'release' };
  if (r['op'] === 'failover' && (r['holdMs'] === undefined || (Number.isInteger(r['holdMs']) && (r['holdMs'] as number) >= 0))) return r['holdMs'] === undefined ? { op: 'failover' } : { op: 'failover', holdMs: r['holdMs'] as number };
  return 'bad request: expected {"op":"reload"}, {"op":"failover","holdMs":N} or {"op":"release"}';
}

/** Send one request to the node behind `socket`; rejects with an operator-readable Error when unreachable. */
export function controlRequest(socket: string, request: ControlRequest, timeoutMs: number): Promise<ControlResult> {
  return new Promise<ControlResult>((resolve, reject) => {
    const c = createConnection(socket);
    let text = '';
    const timer = setTimeout(() => {
      c.destroy();
      reject(new Error(`no answer from ${socket} within ${timeoutMs} ms`));
    }, timeoutMs);
    c.setEncoding('utf8');
    c.on('connect', () => c.write(`${JSON.stringify(request)}\n`));
    c.on('data', (chunk: string) => (text += chunk));
    c.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new Error(unreachable(socket, err)));
    });
    c.on('end', () => {
      clearTimeout(timer);
      try {
        const r = JSON.parse(text.trim()) as ControlResult;
        if (typeof r.ok !== 'boolean' || typeof r.message !== 'string') throw new Error('not a control answer');
        resolve(r);
      } catch {
        reject(new Error(`${socket}: unexpected answer ${JSON.stringify(text.slice(0, 200))}`));
      }
    });
  });
}

function unreachable(socket: string, err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ENOENT':
      return `no halo node at ${socket}: is \`halo run\` running with this config (node.name, node.run_dir)?`;
    case 'ECONNREFUSED':
      return `${socket} is left over from a node that is not running`;
    case 'EACCES':
      return `${socket}: permission denied (run as the user halo runs as, or root)`;
    default:
      return `${socket}: ${err.code ?? err.message}`;
  }
}

/** Whether a live process answers on the socket (a connection is accepted). */
function answers(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = createConnection(socket);
    const done = (live: boolean) => {
      c.destroy();
      resolve(live);
    };
    c.once('connect', () => done(true));
    c.once('error', () => done(false));
    c.setTimeout(1000, () => done(false));
  });
}

function errno(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
}
