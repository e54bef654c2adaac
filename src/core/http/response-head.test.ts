import { describe, expect, it } from 'vitest';
import { BODY_CHUNKED, BODY_CLOSE, BODY_LENGTH, BODY_NONE } from './body-framing.js';
import { parseResponseHead, responseBodyKind, ResponseHeadParser, type ResponseHead } from './response-head.js';

const b = (s: string) => Buffer.from(s, 'latin1');

function head(s: string): ResponseHead {
  const r = parseResponseHead(b(s));
  if (r.kind !== 'head') throw new Error(`expected a head, got ${JSON.stringify(r)}`);
  return r.head;
}

function reason(s: string): string {
  const r = parseResponseHead(b(s));
  if (r.kind !== 'error') throw new Error(`expected an error, got ${r.kind}`);
  return r.reason;
}

describe('parseResponseHead', () => {
  it('parses status line, fields and framing', () => {
    const text = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: b\r\n\r\n';
    const r = parseResponseHead(b(text + 'hi'));
    expect(r.kind).toBe('head');
    if (r.kind !== 'head') return;
    expect(r.consumed).toBe(text.length);
    expect(r.head.status).toBe(200);
    expect(r.head.statusLine).toBe('HTTP/1.1 200 OK');
    expect(r.head.versionMinor).toBe(1);
    expect(r.head.contentLength).toBe(2);
    expect(r.head.keepAlive).toBe(true);
    expect(r.head.headers.lines).toEqual(['Content-Length: 2', 'X-A: b']);
    expect(responseBodyKind(r.head, 'GET')).toEqual({ kind: BODY_LENGTH, length: 2 });
  });

  it('accepts a missing or empty reason phrase', () => {
    expect(head('HTTP/1.1 204\r\n\r\n').status).toBe(204);
    expect(head('HTTP/1.1 404 \r\n\r\n').status).toBe(404);
    expect(head('HTTP/1.1 500 Something Went \xe9rong\r\n\r\n').status).toBe(500);
  });

  it('derives keep-alive from version and Connection', () => {
    expect(head('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n').keepAlive).toBe(false);
    expect(head('HTTP/1.0 200 OK\r\n\r\n').keepAlive).toBe(false);
    expect(head('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n').keepAlive).toBe(true);
  });

  it('frames bodies per RFC 9112 6.3', () => {
    const kind = (s: string, method = 'GET') => responseBodyKind(head(s), method).kind;
    expect(kind('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n', 'HEAD')).toBe(BODY_NONE);
    expect(kind('HTTP/1.1 204 No Content\r\n\r\n')).toBe(BODY_NONE);
    expect(kind('HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n')).toBe(BODY_NONE);
    expect(kind('HTTP/1.1 100 Continue\r\n\r\n')).toBe(BODY_NONE);
    expect(kind('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n')).toBe(BODY_NONE);
    expect(kind('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n')).toBe(BODY_CHUNKED);
    expect(kind('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n')).toBe(BODY_CLOSE);
    expect(kind('HTTP/1.1 200 OK\r\n\r\n')).toBe(BODY_CLOSE);
    expect(kind('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n')).toBe(BODY_LENGTH);
  });

  it('flags informational responses', () => {
    expect(head('HTTP/1.1 100 Continue\r\n\r\n').informational).toBe(true);
    expect(head('HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n').informational).toBe(true);
    expect(head('HTTP/1.1 200 OK\r\n\r\n').informational).toBe(false);
  });

  const bad: Array<[string, string]> = [
    ['no status code', 'HTTP/1.1\r\n\r\n'],
    ['a two-digit status', 'HTTP/1.1 20 OK\r\n\r\n'],
    ['a four-digit status', 'HTTP/1.1 2000 OK\r\n\r\n'],
    ['a status below 100', 'HTTP/1.1 099 X\r\n\r\n'],
    ['a status above 599', 'HTTP/1.1 600 X\r\n\r\n'],
    ['HTTP/2', 'HTTP/2.0 200 OK\r\n\r\n'],
    ['a lower-case version', 'http/1.1 200 OK\r\n\r\n'],
    ['a control byte in the reason', 'HTTP/1.1 200 O\x01K\r\n\r\n'],
    ['obs-fold', 'HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\n\r\n'],
    ['a NUL in a value', 'HTTP/1.1 200 OK\r\nX-A: \0\r\n\r\n'],
    ['CL and TE', 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n'],
    ['differing CL', 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n'],
    ['chunked before another coding', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n'],
    ['bare LF', 'HTTP/1.1 200 OK\nX: 1\r\n\r\n'],
  ];
  for (const [name, text] of bad) {
    it(`rejects ${name}`, () => {
      expect(reason(text).length).toBeGreaterThan(0);
    });
  }

  it('rejects heads over the limit', () => {
    const r = parseResponseHead(b('HTTP/1.1 200 OK\r\nX: ' + 'a'.repeat(2000) + '\r\n\r\n'), 1024);
    expect(r.kind).toBe('error');
  });

  it('parses the same head for every split point, then a 1xx followed by the final head', () => {
    const text = 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n';
    const input = b(text);
    for (let i = 1; i < input.length; i++) {
      const p = new ResponseHeadParser();
      const statuses: number[] = [];
      let chunks: Buffer[] = [input.subarray(0, i), input.subarray(i)];
      let rest: Buffer | undefined;
      for (let guard = 0; guard < 10 && (chunks.length > 0 || rest); guard++) {
        const next: Buffer = rest ?? chunks.shift()!;
        rest = undefined;
        const r = p.push(next);
        if (r.kind === 'error') throw new Error(r.reason);
        if (r.kind === 'head') {
          statuses.push(r.head.status);
          rest = r.rest;
          if (r.head.status === 201) {
            const restText = Buffer.concat([rest ?? Buffer.alloc(0), ...chunks]).toString();
            expect(restText).toBe('0\r\n\r\n');
            chunks = [];
            rest = undefined;
          }
        }
      }
      expect(statuses).toEqual([100, 201]);
    }
  });
});
