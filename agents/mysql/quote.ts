import { splitDotted } from '../../src/names.js';

/**
 * The one place MySQL/MariaDB identifiers are quoted. Values never come here: they go to the
 * driver as parameters.
 */

/** Quotes an identifier with backticks, doubling any backtick inside: a`b -> `a``b`. */
export function quoteIdent(name: string): string {
  if (name.includes('\0')) throw new Error('identifier contains a NUL byte');
  return '`' + name.replace(/`/g, '``') + '`';
}

/** Quotes an account name `user`@`host`. Backticks work in every sql_mode, unlike '...' with backslashes. */
export function quoteAccount(user: string, host: string): string {
  return `${quoteIdent(user)}@${quoteIdent(host)}`;
}

/**
 * Quotes a grantee: an account, or a role. MariaDB's roles have no host (`r`, stored with Host ''),
 * MySQL 8's are accounts (`r`@`%`).
 */
export function quoteGrantee(user: string, host: string, mariadb: boolean): string {
  return mariadb && host === '' ? quoteIdent(user) : quoteAccount(user, host);
}

/** The host part a role has on this flavor: '' on MariaDB, '%' on MySQL 8. */
export function roleHost(mariadb: boolean): string {
  return mariadb ? '' : '%';
}

/** Human and stable id of an account: 'user'@'host' with ' and \ escaped. */
export function accountId(user: string, host: string): string {
  const q = (s: string) => "'" + s.replace(/\\/g, '\\\\').replace(/'/g, "\\'") + "'";
  return `${q(user)}@${q(host)}`;
}

/** The object a grant applies to. */
export type GrantTarget =
  | { level: 'global' }
  /** `database` is the grant's pattern form (see escapeGrantDb), as the server stores it. */
  | { level: 'database'; database: string }
  | { level: 'table'; database: string; table: string }
  /** One stored function or procedure: `on: "FUNCTION db.f"` (names exact; routine names match in any case). */
  | { level: 'routine'; routine: RoutineType; database: string; name: string };

/** The routine types a grant can name. */
export type RoutineType = 'FUNCTION' | 'PROCEDURE';

/** Renders a grant target for SQL: *.*, `db`.*, `db`.`tbl`. */
export function quoteGrantTarget(t: GrantTarget): string {
  switch (t.level) {
    case 'global':
      return '*.*';
    case 'database':
      return `${quoteIdent(t.database)}.*`;
    case 'table':
      return `${quoteIdent(t.database)}.${quoteIdent(t.table)}`;
    case 'routine':
      return `${t.routine} ${quoteIdent(t.database)}.${quoteIdent(t.name)}`;
  }
}

/**
 * In a database-level grant the name is a pattern: `_` and `%` are wildcards and `\` escapes. setpoint
 * declares databases by exact name, so it escapes them: `my_db` becomes `my\_db`, which matches only
 * my_db. Table-level grants take names as they are.
 */
export function escapeGrantDb(name: string): string {
  return name.replace(/[\\_%]/g, '\\$&');
}

/** The literal name an escaped pattern stands for, or undefined when it holds a real wildcard. */
export function unescapeGrantDb(pattern: string): string | undefined {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i] as string;
    if (ch === '\\' && i + 1 < pattern.length) {
      out += pattern[++i];
      continue;
    }
    if (ch === '_' || ch === '%') return undefined;
    out += ch;
  }
  return out;
}

/** Id of a grant target, the same text the user writes in `on:` (names backquoted when they need it). */
export function grantTargetId(t: GrantTarget): string {
  const part = (s: string) => (/^[A-Za-z0-9_$]+$/.test(s) ? s : quoteIdent(s));
  switch (t.level) {
    case 'global':
      return '*.*';
    case 'database': {
      const literal = unescapeGrantDb(t.database);
      return literal === undefined ? `${quoteIdent(t.database)}.* (pattern)` : `${part(literal)}.*`;
    }
    case 'table':
      return `${part(t.database)}.${part(t.table)}`;
    case 'routine':
      return `${t.routine} ${part(t.database)}.${part(t.name)}`;
  }
}

/**
 * Parses `on:` as written in the file: `*.*`, `db.*`, `db.table`, `FUNCTION db.f`, `PROCEDURE db.p`, with backquotes around a part
 * that contains dots or other characters: `` `my.db`.* ``. Returns an error message on failure.
 */
export function parseGrantTarget(text: string): GrantTarget | string {
  const routine = /^\s*(FUNCTION|PROCEDURE)\s+(\S.*)$/i.exec(text);
  if (routine !== null) {
    const type = (routine[1] as string).toUpperCase() as RoutineType;
    const parts = splitDotted(routine[2] as string, '`');
    if (typeof parts === 'string') return parts;
    if (parts.length !== 2 || parts.some((p) => p.part === '' || (p.part === '*' && !p.quoted)))
      return `expected "${type} db.name" (one routine, no wildcard), got "${text}"`;
    const [db, name] = parts as [{ part: string; quoted: boolean }, { part: string; quoted: boolean }];
    return { level: 'routine', routine: type, database: db.part, name: name.part };
  }
  const split = splitDotted(text, '`');
  if (typeof split === 'string') return split;
  if (split.length !== 2 || split.some((p) => p.part === ''))
    return `expected "*.*", "db.*", "db.table", "FUNCTION db.f" or "PROCEDURE db.p", got "${text}"`;
  const [db, tbl] = split as [{ part: string; quoted: boolean }, { part: string; quoted: boolean }];
  const dbAll = db.part === '*' && !db.quoted;
  const tblAll = tbl.part === '*' && !tbl.quoted;
  if (dbAll)
    return tblAll ? { level: 'global' } : `"*.${tbl.part}" is not a grant target: use "*.*" or "db.${tbl.part}"`;
  return tblAll ? { level: 'database', database: db.part } : { level: 'table', database: db.part, table: tbl.part };
}
