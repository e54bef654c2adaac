import { thrown } from '../../../test/helpers/thrown.js';
import { describe, expect, it } from 'vitest';
import { CONTROL_MAX_BYTES, encodeControl, parseControl } from './handshake-messages.js';
import { encodeLogBatches, isLogsParseError, LOG_FIELDS_MAX_BYTES, LOG_MESSAGE_MAX_CHARS, LOGS_MAX_BYTES, LOGS_MAX_LINES, logLine, type LogLine } from './log-messages.js';

const line = (over: Partial<LogLine> = {}): LogLine => ({ node: 'lb1', boot: 1_764_255_000_000, seq: 1, at: 1_764_255_012_345, level: 'info', message: 'state_change', fields: { state: 'MASTER', component: 'election' }, ...over });


const text = (lines: unknown[], extra: Record<string, unknown> = {}) => JSON.stringify({ type: 'logs', lines, ...extra });

describe('logs control message', () => {
  it('round-trips through encodeControl / parseControl', () => {
    const msg = { type: 'logs' as const, lines: [line(), line({ node: 'lb2', seq: 7, level: 'warn', fields: {} })] };
    expect(parseControl(encodeControl(msg))).toEqual(msg);
  });

  it.each([
    ['an unknown key in a line', text([{ ...line(), host: 'x' }]), 'logs.lines[0]: unknown key "host"'],
    ['an unknown key in the message', text([line()], { more: 1 }), 'logs: unknown key "more"'],
    ['no lines', text([]), 'logs.lines: expected at least one line'],
    ['too many lines', text(Array.from({ length: LOGS_MAX_LINES + 1 }, (_, i) => line({ seq: i }))), `logs.lines: expected at most ${LOGS_MAX_LINES} items, got ${LOGS_MAX_LINES + 1}`],
    ['a level outside the four', text([{ ...line(), level: 'verbose' }]), 'logs.lines[0].level: expected one of error, warn, info, debug, got "verbose"'],
    ['a long message', text([{ ...line(), message: 'x'.repeat(LOG_MESSAGE_MAX_CHARS + 1) }]), `logs.lines[0].message: expected a string of at most ${LOG_MESSAGE_MAX_CHARS} chars`],
    ['a bad node name', text([{ ...line(), node: 'lb 1' }]), 'logs.lines[0].node: expected a name'],
    ['a negative seq', text([{ ...line(), seq: -1 }]), 'logs.lines[0].seq: expected an integer'],
    ['fields that are a list', text([{ ...line(), fields: [1] }]), 'logs.lines[0].fields: expected an object, got a list'],
    ['missing fields', text([{ ...line(), fields: undefined }]), 'logs.lines[0].fields: required, missing'],
    ['too many field keys', text([{ ...line(), fields: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, i])) }]), 'logs.lines[0].fields: expected at most 64 keys, got 65'],
    ['fields over their byte limit', text([{ ...line(), fields: { big: 'x'.repeat(LOG_FIELDS_MAX_BYTES) } }]), `logs.lines[0].fields: over ${LOG_FIELDS_MAX_BYTES} bytes as JSON`],
  ])('rejects %s, naming the field, as a logs error', (_what, input, expected) => {
    const err = thrown(() => parseControl(input));
    expect(err.code).toBe('HALO_ERR_REPL_HANDSHAKE');
    expect(err.message).toContain(expected);
    expect(isLogsParseError(err)).toBe(true);
  });

  it('fields are what JSON carries on: 1e999 arrives as null and -0 as 0, so a relayed line equals the one received (found by fuzzing)', () => {
    const raw = `{"type":"logs","lines":[{"node":"lb1","boot":1,"seq":1,"at":1,"level":"info","message":"m","fields":{"big":1e999,"z":-0}}]}`;
    const parsed = parseControl(raw);
    if (parsed.type !== 'logs') throw new Error(`expected a logs message, got ${parsed.type}`);
    expect(parsed.lines[0]?.fields).toEqual({ big: null, z: 0 });
    expect(Object.is(parsed.lines[0]?.fields['z'], 0)).toBe(true);
    expect(parseControl(encodeControl(parsed))).toEqual(parsed);
  });

  it('an unknown message type, or any other bad control message, is not a logs error (the link is reset for those)', () => {
    expect(isLogsParseError(thrown(() => parseControl(JSON.stringify({ type: 'logz', lines: [] }))))).toBe(false);
    expect(isLogsParseError(thrown(() => parseControl(JSON.stringify({ type: 'resume', epoch: -1, fromSeq: 0 }))))).toBe(false);
    expect(isLogsParseError(new Error('logs.lines'))).toBe(false);
  });
});

