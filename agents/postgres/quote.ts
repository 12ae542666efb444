import { splitDotted } from '../../src/names.js';

/**
 * The one place PostgreSQL identifiers and literals are quoted. Values go to the server as
 * parameters ($1, $2...) wherever PostgreSQL takes them; utility statements (CREATE ROLE, ALTER SYSTEM,
 * GRANT...) take none, so the session inlines their parameters through quoteLiteral() (see session.ts).
 */

/** Quotes an identifier with double quotes, doubling any inside: a"b -> "a""b". Always quotes, so case and spaces survive. */
export function quoteIdent(name: string): string {
  if (name.includes('\0')) throw new Error('identifier contains a NUL byte');
  return '"' + name.replace(/"/g, '""') + '"';
}

/** A schema-qualified name for SQL: "schema"."name". */
export function quoteQualified(schema: string, name: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(name)}`;
}

/**
 * Quotes a string literal as PostgreSQL's quote_literal() does: quotes doubled, and when the text
 * holds a backslash, the E'' form with backslashes doubled, so the literal means the same text
 * whatever standard_conforming_strings is.
 */
export function quoteLiteral(value: string): string {
  if (value.includes('\0')) throw new Error('literal contains a NUL byte');
  const body = value.replace(/'/g, "''");
  return value.includes('\\') ? `E'${body.replace(/\\/g, '\\\\')}'` : `'${body}'`;
}

/** Renders one inlined parameter value as SQL. */
export function literalOf(v: unknown): string {
  if (v === null || v === undefined) return 'NULL';
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`cannot inline the number ${v}`);
    return String(v);
  }
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'string') return quoteLiteral(v);
  throw new Error(`cannot inline a parameter of type ${typeof v}`);
}

/**
 * Replaces $1, $2... in `sql` with `values` (already rendered), skipping quoted identifiers,
 * string literals and comments, so a name like "a$1" is left alone.
 */
export function inlineParams(sql: string, rendered: readonly string[]): string {
  let out = '';
  let i = 0;
  while (i < sql.length) {
    const ch = sql[i] as string;
    if (ch === '"' || ch === "'") {
      // A quoted identifier or literal runs to the next unpaired quote (doubling escapes it).
      let j = i + 1;
      for (;;) {
        if (j >= sql.length) throw new Error('unterminated quote in statement');
        if (sql[j] === ch) {
          if (sql[j + 1] === ch) {
            j += 2;
            continue;
          }
          break;
        }
        // In an E'' literal a backslash escapes the next character.
        if (ch === "'" && sql[j] === '\\' && i > 0 && /[eE]/.test(sql[i - 1] as string)) j++;
        j++;
      }
      out += sql.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    if (ch === '-' && sql[i + 1] === '-') {
      const j = sql.indexOf('\n', i);
      const end = j === -1 ? sql.length : j;
      out += sql.slice(i, end);
      i = end;
      continue;
    }
    if (ch === '$') {
      const m = /^\$(\d+)/.exec(sql.slice(i));
      if (m !== null && !/[A-Za-z0-9_]/.test(sql[i - 1] ?? ' ')) {
        const n = Number(m[1]);
        const v = rendered[n - 1];
        if (v === undefined) throw new Error(`statement refers to $${n} but has ${rendered.length} parameter(s)`);
        out += v;
        i += m[0].length;
        continue;
      }
    }
    out += ch;
    i++;
  }
  return out;
}

/** True for PostgreSQL names that need no quotes to read back the same: lower case letters, digits, _ and $. */
function plain(name: string): boolean {
  return /^[a-z_][a-z0-9_$]*$/.test(name);
}

/** A name as people read it in ids and summaries: bare when it is a plain lower-case name, else double-quoted. Never SQL. */
export function nameId(name: string): string {
  return plain(name) ? name : '"' + name.replace(/"/g, '""') + '"';
}

/** Joins names into a dotted id (`ledger.books.entries`), each part as nameId() shows it. */
export function dotted(...parts: string[]): string {
  return parts.map(nameId).join('.');
}

/**
 * Splits `schema.table` as written in the file. Parts may be double-quoted ("my.schema"."T""x"),
 * quoted parts keep their case; bare parts are taken as written. No schema means `public`.
 * Returns an error message on failure.
 */
export function parseQualifiedName(text: string): { schema: string; name: string } | string {
  if (text.trim() === '') return 'expected "schema.table"';
  const split = splitDotted(text, '"', (part) =>
    part.includes('"') ? `a bare name must not contain a double quote in "${text}": quote the whole part` : undefined,
  );
  if (typeof split === 'string') return split;
  const parts = split.map((p) => p.part);
  if (parts.some((p) => p === '')) return `empty name in "${text}"`;
  if (parts.length === 1) return { schema: 'public', name: parts[0] as string };
  if (parts.length === 2) return { schema: parts[0] as string, name: parts[1] as string };
  return `expected "schema.table", got "${text}"`;
}
