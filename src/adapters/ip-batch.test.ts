import { describe, expect, it } from 'vitest';
import { BatchOutputSplitter } from './ip-batch.js';

const MARK = '1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\n    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00\n';

describe('BatchOutputSplitter', () => {
  it('gives one empty, successful result per marker for silent commands', () => {
    const s = new BatchOutputSplitter();
    expect(s.push(MARK + MARK)).toEqual([
      { output: '', failedLine: undefined },
      { output: '', failedLine: undefined },
    ]);
  });

  it('attributes an error to the command before the next marker', () => {
    const s = new BatchOutputSplitter();
    const out = s.push(`${MARK}Error: ipv4: Address not found.\nCommand failed -:3\n${MARK}`);
    expect(out).toEqual([
      { output: '', failedLine: undefined },
      { output: 'Error: ipv4: Address not found.\nCommand failed -:3', failedLine: 3 },
    ]);
  });

  it('joins lines split across chunks, and waits for a marker cut in half', () => {
    const s = new BatchOutputSplitter();
    expect(s.push('RTNETLINK answers: File ex')).toEqual([]);
    expect(s.push('ists\nCommand failed -:1\n1: lo')).toEqual([]);
    expect(s.push(': <LOOPBACK> mtu 65536\n')).toEqual([{ output: 'RTNETLINK answers: File exists\nCommand failed -:1', failedLine: 1 }]);
  });

  it('keeps output of a command that prints (addr show) and ignores the loopback detail line', () => {
    const s = new BatchOutputSplitter();
    expect(s.push(`2: eth0    inet 10.0.0.1/24 scope global eth0\n${MARK}`)).toEqual([{ output: '2: eth0    inet 10.0.0.1/24 scope global eth0', failedLine: undefined }]);
  });

  it('bounds the output it keeps', () => {
    const s = new BatchOutputSplitter();
    const [r] = s.push(`${'x'.repeat(100)}\n`.repeat(1000) + MARK);
    expect(r?.output.length).toBeLessThan(2200);
  });
});