describe('logLine: one of our entries, clamped so the peer accepts it', () => {
  const origin = { node: 'lb1', boot: 1000 };

  it('keeps the fields apart from level, message, timestamp and node', () => {
    const l = logLine(origin, 5, 2000, { level: 'warn', message: 'backend_down', timestamp: '2026-11-27T15:00:00.000Z', node: 'lb1', service: 'web', backend: 'be1', skipped: undefined });
    expect(l).toEqual({ node: 'lb1', boot: 1000, seq: 5, at: 2000, level: 'warn', message: 'backend_down', fields: { service: 'web', backend: 'be1' } });
  });

  it('reads an unknown level as info and cuts a long event name', () => {
    const l = logLine(origin, 1, 1, { level: 'silly', message: 'y'.repeat(1000), timestamp: 'x' });
    expect(l.level).toBe('info');
    expect(l.message).toHaveLength(LOG_MESSAGE_MAX_CHARS);
  });

  it('replaces oversized fields by a prefix of their JSON that fits, and the result parses', () => {
    // quotes double in JSON: the cut must allow for escaping
    const l = logLine(origin, 1, 1, { level: 'info', message: 'status', timestamp: 'x', dump: '"'.repeat(20_000), other: 1 });
    expect(Object.keys(l.fields)).toEqual(['truncated']);
    expect(String(l.fields['truncated'])).toMatch(/^\{"dump":"\\"\\"/);
    expect(Buffer.byteLength(JSON.stringify(l.fields))).toBeLessThanOrEqual(LOG_FIELDS_MAX_BYTES);
    expect(parseControl(encodeControl({ type: 'logs', lines: [l] }))).toEqual({ type: 'logs', lines: [l] });
  });

  it('keeps a "__proto__" field as a plain key (never a prototype)', () => {
    const entry = JSON.parse('{"level":"info","message":"m","timestamp":"x","__proto__":{"polluted":true}}') as Record<string, unknown>;
    const l = logLine(origin, 1, 1, entry);
    expect(Object.getPrototypeOf(l.fields)).toBe(Object.prototype);
    expect(Object.keys(l.fields)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });
});

describe('encodeLogBatches', () => {
  it('batches in order by line count', () => {
    const lines = Array.from({ length: 250 }, (_, i) => line({ seq: i + 1 }));
    const { texts, invalid } = encodeLogBatches(lines);
    expect(invalid).toBe(0);
    const parsed = texts.map((t) => parseControl(t));
    expect(parsed.map((m) => (m.type === 'logs' ? m.lines.length : 0))).toEqual([100, 100, 50]);
    expect(parsed.flatMap((m) => (m.type === 'logs' ? m.lines.map((l) => l.seq) : []))).toEqual(lines.map((l) => l.seq));
  });

  it('batches by bytes: every message stays within LOGS_MAX_BYTES (and so within CONTROL_MAX_BYTES)', () => {
    const big = logLine({ node: 'lb2', boot: 1 }, 1, 1, { level: 'info', message: 'm', timestamp: 'x', blob: 'é'.repeat(1900) });
    const lines = Array.from({ length: 60 }, (_, i) => ({ ...big, seq: i + 1 }));
    const { texts } = encodeLogBatches(lines, 100);
    expect(texts.length).toBeGreaterThan(2);
    for (const t of texts) expect(Buffer.byteLength(t)).toBeLessThanOrEqual(LOGS_MAX_BYTES);
    expect(LOGS_MAX_BYTES).toBeLessThan(CONTROL_MAX_BYTES);
    expect(texts.flatMap((t) => { const m = parseControl(t); return m.type === 'logs' ? m.lines : []; })).toHaveLength(60);
  });

  it('leaves out (and counts) a line the parser would refuse', () => {
    const { texts, invalid } = encodeLogBatches([line(), line({ node: 'not a name', seq: 2 }), line({ seq: 3 })]);
    expect(invalid).toBe(1);
    expect(texts).toHaveLength(1);
    const m = parseControl(texts[0] as string);
    expect(m.type === 'logs' ? m.lines.map((l) => l.seq) : []).toEqual([1, 3]);
  });
});
