/**
 * `npm run bench:dataplane [-- --quick] [-- --write] [-- --cpu-prof]`: the data-plane
 * benchmark of issue 2. The same backends are reached directly, through halo (http, tcp,
 * udp) and through the references (HAProxy http/tcp with nbthread 1, nginx stream for
 * udp); targets are measured interleaved, the proxy pinned to core 0 and the load
 * generator and backends to core 1. Progress goes to stderr, the markdown report to
 * stdout; --write puts it in the "Data plane" section of docs/benchmarks.md.
 * A benchmark, not a test: it asserts nothing, it reports.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BACKEND_BODY, type Ports } from './lib/configs.js';
import { renderSelfTimes, selfTimes } from './lib/cpuprofile.js';
import { foreignPercent, snapshot } from './lib/interference.js';
import { busyPercent, coreCount, hasNginxStream, loadLine, machineLine, missingTools, TOOL_PACKAGES, versionsLine } from './lib/environment.js';
import { runIperf, runUdpLoad, runWrk, type LoadSettings, type Sample } from './lib/measure.js';
import { freePorts, ProcessGroup, tail, type Managed } from './lib/procs.js';
import { renderSection, replaceSection, type Metric, type Row } from './lib/report.js';
import * as setup from './lib/setup.js';
import { intFlag, parseFlags, runMain } from './lib/cli.js';

const USAGE = `usage: npm run bench:dataplane -- [--quick] [--write] [--runs N] [--seconds S] [--no-build] [--retry-noisy N] [--cpu-prof] [--keep]
  --quick      1 run of 3 s per target (smoke test of the harness)
  --write      also update the "Data plane" section of docs/benchmarks.md
  --runs N     runs per target (default 3)        --seconds S  seconds per run (default 10)
  --no-build   do not run npm run build first     --keep       keep the temp dir (configs, logs)
  --retry-noisy N  repeat a run up to N times (max 3) while other work takes more than 5% of the proxy core
  --cpu-prof   instead of the comparison, profile halo (http, tcp, tcp bulk, udp) under load and print the top self-time functions`;

type Kind = 'wrk' | 'iperf' | 'udp';
const METRIC: Record<Kind, Metric> = { wrk: 'rps', iperf: 'mbps', udp: 'dps' };
const ROWS = ['direct', 'halo http', 'halo tcp', 'HAProxy http', 'HAProxy tcp', 'halo udp', 'nginx udp'] as const;

interface Target {
  readonly row: (typeof ROWS)[number];
  readonly kind: Kind;
  readonly port: number;
  /** The proxy process in front of the backend, undefined for direct. */
  owner?: Managed | undefined;
  skip?: string | undefined;
}

const UDP = { inflight: 64, flows: 4, size: 64 };
const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);
/** Keeps the end of a multi-line message (where the fatal line usually is), on one line. */
const oneLine = (text: string, max: number) => {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `...${flat.slice(-max)}` : flat;
};
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

