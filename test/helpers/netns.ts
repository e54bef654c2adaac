/**
 * A private network namespace for integration tests that need addresses which can
 * vanish (127.0.0.1 never does). Everything stays inside the namespace: no default
 * route, no NAT, no veth to the host, and only the namespace's own addresses.
 *
 * Needs root and iproute2. `netnsSupport()` says why not, so a suite can skip with a
 * printed reason instead of failing on a machine that cannot do this.
 */
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

const IP_TIMEOUT_MS = 5000;

export type NetnsSupport = { ok: true } | { ok: false; reason: string };

function run(cmd: string, args: string[], timeoutMs = IP_TIMEOUT_MS): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
  });
}

/** A namespace name no other run (or parallel worker) uses: halo-t<pid>-<random>-<tag>. */
export function uniqueNetnsName(tag: string): string {
  return `halo-t${process.pid}-${randomBytes(3).toString('hex')}-${tag}`.slice(0, 48);
}

let support: NetnsSupport | undefined;

/**
 * Root, an `ip` binary, and a kernel/container that lets us create a namespace
 * (root in a container without CAP_SYS_ADMIN cannot). Checked once per process by
 * creating and deleting a throwaway namespace.
 */
export function netnsSupport(): NetnsSupport {
  if (support) return support;
  if (process.platform !== 'linux') return (support = { ok: false, reason: `network namespaces need Linux, this is ${process.platform}` });
  if (process.getuid?.() !== 0) return (support = { ok: false, reason: 'network namespaces need root' });
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore', timeout: IP_TIMEOUT_MS });
  } catch {
    return (support = { ok: false, reason: 'the `ip` command (iproute2) is not installed' });
  }
  const probe = uniqueNetnsName('probe');
  try {
    execFileSync('ip', ['netns', 'add', probe], { stdio: 'pipe', timeout: IP_TIMEOUT_MS });
  } catch (err) {
    const detail = err instanceof Error && 'stderr' in err ? String((err as { stderr: unknown }).stderr).trim() : String(err);
    return (support = { ok: false, reason: `cannot create a network namespace: ${detail}` });
  }
  try {
    execFileSync('ip', ['netns', 'del', probe], { stdio: 'ignore', timeout: IP_TIMEOUT_MS });
  } catch {
    // the real suite will hit the same error and report it
  }
  return (support = { ok: true });
}

export interface Netns {
  readonly name: string;
  /** `ip -n NAME ...args`; resolves with stdout, rejects with stderr. */
  ip(...args: string[]): Promise<string>;
  /**
   * A pseudo interface (no wire behind it) holding one /32 address, up: one "host".
   * dummy when the kernel has it, else ifb (some container kernels ship no dummy
   * module); both just hold addresses here. Returns the kind used.
   */
  addHost(ifname: string, address: string): Promise<string>;
  /** The host disappears: link down and its address removed (see the note in the test). */
  hostDown(ifname: string, address: string): Promise<void>;
  hostUp(ifname: string, address: string): Promise<void>;
  /** Kill every process still in the namespace (by PID), then delete it. Safe to call twice. */
  destroy(): Promise<void>;
}

const HOST_KINDS = ['dummy', 'ifb'] as const;

export async function createNetns(tag: string): Promise<Netns> {
  const name = uniqueNetnsName(tag);
  await run('ip', ['netns', 'add', name]);
  let destroyed = false;
  const ns: Netns = {
    name,
    ip: (...args) => run('ip', ['-n', name, ...args]),
    async addHost(ifname, address) {
      const errors: string[] = [];
      for (const kind of HOST_KINDS) {
        try {
          await ns.ip('link', 'add', ifname, 'type', kind);
        } catch (err) {
          errors.push(`${kind}: ${err instanceof Error ? err.message : String(err)}`);
          continue;
        }
        await ns.ip('addr', 'add', `${address}/32`, 'dev', ifname);
        await ns.ip('link', 'set', ifname, 'up');
        return kind;
      }
      throw new Error(`cannot create interface ${ifname} in ${name}:\n${errors.join('\n')}`);
    },
    async hostDown(ifname, address) {
      await ns.ip('link', 'set', ifname, 'down');
      await ns.ip('addr', 'del', `${address}/32`, 'dev', ifname);
    },
    async hostUp(ifname, address) {
      await ns.ip('addr', 'add', `${address}/32`, 'dev', ifname);
      await ns.ip('link', 'set', ifname, 'up');
    },
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      // A namespace with processes in it outlives `ip netns del` (only the name goes),
      // so kill them first and wait, bounded, until none is left.
      for (let attempt = 0; attempt < 20; attempt++) {
        const pids = (await run('ip', ['netns', 'pids', name]).catch(() => ''))
          .split(/\s+/)
          .map(Number)
          .filter((pid) => Number.isInteger(pid) && pid > 0 && pid !== process.pid);
        if (pids.length === 0) break;
        for (const pid of pids) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      await run('ip', ['netns', 'del', name]);
    },
  };
  try {
    await ns.ip('link', 'set', 'lo', 'up');
  } catch (err) {
    await ns.destroy().catch(() => undefined);
    throw err;
  }
  return ns;
}

/**
 * Client side inside the namespace: a short-lived `node` there makes `count` GET
 * requests in sequence (no keep-alive, so each one is balanced on its own) to
 * 127.0.0.1:port and returns each answer's x-backend header, or `error:<code>` /
 * `status-<n>` when there is none.
 */
export async function requestsInNetns(ns: string, port: number, count: number, timeoutMs = 2000): Promise<string[]> {
  const script = `
const http = require('node:http');
const [port, count, timeoutMs] = process.argv.slice(1).map(Number);
const one = () => new Promise((resolve) => {
  const req = http.request({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
    res.resume();
    res.on('end', () => resolve(res.headers['x-backend'] ?? 'status-' + res.statusCode));
    res.on('error', (e) => resolve('error:' + (e.code || e.message)));
  });
  req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
  req.on('error', (e) => resolve('error:' + (e.code || e.message)));
  req.end();
});
(async () => {
  const out = [];
  for (let i = 0; i < count; i++) out.push(await one());
  process.stdout.write(JSON.stringify(out));
})();
`;
  const stdout = await run('ip', ['netns', 'exec', ns, process.execPath, '-e', script, String(port), String(count), String(timeoutMs)], count * timeoutMs + 5000);
  const parsed: unknown = JSON.parse(stdout);
  if (!Array.isArray(parsed)) throw new Error(`unexpected client output: ${stdout}`);
  return parsed.map(String);
}
