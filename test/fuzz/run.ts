/**
 * The long form of the parser fuzzers:
 *
 *   npm run fuzz -- [--runs N] [--seed S] [--target NAME] [--property NAME] [--path P]
 *
 * Without --runs each target runs its default budget (together >= 1,000,000 inputs);
 * with it, N runs per target. Without --seed a fresh one is drawn and printed. A failure
 * prints fast-check's counterexample and the command that replays it; exit code 1.
 */
import { randomInt } from 'node:crypto';
import { runTarget, type FuzzTarget, type TargetOutcome } from './harness.js';
import { FUZZ_TARGETS } from './targets/index.js';

interface Args {
  runs?: number;
  seed: number;
  target?: string;
  property?: string;
  path?: string;
}

function usage(problem: string): never {
  process.stderr.write(`${problem}\nusage: npm run fuzz -- [--runs N] [--seed S] [--target ${FUZZ_TARGETS.map((t) => t.name).join('|')}] [--property NAME] [--path P]\n`);
  process.exit(2);
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = { seed: randomInt(0, 2 ** 31 - 1) };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (value === undefined) usage(`${flag} needs a value`);
    i++;
    switch (flag) {
      case '--runs': {
        const n = Number(value);
        if (!Number.isSafeInteger(n) || n < 1) usage(`--runs: expected a positive integer, got ${value}`);
        args.runs = n;
        break;
      }
      case '--seed': {
        const n = Number(value);
        if (!Number.isSafeInteger(n)) usage(`--seed: expected an integer, got ${value}`);
        args.seed = n;
        break;
      }
      case '--target':
        args.target = value;
        break;
      case '--property':
        args.property = value;
        break;
      case '--path':
        args.path = value;
        break;
      default:
        usage(`unknown flag ${flag}`);
    }
  }
  return args;
}

function pick(args: Args): FuzzTarget[] {
  if (args.path !== undefined && (args.target === undefined || args.property === undefined)) usage('--path replays one property: give --target and --property too');
  if (args.target === undefined) return [...FUZZ_TARGETS];
  const t = FUZZ_TARGETS.find((x) => x.name === args.target);
  if (t === undefined) usage(`unknown target ${args.target}`);
  if (args.property !== undefined && !t.properties.some((p) => p.name === args.property)) {
    usage(`target ${t.name} has no property ${args.property} (has: ${t.properties.map((p) => p.name).join(', ')})`);
  }
  return [t];
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  const targets = pick(args);
  process.stdout.write(`halo fuzz: seed ${args.seed}, ${targets.length} target(s)\n`);
  const results: TargetOutcome[] = [];
  const started = performance.now();
  for (const t of targets) {
    const runs = args.runs ?? t.defaultRuns;
    const r = runTarget(t, runs, args.seed, { ...(args.property === undefined ? {} : { only: args.property }), ...(args.path === undefined ? {} : { path: args.path }) });
    results.push(r);
    process.stdout.write(`  ${t.name.padEnd(12)} ${String(r.numRuns).padStart(9)} runs  ${seconds(r.ms).padStart(8)}  ${r.failed ? 'FAILED' : 'ok'}\n`);
    for (const o of r.outcomes) {
      process.stdout.write(`    ${o.property.padEnd(22)} ${String(o.numRuns).padStart(9)} runs  ${seconds(o.ms).padStart(8)}  ${o.failed ? 'FAILED' : 'ok'}\n`);
    }
  }
  const total = results.reduce((s, r) => s + r.numRuns, 0);
  process.stdout.write(`total ${total} runs in ${seconds(performance.now() - started)}, seed ${args.seed}\n`);
  let failures = 0;
  for (const r of results) {
    for (const o of r.outcomes) {
      if (!o.failed) continue;
      failures++;
      process.stdout.write(`\nFAILURE ${r.target}/${o.property}\n${o.report}\n`);
      const path = o.counterexamplePath === null ? '' : ` --path ${o.counterexamplePath}`;
      process.stdout.write(`replay: npm run fuzz -- --target ${r.target} --property ${o.property} --seed ${o.seed}${path}\n`);
    }
  }
  process.exitCode = failures > 0 ? 1 : 0;
}

main();
