import { describe, expect, it } from 'vitest';
import { parseRequestHead, RequestHeadParser, type RequestPushResult } from './request-head.js';

const MAX = 16_384;
const b = (s: string) => Buffer.from(s, 'latin1');

function parse(s: string, max = MAX) {
  return parseRequestHead(b(s), max);
}

function head(s: string) {
  const r = parse(s);
  if (r.kind !== 'head') throw new Error(`expected a head, got ${JSON.stringify(r)}`);
  return r.head;
}

function errorOf(s: string, max = MAX): { status: number; reason: string } {
  const r = parse(s, max);
  if (r.kind !== 'error') throw new Error(`expected an error, got ${r.kind}`);
  return { status: r.status, reason: r.reason };
}

describe('parseRequestHead: valid heads', () => {
  it('parses the request line, fields and framing of a simple GET', () => {
    const text = 'GET /a/b?x=1 HTTP/1.1\r\nHost: example.com\r\nX-Thing:  two words \t\r\nAccept: */*\r\n\r\n';
    const r = parse(text + 'NEXT');
    expect(r.kind).toBe('head');
    if (r.kind !== 'head') return;
    const h = r.head;
    expect(r.consumed).toBe(text.length);
    expect(h.method).toBe('GET');
    expect(h.target).toBe('/a/b?x=1');
    expect(h.path).toBe('/a/b');
    expect(h.versionMinor).toBe(1);
    expect(h.requestLine).toBe('GET /a/b?x=1 HTTP/1.1');
    expect(h.host).toBe('example.com');
    expect(h.headers.lines).toEqual(['Host: example.com', 'X-Thing:  two words \t', 'Accept: */*']);
    expect(h.headers.names).toEqual(['host', 'x-thing', 'accept']);
    expect(h.header('x-thing')).toBe('two words');
    expect(h.contentLength).toBe(-1);
    expect(h.chunked).toBe(false);
    expect(h.hasBody).toBe(false);
    expect(h.keepAlive).toBe(true);
    expect(h.upgrade).toBe(false);
    expect(h.headBytes).toBe(text.length);
  });

  it('returns incomplete until CRLF CRLF arrives', () => {
    expect(parse('GET / HTTP/1.1\r\nHost: a\r\n').kind).toBe('incomplete');
    expect(parse('GET / HTTP/1.1\r\nHost: a\r\n\r').kind).toBe('incomplete');
    expect(parse('').kind).toBe('incomplete');
  });

  it('skips empty lines before the request line and counts them as consumed', () => {
    const r = parse('\r\n\r\nGET / HTTP/1.0\r\n\r\n');
    expect(r.kind === 'head' && r.consumed).toBe(22);
  });

  it('derives keep-alive from version and Connection', () => {
    expect(head('GET / HTTP/1.1\r\nHost: a\r\n\r\n').keepAlive).toBe(true);
    expect(head('GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n').keepAlive).toBe(false);
    expect(head('GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, Close\r\n\r\n').keepAlive).toBe(false);
    expect(head('GET / HTTP/1.0\r\n\r\n').keepAlive).toBe(false);
    expect(head('GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n').keepAlive).toBe(true);
    expect(head('GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n').keepAlive).toBe(false);
  });

  it('detects upgrade requests only with both Connection: upgrade and Upgrade on HTTP/1.1', () => {
    const ws = head('GET /ws HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n');
    expect(ws.upgrade).toBe(true);
    expect(ws.connectionTokens).toEqual(['keep-alive', 'upgrade']);
    expect(head('GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n').upgrade).toBe(false);
    expect(head('GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n\r\n').upgrade).toBe(false);
    expect(head('GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n').upgrade).toBe(false);
  });

  it('reads Content-Length, accepting identical repeated values', () => {
    expect(head('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\n').contentLength).toBe(12);
    expect(head('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n').hasBody).toBe(false);
    expect(head('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n').contentLength).toBe(5);
    expect(head('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n').contentLength).toBe(5);
  });

  it('accepts chunked as the final coding, case-insensitively', () => {
    expect(head('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n').chunked).toBe(true);
    expect(head('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n').chunked).toBe(true);
    expect(head('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n').chunked).toBe(true);
  });

  it('takes host and path from an absolute-form target', () => {
    const h = head('GET http://Example.com:8080/p/q?x HTTP/1.1\r\nHost: other\r\n\r\n');
    expect(h.host).toBe('Example.com:8080');
    expect(h.path).toBe('/p/q');
    expect(head('GET https://x.test HTTP/1.1\r\nHost: x.test\r\n\r\n').path).toBe('/');
    expect(head('GET http://x.test?q HTTP/1.1\r\nHost: x.test\r\n\r\n').path).toBe('/');
  });

  it('accepts OPTIONS * and an empty Host, and HTTP/1.0 without Host', () => {
    expect(head('OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n').path).toBe('*');
    expect(head('GET / HTTP/1.1\r\nHost:\r\n\r\n').host).toBe('');
    expect(head('GET / HTTP/1.0\r\n\r\n').host).toBeUndefined();
  });

  it('keeps obs-text bytes in values', () => {
    expect(head('GET / HTTP/1.1\r\nHost: a\r\nX-Name: caf\xe9\r\n\r\n').header('x-name')).toBe('caf\xe9');
  });
});

