/**
 * Structured logging through winston: one event per line, always with the node name.
 * Text on a terminal for people, JSON (`--log-format json`) for machines.
 * Callers pass an event name and fields: log.info('backend_down', { service, backend, cause }).
 */
import winston from 'winston';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export type LogFormat = 'text' | 'json';
export type LogFields = Record<string, unknown>;

export interface Logger {
  error(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  info(event: string, fields?: LogFields): void;
  debug(event: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
  setLevel(level: LogLevel): void;
}

function textLine(info: winston.Logform.TransformableInfo): string {
  const { level, message, timestamp, ...rest } = info;
  const fields = Object.entries(rest)
    .filter(([k, v]) => typeof k === 'string' && v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === 'string' && !/[\s"=]/.test(v) ? v : JSON.stringify(v)}`)
    .join(' ');
  return `${String(timestamp)} ${level.toUpperCase().padEnd(5)} ${String(message)}${fields ? ` ${fields}` : ''}`;
}

export interface LoggerOptions {
  level?: LogLevel;
  format?: LogFormat;
  node?: string;
  /** Defaults to stderr-free stdout; tests pass a stream to capture lines. */
  stream?: NodeJS.WritableStream;
  /**
   * Handed every entry this logger writes (same level filter), as a plain JSON-able
   * object: level, message (the event), timestamp, node and the fields. The admin API's
   * event stream reads the log through it. Must not throw and must not log.
   */
  tap?: (entry: LogEntry) => void;
}

/** One log line as data: what the JSON format prints, whatever the output format. */
export interface LogEntry {
  level: string;
  message: string;
  timestamp: string;
  [field: string]: unknown;
}

/** JSON-able copy (bigints as strings, errors as their message): it may cross a thread or a socket. */
function plainEntry(info: winston.Logform.TransformableInfo): LogEntry {
  const text = JSON.stringify(info, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v instanceof Error ? v.message : v));
  return JSON.parse(text) as LogEntry;
}

function tapFormat(tap: (entry: LogEntry) => void, isEnabled: (level: string) => boolean): winston.Logform.Format {
  return winston.format((info) => {
    // Formats see every level (winston filters in the transports): the tap gets what stdout gets.
    if (isEnabled(info.level)) {
      try {
        tap(plainEntry(info));
      } catch {
        // A broken listener must never cost the log line itself.
      }
    }
    return info;
  })();
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  let root: winston.Logger | undefined;
  const tap = opts.tap;
  const tapped = tap === undefined ? [] : [tapFormat(tap, (level) => root?.isLevelEnabled(level) ?? false)];
  const format =
    opts.format === 'json'
      ? winston.format.combine(winston.format.timestamp(), ...tapped, winston.format.json())
      : winston.format.combine(winston.format.timestamp(), ...tapped, winston.format.printf(textLine));
  const transport = opts.stream ? new winston.transports.Stream({ stream: opts.stream }) : new winston.transports.Console();
  root = winston.createLogger({
    level: opts.level ?? 'info',
    format,
    defaultMeta: opts.node ? { node: opts.node } : {},
    transports: [transport],
  });
  return wrap(root, root);
}

function wrap(w: winston.Logger, root: winston.Logger): Logger {
  return {
    error: (event, fields) => w.error(event, fields ?? {}),
    warn: (event, fields) => w.warn(event, fields ?? {}),
    info: (event, fields) => w.info(event, fields ?? {}),
    debug: (event, fields) => w.debug(event, fields ?? {}),
    child: (fields) => wrap(w.child(fields), root),
    setLevel: (level) => {
      root.level = level;
    },
  };
}

/** A logger that drops everything, for unit tests of adapters that need one. */
export const silentLogger: Logger = {
  error: () => {},
  warn: () => {},
  info: () => {},
  debug: () => {},
  child: () => silentLogger,
  setLevel: () => {},
};
