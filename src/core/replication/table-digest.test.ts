import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../../test/helpers/seeded-random.js';
import { TableDigest, digestOf, entryHash, valueIdOf } from './table-digest.js';

describe('TableDigest', () => {
  it('is empty at zero and returns to zero after removing what was added', () => {
    const d = new TableDigest();
    expect([d.value, d.count]).toEqual([0n, 0]);
    d.add('10.0.0.1', 'web/app-1');
    expect(d.value).not.toBe(0n);
    d.remove('10.0.0.1', 'web/app-1');
    expect([d.value, d.count]).toEqual([0n, 0]);
  });

  it('does not depend on the order of adds', () => {
    const a = new TableDigest();
    const b = new TableDigest();
    const entries: [string, string][] = [['k1', 'p/b1'], ['k2', 'p/b2'], ['ключ', 'p/b😀']];
    for (const [k, v] of entries) a.add(k, v);
    for (const [k, v] of [...entries].reverse()) b.add(k, v);
    expect(a.value).toBe(b.value);
    expect(a.matches(digestOf(entries))).toBe(true);
  });

  it('tells apart the same key on another backend, swapped values and a key holding a NUL', () => {
    const base = digestOf([['a', 'p/b1'], ['b', 'p/b2']]);
    expect(digestOf([['a', 'p/b2'], ['b', 'p/b1']]).value).not.toBe(base.value);
    expect(digestOf([['a', 'p/b1'], ['b', 'p/b3']]).value).not.toBe(base.value);
    expect(entryHash('a\u0000b', 'c')).not.toBe(entryHash('a', 'b\u0000c'));
  });

  it('hashes UTF-8: the same text in any JS representation hashes alike, and both halves differ', () => {
    expect(entryHash('😀', 'x')).toBe(entryHash('\uD83D\uDE00', 'x'));
    const h = entryHash('10.0.0.1', 'web/app-1');
    expect(h >> 32n).not.toBe(h & 0xffffffffn);
  });

  it('incremental == full recompute after 20k random sets, deletes and overwrites (seeded)', () => {
    const rand = seededRandom(42);
    const table = new Map<string, string>();
    const d = new TableDigest();
    const backends = ['web/a', 'web/b', 'web/c', 'api/x'];
    for (let i = 0; i < 20_000; i++) {
      const key = `10.0.${Math.floor(rand() * 8)}.${Math.floor(rand() * 64)}`;
      const old = table.get(key);
      if (rand() < 0.3) {
        if (old !== undefined) {
          d.remove(key, old);
          table.delete(key);
        }
      } else {
        const next = backends[Math.floor(rand() * backends.length)]!;
        if (old !== undefined) d.remove(key, old);
        d.add(key, next);
        table.set(key, next);
      }
      if (i % 1000 === 999) expect(d.matches(digestOf(table))).toBe(true);
    }
    expect(d.count).toBe(table.size);
    expect(d.value).toBe(digestOf(table).value);
    // One divergent entry shows.
    const other = new Map(table);
    const [k] = other.keys();
    other.set(k!, 'web/z');
    expect(digestOf(other).value).not.toBe(d.value);
  });

  it('clear() resets', () => {
    const d = new TableDigest();
    d.add('k', 'v');
    d.clear();
    expect([d.value, d.count]).toEqual([0n, 0]);
  });
});

describe('valueIdOf', () => {
  it('is pool/backend for persistence, plus the client address for flows; no TTL or age', () => {
    expect(valueIdOf({ pool: 'web', backend: 'app-1' })).toBe('web/app-1');
    expect(valueIdOf({ pool: 'dns', backend: 'ns1', clientIp: '10.0.0.1', clientPort: 53 })).toBe('dns/ns1/10.0.0.1/53');
    const flow = { pool: 'dns', backend: 'ns1', clientIp: '10.0.0.1', clientPort: 53 };
    expect(valueIdOf({ ...flow, ageMs: 5 } as typeof flow)).toBe(valueIdOf({ ...flow, ageMs: 900 } as typeof flow));
  });
});
