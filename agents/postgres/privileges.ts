/**
 * postgres.privilege: privileges on databases, schemas, single tables and all tables / sequences /
 * functions of a schema. ACLs are read with aclexplode(), one query per database (plus one for the
 * databases' own ACLs), and a NULL ACL is read as the built-in default it stands for.
 *
 * A declaration on `allTablesInSchema` covers the tables that exist at each observation: a table
 * created later is drift until it has the privileges (from a grant, or from default privileges),
 * then it converges like any other. An object's owner holds every privilege on it: declarations
 * for the owner are met by ownership. Without prune, declared privileges are a floor; with
 * `prune: { grants: true }` they are exact, and declared roles lose what is not declared.
 */
import { PHASE } from './phases.js';
import type { Change, Drift, Observation, ResourceKind } from '../../src/engine.js';
import {
  effectiveAcl,
  expand,
  grantKeyword,
  ordered,
  privilegesOf,
  PUBLIC,
  type AclRow,
  type ObjectType,
} from './acl.js';
import { databaseAccess, databases } from './databases.js';
import { roles } from './roles.js';
import { dotted, nameId, quoteIdent, quoteQualified } from './quote.js';
import { databasesInScope, type PrivilegeSpec } from './spec.js';
import { inEachDatabase, missingRole, USER_SCHEMAS } from './schemas.js';
import type { PgContext, PgSession } from './session.js';

/** An object privileges apply to. */
export interface ObjectRef {
  database: string;
  type: ObjectType;
  /** Schema of tables, sequences and functions. */
  schema?: string;
  name: string;
  /** Functions: the identity argument list, as the server prints it. */
  args?: string;
  /** Columns: the column's name (`name` is its table's). */
  column?: string;
  owner: string;
}

/** One grantee's privileges on one object. */
export interface GrantState {
  object: string;
  grantee: string;
  privileges: string[];
  grantable: string[];
}

const KIND = 'postgres.privilege';

/** Id of an object: `database ledger`, `schema ledger.books`, `table ledger.books.entries`, `function ledger.books.f(integer)`. */
export function objectId(o: Pick<ObjectRef, 'database' | 'type' | 'schema' | 'name' | 'args' | 'column'>): string {
  switch (o.type) {
    case 'column':
      return `column ${dotted(o.database, o.schema ?? '', o.name, o.column ?? '')}`;
    case 'database':
      return `database ${nameId(o.database)}`;
    case 'schema':
      return `schema ${dotted(o.database, o.name)}`;
    case 'function':
      return `function ${dotted(o.database, o.schema ?? '', o.name)}(${o.args ?? ''})`;
    default:
      return `${o.type} ${dotted(o.database, o.schema ?? '', o.name)}`;
  }
}

/** A grantee as people read it: PUBLIC bare, role names as nameId() shows them. */
export function granteeId(g: string): string {
  return g === PUBLIC ? PUBLIC : nameId(g);
}

/** A grantee in SQL. */
export function granteeSql(g: string): string {
  return g === PUBLIC ? 'PUBLIC' : quoteIdent(g);
}

/** The object in GRANT ... ON <type> <name>. */
export function objectSql(o: ObjectRef): string {
  switch (o.type) {
    case 'database':
      return quoteIdent(o.database);
    case 'schema':
      return quoteIdent(o.name);
    case 'function':
      // The argument list is the server's own rendering of the function's identity (types quoted by it).
      return `${quoteQualified(o.schema ?? '', o.name)}(${o.args ?? ''})`;
    default:
      return quoteQualified(o.schema ?? '', o.name);
  }
}

