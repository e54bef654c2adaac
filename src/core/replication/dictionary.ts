/**
 * Strings that repeat in every record (table, pool and backend names) travel as small
 * ids. The master keeps one dictionary per epoch, shared by every standby, so an
 * UPDATES frame is encoded once and the replay buffer can hold its bytes:
 *
 * - sender: intern() assigns the next id on first use; takeNew() lists the definitions
 *   made since the last call, to go out in a DICT frame BEFORE the frame that uses
 *   them; entries() lists all of them, for a standby that (re)connects (it gets the
 *   whole dictionary first, then snapshot or replay, whose ids are then all defined).
 * - receiver: define() accepts definitions (idempotent; a conflicting redefinition is
 *   an error), resolve() turns ids back into strings (an unknown id is an error).
 *
 * Ids are never reused within a dictionary: a new epoch starts a new dictionary.
 */
import { Buffer } from 'node:buffer';
import { ReplicationFrameError } from './frame-error.js';

export const DICT_MAX_ENTRIES = 65_536;
export const DICT_MAX_STRING_BYTES = 255;

export interface DictEntry {
  readonly id: number;
  readonly value: string;
}

export interface WireDictionaryOptions {
  /** Default DICT_MAX_ENTRIES: ids are 0 .. maxEntries-1. */
  readonly maxEntries?: number;
  /** UTF-8 bytes; default DICT_MAX_STRING_BYTES. At most 255 (the wire has one length byte). */
  readonly maxStringBytes?: number;
}

// A lone surrogate would be sent as U+FFFD and come back as another string.
const LONE_SURROGATE = /\p{Cs}/u;

export class WireDictionary {
  readonly maxEntries: number;
  readonly maxStringBytes: number;
  private readonly ids = new Map<string, number>();
  private readonly strings = new Map<number, string>();
  private nextId = 0;
  private announced = 0;

  constructor(opts: WireDictionaryOptions = {}) {
    this.maxEntries = Math.min(opts.maxEntries ?? DICT_MAX_ENTRIES, DICT_MAX_ENTRIES);
    this.maxStringBytes = Math.min(opts.maxStringBytes ?? DICT_MAX_STRING_BYTES, DICT_MAX_STRING_BYTES);
  }

  get size(): number {
    return this.strings.size;
  }

  /** Sender: the id of `value`, assigned now if it is new. `field` names it in errors ("record 3 pool"). */
  intern(value: string, field = 'string'): number {
    const known = this.ids.get(value);
    if (known !== undefined) return known;
    this.check(value, field);
    if (this.nextId >= this.maxEntries) {
      throw new ReplicationFrameError(`dictionary full (${this.maxEntries} strings): cannot add ${field} ${JSON.stringify(value)}`, field);
    }
    const id = this.nextId++;
    this.ids.set(value, id);
    this.strings.set(id, value);
    return id;
  }

  /** Sender: definitions made since the last call, in id order. */
  takeNew(): DictEntry[] {
    const out: DictEntry[] = [];
    for (let id = this.announced; id < this.nextId; id++) out.push({ id, value: this.strings.get(id)! });
    this.announced = this.nextId;
    return out;
  }

  /** Every definition, in id order. */
  entries(): DictEntry[] {
    return [...this.strings].sort((a, b) => a[0] - b[0]).map(([id, value]) => ({ id, value }));
  }

  /**
   * Receiver: the problem with defining `id` as `value`, or undefined when it is fine
   * (new, or the same definition again). Lets a DICT frame be checked whole before any
   * of it is applied.
   */
  conflict(id: number, value: string): string | undefined {
    if (!Number.isInteger(id) || id < 0 || id >= this.maxEntries) return `id ${id} out of range 0..${this.maxEntries - 1}`;
    if (Buffer.byteLength(value, 'utf8') > this.maxStringBytes) return `string of ${Buffer.byteLength(value, 'utf8')} bytes exceeds ${this.maxStringBytes}`;
    const old = this.strings.get(id);
    if (old !== undefined && old !== value) return `id ${id} redefined from ${JSON.stringify(old)} to ${JSON.stringify(value)}`;
    return undefined;
  }

  /** Receiver: accept a definition. */
  define(id: number, value: string): void {
    const problem = this.conflict(id, value);
    if (problem !== undefined) throw new ReplicationFrameError(`dictionary: ${problem}`, 'dictionary id');
    if (this.strings.has(id)) return;
    this.strings.set(id, value);
    if (!this.ids.has(value)) this.ids.set(value, id);
    if (id >= this.nextId) this.nextId = id + 1;
  }

  /** Receiver: the string for `id`; an unknown id is a frame error naming it and `field`. */
  resolve(id: number, field = 'string'): string {
    const value = this.strings.get(id);
    if (value === undefined) throw new ReplicationFrameError(`${field}: unknown dictionary id ${id}`, field);
    return value;
  }

  /** Receiver: the string for `id`, or undefined when not defined. */
  lookup(id: number): string | undefined {
    return this.strings.get(id);
  }

  private check(value: string, field: string): void {
    const bytes = Buffer.byteLength(value, 'utf8');
    if (bytes > this.maxStringBytes) {
      throw new ReplicationFrameError(`${field} of ${bytes} bytes exceeds the dictionary limit of ${this.maxStringBytes}`, field);
    }
    if (LONE_SURROGATE.test(value)) throw new ReplicationFrameError(`${field} ${JSON.stringify(value)} has a lone surrogate`, field);
  }
}
