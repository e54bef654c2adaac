/**
 * The shared machinery of the parser fuzzers (issue 6, "Hostile input"): a target is a
 * named set of fast-check properties with a run budget; mutators turn valid encodings
 * into near-valid garbage, which reaches far deeper into a decoder than random bytes.
 *
 * Properties are wrapped so the runner and the CI test drive every target the same way,
 * and a failure carries what is needed to replay it: seed, counterexample path, report.
 */
import fc from 'fast-check';
import { formatIPv6 } from '../../src/core/proxy-protocol.js';

export interface RunOptions {
  readonly numRuns: number;
  readonly seed: number;
  /** fast-check's counterexample path: replays exactly one failing case with `seed`. */
  readonly path?: string;
}

export interface PropertyOutcome {
  readonly property: string;
  readonly numRuns: number;
  readonly failed: boolean;
  readonly seed: number;
  readonly counterexamplePath: string | null;
  /** fast-check's report (counterexample, error, shrink count); empty when passed. */
  readonly report: string;
  readonly ms: number;
}

export interface FuzzProperty {
  readonly name: string;
  /** Share of the target's runs, relative to its siblings. */
  readonly weight: number;
  run(options: RunOptions): PropertyOutcome;
}

export interface FuzzTarget {
  readonly name: string;
  /** Runs for `npm run fuzz` (the long form); the four defaults add up to >= 1,000,000. */
  readonly defaultRuns: number;
  /** Runs for the fixed-seed CI test. */
  readonly ciRuns: number;
  readonly properties: readonly FuzzProperty[];
}

/** A property over one arbitrary; `check` throws (expect-style) to fail. */
export function property<T>(name: string, weight: number, arb: fc.Arbitrary<T>, check: (value: T) => void): FuzzProperty {
  return {
    name,
    weight,
    run(options) {
      const started = performance.now();
      const details = fc.check(
        fc.property(arb, (value) => {
          check(value);
        }),
        { numRuns: options.numRuns, seed: options.seed, includeErrorInReport: true, ...(options.path === undefined ? {} : { path: options.path }) },
      );
      return {
        property: name,
        numRuns: details.numRuns,
        failed: details.failed,
        seed: options.seed,
        counterexamplePath: details.counterexamplePath,
        report: details.failed ? (fc.defaultReportMessage(details) ?? 'failed') : '',
        ms: performance.now() - started,
      };
    },
  };
}

/** Split a target's runs over its properties by weight, adding up to `total` exactly; each gets at least one. */
export function splitRuns(target: FuzzTarget, total: number): number[] {
  const sum = target.properties.reduce((s, p) => s + p.weight, 0);
  const runs = target.properties.map((p) => Math.floor((total * p.weight) / sum));
  let left = total - runs.reduce((s, n) => s + n, 0);
  for (let i = 0; i < runs.length && left > 0; i++, left--) runs[i]!++;
  return runs.map((n) => Math.max(1, n));
}

export interface TargetOutcome {
  readonly target: string;
  readonly outcomes: readonly PropertyOutcome[];
  readonly numRuns: number;
  readonly ms: number;
  readonly failed: boolean;
}

/**
 * Run every property of a target with the same seed (a replay needs only target,
 * property, seed and path). `only` picks one property by name.
 */
export function runTarget(target: FuzzTarget, totalRuns: number, seed: number, opts: { readonly only?: string; readonly path?: string } = {}): TargetOutcome {
  const runs = splitRuns(target, totalRuns);
  const outcomes: PropertyOutcome[] = [];
  target.properties.forEach((p, i) => {
    if (opts.only !== undefined && p.name !== opts.only) return;
    outcomes.push(p.run({ numRuns: runs[i] ?? 1, seed, ...(opts.path === undefined ? {} : { path: opts.path }) }));
  });
  return {
    target: target.name,
    outcomes,
    numRuns: outcomes.reduce((s, o) => s + o.numRuns, 0),
    ms: outcomes.reduce((s, o) => s + o.ms, 0),
    failed: outcomes.some((o) => o.failed),
  };
}

/** Fail a property with a message that says what was expected (fast-check prints it with the counterexample). */
export function assertThat(condition: boolean, message: string | (() => string)): asserts condition {
  if (!condition) throw new Error(typeof message === 'string' ? message : message());
}

// ---------------------------------------------------------------- shared value arbitraries

