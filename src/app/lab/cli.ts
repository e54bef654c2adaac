/**
 * `halo lab ...`: build, break and watch a halo cluster in network namespaces. Usage
 * errors (a bad flag, an unknown node, no root) exit 2 through the main CLI's UsageError.
 */
import { createInterface } from 'node:readline';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from '../cli.js';
import { startClientAgent } from './client-agent.js';
import { parseClientCommand, parseClientJob } from './client-jobs.js';
import { formatSummary, formatWindow, type ProbeSample } from './outages.js';
import { DEFAULT_LAB_NAME, LAB_HTTP_PORT, LAB_VIP, LAB_NAME_PATTERN, labHosts } from './plan.js';
import { MAX_PROBE_SECONDS } from './probe.js';
import { runProbeAgent } from './probe-agent.js';
import { formatStatus } from './status.js';
import { isRoot } from './system.js';
import { Lab } from './topology.js';

export const LAB_HELP = `halo lab — a halo cluster in network namespaces on this machine (needs root, no Docker)

Usage:
  halo lab up [--nodes 2|3] [--backends 2|3] [--name NAME] [--interval-ms N] [--no-election]
  halo lab down [--name NAME]
  halo lab status [--json] [--name NAME]
  halo lab probe [--seconds N] [--target ADDR:PORT] [--json] [--name NAME]
  halo lab kill|stop|start NODE [--name NAME]
  halo lab linkdown|linkup NODE [--name NAME]
  halo lab partition|heal NODE [--name NAME]
  halo lab logs [-f] [--lines N] [--backends] [--json] [--name NAME]

NODE: lb1, lb2 (lb3 with --nodes 3), be1, be2 (be3 with --backends 3).
  kill = SIGKILL (crash); stop = SIGTERM (planned); linkdown = the node's switch port
  down (carrier lost); partition = the switch stops forwarding to it (carrier kept).
Network 10.77.0.0/24: lbK .1K, beK .2K, client .31, VIP .100 (http :80, udp :53).
--interval-ms sets cluster.advert_interval_ms; --no-election runs the data plane only.
Namespaces NAME-sw (bridge br0), NAME-lb1.., NAME-be1.., NAME-client;
configs, state and logs in /run/halo-lab/NAME. NAME defaults to ${DEFAULT_LAB_NAME}.`;

const NODE_COMMANDS = ['kill', 'stop', 'start', 'linkdown', 'linkup', 'partition', 'heal'] as const;
type NodeCommand = (typeof NODE_COMMANDS)[number];

const NAME = { name: { type: 'string' } } as const;

function parse<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T, command: string, positionals: number) {
  let parsed;
  try {
    parsed = parseArgs({ args, options, strict: true, allowPositionals: true });
  } catch (err) {
    throw new UsageError(`halo lab ${command}: ${(err as Error).message.replace(/\. To specify.*$/s, '')}`);
  }
  if (parsed.positionals.length !== positionals) {
    throw new UsageError(positionals === 0 ? `halo lab ${command}: unexpected argument "${parsed.positionals[0]}"` : `halo lab ${command}: expected one NODE, got ${parsed.positionals.length === 0 ? 'none' : parsed.positionals.join(' ')}`);
  }
  return { values: parsed.values, positionals: parsed.positionals };
}

function intFlag(value: string | undefined, flag: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max) throw new UsageError(`${flag}: expected an integer ${min}-${max}, got "${value}"`);
  return n;
}

function labFor(name: string | undefined): Lab {
  const n = name ?? DEFAULT_LAB_NAME;
  if (!LAB_NAME_PATTERN.test(n)) throw new UsageError(`--name: expected letters, digits, ".", "_" or "-" (at most 40, starting with a letter or digit), got "${n}"`);
  return new Lab({ name: n });
}

const out = (line = '') => process.stdout.write(`${line}\n`);

/** Ctrl-C / SIGTERM end a follow or a probe cleanly instead of killing us mid-report. */
function interrupted(): { signal: AbortSignal; dispose: () => void } {
  const ac = new AbortController();
  const stop = () => ac.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return { signal: ac.signal, dispose: () => { process.off('SIGINT', stop); process.off('SIGTERM', stop); } };
}

