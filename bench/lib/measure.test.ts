import { describe, it, expect } from 'vitest';
import { durationToMs, parseIperfJson, parseUdpLoad, parseWrk } from './measure.js';

const WRK = `Running 10s test @ http://127.0.0.1:8080/
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   645.12us  123.45us   5.00ms   90.00%
    Req/Sec    78.00k     2.00k   80.00k    70.00%
  Latency Distribution
     50%  600.00us
     75%  700.00us
     90%  800.00us
     99%    1.20ms
  780123 requests in 10.00s, 120.00MB read
  Socket errors: connect 0, read 2, write 1, timeout 3
  Non-2xx or 3xx responses: 5
Requests/sec:  78012.30
Transfer/sec:     12.00MB
`;

describe('durationToMs', () => {
  it('converts every wrk unit', () => {
    expect(durationToMs('645.12us')).toBeCloseTo(0.64512);
    expect(durationToMs('1.20ms')).toBe(1.2);
    expect(durationToMs('2.00s')).toBe(2000);
    expect(durationToMs('1.50m')).toBe(90_000);
  });
  it('rejects what is not a duration', () => {
    expect(() => durationToMs('12')).toThrow(/not a wrk duration/);
  });
});

describe('parseWrk', () => {
  it('reads rate, p99, totals and errors', () => {
    expect(parseWrk(WRK)).toEqual({ requestsPerSecond: 78012.3, p99Ms: 1.2, requests: 780123, socketErrors: 6, non2xx: 5 });
  });
  it('counts no errors when wrk printed none', () => {
    const clean = WRK.replace(/^\s+Socket errors.*\n/m, '').replace(/^\s+Non-2xx.*\n/m, '');
    expect(parseWrk(clean)).toMatchObject({ socketErrors: 0, non2xx: 0 });
  });
  it('refuses output without the latency distribution', () => {
    expect(() => parseWrk(WRK.replace(/^\s+99%.*\n/m, ''))).toThrow(/--latency/);
  });
});

describe('parseIperfJson', () => {
  it('gives received MB/s', () => {
    expect(parseIperfJson(JSON.stringify({ end: { sum_received: { bits_per_second: 8e9 } } }))).toBe(1000);
  });
  it('reports the error iperf3 put in its JSON', () => {
    expect(() => parseIperfJson(JSON.stringify({ error: 'unable to connect to server' }))).toThrow(/unable to connect/);
  });
  it('rejects text that is not JSON', () => {
    expect(() => parseIperfJson('iperf3: error')).toThrow(/did not print JSON/);
  });
});

describe('parseUdpLoad', () => {
  it('reads the JSON result line among other output', () => {
    const out = 'noise\n{"replies":100,"seconds":2.000,"per_second":50.0,"sent":110,"bad":1,"refills":2,"errors":0,"inflight":64,"flows":4,"size":64}\n';
    expect(parseUdpLoad(out)).toEqual({ replies: 100, seconds: 2, perSecond: 50, sent: 110, bad: 1, refills: 2, errors: 0 });
  });
  it('fails when no result was printed', () => {
    expect(() => parseUdpLoad('udp-load: bad arguments\n')).toThrow(/no result/);
  });
});
