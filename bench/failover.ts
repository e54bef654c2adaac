/**
 * `npm run bench:failover [-- --quick] [-- --write]`: the failover benchmark of issue 3.
 * A lab (src/app/lab) per system: halo at its defaults and at 100 ms adverts, and
 * keepalived moving the VIP in front of halo's data plane. On the master (lb1) each
 * repetition injects SIGTERM, SIGKILL, link down or a silent partition, measures the
 * outage a client opening a connection every 5 ms sees until lb2 serves, undoes the
 * fault and measures the failback. Progress goes to stderr, the markdown report to
 * stdout; --write puts it in the "Failover" section of docs/benchmarks.md.
 * A benchmark, not a test: it asserts nothing, it reports.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { busyPercent, hasTool, loadLine, machineLine } from './lib/environment.js';
import { renderSection, replaceFailoverSection, summarizeAll, renderTable, renderGoals, evaluateGoals } from './lib/failover-report.js';
import { runRep, type RepOptions, type RepResult } from './lib/failover-run.js';
import { PROBE_INTERVAL_MS } from './lib/failover-probe.js';
import { SCENARIOS, SYSTEM_IDS, SYSTEMS, SystemUnderTest, type Scenario, type SystemId } from './lib/failover-systems.js';
import { snapshotBuild, type Snapshot } from './lib/failover-snapshot.js';
import { ProcessGroup, tail } from './lib/procs.js';
import { REPO } from './lib/setup.js';
import { parseFlags, runMain } from './lib/cli.js';

const USAGE = `usage: npm run bench:failover -- [--quick] [--reps N] [--systems LIST] [--scenarios LIST] [--keepalived-1s] [--write] [--json FILE] [--no-build]
  --quick          3 repetitions per scenario (shakes the harness out)
  --reps N         repetitions per scenario and system (default 20, at most 200)
  --systems LIST   comma-separated: ${SYSTEM_IDS.join(', ')} (default halo,halo-fast,halo-100,keepalived)
  --scenarios LIST comma-separated: ${SCENARIOS.join(', ')} (default all)
  --keepalived-1s  also keepalived at its default 1 s adverts
  --write          replace the "Failover" section of docs/benchmarks.md
  --json FILE      every repetition's record (outages, VIP holders, ARP, log tails) as JSON
  --no-build       do not run npm run build first (the lab runs bin/halo.js, i.e. dist/)
  --keep-logs DIR  copy the nodes' logs there before each lab goes down`;

const log = (msg: string) => process.stderr.write(`[failover] ${msg}\n`);

function listFlag<T extends string>(value: string | undefined, known: readonly T[], flag: string): T[] | undefined {
  if (value === undefined) return undefined;
  const items = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const bad = items.filter((s) => !(known as readonly string[]).includes(s));
  if (bad.length > 0 || items.length === 0) throw new Error(`${flag}: unknown ${bad.join(', ') || '(empty)'}; expected some of ${known.join(', ')}`);
  return [...new Set(items)] as T[];
}

function options(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      quick: { type: 'boolean', default: false },
      reps: { type: 'string' },
      systems: { type: 'string' },
      scenarios: { type: 'string' },
      'keepalived-1s': { type: 'boolean', default: false },
      write: { type: 'boolean', default: false },
      json: { type: 'string' },
      'no-build': { type: 'boolean', default: false },
      'keep-logs': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  let reps = values.quick ? 3 : 20;
  if (values.reps !== undefined) {
    reps = Number(values.reps);
    if (!Number.isInteger(reps) || reps < 1 || reps > 200) throw new Error(`--reps: expected an integer 1-200, got "${values.reps}"`);
  }
  const systems = listFlag(values.systems, SYSTEM_IDS, '--systems') ?? ['halo', 'halo-fast', 'halo-100', 'keepalived'];
  if (values['keepalived-1s'] && !systems.includes('keepalived-1s')) systems.push('keepalived-1s');
  return {
    help: values.help === true,
    reps,
    systems,
    scenarios: listFlag(values.scenarios, SCENARIOS, '--scenarios') ?? [...SCENARIOS],
    write: values.write === true,
    json: values.json,
    build: values['no-build'] !== true,
    keepLogs: values['keep-logs'],
  };
}

function capture(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000 });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n').map((l) => l.trim()).find((l) => l !== '') ?? 'unknown';
}

/** ", commit abc1234 (+ uncommitted changes)" when git knows. */
function gitHead(): string {
  const head = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO, encoding: 'utf8', timeout: 10_000 });
  if (head.status !== 0) return '';
  const dirty = spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: REPO, encoding: 'utf8', timeout: 10_000 });
  return `, commit ${head.stdout.trim()}${dirty.stdout.trim() !== '' ? ' plus uncommitted changes' : ''}`;
}

