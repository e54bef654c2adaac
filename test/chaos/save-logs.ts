/** Copy a lab's node logs out before `down` deletes them: the evidence behind a violation. */
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Lab } from '../../src/app/lab/index.js';

export function saveLogs(lab: Lab, dir: string, prefix: string): string[] {
  const saved: string[] = [];
  mkdirSync(dir, { recursive: true });
  for (const host of lab.state().hosts) {
    if (host.log === undefined || !existsSync(host.log)) continue;
    const to = join(dir, `${prefix}-${host.name}.log`);
    copyFileSync(host.log, to);
    saved.push(to);
  }
  return saved;
}