export function declarationId(p: PrivilegeSpec): string {
  const on = p.on;
  const target =
    on === 'database'
      ? `database ${nameId(p.database)}`
      : 'schema' in on
        ? `schema ${dotted(p.database, on.schema)}`
        : 'allTablesInSchema' in on
          ? `all tables in schema ${dotted(p.database, on.allTablesInSchema)}`
          : 'allSequencesInSchema' in on
            ? `all sequences in schema ${dotted(p.database, on.allSequencesInSchema)}`
            : 'allFunctionsInSchema' in on
              ? `all functions in schema ${dotted(p.database, on.allFunctionsInSchema)}`
              : 'columns' in on
                ? `columns ${on.columns.map(nameId).join(', ')} of table ${dotted(p.database, on.table.schema, on.table.name)}`
                : 'table' in on
                  ? `table ${dotted(p.database, on.table.schema, on.table.name)}`
                  : 'sequence' in on
                    ? `sequence ${dotted(p.database, on.sequence.schema, on.sequence.name)}`
                    : 'type' in on
                      ? `type ${dotted(p.database, on.type.schema, on.type.name)}`
                      : `function ${dotted(p.database, on.function.schema, on.function.name)}(${on.function.args.join(', ')})`;
  return `${target} to ${granteeId(p.role)}`;
}

/** What the privileges observation learns beside the grants. */
export interface PrivilegesExtra {
  /** Every object the observation saw, by objectId(). */
  objects: Map<string, ObjectRef>;
  /** Databases whose contents could not be observed, and why. */
  missing: Map<string, string>;
  /** Databases that exist (their own ACL is read from the admin connection). */
  databases: Set<string>;
  /** Declared function signatures (signatureKey) as the server resolved them: the function, or null when none matches. */
  signatures: Map<string, ObjectRef | null>;
}

/** A declared function signature within its database, as the resolution query's rows are keyed. */
export function signatureKey(database: string, f: { schema: string; name: string; args: string[] }): string {
  return JSON.stringify([database, f.schema, f.name, f.args]);
}

/** What one declaration asks of one object; merged over declarations. */
export interface Want {
  object: ObjectRef;
  /** Set when the object does not exist (a declared table not created yet). */
  absentObject?: string;
  grantee: string;
  privileges: Set<string>;
  grantable: Set<string>;
}

const key = (object: string, grantee: string) => `${object} to ${granteeId(grantee)}`;

/**
 * Declarations resolved against the observed objects: one entry per object and grantee, privileges
 * expanded (ALL) for this server. Grants to an object's owner are left out (ownership holds them).
 */
