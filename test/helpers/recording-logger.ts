/**
 * A Logger that keeps every line, for tests that assert on what was logged. Children add
 * their fields to every line (as winston's do); several loggers may share one `lines`.
 */
import type { LogFields, Logger } from '../../src/adapters/logger.js';

export interface LogLine {
  level: 'error' | 'warn' | 'info' | 'debug';
  event: string;
  fields: LogFields;
}

export function recordingLogger(lines: LogLine[] = [], base: LogFields = {}): Logger & { lines: LogLine[] } {
  const at = (level: LogLine['level']) => (event: string, fields?: LogFields) => {
    lines.push({ level, event, fields: { ...base, ...fields } });
  };
  return {
    lines,
    error: at('error'),
    warn: at('warn'),
    info: at('info'),
    debug: at('debug'),
    child: (fields) => recordingLogger(lines, { ...base, ...fields }),
    setLevel: () => {},
  };
}
