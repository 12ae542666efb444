/**
 * Privilege names and sets, normalized so a converged server shows no drift: case, spacing,
 * aliases, order, and ALL PRIVILEGES against the privileges that level has on this server.
 */
import { suggest } from '../../src/names.js';
import { atLeast, type Flavor } from './session.js';
import type { GrantTarget } from './quote.js';

export const ALL = 'ALL PRIVILEGES';
export const GRANT_OPTION = 'GRANT OPTION';

const ALIASES: Record<string, string> = {
  ALL: ALL,
  'ALL PRIVILEGES': ALL,
  GRANT: GRANT_OPTION,
  'REPLICATION REPLICA': 'REPLICATION SLAVE',
  'REPLICA MONITOR': 'SLAVE MONITOR',
  'REPLICATION REPLICA ADMIN': 'REPLICATION SLAVE ADMIN',
  'REPLICATION SOURCE ADMIN': 'REPLICATION MASTER ADMIN',
};

/** Upper-cases, collapses spaces and resolves aliases; undefined when it cannot be a privilege name. */
export function normalizePrivilege(p: string): string | undefined {
  const n = p.trim().replace(/\s+/g, ' ').toUpperCase();
  if (!/^[A-Z][A-Z0-9_ ]{0,63}$/.test(n)) return undefined;
  return ALIASES[n] ?? n;
}

/** Privileges a table-level grant can hold on every flavor. */
const TABLE_COMMON = [
  'SELECT',
  'INSERT',
  'UPDATE',
  'DELETE',
  'CREATE',
  'DROP',
  'REFERENCES',
  'INDEX',
  'ALTER',
  'CREATE VIEW',
  'SHOW VIEW',
  'TRIGGER',
];
/** Database level adds these. */
const DB_EXTRA = ['CREATE TEMPORARY TABLES', 'LOCK TABLES', 'EXECUTE', 'CREATE ROUTINE', 'ALTER ROUTINE', 'EVENT'];
/** Global level adds these on every flavor. */
const GLOBAL_EXTRA = [
  'RELOAD',
  'SHUTDOWN',
  'PROCESS',
  'FILE',
  'SHOW DATABASES',
  'SUPER',
  'REPLICATION SLAVE',
  'CREATE USER',
  'CREATE TABLESPACE',
];

/** MySQL 8 dynamic privileges that ALL PRIVILEGES at *.* includes (the server may register more; see expand()). */
const MYSQL8_DYNAMIC = [
  'APPLICATION_PASSWORD_ADMIN',
  'AUDIT_ABORT_EXEMPT',
  'AUDIT_ADMIN',
  'AUTHENTICATION_POLICY_ADMIN',
  'BACKUP_ADMIN',
  'BINLOG_ADMIN',
  'BINLOG_ENCRYPTION_ADMIN',
  'CLONE_ADMIN',
  'CONNECTION_ADMIN',
  'ENCRYPTION_KEY_ADMIN',
  'FIREWALL_EXEMPT',
  'FLUSH_OPTIMIZER_COSTS',
  'FLUSH_STATUS',
  'FLUSH_TABLES',
  'FLUSH_USER_RESOURCES',
  'GROUP_REPLICATION_ADMIN',
  'GROUP_REPLICATION_STREAM',
  'INNODB_REDO_LOG_ARCHIVE',
  'INNODB_REDO_LOG_ENABLE',
  'PASSWORDLESS_USER_ADMIN',
  'PERSIST_RO_VARIABLES_ADMIN',
  'REPLICATION_APPLIER',
  'REPLICATION_SLAVE_ADMIN',
  'RESOURCE_GROUP_ADMIN',
  'RESOURCE_GROUP_USER',
  'ROLE_ADMIN',
  'SENSITIVE_VARIABLES_OBSERVER',
  'SERVICE_CONNECTION_ADMIN',
  'SESSION_VARIABLES_ADMIN',
  'SET_USER_ID',
  'SHOW_ROUTINE',
  'SYSTEM_USER',
  'SYSTEM_VARIABLES_ADMIN',
  'TABLE_ENCRYPTION_ADMIN',
  'TELEMETRY_LOG_ADMIN',
  'XA_RECOVER_ADMIN',
];

