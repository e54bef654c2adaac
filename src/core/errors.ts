/**
 * Every error halo raises on purpose carries a stable code, so operators and
 * tests can match on it without parsing prose.
 */
export const ERROR_CODES = {
  HALO_ERR_CONFIG_PARSE: 'the config file is not valid YAML',
  HALO_ERR_CONFIG_INVALID: 'the config does not match the schema or fails a cross-check',
  HALO_ERR_CONFIG_READ: 'the config file could not be read',
  HALO_ERR_CLI_USAGE: 'a command-line flag or argument is wrong',
  HALO_ERR_LISTEN: 'a service could not bind its listen address',
  HALO_ERR_NO_BACKEND: 'no healthy backend is available for a service',
  HALO_ERR_BACKEND_CONNECT: 'connecting to a backend failed',
  HALO_ERR_BACKEND_TIMEOUT: 'a backend did not answer in time',
  HALO_ERR_HTTP_PARSE: 'a malformed HTTP message was received',
  HALO_ERR_HTTP_HEADER_TOO_LARGE: 'an HTTP header block exceeded the configured limit',
  HALO_ERR_LIMIT: 'a per-client or per-backend limit was reached',
  HALO_ERR_PROBE: 'a health probe failed',
  HALO_ERR_SECRET: 'a secret (key or cookie secret) could not be loaded',
  HALO_ERR_KEY_PERMISSIONS: 'a secret file (cluster key, admin token, cookie secret, TLS private key) is not a regular file, or other users may read it or its group may write it: the message names the config key and the chmod that fixes it',
  HALO_ERR_ADVERT: 'an election advertisement to send has a field out of range',
  HALO_ERR_VIP: 'adding, removing, listing or announcing (GARP) a VIP failed: the message has the command and its stderr',
  HALO_ERR_ELECTION: 'the election worker failed to start or died',
  HALO_ERR_LAB: 'a `halo lab` step (namespace, link, process) failed',
  HALO_ERR_ELECTION_SOCKET: 'the election advert socket could not be opened (bind, multicast membership or options)',
  HALO_ERR_LINK_MONITOR: 'the interface link state could not be read with `ip`',
  HALO_ERR_REPL_FRAME: 'a replication frame is malformed: the message names the field',
  HALO_ERR_REPL_HANDSHAKE: 'a replication peer failed the handshake (authentication, cluster id or config digest): the message says which',
  HALO_ERR_ADMIN: 'the admin API could not be reached, refused the request, or answered with something else than expected',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class HaloError extends Error {
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HaloError';
    this.code = code;
    this.details = details;
  }
}

/** Several config problems reported together, each naming its path. */
export class ConfigError extends HaloError {
  readonly problems: readonly string[];

  constructor(code: 'HALO_ERR_CONFIG_PARSE' | 'HALO_ERR_CONFIG_INVALID' | 'HALO_ERR_CONFIG_READ', problems: string[], source?: string) {
    const where = source ? `${source}: ` : '';
    super(code, `${where}${problems.length === 1 ? problems[0] : `${problems.length} problems:\n  ${problems.join('\n  ')}`}`, { source });
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export function isHaloError(err: unknown): err is HaloError {
  return err instanceof HaloError;
}
