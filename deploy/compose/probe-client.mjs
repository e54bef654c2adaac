#!/usr/bin/env node
// The docker compose demo's client: the lab's probe agent (a new HTTP connection to the
// VIP every interval, dist/app/lab/probe-agent.js) with its outage arithmetic
// (dist/app/lab/outages.js), printed live for people instead of as JSON at the end.
// It says which node and backend answer whenever that changes, one line per outage once
// it is over, a heartbeat every --report-s, and a summary when it stops (SIGTERM).
//
//   node deploy/compose/probe-client.mjs --target 10.77.0.100:80 [--interval-ms 100]
//        [--timeout-ms 500] [--seconds 86400] [--report-s 10]
//
// Nodes are named from the answering backend's view of the proxy (x-peer), by the lab's
// address plan (10.77.0.1N = lbN), which docker-compose.yml follows.
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { runProbeAgent } from '../../dist/app/lab/probe-agent.js';
import { findOutages, formatWindow } from '../../dist/app/lab/outages.js';

const USAGE = 'usage: probe-client.mjs --target HOST:PORT [--interval-ms N] [--timeout-ms N] [--seconds N] [--report-s N]';

function fail(message) {
  process.stderr.write(`probe-client: ${message}\n${USAGE}\n`);
  process.exit(2);
}

function intFlag(values, name, fallback, min, max) {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < min || n > max) fail(`--${name}: expected a whole number ${min}-${max}, got "${raw}"`);
  return n;
}

let values;
try {
  ({ values } = parseArgs({
    options: {
      target: { type: 'string' },
      'interval-ms': { type: 'string' },
      'timeout-ms': { type: 'string' },
      seconds: { type: 'string' },
      'report-s': { type: 'string' },
    },
    strict: true,
  }));
} catch (err) {
  fail(err.message);
}
const target = /^([^:\s]+):(\d{1,5})$/.exec(values.target ?? '');
if (target === null) fail('--target HOST:PORT is required');
const host = target[1];
const port = Number(target[2]);
const intervalMs = intFlag(values, 'interval-ms', 100, 10, 60_000);
const timeoutMs = intFlag(values, 'timeout-ms', 500, 10, 60_000);
// Bounded like every probe: a day by default, then the summary and exit 0.
const seconds = intFlag(values, 'seconds', 86_400, 1, 7 * 86_400);
const reportMs = intFlag(values, 'report-s', 10, 1, 3600) * 1000;

const clock = () => new Date().toISOString().slice(11, 23);
const say = (line) => process.stdout.write(`${clock()} ${line}\n`);
const via = (s) => `${s.node ?? '?'} (backend ${s.backend ?? '?'})`;

// Answers arrive in completion order; windows are about when attempts began. A sample is
// only judged once every attempt started before it has had its whole timeout to finish.
const settleMs = timeoutMs + 2 * intervalMs;
let pending = [];
let lastOk;
let open; // { before, failures: [] } while failing
let outages = 0;
let totals = { ok: 0, failed: 0 };
let period = { ok: 0, failed: 0 };
const backends = new Map();
const servedBy = [];

function judge(s) {
  if (!s.ok) {
    totals.failed++;
    period.failed++;
    if (open === undefined) {
      open = { before: lastOk, failures: [] };
      say(`no answer: ${s.error ?? 'failed'}${lastOk ? ` (last answer ${Math.round(s.t - lastOk.t)} ms before, from ${via(lastOk)})` : ''}`);
    }
    open.failures.push(s);
    return;
  }
  totals.ok++;
  period.ok++;
  if (s.backend !== undefined) backends.set(s.backend, (backends.get(s.backend) ?? 0) + 1);
  if (open !== undefined) {
    const samples = open.before ? [open.before, ...open.failures, s] : [...open.failures, s];
    const w = findOutages(samples).windows[0];
    if (w !== undefined) say(formatWindow(w, outages++));
    open = undefined;
  }
  if (lastOk === undefined || lastOk.node !== s.node || lastOk.backend !== s.backend) {
    say(`answered by ${via(s)}${lastOk ? `, before: ${via(lastOk)}` : ''}`);
    const who = s.node ?? '?';
    if (servedBy[servedBy.length - 1] !== who) servedBy.push(who);
  }
  lastOk = s;
}

function settle(all) {
  const horizon = performance.now() - t0 - settleMs;
  const ready = all ? pending : pending.filter((s) => s.t <= horizon);
  if (ready.length === 0) return;
  pending = all ? [] : pending.filter((s) => s.t > horizon);
  ready.sort((a, b) => a.t - b.t);
  for (const s of ready) judge(s);
}

function summary() {
  const be = [...backends.entries()].map(([b, n]) => `${b} ${n}`).join(', ');
  const still = open ? `; failing at the end since ${Math.round(open.failures[0].t)} ms (${open.failures.length} failed)` : '';
  return `summary: ${totals.ok + totals.failed} attempts, ${totals.ok} ok, ${totals.failed} failed; ${outages} outage${outages === 1 ? '' : 's'}${still}; served by ${servedBy.join(' -> ') || 'nobody'}${be ? `; backends: ${be}` : ''}`;
}

const stop = new AbortController();
for (const sig of ['SIGTERM', 'SIGINT']) process.once(sig, () => stop.abort());

say(`probing http://${host}:${port}/ every ${intervalMs} ms, a new connection each time (timeout ${timeoutMs} ms)`);
const t0 = performance.now();
const settler = setInterval(() => settle(false), Math.min(250, intervalMs));
const reporter = setInterval(() => {
  const now = lastOk ? `, now ${via(lastOk)}` : '';
  say(`last ${reportMs / 1000} s: ${period.ok} ok, ${period.failed} failed${now}`);
  period = { ok: 0, failed: 0 };
}, reportMs);

await runProbeAgent({
  host,
  port,
  durationMs: seconds * 1000,
  intervalMs,
  timeoutMs,
  stop: stop.signal,
  write: (line) => {
    const v = JSON.parse(line);
    if (typeof v.t === 'number' && typeof v.ok === 'boolean') pending.push(v);
  },
});
clearInterval(settler);
clearInterval(reporter);
settle(true);
if (open !== undefined) {
  const samples = open.before ? [open.before, ...open.failures] : open.failures;
  const w = findOutages(samples).windows.at(-1);
  if (w !== undefined) say(formatWindow(w, outages));
}
say(summary());
