/**
 * Reading a secret file the config names (cluster.key_file, admin.token_file, a cookie
 * secret_file, cluster.replication.tls.key_file): refused unless it is a regular file
 * that other users cannot touch and its group cannot write, as PostgreSQL does for its
 * key files. Group read stays allowed, so a root:halo 0640 file works.
 *
 * The check and the read use one file descriptor, so the file checked is the file read
 * (no swap between a stat and an open). O_NONBLOCK keeps a FIFO named by mistake from
 * hanging the open; the type check then refuses it.
 */
import { closeSync, constants, fstatSync, openSync, readFileSync } from 'node:fs';
import { HaloError } from '../core/errors.js';

/** Group write, and any access for others. */
export const SECRET_FILE_FORBIDDEN_BITS = 0o027;

const FILE_TYPES: ReadonlyArray<readonly [number, string]> = [
  [constants.S_IFDIR, 'a directory'],
  [constants.S_IFIFO, 'a FIFO'],
  [constants.S_IFSOCK, 'a socket'],
  [constants.S_IFCHR, 'a character device'],
  [constants.S_IFBLK, 'a block device'],
];

/** `0644`: the permission bits as an operator writes them for chmod. */
export function octalMode(mode: number): string {
  return `0${(mode & 0o7777).toString(8).padStart(3, '0')}`;
}

/** The path quoted for a shell when it needs it, so the printed fix can be pasted. */
function shellWord(path: string): string {
  return /^[A-Za-z0-9_./@%+=:,-]+$/.test(path) ? path : `'${path.replaceAll("'", "'\\''")}'`;
}

/**
 * Why `file` (with st_mode `mode`, type bits included) may not hold a secret, as the
 * whole message for the operator, or undefined when it may.
 */
export function secretFileProblem(mode: number, file: string, configPath: string): string | undefined {
  const type = mode & constants.S_IFMT;
  if (type !== constants.S_IFREG) {
    const what = FILE_TYPES.find(([t]) => t === type)?.[1] ?? 'not a regular file';
    return `${configPath}: ${file} is ${what}, not a regular file: point ${configPath} at a file holding the secret`;
  }
  if ((mode & SECRET_FILE_FORBIDDEN_BITS) === 0) return undefined;
  const wrong: string[] = [];
  if ((mode & 0o020) !== 0) wrong.push('its group can write it');
  if ((mode & 0o007) !== 0) wrong.push(`other users can ${(mode & 0o004) !== 0 ? 'read' : 'access'} it`);
  return (
    `${configPath}: ${file} has mode ${octalMode(mode)}: ${wrong.join(' and ')}, so it cannot hold a secret ` +
    `(allowed: 0600, or 0640 for a group such as root:halo); fix: chmod 600 ${shellWord(file)}`
  );
}

/**
 * The bytes of a secret file, after the type and permission check. Throws HaloError
 * HALO_ERR_KEY_PERMISSIONS (wrong type or mode) or HALO_ERR_SECRET (cannot open or read,
 * with the errno code); `configPath` (e.g. `cluster.key_file`) starts every message.
 */
export function readSecretFile(file: string, configPath: string): Buffer {
  const cannotRead = (err: unknown) =>
    new HaloError('HALO_ERR_SECRET', `${configPath}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { path: configPath, file }, { cause: err });
  let fd: number;
  try {
    // O_NONBLOCK/O_NOCTTY are absent on Windows, where halo does not run: 0 leaves them out.
    fd = openSync(file, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (constants.O_NOCTTY ?? 0));
  } catch (err) {
    throw cannotRead(err);
  }
  try {
    const { mode } = fstatSync(fd);
    const problem = secretFileProblem(mode, file, configPath);
    if (problem !== undefined) throw new HaloError('HALO_ERR_KEY_PERMISSIONS', problem, { path: configPath, file, mode: octalMode(mode) });
    return readFileSync(fd);
  } catch (err) {
    if (err instanceof HaloError) throw err;
    throw cannotRead(err);
  } finally {
    closeSync(fd);
  }
}
