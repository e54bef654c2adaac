import { HaloError } from '../errors.js';

/**
 * A replication frame could not be decoded (or a value cannot be put on the wire).
 * The message names the record, the field and the byte offset, so a bad peer or a
 * codec bug is found from one log line; `field` and `offset` repeat them for tests
 * and metrics.
 */
export class ReplicationFrameError extends HaloError {
  readonly field: string;
  /** Byte offset in the frame where the field starts; -1 when encoding. */
  readonly offset: number;

  constructor(message: string, field: string, offset = -1) {
    super('HALO_ERR_REPL_FRAME', message, { field, offset });
    this.name = 'ReplicationFrameError';
    this.field = field;
    this.offset = offset;
  }
}
