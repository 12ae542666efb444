/**
 * postgres.database: databases with owner, connection limit and allowConnections; encoding and
 * locale are set at creation, and a later difference is reported, never "fixed" by dropping.
 * Observing databases also decides which per-database connections the session keeps.
 */
import { undeclared } from '../../src/diff.js';
import { PHASE } from './phases.js';
import type { Change, Drift, Observation, ResourceKind } from '../../src/engine.js';
import { nameId, quoteIdent } from './quote.js';
import { commentChange, commentOf, roles } from './roles.js';
import { databasesInScope, databasesInside, declaredRoles, TEMPLATE_DATABASES, type DatabaseSpec } from './spec.js';
import type { DatabaseRef, PgContext, PgSession } from './session.js';

export interface DatabaseState {
  name: string;
  owner: string;
  encoding: string;
  lcCollate: string;
  lcCtype: string;
  connectionLimit: number;
  allowConnections: boolean;
  /** COMMENT ON DATABASE (shobj_description); null when none. */
  comment: string | null;
  tablespace: string;
  /** libc, icu (or builtin, PostgreSQL 17). */
  localeProvider: string;
  /** The ICU locale (or builtin locale), null for libc. */
  icuLocale: string | null;
}

const KIND = 'postgres.database';

/** What the databases observation learns beside the managed databases. */
export interface DatabasesExtra {
  /** template1 as observed (it is never managed): creation compares with it. */
  template1: DatabaseState | undefined;
  /** Every database that exists, managed or not: the per-database kinds look into these. */
  all: Map<string, DatabaseRef>;
}

/** Encoding names compare as PostgreSQL compares them: case and punctuation aside (UTF-8 = utf8). */
export function sameEncoding(a: string, b: string): boolean {
  const n = (s: string) => s.toLowerCase().replace(/[^a-z0-9]/g, '');
  return n(a) === n(b);
}

/** Locale names compare with case and the codeset's punctuation aside (en_US.UTF-8 = en_US.utf8). */
export function sameLocale(a: string, b: string): boolean {
  const n = (s: string) => {
    const [lang, codeset] = s.split('.', 2) as [string, string | undefined];
    return `${lang}${codeset === undefined ? '' : '.' + codeset.toLowerCase().replace(/[^a-z0-9]/g, '')}`;
  };
  return n(a) === n(b);
}

/**
 * Which databases the per-database kinds look into (those the file declares something inside of)
 * can be looked into now (they exist and accept connections), and why the others cannot.
 */
export function databaseAccess(
  ctx: PgContext,
  all = ctx.observation(databases)?.extra.all,
): { ready: string[]; missing: Map<string, string> } {
  const c = ctx.cluster;
  const seen = all;
  const ready: string[] = [];
  const missing = new Map<string, string>();
  for (const name of databasesInside(c)) {
    const ref = seen?.get(name);
    if (ref === undefined) missing.set(name, `database ${nameId(name)} does not exist yet`);
    else if (!ref.allowConnections)
      missing.set(name, `database ${nameId(name)} does not allow connections (allowConnections: false)`);
    else ready.push(name);
  }
  return { ready, missing };
}

/** ICU locales compare with case and - or _ aside (en-US = en_us). */
export function sameIcuLocale(a: string, b: string | null): boolean {
  const n = (s: string) => s.toLowerCase().replace(/_/g, '-');
  return b !== null && n(a) === n(b);
}

/** The columns of the locale provider and ICU locale, as this server's pg_database has them. */
function localeColumns(version: number): string {
  if (version >= 170000) return 'datlocprovider::text AS lp, datlocale AS il';
  if (version >= 150000) return 'datlocprovider::text AS lp, daticulocale AS il';
  return "'c'::text AS lp, NULL::text AS il";
}

/** A row of the databases query. */
export interface DatabaseRow {
  n: string;
  o: string;
  e: string;
  co: string;
  ct: string;
  cl: number;
  ac: boolean;
  cm?: string | null;
  ts?: string;
  lp?: string;
  il?: string | null;
}

