/**
 * One node of the replication benchmark, in its own process (so memory and CPU are its
 * own): a real ReplicationNode (ws listener and dialler, HMAC handshake, log, master or
 * standby side) over real Dispatchers (sync-plane.ts), driven by bench/sync.ts through
 * IPC (sync-protocol.ts). Run as `node --expose-gc --import tsx bench/lib/sync-node.ts`
 * with an IPC channel; it exits when the channel closes, so it never outlives the bench.
 */
import diagnostics from 'node:diagnostics_channel';
import type { Socket } from 'node:net';
import { constants as perfConstants, monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import type { LogFields, Logger } from '../../src/adapters/logger.js';
import { systemClock } from '../../src/adapters/system-clock.js';
import { ReplicationNode } from '../../src/app/replication/replication-node.js';
import { BenchPlane, benchConfig } from './sync-plane.js';
import { dueUpdates, fillKey, POOL, rotatingBackend, rotatingKey, sampleKey, BACKENDS } from './sync-keys.js';
import type { ChildMessage, Command, Counters, GcPauses, LoadResult, Memory, Request, SyncTiming } from './sync-protocol.js';

/** A bench node never lives longer than this, whatever happens to its parent. */
const MAX_LIFETIME_MS = 60 * 60_000;
/** Warning lines forwarded per event name: a flood of cuts must not flood the bench's stderr. */
const MAX_LINES_PER_EVENT = 10;

const send = (m: ChildMessage): void => {
  if (process.connected) process.send?.(m);
};

let hrBase = 0n;
const nowNs = (): number => Number(process.hrtime.bigint() - hrBase);
/** performance.now() and hrtime read the same monotonic clock here: ns = ms * 1e6 + this. */
let perfOffsetNs = 0;
const perfToNs = (ms: number): number => (ms === 0 ? 0 : ms * 1e6 + perfOffsetNs);

// Every socket of this process is a replication socket (the listener's on the master,
// the dialler's on the standby): its bytes are the wire cost.
const sockets = new Set<Socket>();
let closedWritten = 0;
let closedRead = 0;
const track = (msg: unknown): void => {
  const socket = (msg as { socket: Socket }).socket;
  sockets.add(socket);
  socket.once('close', () => {
    sockets.delete(socket);
    closedWritten += socket.bytesWritten;
    closedRead += socket.bytesRead;
  });
};
diagnostics.subscribe('net.server.socket', track);
diagnostics.subscribe('net.client.socket', track);

const events: Record<string, number> = {};
const eventNs = new Map<string, number>();

function benchLogger(prefix: string): Logger {
  const record = (level: string, event: string, fields?: LogFields): void => {
    const n = (events[event] = (events[event] ?? 0) + 1);
    eventNs.set(event, nowNs());
    if ((level === 'warn' || level === 'error') && n <= MAX_LINES_PER_EVENT) {
      send({ event: 'log', line: `${prefix} ${level} ${event} ${JSON.stringify(fields ?? {})}${n === MAX_LINES_PER_EVENT ? ' (further lines of this event not shown)' : ''}` });
    }
  };
  const logger: Logger = {
    error: (e, f) => record('error', e, f),
    warn: (e, f) => record('warn', e, f),
    info: (e, f) => record('info', e, f),
    debug: () => undefined,
    child: () => logger,
    setLevel: () => undefined,
  };
  return logger;
}

interface State {
  readonly node: ReplicationNode;
  readonly plane: BenchPlane;
  readonly applyNs: Float64Array;
  synced: boolean;
  syncedNs: number;
  followNs: number;
}

let state: State | undefined;
const loopDelay = monitorEventLoopDelay({ resolution: 1 });
loopDelay.enable();

// A stalled event loop delays everything replication does: say when the GC was the cause.
const noGc = (): GcPauses => ({ minorCount: 0, minorMs: 0, minorMaxMs: 0, majorCount: 0, majorMs: 0, majorMaxMs: 0 });
let gc = noGc();
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    const kind = (e as { detail?: { kind?: number } }).detail?.kind;
    if (kind === perfConstants.NODE_PERFORMANCE_GC_MINOR) {
      gc.minorCount++;
      gc.minorMs += e.duration;
      gc.minorMaxMs = Math.max(gc.minorMaxMs, e.duration);
    } else if (kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR || kind === perfConstants.NODE_PERFORMANCE_GC_INCREMENTAL) {
      gc.majorCount++;
      gc.majorMs += e.duration;
      gc.majorMaxMs = Math.max(gc.majorMaxMs, e.duration);
    }
  }
}).observe({ entryTypes: ['gc'] });

