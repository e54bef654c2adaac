/**
 * Records when adverts reach a node, after its netfilter: a small listener in the node's
 * namespace joins the advert group (multicast delivers a copy to every socket bound to
 * the port, so halo's own socket is not disturbed) and prints arrival time, sender and
 * sequence of each. From the sequence numbers a gap tells dropped adverts from late ones:
 * what decides whether a takeover under loss came from the loss alone or from a master
 * whose timer ran late on a busy machine. Multicast only: a second socket on a unicast
 * port would steal datagrams from halo.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { isAlive, signal } from '../../../src/app/lab/system.js';

export interface AdvertArrival {
  /** wall ms (sub-ms) when the listener got it */
  at: number;
  node: string;
  seq: number;
  priority: number;
}

export interface AdvertGap {
  /** wall ms of the advert that ended the gap */
  at: number;
  ms: number;
  /** adverts missing in between, from the sequence numbers */
  missing: number;
}

// Reads the wire layout's fixed offsets (src/core/election/advert.ts): priority at 6,
// sequence at 26 (uint64), node id length at 34, node id from 35. The HMAC is not checked:
// only the lab's own nodes send to this group.
const SCRIPT = `
import dgram from 'node:dgram';
const [group, port, address, maxMs] = process.argv.slice(1);
const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true });
sock.on('message', (b) => {
  if (b.length < 36 || b.toString('ascii', 0, 4) !== 'HALO') return;
  const at = performance.timeOrigin + performance.now();
  const n = b[34];
  process.stdout.write(at.toFixed(1) + ' ' + b.readBigUInt64BE(26) + ' ' + b[6] + ' ' + b.toString('ascii', 35, 35 + n) + '\\n');
});
sock.bind(Number(port), () => { sock.addMembership(group, address); process.stdout.write('ready\\n'); });
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
setTimeout(() => process.exit(0), Number(maxMs)).unref();
`;

export class AdvertRecorder {
  readonly arrivals: AdvertArrival[] = [];
  readonly #child: ChildProcess;
  readonly #closed: Promise<void>;
  readonly ready: Promise<boolean>;

  constructor(namespace: string, group: string, port: number, address: string, maxMs: number) {
    const args = ['netns', 'exec', namespace, process.execPath, '--input-type=module', '-e', SCRIPT, group, String(port), address, String(Math.ceil(maxMs))];
    this.#child = spawn('ip', args, { stdio: ['pipe', 'pipe', 'ignore'] });
    let buf = '';
    let onReady: (ok: boolean) => void = () => undefined;
    this.ready = new Promise((r) => (onReady = r));
    this.#child.stdout?.setEncoding('utf8');
    this.#child.stdout?.on('data', (chunk: string) => {
      buf += chunk;
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      for (const line of lines) {
        if (line === 'ready') onReady(true);
        const [at, seq, priority, node] = line.split(' ');
        if (node !== undefined) this.arrivals.push({ at: Number(at), seq: Number(seq), priority: Number(priority), node });
      }
    });
    this.#closed = new Promise((r) => this.#child.once('close', () => r()));
    this.#closed.then(() => onReady(false), () => onReady(false));
    this.#child.once('error', () => onReady(false));
  }

  /** End the listener (stdin closed; SIGKILL if it lingers) and return what it heard. */
  async stop(): Promise<AdvertArrival[]> {
    this.#child.stdin?.end();
    const pid = this.#child.pid;
    const timer = setTimeout(() => pid !== undefined && isAlive(pid) && signal(pid, 'SIGKILL'), 2000);
    await this.#closed;
    clearTimeout(timer);
    return this.arrivals;
  }
}

/** Gaps between consecutive adverts from one sender (one boot: sequence numbers only grow). */
export function advertGaps(arrivals: readonly AdvertArrival[], node: string): AdvertGap[] {
  const from = arrivals.filter((a) => a.node === node).sort((a, b) => a.at - b.at);
  const gaps: AdvertGap[] = [];
  for (let i = 1; i < from.length; i++) {
    const [a, b] = [from[i - 1] as AdvertArrival, from[i] as AdvertArrival];
    if (b.seq <= a.seq) continue; // a restart (new epoch) or a duplicate: no gap to speak of
    gaps.push({ at: b.at, ms: b.at - a.at, missing: b.seq - a.seq - 1 });
  }
  return gaps;
}

/** How many runs of 1, 2, ... consecutive adverts went missing ("1:45 2:1 3:0"), up to maxRun (the last counts maxRun or more). */
export function missingRuns(gaps: readonly AdvertGap[], maxRun: number): string {
  const runs = Array.from({ length: maxRun }, () => 0);
  for (const g of gaps) if (g.missing > 0) runs[Math.min(g.missing, maxRun) - 1] = (runs[Math.min(g.missing, maxRun) - 1] ?? 0) + 1;
  return runs.map((n, i) => `${i + 1}${i + 1 === maxRun ? '+' : ''}:${n}`).join(' ');
}
