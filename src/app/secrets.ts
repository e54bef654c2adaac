/**
 * Secrets (cookie signing secrets, the cluster key) come from a file or an environment
 * variable, never from the config text, and are never logged. A file that other users
 * may read is refused (src/config/secret-file.ts).
 */
import { HaloError } from '../core/errors.js';
import { readSecretFile } from '../config/secret-file.js';

export interface SecretSource {
  file?: string | undefined;
  env?: string | undefined;
}

/**
 * `where` is the config path for the error (`cluster`, `services[web].persistence`);
 * `fileKey`/`envKey` are the config keys the operator wrote, so the message names them.
 */
export function loadSecret(source: SecretSource, where: string, what: string, minLength = 16, keys: { file: string; env: string } = { file: 'secret_file', env: 'secret_env' }): Buffer {
  let secret: string | undefined;
  if (source.file !== undefined) {
    secret = readSecretFile(source.file, `${where}.${keys.file}`).toString('utf8').trim();
  } else if (source.env !== undefined) {
    secret = process.env[source.env];
    if (secret === undefined) throw new HaloError('HALO_ERR_SECRET', `${where}.${keys.env}: environment variable ${source.env} is not set`);
  }
  if (secret === undefined || secret.length < minLength) throw new HaloError('HALO_ERR_SECRET', `${where}: the ${what} must be at least ${minLength} characters`);
  return Buffer.from(secret, 'utf8');
}