function need(): State {
  if (state === undefined) throw new Error('not initialised');
  return state;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function init(cmd: Extract<Command, { type: 'init' }>): Promise<{ port: number | undefined }> {
  hrBase = BigInt(cmd.hrBase);
  perfOffsetNs = nowNs() - performance.now() * 1e6;
  const config = benchConfig(cmd.port, cmd.maxEntries);
  const cluster = config.cluster;
  if (cluster === undefined) throw new Error('bench config without a cluster');
  const applyNs = new Float64Array(cmd.sampleCapacity).fill(Number.NaN);
  const plane = new BenchPlane(config, cmd.name, (i) => {
    // Only the first apply counts: a snapshot after a cut may bring the key again.
    if (i < applyNs.length && Number.isNaN(applyNs[i] as number)) applyNs[i] = nowNs();
  });
  const node = new ReplicationNode({
    cluster,
    services: config.services,
    nodeName: cmd.name,
    address: cmd.address,
    key: Buffer.from(cmd.keyHex, 'hex'),
    plane,
    logger: benchLogger(`[${cmd.role} ${cmd.name}]`),
    now: () => systemClock.now(),
    onSynced: (synced) => {
      const s = need();
      s.synced = synced;
      if (synced && s.syncedNs === 0) s.syncedNs = nowNs();
    },
  });
  state = { node, plane, applyNs, synced: false, syncedNs: 0, followNs: 0 };
  await node.start();
  return { port: node.port };
}

async function waitSynced(timeoutMs: number): Promise<SyncTiming> {
  const s = need();
  const deadline = performance.now() + timeoutMs;
  while (!s.synced) {
    if (performance.now() > deadline) {
      const st = s.node.status();
      throw new Error(`not synced within ${timeoutMs} ms (applier ${JSON.stringify(st.standby?.applier.snapshot ?? st.standby?.applier.phase)}, last error: ${st.standby?.lastError ?? ''})`);
    }
    await sleep(2);
  }
  return { followNs: s.followNs, connectedNs: eventNs.get('replication_connected') ?? 0, syncedNs: s.syncedNs, entries: s.plane.persistenceEntries() };
}

/** Updates of rotating keys so far, across load steps: the rotation goes on, so every stick moves a key (a set). */
let rotating = 0;

/**
 * The sustained load: sets at `rate` per second, issued from a 1 ms timer (what arrives
 * between two turns of the event loop goes out together, as a proxy's would).
 */
async function load(cmd: Extract<Command, { type: 'load' }>): Promise<LoadResult> {
  const s = need();
  const table = s.plane.persistence('web');
  const keys = Array.from({ length: cmd.keySpace }, (_, j) => rotatingKey(j));
  const total = Math.round(cmd.rate * cmd.seconds);
  const maxSamples = Math.ceil(total / cmd.sampleEvery) + 1;
  const setNs = new Float64Array(maxSamples).fill(Number.NaN);
  // At most 50 ms worth at once: a generator that falls further behind shows it in the achieved rate.
  const maxBurst = Math.max(1, Math.ceil(cmd.rate / 20));
  const durationMs = cmd.seconds * 1000;
  let done = 0;
  let samples = 0;
  let biggest = 0;
  const start = performance.now();
  let elapsed = 0;
  let firstSetNs = 0;
  let lastSetNs = 0;
  // Bounded by time: the loop ends at durationMs whether or not every set went out.
  while (elapsed < durationMs && done < total) {
    const due = dueUpdates(cmd.rate, elapsed, done, total, maxBurst);
    if (due > biggest) biggest = due;
    const now = systemClock.now();
    if (due > 0 && firstSetNs === 0) firstSetNs = nowNs();
    for (let k = 0; k < due; k++, done++) {
      if (done % cmd.sampleEvery === 0 && samples < maxSamples) {
        const i = cmd.sampleFrom + samples;
        setNs[samples++] = nowNs();
        table.stick(sampleKey(i), POOL, BACKENDS[i % BACKENDS.length] as string, now);
        continue;
      }
      table.stick(keys[rotating % cmd.keySpace] as string, POOL, rotatingBackend(rotating, cmd.keySpace), now);
      rotating++;
    }
    if (due > 0) lastSetNs = nowNs();
    await sleep(1);
    elapsed = performance.now() - start;
  }
  const elapsedMs = performance.now() - start;
  // The flush timer numbers what was queued; wait for it so seqAfter covers the last set.
  await settle(1000);
  return { sets: done, elapsedMs, samples, setNs: setNs.slice(0, samples), seqAfter: s.node.log.seq, maxBurst: biggest, firstSetNs, lastSetNs };
}

async function fill(cmd: Extract<Command, { type: 'fill' }>): Promise<{ entries: number; ms: number }> {
  const s = need();
  const table = s.plane.persistence('web');
  const start = performance.now();
  for (let i = 0; i < cmd.count; ) {
    const now = systemClock.now();
    const end = Math.min(cmd.count, i + cmd.batch);
    for (; i < end; i++) table.stick(fillKey(cmd.from + i), POOL, BACKENDS[i % BACKENDS.length] as string, now);
    // A turn of the event loop between batches: the log flushes as it would under traffic.
    await sleep(0);
  }
  const ms = performance.now() - start;
  await settle(5000);
  return { entries: s.plane.persistenceEntries(), ms };
}

/** Until the log holds nothing unflushed (the 5 ms flush timer runs meanwhile). */
async function settle(timeoutMs: number): Promise<void> {
  const s = need();
  const deadline = performance.now() + timeoutMs;
  do {
    await sleep(6);
  } while (s.node.log.stats().pending > 0 && performance.now() < deadline);
}

function counters(): Counters {
  const s = need();
  let written = closedWritten;
  let read = closedRead;
  for (const sock of sockets) {
    written += sock.bytesWritten;
    read += sock.bytesRead;
  }
  const cpu = process.cpuUsage();
  const st = s.node.status();
  const c = s.plane.counters;
  return {
    bytesWritten: written,
    bytesRead: read,
    cpuUserUs: cpu.user,
    cpuSystemUs: cpu.system,
    events: { ...events },
    logSeq: st.log.seq,
    appliedSeq: st.standby?.applier.appliedSeq ?? null,
    applied: c.applied,
    firstApplyNs: perfToNs(c.firstAt),
    lastApplyNs: perfToNs(c.lastAt),
    entries: s.plane.persistenceEntries(),
    synced: s.synced,
    loopDelayP99Ms: loopDelay.percentile(99) / 1e6,
    loopDelayMaxMs: loopDelay.max / 1e6,
    gc: { ...gc },
  };
}

async function memory(): Promise<Memory> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with node --expose-gc');
  // Twice, with a turn in between: the first full GC may leave work that a finaliser queued.
  gc();
  await sleep(10);
  gc();
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers, rss: m.rss };
}

