/**
 * The election worker: a worker thread with its own event loop and heap, so the data
 * plane's load and garbage collection never delay an advert (keepalived's "timer
 * expired" false failovers). It owns the advert socket, the VIP, link and address
 * monitors, track scripts and notify hooks.
 *
 * Fate-sharing: the data plane ticks us; if the ticks stop for liveness_timeout_ms the
 * node goes to FAULT and gives up the VIP, so a hung proxy never keeps it. If the main
 * thread dies, the process dies and this worker with it.
 */
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { createLogger } from '../../adapters/logger.js';
import { systemClock } from '../../adapters/system-clock.js';
import { ElectionTransport } from '../../adapters/election-dgram.js';
import { interfaceIPv4 } from '../../adapters/interface-address.js';
import { LinkMonitor } from '../../adapters/link-monitor.js';
import { AddressMonitor } from '../../adapters/address-monitor.js';
import { VipManager } from '../../adapters/vip-iproute.js';
import { NotifyHooks } from '../../adapters/notify-hooks.js';
import { TrackScripts } from '../../adapters/track-scripts.js';
import { Tracker, type TrackedObject } from '../../core/election/tracking.js';
import { HaloError } from '../../core/errors.js';
import { loadSecret } from '../secrets.js';
import { ElectionNode } from './election-node.js';
import { handleControl, type WorkerControlDeps } from './worker-control.js';
import type { ElectionWorkerData, FromWorker, ToWorker } from './worker-protocol.js';

const LIVENESS_CHECK_MS = 50;
/** The liveness check running this late means this thread was stopped too. */
const OWN_STALL_MS = 250;
/**
 * The election thread's nice value. A saturated data plane (and whatever else shares the
 * cores) must not delay an advert by Master_Down_Interval: that is a false failover.
 * keepalived offers realtime scheduling for the same reason (vrrp_rt_priority); a strong
 * nice is enough for a thread that is idle almost all the time, and cannot starve others.
 */
const ELECTION_NICE = -15;
/** How long the data plane may take to prove it reaches its backends before health checks alone decide. */
const VERIFY_TIMEOUT_MS = 10_000;

function post(msg: FromWorker): void {
  parentPort?.postMessage(msg);
}

