/**
 * A private copy of the built halo (bin/, dist/, package.json) for the labs to run, so a
 * rebuild of dist/ by someone else half-way through a 30-minute run cannot give lb1 new
 * code after a restart while lb2 still runs the old one. node_modules is a symlink to the
 * repository's: packages resolve from the copy as from the original.
 */
import { cpSync, mkdtempSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Snapshot {
  dir: string;
  /** what the labs run: [node, <dir>/bin/halo.js] */
  haloCommand: string[];
  /** when dist/app/cli.js was built, for the report */
  builtAt: string;
  remove(): void;
}

export function snapshotBuild(repo: string): Snapshot {
  const dir = mkdtempSync(join(tmpdir(), 'halo-failover-'));
  try {
    cpSync(join(repo, 'bin'), join(dir, 'bin'), { recursive: true });
    cpSync(join(repo, 'dist'), join(dir, 'dist'), { recursive: true });
    cpSync(join(repo, 'package.json'), join(dir, 'package.json'));
    symlinkSync(join(repo, 'node_modules'), join(dir, 'node_modules'), 'dir');
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    dir,
    haloCommand: [process.execPath, join(dir, 'bin', 'halo.js')],
    builtAt: statSync(join(repo, 'dist', 'app', 'cli.js')).mtime.toISOString(),
    // rmSync does not follow the node_modules symlink: only the link goes.
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
