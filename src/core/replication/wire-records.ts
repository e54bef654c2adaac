/**
 * One table change on the wire. Layout (varints are unsigned LEB128):
 *
 *   flags     u8      bit 0 op (0 set, 1 delete)
 *                     bits 1-2 kind (0 connections, 1 udp_flows, 2 persist_source, 3 persist_cookie)
 *                     bits 3-5 key form (see KEY_FORM)
 *                     bit 6 ttl present (set only)
 *                     bit 7 client address inline (udp_flows / connections set only)
 *   table     varint  dictionary id
 *   key       by form: 4 bytes IPv4 | 4+2 IPv4:port | 16 IPv6 | 16+2 [IPv6]:port | varint length + UTF-8
 *             | name/IPv4 (source-IP persistence, "pool/a.b.c.d"): dictionary id of the name + 4 bytes
 *   -- set only --
 *   ttlMs     varint  when bit 6 (absent = no expiry; 0 = already due)
 *   persist_*:            pool id varint, backend id varint
 *   udp_flows/connections: [address tag u8 (4, 6, or 0 = varint length + UTF-8) + bytes + port u16, when bit 7]
 *                          pool id varint, backend id varint, ageMs varint
 *
 * A binary key form is used only when formatting the parsed address gives back the
 * exact key text, so every key round-trips byte for byte. A udp_flows key "ip:port"
 * already holds the client address: it is sent once and derived on decode (bit 7 clear).
 *
 * Times: ttlMs and ageMs are relative, because monotonic clocks differ between nodes.
 * Fractions of a ms (performance.now()) are rounded (ttl up, age to nearest); a negative
 * ttl (due but not yet expired on the sender) goes out as 0.
 */
import { Buffer } from 'node:buffer';
import type { TableKind } from '../tables/table-event.js';
import { formatIPv4, formatIPv6, parseIPv6 } from '../proxy-protocol.js';
import type { WireDictionary } from './dictionary.js';
import { ReplicationFrameError } from './frame-error.js';
import type { ByteReader, ByteWriter } from './wire-varint.js';

export interface PersistValue {
  readonly pool: string;
  readonly backend: string;
}

/** udp_flows and connections. ageMs = sender's now - createdAt/startedAt; the receiver rebuilds local times. */
export interface FlowValue {
  readonly clientIp: string;
  readonly clientPort: number;
  readonly pool: string;
  readonly backend: string;
  readonly ageMs: number;
}

export type ReplicatedValue = PersistValue | FlowValue;

export type SetRecord =
  | {
      readonly op: 'set';
      readonly table: string;
      readonly kind: 'persist_source' | 'persist_cookie';
      readonly key: string;
      readonly value: PersistValue;
      readonly ttlMs: number | null;
    }
  | {
      readonly op: 'set';
      readonly table: string;
      readonly kind: 'udp_flows' | 'connections';
      readonly key: string;
      readonly value: FlowValue;
      readonly ttlMs: number | null;
    };

export interface DeleteRecord {
  readonly op: 'delete';
  readonly table: string;
  readonly kind: TableKind;
  readonly key: string;
}

export type ReplicationRecord = SetRecord | DeleteRecord;

export const KEY_MAX_BYTES = 1024;
/** Smallest record: flags, a one-byte table id, an empty string key. Bounds counts before allocating. */
export const MIN_RECORD_BYTES = 3;

const KINDS: readonly TableKind[] = ['connections', 'udp_flows', 'persist_source', 'persist_cookie'];
const KIND_BITS: Readonly<Record<TableKind, number>> = { connections: 0, udp_flows: 1, persist_source: 2, persist_cookie: 3 };

export const KEY_FORM = { utf8: 0, ipv4: 1, ipv4Port: 2, ipv6: 3, ipv6Port: 4, namedIpv4: 5 } as const;
const KEY_FORM_MAX = KEY_FORM.namedIpv4;
/** The name part of a name/IPv4 key: a config NAME (pool names are), so it fits the dictionary. */
const KEY_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const FLAG_DELETE = 0x01;
const FLAG_TTL = 0x40;
const FLAG_INLINE_ADDRESS = 0x80;
const ADDRESS_TAG_TEXT = 0;
const ADDRESS_MAX_BYTES = 255;
const LONE_SURROGATE = /\p{Cs}/u;

// Scratch for the key parser: one record is encoded at a time, and this keeps the
// 100k-records-per-frame path free of per-record allocations.
let scratchV4 = 0;
let scratchPort = 0;
let scratchV6: Uint8Array | undefined;
/** Index of the ':' before the port (v4) or of the ']' (v6). */
let scratchSplit = 0;