async function handle(cmd: Command): Promise<unknown> {
  switch (cmd.type) {
    case 'init':
      return init(cmd);
    case 'elect':
      need().node.onElection({ state: 'MASTER', master: undefined });
      return {};
    case 'follow': {
      const s = need();
      s.followNs = nowNs();
      s.node.onElection({ state: 'BACKUP', master: { nodeId: cmd.masterName, address: cmd.masterAddress } });
      return { followNs: s.followNs };
    }
    case 'waitSynced':
      return waitSynced(cmd.timeoutMs);
    case 'load':
      return load(cmd);
    case 'fill':
      return fill(cmd);
    case 'counters':
      return counters();
    case 'resetPhase':
      need().plane.resetPhase();
      loopDelay.reset();
      gc = noGc();
      return {};
    case 'samples': {
      const a = need().applyNs;
      return { applyNs: a.slice(Math.min(cmd.from, a.length), Math.min(cmd.from + cmd.count, a.length)) };
    }
    case 'memory':
      return memory();
    case 'settle':
      await settle(cmd.timeoutMs);
      return {};
    case 'stop':
      await state?.node.stop();
      // Replied first; the exit follows once the reply is out (and writes a --cpu-prof profile).
      setTimeout(() => process.exit(0), 20);
      return {};
  }
}

process.on('message', (msg: Request) => {
  handle(msg.cmd).then(
    (result) => send({ id: msg.id, ok: true, result }),
    (err: unknown) => send({ id: msg.id, ok: false, error: err instanceof Error ? err.message : String(err) }),
  );
});
// The bench went away (finished, killed, crashed): so do we.
process.on('disconnect', () => process.exit(0));
setTimeout(() => process.exit(3), MAX_LIFETIME_MS).unref();
if (!process.connected) {
  process.stderr.write('sync-node: needs an IPC channel (started by bench/sync.ts)\n');
  process.exit(2);
}
