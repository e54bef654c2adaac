import { describe, expect, it } from 'vitest';
import type { ReplicationRecord } from '../../src/core/replication/wire-records.js';
import { BenchPlane, benchConfig } from './sync-plane.js';
import { rotatingKey, sampleKey } from './sync-keys.js';

const set = (key: string, backend: string, table = 'web/persist_source'): ReplicationRecord => ({ op: 'set', table, kind: 'persist_source', key, value: { pool: 'default', backend }, ttlMs: 60_000 });

describe('BenchPlane', () => {
  it('applies records into the named service\'s real persistence table, like DataPlane.replicaSink', () => {
    const plane = new BenchPlane(benchConfig(7947, 1000), 't', () => undefined);
    const sink = plane.replicaSink();
    expect(sink.apply(set(rotatingKey(1), 'be2'), 0)).toBe('applied');
    expect(plane.persistence('web').lookup(rotatingKey(1), 1)).toEqual({ pool: 'default', backend: 'be2' });
    expect(sink.apply(set(rotatingKey(2), 'be2', 'other/persist_source'), 0)).toBe('unknown_table');
    expect(sink.apply(set(rotatingKey(3), 'nope'), 0)).toBe('unknown_pool_or_backend');
    expect(plane.persistenceEntries()).toBe(1);
    sink.clear(0);
    expect(plane.persistenceEntries()).toBe(0);
  });

  it('counts every apply of the phase and stamps the lag samples only', () => {
    const stamped: number[] = [];
    const plane = new BenchPlane(benchConfig(7947, 1000), 't', (i) => stamped.push(i));
    const sink = plane.replicaSink();
    sink.apply(set(rotatingKey(5), 'be1'), 0);
    sink.apply(set(sampleKey(42), 'be3'), 0);
    sink.apply({ op: 'delete', table: 'web/persist_source', kind: 'persist_source', key: sampleKey(43) }, 0);
    expect(stamped).toEqual([42, 43]);
    expect(plane.counters.applied).toBe(3);
    expect(plane.counters.lastAt).toBeGreaterThanOrEqual(plane.counters.firstAt);
    expect(plane.counters.firstAt).toBeGreaterThan(0);
    plane.resetPhase();
    expect(plane.counters).toEqual({ applied: 0, firstAt: 0, lastAt: 0 });
  });

  it('streams the dispatcher\'s tables, persistence included, and its sets reach a listener', () => {
    const plane = new BenchPlane(benchConfig(7947, 1000), 't', () => undefined);
    const tables = plane.replicatedTables();
    expect(tables.map((t) => t.name)).toEqual(['web/connections', 'web/udp_flows', 'web/persist_source']);
    const seen: string[] = [];
    tables[2]?.onEvent((e) => seen.push(`${e.op} ${e.key}`));
    plane.persistence('web').stick(rotatingKey(9), 'default', 'be1', 0);
    expect(seen).toEqual([`set ${rotatingKey(9)}`]);
  });
});
