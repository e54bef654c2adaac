/**
 * The contract every health probe keeps: one check, one result, never a rejection.
 * Every failure (refused, reset, timeout, bad status, abort) becomes ok:false with a
 * short cause an operator can read in a log line.
 */

export interface ProbeResult {
  ok: boolean;
  /** Elapsed time of the check, measured on the monotonic clock. */
  ms: number;
  /** e.g. 'connect ECONNREFUSED', 'timeout after 1000 ms', 'status 500 not in 200-399'. */
  cause: string;
}

export interface ProbeTarget {
  address: string;
  /** Ignored by the icmp probe. */
  port: number;
}

export interface ProbeOptions {
  /** The whole check (connect, request, response) must finish within this. */
  timeoutMs: number;
  /** http: request path (default '/'). */
  path?: string | undefined;
  /** http: Host header (default: the target address). */
  host?: string | undefined;
  /** http: inclusive status range (default [200, 399]). */
  expectStatus?: readonly [number, number] | undefined;
  /** http: the first 64 KiB of the body must contain this. */
  expectBody?: string | undefined;
}

export type ProbeFn = (target: ProbeTarget, opts: ProbeOptions, signal?: AbortSignal) => Promise<ProbeResult>;

export type ProbeType = 'tcp' | 'http' | 'icmp';

export type ProbeMap = Record<ProbeType, ProbeFn>;

/** Short text for an error: its errno code when it has one ('ECONNREFUSED'), else its message. */
export function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return typeof code === 'string' && code !== '' ? code : err.message;
  }
  return String(err);
}

/** 'connect' for socket and DNS failures (where the check never reached the service), else the given verb. */
export function errorVerb(err: unknown, otherwise: string): string {
  const syscall = err instanceof Error ? (err as NodeJS.ErrnoException).syscall : undefined;
  if (syscall === 'getaddrinfo') return 'resolve';
  if (syscall === 'connect') return 'connect';
  return otherwise;
}

export function timeoutCause(timeoutMs: number): string {
  return `timeout after ${timeoutMs} ms`;
}

export const ABORTED_CAUSE = 'aborted';