export function wants(desired: Map<string, PrivilegeSpec>, info: PrivilegesExtra, version: number): Map<string, Want> {
  const out = new Map<string, Want>();
  const objects = info.objects;
  const add = (object: ObjectRef, p: PrivilegeSpec, absentObject?: string) => {
    if (object.owner === p.role) return;
    const k = key(objectId(object), p.role);
    let w = out.get(k);
    if (w === undefined) {
      w = {
        object,
        grantee: p.role,
        privileges: new Set(),
        grantable: new Set(),
        ...(absentObject === undefined ? {} : { absentObject }),
      };
      out.set(k, w);
    }
    const privs = expand(p.privileges, object.type, version);
    for (const x of privs) {
      w.privileges.add(x);
      if (p.grantOption === true) w.grantable.add(x);
    }
  };
  for (const p of desired.values()) {
    const on = p.on;
    const db = p.database;
    if (on === 'database') {
      const id = objectId({ database: db, type: 'database', name: db });
      add(
        objects.get(id) ?? { database: db, type: 'database', name: db, owner: '' },
        p,
        !info.databases.has(db) ? `database ${nameId(db)} does not exist yet` : undefined,
      );
    } else if ('schema' in on) {
      const id = objectId({ database: db, type: 'schema', name: on.schema });
      const o = objects.get(id);
      add(
        o ?? { database: db, type: 'schema', name: on.schema, owner: '' },
        p,
        o === undefined ? `schema ${nameId(on.schema)} does not exist yet in database ${nameId(db)}` : undefined,
      );
    } else if ('columns' in on) {
      const t = objects.get(objectId({ database: db, type: 'table', schema: on.table.schema, name: on.table.name }));
      for (const column of on.columns) {
        const ref = { database: db, type: 'column' as const, schema: on.table.schema, name: on.table.name, column };
        add(
          objects.get(objectId(ref)) ?? { ...ref, owner: t?.owner ?? '' },
          p,
          t === undefined
            ? `table ${dotted(on.table.schema, on.table.name)} does not exist yet in database ${nameId(db)}`
            : undefined,
        );
      }
    } else if ('table' in on) {
      const t =
        objects.get(objectId({ database: db, type: 'table', schema: on.table.schema, name: on.table.name })) ??
        objects.get(objectId({ database: db, type: 'sequence', schema: on.table.schema, name: on.table.name }));
      add(
        t ?? { database: db, type: 'table', schema: on.table.schema, name: on.table.name, owner: '' },
        p,
        t === undefined
          ? `table ${dotted(on.table.schema, on.table.name)} does not exist yet in database ${nameId(db)}`
          : undefined,
      );
    } else if ('sequence' in on || 'type' in on) {
      const [type, ref] = 'sequence' in on ? (['sequence', on.sequence] as const) : (['type', on.type] as const);
      const o = objects.get(objectId({ database: db, type, schema: ref.schema, name: ref.name }));
      add(
        o ?? { database: db, type, schema: ref.schema, name: ref.name, owner: '' },
        p,
        o === undefined
          ? `${type} ${dotted(ref.schema, ref.name)} does not exist yet in database ${nameId(db)}`
          : undefined,
      );
    } else if ('function' in on) {
      const f = on.function;
      const found = info.signatures.get(signatureKey(db, f));
      const o = found === null || found === undefined ? undefined : objects.get(objectId(found));
      add(
        o ?? { database: db, type: 'function', schema: f.schema, name: f.name, args: f.args.join(', '), owner: '' },
        p,
        o === undefined
          ? `function ${dotted(f.schema, f.name)}(${f.args.join(', ')}) does not exist yet in database ${nameId(db)}`
          : undefined,
      );
    } else {
      const [type, schema] =
        'allTablesInSchema' in on
          ? (['table', on.allTablesInSchema] as const)
          : 'allSequencesInSchema' in on
            ? (['sequence', on.allSequencesInSchema] as const)
            : (['function', on.allFunctionsInSchema] as const);
      for (const o of objects.values()) if (o.database === db && o.type === type && o.schema === schema) add(o, p);
    }
  }
  return out;
}

function describe(
  privs: ReadonlySet<string>,
  grantable: ReadonlySet<string>,
  type: ObjectType,
  version: number,
): string[] {
  const all = privilegesOf(type, version);
  if (privs.size === all.length && all.every((p) => privs.has(p))) {
    const g = all.every((p) => grantable.has(p));
    if (g || grantable.size === 0) return [g ? 'ALL with grant option' : 'ALL'];
  }
  return ordered(privs, type, version).map((p) => (grantable.has(p) ? `${p} with grant option` : p));
}

/** A row of the database ACL query (one per ACL entry; n: the ACL is NULL, the owner's default). */
export interface DatabaseAclRow {
  d: string;
  o: string;
  n: boolean;
  g: string | null;
  p: string | null;
  y: boolean | null;
}

/** A row of the per-database objects query (one per ACL entry; z: the ACL is NULL). */
export interface ObjectAclRow {
  t: ObjectType;
  s: string | null;
  n: string;
  a: string | null;
  o: string;
  z: boolean;
  g: string | null;
  p: string | null;
  y: boolean | null;
}

