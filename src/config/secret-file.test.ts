import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { chmodSync, constants, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HaloError } from '../core/errors.js';
import { octalMode, readSecretFile, secretFileProblem } from './secret-file.js';

const dir = mkdtempSync(join(tmpdir(), 'halo-secret-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
/** A fresh file with this content and mode (chmod after the write: the umask must not decide). */
function secretFile(mode: number, content = 'a-cluster-key-of-enough-length\n'): string {
  const file = join(dir, `s${n++}.key`);
  writeFileSync(file, content, { mode: 0o600 });
  chmodSync(file, mode);
  return file;
}

function refusal(fn: () => unknown): HaloError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(HaloError);
    return err as HaloError;
  }
  throw new Error('expected the secret file to be refused');
}

describe('readSecretFile', () => {
  it.each([0o600, 0o400, 0o640, 0o440, 0o700, 0o750])('mode %o is accepted and the bytes come back as written', (mode) => {
    const file = secretFile(mode, 'k3y\n');
    expect(readSecretFile(file, 'cluster.key_file').toString('utf8')).toBe('k3y\n');
  });

  it.each([0o644, 0o604, 0o601, 0o602, 0o660, 0o620, 0o666, 0o777, 0o664])('mode %o is refused with HALO_ERR_KEY_PERMISSIONS, naming the config key, the file, the mode and the fix', (mode) => {
    const file = secretFile(mode);
    const err = refusal(() => readSecretFile(file, 'cluster.key_file'));
    expect(err.code).toBe('HALO_ERR_KEY_PERMISSIONS');
    expect(err.message.startsWith(`cluster.key_file: ${file} has mode ${octalMode(mode)}:`)).toBe(true);
    expect(err.message).toContain(`chmod 600 ${file}`);
    expect(err.details).toEqual({ path: 'cluster.key_file', file, mode: octalMode(mode) });
    // the refusal never carries the secret itself
    expect(JSON.stringify({ m: err.message, d: err.details })).not.toContain('a-cluster-key');
  });

  it('says which bits are wrong: group write, other read, or both', () => {
    expect(refusal(() => readSecretFile(secretFile(0o620), 'admin.token_file')).message).toMatch(/: its group can write it, so/);
    expect(refusal(() => readSecretFile(secretFile(0o644), 'admin.token_file')).message).toMatch(/: other users can read it, so/);
    expect(refusal(() => readSecretFile(secretFile(0o601), 'admin.token_file')).message).toMatch(/: other users can access it, so/);
    expect(refusal(() => readSecretFile(secretFile(0o666), 'admin.token_file')).message).toMatch(/: its group can write it and other users can read it, so/);
  });

  it('follows a symlink and judges the file it points to', () => {
    const good = secretFile(0o600, 'via-link');
    const bad = secretFile(0o644);
    const goodLink = join(dir, 'good.link');
    const badLink = join(dir, 'bad.link');
    symlinkSync(good, goodLink);
    symlinkSync(bad, badLink);
    expect(readSecretFile(goodLink, 'x.key_file').toString()).toBe('via-link');
    expect(refusal(() => readSecretFile(badLink, 'x.key_file')).code).toBe('HALO_ERR_KEY_PERMISSIONS');
  });

  it('a directory is refused as not a regular file', () => {
    const sub = join(dir, 'a-dir');
    mkdirSync(sub, { mode: 0o700 });
    const err = refusal(() => readSecretFile(sub, 'services[web].persistence.secret_file'));
    expect(err.code).toBe('HALO_ERR_KEY_PERMISSIONS');
    expect(err.message).toBe(`services[web].persistence.secret_file: ${sub} is a directory, not a regular file: point services[web].persistence.secret_file at a file holding the secret`);
  });

  it('a FIFO is refused without blocking on the open (no writer ever comes)', () => {
    const fifo = join(dir, 'a-fifo');
    execFileSync('mkfifo', ['-m', '600', fifo]);
    const err = refusal(() => readSecretFile(fifo, 'cluster.key_file'));
    expect(err.code).toBe('HALO_ERR_KEY_PERMISSIONS');
    expect(err.message).toContain('is a FIFO, not a regular file');
  });

  it('/dev/null (a character device) is refused', () => {
    expect(refusal(() => readSecretFile('/dev/null', 'cluster.key_file')).message).toContain('/dev/null is a character device, not a regular file');
  });

  it('a missing file is HALO_ERR_SECRET with the errno code', () => {
    const err = refusal(() => readSecretFile(join(dir, 'absent'), 'cluster.key_file'));
    expect(err.code).toBe('HALO_ERR_SECRET');
    expect(err.message).toBe(`cluster.key_file: cannot read ${join(dir, 'absent')}: ENOENT`);
  });
});

describe('secretFileProblem', () => {
  const reg = constants.S_IFREG;
  it('only the forbidden bits count: setuid/sticky bits and owner bits do not', () => {
    expect(secretFileProblem(reg | 0o600, '/k', 'p')).toBeUndefined();
    expect(secretFileProblem(reg | 0o4640, '/k', 'p')).toBeUndefined();
    expect(secretFileProblem(reg | 0o1600, '/k', 'p')).toBeUndefined();
    expect(secretFileProblem(reg | 0o610, '/k', 'p')).toBeUndefined();
    expect(secretFileProblem(reg | 0o640, '/k', 'p')).toBeUndefined();
    expect(secretFileProblem(reg | 0o630, '/k', 'p')).toMatch(/has mode 0630: its group can write it/);
  });

  it('quotes a path the shell would split in the printed fix', () => {
    expect(secretFileProblem(reg | 0o644, "/etc/my keys/it's.key", 'cluster.key_file')).toMatch(/fix: chmod 600 '\/etc\/my keys\/it'\\''s\.key'$/);
  });

  it('names other file types', () => {
    expect(secretFileProblem(constants.S_IFSOCK | 0o600, '/s', 'p')).toContain('/s is a socket, not a regular file');
    expect(secretFileProblem(constants.S_IFBLK | 0o600, '/b', 'p')).toContain('/b is a block device, not a regular file');
  });
});
