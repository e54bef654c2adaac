/**
 * Which changes to a service a config reload cannot make to a running dispatcher. The
 * dispatcher keeps its tables across a reload (HAProxy loses them); these settings change
 * what an entry means or how it lives (its TTL, the table's size, the cookie key), so
 * they take a new dispatcher with empty tables: the caller says so in its log line.
 */
import type { ServiceConfig } from '../../config/schema.js';

/** Config paths (services[].x.y) whose change needs a new dispatcher, in a stable order. */
export function tableChanges(before: ServiceConfig, after: ServiceConfig): string[] {
  const out: string[] = [];
  const check = (path: string, a: unknown, b: unknown) => {
    if (a !== b) out.push(path);
  };
  check('name', before.name, after.name);
  check('mode', before.mode, after.mode);
  const p = before.persistence;
  const q = after.persistence;
  check('persistence.type', p.type, q.type);
  // Unused settings of a table that does not exist change nothing.
  if (p.type !== 'none' && q.type !== 'none') {
    check('persistence.ttl_ms', p.ttl_ms, q.ttl_ms);
    check('persistence.max_entries', p.max_entries, q.max_entries);
  }
  if (p.type === 'cookie' && q.type === 'cookie') {
    check('persistence.secret_file', p.secret_file, q.secret_file);
    check('persistence.secret_env', p.secret_env, q.secret_env);
  }
  if (before.mode === 'udp' || after.mode === 'udp') {
    check('udp_flow_idle_ms', before.udp_flow_idle_ms, after.udp_flow_idle_ms);
    check('limits.max_flows', before.limits.max_flows, after.limits.max_flows);
  }
  return out;
}
