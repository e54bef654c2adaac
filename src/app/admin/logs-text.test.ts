import { describe, expect, it } from 'vitest';
import { HaloError } from '../../core/errors.js';
import { clockTime, escapeControls, formatJson, formatText, parseSince, shownLine, type ShownLine } from './logs-text.js';

const NOW = Date.parse('2026-11-27T15:30:00.000Z');

describe('parseSince', () => {
  it.each([
    ['10m', NOW - 600_000],
    ['1h', NOW - 3_600_000],
    ['1h30m', NOW - 5_400_000],
    ['90s', NOW - 90_000],
    ['2d', NOW - 172_800_000],
    ['250ms', NOW - 250],
    ['2026-11-27T15:04:00Z', Date.parse('2026-11-27T15:04:00Z')],
    ['2026-11-27T15:04:00.123+01:00', Date.parse('2026-11-27T14:04:00.123Z')],
    ['1764255000000', 1_764_255_000_000],
  ])('%s', (text, expected) => {
    expect(parseSince(text, NOW)).toBe(expected);
  });

  it.each([[''], ['10x'], ['x'], ['-5m'], ['May 5'], ['10 m'], ['2026-13-45']])('refuses %j as a usage error naming --since', (text) => {
    let err: unknown;
    try {
      parseSince(text, NOW);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(HaloError);
    expect((err as HaloError).code).toBe('HALO_ERR_CLI_USAGE');
    expect((err as HaloError).message).toMatch(/^--since: expected a duration/);
  });
});

const line = (entry: Record<string, unknown>, node = 'lb2', at = Date.parse('2026-11-27T15:04:31.120Z')): ShownLine => ({ node, at, boot: 1, seq: 1, entry });

describe('formatText', () => {
  it('prints time (UTC), node, level and the fields like the node log does', () => {
    const l = line({ level: 'info', message: 'takeover', timestamp: 'ignored', node: 'lb2', detected_ms: 181, cause: 'master lb1 silent', vips: ['10.0.0.100/24'], component: 'election' });
    expect(formatText(l, 3)).toBe('15:04:31.120 lb2  INFO  takeover detected_ms=181 cause="master lb1 silent" vips=["10.0.0.100/24"] component=election');
    expect(formatText({ ...l, node: 'a' }, 5)).toMatch(/^15:04:31\.120 a      INFO  takeover /);
    expect(formatText(line({ level: 'warn', message: 'x', empty: '' }), 3)).toBe('15:04:31.120 lb2  WARN  x empty=""');
  });

  it('escapes control characters wherever they are, so a line cannot drive the terminal', () => {
    const out = formatText(line({ level: 'info', message: 'evil\u001b[2J', path: '/a\u009bb', 'k\u0007': 'v\nw' }), 3);
    expect(out).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
    expect(out).toBe('15:04:31.120 lb2  INFO  evil\\u001b[2J path=/a\\u009bb k\\u0007="v\\nw"');
    expect(escapeControls('ok \u007f')).toBe('ok \\u007f');
  });

  it('clockTime is HH:MM:SS.mmm in UTC', () => {
    expect(clockTime(Date.parse('2026-01-02T03:04:05.006Z'))).toBe('03:04:05.006');
  });
});

describe('shownLine / formatJson', () => {
  it('reads a cluster feed message', () => {
    const m = { type: 'log', node: 'lb1', boot: 5, seq: 9, at: 1234, entry: { level: 'info', message: 'x', node: 'lb1', timestamp: 'whatever' } };
    expect(shownLine(m)).toEqual({ node: 'lb1', boot: 5, seq: 9, at: 1234, entry: m.entry });
    expect(JSON.parse(formatJson(shownLine(m) as ShownLine))).toEqual(m.entry);
  });

  it("reads a node's own feed (no node, no boot: the entry names the node) and skips what is not a line", () => {
    const m = { type: 'log', seq: 3, at: 50, entry: { level: 'info', message: 'x', node: 'lb9', timestamp: '2026-01-01T00:00:00.000Z' } };
    expect(shownLine(m)).toMatchObject({ node: 'lb9', at: 50, seq: 3, boot: 0 });
    expect(shownLine({ type: 'log', entry: { node: 'a', timestamp: '2026-01-01T00:00:00.000Z' } })?.at).toBe(Date.parse('2026-01-01T00:00:00.000Z'));
    expect(shownLine({ type: 'status', at: 1, status: {} })).toBeUndefined();
    expect(shownLine({ type: 'replayed', lines: 0 })).toBeUndefined();
    expect(shownLine({ type: 'log', entry: {} })).toBeUndefined();
    expect(shownLine(null)).toBeUndefined();
  });
});
