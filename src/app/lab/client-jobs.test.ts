import { describe, expect, it } from 'vitest';
import { cookieValue, jobLimitMs, parseClientCommand, parseClientEvent, parseClientJob, parseUdpAnswer, responseHeadFields } from './client-jobs.js';

describe('client jobs', () => {
  it('accepts the three modes and keeps their fields', () => {
    expect(parseClientJob({ mode: 'http', host: '10.77.0.100', port: 80, requests: [{ source: '10.77.0.160', cookie: 'HALO_SRV=x' }, {}] })).toEqual({
      mode: 'http',
      host: '10.77.0.100',
      port: 80,
      requests: [{ source: '10.77.0.160', cookie: 'HALO_SRV=x' }, {}],
    });
    expect(parseClientJob({ mode: 'udp', host: '10.77.0.100', port: 53, intervalMs: 10, durationMs: 5000 }).mode).toBe('udp');
    expect(parseClientJob({ mode: 'tcp', host: '10.77.0.100', port: 82, sources: ['10.77.0.160'], holdMs: 1000 }).mode).toBe('tcp');
  });

  it('refuses unbounded or malformed jobs, naming the field', () => {
    expect(() => parseClientJob({ mode: 'udp', host: '10.77.0.100', port: 53, intervalMs: 10, durationMs: 700_000 })).toThrow(/durationMs/);
    expect(() => parseClientJob({ mode: 'http', host: '10.77.0.100', port: 80, requests: [] })).toThrow(/requests/);
    expect(() => parseClientJob({ mode: 'http', host: 'example.com', port: 80, requests: [{}] })).toThrow(/host: expected an IPv4 address/);
    expect(() => parseClientJob({ mode: 'tcp', host: '10.77.0.100', port: 82, sources: ['10.77.0.300'], holdMs: 1 })).toThrow(/sources\.0/);
    expect(() => parseClientJob({ mode: 'tcp', host: '10.77.0.100', port: 82, sources: ['10.77.0.160'] })).toThrow(/holdMs/);
    expect(() => parseClientJob({ mode: 'ping', host: '10.77.0.100' })).toThrow(/client job/);
    expect(() => parseClientJob({ mode: 'udp', host: '10.77.0.100', port: 53, intervalMs: 10, durationMs: 10, extra: 1 })).toThrow(/extra/);
  });

  it('time limits follow the job: requests in waves of the concurrency, durations and holds added', () => {
    expect(jobLimitMs(parseClientJob({ mode: 'http', host: '1.2.3.4', port: 80, requests: Array.from({ length: 20 }, () => ({})), concurrency: 10, timeoutMs: 500 }))).toBe(1000);
    expect(jobLimitMs(parseClientJob({ mode: 'udp', host: '1.2.3.4', port: 53, intervalMs: 10, durationMs: 5000 }))).toBe(5300);
    expect(jobLimitMs(parseClientJob({ mode: 'tcp', host: '1.2.3.4', port: 82, sources: ['1.1.1.1', '1.1.1.2'], holdMs: 1000, timeoutMs: 100 }))).toBe(1200);
  });

  it('events and commands are JSON lines; anything else is ignored', () => {
    expect(parseClientEvent('{"type":"udp_sent","seq":1,"t":2}')).toEqual({ type: 'udp_sent', seq: 1, t: 2 });
    expect(parseClientEvent('warning: something')).toBeUndefined();
    expect(parseClientEvent('{"seq":1}')).toBeUndefined();
    expect(parseClientCommand('{"close":[1,2]}')).toEqual({ close: [1, 2] });
    expect(parseClientCommand('{"end":true}')).toEqual({ end: true });
    expect(parseClientCommand('{"close":["a"]}')).toBeUndefined();
    expect(parseClientCommand('nonsense')).toBeUndefined();
  });

  it('reads the demo backend UDP echo, Set-Cookie values and raw response heads', () => {
    expect(parseUdpAnswer('be2:41')).toEqual({ backend: 'be2', seq: 41 });
    expect(parseUdpAnswer('be2:')).toBeUndefined();
    expect(parseUdpAnswer('41')).toBeUndefined();
    expect(cookieValue(['other=1; Path=/', 'HALO_SRV=abc.def; Max-Age=60; HttpOnly'], 'HALO_SRV')).toBe('abc.def');
    expect(cookieValue(['HALO_SRVX=1'], 'HALO_SRV')).toBeUndefined();
    expect(cookieValue(undefined, 'HALO_SRV')).toBeUndefined();
    expect(responseHeadFields('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Backend: be3\r\nx-peer: ::ffff:10.77.0.12')).toEqual({ status: 200, backend: 'be3', peer: '::ffff:10.77.0.12' });
    expect(responseHeadFields('garbage')).toEqual({});
  });
});
