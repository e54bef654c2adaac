/**
 * One long-lived `ip -force -batch -` per VIP manager: a netlink channel without a fork
 * per command. A takeover's `ip addr replace` costs ~0.15 ms through it, against ~2 ms
 * for a fork of a small process and ~5.5 ms measured in the lab through the spawn
 * co-process (bench/spawn-latency.ts; docs/benchmarks.md).
 *
 * How a command's end is known: iproute2 prints nothing for a successful `addr replace`,
 * so each command is followed by a marker command, `link show dev lo`, whose output
 * starts with "1: lo:" (lo is ifindex 1 in every namespace). Everything printed between
 * two markers belongs to the command before the second one. `-force` keeps ip running
 * after a failed command; it reports it as "Command failed -:LINE". stdout is a pipe, so
 * ip's stdio would hold it until exit: `stdbuf -oL` makes it line buffered, and `2>&1`
 * (through sh) keeps errors in order with the markers.
 *
 * Any trouble (stdbuf missing, the process dead, a command past its timeout) ends the
 * channel and fails the commands in flight with `lost: true`: the caller runs them the
 * old way, and the next command starts a fresh channel (at most one start per
 * RESTART_INTERVAL_MS, so a broken install does not fork in a loop).
 */
import { spawn, type ChildProcess } from 'node:child_process';

const MARKER = 'link show dev lo';
const MARKER_LINE = /^1: lo[:@]/;
const FAILED_LINE = /^Command failed -:(\d+)/;
const RESTART_INTERVAL_MS = 1000;
/** Channels in a row that died before answering anything: a broken install (no stdbuf), stop. */
const MAX_BARREN_STARTS = 3;
const KEEP_OUTPUT_CHARS = 2000;

export interface IpBatchResult {
  ok: boolean;
  /** Output of the command itself (its error text when !ok), markers removed. */
  output: string;
}

/** The channel could not carry the command: run it another way. */
export class IpBatchLost extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IpBatchLost';
  }
}

interface Waiter {
  readonly command: string;
  readonly resolve: (r: IpBatchResult) => void;
  readonly reject: (err: IpBatchLost) => void;
  readonly timer: NodeJS.Timeout;
}

/** Splits the channel's output into per-command results; pure, so it is tested alone. */
export class BatchOutputSplitter {
  private partial = '';
  private current = '';
  private failedLine: number | undefined;

  /** Feed a chunk; returns one entry per marker seen, in order. */
  push(chunk: string): Array<{ output: string; failedLine: number | undefined }> {
    const done: Array<{ output: string; failedLine: number | undefined }> = [];
    const text = this.partial + chunk;
    const lines = text.split('\n');
    this.partial = lines.pop() ?? '';
    for (const line of lines) {
      if (MARKER_LINE.test(line)) {
        done.push({ output: this.current.trim(), failedLine: this.failedLine });
        this.current = '';
        this.failedLine = undefined;
        continue;
      }
      // the marker prints a second, indented "link/loopback" line: not output
      if (line.startsWith('    link/loopback')) continue;
      const failed = FAILED_LINE.exec(line);
      if (failed) this.failedLine = Number(failed[1]);
      if (this.current.length < KEEP_OUTPUT_CHARS) this.current += `${line}\n`;
    }
    return done;
  }
}

export class IpBatch {
  private proc: ChildProcess | undefined;
  private splitter = new BatchOutputSplitter();
  private readonly waiting: Waiter[] = [];
  private lastStart = Number.NEGATIVE_INFINITY;
  private closed = false;
  private answered = false;
  private barrenStarts = 0;

  /** netns: tests only (`ip -n NS`). */
  constructor(private readonly opts: { netns?: string | undefined; timeoutMs: number }) {}

  /** Start the channel now (at start-up, while the heap is small and no takeover waits). */
  start(): boolean {
    if (this.proc !== undefined) return true;
    if (this.closed || this.barrenStarts >= MAX_BARREN_STARTS || performance.now() - this.lastStart < RESTART_INTERVAL_MS) return false;
    this.lastStart = performance.now();
    const ns = this.opts.netns === undefined ? '' : `-n '${this.opts.netns.replace(/'/g, '')}' `;
    // sh for 2>&1 only; the netns name is the one variable part and is quoted above
    const proc = spawn('/bin/sh', ['-c', `exec stdbuf -oL ip ${ns}-force -batch - 2>&1`], { stdio: ['pipe', 'pipe', 'ignore'] });
    this.proc = proc;
    this.splitter = new BatchOutputSplitter();
    this.answered = false;
    proc.stdout?.setEncoding('utf8');
    proc.stdout?.on('data', (chunk: string) => {
      for (const r of this.splitter.push(chunk)) {
        const w = this.waiting.shift();
        if (w === undefined) continue;
        clearTimeout(w.timer);
        this.answered = true;
        this.barrenStarts = 0;
        w.resolve({ ok: r.failedLine === undefined, output: r.output });
      }
    });
    proc.stdin?.on('error', () => this.lose(proc, 'its stdin closed'));
    proc.on('error', (err) => this.lose(proc, err.message));
    proc.on('exit', (code, signal) => this.lose(proc, `exited (${signal ?? `code ${String(code)}`})`));
    return true;
  }

  /** Run one command line (`addr replace ...`, without the leading `ip`). */
  run(args: readonly string[]): Promise<IpBatchResult> {
    const command = args.join(' ');
    if (/[\n\r]/.test(command)) return Promise.reject(new IpBatchLost(`newline in \`ip ${command}\``));
    if (!this.start() || this.proc?.stdin === undefined || this.proc.stdin === null) {
      return Promise.reject(new IpBatchLost('the ip batch channel is not running'));
    }
    const proc = this.proc;
    const stdin = proc.stdin as NonNullable<ChildProcess['stdin']>;
    return new Promise<IpBatchResult>((resolve, reject) => {
      const timer = setTimeout(() => this.lose(proc, `\`ip ${command}\` got no answer in ${this.opts.timeoutMs} ms`), this.opts.timeoutMs);
      this.waiting.push({ command, resolve, reject, timer });
      stdin.write(`${command}\n${MARKER}\n`);
    });
  }

  get running(): boolean {
    return this.proc !== undefined;
  }

  close(): void {
    this.closed = true;
    if (this.proc) this.lose(this.proc, 'closed');
  }

  private lose(proc: ChildProcess, why: string): void {
    if (this.proc !== proc) return;
    this.proc = undefined;
    if (!this.answered) this.barrenStarts += 1;
    proc.stdin?.destroy();
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    for (const w of this.waiting.splice(0)) {
      clearTimeout(w.timer);
      w.reject(new IpBatchLost(`ip batch channel: ${why}`));
    }
  }
}