/** Strict dotted quad in key[start, end): no leading zeros, octets <= 255; -1 when not one. */
function parseV4(key: string, start: number, end: number): number {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = start; i < end; i++) {
    const c = key.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || dots === 3) return -1;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && octet === 0) return -1;
      octet = octet * 10 + (c - 48);
      if (++digits > 3 || octet > 255) return -1;
    } else {
      return -1;
    }
  }
  if (dots !== 3 || digits === 0) return -1;
  return value * 256 + octet;
}

/** Strict decimal port in key[start, end); -1 when not one. */
function parsePort(key: string, start: number, end: number): number {
  const n = end - start;
  if (n < 1 || n > 5 || (n > 1 && key.charCodeAt(start) === 48)) return -1;
  let port = 0;
  for (let i = start; i < end; i++) {
    const c = key.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
    port = port * 10 + (c - 48);
  }
  return port <= 0xffff ? port : -1;
}

function canonicalV6(text: string): Uint8Array | undefined {
  const bytes = parseIPv6(text);
  return bytes !== undefined && formatIPv6(bytes) === text ? bytes : undefined;
}

/** The key's wire form; fills the scratch fields for the binary forms. */
export function keyForm(key: string): number {
  const len = key.length;
  const slash = key.lastIndexOf('/');
  if (slash > 0 && len - slash - 1 >= 7 && len - slash - 1 <= 15) {
    scratchV4 = parseV4(key, slash + 1, len);
    if (scratchV4 < 0 || !KEY_NAME.test(key.slice(0, slash))) return KEY_FORM.utf8;
    scratchSplit = slash;
    return KEY_FORM.namedIpv4;
  }
  if (len < 7 || len > 47) return KEY_FORM.utf8;
  const first = key.charCodeAt(0);
  if (first === 91) {
    const close = key.indexOf(']:');
    if (close < 0) return KEY_FORM.utf8;
    const port = parsePort(key, close + 2, len);
    const v6 = port < 0 ? undefined : canonicalV6(key.slice(1, close));
    if (v6 === undefined) return KEY_FORM.utf8;
    scratchV6 = v6;
    scratchPort = port;
    scratchSplit = close;
    return KEY_FORM.ipv6Port;
  }
  const colon = key.indexOf(':');
  if (colon < 0) {
    scratchV4 = parseV4(key, 0, len);
    return scratchV4 < 0 ? KEY_FORM.utf8 : KEY_FORM.ipv4;
  }
  if (key.indexOf('.') > 0 && key.indexOf(':', colon + 1) < 0) {
    const port = parsePort(key, colon + 1, len);
    scratchV4 = port < 0 ? -1 : parseV4(key, 0, colon);
    if (scratchV4 < 0) return KEY_FORM.utf8;
    scratchPort = port;
    scratchSplit = colon;
    return KEY_FORM.ipv4Port;
  }
  const v6 = canonicalV6(key);
  if (v6 === undefined) return KEY_FORM.utf8;
  scratchV6 = v6;
  return KEY_FORM.ipv6;
}

function checkText(w: ByteWriter, s: string, field: string, max: number): number {
  if (typeof s !== 'string') w.fail(`${field} is not a string`, field);
  const bytes = Buffer.byteLength(s, 'utf8');
  if (bytes > max) w.fail(`${field} of ${bytes} bytes exceeds ${max}`, field);
  if (LONE_SURROGATE.test(s)) w.fail(`${field} has a lone surrogate (it would not round-trip)`, field);
  return bytes;
}

function intern(w: ByteWriter, dict: WireDictionary, s: string, field: string): void {
  if (typeof s !== 'string') w.fail(`${field} is not a string`, field);
  let id: number;
  try {
    id = dict.intern(s, field);
  } catch (err) {
    if (err instanceof ReplicationFrameError) w.fail(err.message, field);
    throw err;
  }
  w.varint(id, field);
}

function relativeMs(w: ByteWriter, v: number, field: string, round: (x: number) => number): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) w.fail(`${field} ${String(v)} is not a finite number`, field);
  return v > 0 ? round(v) : 0;
}

