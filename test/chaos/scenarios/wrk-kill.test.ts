import { describe, expect, it } from 'vitest';
import { parseWrk, sliceErrors } from './wrk-kill.js';

const CLEAN = `Running 1s test @ http://10.77.0.100:80/
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.52ms    0.81ms  12.10ms   88.00%
    Req/Sec     5.21k   401.22     5.90k    70.00%
  10356 requests in 1.00s, 1.79MB read
Requests/sec:  10355.56
Transfer/sec:      1.78MB
`;

const BROKEN = `Running 1s test @ http://10.77.0.100:80/
  2 threads and 16 connections
  4139 requests in 1.03s, 720.51KB read
  Socket errors: connect 3, read 32, write 2063, timeout 7
  Non-2xx or 3xx responses: 5
Requests/sec:   4036.13
Transfer/sec:    701.02KB
`;

describe('parseWrk', () => {
  it('reads requests and rate of a clean slice, with no errors', () => {
    const r = parseWrk(CLEAN);
    expect(r).toEqual({ requests: 10356, rps: 10355.56, errors: { connect: 0, read: 0, write: 0, timeout: 0, status: 0 } });
  });

  it('reads every socket error kind and non-2xx answers', () => {
    const r = parseWrk(BROKEN);
    expect(r.requests).toBe(4139);
    expect(r.rps).toBe(4036.13);
    expect(r.errors).toEqual({ connect: 3, read: 32, write: 2063, timeout: 7, status: 5 });
    expect(sliceErrors({ ...r, i: 0, start: 0, end: 1, cpuMs: {}, load: 0 })).toBe(2110);
  });

  it('a wrk that printed nothing (killed, not started) reads as zero requests', () => {
    expect(parseWrk('')).toEqual({ requests: 0, rps: 0, errors: { connect: 0, read: 0, write: 0, timeout: 0, status: 0 } });
  });
});
