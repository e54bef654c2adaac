/**
 * Election state machines on a fake network, for the core's multi-node tests: adverts
 * arrive 1 ms after they are sent unless the link is cut, time is a plain number (ms).
 */
import { ElectionStateMachine, type ElectionEvent, type ElectionOptions } from '../../src/core/election/state-machine.js';

export type NetNodeSpec = Partial<ElectionOptions> & { nodeId: string; address: string; priority: number };

/**
 * A few machines on a fake network: adverts arrive 1 ms after they are sent, unless the
 * link is cut. Bounded in steps so a livelock fails the test instead of hanging it.
 */
export class FakeNet {
  readonly nodes = new Map<string, { m: ElectionStateMachine; vip: boolean; alive: boolean }>();
  readonly log: string[] = [];
  readonly garps: string[] = [];
  #queue: { at: number; to: string; event: ElectionEvent }[] = [];
  #cut = new Set<string>();
  now = 0;

  constructor(specs: NetNodeSpec[]) {
    for (const s of specs) this.nodes.set(s.nodeId, { m: new ElectionStateMachine({ intervalMs: 100, ...s }), vip: false, alive: true });
  }

  cut(a: string, b: string): void {
    this.#cut.add(`${a}>${b}`).add(`${b}>${a}`);
  }

  heal(): void {
    this.#cut.clear();
  }

  kill(id: string): void {
    this.#node(id).alive = false;
    this.#queue = this.#queue.filter((q) => q.to !== id);
  }

  deliver(id: string, event: ElectionEvent): void {
    const n = this.#node(id);
    if (!n.alive) return;
    for (const a of n.m.step(event, this.now)) {
      if (a.type === 'add_vip') n.vip = true;
      if (a.type === 'remove_vip') n.vip = false;
      if (a.type === 'become') this.log.push(`${this.now} ${id} ${a.from}->${a.state} ${a.cause}`);
      if (a.type === 'garp') this.garps.push(`${this.now} ${id} ${a.reason}`);
      if (a.type !== 'send_advert') continue;
      for (const [to] of this.nodes) {
        if (to === id || this.#cut.has(`${id}>${to}`)) continue;
        const from = { nodeId: id, address: n.m.address };
        this.#queue.push({ at: this.now + 1, to, event: { type: 'advert', from, priority: a.priority, intervalMs: 100, synced: a.synced } });
      }
    }
  }

  runUntil(until: number): void {
    for (let steps = 0; steps < 100_000; steps++) {
      let next = Number.POSITIVE_INFINITY;
      for (const q of this.#queue) next = Math.min(next, q.at);
      for (const n of this.nodes.values()) if (n.alive) next = Math.min(next, n.m.nextDeadline() ?? Number.POSITIVE_INFINITY);
      if (next > until) {
        this.now = until;
        return;
      }
      this.now = next;
      const due = this.#queue.filter((q) => q.at <= next);
      this.#queue = this.#queue.filter((q) => q.at > next);
      for (const q of due) this.deliver(q.to, q.event);
      for (const [id, n] of this.nodes) {
        const d = n.m.nextDeadline();
        if (n.alive && d !== undefined && d <= next) this.deliver(id, { type: 'timer' });
      }
    }
    throw new Error('fake network did not settle within 100000 steps');
  }

  masters(): string[] {
    return [...this.nodes].filter(([, n]) => n.alive && n.m.state === 'MASTER').map(([id]) => id);
  }

  vips(): string[] {
    return [...this.nodes].filter(([, n]) => n.alive && n.vip).map(([id]) => id);
  }

  #node(id: string): { m: ElectionStateMachine; vip: boolean; alive: boolean } {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }
}

export function startAll(net: FakeNet): void {
  for (const id of net.nodes.keys()) net.deliver(id, { type: 'start' });
}
