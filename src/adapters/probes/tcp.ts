/**
 * TCP health probe: the backend is up when a connection to address:port completes
 * within the timeout. The connection is closed at once, no byte is sent.
 */
import net from 'node:net';
import { ABORTED_CAUSE, errorText, errorVerb, timeoutCause, type ProbeOptions, type ProbeResult, type ProbeTarget } from './probe.js';

export function tcpProbe(target: ProbeTarget, opts: ProbeOptions, signal?: AbortSignal): Promise<ProbeResult> {
  const started = performance.now();
  if (signal?.aborted) return Promise.resolve({ ok: false, ms: 0, cause: ABORTED_CAUSE });

  return new Promise<ProbeResult>((resolve) => {
    let settled = false;
    let socket: net.Socket | undefined;

    const finish = (ok: boolean, cause: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket?.destroy();
      resolve({ ok, ms: performance.now() - started, cause });
    };
    const onAbort = (): void => finish(false, ABORTED_CAUSE);
    const timer = setTimeout(() => finish(false, timeoutCause(opts.timeoutMs)), opts.timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });

    try {
      socket = net.connect({ host: target.address, port: target.port });
    } catch (err) {
      // net.connect throws synchronously on a bad port or options.
      finish(false, `connect ${errorText(err)}`);
      return;
    }
    socket.once('connect', () => finish(true, 'connected'));
    socket.on('error', (err) => finish(false, `${errorVerb(err, 'connect')} ${errorText(err)}`));
  });
}