/** What a grant on one function or procedure can hold (besides GRANT OPTION). */
export const ROUTINE_PRIVILEGES = ['EXECUTE', 'ALTER ROUTINE'];
/** What a grant on columns of a table can hold. */
export const COLUMN_PRIVILEGES = ['SELECT', 'INSERT', 'UPDATE', 'REFERENCES'];

/**
 * A column privilege as written in the file, `SELECT (a, b)` (any case and spacing, columns
 * backquoted where they need it), as its privilege and columns; undefined when it has no column
 * list; an error message when it has a bad one.
 */
export function parseColumnPrivilege(text: string): { privilege: string; columns: string[] } | string | undefined {
  const m = /^\s*([A-Za-z][A-Za-z ]*?)\s*\((.*)\)\s*$/s.exec(text);
  if (m === null) return undefined;
  const privilege = (m[1] as string).replace(/\s+/g, ' ').toUpperCase();
  if (!COLUMN_PRIVILEGES.includes(privilege))
    return `"${text}": a column list goes with ${COLUMN_PRIVILEGES.join(', ')} only`;
  const columns: string[] = [];
  const body = m[2] as string;
  let i = 0;
  for (;;) {
    while (body[i] === ' ') i++;
    let col = '';
    if (body[i] === '`') {
      let j = i + 1;
      for (;;) {
        if (j >= body.length) return `unterminated backquote in "${text}"`;
        if (body[j] === '`') {
          if (body[j + 1] === '`') {
            col += '`';
            j += 2;
            continue;
          }
          break;
        }
        col += body[j];
        j++;
      }
      i = j + 1;
      while (body[i] === ' ') i++;
    } else {
      const j = body.indexOf(',', i);
      col = (j === -1 ? body.slice(i) : body.slice(i, j)).trim();
      i = j === -1 ? body.length : j;
    }
    if (col === '' || col.includes('\0')) return `"${text}": expected column names between the parentheses`;
    columns.push(col);
    if (i >= body.length) break;
    if (body[i] !== ',') return `"${text}": expected "," between column names`;
    i++;
  }
  return { privilege, columns };
}

/**
 * One privilege on one column, as grants are compared: `SELECT (a)`. Column names match in any case
 * on MySQL and MariaDB, so the name is lower-cased.
 */
export function columnAtom(privilege: string, column: string): string {
  return `${privilege} (${column.toLowerCase()})`;
}

/** A privilege as a statement says it: a column atom with its column quoted, `SELECT (`a`)`, or the name itself. */
export function privilegeSql(p: string, quote: (name: string) => string): string {
  const m = /^([A-Z ]+) \((.*)\)$/s.exec(p);
  return m === null ? p : `${m[1] as string} (${quote(m[2] as string)})`;
}

/** True for a column atom. */
export function isColumnAtom(p: string): boolean {
  return p.endsWith(')');
}

/**
 * Why a declared privilege name (normalized) is not one, with a did-you-mean; undefined when it is.
 * A name in MySQL 8's dynamic style (words joined by `_`) is taken as given: plugins register more.
 */
export function privilegeNameProblem(declared: string, normalized: string): string | undefined {
  const words = [ALL, 'USAGE', GRANT_OPTION, 'PROXY'];
  if (KNOWN.has(normalized) || words.includes(normalized) || /^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$/.test(normalized))
    return undefined;
  const hint = suggest(normalized, [...words, ...KNOWN]);
  return `"${declared}" is not a privilege name${hint === undefined ? '' : ` (did you mean "${hint}"?)`}`;
}

/**
 * The privileges ALL PRIVILEGES means at a grant level on a server of this flavor. On MySQL 8 the
 * dynamic privileges differ by release and plugin: pass `learned`, the global privileges of an
 * account known to hold ALL on this server (setpoint's own), and its dynamic ones are used instead
 * of the built-in list.
 */
