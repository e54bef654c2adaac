import { describe, expect, it } from 'vitest';
import { parseRequestHead, type RequestHead } from './request-head.js';
import { parseResponseHead, type ResponseHead } from './response-head.js';
import { buildInformationalHead, buildRequestHead, buildResponseHead, forwardedNode, forwardedValue } from './rewrite.js';

function req(s: string): RequestHead {
  const r = parseRequestHead(Buffer.from(s, 'latin1'), 16_384);
  if (r.kind !== 'head') throw new Error(JSON.stringify(r));
  return r.head;
}

function res(s: string): ResponseHead {
  const r = parseResponseHead(Buffer.from(s, 'latin1'));
  if (r.kind !== 'head') throw new Error(JSON.stringify(r));
  return r.head;
}

describe('buildRequestHead', () => {
  it('adds forwarding fields and keep-alive to a plain request', () => {
    const out = buildRequestHead(req('GET /x?y HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n'), '192.0.2.7');
    expect(out.toString('latin1')).toBe(
      'GET /x?y HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n' +
        'X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: http\r\nForwarded: for=192.0.2.7;proto=http;host=example.com\r\n' +
        'Connection: keep-alive\r\n\r\n',
    );
  });

  it('drops hop-by-hop fields and those named by Connection, but never framing fields', () => {
    const out = buildRequestHead(
      req(
        'POST / HTTP/1.1\r\nHost: a:8080\r\nConnection: close, X-Secret, Content-Length, Host\r\nKeep-Alive: timeout=5\r\n' +
          'Proxy-Connection: keep-alive\r\nTE: trailers\r\nUpgrade: h2c\r\nX-Secret: 1\r\nX-Forwarded-Proto: https\r\nContent-Length: 3\r\n\r\n',
      ),
      '10.1.2.3',
    );
    expect(out.toString('latin1')).toBe(
      'POST / HTTP/1.1\r\nHost: a:8080\r\nContent-Length: 3\r\n' +
        'X-Forwarded-For: 10.1.2.3\r\nX-Forwarded-Proto: http\r\nForwarded: for=10.1.2.3;proto=http;host="a:8080"\r\n' +
        'Connection: keep-alive\r\n\r\n',
    );
  });

  it('appends the client to an existing X-Forwarded-For chain and keeps earlier Forwarded lines', () => {
    const out = buildRequestHead(
      req('GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 1.1.1.1\r\nForwarded: for=1.1.1.1\r\nX-Forwarded-For: 2.2.2.2, 3.3.3.3\r\n\r\n'),
      '127.0.0.1',
    );
    expect(out.toString('latin1')).toBe(
      'GET / HTTP/1.1\r\nHost: h\r\nForwarded: for=1.1.1.1\r\n' +
        'X-Forwarded-For: 1.1.1.1, 2.2.2.2, 3.3.3.3, 127.0.0.1\r\nX-Forwarded-Proto: http\r\nForwarded: for=127.0.0.1;proto=http;host=h\r\n' +
        'Connection: keep-alive\r\n\r\n',
    );
  });

  it('quotes IPv6 clients in Forwarded and omits host when there is none', () => {
    const out = buildRequestHead(req('GET / HTTP/1.0\r\n\r\n'), '2001:db8::1');
    expect(out.toString('latin1')).toBe(
      'GET / HTTP/1.0\r\nX-Forwarded-For: 2001:db8::1\r\nX-Forwarded-Proto: http\r\nForwarded: for="[2001:db8::1]";proto=http\r\n' +
        'Connection: keep-alive\r\n\r\n',
    );
  });

  it('keeps Upgrade for upgrade requests and says Connection: Upgrade', () => {
    const out = buildRequestHead(
      req('GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\n\r\n'),
      '10.0.0.1',
    );
    expect(out.toString('latin1')).toBe(
      'GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\n' +
        'X-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Proto: http\r\nForwarded: for=10.0.0.1;proto=http;host=h\r\n' +
        'Connection: Upgrade\r\n\r\n',
    );
  });
});

describe('buildResponseHead', () => {
  const r = res('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive, X-Hop\r\nKeep-Alive: timeout=5\r\nX-Hop: 1\r\nX-End: 2\r\n\r\n');

  it('forwards the status line and end-to-end fields only', () => {
    expect(buildResponseHead(r, { close: false, clientMinor: 1 }).toString('latin1')).toBe(
      'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-End: 2\r\n\r\n',
    );
  });

  it('adds Set-Cookie and Connection: close', () => {
    expect(buildResponseHead(r, { close: true, clientMinor: 1, setCookie: 'S=b1.sig; Path=/; HttpOnly' }).toString('latin1')).toBe(
      'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-End: 2\r\nSet-Cookie: S=b1.sig; Path=/; HttpOnly\r\nConnection: close\r\n\r\n',
    );
  });

  it('says keep-alive to HTTP/1.0 clients and ignores a cookie with CRLF', () => {
    expect(buildResponseHead(r, { close: false, clientMinor: 0, setCookie: 'a=b\r\nX-Evil: 1' }).toString('latin1')).toBe(
      'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-End: 2\r\nConnection: keep-alive\r\n\r\n',
    );
  });

  it('keeps Upgrade on a 101 that will be tunnelled', () => {
    const h = res('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n');
    expect(buildResponseHead(h, { close: false, clientMinor: 1, upgraded: true }).toString('latin1')).toBe(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: x\r\nConnection: Upgrade\r\n\r\n',
    );
  });

  it('relays 1xx heads without hop-by-hop fields', () => {
    expect(buildInformationalHead(res('HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\nConnection: x\r\n\r\n')).toString('latin1')).toBe(
      'HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n',
    );
  });
});

describe('address helpers', () => {
  it('quotes Forwarded values', () => {
    expect(forwardedNode('10.0.0.1')).toBe('10.0.0.1');
    expect(forwardedNode('::1')).toBe('"[::1]"');
    expect(forwardedValue('example.com')).toBe('example.com');
    expect(forwardedValue('a:80')).toBe('"a:80"');
    expect(forwardedValue('a"b\\')).toBe('"a\\"b\\\\"');
  });
});
