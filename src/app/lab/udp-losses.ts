/**
 * A UDP client run as the failover tests read it: which backends answered, and where the
 * unanswered datagrams lie. A takeover should cost one run of consecutive losses (the
 * outage) and nothing else; losses scattered elsewhere, or an answer from another
 * backend, mean the flow did not survive. Pure.
 */
import type { ClientEvent } from './client-jobs.js';

export interface LossRun {
  firstSeq: number;
  lastSeq: number;
  count: number;
  /** agent ms when the first and the last lost datagram went out */
  fromT: number;
  toT: number;
}

export interface UdpRunSummary {
  sent: number;
  answered: number;
  /** answers per backend */
  backends: Record<string, number>;
  /** maximal runs of consecutive unanswered datagrams, in order */
  lossRuns: LossRun[];
  /** answers to a sequence number never sent, or answered twice */
  strays: number;
}

export function summarizeUdp(events: readonly ClientEvent[]): UdpRunSummary {
  const sentAt = new Map<number, number>();
  for (const e of events) if (e.type === 'udp_sent') sentAt.set(e.seq, e.t);
  const answered = new Set<number>();
  const backends: Record<string, number> = {};
  let strays = 0;
  for (const e of events) {
    if (e.type !== 'udp_answer') continue;
    if (!sentAt.has(e.seq) || answered.has(e.seq)) {
      strays++;
      continue;
    }
    answered.add(e.seq);
    backends[e.backend] = (backends[e.backend] ?? 0) + 1;
  }
  const seqs = [...sentAt.keys()].sort((a, b) => a - b);
  const lossRuns: LossRun[] = [];
  let run: LossRun | undefined;
  for (const seq of seqs) {
    const t = sentAt.get(seq) ?? 0;
    if (answered.has(seq)) {
      run = undefined;
      continue;
    }
    if (run === undefined) {
      run = { firstSeq: seq, lastSeq: seq, count: 1, fromT: t, toT: t };
      lossRuns.push(run);
    } else {
      run.lastSeq = seq;
      run.count++;
      run.toT = t;
    }
  }
  return { sent: seqs.length, answered: answered.size, backends, lossRuns, strays };
}
