import type { Clock } from '../core/clock.js';

/** The real monotonic clock: performance.now never jumps with wall-clock changes. */
export const systemClock: Clock = {
  now: () => performance.now(),
};
