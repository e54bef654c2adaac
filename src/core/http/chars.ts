/**
 * Byte classes from RFC 9110/9112 as lookup tables, so the parsers validate a head
 * with one table read per byte instead of regular expressions.
 */

function table(pred: (c: number) => boolean): Uint8Array {
  const t = new Uint8Array(256);
  for (let c = 0; c < 256; c++) t[c] = pred(c) ? 1 : 0;
  return t;
}

const TCHAR_EXTRA = "!#$%&'*+-.^_`|~";

/** tchar: the bytes allowed in a method, a header name, a transfer coding. */
export const TOKEN = table(
  (c) => (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || TCHAR_EXTRA.includes(String.fromCharCode(c)),
);

/** field-vchar / SP / HTAB / obs-text: everything but control bytes (HTAB excepted) and DEL. */
export const FIELD_VALUE = table((c) => c === 0x09 || (c >= 0x20 && c !== 0x7f));

/** The bytes of a request target: visible ASCII only (no spaces, controls or raw 8-bit bytes). */
export const TARGET = table((c) => c >= 0x21 && c <= 0x7e);

/** Host header / authority: reg-name, IPv4, IP literal in brackets, and an optional port. */
export const HOST = table(
  (c) =>
    (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || "-._~!$&'()*+,;=:%[]".includes(String.fromCharCode(c)),
);

export const HEX_VALUE = (() => {
  const t = new Int8Array(256).fill(-1);
  for (let i = 0; i < 10; i++) t[0x30 + i] = i;
  for (let i = 0; i < 6; i++) {
    t[0x41 + i] = 10 + i;
    t[0x61 + i] = 10 + i;
  }
  return t;
})();

/** True when every char of s[start, end) is in the table (s holds latin1 chars, so codes are < 256). */
export function allIn(t: Uint8Array, s: string, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    if (t[s.charCodeAt(i)] !== 1) return false;
  }
  return true;
}

export function isToken(s: string): boolean {
  return s.length > 0 && allIn(TOKEN, s, 0, s.length);
}
