import { describe, expect, it } from 'vitest';
import { BACKENDS, dueUpdates, fillKey, MAX_SAMPLES, rotatingBackend, rotatingKey, sampleIndex, sampleKey } from './sync-keys.js';

describe('sample keys', () => {
  it('round-trip through sampleIndex, over the whole 24-bit range', () => {
    for (const i of [0, 1, 255, 256, 65_535, 65_536, 1_234_567, MAX_SAMPLES - 1]) expect(sampleIndex(sampleKey(i))).toBe(i);
    expect(sampleKey(258)).toBe('default/10.0.1.2');
  });
  it('are told apart from the rotating and fill keys, and from anything else', () => {
    for (const j of [0, 1, 65_535, 1_048_575]) expect(sampleIndex(rotatingKey(j))).toBe(-1);
    for (const i of [0, 10, 1_000_000]) expect(sampleIndex(fillKey(i))).toBe(-1);
    for (const k of ['', 'default/10.', 'default/10.1.2', 'default/10.1.2.3.4', 'default/10.1.256.3', 'default/10.1..3', 'other00/10.1.2.3', 'default/100.1.2.3', 'default/10.a.b.c']) expect(sampleIndex(k)).toBe(-1);
  });
  it('refuse indices the address range cannot hold', () => {
    expect(() => sampleKey(MAX_SAMPLES)).toThrow(RangeError);
    expect(() => sampleKey(-1)).toThrow(RangeError);
    expect(() => rotatingKey(1 << 20)).toThrow(RangeError);
  });
});

describe('rotating keys', () => {
  it('look like source-IP persistence keys in 172.16.0.0/12', () => {
    expect(rotatingKey(0)).toBe('default/172.16.0.0');
    expect(rotatingKey(65_536 + 258)).toBe('default/172.17.1.2');
    expect(rotatingKey((1 << 20) - 1)).toBe('default/172.31.255.255');
  });
  it('move every key to another backend on each pass, so every update changes the entry', () => {
    const space = 7;
    for (let n = space; n < space * 10; n++) expect(rotatingBackend(n, space)).not.toBe(rotatingBackend(n - space, space));
    expect(new Set(Array.from({ length: space * 3 }, (_, n) => rotatingBackend(n, space)))).toEqual(new Set(BACKENDS));
  });
});

describe('dueUpdates', () => {
  it('catches up with the rate, never past the total nor the burst cap', () => {
    expect(dueUpdates(50_000, 10, 0, 1_000_000, 10_000)).toBe(500);
    expect(dueUpdates(50_000, 10, 400, 1_000_000, 10_000)).toBe(100);
    expect(dueUpdates(50_000, 10, 500, 1_000_000, 10_000)).toBe(0);
    expect(dueUpdates(50_000, 1000, 0, 30, 10_000)).toBe(30);
    expect(dueUpdates(50_000, 1000, 0, 1_000_000, 2500)).toBe(2500);
  });
  it('issues nothing before the start and nothing negative when ahead', () => {
    expect(dueUpdates(50_000, -5, 0, 100, 100)).toBe(0);
    expect(dueUpdates(1000, 1, 10, 100, 100)).toBe(0);
  });
});
