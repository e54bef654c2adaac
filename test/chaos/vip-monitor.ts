/**
 * When each node held the VIP, to the millisecond, without polling: one
 * `ip -n NS monitor address` per lb namespace (line-buffered through stdbuf), seeded
 * with one `ip addr show` so the timeline starts with what each node held already.
 * A lifetime refresh (`addr replace`) prints the address again: still held.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import type { VipPoint } from './timeline-checks.js';

const LINE = /^(Deleted )?\d+:\s+\S+\s+inet (\d+\.\d+\.\d+\.\d+)\//;

/** Whether one `ip monitor address` line says the VIP came (true) or went (false); undefined for anything else. */
export function vipChange(line: string, vip: string): boolean | undefined {
  const m = LINE.exec(line);
  if (m === null || m[2] !== vip) return undefined;
  return m[1] === undefined;
}

function holdsNow(namespace: string, ifname: string, vip: string): Promise<boolean> {
  return new Promise((resolve) => {
    execFile('ip', ['-n', namespace, '-j', 'addr', 'show', 'dev', ifname], { timeout: 5000 }, (err, stdout) => {
      if (err) return resolve(false);
      try {
        const rows = JSON.parse(stdout) as Array<{ addr_info?: Array<{ local?: string }> }>;
        resolve(rows.some((r) => (r.addr_info ?? []).some((a) => a.local === vip)));
      } catch {
        resolve(false);
      }
    });
  });
}

export class VipMonitor {
  readonly points = new Map<string, VipPoint[]>();
  readonly #children: ChildProcess[] = [];

  private constructor(readonly vip: string) {}

  static async start(nodes: ReadonlyArray<{ node: string; namespace: string }>, vip: string, ifname = 'eth0'): Promise<VipMonitor> {
    const mon = new VipMonitor(vip);
    for (const { node, namespace } of nodes) {
      const points: VipPoint[] = [];
      mon.points.set(node, points);
      const child = spawn('stdbuf', ['-oL', 'ip', '-n', namespace, 'monitor', 'address', 'dev', ifname], { stdio: ['ignore', 'pipe', 'ignore'] });
      mon.#children.push(child);
      let buf = '';
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (chunk: string) => {
        const t = Date.now();
        buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const holds = vipChange(buf.slice(0, nl), vip);
          buf = buf.slice(nl + 1);
          if (holds !== undefined && points.at(-1)?.holds !== holds) points.push({ t, holds });
        }
      });
      // The monitor is listening before the snapshot is taken: a change in between is seen by both, in order.
      await new Promise((r) => setTimeout(r, 50));
      const t = Date.now();
      const holds = await holdsNow(namespace, ifname, vip);
      if (points.length === 0) points.push({ t, holds });
    }
    return mon;
  }

  holders(): string[] {
    return [...this.points].filter(([, p]) => p.at(-1)?.holds === true).map(([n]) => n);
  }

  /** Drop points older than `t`, keeping the last one before it (the state at `t`). */
  trim(t: number): void {
    for (const points of this.points.values()) {
      let keepFrom = 0;
      for (let i = 0; i < points.length; i++) if ((points[i] as VipPoint).t <= t) keepFrom = i;
      points.splice(0, keepFrom);
    }
  }

  stop(): void {
    for (const c of this.#children) if (c.exitCode === null) c.kill('SIGKILL');
  }
}
