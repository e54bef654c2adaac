/**
 * Probe samples -> outage windows. Pure (no clock, no I/O), so the measurement that
 * failover tests and `halo lab probe` report is unit-tested on its own.
 *
 * An outage runs from the last success before a run of failures to the first success
 * after it (design.md section 7: the first success through the new master minus the
 * last success through the old one). Times are the attempts' start times, so a window
 * measures when a new client would have been turned away, not how long it waited.
 */

export interface ProbeSample {
  /** ms since the probe started (monotonic), when this attempt began */
  t: number;
  ok: boolean;
  /** x-backend of the answer */
  backend?: string;
  /** the lb node that proxied it (from x-peer) */
  node?: string;
  /** why it failed: an errno code, "timeout", "status-503" */
  error?: string;
  /** how long the attempt took */
  ms?: number;
}

export interface OutageWindow {
  /** t of the last success before the failures, or of the first failure when none came before */
  start: number;
  /** t of the first success after the failures; undefined when the probe ended failing */
  end?: number;
  /** end - start, or (last failure - start) while still failing */
  duration: number;
  failures: number;
  /** the first failure's error, the most common other errors after it */
  errors: string[];
  nodeBefore?: string;
  nodeAfter?: string;
  backendBefore?: string;
  backendAfter?: string;
  /** the probe started failing: no success before this window */
  fromStart: boolean;
  /** the probe ended failing: no success after this window */
  ongoing: boolean;
}

export interface OutageReport {
  attempts: number;
  successes: number;
  failures: number;
  windows: OutageWindow[];
  longest?: OutageWindow;
  /** serving nodes in the order they served, consecutive repeats collapsed (lb1, lb2) */
  servingNodes: string[];
  /** the node that served the first success differs from the one that served the last */
  nodeChanged: boolean;
  /** successes per backend */
  backends: Record<string, number>;
}

interface OpenWindow {
  before: ProbeSample | undefined;
  first: ProbeSample;
  last: ProbeSample;
  failures: number;
  errors: Map<string, number>;
}

function close(w: OpenWindow, after: ProbeSample | undefined): OutageWindow {
  const start = w.before?.t ?? w.first.t;
  const firstError = w.first.error ?? 'failed';
  const others = [...w.errors.entries()].filter(([e]) => e !== firstError).sort((a, b) => b[1] - a[1]).map(([e]) => e);
  return {
    start,
    ...(after !== undefined ? { end: after.t } : {}),
    duration: (after?.t ?? w.last.t) - start,
    failures: w.failures,
    errors: [firstError, ...others.slice(0, 3)],
    ...(w.before?.node !== undefined ? { nodeBefore: w.before.node } : {}),
    ...(after?.node !== undefined ? { nodeAfter: after.node } : {}),
    ...(w.before?.backend !== undefined ? { backendBefore: w.before.backend } : {}),
    ...(after?.backend !== undefined ? { backendAfter: after.backend } : {}),
    fromStart: w.before === undefined,
    ongoing: after === undefined,
  };
}

export function findOutages(samples: readonly ProbeSample[]): OutageReport {
  // Answers arrive in completion order; the windows are about when attempts began.
  const sorted = [...samples].sort((a, b) => a.t - b.t);
  const windows: OutageWindow[] = [];
  const servingNodes: string[] = [];
  const backends: Record<string, number> = {};
  let lastOk: ProbeSample | undefined;
  let firstOk: ProbeSample | undefined;
  let open: OpenWindow | undefined;
  let successes = 0;

  for (const s of sorted) {
    if (!s.ok) {
      const error = s.error ?? 'failed';
      if (open === undefined) open = { before: lastOk, first: s, last: s, failures: 0, errors: new Map() };
      open.last = s;
      open.failures++;
      open.errors.set(error, (open.errors.get(error) ?? 0) + 1);
      continue;
    }
    successes++;
    if (s.backend !== undefined) backends[s.backend] = (backends[s.backend] ?? 0) + 1;
    if (s.node !== undefined && servingNodes[servingNodes.length - 1] !== s.node) servingNodes.push(s.node);
    if (open !== undefined) {
      windows.push(close(open, s));
      open = undefined;
    }
    firstOk ??= s;
    lastOk = s;
  }
  if (open !== undefined) windows.push(close(open, undefined));

  let longest: OutageWindow | undefined;
  for (const w of windows) if (longest === undefined || w.duration > longest.duration) longest = w;
  return {
    attempts: sorted.length,
    successes,
    failures: sorted.length - successes,
    windows,
    ...(longest !== undefined ? { longest } : {}),
    servingNodes,
    nodeChanged: firstOk?.node !== lastOk?.node,
    backends,
  };
}

const ms = (n: number) => `${Math.round(n)} ms`;
const via = (node: string | undefined, backend: string | undefined) => `${node ?? '?'}/${backend ?? '?'}`;

/** One line per window, for people. */
export function formatWindow(w: OutageWindow, index: number): string {
  const when = w.fromStart ? `from the start (${ms(w.start)})` : `at ${ms(w.start)}`;
  const length = w.ongoing ? `${ms(w.duration)}+, still failing at the end` : ms(w.duration);
  const path = `${w.fromStart ? '(none)' : via(w.nodeBefore, w.backendBefore)} -> ${w.ongoing ? '(none)' : via(w.nodeAfter, w.backendAfter)}`;
  return `outage ${index + 1}: ${when}, ${length}, ${w.failures} failed (${w.errors.join(', ')}), ${path}`;
}

export function formatSummary(r: OutageReport): string {
  const longest = r.longest === undefined ? '' : `, longest ${ms(r.longest.duration)}${r.longest.ongoing ? '+' : ''}`;
  const nodes = r.servingNodes.length === 0 ? 'no node answered' : `served by ${r.servingNodes.join(' -> ')}${r.nodeChanged ? ' (serving node changed)' : ''}`;
  const be = Object.entries(r.backends).map(([b, n]) => `${b} ${n}`).join(', ');
  return `${r.attempts} attempts, ${r.successes} ok, ${r.failures} failed; ${r.windows.length} outage${r.windows.length === 1 ? '' : 's'}${longest}; ${nodes}${be ? `; backends: ${be}` : ''}`;
}
