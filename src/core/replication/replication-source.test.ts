import { describe, expect, it } from 'vitest';
import type { TableEvent } from '../tables/table-event.js';
import { WireDictionary } from './dictionary.js';
import { ReplicationFrameError } from './frame-error.js';
import { encodeRecords, replicatedValue, toRecord, valueIdentity } from './replication-source.js';
import { valueIdOf } from './table-digest.js';
import { decodeFrame } from './wire-frames.js';
import type { ReplicationRecord } from './wire-records.js';

const set = (over: Partial<Extract<TableEvent<unknown>, { op: 'set' }>>): TableEvent<unknown> => ({
  op: 'set',
  table: 'web/persist_source',
  kind: 'persist_source',
  key: '10.0.0.1',
  value: { pool: 'default', backend: 'app-1' },
  previous: undefined,
  expiresAt: 31_000,
  seq: 1,
  ...over,
});

describe('toRecord', () => {
  it('persistence: remaining ttl at now, the value reduced to pool and backend', () => {
    expect(toRecord(set({}), 21_000)).toEqual({
      op: 'set',
      table: 'web/persist_source',
      kind: 'persist_source',
      key: '10.0.0.1',
      value: { pool: 'default', backend: 'app-1' },
      ttlMs: 10_000,
    });
    const rec = toRecord(set({ expiresAt: null, kind: 'persist_cookie', value: { pool: 'p', backend: 'b', extra: 1 } }), 5);
    expect(rec).toMatchObject({ ttlMs: null, value: { pool: 'p', backend: 'b' } });
    expect(rec.op === 'set' && Object.keys(rec.value)).toEqual(['pool', 'backend']);
  });

  it('udp flows age from createdAt, connections from startedAt', () => {
    const flow = { clientIp: '192.0.2.7', clientPort: 5353, pool: 'dns', backend: 'ns1', createdAt: 1_000, packetsIn: 9 };
    expect(toRecord(set({ table: 'dns/udp_flows', kind: 'udp_flows', key: '192.0.2.7:5353', value: flow, expiresAt: 4_000 }), 3_500)).toEqual({
      op: 'set',
      table: 'dns/udp_flows',
      kind: 'udp_flows',
      key: '192.0.2.7:5353',
      value: { clientIp: '192.0.2.7', clientPort: 5353, pool: 'dns', backend: 'ns1', ageMs: 2_500 },
      ttlMs: 500,
    });
    const conn = { clientIp: '2001:db8::1', clientPort: 40000, pool: 'web', backend: 'app-2', startedAt: 100, bytesIn: 5 };
    expect(toRecord(set({ table: 'web/connections', kind: 'connections', key: 'b00t-7', value: conn, expiresAt: null }), 160)).toMatchObject({
      value: { clientIp: '2001:db8::1', clientPort: 40000, pool: 'web', backend: 'app-2', ageMs: 60 },
      ttlMs: null,
    });
  });

  it('deletes carry table, kind and key only', () => {
    const ev: TableEvent<unknown> = { op: 'delete', table: 't', kind: 'udp_flows', key: '1.2.3.4:5', value: {}, seq: 3, reason: 'expired' };
    expect(toRecord(ev, 0)).toEqual({ op: 'delete', table: 't', kind: 'udp_flows', key: '1.2.3.4:5' });
  });

  it('a value of the wrong shape is a ReplicationFrameError naming the field', () => {
    expect(() => toRecord(set({ value: null }), 0)).toThrow(ReplicationFrameError);
    expect(() => toRecord(set({ kind: 'udp_flows', value: { pool: 'p', backend: 'b', clientIp: '1.2.3.4', clientPort: 1 } }), 0)).toThrow(/createdAt is not a number/);
    expect(() => replicatedValue('connections', { pool: 'p', backend: 'b', clientIp: '1.2.3.4', clientPort: 1, createdAt: 0 }, 0)).toThrow(/startedAt/);
  });
});

describe('valueIdentity', () => {
  it('is valueIdOf of the replicated part, so master and standby values hash alike', () => {
    expect(valueIdentity('persist_source', { pool: 'p', backend: 'b', clientIp: 'ignored' })).toBe(valueIdOf({ pool: 'p', backend: 'b' }));
    const flow = { clientIp: '1.2.3.4', clientPort: 9, pool: 'p', backend: 'b' };
    expect(valueIdentity('udp_flows', { ...flow, createdAt: 5, packetsIn: 3 })).toBe(valueIdOf(flow));
    expect(valueIdentity('connections', { ...flow, startedAt: 7 })).toBe(valueIdentity('connections', { ...flow, startedAt: 99 }));
  });

  it('never throws on a malformed value', () => {
    expect(typeof valueIdentity('udp_flows', undefined)).toBe('string');
  });
});

describe('encodeRecords', () => {
  const rec = (key: string): ReplicationRecord => ({ op: 'delete', table: 't', kind: 'persist_source', key });

  it('leaves out only the records the wire refuses', () => {
    const dict = new WireDictionary();
    const records = [rec('a'), rec('x'.repeat(2000)), rec('b')];
    const out = encodeRecords(records, (recs) => ({ type: 'updates', epoch: 1, firstSeq: 5, records: recs }), dict);
    expect(out.rejected).toBe(1);
    expect(out.kept.map((r) => r.key)).toEqual(['a', 'b']);
    const receiver = new WireDictionary();
    for (const e of dict.entries()) receiver.define(e.id, e.value);
    expect(decodeFrame(out.frame!, receiver)).toMatchObject({ type: 'updates', firstSeq: 5, records: [{ key: 'a' }, { key: 'b' }] });
  });

  it('null frame when nothing can be encoded', () => {
    const out = encodeRecords([rec('y'.repeat(1025))], (recs) => ({ type: 'updates', epoch: 1, firstSeq: 1, records: recs }), new WireDictionary());
    expect(out).toEqual({ frame: null, kept: [], rejected: 1 });
  });
});
