import { describe, expect, it } from 'vitest';
import { firstStatusLine } from './node-status.js';

describe('status line', () => {
  it('the first complete status line after the signal; other lines and a line still being written are skipped', () => {
    const status = (n: number) => JSON.stringify({ message: 'status', timestamp: `2026-01-01T00:00:0${n}.000Z`, replication: { synced: n === 1 } });
    const text = [
      JSON.stringify({ message: 'replication_connected', timestamp: '2026-01-01T00:00:00.000Z', note: 'status' }),
      'not json, mentions "status"',
      status(1),
      status(2),
    ].join('\n');
    expect(firstStatusLine(`${text}\n`)?.timestamp).toBe('2026-01-01T00:00:01.000Z');
    expect(firstStatusLine(status(1))).toBeUndefined();
    expect(firstStatusLine(`${status(1).slice(0, 20)}`)).toBeUndefined();
    expect(firstStatusLine('')).toBeUndefined();
  });
});
