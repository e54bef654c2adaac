/**
 * Cut one node's replication link and nothing else: iptables DROP rules inside that
 * node's namespace for the replication port, both directions (it dials out to the
 * master's port and listens on its own), so adverts and client traffic still flow. The
 * rules carry a comment, so `restore` removes exactly them, whatever port they named.
 * Namespaced rules die with the namespace; the host's tables are never touched.
 */
import { execFileSync } from 'node:child_process';
import { sh } from './system.js';

export const CUT_COMMENT = 'halo-lab-replication-cut';
/** iptables' lock (-w), for a lab that runs beside other iptables users. */
const LOCK_WAIT_S = '5';

/** The rules' specifications (chain first), as passed after -I or -D. */
export function cutRules(port: number): string[][] {
  const rules: string[][] = [];
  for (const chain of ['INPUT', 'OUTPUT']) {
    for (const dir of ['--dport', '--sport']) rules.push([chain, '-p', 'tcp', dir, String(port), '-m', 'comment', '--comment', CUT_COMMENT, '-j', 'DROP']);
  }
  return rules;
}

/**
 * From `iptables -S` output, the specifications of our rules (chain first, for -D).
 * Our comment has no spaces, so splitting on whitespace is exact for our lines.
 */
export function ourRules(listing: string): string[][] {
  return listing
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith('-A ') && l.split(/\s+/).includes(CUT_COMMENT))
    .map((l) => l.split(/\s+/).slice(1));
}

const iptables = (ns: string, args: string[]) => sh('ip', ['netns', 'exec', ns, 'iptables', '-w', LOCK_WAIT_S, ...args]);

export async function cutReplicationLink(ns: string, port: number): Promise<void> {
  for (const rule of cutRules(port)) await iptables(ns, ['-I', ...rule]);
}

/** Remove every rule a cut left in the namespace; how many went. */
export async function restoreReplicationLink(ns: string): Promise<number> {
  const rules = ourRules(await iptables(ns, ['-S']));
  for (const rule of rules) await iptables(ns, ['-D', ...rule]);
  return rules.length;
}

/** Why iptables cannot be used here, or undefined when it can (the cut tests skip with the reason). */
export function iptablesMissing(): string | undefined {
  try {
    execFileSync('iptables', ['--version'], { stdio: 'ignore', timeout: 5000 });
    return undefined;
  } catch (err) {
    return `iptables is not usable (${(err as Error).message}); install it (the iptables package)`;
  }
}
