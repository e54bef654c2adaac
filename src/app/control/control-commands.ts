/**
 * `halo reload` and `halo failover`: find the running node through its config file and
 * ask it. The node answers (it alone knows whether the reload applies) and logs the same.
 * The transport is one function, so the admin API (POST /reload, POST /failover) can
 * take the control socket's place without touching the commands.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { parseDocument } from 'yaml';
import { ConfigError } from '../../core/errors.js';
import { loadConfigFile } from '../../config/load.js';
import { controlPaths, controlRequest, type ControlRequest } from './control-socket.js';
import { MAX_HOLD_MS, type ControlResult } from './control-types.js';

export const RELOAD_HELP = `Usage: halo reload --config FILE

Asks the node running with FILE to read it again (as SIGHUP does) and apply what changed
without a state change: a master stays master, the VIP stays, the tables of every service
are kept. Services, backends, weights, health checks, limits and timeouts apply live;
cluster.priority, preempt, preempt_delay_ms, tracked weights and notify hooks too (a new
priority preempts only by the usual rules). Anything else (cluster id, key, interface,
VIPs, transport, intervals, replication, node name) needs a restart: the whole reload is
then refused, every problem named, and the old config keeps running. The node is found
through FILE's node.name and node.run_dir (its control socket).

  -c, --config FILE   the config the node was started with (edited)
  -h, --help          this text

Exit codes: 0 applied (or no change), 1 refused, partly failed or the node unreachable,
2 bad usage or a config that names no node.`;

export const FAILOVER_HELP = `Usage: halo failover --config FILE [--hold DURATION]
       halo failover --config FILE --release

A planned handover for maintenance, run on the master: it advertises priority 0 (the
backup takes over within Skew_Time, RFC 5798), keeps serving until the new master has
announced the VIP (make-before-break), and becomes BACKUP. It then holds itself out of
preemption for DURATION (default 1h): it advertises priority 1, so it does not take the
VIP back, yet stays every other node's last resort. The hold ends with --release, when
DURATION is over, or with a restart. On a node that is not master it fails, naming the
master.

  -c, --config FILE       the node's config (node.name, node.run_dir find it)
      --hold DURATION     500ms, 90s, 10m, 2h, 1d; 0 = no hold (up to 7d)
      --release           end the hold now: the normal preemption rules apply again
  -h, --help              this text

Exit codes: 0 handed over (or released), 1 not master, nobody took over, or the node
unreachable, 2 bad usage.`;

function usage(io: CommandOutput, message: string, help: string): number {
  io.err(`HALO_ERR_CLI_USAGE: ${message}\n${help}\n`);
  return 2;
}

/** The flags, or the usage problem as text. */
function parseFlags<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    return (err as Error).message.replace(/\. To specify.*$/s, '');
  }
}

/** `halo reload`. Config errors that name no node throw ConfigError (the CLI prints it, exit 2). */
export async function reloadMain(args: string[], io: CommandOutput = STD): Promise<number> {
  const v = parseFlags(args, { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } });
  if (typeof v === 'string') return usage(io, `halo reload: ${v}`, RELOAD_HELP);
  if (v.help === true) {
    io.out(`${RELOAD_HELP}\n`);
    return 0;
  }
  if (v.config === undefined) return usage(io, 'halo reload: --config FILE is required', RELOAD_HELP);
  return sendControl(socketTransport(v.config).transport, reloadRequest(v.config), io);
}

export async function failoverMain(args: string[], io: CommandOutput = STD): Promise<number> {
  const v = parseFlags(args, { config: { type: 'string', short: 'c' }, hold: { type: 'string' }, release: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } });
  if (typeof v === 'string') return usage(io, `halo failover: ${v}`, FAILOVER_HELP);
  if (v.help === true) {
    io.out(`${FAILOVER_HELP}\n`);
    return 0;
  }
  if (v.config === undefined) return usage(io, 'halo failover: --config FILE is required', FAILOVER_HELP);
  if (v.release === true && v.hold !== undefined) return usage(io, 'halo failover: --hold and --release do not go together', FAILOVER_HELP);
  let holdMs: number | undefined;
  if (v.hold !== undefined) {
    holdMs = parseDuration(v.hold);
    if (holdMs === undefined || holdMs > MAX_HOLD_MS) return usage(io, `--hold: expected a duration such as 90s, 10m or 2h, at most 7d, got "${v.hold}"`, FAILOVER_HELP);
  }
  const { transport } = socketTransport(v.config);
  return sendControl(transport, v.release === true ? { op: 'release' } : holdMs === undefined ? { op: 'failover' } : { op: 'failover', holdMs }, io);
}

export type ControlTransport = (request: ControlRequest) => Promise<ControlResult>;

/** A failover waits for the new master; the node bounds that well under this. */
const REQUEST_TIMEOUT_MS = 90_000;

/**
 * The control socket of the node `configFile` configures. A file that fails validation
 * (the very reload being tried) still names its node when it is YAML with a plain node
 * section: that node is then asked, so it refuses the reload and logs every problem.
 */
export function socketTransport(configFile: string): { transport: ControlTransport; socket: string } {
  const node = nodeOf(configFile);
  const { socket } = controlPaths(node.runDir, node.name);
  return { transport: (req) => controlRequest(socket, req, REQUEST_TIMEOUT_MS), socket };
}

function nodeOf(configFile: string): { name: string; runDir: string } {
  try {
    const cfg = loadConfigFile(configFile);
    return { name: cfg.node.name, runDir: cfg.node.run_dir };
  } catch (err) {
    if (!(err instanceof ConfigError) || err.code === 'HALO_ERR_CONFIG_READ') throw err;
    const doc = parseDocument(readFileSync(configFile, 'utf8'));
    const raw: unknown = doc.errors.length > 0 ? undefined : doc.toJS();
    const node = typeof raw === 'object' && raw !== null ? (raw as { node?: { name?: unknown; run_dir?: unknown } }).node : undefined;
    const name = node?.name ?? 'halo';
    const runDir = node?.run_dir ?? '/run/halo';
    if (doc.errors.length > 0 || typeof name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name) || typeof runDir !== 'string' || !runDir.startsWith('/')) throw err;
    return { name, runDir };
  }
}

export interface CommandOutput {
  out(text: string): void;
  err(text: string): void;
}

const STD: CommandOutput = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) };

/** Exit code: 0 done, 1 refused, failed or the node unreachable. */
export async function sendControl(transport: ControlTransport, request: ControlRequest, io: CommandOutput = STD): Promise<number> {
  let r: ControlResult;
  try {
    r = await transport(request);
  } catch (err) {
    io.err(`halo: ${(err as Error).message}\n`);
    return 1;
  }
  if (r.ok) io.out(`${r.message}\n`);
  else io.err(`${r.message}\n`);
  return r.ok ? 0 : 1;
}

export function reloadRequest(configFile: string): ControlRequest {
  return { op: 'reload', configFile: resolve(configFile) };
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "90s", "10m", "2h", "1d", "500ms", "0": milliseconds; undefined when not a duration. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d{1,9})(ms|s|m|h|d)?$/.exec(text.trim());
  if (m === null) return undefined;
  const n = Number(m[1]);
  if (m[2] === undefined) return n === 0 ? 0 : undefined;
  return n * (UNITS[m[2]] ?? Number.NaN);
}
