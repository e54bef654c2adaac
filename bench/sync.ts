/**
 * `npm run bench:sync [-- --quick] [-- --write]`: the replication benchmark of issue 4.
 * Two node processes on loopback, each a real ReplicationNode (ws listener and dialler,
 * HMAC handshake with a random key) over real Dispatchers, roles driven directly:
 * sustained persistence updates at each target rate (lag p50/p99/max from sampled keys
 * timed on both sides with CLOCK_MONOTONIC, bytes per update from the master's socket,
 * CPU per side), then snapshots of 100k and 1M entries to a fresh standby and the heap
 * per entry on each side. Progress goes to stderr, the markdown to stdout; --write puts
 * it between the bench:sync markers of docs/benchmarks.md.
 * A benchmark, not a test: it asserts nothing, it reports.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseFlags, runMain } from './lib/cli.js';
import { renderSelfTimes, selfTimes } from './lib/cpuprofile.js';
import { busyPercent, coreCount, hasTool, loadLine, machineLine } from './lib/environment.js';
import { REPO } from './lib/setup.js';
import { MAX_FILL_KEYS, MAX_ROTATING_KEYS } from './lib/sync-keys.js';
import { evaluateGoals, renderGoals, renderSection, replaceSyncSection, type SnapshotRun, type SustainedStep } from './lib/sync-report.js';
import { Children, runSnapshots, runSustained, sampleEvery, type RunSettings } from './lib/sync-run.js';
import { NODE_ENV, NODE_FLAGS } from './lib/sync-child.js';

const USAGE = `usage: npm run bench:sync -- [--quick] [--rates LIST] [--seconds N] [--sizes LIST] [--keys N] [--no-pin] [--cpu-prof] [--write] [--json FILE]
  --quick        small and short: rates 10000,50000 for 2 s, snapshots of 10000 and 100000 entries
  --rates LIST   target updates/s of the sustained steps (default 25000,50000,100000,200000)
  --seconds N    seconds per step (default 10, at most 120)
  --sizes LIST   snapshot sizes in entries (default 100000,1000000)
  --keys N       rotating keys of the sustained load (default 65536)
  --no-pin       do not pin the master to core 0 and the standby to core 1
  --cpu-prof     profile both node processes (node --cpu-prof) and print their top self times
  --write        replace the "Replication" section of docs/benchmarks.md (between its markers)
  --json FILE    every number as JSON`;

const log = (msg: string) => process.stderr.write(`[sync] ${msg}\n`);

function intList(value: string | undefined, flag: string, min: number, max: number): number[] | undefined {
  if (value === undefined) return undefined;
  const items = value.split(',').map((x) => x.trim()).filter((x) => x !== '');
  const nums = items.map(Number);
  if (items.length === 0 || nums.some((n) => !Number.isInteger(n) || n < min || n > max)) throw new Error(`${flag}: expected integers ${min}-${max}, comma-separated, got "${value}"`);
  return nums;
}

function options(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      quick: { type: 'boolean', default: false },
      rates: { type: 'string' },
      seconds: { type: 'string' },
      sizes: { type: 'string' },
      keys: { type: 'string' },
      'no-pin': { type: 'boolean', default: false },
      'cpu-prof': { type: 'boolean', default: false },
      write: { type: 'boolean', default: false },
      json: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  const quick = values.quick === true;
  const seconds = intList(values.seconds, '--seconds', 1, 120)?.[0] ?? (quick ? 2 : 10);
  return {
    help: values.help === true,
    quick,
    rates: intList(values.rates, '--rates', 100, 1_000_000) ?? (quick ? [10_000, 50_000] : [25_000, 50_000, 100_000, 200_000]),
    seconds,
    warmSeconds: quick ? 1 : 3,
    sizes: intList(values.sizes, '--sizes', 1, MAX_FILL_KEYS - 1) ?? (quick ? [10_000, 100_000] : [100_000, 1_000_000]),
    keys: intList(values.keys, '--keys', 1, MAX_ROTATING_KEYS)?.[0] ?? 65_536,
    pin: values['no-pin'] !== true,
    cpuProf: values['cpu-prof'] === true,
    write: values.write === true,
    json: values.json,
  };
}

type Options = ReturnType<typeof options>;

/** The command line as worth repeating: without --write and --json FILE. */
function shownArgs(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--json') i++;
    else if (a !== '--write' && !a.startsWith('--json=')) out.push(a);
  }
  return out;
}

function method(o: Options, pinned: boolean): string {
  const rates = o.rates.map((r) => `${r.toLocaleString('en-US')} (a sample every ${sampleEvery(r)})`).join(', ');
  return [
    'Method: two node processes on loopback, each a real `ReplicationNode` (ws listener and dialler, HMAC handshake with a random 32-byte key, the defaults of `cluster.replication`) over real `Dispatcher`s (one tcp service, source-IP persistence, 3 backends) behind a plane that routes records as `DataPlane.replicaSink()` does; no proxies, no election: the roles are set with `onElection()`.',
    `Master on 127.0.0.1, standby on 127.0.0.2${pinned ? ', pinned to core 0 and core 1 (`taskset -c`)' : ', not pinned'}; both run \`node ${NODE_FLAGS.filter((f) => f !== '--import' && f !== 'tsx').join(' ')}\` with ${Object.entries(NODE_ENV).map(([k, v]) => `${k}=${v}`).join(' ')} (the settings of bin/halo.js) on the sources through tsx.`,
    `Sustained: the master sticks \`default/<ipv4>\` keys into its persistence table from a 1 ms timer at each target rate for ${o.seconds} s (${o.keys.toLocaleString('en-US')} rotating keys, each pass moving every key to the next backend, so every update is a set), after a ${o.warmSeconds} s warm-up; target rates ${rates}.`,
    'A sample is a new key in 10.0.0.0/8 whose set time the master records and whose apply time the standby\'s sink records, both with `process.hrtime.bigint()` (CLOCK_MONOTONIC, shared by the two processes): lag = apply - set.',
    `applied/s = records the standby applied / (its last apply - its first apply) in the step; a step holds its target when the standby applied at least 99% of it, lag p99 <= 50 ms, no cut, no snapshot, no reset, every sample arrived. bytes/update = bytes written by the master's replication socket (ws framing included, TCP/IP headers not) / records applied; catch-up = the standby's last apply - the master's last set. CPU is per process over the step (100 = one core).`,
    'Snapshot: a fresh master filled in batches of 10,000 to each size in turn (keys in 11.0.0.0/8); for each size a fresh standby process follows it: time from `onElection(BACKUP)` to synced (dial, handshake, snapshot applied). Memory: `heapUsed` after two `gc()` with the entries minus before them, per entry (master: before any fill; standby: before it follows); external is `external + arrayBuffers` the same way (the replay buffers hold their frames there).',
  ].join(' ');
}

