import { describe, expect, it } from 'vitest';
import { EventLog } from './event-log.js';
import type { ElectionHostEvent } from '../election/election-host.js';

const entry = (message: string, timestamp: string) => ({ level: 'info', message, timestamp });

describe('EventLog', () => {
  it('keeps the newest `capacity` lines, oldest first, and replays from a time', () => {
    const log = new EventLog({ capacity: 3 });
    for (let i = 0; i < 5; i++) log.tap(entry(`e${i}`, new Date(1000 + i * 100).toISOString()));
    expect(log.size).toBe(3);
    expect(log.since(0).map((r) => r.entry.message)).toEqual(['e2', 'e3', 'e4']);
    expect(log.since(1300).map((r) => [r.seq, r.at])).toEqual([
      [4, 1300],
      [5, 1400],
    ]);
    expect(log.since(9999)).toEqual([]);
  });

  it('stamps a line without a timestamp with the arrival time', () => {
    const log = new EventLog({ now: () => 42 });
    log.tap({ level: 'info', message: 'x', timestamp: 'not a date' });
    expect(log.since(0)[0]?.at).toBe(42);
  });

  it('hands every line to subscribers; a throwing one does not stop the others', () => {
    const log = new EventLog();
    const got: string[] = [];
    log.subscribe(() => {
      throw new Error('broken');
    });
    const off = log.subscribe((r) => got.push(r.entry.message));
    log.tap(entry('a', '2026-01-01T00:00:00.000Z'));
    off();
    log.tap(entry('b', '2026-01-01T00:00:00.000Z'));
    expect(got).toEqual(['a']);
  });

  it("follows the election host's log lines (not its statuses)", () => {
    const log = new EventLog();
    let emit: (e: ElectionHostEvent) => void = () => undefined;
    log.follow({ subscribe: (l) => ((emit = l), () => undefined) });
    emit({ type: 'log', entry: entry('state_change', '2026-01-01T00:00:00.000Z') });
    emit({ type: 'status', status: {} as never });
    expect(log.since(0).map((r) => r.entry.message)).toEqual(['state_change']);
  });
});
