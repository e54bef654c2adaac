/**
 * A scenario's lab and its record: the lab built and always torn down (with a check that
 * nothing of it outlives `down`, and its node logs kept on request), and the violations,
 * each also logged when found so the run's log has them in time order.
 */
import { randomBytes } from 'node:crypto';
import { Lab, type LabOptions } from '../../../src/app/lab/index.js';
import { isAlive, netnsList } from '../../../src/app/lab/system.js';
import { saveLogs } from '../save-logs.js';
import type { ChaosLogger, ScenarioOptions, Violation } from '../types.js';

/** Collects violations and logs each one as it is found, so the run's log has them in time order. */
export class Violations {
  readonly list: Violation[] = [];
  readonly #log: ChaosLogger;

  constructor(log: ChaosLogger) {
    this.#log = log;
  }

  add(check: string, message: string, cycle?: number): void {
    const v: Violation = { t: Date.now(), check, message, ...(cycle !== undefined ? { cycle } : {}) };
    this.list.push(v);
    this.#log.event('violation', { ...v });
  }
}

/** A lab name from the run's prefix: short, since every namespace and state dir carries it. */
export function scenarioLabName(opts: ScenarioOptions, suffix: string): string {
  const base = opts.labName === '' ? `ch${process.pid % 10000}${randomBytes(2).toString('hex')}` : opts.labName;
  return `${base}${suffix}`.slice(0, 40);
}

/**
 * Build a lab, run fn in it, and always bring it down (also after a failure or an
 * abort), then check nothing of it is left: a namespace or a process that outlives
 * down is a `leftover` violation.
 */
export async function withLab<T>(opts: ScenarioOptions, v: Violations, labOpts: LabOptions & { name: string }, fn: (lab: Lab) => Promise<T>): Promise<T> {
  const lab = new Lab(labOpts);
  opts.log.event('lab_up', { lab: lab.name, nodes: labOpts.nodes ?? 2 });
  let pids: number[] = [];
  try {
    await lab.up();
    return await fn(lab);
  } finally {
    keepLogs(opts, lab);
    pids = await lab.pids().catch(() => []);
    const report = await lab.down().catch((err: unknown) => {
      opts.log.event('lab_down_failed', { lab: lab.name, error: String(err) });
      return undefined;
    });
    const left = await leftovers(lab, pids);
    opts.log.event('lab_down', { lab: lab.name, namespaces: report?.namespaces.length ?? -1, killed: report?.killed.length ?? -1, leftNamespaces: left.namespaces, leftPids: left.pids });
    if (left.namespaces.length > 0 || left.pids.length > 0) v.add('leftover', `lab ${lab.name} left namespaces [${left.namespaces.join(', ')}] and processes [${left.pids.join(', ')}] after down`);
  }
}

/** Copy the nodes' logs to the run's output directory before the lab goes (down deletes them). */
function keepLogs(opts: ScenarioOptions, lab: Lab): void {
  if (opts.artifactsDir === undefined || !lab.exists()) return;
  try {
    for (const file of saveLogs(lab, opts.artifactsDir, `chaos-${opts.seed}-${lab.name}`)) opts.log.event('log_kept', { file });
  } catch (err) {
    opts.log.event('log_keep_failed', { error: String(err) });
  }
}

/** What is left of a lab after down: its namespaces, and lab processes still alive. */
export async function leftovers(lab: Lab, pids: readonly number[]): Promise<{ namespaces: string[]; pids: number[] }> {
  const namespaces = (await netnsList()).filter((ns) => ns.startsWith(`${lab.name}-`));
  return { namespaces, pids: pids.filter((p) => isAlive(p)) };
}
