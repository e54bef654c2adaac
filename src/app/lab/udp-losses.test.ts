import { describe, expect, it } from 'vitest';
import type { ClientEvent } from './client-jobs.js';
import { summarizeUdp } from './udp-losses.js';

function run(sent: number, answers: Array<[seq: number, backend: string]>): ClientEvent[] {
  const events: ClientEvent[] = [{ type: 'start', wall: 0 }];
  for (let seq = 0; seq < sent; seq++) events.push({ type: 'udp_sent', seq, t: seq * 10 });
  for (const [seq, backend] of answers) events.push({ type: 'udp_answer', seq, t: seq * 10 + 1, backend });
  return events;
}

describe('UDP run summary', () => {
  it('every datagram answered by one backend: no loss runs', () => {
    const s = summarizeUdp(run(5, [[0, 'be1'], [1, 'be1'], [2, 'be1'], [3, 'be1'], [4, 'be1']]));
    expect(s).toEqual({ sent: 5, answered: 5, backends: { be1: 5 }, lossRuns: [], strays: 0 });
  });

  it('losses group into maximal runs with their send times, answers are counted per backend', () => {
    const s = summarizeUdp(run(10, [[0, 'be1'], [1, 'be1'], [4, 'be1'], [5, 'be2'], [6, 'be1'], [8, 'be1']]));
    expect(s.backends).toEqual({ be1: 5, be2: 1 });
    expect(s.lossRuns).toEqual([
      { firstSeq: 2, lastSeq: 3, count: 2, fromT: 20, toT: 30 },
      { firstSeq: 7, lastSeq: 7, count: 1, fromT: 70, toT: 70 },
      { firstSeq: 9, lastSeq: 9, count: 1, fromT: 90, toT: 90 },
    ]);
  });

  it('duplicate answers and answers to unsent numbers are strays, not answers', () => {
    const s = summarizeUdp(run(2, [[0, 'be1'], [0, 'be1'], [7, 'be2']]));
    expect(s).toMatchObject({ answered: 1, strays: 2, backends: { be1: 1 } });
    expect(s.lossRuns).toEqual([{ firstSeq: 1, lastSeq: 1, count: 1, fromT: 10, toT: 10 }]);
  });
});