/** The privileges observation from the rows of both queries (pure): effective ACLs, NULL ones as the built-in defaults. */
export function privilegesFrom(
  dbRows: DatabaseAclRow[],
  rows: { database: string; row: ObjectAclRow }[],
  missing: Map<string, string>,
  version: number,
  resolved: { key: string; row: { s: string; n: string; a: string } | null }[] = [],
): Observation<GrantState, PrivilegesExtra> {
  const objects = new Map<string, ObjectRef>();
  const acls = new Map<string, AclRow[] | null>();
  const note = (
    o: ObjectRef,
    aclNull: boolean,
    grantee: string | null,
    privilege: string | null,
    grantable: boolean | null,
  ) => {
    const id = objectId(o);
    if (!objects.has(id)) objects.set(id, o);
    if (aclNull) {
      acls.set(id, null);
      return;
    }
    const list = acls.get(id) ?? [];
    if (grantee !== null && privilege !== null) list.push({ grantee, privilege, grantable: grantable === true });
    acls.set(id, list);
  };
  const existing = new Set<string>();
  for (const r of dbRows) {
    existing.add(r.d);
    note({ database: r.d, type: 'database', name: r.d, owner: r.o }, r.n, r.g, r.p, r.y);
  }
  for (const { database, row } of rows) {
    note(
      {
        database,
        type: row.t,
        ...(row.s === null ? {} : { schema: row.s }),
        name: row.n,
        ...(row.a === null ? {} : row.t === 'column' ? { column: row.a } : { args: row.a }),
        owner: row.o,
      },
      row.z,
      row.g,
      row.p,
      row.y,
    );
  }
  const out = new Map<string, GrantState>();
  for (const [id, o] of objects) {
    for (const e of effectiveAcl(
      o.type,
      o.owner,
      acls.has(id) ? (acls.get(id) as AclRow[] | null) : [],
      version,
    ).values()) {
      out.set(key(id, e.grantee), {
        object: id,
        grantee: e.grantee,
        privileges: ordered(e.privileges, o.type, version),
        grantable: ordered(e.grantable, o.type, version),
      });
    }
  }
  const signatures = new Map<string, ObjectRef | null>();
  for (const { key: k, row } of resolved) {
    const database = (JSON.parse(k) as string[])[0] as string;
    if (row === null) {
      if (!signatures.has(k)) signatures.set(k, null);
      continue;
    }
    const ref = objects.get(objectId({ database, type: 'function', schema: row.s, name: row.n, args: row.a }));
    signatures.set(k, ref ?? null);
  }
  return { items: out, extra: { objects, missing, databases: existing, signatures } };
}

