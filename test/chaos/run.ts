/**
 * `npm run chaos` (issue 6): the chaos suite, one scenario after another, each in a lab
 * of its own; every fault, check and violation is one JSON line in the run's log.
 *
 *   npm run chaos -- --short                 the CI form (about 10 minutes)
 *   npm run chaos -- --minutes 30            the long form: the fixed scenarios in their
 *                                            long forms, random cycles for the rest
 *   npm run chaos -- --scenario random --seed S --from-cycle K --cycles 1
 *                                            replay one cycle of a failing run
 *
 * Writes test-artifacts/chaos/chaos-SEED.jsonl (the events) and chaos-SEED.json (the
 * results), prints a summary; exits 1 on any violation, 2 on a scenario that failed to run.
 */
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { randomBytes, randomInt } from 'node:crypto';
import { join } from 'node:path';
import type { ChaosLogger, ScenarioOptions, ScenarioResult } from './types.js';

type Runner = (opts: ScenarioOptions & Record<string, unknown>) => Promise<ScenarioResult>;
const SCENARIOS: Record<string, { tag: string; load: () => Promise<{ run: Runner }>; longMinutes: number }> = {
  'advert-loss': { tag: 'l', load: () => import('./scenarios/advert-loss.js') as Promise<{ run: Runner }>, longMinutes: 5 },
  'wrk-kill': { tag: 'w', load: () => import('./scenarios/wrk-kill.js') as Promise<{ run: Runner }>, longMinutes: 1 },
  sigstop: { tag: 's', load: () => import('./scenarios/sigstop.js') as Promise<{ run: Runner }>, longMinutes: 2 },
  random: { tag: 'r', load: () => import('./random-faults.js') as Promise<{ run: Runner }>, longMinutes: Number.POSITIVE_INFINITY },
};
const ORDER = ['advert-loss', 'wrk-kill', 'sigstop', 'random'];

const USAGE = `usage: npm run chaos -- [--short | --minutes N] [--scenario ${ORDER.join('|')}|all] [--seed S] [--cycles N] [--from-cycle K] [--out DIR]`;

export interface ChaosArgs {
  form: 'short' | 'long';
  minutes: number;
  scenarios: string[];
  seed: number;
  cycles?: number;
  fromCycle?: number;
  out: string;
}

function usage(message: string): never {
  process.stderr.write(`chaos: ${message}\n${USAGE}\n`);
  process.exit(2);
}

function count(flag: string, v: string | undefined, min: number): number {
  const n = Number(v);
  if (v === undefined || !Number.isInteger(n) || n < min) usage(`${flag}: expected an integer >= ${min}, got ${v ?? '(nothing)'}`);
  return n;
}

export function parseArgs(argv: readonly string[]): ChaosArgs {
  const args: ChaosArgs = { form: 'short', minutes: 0, scenarios: ORDER, seed: randomInt(1, 2 ** 31 - 1), out: 'test-artifacts/chaos' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--short') args.form = 'short';
    else if (a === '--minutes') {
      args.form = 'long';
      args.minutes = count(a, argv[++i], 1);
    } else if (a === '--scenario') {
      const s = argv[++i];
      if (s === 'all') args.scenarios = ORDER;
      else if (s !== undefined && SCENARIOS[s] !== undefined) args.scenarios = [s];
      else usage(`--scenario: expected ${ORDER.join(', ')} or all, got ${s ?? '(nothing)'}`);
    } else if (a === '--seed') args.seed = count(a, argv[++i], 1);
    else if (a === '--cycles') args.cycles = count(a, argv[++i], 1);
    else if (a === '--from-cycle') args.fromCycle = count(a, argv[++i], 0);
    else if (a === '--out') args.out = argv[++i] ?? usage('--out: expected a directory');
    else if (a === '--help' || a === '-h') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else usage(`unknown argument ${a ?? ''}`);
  }
  return args;
}