/** Dotted quads, every octet 0-255. */
export const ipv4Arb: fc.Arbitrary<string> = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((o) => o.join('.'));

/** Canonical (RFC 5952) IPv6 text; zero runs of every length and place, so "::" lands everywhere. */
export const ipv6Arb: fc.Arbitrary<string> = fc
  .oneof(
    fc.uint8Array({ minLength: 16, maxLength: 16 }),
    fc.tuple(fc.nat(7), fc.integer({ min: 1, max: 8 }), fc.uint8Array({ minLength: 16, maxLength: 16 })).map(([at, run, b]) => b.fill(0, at * 2, Math.min(16, (at + run) * 2))),
  )
  .map((b) => formatIPv6(b));

// ---------------------------------------------------------------- byte mutators

export type ByteMutation =
  | { readonly kind: 'flip'; readonly pos: number; readonly bit: number }
  | { readonly kind: 'set'; readonly pos: number; readonly value: number }
  | { readonly kind: 'overwrite'; readonly pos: number; readonly bytes: Uint8Array }
  | { readonly kind: 'insert'; readonly pos: number; readonly bytes: Uint8Array }
  | { readonly kind: 'delete'; readonly pos: number; readonly len: number }
  | { readonly kind: 'duplicate'; readonly pos: number; readonly len: number }
  | { readonly kind: 'truncate'; readonly pos: number };

/** Boundary values that trip off-by-ones, sign bits and varint continuation bits. */
const INTERESTING_BYTES = [0x00, 0x01, 0x02, 0x7f, 0x80, 0x81, 0xfe, 0xff] as const;

const byteValue = fc.oneof(fc.constantFrom(...INTERESTING_BYTES), fc.nat(255));

export const byteMutation: fc.Arbitrary<ByteMutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), pos: fc.nat(), bit: fc.nat(7) }),
  fc.record({ kind: fc.constant('set' as const), pos: fc.nat(), value: byteValue }),
  fc.record({ kind: fc.constant('overwrite' as const), pos: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('insert' as const), pos: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  fc.record({ kind: fc.constant('delete' as const), pos: fc.nat(), len: fc.integer({ min: 1, max: 16 }) }),
  fc.record({ kind: fc.constant('duplicate' as const), pos: fc.nat(), len: fc.integer({ min: 1, max: 32 }) }),
  fc.record({ kind: fc.constant('truncate' as const), pos: fc.nat() }),
);

/** Positions are taken modulo the current length, so a mutation list shrinks independently of its input. */
export function mutateBytes(input: Uint8Array, mutations: readonly ByteMutation[]): Uint8Array {
  let buf: Uint8Array = Uint8Array.from(input);
  for (const m of mutations) {
    const at = buf.length === 0 ? 0 : m.pos % (buf.length + (m.kind === 'insert' ? 1 : 0));
    switch (m.kind) {
      case 'flip':
        if (buf.length > 0) buf[at] = buf[at]! ^ (1 << m.bit);
        break;
      case 'set':
        if (buf.length > 0) buf[at] = m.value;
        break;
      case 'overwrite':
        for (let i = 0; i < m.bytes.length && at + i < buf.length; i++) buf[at + i] = m.bytes[i]!;
        break;
      case 'insert':
        buf = concat(buf.subarray(0, at), m.bytes, buf.subarray(at));
        break;
      case 'delete':
        buf = concat(buf.subarray(0, at), buf.subarray(at + m.len));
        break;
      case 'duplicate':
        buf = concat(buf.subarray(0, at + m.len), buf.subarray(at));
        break;
      case 'truncate':
        buf = buf.slice(0, at);
        break;
    }
  }
  return buf;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export const byteMutations = fc.array(byteMutation, { minLength: 1, maxLength: 5 });

// ---------------------------------------------------------------- text mutators

export type TextMutation =
  | { readonly kind: 'insert'; readonly pos: number; readonly text: string }
  | { readonly kind: 'replace'; readonly pos: number; readonly len: number; readonly text: string }
  | { readonly kind: 'delete'; readonly pos: number; readonly len: number }
  | { readonly kind: 'duplicate'; readonly pos: number; readonly len: number }
  | { readonly kind: 'truncate'; readonly pos: number };

/** Text mutations whose inserted pieces come from `fragments` (a grammar's hostile tokens) or are random. */
export function textMutation(fragments: readonly string[]): fc.Arbitrary<TextMutation> {
  const piece = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...fragments) }, { weight: 1, arbitrary: fc.string({ maxLength: 6, unit: 'binary' }) });
  return fc.oneof(
    fc.record({ kind: fc.constant('insert' as const), pos: fc.nat(), text: piece }),
    fc.record({ kind: fc.constant('replace' as const), pos: fc.nat(), len: fc.integer({ min: 1, max: 12 }), text: piece }),
    fc.record({ kind: fc.constant('delete' as const), pos: fc.nat(), len: fc.integer({ min: 1, max: 24 }) }),
    fc.record({ kind: fc.constant('duplicate' as const), pos: fc.nat(), len: fc.integer({ min: 1, max: 40 }) }),
    fc.record({ kind: fc.constant('truncate' as const), pos: fc.nat() }),
  );
}

