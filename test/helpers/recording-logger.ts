/** A Logger that keeps every line, for tests that assert on what was logged. */
import type { LogFields, Logger } from '../../src/adapters/logger.js';

export interface LogLine {
  level: 'error' | 'warn' | 'info' | 'debug';
  event: string;
  fields: LogFields;
}

export function recordingLogger(): Logger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at = (level: LogLine['level']) => (event: string, fields?: LogFields) => {
    lines.push({ level, event, fields: fields ?? {} });
  };
  const log = { lines, error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug'), child: () => log, setLevel: () => {} };
  return log;
}
