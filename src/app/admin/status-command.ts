/**
 * `halo status`: GET /status from a node's admin API and print it for people (or as
 * JSON). The address and token come from the node's config (`--config`), or from flags.
 * Exit codes: 0 ok, 1 the node could not be reached or refused, 2 bad usage or config.
 */
import { parseArgs } from 'node:util';
import { ADMIN_DEFAULT_LISTEN, dialHost, parseAdminListen } from '../../config/admin-schema.js';
import { loadConfigFile } from '../../config/load.js';
import { readSecretFile } from '../../config/secret-file.js';
import { ConfigError, HaloError } from '../../core/errors.js';
import { loadSecret } from '../secrets.js';
import type { StatusReport } from './status-report.js';
import { formatStatus } from './status-text.js';

export const STATUS_HELP = `Usage: halo status [--config FILE] [--admin URL] [--token-file FILE] [--json]

Asks a running node's admin API (GET /status) how it sees the cluster: every node with
its state, priority, effective priority and why, who holds each VIP, synced and lag,
backends up/down per service, and the last failover's timeline.

  -c, --config FILE     the node's config: admin.listen and admin.token_file/token_env
                        (without it and without --admin: http://${ADMIN_DEFAULT_LISTEN})
      --admin URL       the admin API to ask, e.g. http://10.0.0.2:9797 (overrides the config)
      --token-file FILE the bearer token (overrides the config's)
      --json            print the JSON report instead
  -h, --help            this text

Exit codes: 0 ok, 1 the node is unreachable or refused the request, 2 bad usage or config.`;

const REQUEST_TIMEOUT_MS = 5000;

export interface CommandIo {
  stdout(text: string): void;
  stderr(text: string): void;
}

const processIo: CommandIo = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
};

class StatusUsageError extends HaloError {
  constructor(message: string) {
    super('HALO_ERR_CLI_USAGE', message);
  }
}

export interface Target {
  base: string;
  token: string | undefined;
}

export function resolveTarget(v: { config?: string | undefined; admin?: string | undefined; 'token-file'?: string | undefined }): Target {
  const config = v.config === undefined ? undefined : loadConfigFile(v.config);
  let base: string;
  if (v.admin !== undefined) {
    let url: URL;
    try {
      url = new URL(v.admin);
    } catch {
      throw new StatusUsageError(`--admin: expected a URL like http://127.0.0.1:9797, got "${v.admin}"`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new StatusUsageError(`--admin: expected an http:// or https:// URL, got "${v.admin}"`);
    base = `${url.protocol}//${url.host}`;
  } else {
    const listen = parseAdminListen(config?.admin.listen ?? ADMIN_DEFAULT_LISTEN);
    if (listen === undefined) throw new StatusUsageError(`${v.config ?? 'the config'}: admin.listen is off; pass --admin URL to ask another address`);
    base = `http://${dialHost(listen.host)}:${listen.port}`;
  }
  let token: string | undefined;
  const file = v['token-file'];
  if (file !== undefined) {
    try {
      token = readSecretFile(file, '--token-file').toString('utf8').trim();
    } catch (err) {
      // a loose mode stays HALO_ERR_KEY_PERMISSIONS; a file that cannot be read is a usage error
      if (err instanceof HaloError && err.code === 'HALO_ERR_SECRET') throw new StatusUsageError(err.message);
      throw err;
    }
    if (token === '') throw new StatusUsageError(`--token-file: ${file} is empty`);
  } else if (config !== undefined && (config.admin.token_file !== undefined || config.admin.token_env !== undefined)) {
    const a = config.admin;
    token = loadSecret({ file: a.token_file, env: a.token_env }, 'admin', 'admin token', 16, { file: 'token_file', env: 'token_env' }).toString('utf8');
  }
  return { base, token };
}

/** GET <base>/status; throws HALO_ERR_ADMIN with what went wrong (unreachable, refused, not a report). */
export async function fetchStatus(base: string, token: string | undefined, timeoutMs = REQUEST_TIMEOUT_MS): Promise<StatusReport> {
  const url = `${base}/status`;
  let res: Response;
  try {
    res = await fetch(url, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const why = (err as Error).name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (cause?.code ?? cause?.message ?? (err as Error).message);
    throw new HaloError('HALO_ERR_ADMIN', `cannot reach ${url}: ${why} (is halo running there, with admin.listen on that address?)`, { url });
  }
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text) as unknown;
  } catch {
    throw new HaloError('HALO_ERR_ADMIN', `${url} answered ${res.status} with something that is not JSON: ${text.slice(0, 120)}`, { url });
  }
  if (!res.ok) {
    const e = (body as { error?: { code?: string; message?: string } }).error;
    throw new HaloError('HALO_ERR_ADMIN', `${url} answered ${res.status} ${e?.code ?? ''}: ${e?.message ?? text.slice(0, 120)}`, { url, status: res.status });
  }
  const report = body as Partial<StatusReport>;
  if (typeof report.node !== 'string' || !Array.isArray(report.nodes)) throw new HaloError('HALO_ERR_ADMIN', `${url} answered, but not with a halo status report`, { url });
  return report as StatusReport;
}

export async function statusMain(args: string[], io: CommandIo = processIo): Promise<number> {
  let v;
  try {
    v = parseArgs({
      args,
      options: { config: { type: 'string', short: 'c' }, admin: { type: 'string' }, 'token-file': { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    io.stderr(`HALO_ERR_CLI_USAGE: halo status: ${(err as Error).message.replace(/\. To specify.*$/s, '')}\n${STATUS_HELP}\n`);
    return 2;
  }
  if (v.help === true) {
    io.stdout(`${STATUS_HELP}\n`);
    return 0;
  }
  let target: Target;
  try {
    target = resolveTarget(v);
  } catch (err) {
    if (err instanceof ConfigError || err instanceof HaloError) {
      io.stderr(`${err.code}: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  try {
    const report = await fetchStatus(target.base, target.token);
    io.stdout(v.json === true ? `${JSON.stringify(report, null, 2)}\n` : formatStatus(report));
    return 0;
  } catch (err) {
    if (err instanceof HaloError) {
      io.stderr(`${err.code}: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}