async function main(): Promise<void> {
  const data = workerData as ElectionWorkerData;
  const c = data.cluster;
  // Our lines go to stdout as before, and to the main thread for the admin API's event stream.
  const log = createLogger({ level: data.logLevel, format: data.logFormat, node: data.nodeName, tap: (entry) => post({ type: 'log', entry }) }).child({ component: 'election' });
  raiseThreadPriority(log);

  const key = loadSecret({ file: c.key_file, env: c.key_env }, 'cluster', 'cluster key', 16, { file: 'key_file', env: 'key_env' });
  // This thread's own copy of the environment (the host gave it one without the other
  // secrets): nothing it starts from here on inherits the key.
  if (c.key_env !== undefined) delete process.env[c.key_env];
  const vipAddresses = c.vips.map((v) => v.address.split('/')[0] ?? v.address);
  const address = c.address ?? interfaceIPv4(c.interface, vipAddresses);
  if (address === undefined) {
    throw new HaloError('HALO_ERR_ELECTION_SOCKET', `cluster.interface: ${c.interface} has no IPv4 address (other than the VIPs); give it one or set cluster.address`);
  }

  // keepalived tracks the VRRP interface itself with weight 0: no link, no mastership.
  const linkNames = [...new Set([c.interface, ...c.track.interfaces.map((t) => t.name)])];
  const objects: TrackedObject[] = [
    ...linkNames.map((name) => ({ kind: 'interface' as const, name, weight: c.track.interfaces.find((t) => t.name === name)?.weight ?? 0 })),
    ...c.track.services.map((s) => ({ kind: 'service' as const, name: s.name, weight: s.weight })),
    ...c.track.scripts.map((s) => ({ kind: 'script' as const, name: s.name, weight: s.weight })),
    { kind: 'liveness' as const, name: 'data-plane', weight: 0 },
  ];
  const tracker = new Tracker(c.priority, objects);

  const vip = new VipManager({
    vips: c.vips.map((v) => ({ address: v.address, interface: v.interface ?? c.interface })),
    lifetimeMs: c.vip_lifetime_ms,
    garp: { count: c.garp.count, intervalMs: c.garp.interval_ms },
    log,
  });
  const hooks = new NotifyHooks({ hooks: c.notify, timeoutMs: c.notify.timeout_ms, node: data.nodeName, log });
  const node = new ElectionNode({
    cluster: c,
    nodeName: data.nodeName,
    address,
    key,
    log,
    clock: systemClock,
    vip,
    hooks,
    makeTransport: (onMessage) =>
      new ElectionTransport({ ...c.transport, interfaceName: c.interface, localAddress: address, onMessage }),
    onStatus: (status) => post({ type: 'status', status }),
    tracking: () => tracker.status(),
    // With replication a node starts with empty tables: it must not preempt until it has the master's.
    synced: data.startSynced,
  });

  const track = (kind: TrackedObject['kind'], name: string, ok: boolean, cause: string) => {
    const events = tracker.set(kind, name, ok, cause);
    if (events.length === 0) return;
    if (kind === 'interface' && ok) verifyBackends(`interface ${name} is back`);
    log.info('track_change', { state: node.state, object: `${kind} ${name}`, ok, cause, priority: tracker.effectivePriority() });
    for (const e of events) node.feed(e);
  };

  const links = new LinkMonitor({ interfaces: linkNames, log, onChange: (name, up, cause) => track('interface', name, up, cause) });
  const addresses = new AddressMonitor({
    addresses: c.vips.map((v) => ({ address: v.address.split('/')[0] ?? v.address, interface: v.interface ?? c.interface })),
    log,
    onDeleted: (a, iface) => node.vipDeleted(a, iface),
  });
  const scripts = new TrackScripts({ scripts: c.track.scripts, log, onChange: (name, ok, cause) => track('script', name, ok, cause) });

  // A node whose data plane cannot serve must not take the VIP from a live master that can:
  // a service with no healthy backend, or a node that has not yet checked, afresh, that it
  // reaches its backends (at start, and when a link comes back: no ARP entries yet, pooled
  // connections maybe dead, health states from before the cut).
  const unhealthy = new Set<string>();
  let verifying: string | undefined;
  let notReady: string | undefined;
  const updateReadiness = () => {
    const reasons = [...(unhealthy.size > 0 ? [`no healthy backend in ${[...unhealthy].join(', ')}`] : []), ...(verifying !== undefined ? [verifying] : [])];
    const next = reasons.length === 0 ? undefined : reasons.join('; ');
    if (next === notReady) return;
    notReady = next;
    log.info(next === undefined ? 'data_plane_ready' : 'data_plane_not_ready', { state: node.state, cause: next === undefined ? 'every service reaches a healthy backend' : `${next}: will not preempt a live master` });
    node.feed(next === undefined ? { type: 'ready', ready: true } : { type: 'ready', ready: false, reason: next });
  };
  const serviceReadiness = (name: string, healthy: boolean) => {
    if (healthy) unhealthy.delete(name);
    else unhealthy.add(name);
    updateReadiness();
  };
  let verifyRound = 0;
  const verifyBackends = (why: string) => {
    verifyRound += 1;
    verifying = `verifying the backends are reachable (${why})`;
    updateReadiness();
    post({ type: 'verify', timeoutMs: VERIFY_TIMEOUT_MS });
  };
  const verified = (ok: boolean, cause: string) => {
    // Only the answer to the latest request counts; an older round's answer is stale.
    if (--verifyRound > 0) return;
    verifyRound = 0;
    if (!ok) log.warn('backends_unverified', { state: node.state, cause: `${cause}; health checks decide from here` });
    verifying = undefined;
    updateReadiness();
  };

  let lastTick = systemClock.now();
  let lastCheck = lastTick;
  let stalled = false;
  const liveness = setInterval(() => {
    const now = systemClock.now();
    // This check itself late by far more than its period: the whole process was stopped
    // (SIGSTOP, a paused VM), not the data plane alone. That time is nobody's fault; the
    // ticks sent since are still on their way, so the data plane gets it back.
    const late = now - lastCheck - LIVENESS_CHECK_MS;
    lastCheck = now;
    if (late > OWN_STALL_MS) lastTick += late;
    const age = now - lastTick;
    if (!stalled && age > c.liveness_timeout_ms) {
      stalled = true;
      track('liveness', 'data-plane', false, `data plane stalled: no liveness tick for ${Math.round(age)} ms`);
    }
  }, LIVENESS_CHECK_MS);

  let stopping = false;
  const stop = async (cause: string) => {
    if (stopping) return;
    stopping = true;
    clearInterval(liveness);
    // The handover first: monitors and scripts can take a moment to stop, the VIP must not wait.
    await node.shutdown(cause);
    await Promise.all([scripts.stop(), links.stop(), addresses.stop()]);
    post({ type: 'stopped' });
    parentPort?.close();
  };

  // One object for every request: a reload leaves the new cluster settings in it.
  const control: WorkerControlDeps = { node, tracker, hooks, log, clock: systemClock, nodeName: data.nodeName, cluster: c };
  parentPort?.on('message', (msg: ToWorker) => {
    switch (msg.type) {
      case 'tick':
        lastTick = systemClock.now();
        if (stalled) {
          stalled = false;
          track('liveness', 'data-plane', true, 'data plane ticks again');
        }
        break;
      case 'service':
        if (c.track.services.some((s) => s.name === msg.name)) track('service', msg.name, msg.healthy, msg.healthy ? 'a backend is healthy' : 'no healthy backend');
        serviceReadiness(msg.name, msg.healthy);
        break;
      case 'verified':
        verified(msg.ok, msg.cause);
        break;
      case 'master_lost':
        log.info('master_lost_hint', { state: node.state, master: msg.nodeId, cause: msg.cause });
        node.feed({ type: 'master_lost', nodeId: msg.nodeId, cause: msg.cause });
        break;
      case 'synced':
        if (node.machine.synced !== msg.synced) {
          log.info(msg.synced ? 'tables_synced' : 'tables_not_synced', { state: node.state, cause: msg.cause });
          node.feed({ type: 'synced', synced: msg.synced });
        }
        break;
      case 'shutdown':
        void stop(msg.cause);
        break;
      case 'control':
        if (stopping) post({ type: 'control_result', id: msg.id, result: { ok: false, message: `${data.nodeName} is stopping` } });
        else void handleControl(msg.request, control).then((result) => post({ type: 'control_result', id: msg.id, result }));
        break;
    }
  });

  // Before `start`: a positive weight's bonus, or an object already failing.
  for (const e of tracker.initialEvents()) node.feed(e);
  const initial = await links.start();
  for (const [name, up] of initial) {
    for (const e of tracker.set('interface', name, up, up ? 'link up' : 'link down at start')) node.feed(e);
  }
  await addresses.start();
  verifyBackends('start');
  await vip.prepare();
  await node.start();
  scripts.start();
  post({ type: 'ready', status: node.status() });
}

/** On Linux, setpriority() on a thread id changes that thread only: this one, not the data plane. */
function raiseThreadPriority(log: ReturnType<typeof createLogger>): void {
  let tid: number;
  try {
    tid = Number(readlinkSync('/proc/thread-self').split('/').at(-1));
  } catch {
    log.debug('election_priority', { cause: 'no /proc/thread-self (not Linux?): runs at normal priority' });
    return;
  }
  try {
    setPriority(tid, ELECTION_NICE);
    log.info('election_priority', { thread: tid, nice: ELECTION_NICE, cause: 'adverts keep their timing under data-plane load' });
  } catch (err) {
    log.warn('election_priority', { thread: tid, nice: 0, cause: `cannot raise the election thread's priority (${(err as NodeJS.ErrnoException).code ?? String(err)}; needs root or CAP_SYS_NICE): heavy load may delay adverts` });
  }
}

main().catch((err: unknown) => {
  const code = err instanceof HaloError ? err.code : 'HALO_ERR_ELECTION';
  post({ type: 'fatal', code, message: (err as Error).message ?? String(err) });
});