function options(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      quick: { type: 'boolean', default: false },
      write: { type: 'boolean', default: false },
      runs: { type: 'string' },
      seconds: { type: 'string' },
      'no-build': { type: 'boolean', default: false },
      'cpu-prof': { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      'retry-noisy': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  const positive = intFlag;
  return {
    help: values.help === true,
    write: values.write === true,
    build: values['no-build'] !== true,
    cpuProf: values['cpu-prof'] === true,
    keep: values.keep === true,
    runs: positive(values.runs, values.quick ? 1 : 3, 20, '--runs'),
    seconds: positive(values.seconds, values.quick ? 3 : 10, 600, '--seconds'),
    retryNoisy: values['retry-noisy'] === undefined ? 0 : positive(values['retry-noisy'], 0, 3, '--retry-noisy'),
  };
}

async function allocatePorts(): Promise<Ports> {
  const p = await freePorts(12);
  const at = (i: number) => p[i] as number;
  return {
    httpBackends: [at(0), at(1)],
    iperfBackend: at(2),
    udpBackend: at(3),
    haloHttp: at(4),
    haloTcp: at(5),
    haloIperf: at(6),
    haloUdp: at(7),
    haproxyHttp: at(8),
    haproxyTcp: at(9),
    haproxyIperf: at(10),
    nginxUdp: at(11),
  };
}

/** Runs a start step; on failure returns the reason instead of throwing. */
async function attempt<T>(what: string, fn: () => Promise<T>): Promise<T | string> {
  try {
    return await fn();
  } catch (err) {
    const reason = `${what} failed: ${oneLine((err as Error).message, 300)}`;
    log(reason);
    return reason;
  }
}

function build(notes: string[]): void {
  log('npm run build');
  const r = spawnSync('npm', ['run', 'build'], { cwd: setup.REPO, encoding: 'utf8', timeout: 300_000 });
  if (r.status === 0) return;
  // tsc still emits on type errors elsewhere in a tree under work; say so and go on.
  const note = `npm run build exited ${r.status ?? r.signal}: ${tail(`${r.stdout}${r.stderr}`, 300).replace(/\s+/g, ' ')}`;
  log(note);
  notes.push(note);
  if (!existsSync(join(setup.REPO, 'dist', 'app', 'cli.js'))) throw new Error('dist/app/cli.js is missing after the build: halo cannot run');
}

interface ProfileCase {
  readonly title: string;
  readonly service: 'http' | 'tcp' | 'iperf' | 'udp';
  readonly kind: Kind;
  readonly port: number;
  readonly skip?: string | undefined;
}

/** Runs halo alone with --cpu-prof under each kind of load and prints where its CPU went. */
async function profileHalo(group: ProcessGroup, dir: string, ports: Ports, cores: setup.Cores, seconds: number, cases: readonly ProfileCase[], udpLoad: string | undefined): Promise<void> {
  for (const c of cases) {
    if (c.skip !== undefined) {
      log(`cpu-prof ${c.title}: skipped: ${c.skip}`);
      continue;
    }
    const profDir = join(dir, `prof-${c.service}`);
    const halo = await setup.startHalo(group, dir, ports, cores, { services: [c.service], nodeFlags: ['--cpu-prof', '--cpu-prof-dir', profDir], configName: `halo-${c.service}.yaml` });
    const s = await runOnce(group, c.kind, c.port, { seconds, cpu: cores.load }, udpLoad);
    // SIGTERM lets halo exit normally, which is when node writes the profile.
    const code = await group.stop(halo, 15_000);
    const files = existsSync(profDir) ? readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile')) : [];
    const file = files[0];
    if (!file) {
      log(`cpu-prof ${c.title}: no profile written (halo exit code ${code}); did halo exit on SIGTERM within 15 s?`);
      continue;
    }
    const rows = selfTimes(readFileSync(join(profDir, file), 'utf8'), setup.REPO);
    const unit = c.kind === 'wrk' ? `req/s, p99 ${s.extra?.toFixed(2) ?? '?'} ms` : c.kind === 'iperf' ? 'MB/s' : 'datagrams/s';
    const title = `### halo ${c.title}: top self time over its whole life, ${seconds} s of load (${fmt(s.value)} ${unit}${s.problem ? `, ${s.problem}` : ''}; halo exit ${code})`;
    process.stdout.write(`${renderSelfTimes(title, rows, 25)}\n\n`);
    rmSync(profDir, { recursive: true, force: true });
  }
}

/** Above this share of the proxy core taken by other work, a run is flagged as noisy. */
const NOISY_PERCENT = 5;

async function runOnce(group: ProcessGroup, kind: Kind, port: number, load: LoadSettings, udpLoad: string | undefined): Promise<Sample> {
  if (kind === 'wrk') return runWrk(group, port, load);
  if (kind === 'iperf') return runIperf(group, port, load);
  if (udpLoad === undefined) return { value: 0, problem: 'udp-load was not compiled' };
  return runUdpLoad(group, port, { ...load, binary: udpLoad, ...UDP });
}

async function measure(group: ProcessGroup, t: Target, load: LoadSettings, udpLoad: string | undefined, proxyCore: number | undefined): Promise<Sample> {
  const pids = () => (proxyCore === undefined ? [] : group.pidsOn(proxyCore));
  const before = proxyCore === undefined ? undefined : snapshot(proxyCore, pids());
  const s = await runOnce(group, t.kind, t.port, load, udpLoad);
  const after = proxyCore === undefined ? undefined : snapshot(proxyCore, pids());
  const foreign = before && after ? foreignPercent(before, after) : undefined;
  if (foreign === undefined) return s;
  const noisy = foreign > NOISY_PERCENT ? `other work took ${foreign.toFixed(0)}% of the proxy core` : undefined;
  const problem = [s.problem, noisy].filter((x) => x !== undefined).join(', ');
  return { ...s, foreign, ...(problem ? { problem } : {}) };
}

function describe(t: Target, s: Sample): string {
  const unit = t.kind === 'wrk' ? `req/s, p99 ${s.extra?.toFixed(2) ?? '?'} ms` : t.kind === 'iperf' ? 'MB/s' : 'datagrams/s';
  const foreign = s.foreign === undefined ? '' : `, proxy core ${s.foreign.toFixed(0)}% foreign`;
  return `${t.row} ${t.kind}: ${fmt(s.value)} ${unit}${foreign}${s.problem ? ` (${s.problem})` : ''}`;
}

async function main(argv: string[]): Promise<number> {
  const opts = parseFlags(argv, options, USAGE, log);
  if (typeof opts === 'number') return opts;
  const missing = missingTools();
  for (const need of ['wrk', 'nginx', 'taskset']) {
    if (missing.includes(need)) {
      log(`${need} is required: apt-get install -y ${missing.map((t) => TOOL_PACKAGES[t]).join(' ')}`);
      return 2;
    }
  }
  const notes: string[] = [];
  const group = new ProcessGroup();
  const dir = mkdtempSync(join(tmpdir(), 'halo-bench-'));
  let aborted = false;
  const cleanup = async () => {
    await group.stopAll();
    if (!opts.keep) rmSync(dir, { recursive: true, force: true });
  };
  const onSignal = (sig: NodeJS.Signals) => {
    aborted = true;
    log(`${sig}: stopping every process`);
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('exit', () => group.killAllNow());

  try {
    const loadBefore = loadLine();
    log(`load average before: ${loadBefore}`);
    // The proxy gets one core and the load the other: anything else running skews the ratios.
    const busy = await busyPercent(1000);
    log(`cpu busy over 1 s before starting: ${busy === undefined ? 'unknown' : `${busy.toFixed(0)}%`}`);
    if (busy !== undefined && busy > 15) notes.push(`the machine was not idle at the start (${busy.toFixed(0)}% of all cores busy over 1 s): other work competes for both cores, treat the numbers as noisy`);
    const cores: setup.Cores = coreCount() >= 2 ? { proxy: 0, load: 1 } : { proxy: undefined, load: undefined };
    if (cores.proxy === undefined) notes.push('fewer than 2 cores: nothing was pinned, proxy and load share the machine');
    if (opts.build) build(notes);
    const httpBuilt = existsSync(join(setup.REPO, 'dist', 'adapters', 'proxy', 'http-proxy.js'));
    const ports = await allocatePorts();
    const udpTools = missing.includes('gcc') ? 'gcc is not installed' : await attempt('compiling bench/udp', async () => setup.compileUdpTools(dir));

    await setup.startHttpBackend(group, dir, ports, cores);
    const iperf = missing.includes('iperf3') ? 'iperf3 is not installed' : await attempt('iperf3 server', () => setup.startIperfServer(group, ports, cores));
    const echo = typeof udpTools === 'string' ? udpTools : await attempt('udp echo', () => setup.startUdpEcho(group, udpTools, ports, cores));

    const udpBinary = typeof udpTools === 'string' ? undefined : udpTools.load;
    if (opts.cpuProf) {
      const cases: ProfileCase[] = [
        { title: 'http (wrk)', service: 'http', kind: 'wrk', port: ports.haloHttp, skip: httpBuilt ? undefined : 'dist/adapters/proxy/http-proxy.js does not exist yet' },
        { title: 'tcp (wrk)', service: 'tcp', kind: 'wrk', port: ports.haloTcp },
        { title: 'tcp bulk (iperf3)', service: 'iperf', kind: 'iperf', port: ports.haloIperf, skip: typeof iperf === 'string' ? iperf : undefined },
        { title: 'udp (udp-load)', service: 'udp', kind: 'udp', port: ports.haloUdp, skip: typeof echo === 'string' ? echo : undefined },
      ];
      await profileHalo(group, dir, ports, cores, opts.seconds, cases, udpBinary);
      return 0;
    }

    const haloServices = [...(httpBuilt ? (['http'] as const) : []), 'tcp' as const, ...(typeof iperf === 'string' ? [] : (['iperf'] as const)), ...(typeof echo === 'string' ? [] : (['udp'] as const))];
    const halo = await attempt('halo', () => setup.startHalo(group, dir, ports, cores, { services: haloServices }));
    const haproxy = missing.includes('haproxy') ? 'haproxy is not installed' : await attempt('haproxy', () => setup.startHaproxy(group, dir, ports, cores));
    const nginxUdp = typeof echo === 'string' ? echo : !hasNginxStream() ? 'nginx stream module missing (apt-get install libnginx-mod-stream)' : await attempt('nginx udp', () => setup.startNginxUdp(group, dir, ports, cores));

    const why = (p: Managed | string) => (typeof p === 'string' ? p : undefined);
    const proc = (p: Managed | string) => (typeof p === 'string' ? undefined : p);
    const targets: Target[] = [
      { row: 'direct', kind: 'wrk', port: ports.httpBackends[0] as number },
      { row: 'halo http', kind: 'wrk', port: ports.haloHttp, owner: proc(halo), skip: httpBuilt ? why(halo) : 'the http proxy (src/adapters/proxy/http-proxy.ts) does not exist yet' },
      { row: 'halo tcp', kind: 'wrk', port: ports.haloTcp, owner: proc(halo), skip: why(halo) },
      { row: 'HAProxy http', kind: 'wrk', port: ports.haproxyHttp, owner: proc(haproxy), skip: why(haproxy) },
      { row: 'HAProxy tcp', kind: 'wrk', port: ports.haproxyTcp, owner: proc(haproxy), skip: why(haproxy) },
      { row: 'direct', kind: 'iperf', port: ports.iperfBackend, skip: why(iperf) },
      { row: 'halo tcp', kind: 'iperf', port: ports.haloIperf, owner: proc(halo), skip: why(iperf) ?? why(halo) },
      { row: 'HAProxy tcp', kind: 'iperf', port: ports.haproxyIperf, owner: proc(haproxy), skip: why(iperf) ?? why(haproxy) },
      { row: 'direct', kind: 'udp', port: ports.udpBackend, skip: why(echo) },
      { row: 'halo udp', kind: 'udp', port: ports.haloUdp, owner: proc(halo), skip: why(echo) ?? why(halo) },
      { row: 'nginx udp', kind: 'udp', port: ports.nginxUdp, owner: proc(nginxUdp), skip: why(nginxUdp) },
    ];
    for (const t of targets) {
      if (t.skip === undefined && t.kind === 'wrk') t.skip = await setup.httpCheck(t.port);
      if (t.skip !== undefined) log(`${t.row} ${t.kind}: skipped: ${t.skip}`);
    }

    const samples = new Map<Target, Sample[]>();
    const live = () => targets.filter((t) => t.skip === undefined);
    const alive = (t: Target) => {
      if (t.owner && !t.owner.isRunning()) t.skip = `${t.owner.label} exited: ${oneLine(t.owner.stderr() || t.owner.stdout(), 200)}`;
      return t.skip === undefined;
    };
    const warm: LoadSettings = { seconds: opts.seconds >= 10 ? 2 : 1, cpu: cores.load };
    for (const t of live()) {
      if (aborted || !alive(t)) continue;
      const s = await measure(group, t, warm, udpBinary, cores.proxy);
      log(`warm-up ${describe(t, s)}`);
      if (s.value === 0) t.skip = `warm-up failed: ${s.problem ?? 'no result'}`;
    }
    const load: LoadSettings = { seconds: opts.seconds, cpu: cores.load };
    for (let run = 1; run <= opts.runs && !aborted; run++) {
      for (const t of live()) {
        if (aborted || !alive(t)) continue;
        let s = await measure(group, t, load, udpBinary, cores.proxy);
        for (let retry = 1; retry <= opts.retryNoisy && (s.foreign ?? 0) > NOISY_PERCENT && !aborted; retry++) {
          log(`run ${run}/${opts.runs} ${describe(t, s)}: noisy, repeating (${retry}/${opts.retryNoisy})`);
          s = await measure(group, t, load, udpBinary, cores.proxy);
        }
        log(`run ${run}/${opts.runs} ${describe(t, s)}`);
        samples.set(t, [...(samples.get(t) ?? []), s]);
      }
    }
    if (aborted) return 130;

    const rows: Row[] = ROWS.map((label) => {
      const mine = targets.filter((t) => t.row === label);
      const measured = mine.filter((t) => samples.has(t));
      const byMetric: Partial<Record<Metric, Sample[]>> = {};
      for (const t of measured) byMetric[METRIC[t.kind]] = samples.get(t) ?? [];
      const reasons = [...new Set(mine.filter((t) => t.skip !== undefined).map((t) => t.skip as string))];
      for (const t of mine) if (t.skip !== undefined && measured.length > 0) notes.push(`${t.row}, ${t.kind}: skipped: ${t.skip}`);
      return measured.length === 0 ? { label, skipped: reasons.join('; ') || 'not measured', samples: {} } : { label, samples: byMetric };
    });
    notes.push(`load average (1, 5, 15 min) before: ${loadBefore}; after: ${loadLine()}`);
    const method = [
      'Tools: `apt-get install -y wrk haproxy nginx libnginx-mod-stream iperf3 gcc` (Debian).',
      `Method: ${opts.runs} run(s) of ${opts.seconds} s per target, interleaved (every target once per run, in table order), each target warmed up once for ${warm.seconds} s first; cells show the median, then each run.`,
      'The proxy under test is pinned to core 0 (`taskset -c 0`): halo (`bin/halo.js run --log-level warn` with the settings of its shebang: glibc MALLOC_TOP_PAD_ and MALLOC_TRIM_THRESHOLD_, node --max-semi-space-size=32; health checks off), HAProxy (`nbthread 1`, `haproxy -db`), nginx stream (`worker_processes 1`, `master_process off`).',
      `Load generators and backends share core 1: \`wrk -t1 -c50 -d${opts.seconds}s --latency\` (keep-alive) against one nginx (\`worker_processes 1\`) answering a ${BACKEND_BODY.length}-byte body on two ports, the two backends of every proxy (round robin); tcp mode carries the same HTTP unchanged.`,
      `\`iperf3 -c -t ${opts.seconds}\` against one \`iperf3 -s\` (MB/s = 10^6 bytes/s received); bench/udp/udp-load.c keeps ${UDP.inflight} datagrams of ${UDP.size} bytes in flight over ${UDP.flows} flows against bench/udp/udp-echo.c (both built with gcc -O2 at bench time).`,
      `Each run also records how much of the proxy core other processes took (/proc/stat minus our pinned processes); runs above ${NOISY_PERCENT}% are listed under Notes${opts.retryNoisy ? ` (such a run was repeated up to ${opts.retryNoisy} time(s), the last attempt kept)` : ''}.`,
    ].join(' ');
    const argsShown = argv.filter((a) => a !== '--write');
    const section = renderSection(rows, {
      command: `npm run bench:dataplane${argsShown.length ? ` -- ${argsShown.join(' ')}` : ''}`,
      date: `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
      machine: machineLine(),
      versions: versionsLine(),
      method,
      notes,
    });
    process.stdout.write(`${section}\n`);
    if (opts.write) {
      const file = join(setup.REPO, 'docs', 'benchmarks.md');
      writeFileSync(file, replaceSection(existsSync(file) ? readFileSync(file, 'utf8') : undefined, section));
      log(`wrote the "Data plane" section of ${file}`);
    }
    return 0;
  } finally {
    await cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

runMain(main, log);