export function privilegesOfLevel(
  flavor: Flavor,
  level: GrantTarget['level'],
  learned?: ReadonlySet<string>,
): Set<string> {
  const mariadb = flavor.kind === 'mariadb';
  const table = [...TABLE_COMMON];
  if (mariadb && atLeast(flavor, 10, 3)) table.push('DELETE HISTORY');
  if (level === 'routine') return new Set(ROUTINE_PRIVILEGES);
  if (level === 'table') return new Set(table);
  const db = [...table, ...DB_EXTRA];
  if (mariadb && atLeast(flavor, 11, 3)) db.push('SHOW CREATE ROUTINE');
  if (level === 'database') return new Set(db);
  const global = [...db, ...GLOBAL_EXTRA];
  if (mariadb) {
    global.push(atLeast(flavor, 10, 5) ? 'BINLOG MONITOR' : 'REPLICATION CLIENT');
    if (atLeast(flavor, 10, 5)) {
      global.push(
        'SET USER',
        'FEDERATED ADMIN',
        'CONNECTION ADMIN',
        'READ_ONLY ADMIN',
        'REPLICATION SLAVE ADMIN',
        'REPLICATION MASTER ADMIN',
        'BINLOG ADMIN',
        'BINLOG REPLAY',
      );
    }
    // SLAVE MONITOR split from BINLOG MONITOR in 10.5.9.
    if (flavor.major > 10 || (flavor.major === 10 && (flavor.minor > 5 || (flavor.minor === 5 && flavor.patch >= 9))))
      global.push('SLAVE MONITOR');
  } else {
    global.push('REPLICATION CLIENT');
    if (atLeast(flavor, 8, 0)) {
      const dynamic = learned === undefined ? MYSQL8_DYNAMIC : [...learned].filter((p) => p.includes('_'));
      global.push('CREATE ROLE', 'DROP ROLE', ...(dynamic.length > 0 ? dynamic : MYSQL8_DYNAMIC));
    }
  }
  return new Set(global);
}

/** Every name setpoint knows for any level on any flavor: a name outside it is a server addition. */
const KNOWN = new Set<string>([
  ...TABLE_COMMON,
  ...DB_EXTRA,
  ...GLOBAL_EXTRA,
  'DELETE HISTORY',
  'SHOW CREATE ROUTINE',
  'BINLOG MONITOR',
  'REPLICATION CLIENT',
  'SET USER',
  'FEDERATED ADMIN',
  'CONNECTION ADMIN',
  'READ_ONLY ADMIN',
  'REPLICATION SLAVE ADMIN',
  'REPLICATION MASTER ADMIN',
  'BINLOG ADMIN',
  'BINLOG REPLAY',
  'SLAVE MONITOR',
  'CREATE ROLE',
  'DROP ROLE',
  ...MYSQL8_DYNAMIC,
]);

/**
 * The privilege set a declared list means on this server. ALL PRIVILEGES becomes the level's full
 * set; privileges the server holds that setpoint does not know (a newer server's additions) count
 * as part of ALL, so a new server version never shows false drift on ALL.
 */
export function expandDeclared(
  declared: readonly string[],
  flavor: Flavor,
  level: GrantTarget['level'],
  observed: ReadonlySet<string>,
  learned?: ReadonlySet<string>,
): Set<string> {
  const out = new Set<string>();
  for (const p of declared) {
    if (p === ALL) {
      for (const x of privilegesOfLevel(flavor, level, learned)) out.add(x);
      for (const x of observed) if (!KNOWN.has(x) && !isColumnAtom(x)) out.add(x);
    } else if (p !== 'USAGE' && p !== GRANT_OPTION) out.add(canonical(p, flavor));
  }
  return out;
}

/** Maps a name to the spelling this server reports (MariaDB 10.5+ reports REPLICATION CLIENT as BINLOG MONITOR). */
export function canonical(p: string, flavor: Flavor): string {
  if (flavor.kind === 'mariadb' && atLeast(flavor, 10, 5) && p === 'REPLICATION CLIENT') return 'BINLOG MONITOR';
  return p;
}

/** True when a set holds every privilege of the level: the statement can say ALL PRIVILEGES. */
export function isAll(
  set: ReadonlySet<string>,
  flavor: Flavor,
  level: GrantTarget['level'],
  learned?: ReadonlySet<string>,
): boolean {
  for (const p of privilegesOfLevel(flavor, level, learned)) if (!set.has(p)) return false;
  return true;
}

/** Sorted list for stable output and history. */
export function sorted(set: Iterable<string>): string[] {
  return [...set].sort();
}