async function up(args: string[]): Promise<number> {
  const { values: v } = parse(args, { ...NAME, nodes: { type: 'string' }, backends: { type: 'string' }, 'interval-ms': { type: 'string' }, 'no-election': { type: 'boolean' } }, 'up', 0);
  const nodes = intFlag(v.nodes, '--nodes', 2, 3) ?? 2;
  const backends = intFlag(v.backends, '--backends', 2, 3) ?? 2;
  const interval = intFlag(v['interval-ms'], '--interval-ms', 10, 10_000);
  const lab = new Lab({ name: labFor(v.name).name, nodes: nodes as 2 | 3, backends: backends as 2 | 3, election: v['no-election'] !== true, ...(interval !== undefined ? { clusterOverrides: { advert_interval_ms: interval } } : {}) });
  const state = await lab.up();
  const hosts = labHosts(state.name, state.nodes, lab.backends);
  const lbs = hosts.filter((h) => h.role === 'lb');
  const flag = state.name === DEFAULT_LAB_NAME ? '' : ` --name ${state.name}`;
  const cmd = (c: string) => `halo lab ${c}${flag}`.padEnd(30 + flag.length);
  const bes = hosts.filter((h) => h.role === 'backend');
  out(`lab ${state.name} is up: ${lbs.map((h) => `${h.name} ${h.address}`).join(', ')}; backends ${bes.map((h) => `${h.name} ${h.address}`).join(', ')}; client 10.77.0.31`);
  out(`VIP ${state.vip} (http :80 -> ${bes.map((h) => h.name).join('/')} :8080, udp :53 -> :5353)${state.election ? '' : ', election off: no node takes the VIP'}`);
  out(`configs, state and logs: ${state.stateDir}`);
  out();
  out('Next:');
  out(`  ${cmd('status')}who is master, who holds the VIP, where the client's ARP points`);
  out(`  ${cmd('probe --seconds 60')}terminal 1: a new connection to the VIP every 10 ms`);
  out(`  ${cmd('kill lb1')}terminal 2: crash the master (or stop, linkdown, partition)`);
  out(`  ${cmd('start lb1')}bring it back (linkup, heal undo the others)`);
  out(`  ${cmd('logs -f')}every node's log in one stream`);
  out(`  ${cmd('down')}remove the lab`);
  out(`  ip netns exec ${state.name}-client curl -si http://${LAB_VIP}/   by hand (x-backend, x-peer = the node)`);
  return 0;
}

async function down(args: string[]): Promise<number> {
  const { values: v } = parse(args, NAME, 'down', 0);
  const report = await labFor(v.name).down();
  out(report.namespaces.length === 0 ? 'nothing to remove' : `removed ${report.namespaces.length} namespaces: ${report.namespaces.join(', ')}`);
  return 0;
}

async function status(args: string[]): Promise<number> {
  const { values: v } = parse(args, { ...NAME, json: { type: 'boolean' } }, 'status', 0);
  const s = await labFor(v.name).status();
  if (v.json === true) out(JSON.stringify(s, null, 2));
  else for (const line of formatStatus(s)) out(line);
  return 0;
}

function parseTarget(value: string | undefined): { host: string; port: number } {
  if (value === undefined) return { host: LAB_VIP, port: LAB_HTTP_PORT };
  const m = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(value);
  const port = Number(m?.[2]);
  if (m === null || m[1] === undefined || port < 1 || port > 65535) throw new UsageError(`--target: expected ADDR:PORT (IPv4), got "${value}"`);
  return { host: m[1], port };
}

async function probe(args: string[]): Promise<number> {
  const { values: v } = parse(args, { ...NAME, seconds: { type: 'string' }, target: { type: 'string' }, json: { type: 'boolean' } }, 'probe', 0);
  const seconds = intFlag(v.seconds, '--seconds', 1, MAX_PROBE_SECONDS) ?? 30;
  const target = parseTarget(v.target);
  const lab = labFor(v.name);
  const json = v.json === true;
  let window: ProbeSample[] = [];
  const started = Date.now();
  if (!json) out(`probing http://${target.host}:${target.port}/ from the client for ${seconds} s (Ctrl-C ends early)`);
  // One line a second while it runs, so a failover shows as it happens.
  const ticker = json ? undefined : setInterval(() => {
    const ok = window.filter((s) => s.ok);
    const nodes = [...new Set(ok.map((s) => s.node ?? '?'))].join(',') || '-';
    const backends = [...new Set(ok.map((s) => s.backend ?? '?'))].join(',') || '-';
    out(`  ${String(Math.round((Date.now() - started) / 1000)).padStart(4)} s  ${String(ok.length).padStart(3)} ok ${String(window.length - ok.length).padStart(3)} failed  via ${nodes}  backends ${backends}`);
    window = [];
  }, 1000);
  const stop = interrupted();
  try {
    const result = await lab.probe({ seconds, ...target, stop: stop.signal, onSample: (s) => window.push(s) });
    if (json) {
      out(JSON.stringify({ ...result.report, skipped: result.skipped }, null, 2));
      return 0;
    }
    result.report.windows.forEach((w, i) => out(formatWindow(w, i)));
    out(formatSummary(result.report));
    if (result.skipped > 0) out(`(${result.skipped} ticks skipped: more than 10 attempts were in flight)`);
    return 0;
  } finally {
    if (ticker !== undefined) clearInterval(ticker);
    stop.dispose();
  }
}

