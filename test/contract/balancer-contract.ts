/**
 * The one suite every balancer runs (the contract of src/core/balancer/balancer.ts).
 * Picks are driven by a simulated workload: each pick opens a connection that stays
 * open for `hold` further picks, and on close reports a response-time sample and the
 * bytes moved, so load-aware algorithms see realistic events. Everything is
 * deterministic (no randomness, a fake clock), so the statistical cases cannot flake.
 *
 * An algorithm that cannot honour a case must say why, via opts.skip; the reason is
 * printed in the skipped test's title.
 */
import { describe, expect, it } from 'vitest';
import type { AlgorithmName, BackendSpec, Balancer, PickContext } from '../../src/core/balancer/balancer.js';
import { createBalancer } from '../../src/core/balancer/create-balancer.js';

export const CONTRACT_CASES = [
  'never picks a down backend',
  'never picks a drained (weight 0) backend',
  'respects avoid',
  'returns undefined when none is eligible',
  'recovers after onUp',
  'spreads traffic over equal backends',
  'honours weights',
  'ignores events for unknown names',
  'never drives connection counts below zero',
  'survives malformed event values',
  'is deterministic',
] as const;

export type ContractCase = (typeof CONTRACT_CASES)[number];

export interface ContractOptions {
  /** Key for the i-th pick (e.g. a distinct client IP for source_hash); no key when absent. */
  readonly key?: (i: number) => string | undefined;
  /** Cases this algorithm cannot honour, each with the reason. */
  readonly skip?: Partial<Record<ContractCase, string>>;
  /** Factory under test; defaults to createBalancer(algorithm, ...). */
  readonly create?: (backends: readonly BackendSpec[]) => Balancer;
}

const T0 = 1_000_000;
/** 5 ms per pick: a few thousand picks span several 1 s buckets and a 10 s window. */
const STEP_MS = 5;
const HOLD = 8;