describe('parseRequestHead: rejections', () => {
  const cases: Array<[string, string, number]> = [
    ['no version', 'GET /\r\nHost: a\r\n\r\n', 400],
    ['two spaces', 'GET  / HTTP/1.1\r\nHost: a\r\n\r\n', 400],
    ['trailing space', 'GET / HTTP/1.1 \r\nHost: a\r\n\r\n', 400],
    ['leading space', ' GET / HTTP/1.1\r\nHost: a\r\n\r\n', 400],
    ['method with a bad char', 'G(T / HTTP/1.1\r\nHost: a\r\n\r\n', 400],
    ['target with a raw 8-bit byte', 'GET /caf\xe9 HTTP/1.1\r\nHost: a\r\n\r\n', 400],
    ['target with a tab', 'GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n', 400],
    ['target that is no form', 'GET a/b HTTP/1.1\r\nHost: a\r\n\r\n', 400],
    ['asterisk without OPTIONS', 'GET * HTTP/1.1\r\nHost: a\r\n\r\n', 400],
    ['lower-case version', 'GET / http/1.1\r\nHost: a\r\n\r\n', 400],
    ['garbage version', 'GET / HTTP/1.x\r\nHost: a\r\n\r\n', 400],
    ['HTTP/2.0', 'GET / HTTP/2.0\r\nHost: a\r\n\r\n', 505],
    ['HTTP/0.9 spelled out', 'GET / HTTP/0.9\r\n\r\n', 505],
    ['HTTP/1.2', 'GET / HTTP/1.2\r\nHost: a\r\n\r\n', 505],
    ['CONNECT', 'CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n', 501],
    ['space before colon', 'GET / HTTP/1.1\r\nHost : a\r\n\r\n', 400],
    ['empty header name', 'GET / HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n', 400],
    ['line without colon', 'GET / HTTP/1.1\r\nHost: a\r\nnocolon\r\n\r\n', 400],
    ['bad name char', 'GET / HTTP/1.1\r\nHost: a\r\nX(y): 1\r\n\r\n', 400],
    ['obs-fold', 'GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n  continued\r\n\r\n', 400],
    ['obs-fold with tab', 'GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n\tcontinued\r\n\r\n', 400],
    ['NUL in value', 'GET / HTTP/1.1\r\nHost: a\r\nX-A: a\0b\r\n\r\n', 400],
    ['bare CR in value', 'GET / HTTP/1.1\r\nHost: a\r\nX-A: a\rb\r\n\r\n', 400],
    ['bare LF line end', 'GET / HTTP/1.1\r\nHost: a\nX-A: 1\r\n\r\n', 400],
    ['bare LF head end', 'GET / HTTP/1.1\n\n', 400],
    ['missing Host on 1.1', 'GET / HTTP/1.1\r\nAccept: */*\r\n\r\n', 400],
    ['two Host fields', 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 400],
    ['Host with a space', 'GET / HTTP/1.1\r\nHost: a b\r\n\r\n', 400],
    ['Host with a slash', 'GET / HTTP/1.1\r\nHost: a/b\r\n\r\n', 400],
    ['CL and TE', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n', 400],
    ['TE and CL', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n', 400],
    ['differing CL', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n', 400],
    ['differing CL list', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n', 400],
    ['signed CL', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n', 400],
    ['negative CL', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n', 400],
    ['hex CL', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n', 400],
    ['CL with inner space', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 0\r\n\r\n', 400],
    ['empty CL', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n', 400],
    ['huge CL', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9999999999999999\r\n\r\n', 400],
    ['TE not ending in chunked', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n', 400],
    ['chunked twice', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n', 400],
    ['chunked then gzip', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n', 400],
    ['empty TE', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,\r\n\r\n', 400],
    ['TE with junk', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: "chunked"\r\n\r\n', 400],
    ['TE on HTTP/1.0', 'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n', 400],
    ['unknown coding', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: br, chunked\r\n\r\n', 501],
  ];
  for (const [name, text, status] of cases) {
    it(`rejects ${name} with ${status}`, () => {
      const e = errorOf(text);
      expect(e.status).toBe(status);
      expect(e.reason.length).toBeGreaterThan(0);
    });
  }

  it('answers 431 when the head exceeds the limit, complete or not', () => {
    const big = 'GET / HTTP/1.1\r\nHost: a\r\nX-Big: ' + 'x'.repeat(2000) + '\r\n\r\n';
    expect(errorOf(big, 1024).status).toBe(431);
    expect(errorOf(big.slice(0, 1500), 1024).status).toBe(431);
    expect(parse(big, big.length).kind).toBe('head');
    expect(errorOf(big, big.length - 1).status).toBe(431);
  });

  it('answers 431 for too many header fields', () => {
    const many = 'GET / HTTP/1.1\r\nHost: a\r\n' + 'X-A: 1\r\n'.repeat(120) + '\r\n';
    expect(errorOf(many).status).toBe(431);
  });
});

describe('RequestHeadParser: incremental', () => {
  const text =
    'POST /upload?x=1 HTTP/1.1\r\nHost: example.com:8080\r\nContent-Length: 5\r\nX-Forwarded-For: 10.0.0.1\r\nCookie: a=1; HALO=xyz\r\n\r\n';
  const body = 'hello';

  function summary(r: RequestPushResult) {
    if (r.kind !== 'head') return r;
    const h = r.head;
    return { method: h.method, target: h.target, host: h.host, lines: h.headers.lines, cl: h.contentLength, consumed: r.consumed };
  }

  it('gives the same head for every split point of the input', () => {
    const whole = b(text + body);
    const expected = summary(new RequestHeadParser(MAX).push(whole));
    for (let i = 1; i < whole.length; i++) {
      const p = new RequestHeadParser(MAX);
      const first = p.push(whole.subarray(0, i));
      if (i < text.length) {
        expect(first.kind).toBe('incomplete');
        const second = p.push(whole.subarray(i));
        expect(summary(second)).toEqual(expected);
        expect(second.kind === 'head' && second.rest?.toString()).toBe(body);
      } else {
        expect(summary(first)).toEqual(expected);
        expect(first.kind === 'head' && (first.rest?.toString() ?? '')).toBe(body.slice(0, i - text.length));
      }
    }
  });

  it('parses a head fed one byte at a time', () => {
    const p = new RequestHeadParser(MAX);
    const bytes = b('\r\n' + text);
    let result: RequestPushResult = { kind: 'incomplete' };
    for (let i = 0; i < bytes.length; i++) {
      result = p.push(bytes.subarray(i, i + 1));
      if (i < bytes.length - 1) expect(result.kind).toBe('incomplete');
    }
    expect(result.kind).toBe('head');
    if (result.kind === 'head') {
      expect(result.consumed).toBe(bytes.length);
      expect(result.rest).toBeUndefined();
      expect(result.head.header('cookie')).toBe('a=1; HALO=xyz');
    }
  });

  it('reports inProgress from the first non-empty-line byte and resets after a head', () => {
    const p = new RequestHeadParser(MAX);
    expect(p.inProgress).toBe(false);
    p.push(b('\r\n'));
    expect(p.inProgress).toBe(false);
    p.push(b('\r'));
    p.push(b('\nG'));
    expect(p.inProgress).toBe(true);
    const r = p.push(b('ET / HTTP/1.0\r\n\r\nGET'));
    expect(r.kind).toBe('head');
    expect(p.inProgress).toBe(false);
    expect(r.kind === 'head' && r.rest?.toString()).toBe('GET');
  });

  it('parses pipelined requests one after another from the rest', () => {
    const p = new RequestHeadParser(MAX);
    const r1 = p.push(b('GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n'));
    expect(r1.kind === 'head' && r1.head.path).toBe('/1');
    const r2 = p.push(r1.kind === 'head' ? r1.rest! : b(''));
    expect(r2.kind === 'head' && r2.head.path).toBe('/2');
    expect(r2.kind === 'head' && r2.rest).toBeUndefined();
  });

  it('rejects a head that grows past the limit across reads', () => {
    const p = new RequestHeadParser(1024);
    expect(p.push(b('GET / HTTP/1.1\r\nHost: a\r\nX: ' + 'y'.repeat(600))).kind).toBe('incomplete');
    const r = p.push(b('y'.repeat(600)));
    expect(r.kind === 'error' && r.status).toBe(431);
  });

  it('rejects smuggling attempts split across reads', () => {
    const text2 = 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n';
    for (let i = 1; i < text2.length; i++) {
      const p = new RequestHeadParser(MAX);
      let r = p.push(b(text2.slice(0, i)));
      if (r.kind === 'incomplete') r = p.push(b(text2.slice(i)));
      expect(r.kind === 'error' && r.status).toBe(400);
    }
  });
});
