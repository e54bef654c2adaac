import { describe, it, expect } from 'vitest';
import { silentLogger, type LogFields, type Logger } from './logger.js';
import { ThrottledWarning } from './throttled-warning.js';

function recordingLogger(): { logger: Logger; lines: Array<{ event: string; fields: LogFields | undefined }> } {
  const lines: Array<{ event: string; fields: LogFields | undefined }> = [];
  return { lines, logger: { ...silentLogger, warn: (event, fields) => lines.push({ event, fields }) } };
}

describe('ThrottledWarning', () => {
  it('logs the first hit at once, then at most once per interval with the count since the last line', () => {
    const { logger, lines } = recordingLogger();
    const w = new ThrottledWarning(logger, 'dropped', 10_000);
    w.hit(0, { reason: 'max_flows' });
    for (let t = 1; t < 10_000; t += 1000) w.hit(t);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toEqual({ event: 'dropped', fields: { reason: 'max_flows', count: 1, interval_ms: 10_000 } });
    w.hit(10_000);
    expect(lines).toHaveLength(2);
    expect(lines[1]!.fields).toMatchObject({ count: 11 });
    w.hit(25_000);
    expect(lines[2]!.fields).toMatchObject({ count: 1 });
  });
});
