import { describe, expect, it } from 'vitest';
import { BODY_CHUNKED, BODY_CLOSE, BODY_LENGTH, BODY_NONE, BodyFramer } from './body-framing.js';

const b = (s: string) => Buffer.from(s, 'latin1');

/** Feed `input` split at the given points; returns bytes consumed and whether done/error. */
function feedSplit(f: BodyFramer, input: Buffer, splits: number[]): { used: number; done: boolean; error: string | undefined } {
  let used = 0;
  let prev = 0;
  for (const at of [...splits, input.length]) {
    const n = f.feed(input, prev, at);
    if (n < 0) return { used, done: f.done, error: f.error };
    used += n;
    if (f.done) break;
    expect(n).toBe(at - prev);
    prev = at;
  }
  return { used, done: f.done, error: f.error };
}

describe('BodyFramer: Content-Length', () => {
  it('counts exactly the declared bytes across buffers and leaves the rest', () => {
    const f = new BodyFramer().reset(BODY_LENGTH, 10);
    expect(f.done).toBe(false);
    expect(f.feed(b('abcd'))).toBe(4);
    expect(f.done).toBe(false);
    expect(f.feed(b('efghijGET /'))).toBe(6);
    expect(f.done).toBe(true);
    expect(f.bytes).toBe(10);
    expect(f.feed(b('more'))).toBe(0);
  });

  it('is done at once for length 0 and for no body', () => {
    expect(new BodyFramer().reset(BODY_LENGTH, 0).done).toBe(true);
    const none = new BodyFramer().reset(BODY_NONE);
    expect(none.done).toBe(true);
    expect(none.feed(b('x'))).toBe(0);
  });

  it('honours start and end offsets', () => {
    const f = new BodyFramer().reset(BODY_LENGTH, 3);
    expect(f.feed(b('xxabcyy'), 2, 4)).toBe(2);
    expect(f.feed(b('xxabcyy'), 4)).toBe(1);
    expect(f.done).toBe(true);
  });
});

describe('BodyFramer: close-delimited', () => {
  it('takes everything until the end of the stream', () => {
    const f = new BodyFramer().reset(BODY_CLOSE);
    expect(f.feed(b('abc'))).toBe(3);
    expect(f.done).toBe(false);
    expect(f.endOfStream()).toBe(true);
    expect(f.done).toBe(true);
  });

  it('reports a truncated length body at end of stream', () => {
    const f = new BodyFramer().reset(BODY_LENGTH, 5);
    f.feed(b('ab'));
    expect(f.endOfStream()).toBe(false);
  });
});

describe('BodyFramer: chunked', () => {
  const body = '5\r\nhello\r\n1A;name=value;x="q y"\r\nabcdefghijklmnopqrstuvwxyz\r\n000\r\n\r\n';
  const withTrailers = '3\r\nabc\r\n0\r\nExpires: never\r\nX-Sum: 12\r\n\r\n';

  it('finds the end of a chunked body and leaves the next message', () => {
    const input = b(body + 'GET / HTTP/1.1\r\n');
    const f = new BodyFramer().reset(BODY_CHUNKED);
    expect(f.feed(input)).toBe(body.length);
    expect(f.done).toBe(true);
    expect(f.error).toBeUndefined();
  });

  it('gives the same result for every split point, in two and three pieces', () => {
    for (const text of [body, withTrailers]) {
      const input = b(text + 'NEXT');
      for (let i = 1; i < input.length; i++) {
        const r = feedSplit(new BodyFramer().reset(BODY_CHUNKED), input, [i]);
        expect(r).toEqual({ used: text.length, done: true, error: undefined });
        for (let j = i + 1; j < input.length; j += 7) {
          const r3 = feedSplit(new BodyFramer().reset(BODY_CHUNKED), input, [i, j]);
          expect(r3.used).toBe(text.length);
        }
      }
    }
  });

  it('handles one byte per buffer', () => {
    const input = b(withTrailers);
    const f = new BodyFramer().reset(BODY_CHUNKED);
    for (let i = 0; i < input.length; i++) {
      expect(f.done).toBe(false);
      expect(f.feed(input, i, i + 1)).toBe(1);
    }
    expect(f.done).toBe(true);
  });

  it('accepts whitespace before an extension and upper-case hex', () => {
    const text = 'A \t;ext\r\n0123456789\r\n0\r\n\r\n';
    const f = new BodyFramer().reset(BODY_CHUNKED);
    expect(f.feed(b(text))).toBe(text.length);
    expect(f.done).toBe(true);
  });

  it('waits for the final CRLF after the last chunk', () => {
    const f = new BodyFramer().reset(BODY_CHUNKED);
    expect(f.feed(b('0\r\n'))).toBe(3);
    expect(f.done).toBe(false);
    expect(f.endOfStream()).toBe(false);
  });

  const bad: Array<[string, string]> = [
    ['a non-hex size', 'g\r\n'],
    ['an empty size', '\r\n'],
    ['a negative size', '-1\r\n'],
    ['a 0x prefix', '0x5\r\nhello\r\n0\r\n\r\n'],
    ['a size with a space inside', '1 0\r\n'],
    ['a bare LF after the size', '5\nhello\r\n0\r\n\r\n'],
    ['a bare CR after the size', '5\rhello'],
    ['data longer than the size', '3\r\nabcd\r\n0\r\n\r\n'],
    ['data without CRLF', '3\r\nabc0\r\n\r\n'],
    ['data followed by bare LF', '3\r\nabc\n0\r\n\r\n'],
    ['an absurd size', 'fffffffffffffffff\r\n'],
    ['a control byte in an extension', '3;a\x01b\r\nabc\r\n0\r\n\r\n'],
    ['a bare LF in an extension', '3;a\nb\r\n'],
    ['a folded trailer', '0\r\n X: 1\r\n\r\n'],
    ['a trailer without CR', '0\r\nX: 1\n\r\n'],
    ['a trailer name with a space', '0\r\nX Y: 1\r\n\r\n'],
    ['a final bare LF', '0\r\n\n'],
    ['junk after the last CR', '0\r\n\rx'],
  ];
  for (const [name, text] of bad) {
    it(`rejects ${name}`, () => {
      const f = new BodyFramer().reset(BODY_CHUNKED);
      expect(f.feed(b(text))).toBe(-1);
      expect(f.error).toBeTypeOf('string');
      expect(f.done).toBe(false);
      expect(f.feed(b('0\r\n\r\n'))).toBe(-1);
    });
  }

  it('rejects an extension longer than 4 KiB and trailers past the limit', () => {
    const ext = new BodyFramer().reset(BODY_CHUNKED);
    expect(ext.feed(b('1;' + 'e'.repeat(5000) + '\r\n'))).toBe(-1);
    const tr = new BodyFramer(100).reset(BODY_CHUNKED);
    expect(tr.feed(b('0\r\nX-Big: ' + 'v'.repeat(200) + '\r\n\r\n'))).toBe(-1);
    expect(tr.error).toMatch(/trailer/);
  });

  it('is reusable after reset', () => {
    const f = new BodyFramer().reset(BODY_CHUNKED);
    expect(f.feed(b('zz'))).toBe(-1);
    f.reset(BODY_CHUNKED);
    expect(f.feed(b('0\r\n\r\n'))).toBe(5);
    expect(f.done).toBe(true);
    expect(f.bytes).toBe(5);
  });
});
