/**
 * Mutated and random input must always give a typed result: the parsers never throw,
 * never report more bytes than they were given, and never accept a head with CR, LF or
 * NUL inside a field value.
 */
import { describe, expect, it } from 'vitest';
import { BODY_CHUNKED, BodyFramer } from './body-framing.js';
import { RequestHeadParser } from './request-head.js';
import { ResponseHeadParser } from './response-head.js';
import { seededRandom as rng } from '../../../test/helpers/seeded-random.js';

const SPECIAL = [0x0d, 0x0a, 0x00, 0x20, 0x09, 0x3a, 0x2c, 0x3b, 0x30, 0x66, 0x7f, 0xff];

function mutate(base: Buffer, rand: () => number): Buffer {
  const bytes = [...base];
  const edits = 1 + Math.floor(rand() * 4);
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(rand() * (bytes.length + 1));
    const byte = rand() < 0.6 ? SPECIAL[Math.floor(rand() * SPECIAL.length)]! : Math.floor(rand() * 256);
    const op = rand();
    if (op < 0.33) bytes.splice(at, 0, byte);
    else if (op < 0.66) bytes.splice(at, 1);
    else bytes[Math.min(at, bytes.length - 1)] = byte;
  }
  return Buffer.from(bytes);
}

function splits(buf: Buffer, rand: () => number): Buffer[] {
  const out: Buffer[] = [];
  let i = 0;
  while (i < buf.length) {
    const n = 1 + Math.floor(rand() * Math.max(1, buf.length / 3));
    out.push(buf.subarray(i, i + n));
    i += n;
  }
  return out;
}

const REQUESTS = [
  'GET /a?b=c HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\nCookie: a=1; b=2\r\n\r\n',
  'POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello',
  'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
];
const RESPONSES = [
  'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX: y\r\n\r\nok',
  'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n',
  'HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
];

describe('fuzz', () => {
  it('request heads: typed results only, values free of CR/LF/NUL', () => {
    const rand = rng(1);
    const kinds = new Set<string>();
    for (let round = 0; round < 3000; round++) {
      const input = mutate(Buffer.from(REQUESTS[round % REQUESTS.length]!, 'latin1'), rand);
      const p = new RequestHeadParser(1024);
      for (const piece of splits(input, rand)) {
        const r = p.push(piece);
        kinds.add(r.kind);
        if (r.kind === 'incomplete') continue;
        if (r.kind === 'error') {
          expect([400, 431, 501, 505]).toContain(r.status);
        } else {
          expect(r.consumed).toBeLessThanOrEqual(input.length);
          for (const v of r.head.headers.values) expect(v).not.toMatch(/[\r\n\0]/);
          expect(r.head.contentLength >= 0 && r.head.chunked).toBe(false);
        }
        break;
      }
    }
    expect([...kinds].sort()).toEqual(['error', 'head', 'incomplete']);
  });

  it('response heads: typed results only', () => {
    const rand = rng(2);
    for (let round = 0; round < 2000; round++) {
      const input = mutate(Buffer.from(RESPONSES[round % RESPONSES.length]!, 'latin1'), rand);
      const p = new ResponseHeadParser(1024);
      let data: Buffer | undefined = input;
      for (let guard = 0; data !== undefined && guard < 10; guard++) {
        const r = p.push(data);
        expect(['incomplete', 'head', 'error']).toContain(r.kind);
        data = r.kind === 'head' ? r.rest : undefined;
      }
    }
  });

  it('chunked bodies: never more bytes than given, error or progress', () => {
    const rand = rng(3);
    const base = Buffer.from('5;x=1\r\nhello\r\n1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nT: 1\r\n\r\n', 'latin1');
    for (let round = 0; round < 3000; round++) {
      const input = mutate(base, rand);
      const f = new BodyFramer(64).reset(BODY_CHUNKED);
      let total = 0;
      for (const piece of splits(input, rand)) {
        const n = f.feed(piece);
        if (n < 0) {
          expect(f.error).toBeTypeOf('string');
          break;
        }
        expect(n).toBeLessThanOrEqual(piece.length);
        total += n;
        if (f.done) break;
        expect(n).toBe(piece.length);
      }
      expect(total).toBeLessThanOrEqual(input.length);
    }
  });
});
