/**
 * mysql.grant: privileges of a declared user on *.*, db.*, db.table (and its columns) and one
 * function or procedure, with GRANT OPTION.
 * A user whose `grants` list is declared has exactly those grants; without the list its grants
 * are not managed. Privilege sets are compared normalized (ALL vs its expansion, case, order).
 */
import { PHASE } from './phases.js';
import type { Change, Drift, Observation, ResourceKind } from '../../src/engine.js';
import {
  ALL,
  canonical,
  columnAtom,
  expandDeclared,
  GRANT_OPTION,
  isAll,
  isColumnAtom,
  parseColumnPrivilege,
  privilegeSql,
  sorted,
} from './privilege-names.js';
import {
  accountId,
  escapeGrantDb,
  grantTargetId,
  quoteGrantee,
  quoteGrantTarget,
  roleHost,
  quoteIdent,
  type GrantTarget,
} from './quote.js';
import type { Flavor, MysqlContext, MysqlFacts, MysqlSession } from './session.js';
import { declaredUsers, type GrantSpec } from './spec.js';
import { isProtected } from './users.js';

/** Desired grants of one account on one object. */
export interface GrantWant {
  user: string;
  host: string;
  target: GrantTarget;
  /** As declared, normalized; may hold ALL PRIVILEGES. */
  privileges: string[];
  grantOption: boolean;
}

/** Observed grants of one account on one object. */
export interface GrantState {
  user: string;
  host: string;
  target: GrantTarget;
  privileges: string[];
  grantOption: boolean;
}

const KIND = 'mysql.grant';

/** What the grants observation learns beside the grants. */
export interface GrantsExtra {
  /** Declared table and routine grants whose table or routine does not exist (not a grant: a reason to wait). */
  missingTables: Set<string>;
  /** Declared column privileges on a table that exists whose column does not (by grant id): they wait. */
  missingColumns?: Map<string, string[]>;
  /** The global privileges of the account setpoint logs in as: on MySQL 8, what ALL means on that server. */
  ownPrivileges: Set<string> | undefined;
}

export function grantId(user: string, host: string, t: GrantTarget): string {
  return `${accountId(user, host)} on ${grantTargetId(t)}`;
}

function grantee(user: string, host: string): string {
  // information_schema shows GRANTEE as 'user'@'host' with the names as they are.
  return `'${user}'@'${host}'`;
}

/** A row of mysql.user: an account. */
export interface AccountRow {
  u: string;
  h: string;
}

/**
 * A row of the privileges query: level (G global, D database, T table, C column, F function, P
 * procedure), grantee as information_schema prints it, object (schema, table or routine, column),
 * privilege (a routine's row holds its whole privilege set, `Execute,Alter Routine,Grant`), grantable.
 */
export interface PrivilegeRow {
  l: string;
  g: string;
  d: string | null;
  t: string | null;
  c?: string | null;
  p: string;
  y: string;
}

/** A table (k T or absent), routine (k F, P) or column (k C, column `c`) that exists, in a schema a declared grant names. */
export interface TableRow {
  k?: string;
  d: string;
  t: string;
  c?: string | null;
}

/** How a routine's stored privilege names read as privileges. */
const PROC_PRIV: Record<string, string> = { execute: 'EXECUTE', 'alter routine': 'ALTER ROUTINE', grant: GRANT_OPTION };

/** The privileges query: every level in one round trip (routines from mysql.procs_priv, which information_schema lacks). */
export const PRIVILEGES_QUERY =
  "SELECT 'G' AS l, GRANTEE AS g, NULL AS d, NULL AS t, NULL AS c, PRIVILEGE_TYPE AS p, IS_GRANTABLE AS y FROM information_schema.USER_PRIVILEGES " +
  "UNION ALL SELECT 'D', GRANTEE, TABLE_SCHEMA, NULL, NULL, PRIVILEGE_TYPE, IS_GRANTABLE FROM information_schema.SCHEMA_PRIVILEGES " +
  "UNION ALL SELECT 'T', GRANTEE, TABLE_SCHEMA, TABLE_NAME, NULL, PRIVILEGE_TYPE, IS_GRANTABLE FROM information_schema.TABLE_PRIVILEGES " +
  "UNION ALL SELECT 'C', GRANTEE, TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, PRIVILEGE_TYPE, IS_GRANTABLE FROM information_schema.COLUMN_PRIVILEGES " +
  "UNION ALL SELECT IF(Routine_type = 'FUNCTION', 'F', 'P'), CONCAT('''', User, '''@''', Host, ''''), Db, Routine_name, NULL, Proc_priv, " +
  "IF(FIND_IN_SET('Grant', Proc_priv) > 0, 'YES', 'NO') FROM mysql.procs_priv WHERE Routine_type IN ('FUNCTION', 'PROCEDURE')";

