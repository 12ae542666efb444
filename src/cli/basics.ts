/**
 * What every command shares that needs nothing heavy: exit codes, the history path, errors, output
 * and times. The read-only commands (status, history, hosts) import only this, so they start without
 * loading the engines (mysql2, pg, ssh2, zod): a large part of the CLI's start-up.
 */
import { join } from 'node:path';
import { SetpointError, SpecError, formatProblems } from '../errors.js';
import { historyError, isHistoryFault } from '../history/errors.js';

/** Exit codes: 0 ok / nothing to do, 1 error, 2 drift (plan), 3 not converged (apply). */
export const EXIT = { ok: 0, error: 1, drift: 2, notConverged: 3 } as const;

/** The history file: --db, else $SETPOINT_DB, else $STATE_DIRECTORY/history.db (systemd), else ./setpoint.db. */
export function historyPath(opt: string | undefined): string {
  if (opt !== undefined && opt !== '') return opt;
  const env = process.env.SETPOINT_DB;
  if (env !== undefined && env !== '') return env;
  const state = process.env.STATE_DIRECTORY;
  if (state !== undefined && state !== '') return join(state.split(':')[0] as string, 'history.db');
  return 'setpoint.db';
}

/** Prints an error the way users should read it, and returns its exit code. */
export function report(err: unknown): number {
  if (err instanceof SpecError) {
    for (const line of formatProblems(err.problems)) process.stderr.write(line + '\n');
    process.stderr.write(`${err.problems.length} problem${err.problems.length === 1 ? '' : 's'} found.\n`);
    return err.exitCode;
  }
  if (isHistoryFault(err)) err = historyError(err);
  if (err instanceof SetpointError) {
    process.stderr.write(`setpoint: ${err.message}\n`);
    return err.exitCode;
  }
  // Not foreseen: one line; the stack only when asked for (SETPOINT_DEBUG=1), for a bug report.
  const debug =
    process.env.SETPOINT_DEBUG !== undefined && process.env.SETPOINT_DEBUG !== '' && process.env.SETPOINT_DEBUG !== '0';
  process.stderr.write(
    `setpoint: ${err instanceof Error ? (debug ? (err.stack ?? err.message) : `${err.message} (SETPOINT_DEBUG=1 shows where)`) : String(err)}\n`,
  );
  return EXIT.error;
}

/** Runs a command body and sets the exit code; errors are printed, never thrown. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<number>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      process.exitCode = await fn(...args);
    } catch (err) {
      process.exitCode = report(err);
    }
  };
}

/** Parses --since: a duration back from now (90s, 15m, 1h, 2d, 1w) or an absolute time (ISO 8601). */
export function parseSince(text: string, now = Date.now()): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)$/.exec(text.trim());
  if (m !== null) {
    const mult = { ms: 1, s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 }[m[2] as 'ms'];
    return now - Number(m[1]) * mult;
  }
  const t = Date.parse(text);
  if (Number.isNaN(t))
    throw new SetpointError(
      'cli.usage',
      `--since ${JSON.stringify(text)}: expected a duration like 30m, 2h, 7d or a time like 2026-11-26T10:00:00Z`,
      { exitCode: 1 },
    );
  return t;
}

/** "12s ago", "3m ago", "in 20s". */
export function ago(time: number | null | undefined, now = Date.now()): string {
  if (time === null || time === undefined) return '-';
  const s = Math.round((now - time) / 1000);
  const abs = Math.abs(s);
  const text =
    abs < 60
      ? `${abs}s`
      : abs < 3600
        ? `${Math.round(abs / 60)}m`
        : abs < 86400
          ? `${Math.round(abs / 3600)}h`
          : `${Math.round(abs / 86400)}d`;
  return s >= 0 ? `${text} ago` : `in ${text}`;
}

export function iso(time: number | null | undefined): string | null {
  return time === null || time === undefined ? null : new Date(time).toISOString();
}

const ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * A text as one printable line: control characters (a newline in a user name, an escape sequence)
 * are shown escaped (\\n, \\x1b), so no name can forge lines or colours in text output.
 */
export function printable(s: string): string {
  return s.replace(
    // eslint-disable-next-line no-control-regex -- control characters are exactly what is replaced
    /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g,
    (c) => ESCAPES[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
}

/** A plain text table: columns padded to their widest cell, the last one left free; cells made printable. */
export function table(headers: string[], rowsIn: string[][]): string {
  const rows = rowsIn.map((r) => r.map(printable));
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

/** Writes one JSON object per line. */
export function jsonLines(objs: readonly unknown[]): void {
  for (const o of objs) process.stdout.write(JSON.stringify(o) + '\n');
}

/** Shortens a text to `max` characters for a table cell. */
export function clip(s: string | null | undefined, max: number): string {
  if (s === null || s === undefined) return '-';
  return s.length <= max ? s : s.slice(0, max - 1) + '…';
}

/**
 * Text wrapped to `width` columns at spaces: a longer line goes on flush when it is a paragraph,
 * two further in when it is indented. Lines already short enough, and words longer than the width, are left as they are. For help.
 */
export function wrapLines(text: string, width: number): string {
  return text
    .split('\n')
    .map((line) => {
      if (line.length <= width) return line;
      const indent = /^ */.exec(line)?.[0] ?? '';
      // A paragraph goes on flush; an indented line (an option, an example) two further in.
      const more = indent === '' ? '' : `${indent}  `;
      const words = line.slice(indent.length).split(' ');
      const out: string[] = [];
      let cur = indent;
      for (const w of words) {
        const lead = out.length === 0 ? indent : more;
        if (cur.length > lead.length && cur.length + 1 + w.length > width) {
          out.push(cur.trimEnd());
          cur = more + w;
        } else cur = cur.length === lead.length ? cur + w : `${cur} ${w}`;
      }
      out.push(cur.trimEnd());
      return out.join('\n');
    })
    .join('\n');
}

/** A description written with line breaks for the source, as one paragraph per blank line, for the help to wrap. */
export function unwrap(text: string): string {
  return text.replace(/([^\n])\n(?=[^\n\s])/g, '$1 ');
}