function writeAddress(w: ByteWriter, ip: string, port: number): void {
  if (typeof ip !== 'string') w.fail('clientIp is not a string', 'clientIp');
  const v4 = parseV4(ip, 0, ip.length);
  const v6 = v4 < 0 && ip.includes(':') ? canonicalV6(ip) : undefined;
  if (v4 >= 0) {
    w.u8(4, 'address tag');
    w.u32(v4, 'clientIp');
  } else if (v6 !== undefined) {
    w.u8(6, 'address tag');
    w.bytes(v6);
  } else {
    const bytes = checkText(w, ip, 'clientIp', ADDRESS_MAX_BYTES);
    w.u8(ADDRESS_TAG_TEXT, 'address tag');
    w.varint(bytes, 'clientIp length');
    w.utf8(ip, bytes);
  }
  w.u16(port, 'clientPort');
}

/** The client address is the key's ("ip:port" / "[ip6]:port"): send it once. */
function addressIsKey(form: number, key: string, v: FlowValue): boolean {
  if (v.clientPort !== scratchPort || typeof v.clientIp !== 'string') return false;
  if (form === KEY_FORM.ipv4Port) return v.clientIp.length === scratchSplit && key.startsWith(v.clientIp);
  if (form === KEY_FORM.ipv6Port) return v.clientIp.length === scratchSplit - 1 && key.startsWith(v.clientIp, 1);
  return false;
}

/** Append one record; the writer's what/index name it in errors. Interns strings in `dict`. */
export function writeRecord(w: ByteWriter, rec: ReplicationRecord, dict: WireDictionary): void {
  const kindBits = KIND_BITS[rec.kind];
  if (kindBits === undefined) w.fail(`kind ${JSON.stringify(rec.kind)} is not a table kind`, 'kind');
  const op: string = rec.op;
  if (op !== 'set' && op !== 'delete') w.fail(`op ${JSON.stringify(op)} is not set or delete`, 'op');
  if (typeof rec.key !== 'string') w.fail('key is not a string', 'key');
  const form = keyForm(rec.key);
  let flags = (kindBits << 1) | (form << 3);
  let inline = false;
  if (rec.op === 'delete') {
    flags |= FLAG_DELETE;
  } else {
    if (rec.ttlMs !== null) flags |= FLAG_TTL;
    if (rec.kind === 'udp_flows' || rec.kind === 'connections') {
      if (typeof rec.value !== 'object' || rec.value === null) w.fail('value is not an object', 'value');
      inline = !addressIsKey(form, rec.key, rec.value);
      if (inline) flags |= FLAG_INLINE_ADDRESS;
    }
  }
  w.u8(flags, 'flags');
  intern(w, dict, rec.table, 'table');
  writeKey(w, rec.key, form, dict);
  if (rec.op === 'delete') return;
  writeSetBody(w, rec, inline, dict);
}

function writeSetBody(w: ByteWriter, rec: SetRecord, inline: boolean, dict: WireDictionary): void {
  if (rec.ttlMs !== null) w.varint(relativeMs(w, rec.ttlMs, 'ttlMs', Math.ceil), 'ttlMs');
  const v = rec.value;
  if (typeof v !== 'object' || v === null) w.fail('value is not an object', 'value');
  switch (rec.kind) {
    case 'persist_source':
    case 'persist_cookie':
      intern(w, dict, rec.value.pool, 'pool');
      intern(w, dict, rec.value.backend, 'backend');
      return;
    default:
      if (inline) writeAddress(w, rec.value.clientIp, rec.value.clientPort);
      intern(w, dict, rec.value.pool, 'pool');
      intern(w, dict, rec.value.backend, 'backend');
      w.varint(relativeMs(w, rec.value.ageMs, 'ageMs', Math.round), 'ageMs');
  }
}

function writeKey(w: ByteWriter, key: string, form: number, dict: WireDictionary): void {
  switch (form) {
    case KEY_FORM.namedIpv4:
      intern(w, dict, key.slice(0, scratchSplit), 'key name');
      w.u32(scratchV4, 'key');
      return;
    case KEY_FORM.ipv4:
      w.u32(scratchV4, 'key');
      return;
    case KEY_FORM.ipv4Port:
      w.u32(scratchV4, 'key');
      w.u16(scratchPort, 'key port');
      return;
    case KEY_FORM.ipv6:
      w.bytes(scratchV6!);
      return;
    case KEY_FORM.ipv6Port:
      w.bytes(scratchV6!);
      w.u16(scratchPort, 'key port');
      return;
    default: {
      const bytes = checkText(w, key, 'key', KEY_MAX_BYTES);
      w.varint(bytes, 'key length');
      w.utf8(key, bytes);
    }
  }
}

function readId(r: ByteReader, dict: WireDictionary, field: string): string {
  const at = r.offset;
  const id = r.varint(field);
  const s = dict.lookup(id);
  if (s === undefined) r.fail(`${field}: unknown dictionary id ${id}`, field, at);
  return s;
}