/** The key of a routine, as names match: the routine name in any case. */
function routineKey(type: string, database: string, name: string): string {
  return `${type}\0${database}\0${name.toLowerCase()}`;
}

/**
 * The grants observation from the rows of its queries (pure): grants of every account but the
 * protected ones, what ALL means to setpoint's own account, and the declared table grants whose table
 * does not exist.
 */
export function grantsFrom(
  accounts: AccountRow[],
  rows: PrivilegeRow[],
  tables: TableRow[],
  desired: Map<string, GrantWant>,
  facts: Pick<MysqlFacts, 'currentUser'>,
): Observation<GrantState, GrantsExtra> {
  const byGrantee = new Map<string, { user: string; host: string } | null>();
  for (const a of accounts) {
    const key = grantee(a.u, a.h);
    // Two accounts that print the same GRANTEE cannot be told apart: leave both out.
    byGrantee.set(key, byGrantee.has(key) ? null : { user: a.u, host: a.h });
  }
  const out = new Map<string, GrantState>();
  // A routine's name matches in any case: observed grants take the declared spelling.
  const declaredRoutines = new Map<string, string>();
  for (const g of desired.values())
    if (g.target.level === 'routine')
      declaredRoutines.set(routineKey(g.target.routine, g.target.database, g.target.name), g.target.name);
  // The catalog has a row per privilege: the id of an (account, object) is worked out once, not per row.
  const seen = new Map<string, GrantState>();
  const add = (g: string, target: GrantTarget, priv: string, grantable: string) => {
    const key =
      target.level === 'global'
        ? `G\0${g}`
        : target.level === 'database'
          ? `D\0${g}\0${target.database}`
          : target.level === 'table'
            ? `T\0${g}\0${target.database}\0${target.table}`
            : `R\0${g}\0${routineKey(target.routine, target.database, target.name)}`;
    let s = seen.get(key);
    if (s === undefined) {
      const acct = byGrantee.get(g);
      if (acct === undefined || acct === null || isProtected(acct.user, acct.host, facts)) return;
      const id = grantId(acct.user, acct.host, target);
      s = out.get(id);
      if (s === undefined) {
        s = { user: acct.user, host: acct.host, target, privileges: [], grantOption: false };
        out.set(id, s);
      }
      seen.set(key, s);
    }
    if (priv !== 'USAGE' && priv !== GRANT_OPTION) s.privileges.push(priv);
    if (grantable === 'YES') s.grantOption = true;
  };
  const selfGrantee = grantee(facts.currentUser.user, facts.currentUser.host);
  const mine: string[] = [];
  for (const r of rows) {
    if (r.l === 'G') {
      add(r.g, { level: 'global' }, r.p, r.y);
      if (r.g === selfGrantee) mine.push(r.p);
    } else if (r.l === 'D') add(r.g, { level: 'database', database: r.d ?? '' }, r.p, r.y);
    else if (r.l === 'T') add(r.g, { level: 'table', database: r.d ?? '', table: r.t ?? '' }, r.p, r.y);
    // A column privilege belongs to its table's grant; its IS_GRANTABLE is the table's GRANT OPTION
    // (which TABLE_PRIVILEGES does not show when the table has column privileges only).
    else if (r.l === 'C')
      add(r.g, { level: 'table', database: r.d ?? '', table: r.t ?? '' }, columnAtom(r.p, r.c ?? ''), r.y);
    else if (r.l === 'F' || r.l === 'P') {
      const routine = r.l === 'F' ? 'FUNCTION' : 'PROCEDURE';
      const db = r.d ?? '';
      const stored = r.t ?? '';
      const name = declaredRoutines.get(routineKey(routine, db, stored)) ?? stored;
      const target: GrantTarget = { level: 'routine', routine, database: db, name };
      for (const p of r.p.split(',')) {
        const priv = PROC_PRIV[p.trim().toLowerCase()];
        if (priv !== undefined) add(r.g, target, priv, r.y);
      }
    }
  }
  const present = new Set(
    tables.map((r) =>
      r.k === 'F' || r.k === 'P'
        ? routineKey(r.k === 'F' ? 'FUNCTION' : 'PROCEDURE', r.d, r.t)
        : r.k === 'C'
          ? `C\0${r.d}\0${r.t}\0${(r.c ?? '').toLowerCase()}`
          : `T\0${r.d}\0${r.t}`,
    ),
  );
  const columnsRead = tables.some((r) => r.k === 'C');
  const missingColumns = new Map<string, string[]>();
  const missingTables = new Set<string>();
  for (const g of desired.values()) {
    const t = g.target;
    if (t.level === 'table' && !present.has(`T\0${t.database}\0${t.table}`)) missingTables.add(grantTargetId(t));
    else if (t.level === 'table' && columnsRead) {
      const cols = g.privileges
        .filter(isColumnAtom)
        .map((p) => p.slice(p.indexOf('(') + 1, -1))
        .filter((c) => !present.has(`C\0${t.database}\0${t.table}\0${c}`));
      if (cols.length > 0) missingColumns.set(grantId(g.user, g.host, t), [...new Set(cols)]);
    }
    if (t.level === 'routine' && !present.has(routineKey(t.routine, t.database, t.name)))
      missingTables.add(grantTargetId(t));
  }
  // USAGE alone (no privilege, no GRANT OPTION) is no grant at all.
  for (const [id, s] of out) {
    if (s.privileges.length === 0 && !s.grantOption) out.delete(id);
    else s.privileges.sort();
  }
  return {
    items: out,
    extra: { missingTables, missingColumns, ownPrivileges: mine.length > 1 ? new Set(mine) : undefined },
  };
}

