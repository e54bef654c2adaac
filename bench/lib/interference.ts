/**
 * How much of the proxy's core went to work that is not ours during a sample. The
 * machine is shared (other builds and tests), and a run where something else took the
 * proxy's core says little about the proxy: this puts a number on it from /proc.
 * Estimate: the core's user+system ticks minus the ticks of the processes we pinned to
 * it. Softirq time (loopback packet processing) is left out on both sides.
 */
import { readFileSync } from 'node:fs';

export interface CoreSnapshot {
  readonly busy: number;
  readonly total: number;
  readonly ours: number;
}

/** user+nice+system and the sum of all columns of /proc/stat's "cpuN" line. */
export function parseCoreLine(stat: string, core: number): { busy: number; total: number } | undefined {
  const line = stat.split('\n').find((l) => l.startsWith(`cpu${core} `));
  if (!line) return undefined;
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  if (f.length < 4 || f.some((x) => !Number.isFinite(x))) return undefined;
  const [user = 0, nice = 0, system = 0] = f;
  return { busy: user + nice + system, total: f.reduce((a, b) => a + b, 0) };
}

/** utime+stime (all threads) from /proc/PID/stat; the name in parentheses may hold spaces. */
export function parseProcessTicks(stat: string): number | undefined {
  const close = stat.lastIndexOf(')');
  if (close < 0) return undefined;
  const fields = stat.slice(close + 2).split(' ');
  // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return Number.isFinite(utime) && Number.isFinite(stime) ? utime + stime : undefined;
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

export function snapshot(core: number, pids: readonly number[]): CoreSnapshot | undefined {
  const stat = read('/proc/stat');
  const c = stat === undefined ? undefined : parseCoreLine(stat, core);
  if (!c) return undefined;
  let ours = 0;
  for (const pid of pids) {
    const s = read(`/proc/${pid}/stat`);
    ours += (s === undefined ? undefined : parseProcessTicks(s)) ?? 0;
  }
  return { ...c, ours };
}

/** Percent of the core's time spent busy on processes that are not ours, between two snapshots. */
export function foreignPercent(a: CoreSnapshot, b: CoreSnapshot): number | undefined {
  const total = b.total - a.total;
  if (total <= 0) return undefined;
  const foreign = b.busy - a.busy - (b.ours - a.ours);
  return Math.max(0, Math.min(100, (100 * foreign) / total));
}
