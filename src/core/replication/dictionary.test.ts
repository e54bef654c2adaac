import { describe, expect, it } from 'vitest';
import { DICT_MAX_ENTRIES, WireDictionary } from './dictionary.js';
import { ReplicationFrameError } from './frame-error.js';

describe('WireDictionary (sender)', () => {
  it('assigns ids on first use and lists each new definition once', () => {
    const d = new WireDictionary();
    expect(d.intern('web/persist_source')).toBe(0);
    expect(d.intern('web')).toBe(1);
    expect(d.intern('web/persist_source')).toBe(0);
    expect(d.takeNew()).toEqual([
      { id: 0, value: 'web/persist_source' },
      { id: 1, value: 'web' },
    ]);
    expect(d.takeNew()).toEqual([]);
    expect(d.intern('b1')).toBe(2);
    expect(d.takeNew()).toEqual([{ id: 2, value: 'b1' }]);
    expect(d.entries().map((e) => e.id)).toEqual([0, 1, 2]);
    expect(d.size).toBe(3);
  });

  it('refuses strings over the byte limit (counted in UTF-8) and lone surrogates', () => {
    const d = new WireDictionary();
    expect(d.intern('é'.repeat(127))).toBe(0);
    expect(() => d.intern('é'.repeat(128), 'pool')).toThrow(/pool of 256 bytes exceeds the dictionary limit of 255/);
    expect(() => d.intern('a\uD800b', 'backend')).toThrow(ReplicationFrameError);
  });

  it('refuses a string once full, naming the limit; known strings still resolve', () => {
    const d = new WireDictionary({ maxEntries: 3 });
    for (const s of ['a', 'b', 'c']) d.intern(s);
    expect(() => d.intern('d', 'backend')).toThrow('dictionary full (3 strings): cannot add backend "d"');
    expect(d.intern('b')).toBe(1);
  });

  it('caps the options at the wire limits', () => {
    const d = new WireDictionary({ maxEntries: 1e9, maxStringBytes: 1e9 });
    expect(d.maxEntries).toBe(DICT_MAX_ENTRIES);
    expect(d.maxStringBytes).toBe(255);
  });
});

describe('WireDictionary (receiver)', () => {
  it('accepts definitions idempotently and resolves them', () => {
    const d = new WireDictionary();
    d.define(5, 'web');
    d.define(5, 'web');
    expect(d.resolve(5)).toBe('web');
    expect(d.lookup(6)).toBeUndefined();
  });

  it('names the unknown id and the field', () => {
    const d = new WireDictionary();
    expect(() => d.resolve(7, 'pool')).toThrow('pool: unknown dictionary id 7');
  });

  it('rejects a conflicting redefinition and ids out of range', () => {
    const d = new WireDictionary({ maxEntries: 10 });
    d.define(1, 'a');
    expect(() => d.define(1, 'b')).toThrow('dictionary: id 1 redefined from "a" to "b"');
    expect(() => d.define(10, 'x')).toThrow('id 10 out of range 0..9');
    expect(d.conflict(2, 'x'.repeat(256))).toMatch(/256 bytes exceeds 255/);
    expect(d.conflict(2, 'ok')).toBeUndefined();
  });
});