async function logs(args: string[]): Promise<number> {
  const { values: v } = parse(args, { ...NAME, follow: { type: 'boolean', short: 'f' }, lines: { type: 'string', short: 'n' }, backends: { type: 'boolean' }, json: { type: 'boolean' } }, 'logs', 0);
  const lines = intFlag(v.lines, '--lines', 0, 100_000) ?? 20;
  const stop = interrupted();
  try {
    await labFor(v.name).logs({ follow: v.follow === true, lines, includeBackends: v.backends === true, raw: v.json === true, write: out, signal: stop.signal });
  } finally {
    stop.dispose();
  }
  return 0;
}

async function nodeCommand(command: NodeCommand, args: string[]): Promise<number> {
  const { values: v, positionals } = parse(args, NAME, command, 1);
  const node = positionals[0] as string;
  const lab = labFor(v.name);
  const known = lab.nodeNames();
  if (!known.includes(node)) throw new UsageError(`halo lab ${command}: unknown node "${node}" (known: ${known.join(', ')})`);
  switch (command) {
    case 'kill':
      if (!(await lab.kill(node))) return notRunning(node);
      out(`${node}: killed (SIGKILL)`);
      return 0;
    case 'stop': {
      const r = await lab.stop(node);
      if (!r.stopped) return notRunning(node);
      out(r.escalated ? `${node}: ignored SIGTERM, killed (SIGKILL)` : `${node}: stopped (SIGTERM)`);
      return 0;
    }
    case 'start':
      out(`${node}: started (pid ${await lab.start(node)})`);
      return 0;
    case 'linkdown':
      await lab.linkdown(node);
      out(`${node}: switch port down (its eth0 has no carrier)`);
      return 0;
    case 'linkup':
      await lab.linkup(node);
      out(`${node}: switch port up`);
      return 0;
    case 'partition':
      await lab.partition(node);
      out(`${node}: switch port disabled (carrier kept: it only hears silence)`);
      return 0;
    case 'heal':
      await lab.heal(node);
      out(`${node}: switch port forwarding`);
      return 0;
  }
}

function notRunning(node: string): number {
  process.stderr.write(`${node} is not running\n`);
  return 1;
}

/** The hidden agent `halo lab probe` starts inside the client namespace; JSON lines out. */
async function probeAgent(args: string[]): Promise<number> {
  const { values: v } = parse(args, { target: { type: 'string' }, seconds: { type: 'string' }, 'interval-ms': { type: 'string' } }, 'probe-agent', 0);
  const target = parseTarget(v.target);
  const seconds = intFlag(v.seconds, '--seconds', 1, MAX_PROBE_SECONDS) ?? 10;
  const interval = intFlag(v['interval-ms'], '--interval-ms', 1, 10_000) ?? 10;
  const stop = interrupted();
  try {
    await runProbeAgent({ ...target, durationMs: seconds * 1000, intervalMs: interval, stop: stop.signal, write: (line) => process.stdout.write(`${line}\n`) });
  } finally {
    stop.dispose();
  }
  return 0;
}

/**
 * The hidden agent `Lab.client()` starts inside the client namespace: one job (JSON),
 * events as JSON lines out, commands as JSON lines in; stdin's end or a signal ends it.
 */
async function clientAgent(args: string[]): Promise<number> {
  const { values: v } = parse(args, { job: { type: 'string' } }, 'client-agent', 0);
  if (v.job === undefined) throw new UsageError('halo lab client-agent: --job JSON is required');
  let raw: unknown;
  try {
    raw = JSON.parse(v.job);
  } catch (err) {
    throw new UsageError(`halo lab client-agent: --job is not JSON (${(err as Error).message})`);
  }
  const agent = startClientAgent(parseClientJob(raw), (line) => process.stdout.write(`${line}\n`));
  const input = createInterface({ input: process.stdin });
  input.on('line', (line) => {
    const cmd = parseClientCommand(line);
    if (cmd !== undefined) agent.command(cmd);
  });
  input.on('close', () => agent.stop('stdin closed'));
  const stop = interrupted();
  stop.signal.addEventListener('abort', () => agent.stop('signal'), { once: true });
  try {
    await agent.done;
  } finally {
    stop.dispose();
    input.removeAllListeners('close');
    input.close();
    process.stdin.destroy(); // or the open stdin keeps the process alive
  }
  return 0;
}

export async function labMain(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    out(LAB_HELP);
    return command === undefined ? 2 : 0;
  }
  if (!isRoot()) throw new UsageError(`halo lab ${command}: needs root (it creates network namespaces and runs processes in them); try: sudo halo lab ${command}`);
  if (command === 'probe-agent') return probeAgent(rest);
  if (command === 'client-agent') return clientAgent(rest);
  if (command === 'up') return up(rest);
  if (command === 'down') return down(rest);
  if (command === 'status') return status(rest);
  if (command === 'probe') return probe(rest);
  if (command === 'logs') return logs(rest);
  if ((NODE_COMMANDS as readonly string[]).includes(command)) return nodeCommand(command as NodeCommand, rest);
  throw new UsageError(`halo lab: unknown command "${command}" (one of up, down, status, probe, logs, ${NODE_COMMANDS.join(', ')})`);
}
