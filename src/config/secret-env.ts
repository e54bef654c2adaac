/**
 * The environment variables a config reads secrets from (cluster.key_env, admin.token_env,
 * a service's persistence.secret_env). Children halo starts (notify hooks, track scripts,
 * `ip`, `arping`) must not inherit them: a hook that dumps its environment to a log would
 * publish the cluster key.
 */
import type { HaloConfig } from './schema.js';

export function secretEnvNames(config: Pick<HaloConfig, 'cluster' | 'admin' | 'services'>): string[] {
  const names = [config.cluster?.key_env, config.admin.token_env, ...config.services.map((s) => s.persistence.secret_env)];
  return [...new Set(names.filter((n): n is string => n !== undefined && n !== ''))].sort();
}

/** A copy of `env` without `names`. */
export function envWithout(env: NodeJS.ProcessEnv, names: readonly string[]): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...env };
  for (const n of names) delete out[n];
  return out;
}
