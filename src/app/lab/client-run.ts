/**
 * The lab side of a client job: start the agent in the client namespace, collect its
 * events as they come, pass commands to its stdin. The agent ends by itself; closing
 * its stdin ends it early (so it never outlives a test process that died), and a guard
 * kills one that overstays its job's time limit.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { HaloError } from '../../core/errors.js';
import { jobLimitMs, parseClientEvent, type ClientCommand, type ClientEvent, type ClientJob } from './client-jobs.js';
import { isAlive, signal } from './system.js';

/** Beyond the job's own limit: process start-up and a slow machine. */
const GUARD_MS = 15_000;

export interface ClientRunOptions {
  namespace: string;
  haloCommand: readonly string[];
  job: ClientJob;
  onEvent?: (e: ClientEvent) => void;
}

export class ClientRun {
  readonly events: ClientEvent[] = [];
  /** Resolves with every event once the agent said `done` and exited; rejects otherwise. */
  readonly done: Promise<ClientEvent[]>;
  readonly #child: ChildProcessByStdio<Writable, Readable, Readable>;
  readonly #waiters = new Set<() => void>();
  #exited = false;

  constructor(opts: ClientRunOptions) {
    const [cmd, ...cmdArgs] = opts.haloCommand;
    if (cmd === undefined) throw new HaloError('HALO_ERR_LAB', 'haloCommand is empty');
    const args = ['netns', 'exec', opts.namespace, cmd, ...cmdArgs, 'lab', 'client-agent', '--job', JSON.stringify(opts.job)];
    this.#child = spawn('ip', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const child = this.#child;
    child.stdin.on('error', () => undefined); // the agent may be gone already
    let buf = '';
    let stderr = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const e = parseClientEvent(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        if (e === undefined) continue;
        this.events.push(e);
        opts.onEvent?.(e);
        for (const w of [...this.#waiters]) w();
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      if (stderr.length < 64 * 1024) stderr += chunk;
    });
    const limitMs = jobLimitMs(opts.job) + GUARD_MS;
    const guard = setTimeout(() => this.kill(), limitMs);
    this.done = new Promise((resolve, reject) => {
      child.on('error', (err) => {
        clearTimeout(guard);
        reject(new HaloError('HALO_ERR_LAB', `cannot start the client agent: ${err.message}`));
      });
      child.on('close', (code, sig) => {
        clearTimeout(guard);
        this.#exited = true;
        for (const w of [...this.#waiters]) w();
        if (this.events.at(-1)?.type === 'done') return resolve(this.events);
        const why = sig !== null ? `killed by ${sig}${sig === 'SIGKILL' ? ` (limit ${limitMs} ms)` : ''}` : `exit ${code}`;
        reject(new HaloError('HALO_ERR_LAB', `client agent (${opts.job.mode}) in ${opts.namespace} ended without finishing (${why}): ${stderr.trim().slice(-2000)}`));
      });
    });
    // A test that only reads events must not see an unhandled rejection from an early kill.
    this.done.catch(() => undefined);
  }

  get running(): boolean {
    return !this.#exited;
  }

  command(cmd: ClientCommand): void {
    if (!this.#exited && this.#child.stdin.writable) this.#child.stdin.write(`${JSON.stringify(cmd)}\n`);
  }

  /** Ask the agent to finish (it still reports `done`). */
  end(): void {
    if (this.#exited) return;
    this.command({ end: true });
    this.#child.stdin.end();
  }

  kill(): void {
    const pid = this.#child.pid;
    if (!this.#exited && pid !== undefined && isAlive(pid)) signal(pid, 'SIGKILL');
  }

  /** The first event (already seen or still to come) that matches, within timeoutMs. */
  waitFor<E extends ClientEvent>(match: (e: ClientEvent) => e is E, what: string, timeoutMs: number): Promise<E>;
  waitFor(match: (e: ClientEvent) => boolean, what: string, timeoutMs: number): Promise<ClientEvent>;
  waitFor(match: (e: ClientEvent) => boolean, what: string, timeoutMs: number): Promise<ClientEvent> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.events.find(match);
        if (found !== undefined) finish(() => resolve(found));
        else if (this.#exited) finish(() => reject(new HaloError('HALO_ERR_LAB', `client agent ended before ${what}`)));
      };
      const timer = setTimeout(() => finish(() => reject(new HaloError('HALO_ERR_LAB', `timed out after ${timeoutMs} ms waiting for ${what}`))), timeoutMs);
      const finish = (settle: () => void) => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        settle();
      };
      this.#waiters.add(check);
      check();
    });
  }
}
