/** Captures the SQL a pass sends (by wrapping a session's query()), and renders it for the engine's own client. */
import mysql from 'mysql2';
import type { Session } from '../../src/engine.js';
import { inlineParams, literalOf } from '../../agents/postgres/quote.js';

export interface Captured {
  sql: string;
  params: readonly unknown[];
  /** The connection it went to (a database, for PostgreSQL); undefined: the session's main one. */
  scope: string | undefined;
  /** When it was sent and when its rows were back (performance.now()). */
  start: number;
  end: number;
}

/** Records every query sent through `session` until `stop()`. */
export function capture(session: Session): { log: Captured[]; stop: () => void } {
  const log: Captured[] = [];
  const orig = session.query.bind(session);
  const wrapped: Session['query'] = async (sql, params = [], opts = {}) => {
    const entry: Captured = { sql, params: [...params], scope: opts.scope, start: performance.now(), end: 0 };
    log.push(entry);
    try {
      return await orig(sql, params, opts);
    } finally {
      entry.end = performance.now();
    }
  };
  (session as { query: Session['query'] }).query = wrapped;
  return { log, stop: () => delete (session as { query?: unknown }).query };
}

// Duck-typed: the Secret class of dist/ is not the one of src/.
const reveal = (v: unknown): unknown =>
  typeof (v as { reveal?: unknown } | null)?.reveal === 'function' ? (v as { reveal: () => string }).reveal() : v;

/** A captured MySQL statement with its parameters inlined (mysql2's own escaping). */
export function mysqlText(c: Pick<Captured, 'sql' | 'params'>): string {
  return c.params.length === 0
    ? c.sql
    : mysql.format(c.sql, c.params.map(reveal) as Parameters<typeof mysql.format>[1]);
}

function pgLiteral(v: unknown): string {
  const x = reveal(v);
  if (Array.isArray(x)) {
    // An array parameter becomes an array literal: '{"a","b"}' (then cast by the query's ::text[]).
    const text = `{${x.map((e) => `"${String(e).replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`).join(',')}}`;
    return literalOf(text);
  }
  return literalOf(x);
}

/** A captured PostgreSQL statement with its parameters inlined as literals. */
export function postgresText(c: Pick<Captured, 'sql' | 'params'>): string {
  return c.params.length === 0 ? c.sql : inlineParams(c.sql, c.params.map(pgLiteral));
}

/** Milliseconds during which at least one captured query was in flight. */
export function inFlightMs(log: readonly Captured[]): number {
  const spans = log.map((c) => [c.start, c.end] as const).sort((a, b) => a[0] - b[0]);
  let total = 0;
  let curStart = -Infinity;
  let curEnd = -Infinity;
  for (const [s, e] of spans) {
    if (s > curEnd) {
      if (curEnd > curStart) total += curEnd - curStart;
      curStart = s;
      curEnd = e;
    } else curEnd = Math.max(curEnd, e);
  }
  if (curEnd > curStart) total += curEnd - curStart;
  return total;
}
