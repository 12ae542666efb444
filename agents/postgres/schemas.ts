/**
 * postgres.schema: schemas of each database in scope, with their owner. System schemas are never
 * managed; `public` exists in every new database and is never dropped (declare it to manage its owner).
 */
import { undeclared } from '../../src/diff.js';
import { PHASE } from './phases.js';
import type { Change, Drift, Observation, ResourceKind } from '../../src/engine.js';
import { databaseAccess, databases } from './databases.js';
import { commentChange, commentOf, roles } from './roles.js';
import { dotted, nameId, quoteIdent } from './quote.js';
import { declaredRoles, type SchemaSpec } from './spec.js';
import type { PgContext, PgSession } from './session.js';

export interface SchemaState {
  database: string;
  name: string;
  owner: string;
  /** COMMENT ON SCHEMA (obj_description); null when none. */
  comment: string | null;
}

const KIND = 'postgres.schema';

/** What a per-database observation could not see: database -> why its contents cannot be observed (it does not exist yet...). */
export interface Unseen {
  missing: Map<string, string>;
}

/** The query every per-database kind uses to leave the system schemas out. */
export const USER_SCHEMAS = "nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'";

/** Runs `sql` in every ready database at once; rows come back tagged with their database. */
export async function inEachDatabase<T>(
  session: PgSession,
  databases: readonly string[],
  sql: string,
  params: (db: string) => unknown[] = () => [],
): Promise<{ database: string; row: T }[]> {
  const results = await Promise.all(
    databases.map(async (db) =>
      (await session.query<T>(sql, params(db), { scope: db })).map((row) => ({ database: db, row })),
    ),
  );
  return results.flat();
}

/** Why a role cannot be used yet, or undefined. Declared roles are created in an earlier phase of the same step. */
export function missingRole(role: string | undefined, ctx: PgContext): string | undefined {
  const existing = ctx.observation(roles)?.extra.all;
  if (role === undefined || role === 'PUBLIC' || existing === undefined) return undefined;
  const c = ctx.cluster;
  if (existing.has(role) || declaredRoles(c).some((r) => r.name === role)) return undefined;
  return `role ${nameId(role)} does not exist`;
}

/** A row of the schemas query. */
export interface SchemaRow {
  n: string;
  o: string;
  cm?: string | null;
}

/** The schemas observation from each database's rows (pure). */
export function schemasFrom(
  rows: { database: string; row: SchemaRow }[],
  missing: Map<string, string>,
): Observation<SchemaState, Unseen> {
  const out = new Map<string, SchemaState>();
  for (const { database, row } of rows)
    out.set(dotted(database, row.n), {
      database,
      name: row.n,
      owner: row.o,
      comment: typeof row.cm === 'string' && row.cm !== '' ? row.cm : null,
    });
  return { items: out, extra: { missing } };
}

export const schemas: ResourceKind<SchemaSpec, SchemaState, PgSession, PgContext, Unseen> = {
  kind: KIND,
  // Carried by WAL: made on the primary only (standbys are read-only anyway).
  replicated: true,
  needs: [roles, databases],

  desired(ctx) {
    const c = ctx.cluster;
    return new Map(c.schemas.map((s) => [dotted(s.database, s.name), s]));
  },

  async observe(session, ctx) {
    const { ready, missing } = databaseAccess(ctx);
    return schemasFrom(
      await inEachDatabase<SchemaRow>(
        session,
        ready,
        `SELECT nspname AS n, pg_get_userbyid(nspowner) AS o, obj_description(oid, 'pg_namespace') AS cm FROM pg_namespace WHERE ${USER_SCHEMAS}`,
      ),
      missing,
    );
  },

  diff(desired, { items: observed }, ctx) {
    const c = ctx.cluster;
    const drift: Drift[] = [];
    for (const [id, d] of desired) {
      const o = observed.get(id);
      if (o === undefined) {
        drift.push({ kind: KIND, id, field: 'present', desired: true, observed: false });
        continue;
      }
      if (d.owner !== undefined && d.owner !== o.owner)
        drift.push({ kind: KIND, id, field: 'owner', desired: d.owner, observed: o.owner });
      if (d.comment !== undefined && commentOf(d.comment) !== o.comment)
        drift.push({ kind: KIND, id, field: 'comment', desired: d.comment, observed: o.comment });
    }
    // Schemas are pruned only in databases the file declares, never `public`.
    const declaredDbs = new Set(c.databases.map((d) => d.name));
    drift.push(
      ...undeclared(
        KIND,
        'objects',
        desired,
        observed,
        ctx,
        (_id, o) => o.name === 'public' || !declaredDbs.has(o.database),
      ),
    );
    return drift;
  },

  plan(drift, desired, { items: observed, extra: info }, ctx) {
    const changes: Change[] = [];
    for (const d of drift) {
      const spec = desired.get(d.id);
      const obs = observed.get(d.id);
      if (d.field === 'absent' && obs !== undefined) {
        changes.push({
          kind: KIND,
          id: d.id,
          action: 'drop',
          risk: 'destructive',
          phase: PHASE.dropSchemas,
          prune: 'objects',
          summary: `drop undeclared schema ${nameId(obs.name)} of database ${nameId(obs.database)} (only if empty)`,
          statements: [{ sql: `DROP SCHEMA ${quoteIdent(obs.name)}`, scope: obs.database }],
        });
        continue;
      }
      if (spec === undefined) continue;
      const blocked = info.missing.get(spec.database) ?? missingRole(spec.owner, ctx);
      const where = { ...(blocked === undefined ? {} : { blocked }) };
      if (d.field === 'present') {
        changes.push({
          kind: KIND,
          id: d.id,
          action: 'create',
          risk: 'safe',
          phase: PHASE.schemas,
          summary: `create schema ${nameId(spec.name)} in database ${nameId(spec.database)}${spec.owner === undefined ? '' : ` owned by ${nameId(spec.owner)}`}`,
          statements: [
            {
              sql: `CREATE SCHEMA ${quoteIdent(spec.name)}${spec.owner === undefined ? '' : ` AUTHORIZATION ${quoteIdent(spec.owner)}`}`,
              scope: spec.database,
            },
            ...(commentOf(spec.comment) === null
              ? []
              : [
                  {
                    sql: `COMMENT ON SCHEMA ${quoteIdent(spec.name)} IS $1`,
                    params: [commentOf(spec.comment)],
                    scope: spec.database,
                  },
                ]),
          ],
          ...where,
        });
      } else if (d.field === 'comment') {
        changes.push({
          ...commentChange(
            KIND,
            d.id,
            PHASE.schemas,
            `schema ${nameId(spec.name)} in database ${nameId(spec.database)}`,
            `SCHEMA ${quoteIdent(spec.name)}`,
            spec.comment,
            spec.database,
          ),
          ...where,
        });
      } else if (d.field === 'owner' && spec.owner !== undefined) {
        changes.push({
          kind: KIND,
          id: d.id,
          action: 'alter',
          risk: 'safe',
          phase: PHASE.schemas,
          summary: `set the owner of schema ${nameId(spec.name)} in database ${nameId(spec.database)} to ${nameId(spec.owner)}`,
          statements: [
            { sql: `ALTER SCHEMA ${quoteIdent(spec.name)} OWNER TO ${quoteIdent(spec.owner)}`, scope: spec.database },
          ],
          ...where,
        });
      }
    }
    return changes;
  },
};
