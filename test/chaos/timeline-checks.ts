/**
 * The random runner's two cluster-wide checks, on timelines (pure: the runner collects,
 * this judges). Per node: its election state from its own `state_change` log lines, its
 * VIP from `ip monitor address`, and when the runner had it out of play (killed and not
 * yet back, stopped, link down, partitioned). A node out of play does not count: a
 * partitioned master keeps its VIP by design until it hears the new master.
 *
 * - two_masters: two nodes in play both MASTER, each in play and MASTER for at least
 *   `graceMs` (one advert interval, as issue 6 words it, plus the log's slack): a new
 *   master and the old one overlap until the old one hears the new one's first advert.
 * - two_vip_holders: the same for the VIP, with the handover grace on top: make-before-
 *   break keeps the old master's VIP that long after it stepped down, so a node that
 *   left MASTER less than `vipGraceMs` ago is not counted either.
 * - no_master_too_long: no node in play is MASTER for longer than `boundMs`.
 */

export interface StatePoint {
  t: number;
  state: string;
}

export interface VipPoint {
  t: number;
  holds: boolean;
}

export interface PlayInterval {
  from: number;
  /** undefined: still out at the end of the window */
  to?: number;
}

export interface NodeTimeline {
  node: string;
  states: readonly StatePoint[];
  vip: readonly VipPoint[];
  /** when the node did not count, sorted, not overlapping */
  out: readonly PlayInterval[];
}

export interface TimelineLimits {
  /** two masters are tolerated this long after a node comes back into play */
  graceMs: number;
  /** the same for two VIP holders */
  vipGraceMs: number;
  /** the longest time with no master in play */
  boundMs: number;
}

export interface TimelineViolation {
  check: 'two_masters' | 'two_vip_holders' | 'no_master_too_long';
  from: number;
  to: number;
  nodes: string[];
  message: string;
}

function valueAt<P extends { t: number }>(points: readonly P[], t: number): P | undefined {
  let found: P | undefined;
  for (const p of points) {
    if (p.t > t) break;
    found = p;
  }
  return found;
}

/** In play at t, and since when (the window start when it never left). */
function playSince(tl: NodeTimeline, t: number, windowFrom: number): number | undefined {
  let since = windowFrom;
  for (const o of tl.out) {
    if (o.from > t) break;
    if (o.to === undefined || o.to > t) return undefined;
    since = Math.max(since, o.to);
  }
  return since;
}

export function checkTimelines(timelines: readonly NodeTimeline[], window: { from: number; to: number }, limits: TimelineLimits): TimelineViolation[] {
  const cuts = new Set<number>([window.from, window.to]);
  const add = (t: number) => {
    if (t > window.from && t < window.to) cuts.add(t);
  };
  for (const tl of timelines) {
    for (const p of tl.states) {
      add(p.t);
      add(p.t + limits.graceMs);
      add(p.t + limits.vipGraceMs);
    }
    for (const p of tl.vip) {
      add(p.t);
      add(p.t + limits.vipGraceMs);
    }
    for (const o of tl.out) {
      add(o.from);
      if (o.to !== undefined) {
        add(o.to);
        add(o.to + limits.graceMs);
        add(o.to + limits.vipGraceMs);
      }
    }
  }
  add(window.from + limits.graceMs);
  add(window.from + limits.vipGraceMs);
  const times = [...cuts].sort((a, b) => a - b);
  const out: TimelineViolation[] = [];
  const open = new Map<TimelineViolation['check'], { from: number; nodes: Set<string> }>();
  const close = (check: TimelineViolation['check'], to: number) => {
    const o = open.get(check);
    if (o === undefined) return;
    open.delete(check);
    const ms = to - o.from;
    if (check === 'no_master_too_long' && ms <= limits.boundMs) return;
    if (check !== 'no_master_too_long' && ms <= 0) return;
    const nodes = [...o.nodes].sort();
    const message =
      check === 'no_master_too_long'
        ? `no node in play was MASTER for ${ms} ms (bound ${limits.boundMs} ms)`
        : `${nodes.join(' and ')} ${check === 'two_masters' ? 'were MASTER' : 'held the VIP'} at once for ${ms} ms, past the grace after the heal`;
    out.push({ check, from: o.from, to, nodes, message });
  };
  for (let i = 0; i < times.length - 1; i++) {
    const t = times[i] as number;
    const masters: string[] = [];
    const settledMasters: string[] = [];
    const settledHolders: string[] = [];
    for (const tl of timelines) {
      const since = playSince(tl, t, window.from);
      if (since === undefined) continue;
      const state = valueAt(tl.states, t);
      const master = state?.state === 'MASTER';
      if (master) masters.push(tl.node);
      // A new master and the old one overlap until the old one hears the new one's advert
      // (VRRP preemption works so): only a master for longer than the grace counts.
      if (master && t - Math.max(since, state.t) >= limits.graceMs) settledMasters.push(tl.node);
      // A master that just stepped down keeps the VIP for the handover grace.
      const handingOver = !master && state !== undefined && t - state.t < limits.vipGraceMs;
      const vip = valueAt(tl.vip, t);
      if (vip?.holds === true && t - Math.max(since, vip.t) >= limits.vipGraceMs && !handingOver) settledHolders.push(tl.node);
    }
    const states: Array<[TimelineViolation['check'], boolean, string[]]> = [
      ['two_masters', settledMasters.length >= 2, settledMasters],
      ['two_vip_holders', settledHolders.length >= 2, settledHolders],
      ['no_master_too_long', masters.length === 0, []],
    ];
    for (const [check, bad, nodes] of states) {
      if (!bad) {
        close(check, t);
        continue;
      }
      const o = open.get(check) ?? { from: t, nodes: new Set<string>() };
      for (const n of nodes) o.nodes.add(n);
      open.set(check, o);
    }
  }
  for (const check of [...open.keys()]) close(check, window.to);
  return out;
}
