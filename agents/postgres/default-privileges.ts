/**
 * postgres.default_privilege: ALTER DEFAULT PRIVILEGES FOR ROLE <owner> [IN SCHEMA <s>], observed
 * from pg_default_acl (one query per database) and converged both ways.
 *
 * pg_default_acl has two shapes, and peers that read it as one drift forever: a database-wide row
 * (no schema) *replaces* the built-in defaults (owner: everything; PUBLIC: EXECUTE on functions,
 * USAGE on types), and no row means those built-in defaults; a per-schema row only *adds* to the
 * database-wide ones. So a database-wide declaration is compared with the row or, when there is
 * none, with the built-in defaults; a per-schema declaration with the per-schema row alone.
 */
import { PHASE } from './phases.js';
import type { Change, Drift, Observation, ResourceKind } from '../../src/engine.js';
import { DEFACL_TYPES, defaultAcl, defaultOnType, expand, ordered, privilegesOf, type DefaultOn } from './acl.js';
import { databaseAccess, databases } from './databases.js';
import { granteeId, granteeSql } from './privileges.js';
import { nameId, quoteIdent } from './quote.js';
import type { DefaultPrivilegeSpec } from './spec.js';
import { roles } from './roles.js';
import { inEachDatabase, missingRole } from './schemas.js';
import type { PgContext, PgSession } from './session.js';

export interface DefaultPrivilegeState {
  database: string;
  owner: string;
  /** null: database-wide. */
  schema: string | null;
  on: DefaultOn;
  grantee: string;
  privileges: string[];
  grantable: string[];
}

const KIND = 'postgres.default_privilege';

const ON_BY_CODE = new Map<string, DefaultOn>(
  Object.entries(DEFACL_TYPES).map(([on, code]) => [code, on as DefaultOn]),
);

/** Id: `ledger: for app_owner in schema books on tables to "Report Reader"`. */
export function defaultId(
  database: string,
  owner: string,
  schema: string | null,
  on: DefaultOn,
  grantee: string,
): string {
  return `${nameId(database)}: for ${nameId(owner)}${schema === null ? '' : ` in schema ${nameId(schema)}`} on ${on} to ${granteeId(grantee)}`;
}

/** What the default-privileges observation learns beside the rows. */
export interface DefaultsExtra {
  /** Databases whose contents could not be observed, and why. */
  missing: Map<string, string>;
  /** `database\0owner\0on` of every database-wide row. */
  globalRows: Set<string>;
  /** database -> schemas that exist. */
  schemas: Map<string, Set<string>>;
}

/** The privileges a grantee has by default when no row says otherwise (database-wide, built-in). */
export function builtInDefault(
  on: DefaultOn,
  owner: string,
  grantee: string,
  version: number,
): { privileges: string[]; grantable: string[] } {
  const e = defaultAcl(defaultOnType(on), owner, version).find((x) => x.grantee === grantee);
  return { privileges: e === undefined ? [] : [...e.privileges], grantable: [] };
}

function show(privs: Iterable<string>, grantable: ReadonlySet<string>, on: DefaultOn, version: number): string[] {
  const type = defaultOnType(on);
  const set = new Set(privs);
  const all = privilegesOf(type, version);
  if (
    set.size === all.length &&
    all.every((p) => set.has(p)) &&
    (grantable.size === 0 || all.every((p) => grantable.has(p)))
  )
    return [grantable.size === 0 ? 'ALL' : 'ALL with grant option'];
  return ordered(set, type, version).map((p) => (grantable.has(p) ? `${p} with grant option` : p));
}

/** A row of the default-privileges query: one ACL entry of pg_default_acl, or a schema that exists (t = 'schema'). */
export interface DefaultAclRow {
  o: string | null;
  s: string | null;
  t: string;
  g: string | null;
  p: string | null;
  y: boolean | null;
}