async function main(argv: string[]): Promise<number> {
  const opts = parseFlags(argv, options, USAGE, log);
  if (typeof opts === 'number') return opts;
  const notes: string[] = [];
  const stop = new AbortController();
  const pinned = opts.pin && coreCount() >= 2 && hasTool('taskset');
  if (opts.pin && !pinned) notes.push('not pinned: fewer than 2 cores or no taskset');
  const profileDir = opts.cpuProf ? mkdtempSync(join(tmpdir(), 'halo-sync-prof-')) : undefined;
  const settings: RunSettings = {
    repo: REPO,
    keyHex: randomBytes(32).toString('hex'),
    hrBase: process.hrtime.bigint(),
    cores: pinned ? { master: 0, standby: 1 } : { master: undefined, standby: undefined },
    profileDir,
    log,
    signal: stop.signal,
  };
  const children = new Children(settings);
  let interrupts = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    interrupts++;
    stop.abort();
    log(`${sig}: stopping the node processes`);
    children.killAllNow();
    if (interrupts > 1) process.exit(130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.once('exit', () => children.killAllNow());

  const problems: string[] = [];
  let steps: SustainedStep[] = [];
  let snapshots: SnapshotRun[] = [];
  try {
    const loadBefore = loadLine();
    const busy = await busyPercent(1000);
    log(`load average before: ${loadBefore}; cpu busy over 1 s: ${busy === undefined ? 'unknown' : `${busy.toFixed(0)}%`}`);
    if (busy !== undefined && busy > 15) notes.push(`the machine was not idle at the start (${busy.toFixed(0)}% of all cores busy over 1 s): timings are noisy`);
    const started = Date.now();
    try {
      steps = await runSustained(settings, children, { rates: opts.rates, seconds: opts.seconds, warmSeconds: opts.warmSeconds, keySpace: opts.keys });
    } catch (err) {
      problems.push(`sustained phase failed: ${(err as Error).message}`);
      log(problems[problems.length - 1] as string);
      await children.stopAll();
    }
    if (!stop.signal.aborted) {
      try {
        snapshots = await runSnapshots(settings, children, opts.sizes);
      } catch (err) {
        problems.push(`snapshot phase failed: ${(err as Error).message}`);
        log(problems[problems.length - 1] as string);
        await children.stopAll();
      }
    }
    if (stop.signal.aborted) {
      log('interrupted: no report');
      return 130;
    }
    notes.push(`load average (1, 5, 15 min) before: ${loadBefore}; after: ${loadLine()}; ${Math.round((Date.now() - started) / 1000)} s in all`);
    const shown = shownArgs(argv);
    const ctx = {
      command: `npm run bench:sync${shown.length > 0 ? ` -- ${shown.join(' ')}` : ''}`,
      date: `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
      machine: machineLine(),
      versions: `Versions: node ${process.version}; ws ${wsVersion()}.`,
      method: method(opts, pinned),
      notes,
    };
    const results = { steps, snapshots, problems };
    const section = renderSection(results, ctx);
    process.stdout.write(`${section}\n`);
    if (opts.json !== undefined) {
      writeFileSync(opts.json, `${JSON.stringify({ ...ctx, options: opts, goals: evaluateGoals(results), ...results }, null, 2)}\n`);
      log(`wrote ${opts.json}`);
    }
    if (opts.write) {
      const file = join(REPO, 'docs', 'benchmarks.md');
      writeFileSync(file, replaceSyncSection(existsSync(file) ? readFileSync(file, 'utf8') : undefined, section));
      log(`wrote the "Replication" section of ${file}`);
    }
    log(`\n${renderGoals(evaluateGoals(results))}`);
    if (profileDir !== undefined) printProfiles(profileDir);
    return problems.length > 0 ? 1 : 0;
  } finally {
    await children.stopAll();
    if (profileDir !== undefined) rmSync(profileDir, { recursive: true, force: true });
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function wsVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(REPO, 'node_modules', 'ws', 'package.json'), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Each node process's top self time over its whole life (written when it exited). */
function printProfiles(dir: string): void {
  for (const sub of readdirSync(dir).sort()) {
    const files = readdirSync(join(dir, sub)).filter((f) => f.endsWith('.cpuprofile'));
    const file = files[0];
    if (file === undefined) {
      log(`cpu-prof ${sub}: no profile written`);
      continue;
    }
    const rows = selfTimes(readFileSync(join(dir, sub, file), 'utf8'), REPO);
    process.stdout.write(`${renderSelfTimes(`### ${sub}: top self time over its whole life`, rows, 25)}\n\n`);
  }
}

runMain(main, log);
