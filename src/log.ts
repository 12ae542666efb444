/**
 * Logs: one JSON object per line (journald-friendly) unless the stream is a TTY, then a human line.
 * Callers pass summaries and ids, never secret values; Secret prints a placeholder if one slips in.
 */
import { colorWanted, paint, type Paint } from './color.js';

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

/** A number with what it counts: JSON has the number, a readable line says `2 targets`. */
export class Count {
  constructor(
    readonly n: number,
    readonly unit: string,
  ) {}
  toJSON(): number {
    return this.n;
  }
  toString(): string {
    return `${this.n} ${this.n === 1 ? this.unit : `${this.unit}s`}`;
  }
}

export function count(n: number, unit: string): Count {
  return new Count(n, unit);
}

/** `4m13s`, `1h2m`, `850ms`, `12s`: a duration as a person reads it. */
export function humanDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (ms < 1000) return `${Math.round(ms)}ms`;
  let s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  if (d > 0) return `${d}d${h > 0 ? `${h}h` : ''}`;
  if (h > 0) return `${h}h${m > 0 ? `${m}m` : ''}`;
  return `${m}m${s > 0 ? `${s}s` : ''}`;
}

/**
 * A readable log line: `14:31:02 warn  pass failed  cluster=orders host=db1 ... retry in 4m13s`.
 * Fields named `...Ms` holding a number are durations (`retryInMs` reads `retry in 4m13s`); a Count
 * says what it counts. Colour only when `paint` is on.
 */
export function textLine(time: string, level: Level, msg: string, fields: Fields, p: Paint = paint(false)): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    if (k.endsWith('Ms') && typeof v === 'number') {
      parts.push(`${k.slice(0, -2).replace(/[A-Z]/g, (c) => ` ${c.toLowerCase()}`)} ${humanDuration(v)}`);
      continue;
    }
    const text =
      v instanceof Count ? v.toString() : typeof v === 'string' && !/[\s\p{Cc}]/u.test(v) ? v : JSON.stringify(v);
    parts.push(`${p.dim(`${k}=`)}${text}`);
  }
  const lv = level.padEnd(5);
  const coloured =
    level === 'error' ? p.red(lv) : level === 'warn' ? p.yellow(lv) : level === 'info' ? p.green(lv) : p.dim(lv);
  return `${p.dim(time.slice(11, 19))} ${coloured} ${level === 'error' ? p.bold(msg) : msg}${parts.length === 0 ? '' : `  ${parts.join(' ')}`}`;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const stream = opts.stream ?? process.stdout;
  const json = opts.json ?? stream.isTTY !== true;
  const min = ORDER[opts.level ?? 'info'];
  const p = paint(!json && colorWanted(stream));
  const write = (level: Level, msg: string, fields: Fields = {}) => {
    if (ORDER[level] < min) return;
    const time = new Date().toISOString();
    if (json) emit(stream, JSON.stringify({ time, level, msg, ...fields }) + '\n');
    else emit(stream, textLine(time, level, msg, fields, p) + '\n');
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
