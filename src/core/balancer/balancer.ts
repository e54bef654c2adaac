/**
 * The one interface every load-balancing algorithm implements (HAProxy's lb_* ops
 * table, in TypeScript). Algorithms keep their own state, fed by events; `pick` is
 * cheap and never does I/O. Backends are identified by their stable name.
 */
export const ALGORITHMS = [
  'round_robin',
  'weighted_round_robin',
  'least_connections',
  'fastest_response',
  'source_hash',
  'bandwidth',
] as const;

export type AlgorithmName = (typeof ALGORITHMS)[number];

export interface BackendSpec {
  readonly name: string;
  /** Relative weight, 1-256; 0 means "drain": never picked for new traffic. */
  readonly weight: number;
}

export interface PickContext {
  /** Monotonic ms, for time-windowed algorithms. */
  readonly now: number;
  /** The hashing key (source IP by default, see balancer/keys.ts). */
  readonly key?: string;
}

export interface Balancer {
  readonly algorithm: AlgorithmName;
  /**
   * Choose a backend among those that are up with weight > 0, skipping names in `avoid`
   * (backends that already failed for this request). Undefined when none is eligible.
   */
  pick(ctx: PickContext, avoid?: ReadonlySet<string>): string | undefined;
  onUp(name: string): void;
  onDown(name: string): void;
  onWeight(name: string, weight: number): void;
  onConnStart(name: string): void;
  onConnEnd(name: string): void;
  /** A response-time (or connect-time) sample in ms. */
  onSample(name: string, ms: number, now: number): void;
  /** Bytes moved to or from a backend (both directions count). */
  onBytes(name: string, bytes: number, now: number): void;
}

/** Every algorithm's factory has this shape; backends start up. */
export type BalancerFactory = (backends: readonly BackendSpec[]) => Balancer;
