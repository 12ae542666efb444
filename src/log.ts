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

/** Lines waiting to be written, per stream; written together every FLUSH_MS, at BUFFER_BYTES, and at exit. */
const FLUSH_MS = 25;
const BUFFER_BYTES = 64 * 1024;
const pending = new Map<NodeJS.WritableStream, string>();
let timer: NodeJS.Timeout | undefined;

function flushAll(): void {
  if (timer !== undefined) clearTimeout(timer);
  timer = undefined;
  for (const [stream, text] of pending) {
    pending.delete(stream);
    stream.write(text);
  }
}

/**
 * Writes a line. A terminal gets it at once; a pipe or file (journald, a log collector) gets lines in
 * batches: a pass that makes thousands of changes would otherwise spend a system call per line.
 * Whatever is pending is written when the process exits (a pipe or file write there is synchronous).
 */
function emit(stream: NodeJS.WritableStream & { isTTY?: boolean }, line: string): void {
  if (stream.isTTY === true) {
    stream.write(line);
    return;
  }
  const text = (pending.get(stream) ?? '') + line;
  pending.set(stream, text);
  if (text.length >= BUFFER_BYTES) flushAll();
  else if (timer === undefined) {
    timer = setTimeout(flushAll, FLUSH_MS);
    timer.unref();
  }
}

process.on('exit', flushAll);

/** Writes every pending log line now (before a command prints its result, or exits). */
export function flushLogs(): void {
  flushAll();
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const stream = opts.stream ?? process.stdout;
  const json = opts.json ?? stream.isTTY !== true;
  const min = ORDER[opts.level ?? 'info'];
  const write = (level: Level, msg: string, fields: Fields = {}) => {
    if (ORDER[level] < min) return;
    const time = new Date().toISOString();
    if (json) {
      emit(stream, JSON.stringify({ time, level, msg, ...fields }) + '\n');
    } else {
      const extra = Object.entries(fields)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => `${k}=${typeof v === 'string' && !/[\s\p{Cc}]/u.test(v) ? v : JSON.stringify(v)}`)
        .join(' ');
      emit(stream, `${time.slice(11, 19)} ${level.padEnd(5)} ${msg}${extra === '' ? '' : `  ${extra}`}\n`);
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
