/**
 * What the benchmark needs from the machine (tools, the nginx stream module, two cores)
 * and what the report says about it (cpu model, versions, load).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';

export const NGINX_STREAM_MODULE = '/usr/lib/nginx/modules/ngx_stream_module.so';

/** Debian packages that provide each tool (for the "missing" message). */
export const TOOL_PACKAGES: Record<string, string> = {
  wrk: 'wrk',
  haproxy: 'haproxy',
  nginx: 'nginx',
  iperf3: 'iperf3',
  gcc: 'gcc',
  taskset: 'util-linux',
};

function capture(cmd: string, args: readonly string[]): string | undefined {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000 });
  if (r.error) return undefined;
  return `${r.stdout ?? ''}${r.stderr ?? ''}`;
}

export function hasTool(cmd: string): boolean {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8', timeout: 5000 });
  return r.status === 0;
}

export function missingTools(): string[] {
  return Object.keys(TOOL_PACKAGES).filter((t) => !hasTool(t));
}

export function hasNginxStream(): boolean {
  return existsSync(NGINX_STREAM_MODULE);
}

function firstLine(text: string | undefined): string {
  return (text ?? '').split('\n').map((l) => l.trim()).find((l) => l.length > 0) ?? 'unknown';
}

export function cpuModel(): string {
  const lscpu = capture('lscpu', []);
  const m = lscpu ? /^Model name:\s*(.+)$/m.exec(lscpu) : null;
  return m?.[1]?.trim() ?? cpus()[0]?.model ?? 'unknown cpu';
}

export function coreCount(): number {
  const n = Number(firstLine(capture('nproc', [])));
  return Number.isInteger(n) && n > 0 ? n : cpus().length;
}

export function machineLine(): string {
  let kernel = 'unknown';
  try {
    kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  } catch {
    // not Linux: the kernel is left unknown
  }
  return `Machine: ${coreCount()} cores (nproc), ${cpuModel()}, Linux ${kernel}.`;
}

export function versionsLine(): string {
  const v = [
    `node ${process.version}`,
    firstLine(capture('haproxy', ['-v'])).replace(/ - https?:\S+/, ''),
    firstLine(capture('nginx', ['-v'])).replace(/^nginx version: /, ''),
    firstLine(capture('wrk', ['-v'])).replace(/ Copyright.*$/, ''),
    firstLine(capture('iperf3', ['--version'])),
    firstLine(capture('gcc', ['--version'])),
  ];
  return `Versions: ${v.join('; ')}.`;
}

export function loadLine(): string {
  return loadavg().map((x) => x.toFixed(2)).join(', ');
}

function cpuTicks(): { idle: number; total: number } | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    if (f.length < 5 || f.some((x) => !Number.isFinite(x))) return undefined;
    // idle + iowait count as idle
    return { idle: (f[3] ?? 0) + (f[4] ?? 0), total: f.reduce((a, b) => a + b, 0) };
  } catch {
    return undefined;
  }
}

/** Share of all cores busy over the next `ms` (from /proc/stat), undefined off Linux. */
export async function busyPercent(ms: number): Promise<number | undefined> {
  const a = cpuTicks();
  await new Promise<void>((resolve) => setTimeout(resolve, ms));
  const b = cpuTicks();
  if (!a || !b || b.total <= a.total) return undefined;
  return 100 * (1 - (b.idle - a.idle) / (b.total - a.total));
}
