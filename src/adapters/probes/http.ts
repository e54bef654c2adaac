/**
 * HTTP health probe: GET path with `Connection: close`; up when the status is in the
 * expected inclusive range and, if asked, the first 64 KiB of the body contain a
 * substring. One timer covers the whole exchange (connect, head and body), so a
 * backend that accepts and then stalls is down, not hung. node:http is fine here:
 * probes are not the hot path.
 */
import http from 'node:http';
import net from 'node:net';
import { ABORTED_CAUSE, errorText, errorVerb, timeoutCause, type ProbeOptions, type ProbeResult, type ProbeTarget } from './probe.js';

export const MAX_BODY_BYTES = 64 * 1024;
const DEFAULT_STATUS: readonly [number, number] = [200, 399];

/** Host header value for a target: brackets for IPv6, the port unless it is 80. */
export function defaultHostHeader(target: ProbeTarget): string {
  const host = net.isIPv6(target.address) ? `[${target.address}]` : target.address;
  return target.port === 80 ? host : `${host}:${target.port}`;
}

export function httpProbe(target: ProbeTarget, opts: ProbeOptions, signal?: AbortSignal): Promise<ProbeResult> {
  const started = performance.now();
  if (signal?.aborted) return Promise.resolve({ ok: false, ms: 0, cause: ABORTED_CAUSE });
  const [lo, hi] = opts.expectStatus ?? DEFAULT_STATUS;
  const needle = opts.expectBody === undefined ? undefined : Buffer.from(opts.expectBody, 'utf8');

  return new Promise<ProbeResult>((resolve) => {
    let settled = false;
    let req: http.ClientRequest | undefined;

    const finish = (ok: boolean, cause: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      req?.destroy();
      resolve({ ok, ms: performance.now() - started, cause });
    };
    const onAbort = (): void => finish(false, ABORTED_CAUSE);
    const timer = setTimeout(() => finish(false, timeoutCause(opts.timeoutMs)), opts.timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });

    try {
      req = http.request({
        host: target.address,
        port: target.port,
        method: 'GET',
        path: opts.path ?? '/',
        // A fresh connection per check: a pooled one could hide a backend that stopped accepting.
        agent: false,
        headers: {
          host: opts.host ?? defaultHostHeader(target),
          connection: 'close',
          'user-agent': 'halo-health-check',
          accept: '*/*',
        },
      });
    } catch (err) {
      // http.request throws synchronously on a malformed path or header value.
      finish(false, `request ${errorText(err)}`);
      return;
    }

    req.on('error', (err) => finish(false, `${errorVerb(err, 'http')} ${errorText(err)}`));
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      res.on('error', (err) => finish(false, `http ${errorText(err)}`));
      if (status < lo || status > hi) {
        finish(false, `status ${status} not in ${lo}-${hi}`);
        return;
      }
      if (needle === undefined) {
        finish(true, `status ${status}`);
        return;
      }
      const wanted = JSON.stringify(opts.expectBody);
      let body = Buffer.alloc(0);
      res.on('data', (chunk: Buffer) => {
        if (settled) return;
        const from = Math.max(0, body.length - needle.length + 1);
        body = Buffer.concat([body, chunk.subarray(0, MAX_BODY_BYTES - body.length)]);
        if (body.indexOf(needle, from) !== -1) finish(true, `status ${status}, body has ${wanted}`);
        else if (body.length >= MAX_BODY_BYTES) finish(false, `body lacks ${wanted} (first ${MAX_BODY_BYTES} bytes)`);
      });
      res.on('end', () => {
        if (body.indexOf(needle) !== -1) finish(true, `status ${status}, body has ${wanted}`);
        else finish(false, `body lacks ${wanted}`);
      });
      // The connection closing before 'end' (e.g. a truncated body); a no-op once settled.
      res.on('close', () => {
        if (!res.complete) finish(false, 'http response truncated');
      });
    });
    req.end();
  });
}
