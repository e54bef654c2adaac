/**
 * An order-independent digest of a table's content, kept up to date entry by entry,
 * so master and standby can compare tables without sending them (silent divergence
 * was an HAProxy peers trap).
 *
 * Each entry (key, valueId) hashes to two independent 32-bit values; the digest is the
 * pair of their sums modulo 2^32, plus the entry count. Sums commute, so add/remove in
 * any order give the value a full recompute gives, and an overwrite is remove(old) +
 * add(new). `value` is a 64-bit bigint: high word = sum of hash A, low word = sum of
 * hash B (the DIGEST frame carries it as two u32, high first).
 *
 * valueId is the value's replicated identity, the same on every node: for persistence
 * "pool/backend". TTLs and ages are not part of it (they differ between nodes).
 *
 * Hash A: FNV-1a 32. Hash B: a multiply/xor-shift mix (Murmur2's constant) from another
 * seed. Both run over the UTF-8 bytes of key, a 0 byte, valueId, then mix in the key's
 * length (so a key holding "\0" cannot collide with another split) and end in the
 * Murmur3 finaliser, whose avalanche keeps the sums well spread.
 */
export interface DigestValue {
  readonly value: bigint;
  readonly count: number;
}

// One entry is hashed at a time; module scratch keeps add/remove allocation-free.
let hashA = 0;
let hashB = 0;

function feed(byte: number): void {
  hashA = Math.imul(hashA ^ byte, 0x01000193);
  hashB = Math.imul(hashB ^ byte, 0x5bd1e995);
  hashB ^= hashB >>> 15;
}

function feedUtf8(s: string): void {
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      feed(c);
      continue;
    }
    if (c < 0x800) {
      feed(0xc0 | (c >> 6));
      feed(0x80 | (c & 0x3f));
      continue;
    }
    const next = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
    if (c >= 0xd800 && c < 0xdc00 && next >= 0xdc00 && next < 0xe000) {
      c = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
      i++;
      feed(0xf0 | (c >> 18));
      feed(0x80 | ((c >> 12) & 0x3f));
    } else {
      feed(0xe0 | (c >> 12));
    }
    feed(0x80 | ((c >> 6) & 0x3f));
    feed(0x80 | (c & 0x3f));
  }
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function hashEntry(key: string, valueId: string): void {
  hashA = 0x811c9dc5 | 0;
  hashB = 0x9747b28c | 0;
  feedUtf8(key);
  feed(0);
  feedUtf8(valueId);
  hashA = fmix32(hashA ^ key.length);
  hashB = fmix32(hashB ^ Math.imul(key.length, 0x9e3779b1));
}

/** Both 32-bit hashes of one entry as one 64-bit value (for tests and debugging). */
export function entryHash(key: string, valueId: string): bigint {
  hashEntry(key, valueId);
  return (BigInt(hashA) << 32n) | BigInt(hashB);
}

export class TableDigest {
  private sumA = 0;
  private sumB = 0;
  private n = 0;

  add(key: string, valueId: string): void {
    hashEntry(key, valueId);
    this.sumA = (this.sumA + hashA) >>> 0;
    this.sumB = (this.sumB + hashB) >>> 0;
    this.n++;
  }

  /** Undo an add of the same (key, valueId). Removing what was never added skews the count: a divergence the digest then shows. */
  remove(key: string, valueId: string): void {
    hashEntry(key, valueId);
    this.sumA = (this.sumA - hashA) >>> 0;
    this.sumB = (this.sumB - hashB) >>> 0;
    this.n--;
  }

  clear(): void {
    this.sumA = 0;
    this.sumB = 0;
    this.n = 0;
  }

  get count(): number {
    return this.n;
  }

  get value(): bigint {
    return (BigInt(this.sumA) << 32n) | BigInt(this.sumB);
  }

  matches(other: DigestValue): boolean {
    return this.n === other.count && this.value === other.value;
  }
}

/** Full recompute over (key, valueId) pairs: equals the incremental digest of the same content. */
export function digestOf(entries: Iterable<readonly [key: string, valueId: string]>): DigestValue {
  const d = new TableDigest();
  for (const [key, valueId] of entries) d.add(key, valueId);
  return { value: d.value, count: d.count };
}

/**
 * The replicated identity of a table value: "pool/backend" for persistence, and for
 * flows and connections also the client address. '/' cannot occur in pool or backend
 * names (config NAME pattern), so the split is unambiguous.
 */
export function valueIdOf(v: { readonly pool: string; readonly backend: string; readonly clientIp?: string; readonly clientPort?: number }): string {
  return v.clientIp === undefined ? `${v.pool}/${v.backend}` : `${v.pool}/${v.backend}/${v.clientIp}/${v.clientPort ?? ''}`;
}