export const privileges: ResourceKind<PrivilegeSpec, GrantState, PgSession, PgContext, PrivilegesExtra> = {
  kind: KIND,
  // Carried by WAL: made on the primary only (standbys are read-only anyway).
  replicated: true,
  needs: [roles, databases],

  desired(ctx) {
    const c = ctx.cluster;
    return new Map(c.privileges.map((p) => [declarationId(p), p]));
  },

  async observe(session, ctx) {
    const c = ctx.cluster;
    const { ready, missing } = databaseAccess(ctx);
    // With prune, declared roles' privileges anywhere in these databases matter; without, only declared objects do.
    const managed = ctx.prune('grants') ? c.roles.map((r) => r.name) : [];
    // Database-level privileges come from pg_database on the admin connection, whatever the database.
    const inScope = [...new Set([...databasesInScope(c), ...ready, ...missing.keys()])];
    const dbRows = await session.query<DatabaseAclRow>(
      "SELECT d.datname AS d, pg_get_userbyid(d.datdba) AS o, d.datacl IS NULL AS n, CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(x.grantee) END AS g, " +
        'x.privilege_type AS p, x.is_grantable AS y FROM pg_database d LEFT JOIN LATERAL aclexplode(d.datacl) x ON true WHERE d.datname = ANY($1::text[])',
      [inScope],
    );
    const schemasOf = (db: string) => {
      const s = new Set<string>();
      for (const p of c.privileges) {
        if (p.database !== db || p.on === 'database') continue;
        const on = p.on;
        s.add(
          'schema' in on
            ? on.schema
            : 'table' in on
              ? on.table.schema
              : 'allTablesInSchema' in on
                ? on.allTablesInSchema
                : 'allSequencesInSchema' in on
                  ? on.allSequencesInSchema
                  : 'allFunctionsInSchema' in on
                    ? on.allFunctionsInSchema
                    : 'sequence' in on
                      ? on.sequence.schema
                      : 'type' in on
                        ? on.type.schema
                        : on.function.schema,
        );
      }
      return [...s];
    };
    const rows = await inEachDatabase<ObjectAclRow>(
      session,
      ready,
      'SELECT o.t, o.s, o.n, o.a, pg_get_userbyid(o.owner) AS o, o.acl IS NULL AS z, ' +
        "CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(x.grantee) END AS g, x.privilege_type AS p, x.is_grantable AS y FROM (" +
        `SELECT 'schema' AS t, NULL::name AS s, nspname AS n, NULL::text AS a, nspowner AS owner, nspacl AS acl FROM pg_namespace WHERE ${USER_SCHEMAS} ` +
        "UNION ALL SELECT CASE WHEN c.relkind = 'S' THEN 'sequence' ELSE 'table' END, n.nspname, c.relname, NULL, c.relowner, c.relacl " +
        `FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') AND n.${USER_SCHEMAS} ` +
        "UNION ALL SELECT 'function', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid), p.proowner, p.proacl " +
        `FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE p.prokind <> 'p' AND n.${USER_SCHEMAS} ` +
        // Types people create (base, composite, domain, enum, range, multirange): not arrays, not tables' row types.
        "UNION ALL SELECT 'type', n.nspname, t.typname, NULL, t.typowner, t.typacl FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace " +
        "LEFT JOIN pg_class r ON r.oid = t.typrelid WHERE t.typtype IN ('b', 'c', 'd', 'e', 'r', 'm') AND t.typcategory <> 'A' " +
        `AND (t.typrelid = 0 OR r.relkind = 'c') AND n.${USER_SCHEMAS} ` +
        // Columns with privileges of their own (a column without an ACL grants nothing beyond its table's).
        "UNION ALL SELECT 'column', n.nspname, c.relname, a.attname, c.relowner, a.attacl FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid " +
        `JOIN pg_namespace n ON n.oid = c.relnamespace WHERE a.attacl IS NOT NULL AND a.attnum > 0 AND NOT a.attisdropped AND n.${USER_SCHEMAS}` +
        ') o LEFT JOIN LATERAL aclexplode(o.acl) x ON true ' +
        "WHERE o.t = 'schema' OR o.s = ANY($1::text[]) OR (x.grantee <> 0 AND pg_get_userbyid(x.grantee) = ANY($2::text[]))",
      (db) => [schemasOf(db), managed],
    );
    // Functions named by signature: the server resolves each argument type (int = int4 = integer) and
    // finds the function whose argument types are exactly those, in one query per database that has any.
    const sigs = new Map<string, { i: number; key: string; s: string; n: string; t: string[] }[]>();
    let i = 0;
    for (const p of c.privileges) {
      if (p.on === 'database' || !('function' in p.on) || !ready.includes(p.database)) continue;
      const f = p.on.function;
      const list = sigs.get(p.database) ?? [];
      list.push({ i: i++, key: signatureKey(p.database, f), s: f.schema, n: f.name, t: f.args });
      sigs.set(p.database, list);
    }
    const resolved = (
      await Promise.all(
        [...sigs].map(async ([db, list]) => {
          const found = await session.query<{ i: number; s: string; n: string; a: string }>(
            'SELECT w.i, n.nspname AS s, p.proname AS n, pg_get_function_identity_arguments(p.oid) AS a ' +
              'FROM jsonb_to_recordset($1::jsonb) AS w(i int, s text, n text, t text[]) ' +
              "JOIN pg_namespace n ON n.nspname = w.s JOIN pg_proc p ON p.pronamespace = n.oid AND p.proname = w.n AND p.prokind <> 'p' " +
              // oidvector casts to an array indexed from 0: compared as text; an unknown type is oid 0, which matches nothing.
              "WHERE array_to_string(p.proargtypes::oid[], ',') = array_to_string(ARRAY(SELECT coalesce(to_regtype(x)::oid, 0) FROM unnest(w.t) WITH ORDINALITY AS u(x, k) ORDER BY k), ',')",
            [JSON.stringify(list)],
            { scope: db },
          );
          return list.map((w) => {
            const row = found.find((r) => r.i === w.i);
            return { key: w.key, row: row === undefined ? null : { s: row.s, n: row.n, a: row.a } };
          });
        }),
      )
    ).flat();
    return privilegesFrom(dbRows, rows, missing, session.facts.version, resolved);
  },

  diff(desired, { items: observed, extra: info }, ctx) {
    const version = ctx.facts.version;
    const exact = ctx.prune('grants');
    const want = wants(desired, info, version);
    const drift: Drift[] = [];
    for (const [k, w] of want) {
      const have = observed.get(k);
      const hp = new Set(have?.privileges ?? []);
      const hg = new Set(have?.grantable ?? []);
      const missing = [...w.privileges].some((p) => !hp.has(p)) || [...w.grantable].some((p) => !hg.has(p));
      const extra = [...hp].some((p) => !w.privileges.has(p)) || [...hg].some((p) => !w.grantable.has(p));
      if (missing || (exact && extra)) {
        drift.push({
          kind: KIND,
          id: k,
          field: 'privileges',
          desired: describe(w.privileges, w.grantable, w.object.type, version),
          observed: describe(hp, hg, w.object.type, version),
        });
      }
    }
    if (exact) {
      const c = ctx.cluster;
      const declared = new Set(c.roles.map((r) => r.name));
      for (const [k, have] of observed) {
        const o = info.objects.get(have.object);
        if (want.has(k) || !declared.has(have.grantee) || o === undefined || o.owner === have.grantee) continue;
        drift.push({
          kind: KIND,
          id: k,
          field: 'absent',
          desired: [],
          observed: describe(new Set(have.privileges), new Set(have.grantable), o.type, version),
        });
      }
    }
    return drift;
  },

  plan(drift, desired, { items: observed, extra: info }, ctx) {
    // No drift, no change (and no second resolution of every declaration against every object).
    if (drift.length === 0) return [];
    const version = ctx.facts.version;
    const want = wants(desired, info, version);
    const exact = ctx.prune('grants');
    interface Group {
      object: ObjectRef;
      grantee: string;
      statement: 'grant' | 'grant-option' | 'revoke' | 'revoke-option';
      privileges: string[];
      blocked?: string;
      objects: ObjectRef[];
      ids: string[];
    }
    const groups = new Map<string, Group>();
    const push = (g: Omit<Group, 'objects' | 'ids'>, object: ObjectRef, id: string) => {
      const gk = JSON.stringify([
        g.object.database,
        g.object.type,
        g.object.schema ?? '',
        g.object.type === 'column' ? g.object.name : '',
        g.grantee,
        g.statement,
        g.privileges,
        g.blocked ?? '',
      ]);
      let e = groups.get(gk);
      if (e === undefined) {
        e = { ...g, objects: [], ids: [] };
        groups.set(gk, e);
      }
      e.objects.push(object);
      e.ids.push(id);
    };
    for (const d of drift) {
      const have = observed.get(d.id);
      const w = want.get(d.id);
      const object = w?.object ?? (have === undefined ? undefined : info.objects.get(have.object));
      if (object === undefined) continue;
      const grantee = w?.grantee ?? have?.grantee ?? '';
      const hp = new Set(have?.privileges ?? []);
      const hg = new Set(have?.grantable ?? []);
      const wp = w?.privileges ?? new Set<string>();
      const wg = w?.grantable ?? new Set<string>();
      const blocked =
        w?.absentObject ??
        (object.type === 'database' ? undefined : info.missing.get(object.database)) ??
        missingRole(grantee, ctx);
      const plain = ordered(
        [...wp].filter((p) => !hp.has(p) && !wg.has(p)),
        object.type,
        version,
      );
      const withOption = ordered(
        [...wg].filter((p) => !hg.has(p)),
        object.type,
        version,
      );
      if (plain.length > 0)
        push(
          { object, grantee, statement: 'grant', privileges: plain, ...(blocked === undefined ? {} : { blocked }) },
          object,
          d.id,
        );
      if (withOption.length > 0)
        push(
          {
            object,
            grantee,
            statement: 'grant-option',
            privileges: withOption,
            ...(blocked === undefined ? {} : { blocked }),
          },
          object,
          d.id,
        );
      if (exact) {
        const extra = ordered(
          [...hp].filter((p) => !wp.has(p)),
          object.type,
          version,
        );
        const extraOption = ordered(
          [...hg].filter((p) => wp.has(p) && !wg.has(p)),
          object.type,
          version,
        );
        if (extra.length > 0) push({ object, grantee, statement: 'revoke', privileges: extra }, object, d.id);
        if (extraOption.length > 0)
          push({ object, grantee, statement: 'revoke-option', privileges: extraOption }, object, d.id);
      }
    }
    const changes: Change[] = [];
    for (const g of groups.values()) {
      const type = g.object.type;
      const list = g.privileges.join(', ');
      // Columns: SELECT ("a", "b") ON TABLE t, each privilege with the columns of this group (one table).
      const columns = g.objects.map((o) => quoteIdent(o.column ?? '')).join(', ');
      const privs = type === 'column' ? g.privileges.map((p) => `${p} (${columns})`).join(', ') : list;
      const on =
        type === 'column'
          ? `TABLE ${quoteQualified(g.object.schema ?? '', g.object.name)}`
          : `${grantKeyword(type)} ${g.objects.map(objectSql).join(', ')}`;
      const who = granteeSql(g.grantee);
      const names = g.objects.map((o) =>
        o.type === 'database'
          ? nameId(o.database)
          : o.type === 'schema'
            ? nameId(o.name)
            : o.type === 'function'
              ? `${nameId(o.name)}(${o.args ?? ''})`
              : o.type === 'column'
                ? nameId(o.column ?? '')
                : nameId(o.name),
      );
      const shown =
        names.length <= 5 ? names.join(', ') : `${names.slice(0, 5).join(', ')} and ${names.length - 5} more`;
      const where =
        type === 'database'
          ? `database ${shown}`
          : type === 'schema'
            ? `schema ${shown} in database ${nameId(g.object.database)}`
            : type === 'column'
              ? `column${g.objects.length === 1 ? '' : 's'} ${shown} of table ${dotted(g.object.schema ?? '', g.object.name)} in database ${nameId(g.object.database)}`
              : `${type}${g.objects.length === 1 ? '' : 's'} ${shown} in schema ${nameId(g.object.schema ?? '')} of database ${nameId(g.object.database)}`;
      const id =
        g.ids.length === 1
          ? (g.ids[0] as string)
          : `${g.objects.length} ${type}s in ${dotted(g.object.database, g.object.schema ?? '')} to ${granteeId(g.grantee)}`;
      const scope = type === 'database' ? {} : { scope: g.object.database };
      if (g.statement === 'grant' || g.statement === 'grant-option') {
        const opt = g.statement === 'grant-option';
        changes.push({
          kind: KIND,
          id,
          action: 'grant',
          risk: 'safe',
          phase: PHASE.privileges,
          summary: `grant ${list}${opt ? ' with grant option' : ''} on ${where} to ${granteeId(g.grantee)}`,
          statements: [{ sql: `GRANT ${privs} ON ${on} TO ${who}${opt ? ' WITH GRANT OPTION' : ''}`, ...scope }],
          ...(g.blocked === undefined ? {} : { blocked: g.blocked }),
        });
      } else {
        const opt = g.statement === 'revoke-option';
        changes.push({
          kind: KIND,
          id,
          action: 'revoke',
          risk: 'destructive',
          phase: PHASE.revokePrivileges,
          prune: 'grants',
          summary: `revoke ${opt ? 'grant option for ' : ''}${list} on ${where} from ${granteeId(g.grantee)} (not declared)`,
          statements: [{ sql: `REVOKE ${opt ? 'GRANT OPTION FOR ' : ''}${privs} ON ${on} FROM ${who}`, ...scope }],
        });
      }
    }
    return changes;
  },
};