export const grants: ResourceKind<GrantWant, GrantState, MysqlSession, MysqlContext, GrantsExtra> = {
  kind: KIND,
  // Carried by replication: made on the primary only.
  replicated: true,

  desired(ctx) {
    const out = new Map<string, GrantWant>();
    for (const u of grantees(ctx)) {
      for (const g of u.grants ?? []) {
        // SELECT (a, b) is one privilege per column: SELECT (a), SELECT (b).
        const privileges = g.privileges
          .filter((p) => p !== GRANT_OPTION)
          .flatMap((p) => {
            const col = parseColumnPrivilege(p);
            return col === undefined || typeof col === 'string'
              ? [p]
              : col.columns.map((c) => columnAtom(col.privilege, c));
          });
        // Declared names are exact: a database-level grant escapes the pattern characters.
        const target: GrantTarget =
          g.on.level === 'database' ? { level: 'database', database: escapeGrantDb(g.on.database) } : g.on;
        out.set(grantId(u.name, u.host, target), {
          user: u.name,
          host: u.host,
          target,
          privileges,
          grantOption: g.grantOption === true || g.privileges.includes(GRANT_OPTION),
        });
      }
    }
    return out;
  },

  async observe(session, ctx) {
    const accounts = await session.query<AccountRow>('SELECT User AS u, Host AS h FROM mysql.user');
    // The three levels in one round trip: global, database and table privileges.
    const rows = await session.query<PrivilegeRow>(PRIVILEGES_QUERY);
    // MariaDB and MySQL refuse a grant on a table or routine that does not exist: such a grant waits for it.
    const schemas = [
      ...new Set(
        [...this.desired(ctx).values()].flatMap((g) =>
          g.target.level === 'table' || g.target.level === 'routine' ? [g.target.database] : [],
        ),
      ),
    ];
    // A column grant on a column that does not exist would fail every pass: the columns of the schemas
    // that declare column grants are read too, so such a grant waits instead.
    const columnSchemas = [
      ...new Set(
        [...this.desired(ctx).values()].flatMap((g) =>
          g.target.level === 'table' && g.privileges.some(isColumnAtom) ? [g.target.database] : [],
        ),
      ),
    ];
    const marks = schemas.map(() => '?').join(', ');
    const columns =
      columnSchemas.length === 0
        ? ''
        : `UNION ALL SELECT 'C', TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA IN (${columnSchemas.map(() => '?').join(', ')})`;
    const tables =
      schemas.length === 0
        ? []
        : await session.query<TableRow>(
            `SELECT 'T' AS k, TABLE_SCHEMA AS d, TABLE_NAME AS t, NULL AS c FROM information_schema.TABLES WHERE TABLE_SCHEMA IN (${marks}) ` +
              `UNION ALL SELECT IF(ROUTINE_TYPE = 'FUNCTION', 'F', 'P'), ROUTINE_SCHEMA, ROUTINE_NAME, NULL FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA IN (${marks}) ${columns}`,
            [...schemas, ...schemas, ...columnSchemas],
          );
    return grantsFrom(accounts, rows, tables, this.desired(ctx), ctx.facts);
  },

  diff(desired, { items: observed, extra: { ownPrivileges: learned } }, ctx) {
    const f = ctx.facts.flavor;
    const managed = managedAccounts(ctx);
    // Without prune, declared grants are a floor (additive): extra privileges are not drift.
    const exact = ctx.prune('grants');
    const exactFor = (host: string) => exact && !inheritsShown(host, ctx);
    const drift: Drift[] = [];
    for (const [id, want] of desired) {
      // The account setpoint logs in as is never changed (the users kind says so once).
      if (isProtected(want.user, want.host, ctx.facts)) continue;
      const have = observed.get(id);
      const haveSet = new Set(have?.privileges ?? []);
      const wantSet = expandDeclared(want.privileges, f, want.target.level, haveSet, learned);
      const missing = [...wantSet].some((p) => !haveSet.has(p));
      const extra = [...haveSet].some((p) => !wantSet.has(p));
      if (missing || (exactFor(want.host) && extra))
        drift.push({
          kind: KIND,
          id,
          field: 'privileges',
          desired: display(wantSet, f, want.target, learned),
          observed: display(haveSet, f, want.target, learned),
        });
      const haveOpt = have?.grantOption ?? false;
      if ((want.grantOption && !haveOpt) || (exactFor(want.host) && !want.grantOption && haveOpt))
        drift.push({ kind: KIND, id, field: 'grantOption', desired: want.grantOption, observed: haveOpt });
    }
    if (exact) {
      for (const [id, have] of observed) {
        if (desired.has(id) || !managed.has(accountId(have.user, have.host)) || inheritsShown(have.host, ctx)) continue;
        drift.push({
          kind: KIND,
          id,
          field: 'absent',
          desired: [],
          observed: display(new Set(have.privileges), f, have.target, learned),
        });
      }
    }
    return drift;
  },

  plan(drift, desired, { items: observed, extra: { ownPrivileges: learned, missingTables, missingColumns } }, ctx) {
    const f = ctx.facts.flavor;
    const changes: Change[] = [];
    const done = new Set<string>();
    for (const d of drift) {
      if (done.has(d.id)) continue;
      done.add(d.id);
      const want = desired.get(d.id);
      const have = observed.get(d.id);
      const ref = want ?? have;
      if (ref === undefined) continue;
      const acct = quoteGrantee(ref.user, ref.host, f.kind === 'mariadb');
      const on = quoteGrantTarget(ref.target);
      const haveSet = new Set(have?.privileges ?? []);
      const wantSet =
        want === undefined
          ? new Set<string>()
          : expandDeclared(want.privileges, f, want.target.level, haveSet, learned);
      const wantOpt = want?.grantOption ?? false;
      const haveOpt = have?.grantOption ?? false;
      const missing = sorted([...wantSet].filter((p) => !haveSet.has(p)));
      const extra = sorted([...haveSet].filter((p) => !wantSet.has(p)));
      if (missing.length > 0 || (wantOpt && !haveOpt)) {
        const all =
          missing.length > 0 &&
          haveSet.size === 0 &&
          isAll(wantSet, f, ref.target.level, learned) &&
          want?.privileges.includes(ALL) === true;
        const sql = (p: string) => privilegeSql(canonical(p, f), quoteIdent);
        // Columns are not part of ALL: they are named beside it.
        const list =
          missing.length === 0
            ? 'USAGE'
            : all
              ? [ALL, ...missing.filter((p) => p.endsWith(')')).map(sql)].join(', ')
              : missing.map(sql).join(', ');
        const opt = wantOpt && !haveOpt ? ' WITH GRANT OPTION' : '';
        const noTable = missingTables.has(grantTargetId(ref.target))
          ? `${ref.target.level === 'routine' ? ref.target.routine.toLowerCase() : 'table'} ${grantTargetId(ref.target).replace(/^(FUNCTION|PROCEDURE) /, '')} does not exist yet`
          : undefined;
        const noColumns = missingColumns?.get(d.id)?.filter((c) => missing.some((p) => p.endsWith(`(${c})`)));
        const waitFor =
          noTable ??
          (noColumns === undefined || noColumns.length === 0
            ? undefined
            : `column ${noColumns.join(', ')} of ${grantTargetId(ref.target)} does not exist yet`);
        changes.push({
          kind: KIND,
          id: d.id,
          action: 'grant',
          risk: 'safe',
          phase: PHASE.grants,
          summary: `grant ${list}${opt === '' ? '' : ' with grant option'} on ${grantTargetId(ref.target)} to ${accountId(ref.user, ref.host)}`,
          statements: [{ sql: `GRANT ${list} ON ${on} TO ${acct}${opt}` }],
          ...(waitFor === undefined ? {} : { blocked: waitFor }),
        });
      }
      const exact = ctx.prune('grants') && !inheritsShown(ref.host, ctx);
      const revoke = exact ? [...extra] : [];
      if (exact && haveOpt && !wantOpt) revoke.push(GRANT_OPTION);
      if (revoke.length > 0) {
        // MariaDB rejects "ALL PRIVILEGES, GRANT OPTION ON x": revoke ALL, then GRANT OPTION apart.
        const all = extra.length > 0 && extra.length === haveSet.size && isAll(haveSet, f, ref.target.level, learned);
        const statements = all
          ? [
              { sql: `REVOKE ${ALL} ON ${on} FROM ${acct}` },
              ...(haveOpt && !wantOpt ? [{ sql: `REVOKE ${GRANT_OPTION} ON ${on} FROM ${acct}` }] : []),
            ]
          : [{ sql: `REVOKE ${revoke.map((p) => privilegeSql(p, quoteIdent)).join(', ')} ON ${on} FROM ${acct}` }];
        const list = all
          ? `${ALL}${haveOpt && !wantOpt ? `, ${GRANT_OPTION}` : ''}`
          : revoke.map((p) => privilegeSql(p, quoteIdent)).join(', ');
        changes.push({
          kind: KIND,
          id: d.id,
          action: 'revoke',
          risk: 'destructive',
          phase: PHASE.revokeGrants,
          prune: 'grants',
          summary: `revoke ${list} on ${grantTargetId(ref.target)} from ${accountId(ref.user, ref.host)}${want === undefined ? ' (not declared)' : ''}`,
          statements,
        });
      }
    }
    return changes;
  },
};

