import { describe, it, expect } from 'vitest';
import { ServiceMetrics, type MetricsSnapshot } from './service-metrics.js';

function metrics(): ServiceMetrics {
  return new ServiceMetrics({
    service: 'web',
    backends: [
      { pool: 'default', name: 'web-1' },
      { pool: 'default', name: 'web-2' },
      { pool: 'api', name: 'api-1' },
    ],
  });
}

describe('ServiceMetrics', () => {
  it('lists known backends before any traffic, all up, with zero counters', () => {
    const s = metrics().snapshot(0);
    expect(Object.keys(s.backends).sort()).toEqual(['api/api-1', 'default/web-1', 'default/web-2']);
    expect(s.backends['default/web-1']).toMatchObject({ pool: 'default', backend: 'web-1', up: true, totalConnections: 0, responseMsEwma: null });
    expect(s.service).toMatchObject({ name: 'web', backendsUp: 3, backendsTotal: 3, totalConnections: 0 });
  });

  it('counts connections: per second, concurrent and total, per backend and for the service', () => {
    const m = metrics();
    const w1 = m.backend('default', 'web-1');
    for (let i = 0; i < 30; i++) m.connOpened(w1, i * 100); // 30 in 3 s
    for (let i = 0; i < 10; i++) m.connOpened('default/web-2', i * 100);
    for (let i = 0; i < 5; i++) m.connClosed(w1, 3000);
    m.connClosed('default/web-2', 3000);
    const s = m.snapshot(9000); // window: 9 full buckets + 0 ms
    expect(s.backends['default/web-1']).toMatchObject({ concurrentConnections: 25, totalConnections: 30 });
    expect(s.backends['default/web-1']?.connectionsPerSec).toBeCloseTo(30 / 9, 6);
    expect(s.backends['default/web-2']).toMatchObject({ concurrentConnections: 9, totalConnections: 10 });
    expect(s.service).toMatchObject({ concurrentConnections: 34, totalConnections: 40 });
    expect(s.service.connectionsPerSec).toBeCloseTo(40 / 9, 6);
  });

  it('never lets concurrent connections go negative', () => {
    const m = metrics();
    m.connClosed('default/web-1', 0);
    m.connOpened('default/web-2', 0);
    m.connClosed('default/web-1', 0);
    const s = m.snapshot(0);
    expect(s.backends['default/web-1']?.concurrentConnections).toBe(0);
    expect(s.service.concurrentConnections).toBe(1);
  });

  it('counts bytes and packets each way, with rates', () => {
    const m = metrics();
    const b = m.backend('default', 'web-1');
    m.bytes(b, 'to_backend', 9000, 500);
    m.bytes(b, 'to_client', 90_000, 500);
    m.packets(b, 'to_backend', 18, 500);
    m.packets(b, 'to_client', 27, 500);
    m.bytes('api/api-1', 'to_client', 900, 500);
    const s = m.snapshot(9000);
    expect(s.backends['default/web-1']).toMatchObject({ bytesInTotal: 9000, bytesOutTotal: 90_000, packetsInTotal: 18, packetsOutTotal: 27 });
    expect(s.backends['default/web-1']?.bytesInPerSec).toBeCloseTo(1000, 6);
    expect(s.backends['default/web-1']?.bytesOutPerSec).toBeCloseTo(10_000, 6);
    expect(s.backends['default/web-1']?.packetsInPerSec).toBeCloseTo(2, 6);
    expect(s.backends['default/web-1']?.packetsOutPerSec).toBeCloseTo(3, 6);
    expect(s.service).toMatchObject({ bytesInTotal: 9000, bytesOutTotal: 90_900 });
    expect(s.service.bytesOutPerSec).toBeCloseTo(10_100, 6);
    // Rates age out, totals stay.
    const later = m.snapshot(20_000);
    expect(later.service.bytesOutPerSec).toBe(0);
    expect(later.service.bytesOutTotal).toBe(90_900);
  });

  it('counts requests by status class with a response-time EWMA', () => {
    const m = new ServiceMetrics({ service: 'web', ewmaAlpha: 0.5 });
    const b = m.backend('default', 'web-1');
    m.request(b, 200, 100, 0);
    m.request(b, 404, 200, 0); // 100 + 0.5 x 100 = 150
    m.request(b, 503, 50, 0); // 150 + 0.5 x -100 = 100
    m.request(b, 200, Number.NaN, 0); // counted, but no sample
    m.request(b, 999, -1, 0);
    const s = m.snapshot(9000);
    expect(s.backends['default/web-1']).toMatchObject({
      totalRequests: 5,
      responses: { '1xx': 0, '2xx': 2, '3xx': 0, '4xx': 1, '5xx': 1, other: 1 },
      responseMsEwma: 100,
    });
    expect(s.service.responseMsEwma).toBe(100);
    expect(s.service.requestsPerSec).toBeCloseTo(5 / 9, 6);
  });

  it('counts connect failures, rejections by reason and health', () => {
    const m = metrics();
    m.connectFailed('default/web-2', 0);
    m.connectFailed('default/web-2', 0);
    m.rejected('rate_limited', 0);
    m.rejected('rate_limited', 0);
    m.rejected('max_flows', 0);
    m.setHealth('default/web-2', false);
    const s = m.snapshot(9000);
    expect(s.backends['default/web-2']).toMatchObject({ connectFailures: 2, up: false });
    expect(s.service).toMatchObject({
      connectFailures: 2,
      rejections: { max_connections: 0, max_connections_per_client: 0, rate_limited: 2, max_flows: 1 },
      backendsUp: 2,
      backendsTotal: 3,
    });
    expect(s.service.rejectionsPerSec).toBeCloseTo(3 / 9, 6);
  });

  it('creates a backend on first use of an unknown key', () => {
    const m = new ServiceMetrics({ service: 's' });
    m.connOpened('blue/b-1', 0);
    m.connOpened('lonely', 0);
    const s = m.snapshot(0);
    expect(s.backends['blue/b-1']).toMatchObject({ pool: 'blue', backend: 'b-1', totalConnections: 1 });
    expect(s.backends['default/lonely']).toMatchObject({ pool: 'default', backend: 'lonely' });
  });

  it('snapshots are plain JSON and detached from later updates', () => {
    const m = metrics();
    m.request('default/web-1', 200, 5, 0);
    const s: MetricsSnapshot = m.snapshot(1000);
    expect(JSON.parse(JSON.stringify(s))).toEqual(s);
    m.request('default/web-1', 200, 5, 0);
    expect(s.backends['default/web-1']?.responses['2xx']).toBe(1);
  });
});
