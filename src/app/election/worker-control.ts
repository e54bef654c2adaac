/**
 * The operator's requests inside the election worker: a planned handover and its hold
 * (`halo failover`), the end of a hold, and the live election settings of a config
 * reload. Each answers with a ControlResult; none throws.
 */
import type { ClusterConfig } from '../../config/cluster-schema.js';
import type { Clock } from '../../core/clock.js';
import type { TrackEvent, TrackKind, Tracker } from '../../core/election/tracking.js';
import type { Logger, LogLevel } from '../../adapters/logger.js';
import type { NotifyHooks } from '../../adapters/notify-hooks.js';
import type { ControlResult } from '../control/control-types.js';
import type { ElectionNode } from './election-node.js';

export type WorkerControlRequest =
  | { op: 'failover'; holdMs: number }
  | { op: 'release' }
  /** Only the live fields may differ from the running config (config-diff.ts checked). */
  | { op: 'reconfigure'; cluster: ClusterConfig; logLevel?: LogLevel };

export interface WorkerControlDeps {
  node: ElectionNode;
  tracker: Tracker;
  hooks: NotifyHooks;
  log: Logger;
  clock: Clock;
  nodeName: string;
  cluster: ClusterConfig;
}

const POLL_MS = 10;

export async function handleControl(req: WorkerControlRequest, deps: WorkerControlDeps): Promise<ControlResult> {
  try {
    switch (req.op) {
      case 'failover':
        return await failover(req.holdMs, deps);
      case 'release':
        return release(deps);
      case 'reconfigure':
        return reconfigure(req.cluster, req.logLevel, deps);
    }
  } catch (err) {
    return { ok: false, message: `election: ${(err as Error).message}` };
  }
}

/** The handover, then wait for the outcome: another node's adverts, or ourselves master again. */
async function failover(holdMs: number, deps: WorkerControlDeps): Promise<ControlResult> {
  const { node, nodeName, cluster: c } = deps;
  const before = node.status();
  if (before.state !== 'MASTER') {
    const m = before.master;
    const where = m === undefined ? '' : `; the master is ${m.nodeId} (${m.address})`;
    return { ok: false, message: `${nodeName} is ${before.state}, not MASTER${where}: run halo failover on the master` };
  }
  const cause = `operator: halo failover${holdMs > 0 ? `, hold ${formatDuration(holdMs)}` : ', no hold'}`;
  deps.log.info('failover_requested', { state: 'MASTER', hold_ms: holdMs, cause });
  const started = deps.clock.now();
  node.handover(holdMs, cause);
  // Our own Master_Down_Interval at priority 1 is about (down_adverts + 1) intervals: past that
  // with nobody heard, we are master again.
  const boundMs = Math.min(60_000, (c.down_adverts + 3) * c.advert_interval_ms + 1000);
  for (;;) {
    await new Promise((r) => setTimeout(r, POLL_MS));
    const s = node.status();
    const waited = Math.round(deps.clock.now() - started);
    const until = holdMs > 0 ? ` and keeps out of preemption (advertising priority 1) for ${formatDuration(holdMs)}, until ${new Date(Date.now() + holdMs - waited).toISOString()}, \`halo failover --release\` or a restart` : ' (no hold: it preempts back if preempt is on)';
    if (s.state === 'BACKUP' && s.master !== undefined) {
      return { ok: true, message: `${nodeName} handed over to ${s.master.nodeId} (priority ${s.master.priority}) in ${waited} ms; ${nodeName} is BACKUP${until}` };
    }
    if (s.state !== 'BACKUP') {
      return { ok: false, message: `no other node took over within ${waited} ms: ${nodeName} is ${s.state} again${s.state === 'MASTER' ? ' (advertising priority 1 while held)' : ''}; is a backup running?` };
    }
    if (waited > boundMs) return { ok: false, message: `no other node announced itself within ${waited} ms; ${nodeName} is BACKUP and will take the VIP back if none does` };
  }
}

function release(deps: WorkerControlDeps): ControlResult {
  const { node, nodeName } = deps;
  const hold = node.status().hold;
  if (hold === undefined) return { ok: true, message: `${nodeName} is not held: nothing to release` };
  node.feed({ type: 'release', cause: 'released by the operator (halo failover --release)' });
  const s = node.status();
  const m = s.master;
  const next = s.state === 'BACKUP' && m !== undefined ? (s.priority > m.priority ? `; it preempts ${m.nodeId} (priority ${m.priority}) if preempt is on and it is synced and ready` : `; ${m.nodeId} (priority ${m.priority}) stays master`) : '';
  return { ok: true, message: `${nodeName}: hold released, advertising priority ${s.priority} again (${s.state})${next}` };
}

/** Priority, preempt, preempt_delay, tracked weights, notify hooks, log level. */
function reconfigure(next: ClusterConfig, logLevel: LogLevel | undefined, deps: WorkerControlDeps): ControlResult {
  const { node, tracker, cluster: c } = deps;
  const oldPriority = tracker.configuredPriority;
  const events = tracker.reconfigure(next.priority, trackWeights(next));
  deps.hooks.setHooks(next.notify, next.notify.timeout_ms);
  if (logLevel !== undefined) deps.log.setLevel(logLevel);
  node.feed({ type: 'configure', priority: next.priority, preempt: next.preempt, preemptDelayMs: next.preempt_delay_ms });
  const why = oldPriority !== next.priority ? `reload: priority ${oldPriority} -> ${next.priority}` : 'reload: track weights';
  for (const e of events) node.feed(withCause(e, why));
  const changes = [
    oldPriority !== next.priority ? `priority ${oldPriority} -> ${next.priority}` : undefined,
    c.preempt !== next.preempt ? `preempt ${c.preempt} -> ${next.preempt}` : undefined,
    c.preempt_delay_ms !== next.preempt_delay_ms ? `preempt_delay_ms ${c.preempt_delay_ms} -> ${next.preempt_delay_ms}` : undefined,
  ].filter((x): x is string => x !== undefined);
  deps.cluster = next;
  const s = node.status();
  return { ok: true, message: `election: ${changes.length > 0 ? changes.join(', ') : 'hooks and weights'} applied; ${s.state} at priority ${s.priority}` };
}

function withCause(e: TrackEvent, cause: string): TrackEvent {
  return e.type === 'priority' ? { ...e, cause } : e;
}

/** The weights the worker tracks its objects with (the cluster interface is always tracked, weight 0 unless listed). */
export function trackWeights(c: ClusterConfig): Array<{ kind: TrackKind; name: string; weight: number }> {
  const links = [...new Set([c.interface, ...c.track.interfaces.map((t) => t.name)])];
  return [
    ...links.map((name) => ({ kind: 'interface' as const, name, weight: c.track.interfaces.find((t) => t.name === name)?.weight ?? 0 })),
    ...c.track.services.map((s) => ({ kind: 'service' as const, name: s.name, weight: s.weight })),
    ...c.track.scripts.map((s) => ({ kind: 'script' as const, name: s.name, weight: s.weight })),
  ];
}

export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
