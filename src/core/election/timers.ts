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
 *
 * The reference (halo's relative skew, docs/design-as-built.md section 3): the RFC
 * measures every backup's skew from 256, so all of them also wait a common
 * (256 - master's priority) / 256 of an interval that orders nothing: 41 ms of every
 * failover at 100 ms adverts with priorities 150/100. Measured from the master's
 * priority instead, the gaps between backups, which are what orders them, stay the
 * RFC's to the bit; a backup at or above the reference waits no skew at all.
 */

/** The RFC's reference: Skew_Time measured from 256. */
export const RFC_SKEW_REFERENCE = 256;

/** How Skew_Time is measured: from 256 (RFC 5798) or from the followed master's priority. */
export type SkewMode = 'relative' | 'rfc';

/** RFC 5798 fixes 3 missed adverts; halo lets the operator change it. */
export const DEFAULT_DOWN_ADVERTS = 3;

/**
 * Skew_Time = ((256 - Priority) x Master_Adver_Interval) / 256, or, measured from
 * `reference` (1-256), max(0, reference - Priority) x Master_Adver_Interval / 256.
 */
export function skewTime(priority: number, intervalMs: number, reference: number = RFC_SKEW_REFERENCE): number {
  checkPriority(priority);
  checkInterval(intervalMs);
  if (!Number.isInteger(reference) || reference < 1 || reference > RFC_SKEW_REFERENCE) {
    throw new RangeError(`skew reference must be an integer from 1 to 256, got ${reference}`);
  }
  return (Math.max(0, reference - priority) * intervalMs) / 256;
}

/** Master_Down_Interval = down_adverts x Master_Adver_Interval + Skew_Time. */
export function masterDownInterval(
  priority: number,
  intervalMs: number,
  downAdverts: number = DEFAULT_DOWN_ADVERTS,
  reference: number = RFC_SKEW_REFERENCE,
): number {
  if (!Number.isInteger(downAdverts) || downAdverts < 1) {
    throw new RangeError(`downAdverts must be an integer >= 1, got ${downAdverts}`);
  }
  return downAdverts * intervalMs + skewTime(priority, intervalMs, reference);
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