/** The default-privileges observation from each database's rows (pure). */
export function defaultsFrom(
  rows: { database: string; row: DefaultAclRow }[],
  missing: Map<string, string>,
  version: number,
): Observation<DefaultPrivilegeState, DefaultsExtra> {
  const out = new Map<string, DefaultPrivilegeState>();
  const globalRows = new Set<string>();
  const schemas = new Map<string, Set<string>>();
  for (const { database, row } of rows) {
    if (row.t === 'schema') {
      const s = schemas.get(database) ?? new Set<string>();
      if (row.s !== null) s.add(row.s);
      schemas.set(database, s);
      continue;
    }
    const on = ON_BY_CODE.get(row.t);
    if (on === undefined || row.o === null) continue;
    if (row.s === null) globalRows.add(`${database}\0${row.o}\0${on}`);
    if (row.g === null || row.p === null) continue;
    const id = defaultId(database, row.o, row.s, on, row.g);
    let st = out.get(id);
    if (st === undefined) {
      st = { database, owner: row.o, schema: row.s, on, grantee: row.g, privileges: [], grantable: [] };
      out.set(id, st);
    }
    if (!st.privileges.includes(row.p)) st.privileges.push(row.p);
    if (row.y === true && !st.grantable.includes(row.p)) st.grantable.push(row.p);
  }
  for (const st of out.values()) {
    st.privileges = ordered(st.privileges, defaultOnType(st.on), version);
    st.grantable = ordered(st.grantable, defaultOnType(st.on), version);
  }
  return { items: out, extra: { missing, globalRows, schemas } };
}

export const defaultPrivileges: ResourceKind<
  DefaultPrivilegeSpec,
  DefaultPrivilegeState,
  PgSession,
  PgContext,
  DefaultsExtra
