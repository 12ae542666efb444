/**
 * postgres.extension: extensions of each database in scope, with their version (ALTER EXTENSION ...
 * UPDATE TO) and schema. An extension the server does not ship waits, with why; plpgsql, in every
 * database from the start, is never dropped.
 */
import { undeclared } from '../../src/diff.js';
import { PHASE } from './phases.js';
import type { Change, Drift, Observation, ResourceKind } from '../../src/engine.js';
import { databaseAccess, databases } from './databases.js';
import { dotted, nameId, quoteIdent } from './quote.js';
import type { ExtensionSpec } from './spec.js';
import { inEachDatabase } from './schemas.js';
import type { PgContext, PgSession } from './session.js';

export interface ExtensionState {
  database: string;
  name: string;
  version: string;
  schema: string;
}

const KIND = 'postgres.extension';
/** `version: latest`: kept at the server's default version for the extension (ALTER EXTENSION ... UPDATE). */
const LATEST = 'latest';

/** What the extensions observation learns beside the installed extensions. */
export interface ExtensionsExtra {
  missing: Map<string, string>;
  /** database -> extension -> the version the server would install by default; absent when the server does not ship it. */
  available: Map<string, Map<string, string>>;
  /** database -> schemas that exist. */
  schemas: Map<string, Set<string>>;
}

/** A row of the extensions query: an installed extension, a declared one the server ships, or a schema. */
export interface ExtensionRow {
  k: string;
  n: string;
  v: string | null;
  s: string | null;
  dv: string | null;
}

/** The extensions observation from each database's rows (pure). */
export function extensionsFrom(
  rows: { database: string; row: ExtensionRow }[],
  missing: Map<string, string>,
): Observation<ExtensionState, ExtensionsExtra> {
  const out = new Map<string, ExtensionState>();
  const available = new Map<string, Map<string, string>>();
  const schemasByDb = new Map<string, Set<string>>();
  for (const { database, row } of rows) {
    if (row.k === 'installed')
      out.set(dotted(database, row.n), { database, name: row.n, version: row.v ?? '', schema: row.s ?? '' });
    else if (row.k === 'available') {
      const m = available.get(database) ?? new Map<string, string>();
      m.set(row.n, row.dv ?? '');
      available.set(database, m);
    } else {
      const s = schemasByDb.get(database) ?? new Set<string>();
      s.add(row.n);
      schemasByDb.set(database, s);
    }
  }
  return { items: out, extra: { missing, available, schemas: schemasByDb } };
}

