import { describe, expect, it } from 'vitest';
import { localResponse } from './local-response.js';
import { parseResponseHead } from './response-head.js';

describe('localResponse', () => {
  it('builds a complete, parseable response with an exact Content-Length', () => {
    const buf = localResponse(503, 'no healthy backend for service "web"', false);
    const text = buf.toString('utf8');
    expect(text).toBe(
      'HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nCache-Control: no-store\r\nContent-Length: 62\r\n\r\n' +
        '503 Service Unavailable: no healthy backend for service "web"\n',
    );
    const r = parseResponseHead(buf);
    expect(r.kind === 'head' && r.head.contentLength).toBe(buf.length - text.indexOf('\r\n\r\n') - 4);
  });

  it('adds Connection: close on request and Retry-After to 429', () => {
    expect(localResponse(400, 'x', true).toString()).toContain('\r\nConnection: close\r\n');
    expect(localResponse(429, 'x', false).toString()).toContain('\r\nRetry-After: 1\r\n');
    expect(localResponse(431, 'x', true).toString()).toMatch(/^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
  });
});
