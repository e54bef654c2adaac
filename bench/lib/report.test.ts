import { describe, it, expect } from 'vitest';
import { cell, evaluateGoals, median, problems, renderGoals, renderTable, replaceSection, type Row } from './report.js';

describe('median', () => {
  it('takes the middle value, or the mean of the two middle ones', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    expect(median([])).toBeUndefined();
  });
});

describe('cell', () => {
  it('shows the median, then each run in order', () => {
    expect(cell([{ value: 1200 }, { value: 1000 }, { value: 1100 }], 0)).toBe('1,100 (1,200 / 1,000 / 1,100)');
  });
  it('leaves failed runs out of the median and marks them', () => {
    expect(cell([{ value: 10 }, { value: 0, problem: 'x' }, { value: 20 }], 0)).toBe('15 (10 / failed / 20)');
  });
  it('says failed when no run produced a number', () => {
    expect(cell([{ value: 0, problem: 'x' }], 0)).toBe('failed');
  });
});

const rows: Row[] = [
  { label: 'halo http', samples: { rps: [{ value: 40 }, { value: 30 }, { value: 35 }] } },
  { label: 'HAProxy http', samples: { rps: [{ value: 100 }] } },
  { label: 'halo tcp', samples: { rps: [{ value: 95 }], mbps: [{ value: 70, problem: 'iperf3 exited 1' }] } },
  { label: 'HAProxy tcp', samples: { rps: [{ value: 100 }], mbps: [{ value: 100 }] } },
  { label: 'halo udp', skipped: 'halo failed' , samples: {} },
  { label: 'nginx udp', samples: { dps: [{ value: 1000 }] } },
];

describe('evaluateGoals', () => {
  it('compares medians against each goal', () => {
    const g = evaluateGoals(rows);
    expect(g.map((x) => [x.goal.what, x.ratio, x.met])).toEqual([
      ['http req/s', 0.35, false],
      ['tcp req/s', 0.95, true],
      ['tcp MB/s', 0.7, false],
      ['udp datagrams/s', undefined, undefined],
    ]);
    expect(g[3]?.why).toBe('not measured: halo failed');
  });
});

describe('renderGoals', () => {
  it('never shows a ratio just under the goal as reaching it', () => {
    const close: Row[] = [
      { label: 'halo tcp', samples: { rps: [{ value: 897 }] } },
      { label: 'HAProxy tcp', samples: { rps: [{ value: 1000 }] } },
    ];
    expect(renderGoals(evaluateGoals(close))).toContain('| halo tcp / HAProxy tcp, tcp req/s | 0.89x | >= 0.9x | not met |');
  });
});

describe('renderTable and problems', () => {
  it('gives skipped rows their reason and lists run problems', () => {
    const table = renderTable(rows);
    expect(table).toContain('| halo udp | skipped: halo failed |');
    expect(table).toContain('| halo http | 35 (40 / 30 / 35) |');
    expect(problems(rows)).toEqual(['halo tcp, mbps run 1: iperf3 exited 1']);
  });
});

describe('replaceSection', () => {
  const section = '## Data plane\n\nnew table\n';
  it('creates the document when there is none', () => {
    const doc = replaceSection(undefined, section);
    expect(doc.startsWith('# halo benchmarks')).toBe(true);
    expect(doc.endsWith('## Data plane\n\nnew table\n')).toBe(true);
  });
  it('replaces only its own section', () => {
    const before = '# t\n\n## Other\n\nkeep me\n\n## Data plane\n\nold table\n\n## Failover\n\nkeep me too\n';
    expect(replaceSection(before, section)).toBe('# t\n\n## Other\n\nkeep me\n\n## Data plane\n\nnew table\n\n## Failover\n\nkeep me too\n');
  });
  it('appends the section when the document lacks it', () => {
    expect(replaceSection('# t\n\n## Other\n\nx\n', section)).toBe('# t\n\n## Other\n\nx\n\n## Data plane\n\nnew table\n');
  });
});
