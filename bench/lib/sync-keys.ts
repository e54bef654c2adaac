/**
 * The keys and the pacing of the replication benchmark (bench/sync.ts). Keys look like
 * the ones a source-IP persistence table holds (`<pool>/<ipv4>`, see the dispatcher's
 * choose()), from three disjoint address ranges so the standby can tell them apart
 * without any extra field on the wire:
 *
 *   172.16.0.0/12 rotating keys of the sustained load (every pass moves each to the next backend)
 *   10.0.0.0/8    lag samples: sample i is set once; the standby stamps its apply time
 *   11.0.0.0/8    fill keys for the snapshot and memory runs
 */

export const POOL = 'default';
export const BACKENDS = ['be1', 'be2', 'be3'] as const;
/** Largest key space of the rotating keys (172.16.0.0/12). */
export const MAX_ROTATING_KEYS = 1 << 20;
/** Samples and fill keys both get 24 bits of address. */
export const MAX_SAMPLES = 1 << 24;
export const MAX_FILL_KEYS = 1 << 24;

function quad(a: number, n: number): string {
  return `${POOL}/${a}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

export function sampleKey(i: number): string {
  if (!Number.isInteger(i) || i < 0 || i >= MAX_SAMPLES) throw new RangeError(`sample index ${i} outside 0..${MAX_SAMPLES - 1}`);
  return quad(10, i);
}

/** "default/10.x.y.z" -> its sample index; -1 for any other key. Runs for every record the standby applies: no allocation on a miss. */
export function sampleIndex(key: string): number {
  // "default/" is 8 characters; a sample's address starts with "10."
  if (key.length < 15 || key.charCodeAt(8) !== 49 || key.charCodeAt(9) !== 48 || key.charCodeAt(10) !== 46 || !key.startsWith(`${POOL}/`)) return -1;
  const parts = key.slice(11).split('.');
  if (parts.length !== 3) return -1;
  let n = 0;
  for (const p of parts) {
    const v = Number(p);
    if (p === '' || !Number.isInteger(v) || v < 0 || v > 255) return -1;
    n = n * 256 + v;
  }
  return n;
}

/** Rotating key j of the sustained load: 172.16.0.0 + j. */
export function rotatingKey(j: number): string {
  if (!Number.isInteger(j) || j < 0 || j >= MAX_ROTATING_KEYS) throw new RangeError(`rotating key ${j} outside 0..${MAX_ROTATING_KEYS - 1}`);
  return `${POOL}/172.${16 + (j >>> 16)}.${(j >>> 8) & 255}.${j & 255}`;
}

export function fillKey(i: number): string {
  if (!Number.isInteger(i) || i < 0 || i >= MAX_FILL_KEYS) throw new RangeError(`fill key ${i} outside 0..${MAX_FILL_KEYS - 1}`);
  return quad(11, i);
}

/**
 * The backend of update `n` over `keySpace` rotating keys: each pass over the keys moves
 * every key to the next backend, so every update changes the entry and is a set event
 * (sticking a key to the backend it already has would only slide its expiry).
 */
export function rotatingBackend(n: number, keySpace: number): string {
  return BACKENDS[Math.floor(n / keySpace) % BACKENDS.length] as string;
}

/**
 * Updates to issue now so that `done` catches up with `rate` per second after
 * `elapsedMs`, never past `total`, and at most `maxBurst` at once: a generator that fell
 * behind (the event loop was busy) shows as a lower achieved rate instead of a burst.
 */
export function dueUpdates(rate: number, elapsedMs: number, done: number, total: number, maxBurst: number): number {
  const target = Math.min(total, Math.floor((rate * Math.max(0, elapsedMs)) / 1000));
  return Math.max(0, Math.min(maxBurst, target - done));
}
