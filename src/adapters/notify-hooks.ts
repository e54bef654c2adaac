/**
 * Notify hooks (cluster.notify): programs run on a state change, the way keepalived's
 * notify_master/notify_backup/notify_fault/notify_stop are, minus its traps (design.md 8):
 * hooks here run strictly one after another in the order the changes happened, each
 * awaited with a timeout (then SIGKILL to its process group), and every run leaves one
 * log line saying how it ended.
 *
 * notify() only enqueues: the election driver carries on with the VIP at once, and only
 * the queue waits for a slow hook. The promise it returns may be awaited (the stop hook
 * at shutdown) or ignored; it never rejects.
 */
import type { Logger } from './logger.js';
import { describeResult, runCommand, type RunResult } from './run-command.js';

export type NotifyTarget = 'master' | 'backup' | 'fault' | 'stop';

const TARGETS: readonly NotifyTarget[] = ['master', 'backup', 'fault', 'stop'];

export type NotifyHookCommands = { readonly [T in NotifyTarget]?: readonly string[] | undefined };

export interface NotifyHooksOptions {
  /** argv each, program first; halo appends NEW_STATE OLD_STATE NODE. Other keys are ignored (cluster.notify fits as is). */
  hooks: NotifyHookCommands;
  timeoutMs: number;
  node: string;
  log: Logger;
}

/** Bytes of stderr kept for the log line of a failed hook. */
const STDERR_BYTES = 500;

export class NotifyHooks {
  readonly #hooks = new Map<NotifyTarget, readonly string[]>();
  #timeoutMs: number;
  readonly #node: string;
  readonly #log: Logger;
  #tail: Promise<void> = Promise.resolve();
  #pending = 0;

  constructor(opts: NotifyHooksOptions) {
    this.#timeoutMs = opts.timeoutMs;
    this.setHooks(opts.hooks, opts.timeoutMs);
    this.#node = opts.node;
    this.#log = opts.log;
  }

  /**
   * New hooks from a config reload: they run for the changes from now on; hooks already
   * queued run as they were enqueued, in order. Throws RangeError, changing nothing, for
   * an empty command or a timeout <= 0.
   */
  setHooks(hooks: NotifyHookCommands, timeoutMs: number): void {
    if (!(timeoutMs > 0)) throw new RangeError(`timeoutMs must be > 0, got ${timeoutMs}`);
    const next = new Map<NotifyTarget, readonly string[]>();
    for (const target of TARGETS) {
      const argv = hooks[target];
      if (argv === undefined) continue;
      if (argv.length === 0) throw new RangeError(`notify hook ${target} has an empty command`);
      next.set(target, [...argv]);
    }
    this.#hooks.clear();
    for (const [k, v] of next) this.#hooks.set(k, v);
    this.#timeoutMs = timeoutMs;
  }

  /** Hooks enqueued or running. */
  get pending(): number {
    return this.#pending;
  }

  /**
   * Enqueue the hook for `to` (nothing runs if none is configured). Resolves once it and
   * everything enqueued before it are done; never rejects.
   */
  notify(to: NotifyTarget, from: string, cause: string): Promise<void> {
    const argv = this.#hooks.get(to);
    if (argv === undefined) return this.#tail;
    this.#pending += 1;
    const run = this.#tail.then(() => this.#run(to, argv, from, cause)).finally(() => {
      this.#pending -= 1;
    });
    // #run never rejects, but a broken logger must not break the chain for later hooks.
    this.#tail = run.catch(() => {});
    return this.#tail;
  }

  /**
   * Wait for the queue to empty, for shutdown, but no longer than timeoutMs (then it logs
   * notify_drain_timeout; the running hook is still killed by its own timeout).
   */
  async drain(timeoutMs: number): Promise<void> {
    if (this.#pending === 0) return;
    let timer: NodeJS.Timeout | undefined;
    let gaveUp = false;
    const timedOut = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), timeoutMs)));
    // Hooks enqueued while we wait are part of the queue too: follow the tail as it moves.
    const emptied = (async () => {
      while (this.#pending > 0 && !gaveUp) await this.#tail;
      return true;
    })();
    try {
      const done = await Promise.race([emptied, timedOut]);
      if (!done) this.#log.warn('notify_drain_timeout', { pending: this.#pending, timeout_ms: timeoutMs });
    } finally {
      gaveUp = true;
      clearTimeout(timer);
    }
  }

  async #run(to: NotifyTarget, argv: readonly string[], from: string, cause: string): Promise<void> {
    const state = to.toUpperCase();
    const previous = from.toUpperCase();
    const fullArgv = [...argv, state, previous, this.#node];
    const result = await runCommand(fullArgv, {
      timeoutMs: this.#timeoutMs,
      stderrBytes: STDERR_BYTES,
      env: { ...process.env, HALO_STATE: state, HALO_PREVIOUS_STATE: previous, HALO_NODE: this.#node, HALO_CAUSE: cause },
    });
    this.#logRun(state, previous, cause, argv, result);
  }

  #logRun(state: string, previous: string, cause: string, argv: readonly string[], r: RunResult): void {
    const fields: Record<string, unknown> = {
      state,
      from: previous,
      command: argv.join(' '),
      duration_ms: Math.round(r.durationMs),
      result: describeResult(r, argv, this.#timeoutMs),
      cause,
    };
    if (r.code !== null) fields['exit_code'] = r.code;
    if (r.signal !== null) fields['signal'] = r.signal;
    if (r.timedOut) fields['timed_out'] = true;
    if (r.spawnError !== undefined) fields['error'] = r.spawnError;
    if (r.ok) {
      this.#log.info('notify_hook', fields);
      return;
    }
    const stderr = r.stderr.trim();
    if (stderr !== '') fields['stderr'] = stderr;
    this.#log.warn('notify_hook', fields);
  }
}
