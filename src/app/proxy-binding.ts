/**
 * Binding a service's proxy, for start and for a config reload: the errno the operator
 * needs, retries while an old socket on the same address lets go, and the listen address
 * a rebound proxy must use before its dispatcher has the new config.
 */
import type { ServiceConfig } from '../config/schema.js';
import { HaloError } from '../core/errors.js';
import type { Dispatcher } from '../core/service/dispatcher.js';

export interface Proxy {
  listen(): Promise<{ address: string; port: number }>;
  close(drainMs: number): Promise<void>;
}

/** A rebind or rebuild on an address the old listener holds: retried while the old socket lets go. */
export const REBIND_RETRIES = 50;
const REBIND_RETRY_MS = 10;

/** Bind a proxy, retrying EADDRINUSE `retries` times (an old socket on the same address closing). */
export async function listenProxy(proxy: Proxy, service: ServiceConfig, retries = 0): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    try {
      return (await proxy.listen()).port;
    } catch (err) {
      // Proxies wrap the socket error; the operator wants the errno (EADDRINUSE, EACCES).
      const errno = ((err as Error).cause ?? err) as NodeJS.ErrnoException;
      if (errno.code === 'EADDRINUSE' && attempt < retries) {
        await new Promise((r) => setTimeout(r, REBIND_RETRY_MS));
        continue;
      }
      const proto = service.mode === 'udp' ? 'udp' : 'tcp';
      throw new HaloError('HALO_ERR_LISTEN', `service ${service.name}: cannot listen on ${proto} ${service.listen.address}:${service.listen.port}: ${errno.code ?? errno.message}`, { service: service.name }, { cause: err });
    }
  }
}

/** Whether two services' listeners would collide (same protocol and port, same address or a wildcard). */
export function overlaps(a: ServiceConfig, b: ServiceConfig): boolean {
  if ((a.mode === 'udp') !== (b.mode === 'udp') || a.listen.port !== b.listen.port || a.listen.port === 0) return false;
  return a.listen.address === b.listen.address || a.listen.address === '0.0.0.0' || b.listen.address === '0.0.0.0';
}

/**
 * The dispatcher as a rebound proxy sees it: the new listen address, which the dispatcher
 * itself only gets once every new socket is bound. Views and bound methods are cached:
 * proxies read `service` and call methods on every connection.
 */
export function withListen(dispatcher: Dispatcher, listen: ServiceConfig['listen']): Dispatcher {
  let base: ServiceConfig | undefined;
  let view: ServiceConfig | undefined;
  const methods = new Map<PropertyKey, unknown>();
  return new globalThis.Proxy(dispatcher, {
    get(target, prop) {
      if (prop === 'service') {
        if (target.service !== base) {
          base = target.service;
          view = Object.freeze({ ...base, listen });
        }
        return view;
      }
      const v: unknown = Reflect.get(target, prop, target);
      if (typeof v !== 'function') return v;
      let m = methods.get(prop);
      if (m === undefined) {
        m = (v as (...args: unknown[]) => unknown).bind(target);
        methods.set(prop, m);
      }
      return m;
    },
  });
}
