/**
 * `npm run bench:flood [-- --no-build]`: issue 6, floods against a real `halo run` in
 * network namespaces of its own (bench/lib/flood-run.ts): 1M UDP datagrams from unique
 * spoofed sources, 100k spoofed SYNs, thousands of idle connections, requests with 1 MB
 * of headers, slow bodies and slowloris heads, while a legitimate client keeps asking.
 * Progress goes to stderr; stdout gets the markdown table and nothing else. Needs root.
 * A benchmark, not a test: it asserts nothing, it reports.
 */
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { intFlag, parseFlags, runMain } from './lib/cli.js';
import { floodUnsupported, REPO } from './lib/flood-net.js';
import { renderFloodTable } from './lib/flood-report.js';
import { runFlood, type FloodParams } from './lib/flood-run.js';

const USAGE = `usage: npm run bench:flood -- [--no-build] [--udp N] [--syn N] [--idle N]
  --no-build  do not run npm run build first
  --udp N     spoofed UDP sources (default 1000000)   --syn N   spoofed SYNs (default 100000)
  --idle N    idle connections, half tcp, half http (default 4000)`;

const log = (msg: string) => process.stderr.write(`[flood] ${msg}\n`);

function options(argv: string[]) {
  const { values } = parseArgs({ args: argv, strict: true, options: { 'no-build': { type: 'boolean', default: false }, udp: { type: 'string' }, syn: { type: 'string' }, idle: { type: 'string' }, help: { type: 'boolean', default: false } } });
  const count = intFlag;
  return {
    help: values.help === true,
    build: values['no-build'] !== true,
    udp: count(values.udp, 1_000_000, 4_000_000, '--udp'),
    syn: count(values.syn, 100_000, 1_000_000, '--syn'),
    idle: count(values.idle, 4000, 8000, '--idle'),
  };
}

async function main(argv: string[]): Promise<number> {
  const opts = parseFlags(argv, options, USAGE, log);
  if (typeof opts === 'number') return opts;
  const why = await floodUnsupported();
  if (why !== undefined) {
    log(`cannot run: ${why}`);
    return 1;
  }
  if (opts.build) {
    log('npm run build');
    const r = spawnSync('npm', ['run', 'build'], { cwd: REPO, encoding: 'utf8', timeout: 300_000 });
    if (r.status !== 0) {
      log(`build failed: ${r.stdout}${r.stderr}`);
      return 1;
    }
  }
  // Caps sized for a 20k open-file limit: every UDP flow and every proxied TCP
  // connection (two sockets) is a file descriptor.
  const params: FloodParams = {
    udpSources: opts.udp,
    udpRate: 0,
    maxFlows: 10_000,
    synCount: opts.syn,
    idleConns: opts.idle,
    maxConnections: 2500,
    hugeHeaderRequests: 200,
    hugeHeaderBytes: 1024 * 1024,
    slowBodies: 200,
    slowloris: 200,
    headerTimeoutMs: 5000,
    bodyTimeoutMs: 5000,
    tcpIdleMs: 20_000,
    persistEntries: 20_000,
  };
  const started = Date.now();
  const result = await runFlood(params, log);
  log(`done in ${((Date.now() - started) / 1000).toFixed(0)} s; halo RSS at start ${(result.rssStartKb / 1024).toFixed(0)} MB`);
  process.stdout.write(`${renderFloodTable(result.phases, result.after, result.alive)}\n`);
  return result.alive ? 0 : 1;
}

runMain(main, log);