/** The databases observation from the rows of pg_database (pure): template databases are never managed, but seen. */
export function databasesFrom(rows: DatabaseRow[]): Observation<DatabaseState, DatabasesExtra> {
  const out = new Map<string, DatabaseState>();
  const all = new Map<string, DatabaseRef>();
  let template1: DatabaseState | undefined;
  for (const r of rows) {
    const s: DatabaseState = {
      name: r.n,
      owner: r.o,
      encoding: r.e,
      lcCollate: r.co,
      lcCtype: r.ct,
      connectionLimit: Number(r.cl),
      allowConnections: r.ac,
      comment: typeof r.cm === 'string' && r.cm !== '' ? r.cm : null,
      tablespace: r.ts ?? 'pg_default',
      localeProvider: ({ c: 'libc', i: 'icu', b: 'builtin' } as Record<string, string>)[r.lp ?? 'c'] ?? r.lp ?? 'libc',
      icuLocale: r.il ?? null,
    };
    all.set(r.n, { name: r.n, allowConnections: r.ac });
    if (r.n === 'template1') template1 = s;
    if (TEMPLATE_DATABASES.has(r.n)) continue;
    out.set(nameId(r.n), s);
  }
  return { items: out, extra: { template1, all } };
}

export const databases: ResourceKind<DatabaseSpec, DatabaseState, PgSession, PgContext, DatabasesExtra> = {
  kind: KIND,
  // Carried by WAL: made on the primary only (standbys are read-only anyway).
  replicated: true,
  needs: [roles],

  desired(ctx) {
    const c = ctx.cluster;
    return new Map(c.databases.map((d) => [nameId(d.name), d]));
  },

  async observe(session, ctx) {
    const o = databasesFrom(
      await session.query<DatabaseRow>(
        "SELECT datname AS n, pg_get_userbyid(datdba) AS o, pg_encoding_to_char(encoding) AS e, datcollate AS co, datctype AS ct, datconnlimit AS cl, datallowconn AS ac, shobj_description(oid, 'pg_database') AS cm, " +
          `(SELECT spcname FROM pg_tablespace t WHERE t.oid = dattablespace) AS ts, ${localeColumns(session.facts.version)} FROM pg_database`,
      ),
    );
    // Connections to databases no longer in scope (dropped, or no longer named in the file) are closed
    // now, before anything may try to drop them.
    await session.retain(new Set(databaseAccess(ctx, o.extra.all).ready));
    return o;
  },

  diff(desired, { items: observed }, ctx) {
    const facts = ctx.facts;
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
      if (d.encoding !== undefined && !sameEncoding(d.encoding, o.encoding))
        drift.push({ kind: KIND, id, field: 'encoding', desired: d.encoding, observed: o.encoding });
      if (d.lcCollate !== undefined && !sameLocale(d.lcCollate, o.lcCollate))
        drift.push({ kind: KIND, id, field: 'lcCollate', desired: d.lcCollate, observed: o.lcCollate });
      if (d.lcCtype !== undefined && !sameLocale(d.lcCtype, o.lcCtype))
        drift.push({ kind: KIND, id, field: 'lcCtype', desired: d.lcCtype, observed: o.lcCtype });
      if (d.tablespace !== undefined && d.tablespace !== o.tablespace)
        drift.push({ kind: KIND, id, field: 'tablespace', desired: d.tablespace, observed: o.tablespace });
      if (d.localeProvider !== undefined && d.localeProvider !== o.localeProvider)
        drift.push({ kind: KIND, id, field: 'localeProvider', desired: d.localeProvider, observed: o.localeProvider });
      if (d.icuLocale !== undefined && !sameIcuLocale(d.icuLocale, o.icuLocale))
        drift.push({ kind: KIND, id, field: 'icuLocale', desired: d.icuLocale, observed: o.icuLocale ?? '(none)' });
      if (d.connectionLimit !== undefined && d.connectionLimit !== o.connectionLimit)
        drift.push({
          kind: KIND,
          id,
          field: 'connectionLimit',
          desired: d.connectionLimit,
          observed: o.connectionLimit,
        });
      if (d.comment !== undefined && commentOf(d.comment) !== o.comment)
        drift.push({ kind: KIND, id, field: 'comment', desired: d.comment, observed: o.comment });
      if (d.allowConnections !== undefined && d.allowConnections !== o.allowConnections)
        drift.push({
          kind: KIND,
          id,
          field: 'allowConnections',
          desired: d.allowConnections,
          observed: o.allowConnections,
        });
    }
    const keep = databasesInScope(c);
    drift.push(
      ...undeclared(
        KIND,
        'databases',
        desired,
        observed,
        ctx,
        (_id, o) => keep.has(o.name) || o.name === 'postgres' || o.name === facts.database,
      ),
    );
    return drift;
  },

  plan(drift, desired, { items: observed, extra: { template1 } }, ctx) {
    const c = ctx.cluster;
    const facts = ctx.facts;
    const declared = new Set(declaredRoles(c).map((r) => r.name));
    const existing = ctx.observation(roles)?.extra.all;
    const ownerMissing = (owner: string | undefined) =>
      owner !== undefined && !declared.has(owner) && existing !== undefined && !existing.has(owner)
        ? `role ${nameId(owner)} does not exist`
        : undefined;
    const changes: Change[] = [];
    const byId = new Map<string, Drift[]>();
    for (const d of drift) byId.set(d.id, [...(byId.get(d.id) ?? []), d]);
    for (const [id, items] of byId) {
      const fields = new Set(items.map((d) => d.field));
      const spec = desired.get(id);
      const obs = observed.get(id);
      if (fields.has('absent') && obs !== undefined) {
        changes.push({
          kind: KIND,
          id,
          action: 'drop',
          risk: 'destructive',
          phase: PHASE.dropDatabases,
          prune: 'databases',
          summary: `drop undeclared database ${id} and everything in it`,
          statements: [{ sql: `DROP DATABASE ${quoteIdent(obs.name)}` }],
        });
        continue;
      }
      if (spec === undefined) continue;
      const q = quoteIdent(spec.name);
      if (fields.has('present')) {
        const created = createStatement(spec, template1, facts.version);
        const blocked = ownerMissing(spec.owner);
        changes.push({
          kind: KIND,
          id,
          action: 'create',
          risk: 'safe',
          phase: PHASE.databases,
          summary: `create database ${id}${created.words.length === 0 ? '' : ` (${created.words.join(', ')})`}`,
          statements: [
            created.statement,
            ...(commentOf(spec.comment) === null
              ? []
              : [{ sql: `COMMENT ON DATABASE ${q} IS $1`, params: [commentOf(spec.comment)] }]),
          ],
          ...(blocked === undefined ? {} : { blocked }),
        });
        continue;
      }
      if (fields.has('owner') && spec.owner !== undefined) {
        const blocked = ownerMissing(spec.owner);
        changes.push({
          kind: KIND,
          id,
          action: 'alter',
          risk: 'safe',
          phase: PHASE.databases,
          summary: `set the owner of database ${id} to ${nameId(spec.owner)}`,
          statements: [{ sql: `ALTER DATABASE ${q} OWNER TO ${quoteIdent(spec.owner)}` }],
          ...(blocked === undefined ? {} : { blocked }),
        });
      }
      if (fields.has('comment'))
        changes.push(commentChange(KIND, id, PHASE.databases, `database ${id}`, `DATABASE ${q}`, spec.comment));
      if (fields.has('connectionLimit') && spec.connectionLimit !== undefined) {
        changes.push({
          kind: KIND,
          id,
          action: 'alter',
          risk: 'safe',
          phase: PHASE.databases,
          summary: `set connection limit ${spec.connectionLimit} on database ${id}`,
          statements: [{ sql: `ALTER DATABASE ${q} WITH CONNECTION LIMIT $1`, params: [spec.connectionLimit] }],
        });
      }
      if (fields.has('allowConnections') && spec.allowConnections !== undefined) {
        changes.push({
          kind: KIND,
          id,
          action: 'alter',
          risk: 'safe',
          phase: PHASE.databases,
          summary: `${spec.allowConnections ? 'allow' : 'refuse'} connections to database ${id}`,
          statements: [{ sql: `ALTER DATABASE ${q} WITH ALLOW_CONNECTIONS $1`, params: [spec.allowConnections] }],
        });
      }
      for (const f of ['encoding', 'lcCollate', 'lcCtype', 'tablespace', 'localeProvider', 'icuLocale'] as const) {
        const d = items.find((x) => x.field === f);
        if (d === undefined) continue;
        changes.push({
          kind: KIND,
          id,
          action: 'recreate',
          risk: 'destructive',
          phase: PHASE.databases,
          summary: `database ${id} has ${f} ${String(d.observed)}, declared ${String(d.desired)}`,
          statements: [],
          blocked:
            f === 'tablespace'
              ? `the tablespace is chosen when a database is created: setpoint reports it and never moves a database (ALTER DATABASE ... SET TABLESPACE by hand, with nobody connected)`
              : `${f} is fixed when a database is created: setpoint reports it and never drops a database to change it (dump, recreate and restore by hand)`,
        });
      }
    }
    return changes;
  },
};

