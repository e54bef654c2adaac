/**
 * `node --import tsx bench/spawn-latency.ts [--runs N] [--mb 0,500] [--server PATH]`: what
 * one short command (`ip -V`, run to its exit) costs from a halo-sized process, spawned
 * directly (a fork of the whole process) and through the spawn co-process
 * (remote-spawn.ts), with the process holding 0 and 500 MB. Interleaved, after a warm-up;
 * prints median and p90 per row, and how long the co-process took to start.
 *
 * The co-process is dist/adapters/spawn-server.js when built (what halo runs), else the
 * .ts through tsx, whose loader makes it bigger, so each spawn ~1-2 ms slower.
 * A benchmark: it asserts nothing.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { silentLogger } from '../src/adapters/logger.js';
import { directSpawner, SpawnClient, type Spawner } from '../src/adapters/remote-spawn.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '50' }, mb: { type: 'string', default: '0,500' }, server: { type: 'string' } } });
const runs = Math.max(5, Math.min(1000, Number(values.runs)));
const sizes = values.mb.split(',').map(Number);
const built = fileURLToPath(new URL('../dist/adapters/spawn-server.js', import.meta.url));
const serverPath = values.server ?? (existsSync(built) ? built : undefined);

const held: Buffer[] = [];
/** Grow what this process holds to mb MiB, touched, so fork() has that much to map. */
function hold(mb: number): void {
  while (held.length < mb) held.push(Buffer.alloc(1024 * 1024, 1));
  held.length = Math.min(held.length, mb);
}

async function once(s: Spawner): Promise<number> {
  const t = performance.now();
  const r = await s.run('ip', ['-V'], 5000);
  if (r.code !== 0) throw new Error(`ip -V: exit ${String(r.code)} ${r.stderr}`);
  return performance.now() - t;
}

const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))] ?? NaN;

console.log(`spawn latency of \`ip -V\` (spawn to exit), ${runs} runs each, node ${process.version}, co-process ${serverPath ?? 'src/adapters/spawn-server.ts under tsx'}`);
console.log('| held | path | median ms | p90 ms |');
console.log('|---|---|---|---|');
const starts: string[] = [];
for (const mb of sizes) {
  hold(mb);
  const client = new SpawnClient({ log: silentLogger, ...(serverPath === undefined ? {} : { serverPath }) });
  const t0 = performance.now();
  if (!(await client.ready(30_000))) throw new Error('the spawn co-process did not start');
  starts.push(`${mb} MB: ${(performance.now() - t0).toFixed(0)} ms`);
  for (let i = 0; i < 5; i++) await Promise.all([once(directSpawner), once(client)]);
  const direct: number[] = [];
  const co: number[] = [];
  for (let i = 0; i < runs; i++) {
    direct.push(await once(directSpawner));
    co.push(await once(client));
  }
  await client.close();
  console.log(`| ${mb} MB | direct | ${pct(direct, 50).toFixed(2)} | ${pct(direct, 90).toFixed(2)} |`);
  console.log(`| ${mb} MB | co-process | ${pct(co, 50).toFixed(2)} | ${pct(co, 90).toFixed(2)} |`);
}
console.log(`co-process start (spawn to ready, started with the process that big): ${starts.join(', ')}`);
