/**
 * The small zod builders every config schema uses, so every error reads the same way:
 * "expected <what>, got <value>".
 */
import { z } from 'zod';

export function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return 'a list';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'a mapping';
  return String(value);
}

export function int(min: number, max: number) {
  const expected = `expected an integer ${min}-${max}`;
  const error = (iss: { input?: unknown }) => `${expected}, got ${show(iss.input)}`;
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error });
}

export function text(what: string, pattern?: RegExp) {
  const error = (iss: { input?: unknown }) => `expected ${what}, got ${show(iss.input)}`;
  const base = z.string({ error }).min(1, { error });
  return pattern ? base.regex(pattern, { error }) : base;
}

export function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, { error: (iss) => `expected one of ${values.join(', ')}, got ${show(iss.input)}` });
}

export function bool() {
  return z.boolean({ error: (iss) => `expected true or false, got ${show(iss.input)}` });
}

export function list<T extends z.ZodType>(item: T, what: string) {
  return z.array(item, { error: (iss) => `expected a list of ${what}, got ${show(iss.input)}` });
}

export const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
export const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
// Hostnames are accepted for backends (resolved at connect time); IPv6 literals too.
export const HOST = /^([A-Za-z0-9.-]+|[0-9A-Fa-f:.]+)$/;

export const name = (what: string) => text(`${what} (letters, digits, '_', '.', '-'; at most 63 characters)`, NAME);
