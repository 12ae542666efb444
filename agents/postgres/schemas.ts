/**
 * postgres.schema: schemas of each database in scope, with their owner. System schemas are never
 * managed; `public` exists in every new database and is never dropped (declare it to manage its owner).
 */
import { undeclared } from '../../src/diff.js';
import type { Change, Drift, KindContext, ResourceKind } from '../../src/engine.js';
import { databaseAccess } from './databases.js';
import { dotted, nameId, quoteIdent } from './quote.js';
import type { PostgresCluster, SchemaSpec } from './schema.js';
import type { PgSession } from './session.js';

export interface SchemaState {
  database: string;
  name: string;
  owner: string;
}

const KIND = 'postgres.schema';

/** What the observation could not see (databases that do not exist yet) and which roles exist, beside it. */
export interface Unseen {
  /** Database -> why its contents cannot be observed. */
  missing: Map<string, string>;
  roles: Set<string> | undefined;
}
const unseen = new WeakMap<Map<string, SchemaState>, Unseen>();

/** The query every per-database kind uses to leave the system schemas out. */
export const USER_SCHEMAS = "nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'";

/** Runs `sql` in every ready database at once; rows come back tagged with their database. */
export async function inEachDatabase<T>(session: PgSession, databases: readonly string[], sql: string, params: (db: string) => unknown[] = () => []): Promise<{ database: string; row: T }[]> {
  const results = await Promise.all(databases.map(async (db) => (await session.query<T>(sql, params(db), { scope: db })).map((row) => ({ database: db, row }))));
  return results.flat();
}

/** Why a role cannot be used yet, or undefined. Declared roles are created in an earlier phase of the same step. */
export function missingRole(role: string | undefined, ctx: KindContext, roles: Set<string> | undefined): string | undefined {
  if (role === undefined || role === 'PUBLIC' || roles === undefined) return undefined;
  const c = ctx.cluster as unknown as PostgresCluster;
  if (roles.has(role) || c.roles.some((r) => r.name === role)) return undefined;
  return `role ${nameId(role)} does not exist`;
}

export const schemas: ResourceKind<SchemaSpec, SchemaState, PgSession> = {
  kind: KIND,

  desired(ctx) {
    const c = ctx.cluster as unknown as PostgresCluster;
    return new Map(c.schemas.map((s) => [dotted(s.database, s.name), s]));
  },

  async observe(session, ctx) {
    const { ready, missing } = databaseAccess(session, ctx);
    const rows = await inEachDatabase<{ n: string; o: string }>(session, ready, `SELECT nspname AS n, pg_get_userbyid(nspowner) AS o FROM pg_namespace WHERE ${USER_SCHEMAS}`);
    const out = new Map<string, SchemaState>();
    for (const { database, row } of rows) out.set(dotted(database, row.n), { database, name: row.n, owner: row.o });
    unseen.set(out, { missing, roles: session.catalog.roles });
    return out;
  },

  diff(desired, observed, ctx) {
    const c = ctx.cluster as unknown as PostgresCluster;
    const drift: Drift[] = [];
    for (const [id, d] of desired) {
      const o = observed.get(id);
      if (o === undefined) drift.push({ kind: KIND, id, field: 'present', desired: true, observed: false });
      else if (d.owner !== undefined && d.owner !== o.owner) drift.push({ kind: KIND, id, field: 'owner', desired: d.owner, observed: o.owner });
    }
    // Schemas are pruned only in databases the file declares, never `public`.
    const declaredDbs = new Set(c.databases.map((d) => d.name));
    drift.push(...undeclared(KIND, 'objects', desired, observed, ctx, (_id, o) => o.name === 'public' || !declaredDbs.has(o.database)));
    return drift;
  },

  plan(drift, desired, observed, ctx) {
    const info = unseen.get(observed);
    const changes: Change[] = [];
    for (const d of drift) {
      const spec = desired.get(d.id);
      const obs = observed.get(d.id);
      if (d.field === 'absent' && obs !== undefined) {
        changes.push({
          kind: KIND, id: d.id, action: 'drop', risk: 'destructive', phase: 75, prune: 'objects',
          summary: `drop undeclared schema ${nameId(obs.name)} of database ${nameId(obs.database)} (only if empty)`,
          statements: [{ sql: `DROP SCHEMA ${quoteIdent(obs.name)}`, scope: obs.database }],
        });
        continue;
      }
      if (spec === undefined) continue;
      const blocked = info?.missing.get(spec.database) ?? missingRole(spec.owner, ctx, info?.roles);
      const where = { ...(blocked === undefined ? {} : { blocked }) };
      if (d.field === 'present') {
        changes.push({
          kind: KIND, id: d.id, action: 'create', risk: 'safe', phase: 30,
          summary: `create schema ${nameId(spec.name)} in database ${nameId(spec.database)}${spec.owner === undefined ? '' : ` owned by ${nameId(spec.owner)}`}`,
          statements: [{ sql: `CREATE SCHEMA ${quoteIdent(spec.name)}${spec.owner === undefined ? '' : ` AUTHORIZATION ${quoteIdent(spec.owner)}`}`, scope: spec.database }],
          ...where,
        });
      } else if (d.field === 'owner' && spec.owner !== undefined) {
        changes.push({
          kind: KIND, id: d.id, action: 'alter', risk: 'safe', phase: 30,
          summary: `set the owner of schema ${nameId(spec.name)} in database ${nameId(spec.database)} to ${nameId(spec.owner)}`,
          statements: [{ sql: `ALTER SCHEMA ${quoteIdent(spec.name)} OWNER TO ${quoteIdent(spec.owner)}`, scope: spec.database }],
          ...where,
        });
      }
    }
    return changes;
  },
};
