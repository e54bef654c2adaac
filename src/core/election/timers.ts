/**
 * The RFC 5798 section 6.1 timers, in milliseconds rather than the RFC's
 * centiseconds, because halo runs sub-second intervals (100 ms is a normal setting).
 *
 * Both take the *local* priority: Skew_Time is how much longer a lower-priority
 * backup waits than a higher-priority one, so that when a master dies the best
 * backup fires first and its advert stops the others. Priority 0 is never a local
 * priority (it only appears in the "I am leaving" advert), so it is rejected here.
 *
 * Inputs are validated by throwing: the callers pass configured or already
 * validated values, so a bad one here is a programming error.
 */

/** RFC 5798 fixes 3 missed adverts; halo lets the operator change it. */
export const DEFAULT_DOWN_ADVERTS = 3;

/** Skew_Time = ((256 - Priority) x Master_Adver_Interval) / 256. */
export function skewTime(priority: number, intervalMs: number): number {
  checkPriority(priority);
  checkInterval(intervalMs);
  return ((256 - priority) * intervalMs) / 256;
}

/** Master_Down_Interval = down_adverts x Master_Adver_Interval + Skew_Time. */
export function masterDownInterval(priority: number, intervalMs: number, downAdverts: number = DEFAULT_DOWN_ADVERTS): number {
  if (!Number.isInteger(downAdverts) || downAdverts < 1) {
    throw new RangeError(`downAdverts must be an integer >= 1, got ${downAdverts}`);
  }
  return downAdverts * intervalMs + skewTime(priority, intervalMs);
}

function checkPriority(priority: number): void {
  if (!Number.isInteger(priority) || priority < 1 || priority > 255) {
    throw new RangeError(`priority must be an integer from 1 to 255, got ${priority}`);
  }
}

function checkInterval(intervalMs: number): void {
  if (!Number.isFinite(intervalMs) || intervalMs <= 0) {
    throw new RangeError(`intervalMs must be a finite number > 0, got ${intervalMs}`);
  }
}