/** CREATE DATABASE with the declared options; template0 when the encoding or locale differ from template1's. */
export function createStatement(
  spec: DatabaseSpec,
  t1: DatabaseState | undefined,
  version: number,
): { statement: { sql: string; params: unknown[] }; words: string[] } {
  let sql = `CREATE DATABASE ${quoteIdent(spec.name)}`;
  const params: unknown[] = [];
  const words: string[] = [];
  const opt = (clause: string, value: unknown, word: string) => {
    params.push(value);
    sql += ` ${clause} $${params.length}`;
    words.push(word);
  };
  if (spec.owner !== undefined) {
    sql += ` OWNER ${quoteIdent(spec.owner)}`;
    words.push(`owner ${nameId(spec.owner)}`);
  }
  if (spec.encoding !== undefined) opt('ENCODING', spec.encoding, `encoding ${spec.encoding}`);
  if (spec.lcCollate !== undefined) opt('LC_COLLATE', spec.lcCollate, `lc_collate ${spec.lcCollate}`);
  if (spec.lcCtype !== undefined) opt('LC_CTYPE', spec.lcCtype, `lc_ctype ${spec.lcCtype}`);
  if (spec.localeProvider !== undefined && version >= 150000) {
    sql += ` LOCALE_PROVIDER ${spec.localeProvider === 'icu' ? 'icu' : 'libc'}`;
    words.push(`locale provider ${spec.localeProvider}`);
  }
  if (spec.icuLocale !== undefined && version >= 150000)
    opt(version >= 170000 ? 'LOCALE' : 'ICU_LOCALE', spec.icuLocale, `ICU locale ${spec.icuLocale}`);
  if (spec.tablespace !== undefined) {
    sql += ` TABLESPACE ${quoteIdent(spec.tablespace)}`;
    words.push(`tablespace ${nameId(spec.tablespace)}`);
  }
  const differs =
    t1 !== undefined &&
    ((spec.localeProvider !== undefined && spec.localeProvider !== t1.localeProvider) ||
      (spec.icuLocale !== undefined && !sameIcuLocale(spec.icuLocale, t1.icuLocale)) ||
      (spec.encoding !== undefined && !sameEncoding(spec.encoding, t1.encoding)) ||
      (spec.lcCollate !== undefined && !sameLocale(spec.lcCollate, t1.lcCollate)) ||
      (spec.lcCtype !== undefined && !sameLocale(spec.lcCtype, t1.lcCtype)));
  const template = spec.template ?? (differs ? 'template0' : undefined);
  if (template !== undefined) {
    sql += ` TEMPLATE ${quoteIdent(template)}`;
    words.push(`template ${nameId(template)}`);
  }
  // STRATEGY exists from PostgreSQL 15; older servers always copy files.
  if (spec.strategy !== undefined && version >= 150000) {
    sql += ` STRATEGY ${spec.strategy === 'file_copy' ? 'FILE_COPY' : 'WAL_LOG'}`;
    words.push(`strategy ${spec.strategy}`);
  }
  if (spec.connectionLimit !== undefined)
    opt('CONNECTION LIMIT', spec.connectionLimit, `connection limit ${spec.connectionLimit}`);
  if (spec.allowConnections !== undefined)
    opt('ALLOW_CONNECTIONS', spec.allowConnections, spec.allowConnections ? 'allow connections' : 'no connections');
  return { statement: { sql, params }, words };
}
