/**
 * A Node process inside a network namespace, driven by the test over stdin/stdout.
 * A process cannot switch namespace, so a test in the root namespace that needs
 * sockets in two namespaces runs one of these in each.
 *
 * The script is an ES module run from the repo root with tsx, so it can import the
 * sources (`import { X } from './src/adapters/x.ts'`). It gets two globals from a
 * prelude: `emit(obj)` writes one JSON line, and `serve(handler)` answers each command
 * line `{ id, ...cmd }` with `{ id, ok: true, result }` or `{ id, ok: false, error, code }`.
 * The child exits when its stdin closes (so it dies with the test process) and after
 * `maxLifetimeMs` whatever happens.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

const PRELUDE = `
import { createInterface as __halo_rl } from 'node:readline';
globalThis.emit = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
globalThis.serve = (handler) => {
  __halo_rl({ input: process.stdin }).on('line', async (line) => {
    let cmd;
    try { cmd = JSON.parse(line); } catch { return; }
    try { emit({ id: cmd.id, ok: true, result: (await handler(cmd)) ?? null }); }
    catch (e) { emit({ id: cmd.id, ok: false, error: String(e && e.message || e), code: e && e.code }); }
  });
  emit({ ready: true });
};
process.stdin.on('end', () => process.exit(0));
setTimeout(() => { process.stderr.write('netns-node: max lifetime reached\\n'); process.exit(3); }, Number(process.env.HALO_TEST_MAX_LIFETIME_MS)).unref();
`;

export type Reply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string; code?: string };

export interface NodeInNetns {
  readonly ns: string;
  readonly child: ChildProcess;
  /** Every JSON line the child wrote, in order. */
  readonly lines: Array<Record<string, unknown>>;
  /** Send a command and wait for its reply; rejects on timeout or when the child exits. */
  call(cmd: Record<string, unknown>, timeoutMs?: number): Promise<Reply>;
  /** Like call, but resolves with the result and throws the child's error. */
  ask<T = unknown>(cmd: Record<string, unknown>, timeoutMs?: number): Promise<T>;
  /** Close stdin, then SIGKILL by pid if it has not exited within a second. */
  stop(): Promise<void>;
}

export interface NodeInNetnsOptions {
  readonly maxLifetimeMs?: number;
  readonly readyTimeoutMs?: number;
}

export async function startNodeInNetns(ns: string, script: string, opts: NodeInNetnsOptions = {}): Promise<NodeInNetns> {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', '--input-type=module', '-e', PRELUDE + script], {
    cwd: REPO_ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, HALO_TEST_MAX_LIFETIME_MS: String(opts.maxLifetimeMs ?? 30_000) },
  });
  const lines: Array<Record<string, unknown>> = [];
  const waiters = new Set<() => void>();
  let stderr = '';
  let exited: string | undefined;
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-2000);
  });
  createInterface({ input: child.stdout }).on('line', (line) => {
    try {
      lines.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      lines.push({ raw: line });
    }
    for (const w of [...waiters]) w();
  });
  const exitedPromise = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = `child in ${ns} exited (${signal ?? `code ${String(code)}`}): ${stderr.trim()}`;
      for (const w of [...waiters]) w();
      resolve();
    });
  });
  child.on('error', (err) => {
    exited = `cannot start node in ${ns}: ${err.message}`;
    for (const w of [...waiters]) w();
  });

  const waitLine = (pred: (l: Record<string, unknown>) => boolean, what: string, timeoutMs: number): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const hit = lines.find(pred);
        if (hit) done(() => resolve(hit));
        else if (exited) done(() => reject(new Error(`${what}: ${exited}`)));
      };
      const timer = setTimeout(() => done(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what} from node in ${ns}; stderr: ${stderr.trim()}`))), timeoutMs);
      const done = (f: () => void): void => {
        clearTimeout(timer);
        waiters.delete(check);
        f();
      };
      waiters.add(check);
      check();
    });

  let nextId = 1;
  const node: NodeInNetns = {
    ns,
    child,
    lines,
    async call(cmd, timeoutMs = 3000) {
      const id = nextId++;
      child.stdin.write(`${JSON.stringify({ ...cmd, id })}\n`);
      return (await waitLine((l) => l.id === id, `reply to ${JSON.stringify(cmd).slice(0, 80)}`, timeoutMs)) as unknown as Reply;
    },
    async ask<T>(cmd: Record<string, unknown>, timeoutMs?: number) {
      const reply = await node.call(cmd, timeoutMs);
      if (!reply.ok) throw Object.assign(new Error(reply.error), { code: reply.code });
      return reply.result as T;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null || exited) return;
      child.stdin.end();
      const timer = setTimeout(() => {
        if (child.pid !== undefined) {
          try {
            process.kill(child.pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
      }, 1000);
      await exitedPromise;
      clearTimeout(timer);
    },
  };
  try {
    await waitLine((l) => l.ready === true, 'ready', opts.readyTimeoutMs ?? 10_000);
  } catch (err) {
    await node.stop();
    throw err;
  }
  return node;
}
