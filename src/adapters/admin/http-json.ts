/**
 * JSON in and out for the admin API: every answer, errors included, is a JSON body that
 * no cache keeps and no browser sniffs; error bodies are `{ "error": { code, message } }`.
 */
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

export type AdminErrorCode =
  | 'bad_request'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'method_not_allowed'
  | 'payload_too_large'
  | 'upgrade_required'
  | 'not_implemented'
  | 'unavailable'
  | 'internal';

const HEADERS = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' };

export function errorBody(code: AdminErrorCode, message: string): { error: { code: AdminErrorCode; message: string } } {
  return { error: { code, message } };
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { ...HEADERS, ...headers, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export function sendError(res: ServerResponse, status: number, code: AdminErrorCode, message: string, headers: Record<string, string> = {}): void {
  sendJson(res, status, errorBody(code, message), headers);
}

/** A request that has (or may have) a body we will not read: answer, then close rather than read it. */
export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

export class BodyError extends Error {
  constructor(
    readonly status: 400 | 413,
    readonly code: AdminErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'BodyError';
  }
}

/** The body as JSON (an empty body is `{}`), refusing more than maxBytes before reading further. */
export async function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > maxBytes) throw new BodyError(413, 'payload_too_large', `the body may be at most ${maxBytes} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw new BodyError(413, 'payload_too_large', `the body may be at most ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new BodyError(400, 'bad_request', 'the body is not valid JSON');
  }
}

/** Refuse a WebSocket upgrade with a plain HTTP answer on the raw socket, then close it. */
export function refuseUpgrade(socket: Duplex, status: number, code: AdminErrorCode, message: string): void {
  const text = `${JSON.stringify(errorBody(code, message))}\n`;
  const head = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}`,
    ...Object.entries(HEADERS).map(([k, v]) => `${k}: ${v}`),
    `content-length: ${Buffer.byteLength(text)}`,
    'connection: close',
  ];
  socket.end(`${head.join('\r\n')}\r\n\r\n${text}`);
}
