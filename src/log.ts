/**
 * Logs: one JSON object per line (journald-friendly) unless the stream is a TTY, then a human line.
 * Callers pass summaries and ids, never secret values; Secret prints a placeholder if one slips in.
 */
export type Level = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type Fields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
}

export interface LoggerOptions {
  /** Defaults to info. */
  level?: Level;
  /** JSON lines; defaults to true unless the stream is a TTY. */
  json?: boolean;
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const stream = opts.stream ?? process.stdout;
  const json = opts.json ?? stream.isTTY !== true;
  const min = ORDER[opts.level ?? 'info'];
  const write = (level: Level, msg: string, fields: Fields = {}) => {
    if (ORDER[level] < min) return;
    const time = new Date().toISOString();
    if (json) {
      stream.write(JSON.stringify({ time, level, msg, ...fields }) + '\n');
    } else {
      const extra = Object.entries(fields)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => `${k}=${typeof v === 'string' && !/[\s\p{Cc}]/u.test(v) ? v : JSON.stringify(v)}`)
        .join(' ');
      stream.write(`${time.slice(11, 19)} ${level.padEnd(5)} ${msg}${extra === '' ? '' : `  ${extra}`}\n`);
    }
  };
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
  };
}

/** A logger that drops everything (plan, tests). */
export const silent: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};