> = {
  kind: KIND,
  // Carried by WAL: made on the primary only (standbys are read-only anyway).
  replicated: true,
  needs: [roles, databases],

  desired(ctx) {
    const c = ctx.cluster;
    return new Map(c.defaultPrivileges.map((p) => [defaultId(p.database, p.owner, p.schema ?? null, p.on, p.role), p]));
  },

  async observe(session, ctx) {
    const { ready, missing } = databaseAccess(ctx);
    const rows = await inEachDatabase<DefaultAclRow>(
      session,
      ready,
      "SELECT pg_get_userbyid(d.defaclrole) AS o, n.nspname AS s, d.defaclobjtype::text AS t, CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(x.grantee) END AS g, " +
        'x.privilege_type AS p, x.is_grantable AS y FROM pg_default_acl d LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace LEFT JOIN LATERAL aclexplode(d.defaclacl) x ON true ' +
        "UNION ALL SELECT NULL, nspname, 'schema', NULL, NULL, NULL FROM pg_namespace",
    );
    return defaultsFrom(rows, missing, session.facts.version);
  },

  diff(desired, { items: observed, extra: info }, ctx) {
    const version = ctx.facts.version;
    const exact = ctx.prune('grants');
    const drift: Drift[] = [];
    for (const [id, d] of desired) {
      // The owner's own defaults are ownership: declaring them is met by it.
      if (d.role === d.owner) continue;
      const have = effective(observed, info, id, d, version);
      const wp = expand(d.privileges, defaultOnType(d.on), version);
      const wg = d.grantOption === true ? wp : new Set<string>();
      const hp = new Set(have.privileges);
      const hg = new Set(have.grantable);
      const missing = [...wp].some((p) => !hp.has(p)) || [...wg].some((p) => !hg.has(p));
      const extra = [...hp].some((p) => !wp.has(p)) || [...hg].some((p) => !wg.has(p));
      if (missing || (exact && extra))
        drift.push({
          kind: KIND,
          id,
          field: 'privileges',
          desired: show(wp, wg, d.on, version),
          observed: show(hp, hg, d.on, version),
        });
    }
    if (exact) {
      const c = ctx.cluster;
      const declared = new Set(c.roles.map((r) => r.name));
      for (const [id, o] of observed) {
        if (desired.has(id) || !declared.has(o.grantee) || o.grantee === o.owner) continue;
        drift.push({
          kind: KIND,
          id,
          field: 'absent',
          desired: [],
          observed: show(o.privileges, new Set(o.grantable), o.on, version),
        });
      }
    }
    return drift;
  },

  plan(drift, desired, { items: observed, extra: info }, ctx) {
    const version = ctx.facts.version;
    const changes: Change[] = [];
    for (const d of drift) {
      const spec = desired.get(d.id);
      const obs = observed.get(d.id);
      const ref =
        spec === undefined
          ? obs
          : {
              database: spec.database,
              owner: spec.owner,
              schema: spec.schema ?? null,
              on: spec.on,
              grantee: spec.role,
            };
      if (ref === undefined) continue;
      const have =
        spec === undefined
          ? { privileges: obs?.privileges ?? [], grantable: obs?.grantable ?? [] }
          : effective(observed, info, d.id, spec, version);
      const type = defaultOnType(ref.on);
      const wp = spec === undefined ? new Set<string>() : expand(spec.privileges, type, version);
      const wg = spec?.grantOption === true ? wp : new Set<string>();
      const hp = new Set(have.privileges);
      const hg = new Set(have.grantable);
      const head = `ALTER DEFAULT PRIVILEGES FOR ROLE ${quoteIdent(ref.owner)}${ref.schema === null ? '' : ` IN SCHEMA ${quoteIdent(ref.schema)}`}`;
      const objects = ref.on.toUpperCase();
      const where = `${ref.on} created by ${nameId(ref.owner)}${ref.schema === null ? '' : ` in schema ${nameId(ref.schema)}`} of database ${nameId(ref.database)}`;
      const blocked =
        info.missing.get(ref.database) ??
        missingRole(ref.owner, ctx) ??
        missingRole(ref.grantee, ctx) ??
        (ref.schema !== null && info.schemas.get(ref.database)?.has(ref.schema) !== true
          ? `schema ${nameId(ref.schema)} does not exist yet in database ${nameId(ref.database)}`
          : undefined);
      const plain = ordered(
        [...wp].filter((p) => !hp.has(p) && !wg.has(p)),
        type,
        version,
      );
      const withOption = ordered(
        [...wg].filter((p) => !hg.has(p)),
        type,
        version,
      );
      for (const [list, opt] of [
        [plain, false],
        [withOption, true],
      ] as const) {
        if (list.length === 0) continue;
        changes.push({
          kind: KIND,
          id: d.id,
          action: 'grant',
          risk: 'safe',
          phase: PHASE.defaultPrivileges,
          summary: `grant ${list.join(', ')}${opt ? ' with grant option' : ''} on future ${where} to ${granteeId(ref.grantee)}`,
          statements: [
            {
              sql: `${head} GRANT ${list.join(', ')} ON ${objects} TO ${granteeSql(ref.grantee)}${opt ? ' WITH GRANT OPTION' : ''}`,
              scope: ref.database,
            },
          ],
          ...(blocked === undefined ? {} : { blocked }),
        });
      }
      if (ctx.prune('grants')) {
        const extra = ordered(
          [...hp].filter((p) => !wp.has(p)),
          type,
          version,
        );
        const extraOption = ordered(
          [...hg].filter((p) => wp.has(p) && !wg.has(p)),
          type,
          version,
        );
        for (const [list, opt] of [
          [extra, false],
          [extraOption, true],
        ] as const) {
          if (list.length === 0) continue;
          changes.push({
            kind: KIND,
            id: d.id,
            action: 'revoke',
            risk: 'destructive',
            phase: PHASE.revokeDefaultPrivileges,
            prune: 'grants',
            summary: `revoke ${opt ? 'grant option for ' : ''}${list.join(', ')} on future ${where} from ${granteeId(ref.grantee)} (not declared)`,
            statements: [
              {
                sql: `${head} REVOKE ${opt ? 'GRANT OPTION FOR ' : ''}${list.join(', ')} ON ${objects} FROM ${granteeSql(ref.grantee)}`,
                scope: ref.database,
              },
            ],
          });
        }
      }
    }
    return changes;
  },
};

/** What a grantee has now by the rows, or by the built-in defaults where a database-wide row is missing. */
function effective(
  observed: Map<string, DefaultPrivilegeState>,
  info: DefaultsExtra,
  id: string,
  d: DefaultPrivilegeSpec,
  version: number,
): { privileges: string[]; grantable: string[] } {
  const o = observed.get(id);
  if (o !== undefined) return { privileges: o.privileges, grantable: o.grantable };
  if (d.schema === undefined && info.globalRows.has(`${d.database}\0${d.owner}\0${d.on}`) !== true)
    return builtInDefault(d.on, d.owner, d.role, version);
  return { privileges: [], grantable: [] };
}
