/**
 * Shell scripts written to a temporary directory for tests of code that runs programs
 * (notify hooks, track scripts, runCommand, a fake `ip`), and checks on the processes
 * they leave: a timed-out run must take its whole process group with it.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { waitFor } from './wait.js';

export interface ScriptDir {
  /** The directory: valid from beforeAll to afterAll. */
  readonly dir: string;
  /** A file name in the directory. */
  path(name: string): string;
  /** Write `#!/bin/sh` + body to `name`, executable; returns its path. */
  script(name: string, body: string): string;
  /** Processes to SIGKILL in afterAll, in case a failed test left them running. */
  leave(...pids: number[]): void;
}

/** A script directory for this test file: made in beforeAll, removed in afterAll with the processes left to it. */
export function useScriptDir(prefix: string): ScriptDir {
  let dir: string | undefined;
  const leftovers: number[] = [];
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), prefix));
  });
  afterAll(() => {
    for (const pid of leftovers) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });
  const scripts: ScriptDir = {
    get dir() {
      if (dir === undefined) throw new Error('useScriptDir: the directory exists only between beforeAll and afterAll');
      return dir;
    },
    path: (name) => join(scripts.dir, name),
    script(name, body) {
      const file = join(scripts.dir, name);
      writeFileSync(file, `#!/bin/sh\n${body}\n`);
      chmodSync(file, 0o755);
      return file;
    },
    leave(...pids) {
      leftovers.push(...pids);
    },
  };
  return scripts;
}

/** Alive and not a zombie (in a container nobody may reap an orphan). */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** The pids a script wrote to `file` (`echo $$ $! > file`), separated by white space. */
export function readPids(file: string): number[] {
  return readFileSync(file, 'utf8').trim().split(/\s+/).map(Number);
}

/** Wait until a script has written its pid line (`echo $$ > file`): the newline ends it. */
export async function waitForPidFile(file: string, what: string): Promise<number> {
  await waitFor(() => existsSync(file) && readFileSync(file, 'utf8').endsWith('\n'), what);
  const [pid] = readPids(file);
  if (pid === undefined || !Number.isInteger(pid)) throw new Error(`${file} holds no pid`);
  return pid;
}

/** Wait until every pid is gone (a killed process group: the script and what it started). */
export function waitForDead(pids: readonly number[], what: string): Promise<void> {
  return waitFor(() => pids.every((p) => !alive(p)), what);
}