export const extensions: ResourceKind<ExtensionSpec, ExtensionState, PgSession, PgContext, ExtensionsExtra> = {
  kind: KIND,
  // Carried by WAL: made on the primary only (standbys are read-only anyway).
  replicated: true,
  needs: [databases],

  desired(ctx) {
    const c = ctx.cluster;
    return new Map(c.extensions.map((e) => [dotted(e.database, e.name), e]));
  },

  async observe(session, ctx) {
    const c = ctx.cluster;
    const { ready, missing } = databaseAccess(ctx);
    // One query per database: installed extensions, the declared ones the server ships, and the schemas that exist.
    const rows = await inEachDatabase<ExtensionRow>(
      session,
      ready,
      'SELECT k, n, v, s, dv FROM (' +
        "SELECT 'installed' AS k, e.extname AS n, e.extversion AS v, x.nspname AS s, NULL AS dv FROM pg_extension e JOIN pg_namespace x ON x.oid = e.extnamespace " +
        "UNION ALL SELECT 'available', a.name, NULL, NULL, a.default_version FROM pg_available_extensions a WHERE a.name = ANY($1::text[]) " +
        "UNION ALL SELECT 'schema', nspname, NULL, NULL, NULL FROM pg_namespace) t",
      (db) => [c.extensions.filter((e) => e.database === db).map((e) => e.name)],
    );
    return extensionsFrom(rows, missing);
  },

  diff(desired, { items: observed, extra: info }, ctx) {
    const c = ctx.cluster;
    const drift: Drift[] = [];
    for (const [id, d] of desired) {
      const o = observed.get(id);
      if (o === undefined) {
        drift.push({ kind: KIND, id, field: 'present', desired: true, observed: false });
        continue;
      }
      // `latest`: the version the server's package installs by default (its newest, as shipped).
      const want = d.version === LATEST ? info.available.get(d.database)?.get(d.name) : d.version;
      if (want !== undefined && want !== o.version)
        drift.push({ kind: KIND, id, field: 'version', desired: want, observed: o.version });
      if (d.schema !== undefined && d.schema !== o.schema)
        drift.push({ kind: KIND, id, field: 'schema', desired: d.schema, observed: o.schema });
    }
    const declaredDbs = new Set(c.databases.map((x) => x.name));
    drift.push(
      ...undeclared(
        KIND,
        'objects',
        desired,
        observed,
        ctx,
        (_id, o) => o.name === 'plpgsql' || !declaredDbs.has(o.database),
      ),
    );
    return drift;
  },

  plan(drift, desired, { items: observed, extra: info }) {
    const changes: Change[] = [];
    for (const d of drift) {
      const obs = observed.get(d.id);
      if (d.field === 'absent' && obs !== undefined) {
        changes.push({
          kind: KIND,
          id: d.id,
          action: 'drop',
          risk: 'destructive',
          phase: PHASE.dropExtensions,
          prune: 'objects',
          summary: `drop undeclared extension ${nameId(obs.name)} from database ${nameId(obs.database)} (only if nothing depends on it)`,
          statements: [{ sql: `DROP EXTENSION ${quoteIdent(obs.name)}`, scope: obs.database }],
        });
        continue;
      }
      const spec = desired.get(d.id);
      if (spec === undefined) continue;
      const where = `in database ${nameId(spec.database)}`;
      let blocked = info.missing.get(spec.database);
      if (d.field === 'present') {
        if (blocked === undefined && info.available.get(spec.database)?.has(spec.name) !== true)
          blocked = `the server does not ship extension ${nameId(spec.name)} (install its package on the host)`;
        if (
          blocked === undefined &&
          spec.schema !== undefined &&
          info.schemas.get(spec.database)?.has(spec.schema) !== true
        )
          blocked = `schema ${nameId(spec.schema)} does not exist yet`;
        let sql = `CREATE EXTENSION ${quoteIdent(spec.name)}`;
        const params: unknown[] = [];
        if (spec.schema !== undefined) sql += ` SCHEMA ${quoteIdent(spec.schema)}`;
        if (spec.version !== undefined && spec.version !== LATEST) {
          params.push(spec.version);
          sql += ` VERSION $${params.length}`;
        }
        // CASCADE: the extensions it requires are created too (earthdistance needs cube).
        if (spec.cascade === true) sql += ' CASCADE';
        changes.push({
          kind: KIND,
          id: d.id,
          action: 'create',
          risk: 'safe',
          phase: PHASE.extensions,
          summary: `create extension ${nameId(spec.name)}${spec.version === undefined || spec.version === LATEST ? '' : ` version ${spec.version}`} ${where}${spec.cascade === true ? ' with the extensions it requires (cascade)' : ''}`,
          statements: [{ sql, params, scope: spec.database }],
          ...(blocked === undefined ? {} : { blocked }),
        });
      } else if (d.field === 'version' && spec.version !== undefined) {
        changes.push({
          kind: KIND,
          id: d.id,
          action: 'alter',
          risk: 'safe',
          phase: PHASE.extensions,
          summary: `update extension ${nameId(spec.name)} ${where} from ${String(d.observed)} to ${String(d.desired)}`,
          statements: [
            spec.version === LATEST
              ? { sql: `ALTER EXTENSION ${quoteIdent(spec.name)} UPDATE`, scope: spec.database }
              : {
                  sql: `ALTER EXTENSION ${quoteIdent(spec.name)} UPDATE TO $1`,
                  params: [spec.version],
                  scope: spec.database,
                },
          ],
          ...(blocked === undefined ? {} : { blocked }),
        });
      } else if (d.field === 'schema' && spec.schema !== undefined) {
        if (blocked === undefined && info.schemas.get(spec.database)?.has(spec.schema) !== true)
          blocked = `schema ${nameId(spec.schema)} does not exist yet`;
        changes.push({
          kind: KIND,
          id: d.id,
          action: 'alter',
          risk: 'safe',
          phase: PHASE.extensions,
          summary: `move extension ${nameId(spec.name)} ${where} to schema ${nameId(spec.schema)}`,
          statements: [
            {
              sql: `ALTER EXTENSION ${quoteIdent(spec.name)} SET SCHEMA ${quoteIdent(spec.schema)}`,
              scope: spec.database,
            },
          ],
          ...(blocked === undefined ? {} : { blocked }),
        });
      }
    }
    return changes;
  },
};
