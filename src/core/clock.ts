/** Monotonic milliseconds. Core logic takes time as an argument; adapters read it from a Clock. */
export interface Clock {
  now(): number;
}