function build(notes: string[]): void {
  log('npm run build');
  const r = spawnSync('npm', ['run', 'build'], { cwd: REPO, encoding: 'utf8', timeout: 300_000 });
  if (r.status === 0) return;
  // tsc still emits on type errors elsewhere in a tree under work; say so and go on.
  const note = `npm run build exited ${r.status ?? r.signal}: ${tail(`${r.stdout}${r.stderr}`, 300).replace(/\s+/g, ' ')}`;
  log(note);
  notes.push(note);
}

/** What a failback window looked like, so a failed one can be told apart in the progress lines. */
function windowDetail(o: NonNullable<RepResult['failback']>): string {
  const at = o.windowAfterMs === undefined ? '' : ` from +${o.windowAfterMs} ms`;
  return `${o.errors.join('/')}${at}, ${o.nodeBefore ?? '?'} -> ${o.nodeAfter ?? '?'}`;
}

function describe(r: RepResult): string {
  const t = r.takeover === undefined ? 'no takeover' : `outage ${r.takeover.ms} ms (${r.takeover.failures} failed${r.takeover.complete ? '' : ', gave up'})`;
  const f = r.failback === undefined ? '' : `, failback ${r.failback.ms} ms (${r.failback.failures} failed${r.failback.complete ? '' : ', gave up'}${r.failback.ms > 0 ? `: ${windowDetail(r.failback)}` : ''})`;
  const arp = r.arp === undefined ? '' : `, ARP -> ${r.arp.master} ${r.arp.toMasterMs === undefined ? 'never' : `after ${r.arp.toMasterMs} ms`}`;
  const vip = r.vipLeftOnFailedNode === true && r.scenario === 'sigkill' ? ', VIP left on lb1' : '';
  return `${t}${f}${arp}${vip}${r.failure !== undefined ? ` FAILED: ${r.failure}` : ''}`;
}

/** The command line as worth repeating: without --write, --no-build, --json FILE and --keep-logs DIR. */
function shownArgs(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--json' || a === '--keep-logs') i++;
    else if (a !== '--write' && a !== '--no-build' && !a.startsWith('--json=') && !a.startsWith('--keep-logs=')) out.push(a);
  }
  return out;
}

const REP_OPTIONS: Omit<RepOptions, 'signal'> = {
  servingMs: 500,
  stableMs: 300,
  startMs: 15_000,
  recoverMs: 10_000,
  failbackMs: 20_000,
  healMs: 60_000,
  arpMarginMs: 100,
};