/**
 * MariaDB's information_schema shows a role's privileges together with those of the roles granted to
 * it: what a role holds beyond its declared grants cannot be told from what it inherits, so it is
 * never revoked (its declared grants are a floor, whatever `prune` says).
 */
function inheritsShown(host: string, ctx: MysqlContext): boolean {
  return host === '' && ctx.facts.flavor.kind === 'mariadb';
}

/** Who the file declares grants for: its users, and its roles (with the host roles have on this flavor). */
function grantees(ctx: MysqlContext): { name: string; host: string; grants?: GrantSpec[] | undefined }[] {
  const host = roleHost(ctx.facts.flavor.kind === 'mariadb');
  return [...declaredUsers(ctx.cluster), ...ctx.cluster.roles.map((r) => ({ name: r.name, host, grants: r.grants }))];
}

/** Accounts whose grants the file manages: declared users and roles that list `grants`. */
function managedAccounts(ctx: MysqlContext): Set<string> {
  return new Set(
    grantees(ctx)
      .filter((u) => u.grants !== undefined)
      .map((u) => accountId(u.name, u.host)),
  );
}

/** A set as people read it: ALL PRIVILEGES when complete, else the sorted list. */
function display(
  set: ReadonlySet<string>,
  f: Flavor,
  t: GrantTarget,
  learned: ReadonlySet<string> | undefined,
): string[] {
  if (set.size > 0 && isAll(set, f, t.level, learned)) {
    const level = expandDeclared([ALL], f, t.level, new Set(), learned);
    return [ALL, ...sorted([...set].filter((p) => !level.has(p)))];
  }
  return sorted(set);
}