function readAddress(r: ByteReader): string {
  const at = r.offset;
  const tag = r.u8('address tag');
  if (tag === 4) return formatIPv4(r.bytes(4, 'clientIp'));
  if (tag === 6) return formatIPv6(r.bytes(16, 'clientIp'));
  if (tag !== ADDRESS_TAG_TEXT) r.fail(`address tag ${tag} is not 0, 4 or 6`, 'address tag', at);
  const len = r.varint('clientIp length');
  if (len > ADDRESS_MAX_BYTES) r.fail(`clientIp length ${len} exceeds ${ADDRESS_MAX_BYTES}`, 'clientIp length');
  return r.utf8(len, 'clientIp');
}

/**
 * Read one record; the reader's what/index name it in errors. `setsOnly` (snapshot
 * chunks) rejects deletes.
 */
export function readRecord(r: ByteReader, dict: WireDictionary, setsOnly = false): ReplicationRecord {
  const at = r.offset;
  const flags = r.u8('flags');
  const kind = KINDS[(flags >> 1) & 3]!;
  const form = (flags >> 3) & 7;
  const isDelete = (flags & FLAG_DELETE) !== 0;
  const inline = (flags & FLAG_INLINE_ADDRESS) !== 0;
  if (form > KEY_FORM_MAX) r.fail(`flags: key form ${form} is unknown`, 'flags', at);
  if (isDelete && setsOnly) r.fail('flags: delete in a snapshot chunk', 'flags', at);
  if (isDelete && (flags & (FLAG_TTL | FLAG_INLINE_ADDRESS)) !== 0) r.fail('flags: ttl or address bit on a delete', 'flags', at);
  const persist = kind === 'persist_source' || kind === 'persist_cookie';
  if (persist && inline) r.fail(`flags: address bit on a ${kind} record`, 'flags', at);
  if (!isDelete && !persist && !inline && form !== KEY_FORM.ipv4Port && form !== KEY_FORM.ipv6Port) {
    r.fail('flags: client address neither inline nor in an ip:port key', 'flags', at);
  }
  const table = readId(r, dict, 'table');
  const key = readKey(r, form, dict);
  if (isDelete) return { op: 'delete', table, kind, key };
  const ttlMs = (flags & FLAG_TTL) !== 0 ? r.varint('ttlMs') : null;
  if (persist) {
    const pool = readId(r, dict, 'pool');
    const backend = readId(r, dict, 'backend');
    return { op: 'set', table, kind, key, value: { pool, backend }, ttlMs };
  }
  let clientIp: string;
  let clientPort: number;
  if (inline) {
    clientIp = readAddress(r);
    clientPort = r.u16('clientPort');
  } else {
    // Checked above: the key is ip:port; derive the address from its text.
    const split = form === KEY_FORM.ipv4Port ? key.lastIndexOf(':') : key.lastIndexOf(']');
    clientIp = form === KEY_FORM.ipv4Port ? key.slice(0, split) : key.slice(1, split);
    clientPort = Number(key.slice(split + (form === KEY_FORM.ipv4Port ? 1 : 2)));
  }
  const pool = readId(r, dict, 'pool');
  const backend = readId(r, dict, 'backend');
  const ageMs = r.varint('ageMs');
  return { op: 'set', table, kind: kind as 'udp_flows' | 'connections', key, value: { clientIp, clientPort, pool, backend, ageMs }, ttlMs };
}

function readKey(r: ByteReader, form: number, dict: WireDictionary): string {
  switch (form) {
    case KEY_FORM.namedIpv4: {
      const name = readId(r, dict, 'key name');
      return `${name}/${formatIPv4(r.bytes(4, 'key'))}`;
    }
    case KEY_FORM.ipv4:
      return formatIPv4(r.bytes(4, 'key'));
    case KEY_FORM.ipv4Port: {
      const ip = formatIPv4(r.bytes(4, 'key'));
      return `${ip}:${r.u16('key port')}`;
    }
    case KEY_FORM.ipv6:
      return formatIPv6(r.bytes(16, 'key'));
    case KEY_FORM.ipv6Port: {
      const ip = formatIPv6(r.bytes(16, 'key'));
      return `[${ip}]:${r.u16('key port')}`;
    }
    default: {
      const len = r.varint('key length');
      if (len > KEY_MAX_BYTES) r.fail(`key length ${len} exceeds ${KEY_MAX_BYTES}`, 'key length');
      return r.utf8(len, 'key');
    }
  }
}
