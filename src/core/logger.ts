import type { Writable } from 'node:stream';
import { redactText, type Redactor } from './redact.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;

/** What the library logs through; passed in, never global. */
export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every record. */
  child(fields: LogFields): Logger;
}

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Drops everything. The default where no logger is given. */
export const nullLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return nullLogger;
  },
};

export interface StreamLoggerOptions {
  stream: Writable;
  level?: LogLevel;
  /** One JSON object per line instead of text. */
  json?: boolean;
  redactor?: Redactor;
  fields?: LogFields;
  now?: () => Date;
}

/** A logger writing text or JSON lines to a stream; every line passes through redaction. */
export function createStreamLogger(options: StreamLoggerOptions): Logger {
  const min = ORDER[options.level ?? 'info'];
  const base = options.fields ?? {};
  const clean = (s: string) => (options.redactor ? options.redactor.redact(s) : redactText(s));
  const write = (level: LogLevel, msg: string, fields: LogFields = {}) => {
    if (ORDER[level] < min) return;
    const all = { ...base, ...fields };
    let line: string;
    if (options.json) {
      line = JSON.stringify({ time: (options.now ?? (() => new Date()))().toISOString(), level, msg, ...all });
    } else {
      const extra = Object.entries(all)
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(' ');
      line = `${level === 'info' ? '' : `${level}: `}${msg}${extra ? ` ${extra}` : ''}`;
    }
    options.stream.write(`${clean(line)}\n`);
  };
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
    child: (fields) => createStreamLogger({ ...options, fields: { ...base, ...fields } }),
  };
}
