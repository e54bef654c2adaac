/** Reading one cookie out of request Cookie fields (RFC 6265 5.4: "a=1; b=2"). */

/** The value of the first cookie called `name` across all Cookie field values. */
export function findCookie(cookieValues: readonly string[], name: string): string | undefined {
  for (const v of cookieValues) {
    let pos = 0;
    while (pos < v.length) {
      let semi = v.indexOf(';', pos);
      if (semi < 0) semi = v.length;
      let s = pos;
      while (s < semi && (v.charCodeAt(s) === 0x20 || v.charCodeAt(s) === 0x09)) s++;
      const eq = v.indexOf('=', s);
      if (eq > s && eq < semi && eq - s === name.length && v.startsWith(name, s)) {
        let value = v.slice(eq + 1, semi).trim();
        if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
        return value;
      }
      pos = semi + 1;
    }
  }
  return undefined;
}
