/**
 * The `admin` section: where the admin API (status, metrics, events, reload, failover)
 * listens and the bearer token it wants. Loopback by default; anything reachable beyond
 * loopback needs a token (load.ts cross-checks it), because the API can move the VIP.
 */
import { z } from 'zod';
import { show } from './schema-helpers.js';

export const ADMIN_DEFAULT_LISTEN = '127.0.0.1:9797';

/** IPv4, `localhost` or a bracketed IPv6 literal, then a port; the range is checked by parseAdminListen. */
const LISTEN = /^((\d{1,3}\.){3}\d{1,3}|localhost|\[[0-9A-Fa-f:.]+\]):\d{1,5}$/;

const listenError = (iss: { input?: unknown }) => `expected host:port (e.g. ${ADMIN_DEFAULT_LISTEN}), or false (or "off") to turn the admin API off, got ${show(iss.input)}`;

export const adminSchema = z.strictObject({
  /** host:port; false or "off" = no admin API */
  listen: z
    .union([z.literal(false), z.literal('off'), z.string().regex(LISTEN, { error: listenError })], { error: listenError })
    .default(ADMIN_DEFAULT_LISTEN),
  /** bearer token from a file or an environment variable (16+ characters), never inline */
  token_file: z.string().optional(),
  token_env: z.string().optional(),
});

export type AdminConfig = z.infer<typeof adminSchema>;

export interface ListenAddress {
  /** Without brackets: `::1`, not `[::1]`. */
  host: string;
  port: number;
}

/** The listen address, or undefined when the admin API is off. Throws RangeError on a bad port or address. */
export function parseAdminListen(listen: AdminConfig['listen']): ListenAddress | undefined {
  if (listen === false || listen === 'off') return undefined;
  const colon = listen.lastIndexOf(':');
  const rawHost = listen.slice(0, colon);
  const port = Number(listen.slice(colon + 1));
  if (!Number.isInteger(port) || port > 65535) throw new RangeError(`port ${listen.slice(colon + 1)} is out of range 0-65535`);
  const host = rawHost.startsWith('[') ? rawHost.slice(1, -1) : rawHost;
  if (/^[\d.]+$/.test(host) && !host.split('.').every((o) => Number(o) <= 255)) throw new RangeError(`${host} is not an IPv4 address`);
  return { host, port };
}

/**
 * Loopback as the kernel sees it: 127.0.0.0/8, ::1, and IPv4 loopback mapped into
 * IPv6 (`::ffff:127.0.0.1`, what a dual-stack socket reports). `localhost` counts: it
 * is what an operator writes for "this host only".
 */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (address === undefined) return false;
  const a = address.toLowerCase();
  if (a === 'localhost' || a === '::1' || a === '0:0:0:0:0:0:0:1') return true;
  const v4 = a.startsWith('::ffff:') ? a.slice(7) : a;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4);
}

/** A URL host for the address (brackets around IPv6); 0.0.0.0 and :: mean "this host": dial loopback. */
export function dialHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}