export function mutateText(input: string, mutations: readonly TextMutation[]): string {
  let s = input;
  for (const m of mutations) {
    const at = m.pos % (s.length + 1);
    switch (m.kind) {
      case 'insert':
        s = s.slice(0, at) + m.text + s.slice(at);
        break;
      case 'replace':
        s = s.slice(0, at) + m.text + s.slice(at + m.len);
        break;
      case 'delete':
        s = s.slice(0, at) + s.slice(at + m.len);
        break;
      case 'duplicate':
        s = s.slice(0, at + m.len) + s.slice(at);
        break;
      case 'truncate':
        s = s.slice(0, at);
        break;
    }
  }
  return s;
}

// ---------------------------------------------------------------- JSON value mutations (JSON messages, YAML configs)

export type JsonMutation = { readonly node: number; readonly op: 'replace' | 'delete' | 'add'; readonly key: string; readonly value: unknown };

const hostileJson = fc.oneof(
  fc.constantFrom(null, true, -1, 0.5, -0, 2 ** 53, 1e308, '', 'x'.repeat(70), [], {}, '__proto__', 'a'.repeat(64), 'A'.repeat(64), '0'.repeat(64)),
  fc.jsonValue({ maxDepth: 2 }),
);
/** Replace, delete or add a value somewhere in a JSON tree; added keys come from `keys` (the format's own) or are random. */
export function jsonMutation(keys: readonly string[]): fc.Arbitrary<JsonMutation> {
  return fc.record({
    node: fc.nat(),
    op: fc.constantFrom('replace' as const, 'replace' as const, 'delete' as const, 'add' as const),
    key: fc.oneof(fc.constantFrom('__proto__', 'constructor', 'toString', ...keys), fc.string({ maxLength: 8 })),
    value: hostileJson,
  });
}

/** Every object and array in the value, depth first. */
function containers(value: unknown, out: object[] = []): object[] {
  if (typeof value !== 'object' || value === null || out.length > 500) return out;
  out.push(value);
  for (const v of Object.values(value)) containers(v, out);
  return out;
}

/** Apply one mutation to a JSON value (mutated in place): the node index is taken modulo the containers. */
export function mutateJson(root: unknown, m: JsonMutation): void {
  const all = containers(root);
  const target = all[m.node % Math.max(1, all.length)];
  if (target === undefined) return;
  // A clone, so fast-check's shared value never ends up inside itself.
  const value: unknown = structuredClone(m.value);
  if (Array.isArray(target)) {
    // Index keys only: a "constructor" property on an array would break the mutator itself (splice).
    const i = target.length === 0 ? 0 : m.node % target.length;
    if (m.op === 'delete') target.splice(i, 1);
    else if (m.op === 'add') target.push(value);
    else target[i] = value;
    return;
  }
  const keys = Object.keys(target);
  const key = m.op === 'add' || keys.length === 0 ? m.key : (keys[m.node % keys.length] ?? m.key);
  const rec = target as Record<string, unknown>;
  if (m.op === 'delete') delete rec[key];
  // defineProperty, so "__proto__" becomes an own key (as JSON.parse makes it), not the prototype.
  else Object.defineProperty(rec, key, { value, enumerable: true, writable: true, configurable: true });
}

/** How a thrown value reads in a property failure. */
export function describeThrown(err: unknown): string {
  if (err instanceof Error) return `${err.constructor.name}${'code' in err ? ` ${String((err as { code: unknown }).code)}` : ''}: ${err.message}`;
  return `non-Error thrown: ${String(err)}`;
}
