/**
 * The `halo` command line. Every usage error names the flag and exits 2; a config
 * error lists every problem with its path and exits 2.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { readFileSync } from 'node:fs';
import { ConfigError, HaloError } from '../core/errors.js';
import { loadConfigFile } from '../config/load.js';
import { startDemoBackend } from './demo-backend.js';
import { runNode } from './run.js';

const HELP = `halo — active/standby HA load balancer

Usage:
  halo run --config FILE [--log-level LEVEL] [--log-format text|json]
  halo validate --config FILE
  halo reload --config FILE     (apply the edited config to the running node: SIGHUP; halo reload --help)
  halo failover --config FILE [--hold DURATION | --release]   (planned handover from the master; halo failover --help)
  halo status [--config FILE] [--admin URL] [--token-file FILE] [--json]   (a running node's view of the cluster; halo status --help)
  halo logs [-f] [--since T] [--node N] [--json] [--config FILE] [--admin URL]   (the whole cluster's log, from any node; halo logs --help)
  halo demo-backend --name NAME --http PORT [--udp PORT] [--tcp-echo PORT] [--host ADDR] [--delay-ms N]
  halo lab up|down|status|probe|logs|kill|stop|start|linkdown|linkup|partition|heal ...   (halo lab help)
  halo version

Exit codes: 0 ok, 1 runtime failure, 2 bad usage or invalid config.`;

export class UsageError extends HaloError {
  constructor(message: string) {
    super('HALO_ERR_CLI_USAGE', message);
    this.name = 'UsageError';
  }
}

function parse<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T, command: string) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new UsageError(`halo ${command}: ${(err as Error).message.replace(/\. To specify.*$/s, '')}`);
  }
}

function portFlag(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new UsageError(`${flag}: expected a port 0-65535, got "${value}"`);
  return n;
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

async function demoBackend(args: string[]): Promise<number> {
  const v = parse(args, { name: { type: 'string' }, http: { type: 'string' }, udp: { type: 'string' }, 'tcp-echo': { type: 'string' }, host: { type: 'string' }, 'delay-ms': { type: 'string' } }, 'demo-backend');
  if (!v.name) throw new UsageError('halo demo-backend: --name is required');
  const http = portFlag(v.http, '--http');
  const udp = portFlag(v.udp, '--udp');
  const tcpEcho = portFlag(v['tcp-echo'], '--tcp-echo');
  const delay = v['delay-ms'];
  if (delay !== undefined && !/^\d+$/.test(delay)) throw new UsageError(`--delay-ms: expected a whole number of milliseconds, got "${delay}"`);
  if (http === undefined && udp === undefined && tcpEcho === undefined) throw new UsageError('halo demo-backend: give at least one of --http, --udp, --tcp-echo');
  const backend = await startDemoBackend({
    name: v.name,
    ...(v.host !== undefined ? { host: v.host } : {}),
    ...(http !== undefined ? { http } : {}),
    ...(udp !== undefined ? { udp } : {}),
    ...(tcpEcho !== undefined ? { tcpEcho } : {}),
    ...(delay !== undefined ? { delayMs: Number(delay) } : {}),
  });
  process.stdout.write(`${JSON.stringify({ event: 'demo_backend_ready', name: v.name, ...backend.ports })}\n`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  await backend.close();
  return 0;
}

function validate(args: string[]): number {
  const v = parse(args, { config: { type: 'string', short: 'c' } }, 'validate');
  if (!v.config) throw new UsageError('halo validate: --config FILE is required');
  const cfg = loadConfigFile(v.config);
  const c = cfg.cluster;
  const election = c === undefined ? '; no cluster section: single node, no VIP' : `; cluster ${c.id} on ${c.interface}, priority ${c.priority}, adverts every ${c.advert_interval_ms} ms (${c.transport.mode}), VIP ${c.vips.map((x) => x.address).join(', ')}, ${c.replication.enabled ? `tables replicated on port ${c.replication.port}${c.replication.tls ? ' (mutual TLS)' : ''}` : 'no table replication'}`;
  process.stdout.write(`${v.config}: ok (${cfg.services.length} service${cfg.services.length === 1 ? '' : 's'}: ${cfg.services.map((s) => `${s.name} ${s.mode} :${s.listen.port}`).join(', ')}${election})\n`);
  return 0;
}

async function run(args: string[]): Promise<number> {
  const v = parse(args, { config: { type: 'string', short: 'c' }, 'log-level': { type: 'string' }, 'log-format': { type: 'string' } }, 'run');
  if (!v.config) throw new UsageError('halo run: --config FILE is required');
  const level = v['log-level'];
  if (level !== undefined && !['error', 'warn', 'info', 'debug'].includes(level)) throw new UsageError(`--log-level: expected one of error, warn, info, debug, got "${level}"`);
  const format = v['log-format'];
  if (format !== undefined && format !== 'text' && format !== 'json') throw new UsageError(`--log-format: expected text or json, got "${format}"`);
  return runNode({
    configFile: v.config,
    ...(level !== undefined ? { logLevel: level as 'error' | 'warn' | 'info' | 'debug' } : {}),
    ...(format !== undefined ? { logFormat: format } : {}),
  });
}

/** `--help` of the commands that have no help of their own module. */
const COMMAND_HELP: Readonly<Record<string, string>> = {
  run: `Usage: halo run --config FILE [--log-level error|warn|info|debug] [--log-format text|json]

Starts every configured service, then the election and table replication when the config
has a cluster section. SIGTERM/SIGINT: the master hands the VIP over first (priority 0),
then open connections drain. SIGHUP reloads the config (halo reload --help).
Exit codes: 0 stopped by a signal, 1 failed to start or the election failed, 2 bad usage or config.`,
  validate: `Usage: halo validate --config FILE

Checks the config: the schema, then the cross-checks. Prints a one-line summary, or every
problem with its path. Exit codes: 0 valid, 2 invalid or bad usage.`,
  'demo-backend': `Usage: halo demo-backend --name NAME --http PORT [--udp PORT] [--tcp-echo PORT] [--host ADDR] [--delay-ms N]

A small backend for labs, tests and docker compose: HTTP answers with NAME (and /healthz),
UDP echoes each datagram prefixed with "NAME:", --tcp-echo echoes bytes unchanged.
Runs until SIGTERM/SIGINT. Exit codes: 0 stopped, 2 bad usage.`,
};

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const help = command === undefined ? undefined : COMMAND_HELP[command];
  if (help !== undefined && (rest.includes('--help') || rest.includes('-h'))) {
    process.stdout.write(`${help}\n`);
    return 0;
  }
  try {
    switch (command) {
      case 'run':
        return await run(rest);
      case 'validate':
        return validate(rest);
      case 'demo-backend':
        return await demoBackend(rest);
      case 'lab':
        return await (await import('./lab/cli.js')).labMain(rest);
      case 'reload':
        return await (await import('./control/control-commands.js')).reloadMain(rest);
      case 'failover':
        return await (await import('./control/control-commands.js')).failoverMain(rest);
      case 'status':
        return await (await import('./admin/status-command.js')).statusMain(rest);
      case 'logs':
        return await (await import('./admin/logs-command.js')).logsMain(rest);
      case 'version':
      case '--version':
        process.stdout.write(`halo ${version()}\n`);
        return 0;
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(`${HELP}\n`);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command "${command}" (try: halo help)`);
    }
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.code}: ${err.message}\n`);
      return 2;
    }
    if (err instanceof UsageError) {
      process.stderr.write(`${err.code}: ${err.message}\n${command === undefined ? HELP : ''}`);
      return 2;
    }
    throw err;
  }
}
