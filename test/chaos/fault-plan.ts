/**
 * The random runner's plan: which fault, on which node, held how long, cycle by cycle,
 * all drawn from one seed up front. Pure, so `npm run chaos -- --seed S --from-cycle K`
 * replays cycle K exactly as the failing run chose it (the network's timing aside).
 */
import { seededRandom } from '../helpers/seeded-random.js';

export const FAULT_KINDS = ['sigkill', 'sigterm', 'sigstop', 'linkdown', 'partition', 'replcut'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface PlannedFault {
  /** 0-based */
  cycle: number;
  kind: FaultKind;
  /** index into the lab's lb nodes (lb1 = 0): a random node, master or not */
  node: number;
  /** how long the fault lasts before it is undone (restart, SIGCONT, link up, heal, restore) */
  holdMs: number;
  /** how long the runner waits after convergence before the next fault: sometimes none */
  restMs: number;
}

export const HOLD_MIN_MS = 300;
export const HOLD_MAX_MS = 1500;
const REST_CHOICES_MS = [0, 100, 500, 1000];

export function planFaults(seed: number, nodes: number, cycles: number): PlannedFault[] {
  if (!Number.isInteger(nodes) || nodes < 2) throw new RangeError(`nodes: expected an integer >= 2, got ${nodes}`);
  if (!Number.isInteger(cycles) || cycles < 0 || cycles > 1_000_000) throw new RangeError(`cycles: expected 0-1000000, got ${cycles}`);
  const rand = seededRandom(seed);
  const pick = (n: number) => Math.min(n - 1, Math.floor(rand() * n));
  const out: PlannedFault[] = [];
  for (let cycle = 0; cycle < cycles; cycle++) {
    const kind = FAULT_KINDS[pick(FAULT_KINDS.length)] as FaultKind;
    const node = pick(nodes);
    const holdMs = HOLD_MIN_MS + Math.round(rand() * (HOLD_MAX_MS - HOLD_MIN_MS));
    const restMs = REST_CHOICES_MS[pick(REST_CHOICES_MS.length)] as number;
    out.push({ cycle, kind, node, holdMs, restMs });
  }
  return out;
}

/** Faults after which the node is cut off from its peers or gone until it is undone (the replication cut is not one). */
export function isolates(kind: FaultKind): boolean {
  return kind !== 'replcut';
}

/** Faults whose undo is a fresh `halo run` with empty tables. */
export function restarts(kind: FaultKind): boolean {
  return kind === 'sigkill' || kind === 'sigterm';
}