export function clientIp(i: number): string {
  return `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
}

function specs(...names: string[]): BackendSpec[] {
  return names.map((name) => ({ name, weight: 1 }));
}

interface DriveResult {
  readonly counts: Map<string, number>;
  readonly sequence: (string | undefined)[];
}

/**
 * `picks` picks with the simulated workload. Connections still open at the end are
 * closed, so the balancer is left idle. Returns per-name counts and the sequence.
 */
function drive(
  b: Balancer,
  picks: number,
  opts: ContractOptions,
  extra: { readonly avoid?: ReadonlySet<string>; readonly start?: number; readonly firstPick?: number } = {},
): DriveResult {
  const counts = new Map<string, number>();
  const sequence: (string | undefined)[] = [];
  const open: string[] = [];
  const start = extra.start ?? T0;
  const close = (now: number): void => {
    const done = open.shift();
    if (done === undefined) return;
    b.onConnEnd(done);
    b.onSample(done, 10, now);
    b.onBytes(done, 1000, now);
  };
  let now = start;
  for (let i = 0; i < picks; i++) {
    now = start + i * STEP_MS;
    const key = opts.key?.((extra.firstPick ?? 0) + i);
    const ctx: PickContext = key === undefined ? { now } : { now, key };
    const name = b.pick(ctx, extra.avoid);
    sequence.push(name);
    if (name === undefined) continue;
    counts.set(name, (counts.get(name) ?? 0) + 1);
    b.onConnStart(name);
    open.push(name);
    if (open.length > HOLD) close(now);
  }
  while (open.length > 0) close(now);
  return { counts, sequence };
}

export function runBalancerContract(algorithm: AlgorithmName, opts: ContractOptions = {}): void {
  const make = (backends: readonly BackendSpec[]): Balancer => (opts.create ?? ((s) => createBalancer(algorithm, s)))(backends);

  const check = (name: ContractCase, fn: () => void): void => {
    const reason = opts.skip?.[name];
    if (reason !== undefined) it.skip(`${name} (skipped: ${reason})`, fn);
    else it(name, fn);
  };

  describe(`balancer contract: ${algorithm}`, () => {
    it('reports its algorithm name', () => {
      expect(make(specs('a')).algorithm).toBe(algorithm);
    });

    check('never picks a down backend', () => {
      const b = make(specs('a', 'b', 'c', 'd'));
      b.onDown('b');
      b.onDown('c');
      const { counts, sequence } = drive(b, 2000, opts);
      expect(counts.has('b')).toBe(false);
      expect(counts.has('c')).toBe(false);
      expect(sequence).not.toContain(undefined);
      // The survivors share the load, not one of them alone.
      expect(counts.get('a') ?? 0).toBeGreaterThan(500);
      expect(counts.get('d') ?? 0).toBeGreaterThan(500);
    });

    check('never picks a drained (weight 0) backend', () => {
      const b = make([{ name: 'a', weight: 1 }, { name: 'z', weight: 0 }, { name: 'b', weight: 1 }, { name: 'c', weight: 1 }]);
      b.onWeight('c', 0);
      const { counts } = drive(b, 2000, opts);
      expect([...counts.keys()].sort()).toEqual(['a', 'b']);
      // Undrained, it takes traffic again.
      b.onWeight('c', 1);
      const after = drive(b, 2000, opts, { start: T0 + 60_000, firstPick: 2000 });
      expect(after.counts.get('c') ?? 0).toBeGreaterThan(300);
      expect(after.counts.has('z')).toBe(false);
    });

    check('respects avoid', () => {
      const b = make(specs('a', 'b', 'c'));
      const { counts } = drive(b, 1500, opts, { avoid: new Set(['a']) });
      expect(counts.has('a')).toBe(false);
      expect(counts.get('b') ?? 0).toBeGreaterThan(300);
      expect(counts.get('c') ?? 0).toBeGreaterThan(300);
      // Avoiding all but one leaves exactly that one; unknown names in avoid do no harm.
      const only = drive(b, 200, opts, { avoid: new Set(['a', 'c', 'nope']), start: T0 + 60_000 });
      expect([...only.counts.entries()]).toEqual([['b', 200]]);
    });

    check('returns undefined when none is eligible', () => {
      const key = opts.key?.(0);
      const ctx: PickContext = key === undefined ? { now: T0 } : { now: T0, key };
      expect(make([]).pick(ctx)).toBeUndefined();
      const b = make(specs('a', 'b'));
      expect(b.pick(ctx, new Set(['a', 'b']))).toBeUndefined();
      b.onDown('a');
      expect(b.pick(ctx, new Set(['b']))).toBeUndefined();
      b.onDown('b');
      expect(b.pick(ctx)).toBeUndefined();
      const drained = make([{ name: 'a', weight: 0 }, { name: 'b', weight: 0 }]);
      expect(drained.pick(ctx)).toBeUndefined();
    });

    check('recovers after onUp', () => {
      const b = make(specs('a', 'b', 'c'));
      for (const n of ['a', 'b', 'c']) b.onDown(n);
      expect(drive(b, 10, opts).sequence.every((n) => n === undefined)).toBe(true);
      b.onUp('b');
      expect(new Set(drive(b, 50, opts, { start: T0 + 1000 }).sequence)).toEqual(new Set(['b']));
      b.onUp('a');
      b.onUp('c');
      const { counts } = drive(b, 3000, opts, { start: T0 + 60_000, firstPick: 50 });
      for (const n of ['a', 'b', 'c']) expect(counts.get(n) ?? 0).toBeGreaterThan(600);
    });

    check('spreads traffic over equal backends', () => {
      const names = ['a', 'b', 'c', 'd'];
      const b = make(specs(...names));
      const picks = 4000;
      const { counts } = drive(b, picks, opts);
      const mean = picks / names.length;
      for (const n of names) {
        expect(counts.get(n) ?? 0).toBeGreaterThan(mean * 0.7);
        expect(counts.get(n) ?? 0).toBeLessThan(mean * 1.3);
      }
    });

    check('honours weights', () => {
      const b = make([{ name: 'heavy', weight: 3 }, { name: 'light', weight: 1 }]);
      const { counts } = drive(b, 4000, opts);
      const share = (counts.get('heavy') ?? 0) / 4000;
      expect(share).toBeGreaterThan(0.65);
      expect(share).toBeLessThan(0.85);
    });

    check('ignores events for unknown names', () => {
      const plain = make(specs('a', 'b', 'c'));
      const poked = make(specs('a', 'b', 'c'));
      poked.onUp('ghost');
      poked.onDown('ghost');
      poked.onWeight('ghost', 100);
      poked.onConnStart('ghost');
      poked.onConnEnd('ghost');
      poked.onSample('ghost', 1, T0);
      poked.onBytes('ghost', 1e9, T0);
      const expected = drive(plain, 1000, opts).sequence;
      const actual = drive(poked, 1000, opts).sequence;
      expect(actual).not.toContain('ghost');
      expect(actual).toEqual(expected);
    });

    check('never drives connection counts below zero', () => {
      const b = make(specs('a', 'b'));
      // Spurious ends (e.g. duplicated close events) for a backend with nothing open.
      for (let i = 0; i < 100; i++) b.onConnEnd('a');
      // Then connections that stay open: a count gone negative would send them all to a.
      const counts = new Map<string, number>();
      for (let i = 0; i < 20; i++) {
        const key = opts.key?.(i);
        const now = T0 + i;
        const name = b.pick(key === undefined ? { now } : { now, key });
        expect(name).toBeDefined();
        if (name === undefined) continue;
        b.onConnStart(name);
        counts.set(name, (counts.get(name) ?? 0) + 1);
      }
      expect(counts.get('a') ?? 0).toBeGreaterThanOrEqual(5);
      expect(counts.get('b') ?? 0).toBeGreaterThanOrEqual(5);
    });

    check('survives malformed event values', () => {
      const b = make(specs('a', 'b'));
      for (const w of [Number.NaN, -1, Number.POSITIVE_INFINITY]) b.onWeight('a', w);
      for (const v of [Number.NaN, -5, Number.POSITIVE_INFINITY]) {
        b.onSample('a', v, T0);
        b.onBytes('a', v, T0);
        b.onSample('b', 5, v);
        b.onBytes('b', 5, v);
      }
      const { counts, sequence } = drive(b, 1000, opts);
      expect(sequence).not.toContain(undefined);
      // A rejected weight leaves the old one (1), so a still takes traffic.
      expect(counts.get('a') ?? 0).toBeGreaterThan(0);
      expect(counts.get('b') ?? 0).toBeGreaterThan(0);
      // An absurd weight is clamped, not a reason to build a gigantic structure or fail.
      const huge = make(specs('a', 'b'));
      huge.onWeight('b', 1e12);
      const clamped = drive(huge, 200, opts);
      expect(clamped.sequence).not.toContain(undefined);
      expect(clamped.counts.get('b') ?? 0).toBeGreaterThan(0);
    });

    check('is deterministic', () => {
      const run = (): (string | undefined)[] => {
        const b = make([{ name: 'a', weight: 2 }, { name: 'b', weight: 1 }, { name: 'c', weight: 1 }]);
        const first = drive(b, 500, opts).sequence;
        b.onDown('b');
        const second = drive(b, 500, opts, { start: T0 + 10_000, firstPick: 500 }).sequence;
        b.onUp('b');
        b.onWeight('c', 3);
        const third = drive(b, 500, opts, { start: T0 + 20_000, firstPick: 1000 }).sequence;
        return [...first, ...second, ...third];
      };
      expect(run()).toEqual(run());
    });
  });
}
