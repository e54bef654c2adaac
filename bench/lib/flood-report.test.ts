import { describe, expect, it } from 'vitest';
import { parseMetrics, phaseRow, renderFloodTable, type LegitCounts } from './flood-report.js';

const legit: LegitCounts = { http: { ok: 9, total: 10 }, tcp: { ok: 10, total: 10 }, udp_new: { ok: 0, total: 0 }, udp_flow: { ok: 1, total: 2 } };

describe('flood report', () => {
  it('reads active tables and limit counters from /metrics', () => {
    const m = parseMetrics(
      [
        '# HELP halo_service_connections_active x',
        'halo_service_connections_active{service="dns"} 10000',
        'halo_service_connections_active{service="web"} 3',
        'halo_service_rejections_total{service="dns",reason="evicted"} 990000',
        'halo_backend_connections_active{service="dns",pool="default",backend="b1"} 7',
      ].join('\n'),
    );
    expect(m).toEqual({ active: { dns: 10000, web: 3 }, rejections: { 'dns/evicted': 990000 } });
  });

  it('keeps the counters that moved during a phase and renders one row per flood', () => {
    const start = { active: {}, rejections: { 'dns/evicted': 5, 'dns/max_flows': 2 } };
    const end = { active: {}, rejections: { 'dns/evicted': 105, 'dns/max_flows': 2 } };
    const row = phaseRow({ name: 'UDP', volume: '1 datagram', ms: 1500, before: 10240, peak: 20480, after: 15360, caps: { dns: 100 }, tablePeaks: { dns: 100 }, startMetrics: start, endMetrics: end, during: legit, detail: 'd', alive: true });
    expect(row.limits).toEqual({ 'dns/evicted': 100 });
    expect(row.tables).toEqual([{ service: 'dns', peak: 100, cap: 100 }]);
    const md = renderFloodTable([row], legit, true);
    expect(md).toContain('| UDP | 1 datagram | 1.5 s | 10 / 20 / 15 | dns 100/100 | dns/evicted 100 | http 90% (9/10), tcp 100% (10/10), udp new -, udp flow 50% (1/2) | d |');
    expect(md).toContain('halo still running');
  });
});