async function main(argv: string[]): Promise<number> {
  const opts = parseFlags(argv, options, USAGE, log);
  if (typeof opts === 'number') return opts;
  if (process.getuid?.() !== 0) {
    log('needs root: the lab creates network namespaces');
    return 2;
  }
  if (opts.systems.some((s) => SYSTEMS[s].kind === 'keepalived') && !hasTool('keepalived')) {
    log('keepalived is required for the keepalived systems: apt-get install -y keepalived (or --systems halo,halo-100)');
    return 2;
  }

  const notes: string[] = [];
  const group = new ProcessGroup();
  const stop = new AbortController();
  let current: SystemUnderTest | undefined;
  let interrupts = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    interrupts++;
    stop.abort();
    if (interrupts === 1) {
      log(`${sig}: finishing the current step, then tearing the lab down (again to tear down now)`);
      return;
    }
    log(`${sig} again: tearing down now`);
    void (current?.down() ?? Promise.resolve())
      .catch(() => undefined)
      .finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.once('exit', () => group.killAllNow());

  const results: RepResult[] = [];
  const started = Date.now();
  let snapshot: Snapshot | undefined;
  try {
    const loadBefore = loadLine();
    const busy = await busyPercent(1000);
    log(`load average before: ${loadBefore}; cpu busy over 1 s: ${busy === undefined ? 'unknown' : `${busy.toFixed(0)}%`}`);
    if (busy !== undefined && busy > 15) notes.push(`the machine was not idle at the start (${busy.toFixed(0)}% of all cores busy over 1 s): timings are noisy`);
    if (opts.build) build(notes);
    snapshot = snapshotBuild(REPO);
    log(`running halo from a copy of the build in ${snapshot.dir} (dist built ${snapshot.builtAt})`);
    notes.push(`halo ran from a copy of dist/ built ${snapshot.builtAt.slice(0, 16).replace('T', ' ')} UTC${gitHead()}`);

    for (const [i, id] of opts.systems.entries()) {
      if (stop.signal.aborted) break;
      const spec = SYSTEMS[id];
      const sut = new SystemUnderTest(spec, `hfo${process.pid % 100_000}s${i}`, group, snapshot.haloCommand);
      current = sut;
      log(`${spec.label}: lab ${sut.lab.name} up`);
      try {
        try {
          await sut.up();
        } catch (err) {
          const why = `${spec.label}: the lab did not come up: ${(err as Error).message.replace(/\s+/g, ' ').slice(0, 600)}`;
          log(why);
          notes.push(why);
          continue;
        }
        let failedInARow = 0;
        // Scenarios interleaved within each repetition, so drift over time hits all alike.
        for (let rep = 1; rep <= opts.reps && !stop.signal.aborted; rep++) {
          for (const scenario of opts.scenarios) {
            if (stop.signal.aborted) break;
            const r = await runRep(sut, scenario, rep, { ...REP_OPTIONS, signal: stop.signal });
            if (r.failure === 'interrupted') break;
            results.push(r);
            log(`${id} ${scenario} ${rep}/${opts.reps}: ${describe(r)}`);
            if (r.failure !== undefined) for (const l of r.logTail?.slice(-8) ?? []) log(`    ${l.slice(0, 300)}`);
            failedInARow = r.failure === undefined ? 0 : failedInARow + 1;
            if (failedInARow >= 6) break;
          }
          if (failedInARow >= 6) {
            const why = `${spec.label}: ${failedInARow} repetitions failed in a row, the rest of this system was skipped`;
            log(why);
            notes.push(why);
            break;
          }
        }
      } finally {
        if (opts.keepLogs !== undefined && sut.lab.exists()) {
          try {
            sut.saveLogs(opts.keepLogs);
          } catch (err) {
            log(`saving the logs: ${(err as Error).message}`);
          }
        }
        log(`${spec.label}: lab ${sut.lab.name} down`);
        await sut.down().catch((err: unknown) => log(`tearing down ${sut.lab.name}: ${(err as Error).message}`));
        current = undefined;
      }
    }
    if (stop.signal.aborted) {
      log('interrupted: no report');
      return 130;
    }

    notes.push(`load average (1, 5, 15 min) before: ${loadBefore}; after: ${loadLine()}; ${Math.round((Date.now() - started) / 60_000)} min in all`);
    const measured = opts.systems.filter((s) => results.some((r) => r.system === s));
    const argsShown = shownArgs(argv);
    const ctx = {
      command: `npm run bench:failover${argsShown.length > 0 ? ` -- ${argsShown.join(' ')}` : ''}`,
      date: `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
      machine: machineLine(),
      versions: `Versions: node ${process.version}; ${capture('keepalived', ['--version'])}; ${capture('ip', ['-V'])}.`,
      method: method(opts.reps),
      notes,
    };
    const section = renderSection(results, measured, ctx);
    process.stdout.write(`${section}\n`);
    if (opts.json !== undefined) {
      writeFileSync(opts.json, `${JSON.stringify({ ...ctx, options: opts, summary: summarizeAll(results, measured), goals: evaluateGoals(summarizeAll(results, measured)), results }, null, 2)}\n`);
      log(`wrote ${opts.json}`);
    }
    if (opts.write) {
      const file = join(REPO, 'docs', 'benchmarks.md');
      writeFileSync(file, replaceFailoverSection(existsSync(file) ? readFileSync(file, 'utf8') : undefined, section));
      log(`wrote the "Failover" section of ${file}`);
    }
    log(`\n${renderTable(summarizeAll(results, measured))}\n\n${renderGoals(evaluateGoals(summarizeAll(results, measured)))}`);
    return 0;
  } finally {
    if (current !== undefined) await current.down().catch(() => undefined);
    await group.stopAll();
    snapshot?.remove();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function method(reps: number): string {
  return [
    `Method: each system gets its own \`halo lab\` (network namespaces: a switch with a bridge, lb1 priority 150, lb2 priority 100, two backends, a client; VIP 10.77.0.100/24; halo's http service on :80 in front of both backends).`,
    `The client opens a new connection to VIP:80 every ${PROBE_INTERVAL_MS} ms (100 ms timeout; a timeout counts only time the probe process ran) and records which node answered; one failed attempt reads as a window of about ${2 * PROBE_INTERVAL_MS} ms.`,
    `For each of ${reps} repetition(s), scenarios interleaved: wait until lb1 serves steadily (${REP_OPTIONS.servingMs} ms without a failure), inject the fault on lb1, wait until lb2 serves steadily (${REP_OPTIONS.stableMs} ms, at most ${REP_OPTIONS.recoverMs / 1000} s); the outage is the longest run of failed attempts (last success before it to first success after it).`,
    `Then undo the fault (start lb1 again / link up / heal) and measure the same until lb1 serves steadily again (at most ${REP_OPTIONS.failbackMs / 1000} s, ${REP_OPTIONS.healMs / 1000} s after a heal): the failback outage.`,
    'Faults: sigterm = `halo lab stop` (SIGTERM); sigkill = `halo lab kill` (SIGKILL); linkdown = lb1\'s bridge port down (carrier lost); partition = the bridge stops forwarding on lb1\'s port (carrier kept: both nodes end up master until the heal).',
    "After a heal, `ip monitor neigh` in the client times when its ARP entry for the VIP points at the master's MAC, against one advert interval + 100 ms.",
    'halo: `halo run` with the lab\'s generated config (`cluster` section: defaults, or advert_interval_ms 20 (the fast profile) or 100 with down_adverts 3; Skew_Time measured from the master\'s priority, `skew: relative`, the default, unless a row says `skew rfc`).',
    'keepalived: the lab with `election: false` (halo runs only the data plane) and in each lb namespace `keepalived -n -l -D -G -f CONF -p PIDFILE -r VRRPPIDFILE` (private files), one vrrp_instance: VRRPv3, interface eth0, priority 150/100, both `state BACKUP`, preempt (its default), advert_int as shown, the VIP, default gratuitous ARP settings.',
    'For keepalived, sigterm stops keepalived (it sends priority 0 and removes the VIP) and then the data plane; sigkill kills keepalived (parent and VRRP child) and the data plane at once; a VIP that SIGKILL left on lb1 is removed by hand before lb1 starts again (keepalived would also remove it itself when it starts: it logs `removing VIPs` on entering BACKUP).',
  ].join(' ');
}

runMain(main, log);