function summary(results: ScenarioResult[], failures: Array<{ name: string; error: string }>, logFile: string): string {
  const lines = ['| scenario | seed | cycles | faults | violations | minutes |', '|---|---|---|---|---|---|'];
  for (const r of results) {
    const faults = Object.entries(r.faults).map(([k, n]) => `${k} ${n}`).join(', ');
    lines.push(`| ${r.name} | ${r.seed} | ${r.cycles} | ${faults || '-'} | ${r.violations.length} | ${(r.durationMs / 60_000).toFixed(1)} |`);
  }
  for (const f of failures) lines.push(`| ${f.name} | - | - | - | failed to run: ${f.error.split('\n')[0]} | - |`);
  for (const r of results) {
    lines.push('', `${r.name}: ${Object.entries(r.figures).map(([k, v]) => `${k}=${v}`).join('; ')}`);
    for (const v of r.violations.slice(0, 20)) lines.push(`  VIOLATION ${v.check}${v.cycle !== undefined ? ` (cycle ${v.cycle})` : ''}: ${v.message}`);
  }
  lines.push('', `events: ${logFile}`);
  return lines.join('\n');
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  mkdirSync(args.out, { recursive: true });
  const logFile = join(args.out, `chaos-${args.seed}.jsonl`);
  writeFileSync(logFile, '');
  const started = Date.now();
  // The whole run is bounded: the short form by 25 minutes, the long by its minutes plus 15.
  const bound = args.form === 'short' ? 25 * 60_000 : (args.minutes + 15) * 60_000;
  const abort = new AbortController();
  const guard = setTimeout(() => abort.abort(), bound);
  guard.unref();
  const onSignal = () => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const results: ScenarioResult[] = [];
  const failures: Array<{ name: string; error: string }> = [];
  const labBase = `cx${randomBytes(2).toString('hex')}`;
  for (const name of args.scenarios) {
    if (abort.signal.aborted) break;
    const spec = SCENARIOS[name] as (typeof SCENARIOS)[string];
    const log: ChaosLogger = { event: (event, fields = {}) => appendFileSync(logFile, `${JSON.stringify({ t: Date.now(), scenario: name, event, ...fields })}\n`) };
    const left = args.minutes - (Date.now() - started) / 60_000;
    const minutes = args.form === 'long' ? Math.max(1, Math.min(spec.longMinutes, left)) : 0;
    log.event('scenario_start', { seed: args.seed, form: args.form, minutes });
    process.stdout.write(`chaos: ${name} (${args.form}${args.form === 'long' ? `, ${minutes.toFixed(1)} min` : ''}, seed ${args.seed})\n`);
    try {
      const { run } = await spec.load();
      const result = await run({
        labName: `${labBase}${spec.tag}`,
        seed: args.seed,
        form: args.form,
        minutes,
        log,
        signal: abort.signal,
        artifactsDir: args.out,
        ...(args.cycles !== undefined ? { cycles: args.cycles } : {}),
        ...(args.fromCycle !== undefined ? { fromCycle: args.fromCycle } : {}),
      });
      results.push(result);
      log.event('scenario_end', { violations: result.violations.length, cycles: result.cycles, figures: result.figures });
      process.stdout.write(`chaos: ${name}: ${result.cycles} cycles, ${result.violations.length} violations, ${(result.durationMs / 1000).toFixed(0)} s\n`);
    } catch (err) {
      const error = err instanceof Error ? (err.stack ?? err.message) : String(err);
      failures.push({ name, error });
      log.event('scenario_failed', { error });
      process.stdout.write(`chaos: ${name} failed to run: ${error}\n`);
    }
  }
  clearTimeout(guard);
  writeFileSync(join(args.out, `chaos-${args.seed}.json`), `${JSON.stringify({ args, results, failures }, null, 2)}\n`);
  process.stdout.write(`\n${summary(results, failures, logFile)}\n`);
  if (failures.length > 0) return 2;
  return results.some((r) => r.violations.length > 0) ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`chaos: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 2;
  },
);
