/**
 * Header fields of one HTTP/1.x head, shared by the request and response parsers:
 * the raw lines (forwarded byte for byte), lower-case names for lookup, and trimmed
 * values. Parallel arrays rather than one object per field: a head is parsed on every
 * request, so fewer allocations matter.
 */
import { allIn, FIELD_VALUE, TOKEN } from './chars.js';

export class HeaderList {
  /** "Name: value" exactly as received, without the CRLF. */
  readonly lines: string[] = [];
  /** Lower-case field names. */
  readonly names: string[] = [];
  /** Field values with leading and trailing SP/HTAB removed. */
  readonly values: string[] = [];

  get length(): number {
    return this.names.length;
  }

  add(line: string, lname: string, value: string): void {
    this.lines.push(line);
    this.names.push(lname);
    this.values.push(value);
  }

  /** The first value of a lower-case name. */
  get(lname: string): string | undefined {
    const names = this.names;
    for (let i = 0; i < names.length; i++) {
      if (names[i] === lname) return this.values[i];
    }
    return undefined;
  }

  getAll(lname: string): string[] {
    const out: string[] = [];
    for (let i = 0; i < this.names.length; i++) {
      if (this.names[i] === lname) out.push(this.values[i]!);
    }
    return out;
  }

  count(lname: string): number {
    let n = 0;
    for (const name of this.names) if (name === lname) n++;
    return n;
  }
}

/** A field-line problem; TOO_MANY_FIELDS maps to 431, the rest to 400 (or 502 for a backend). */
export const TOO_MANY_FIELDS = 'too many header fields';

/**
 * Parse field lines of `s` from `pos` up to the empty line that ends the head. `s` is a
 * whole head decoded as latin1 and ends with CRLF CRLF (the head reader guarantees it).
 * Returns an error reason, or undefined when every line was valid.
 */
export function parseFieldLines(s: string, pos: number, maxFields: number, out: HeaderList): string | undefined {
  for (;;) {
    const eol = s.indexOf('\r\n', pos);
    if (eol < 0) return 'unterminated header line';
    if (eol === pos) return undefined;
    if (out.length >= maxFields) return TOO_MANY_FIELDS;
    const first = s.charCodeAt(pos);
    // obs-fold (a continuation line) is how header-splitting attacks hide; RFC 9112 5.2 lets us reject.
    if (first === 0x20 || first === 0x09) return 'obsolete line folding';
    const colon = s.indexOf(':', pos);
    if (colon < 0 || colon > eol) return 'header line without a colon';
    if (colon === pos) return 'empty header name';
    // Also rejects whitespace between the name and the colon (RFC 9112 5.1: MUST reject).
    if (!allIn(TOKEN, s, pos, colon)) return 'invalid character in header name';
    let vs = colon + 1;
    let ve = eol;
    while (vs < ve && isOws(s.charCodeAt(vs))) vs++;
    while (ve > vs && isOws(s.charCodeAt(ve - 1))) ve--;
    if (!allIn(FIELD_VALUE, s, vs, ve)) return 'invalid character in header value';
    out.add(s.slice(pos, eol), s.slice(pos, colon).toLowerCase(), s.slice(vs, ve));
    pos = eol + 2;
  }
}

function isOws(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/** Comma-separated list elements of all values, trimmed and lower-cased, empties dropped. */
export function listTokens(values: readonly string[]): string[] {
  const out: string[] = [];
  for (const v of values) {
    if (v.indexOf(',') < 0) {
      const t = v.trim();
      if (t !== '') out.push(t.toLowerCase());
      continue;
    }
    for (const part of v.split(',')) {
      const t = part.trim();
      if (t !== '') out.push(t.toLowerCase());
    }
  }
  return out;
}

/**
 * Content-Length values: every element of every line must be the same decimal number.
 * Returns the length, or an error reason ("5, 5" is accepted as RFC 9110 8.6 allows).
 */
export function parseContentLength(values: readonly string[]): number | string {
  let result = -1;
  for (const v of values) {
    for (const part of v.indexOf(',') < 0 ? [v] : v.split(',')) {
      const t = part.trim();
      // 15 digits keep every length an exact integer in a double.
      if (t.length === 0 || t.length > 15) return 'invalid Content-Length';
      let n = 0;
      for (let i = 0; i < t.length; i++) {
        const c = t.charCodeAt(i) - 0x30;
        if (c < 0 || c > 9) return 'invalid Content-Length';
        n = n * 10 + c;
      }
      if (result >= 0 && n !== result) return 'conflicting Content-Length values';
      result = n;
    }
  }
  return result;
}

/**
 * Find the end of a head in buf[start, end): the index just past CRLF CRLF, -1 when not
 * there yet, -2 when a line ends with a bare LF (we require CRLF: lenient line endings
 * are a request-smuggling vector between parsers that disagree). Scanning resumes at
 * `from`, so feeding a head byte by byte stays linear.
 */
export function findHeadEnd(buf: Uint8Array, start: number, end: number, from: number): number {
  let i = from < start ? start : from;
  for (;;) {
    i = buf.indexOf(0x0a, i);
    if (i < 0 || i >= end) return -1;
    if (i === start || buf[i - 1] !== 0x0d) return -2;
    if (i - 3 >= start && buf[i - 2] === 0x0a && buf[i - 3] === 0x0d) return i + 1;
    i++;
  }
}
