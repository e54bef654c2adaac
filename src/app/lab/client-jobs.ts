/**
 * What the lab's client agent does (`halo lab client-agent --job JSON`, run inside the
 * client namespace) and what it reports, one JSON line per event. Pure: the job is
 * checked here before any socket opens, so a test's mistake is an error naming the
 * field, and every job is bounded in count and in time.
 *
 * - http: one request per entry (own source address, cookie), a few at a time.
 * - udp: one socket, a numbered datagram every intervalMs; the demo backend echoes
 *   `<backend>:<seq>`, so every answer names who served it.
 * - tcp: one connection per source, opened one after the other (so least-connections
 *   sees each before the next), an HTTP/1.1 keep-alive request on each to learn its
 *   backend, then held open until told to close some, to end, or holdMs passes.
 */
import { z } from 'zod';
import { HaloError } from '../../core/errors.js';

export const CLIENT_LIMITS = {
  maxRequests: 10_000,
  maxSources: 255,
  /** udp duration and tcp hold */
  maxDurationMs: 600_000,
  maxTimeoutMs: 60_000,
  maxConcurrency: 64,
} as const;

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const ipv4 = () => z.string().regex(IPV4, { error: 'expected an IPv4 address' });
const port = () => z.number().int().min(1).max(65535);
const timeout = () => z.number().int().min(1).max(CLIENT_LIMITS.maxTimeoutMs).optional();

const httpJob = z.strictObject({
  mode: z.literal('http'),
  host: ipv4(),
  port: port(),
  requests: z
    .array(z.strictObject({ source: ipv4().optional(), cookie: z.string().max(4096).optional(), path: z.string().regex(/^\/\S*$/).optional() }))
    .min(1)
    .max(CLIENT_LIMITS.maxRequests),
  /** requests in flight at once; default 8 */
  concurrency: z.number().int().min(1).max(CLIENT_LIMITS.maxConcurrency).optional(),
  /** per request, connect to end of body; default 2000 */
  timeoutMs: timeout(),
});

const udpJob = z.strictObject({
  mode: z.literal('udp'),
  host: ipv4(),
  port: port(),
  source: ipv4().optional(),
  intervalMs: z.number().int().min(1).max(10_000),
  durationMs: z.number().int().min(1).max(CLIENT_LIMITS.maxDurationMs),
  /** how long answers are awaited after the last datagram; default 300 */
  timeoutMs: timeout(),
});

const tcpJob = z.strictObject({
  mode: z.literal('tcp'),
  host: ipv4(),
  port: port(),
  sources: z.array(ipv4()).min(1).max(CLIENT_LIMITS.maxSources),
  holdMs: z.number().int().min(1).max(CLIENT_LIMITS.maxDurationMs),
  /** per connection, connect to the answer's head; default 2000 */
  timeoutMs: timeout(),
});

const clientJob = z.discriminatedUnion('mode', [httpJob, udpJob, tcpJob]);

export type HttpJob = z.infer<typeof httpJob>;
export type UdpJob = z.infer<typeof udpJob>;
export type TcpJob = z.infer<typeof tcpJob>;
export type ClientJob = z.infer<typeof clientJob>;

export const DEFAULT_HTTP_TIMEOUT_MS = 2000;
export const DEFAULT_UDP_TIMEOUT_MS = 300;

export function parseClientJob(value: unknown): ClientJob {
  const r = clientJob.safeParse(value);
  if (r.success) return r.data;
  const problems = r.error.issues.map((i) => `${i.path.length > 0 ? i.path.join('.') : 'job'}: ${i.message}`);
  throw new HaloError('HALO_ERR_LAB', `client job: ${problems.join('; ')}`, { problems });
}

/** The longest a well-behaved agent runs this job: the lab kills it some time after. */
export function jobLimitMs(job: ClientJob): number {
  switch (job.mode) {
    case 'http':
      return Math.ceil(job.requests.length / (job.concurrency ?? 8)) * (job.timeoutMs ?? DEFAULT_HTTP_TIMEOUT_MS);
    case 'udp':
      return job.durationMs + (job.timeoutMs ?? DEFAULT_UDP_TIMEOUT_MS);
    case 'tcp':
      return job.sources.length * (job.timeoutMs ?? DEFAULT_HTTP_TIMEOUT_MS) + job.holdMs;
  }
}

/** Times are ms since the agent started; `start` gives that moment's wall clock. */
export type ClientEvent =
  | { type: 'start'; wall: number }
  | { type: 'http'; i: number; source?: string; ok: boolean; status?: number; backend?: string; node?: string; setCookie?: string[]; error?: string; t: number; ms: number }
  | { type: 'udp_sent'; seq: number; t: number }
  | { type: 'udp_answer'; seq: number; t: number; backend: string }
  | { type: 'tcp_open'; i: number; source: string; backend?: string; node?: string; t: number }
  | { type: 'tcp_failed'; i: number; source: string; error: string; t: number }
  | { type: 'tcp_closed'; i: number; by: 'us' | 'peer'; error?: string; t: number }
  | { type: 'done'; t: number; reason: string };

/** Sent to the agent's stdin, one JSON line each; stdin's end is an `end` too. */
export type ClientCommand = { close: number[] } | { end: true };

export function parseClientEvent(line: string): ClientEvent | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const v = JSON.parse(line) as { type?: unknown };
    return typeof v.type === 'string' ? (v as ClientEvent) : undefined;
  } catch {
    return undefined;
  }
}

export function parseClientCommand(line: string): ClientCommand | undefined {
  try {
    const v = JSON.parse(line) as Record<string, unknown>;
    if (v['end'] === true) return { end: true };
    const close = v['close'];
    if (Array.isArray(close) && close.every((i) => Number.isInteger(i))) return { close: close as number[] };
  } catch {
    // not a command
  }
  return undefined;
}

/** `<backend>:<seq>` from the demo backend's UDP echo of a datagram carrying `<seq>`. */
export function parseUdpAnswer(text: string): { backend: string; seq: number } | undefined {
  const m = /^([A-Za-z0-9_.-]+):(\d+)$/.exec(text);
  return m?.[1] !== undefined && m[2] !== undefined ? { backend: m[1], seq: Number(m[2]) } : undefined;
}

/** The value of cookie `name` in a response's Set-Cookie headers. */
export function cookieValue(setCookie: readonly string[] | undefined, name: string): string | undefined {
  for (const header of setCookie ?? []) {
    const first = header.split(';', 1)[0] ?? '';
    const eq = first.indexOf('=');
    if (eq > 0 && first.slice(0, eq).trim() === name) return first.slice(eq + 1).trim();
  }
  return undefined;
}

/** x-backend and x-peer from a raw HTTP response head (the tcp job reads bytes, not a parsed response). */
export function responseHeadFields(head: string): { status?: number; backend?: string; peer?: string } {
  const [statusLine, ...lines] = head.split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '')?.[1];
  const out: { status?: number; backend?: string; peer?: string } = status !== undefined ? { status: Number(status) } : {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === 'x-backend') out.backend = value;
    else if (name === 'x-peer') out.peer = value;
  }
  return out;
}
