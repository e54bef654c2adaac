/**
 * Ordered L7 routing rules -> pool name. The first rule whose conditions all match
 * (AND within a rule) wins; no match routes to "default" (the service's own backends).
 *
 * Matching semantics:
 * - path_prefix: on the path without query string, case-sensitive, no percent-decoding.
 *   Segment-aware: "/api" matches "/api", "/api/" and "/api/v1" but not "/apix". A prefix
 *   ending in "/" is a plain prefix ("/api/" matches "/api/x" only, "/" matches all).
 * - host: exact and case-insensitive, with the port and a trailing dot ignored on both
 *   sides; "*.example.com" matches any name below example.com but not example.com itself.
 * - extension: of the last path segment (after its last dot), case-insensitive, query
 *   excluded: "/a/b.JS?x=1" has extension "js"; "/a.d/b" has none.
 * - content_type: prefix of the request's media type (parameters after ";" ignored),
 *   case-insensitive: "application/json" matches "application/json; charset=utf-8".
 * - header: the first value of the named field equals `value` (case-sensitive), starts
 *   with `prefix`, or, when neither is given, the field is present.
 */
import type { RuleConfig } from '../../config/schema.js';
import type { HttpRouteInput } from '../service/dispatcher-types.js';

export type RouteMatcher = (input: HttpRouteInput) => string;

type Predicate = (input: HttpRouteInput) => boolean;

export const DEFAULT_POOL = 'default';

export function compileRules(rules: readonly RuleConfig[]): RouteMatcher {
  if (rules.length === 0) return () => DEFAULT_POOL;
  const compiled = rules.map((r) => ({ pool: r.pool, test: compileMatch(r.match) }));
  return (input) => {
    for (const rule of compiled) {
      if (rule.test(input)) return rule.pool;
    }
    return DEFAULT_POOL;
  };
}

function compileMatch(match: RuleConfig['match']): Predicate {
  const preds: Predicate[] = [];
  if (match.path_prefix !== undefined) {
    const prefix = match.path_prefix;
    preds.push((i) => pathHasPrefix(stripQuery(i.path), prefix));
  }
  if (match.host !== undefined) {
    const test = hostMatcher(match.host);
    preds.push((i) => i.host !== undefined && test(normalizeHost(i.host)));
  }
  if (match.extension !== undefined) {
    const exts = new Set(match.extension.map((e) => e.toLowerCase()));
    preds.push((i) => {
      const ext = pathExtension(i.path);
      return ext !== undefined && exts.has(ext);
    });
  }
  if (match.content_type !== undefined) {
    const want = mediaType(match.content_type);
    preds.push((i) => {
      const ct = i.header('content-type');
      return ct !== undefined && mediaType(ct).startsWith(want);
    });
  }
  if (match.header !== undefined) {
    const { value, prefix } = match.header;
    const name = match.header.name.toLowerCase();
    preds.push((i) => {
      const v = i.header(name);
      if (v === undefined) return false;
      if (value !== undefined && v !== value) return false;
      if (prefix !== undefined && !v.startsWith(prefix)) return false;
      return true;
    });
  }
  if (preds.length === 1) return preds[0]!;
  return (i) => {
    for (const p of preds) if (!p(i)) return false;
    return true;
  };
}

function stripQuery(path: string): string {
  const q = path.indexOf('?');
  return q < 0 ? path : path.slice(0, q);
}

export function pathHasPrefix(path: string, prefix: string): boolean {
  if (!path.startsWith(prefix)) return false;
  if (prefix.endsWith('/') || path.length === prefix.length) return true;
  return path.charCodeAt(prefix.length) === 0x2f;
}

/** Lower-case, port and trailing dot removed, IPv6 brackets removed. */
export function normalizeHost(host: string): string {
  let h = host;
  if (h.startsWith('[')) {
    const close = h.indexOf(']');
    h = close > 0 ? h.slice(1, close) : h.slice(1);
  } else {
    const colon = h.indexOf(':');
    if (colon >= 0) h = h.slice(0, colon);
  }
  if (h.endsWith('.')) h = h.slice(0, -1);
  return h.toLowerCase();
}

function hostMatcher(pattern: string): (host: string) => boolean {
  if (pattern.startsWith('*.')) {
    const suffix = normalizeHost(pattern.slice(1));
    return (h) => h.length > suffix.length && h.endsWith(suffix);
  }
  const exact = normalizeHost(pattern);
  return (h) => h === exact;
}

/** Lower-case extension of the last path segment, query excluded; undefined when none. */
export function pathExtension(path: string): string | undefined {
  const p = stripQuery(path);
  const slash = p.lastIndexOf('/');
  const dot = p.lastIndexOf('.');
  if (dot <= slash || dot === p.length - 1) return undefined;
  return p.slice(dot + 1).toLowerCase();
}

function mediaType(contentType: string): string {
  const semi = contentType.indexOf(';');
  return (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
}
