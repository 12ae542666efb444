/** mysql.database: schemas with their default character set and collation. */
import { undeclared } from '../../src/diff.js';
import { PHASE } from './phases.js';
import { itemsOnly, type Change, type Drift, type ResourceKind } from '../../src/engine.js';
import { quoteIdent } from './quote.js';
import { SYSTEM_SCHEMAS, type DatabaseSpec } from './spec.js';
import type { MysqlContext, MysqlSession } from './session.js';

export interface DatabaseState {
  name: string;
  charset: string;
  collation: string;
}

const KIND = 'mysql.database';

export const databases: ResourceKind<DatabaseSpec, DatabaseState, MysqlSession, MysqlContext> = {
  kind: KIND,
  // Carried by replication: made on the primary only.
  replicated: true,

  desired(ctx) {
    const c = ctx.cluster;
    return new Map(c.databases.map((d) => [d.name, d]));
  },

  async observe(session) {
    const rows = await session.query<{ n: string; cs: string; co: string }>(
      'SELECT SCHEMA_NAME AS n, DEFAULT_CHARACTER_SET_NAME AS cs, DEFAULT_COLLATION_NAME AS co FROM information_schema.SCHEMATA',
    );
    const out = new Map<string, DatabaseState>();
    for (const r of rows) {
      if (SYSTEM_SCHEMAS.has(r.n.toLowerCase())) continue;
      out.set(r.n, { name: r.n, charset: r.cs, collation: r.co });
    }
    return itemsOnly(out);
  },

  diff(desired, { items: observed }, ctx) {
    const drift: Drift[] = [];
    for (const [id, d] of desired) {
      const o = observed.get(id);
      if (o === undefined) {
        drift.push({ kind: KIND, id, field: 'present', desired: true, observed: false });
        continue;
      }
      if (d.charset !== undefined && charsetName(d.charset) !== charsetName(o.charset)) {
        drift.push({ kind: KIND, id, field: 'charset', desired: d.charset, observed: o.charset });
      }
      if (d.collation !== undefined && charsetName(d.collation) !== charsetName(o.collation)) {
        drift.push({ kind: KIND, id, field: 'collation', desired: d.collation, observed: o.collation });
      }
    }
    drift.push(...undeclared(KIND, 'databases', desired, observed, ctx));
    return drift;
  },

  plan(drift, desired) {
    const changes: Change[] = [];
    const altered = new Set<string>();
    for (const d of drift) {
      const q = quoteIdent(d.id);
      if (d.field === 'present') {
        const spec = desired.get(d.id);
        const { sql, params } = options(spec);
        changes.push({
          kind: KIND,
          id: d.id,
          action: 'create',
          risk: 'safe',
          phase: PHASE.databases,
          summary: `create database ${d.id}${describe(spec)}`,
          statements: [{ sql: `CREATE DATABASE ${q}${sql}`, params }],
        });
      } else if (d.field === 'absent') {
        changes.push({
          kind: KIND,
          id: d.id,
          action: 'drop',
          risk: 'destructive',
          phase: PHASE.dropDatabases,
          prune: 'databases',
          summary: `drop undeclared database ${d.id} and all its tables`,
          statements: [{ sql: `DROP DATABASE ${q}` }],
        });
      } else if (!altered.has(d.id)) {
        altered.add(d.id);
        const spec = desired.get(d.id);
        const { sql, params } = options(spec);
        changes.push({
          kind: KIND,
          id: d.id,
          action: 'alter',
          risk: 'safe',
          phase: PHASE.databases,
          summary: `set database ${d.id} defaults to${describe(spec)} (existing tables keep theirs)`,
          statements: [{ sql: `ALTER DATABASE ${q}${sql}`, params }],
        });
      }
    }
    return changes;
  },
};

/**
 * A character set or collation name as servers compare it: MySQL 8.0.30+ and MariaDB 10.6+ report
 * utf8 as utf8mb3 (and utf8_general_ci as utf8mb3_general_ci).
 */
export function charsetName(name: string): string {
  const n = name.toLowerCase();
  return n === 'utf8' ? 'utf8mb3' : n.startsWith('utf8_') ? `utf8mb3_${n.slice(5)}` : n;
}

function options(spec: DatabaseSpec | undefined): { sql: string; params: string[] } {
  let sql = '';
  const params: string[] = [];
  if (spec?.charset !== undefined) {
    sql += ' CHARACTER SET ?';
    params.push(spec.charset);
  }
  if (spec?.collation !== undefined) {
    sql += ' COLLATE ?';
    params.push(spec.collation);
  }
  return { sql, params };
}

function describe(spec: DatabaseSpec | undefined): string {
  const parts: string[] = [];
  if (spec?.charset !== undefined) parts.push(`charset ${spec.charset}`);
  if (spec?.collation !== undefined) parts.push(`collation ${spec.collation}`);
  return parts.length === 0 ? '' : ` (${parts.join(', ')})`;
}
