/**
 * postgres.role_setting: what a role's sessions start with (ALTER ROLE r [IN DATABASE d] SET), read
 * from pg_db_role_setting in one query (a shared catalog: the admin connection sees every database's).
 * Values are compared in the server's units, as server settings are. Only the (role, database) pairs
 * the file declares are managed: a setting there that is not declared is removed (RESET) only when
 * prune allows `users`.
 */
import { undeclared } from '../../src/diff.js';
import { PHASE } from './phases.js';
import type { Change, Drift, Observation, ResourceKind } from '../../src/engine.js';
import { databases } from './databases.js';
import { roles, isProtectedRole } from './roles.js';
import { nameId, quoteIdent } from './quote.js';
import { LIST_SETTINGS, listElements, normalizeSetting, type SettingMeta } from './settings.js';
import { declaredRoles, type SettingValue } from './spec.js';
import type { PgContext, PgFacts, PgSession } from './session.js';

export interface RoleSettingDecl {
  role: string;
  /** Empty for every database (ALTER ROLE ... SET). */
  database: string;
  name: string;
  value: SettingValue;
}

export interface RoleSettingState {
  role: string;
  database: string;
  name: string;
  /** As pg_db_role_setting stores it. */
  value: string;
}

const KIND = 'postgres.role_setting';

/** `app: work_mem`, `app in ledger: work_mem`. */
export function roleSettingId(role: string, database: string, name: string): string {
  return `${nameId(role)}${database === '' ? '' : ` in ${nameId(database)}`}: ${name}`;
}

/** What the observation learns beside the settings: each declared name's type and unit, and the pairs the file manages. */
export interface RoleSettingsExtra {
  meta: Map<string, SettingMeta>;
}

/** A row of pg_db_role_setting: role, database ('' for all), setconfig. */
export interface RoleSettingRow {
  r: string;
  d: string;
  c: string[];
}

/** The declarations of a cluster, one per (role, database, name). */
export function roleSettingDecls(c: PgContext['cluster']): RoleSettingDecl[] {
  const out: RoleSettingDecl[] = [];
  for (const r of declaredRoles(c)) {
    for (const [name, value] of Object.entries(r.settings ?? {})) out.push({ role: r.name, database: '', name, value });
    for (const [database, set] of Object.entries(r.settingsInDatabase ?? {}))
      for (const [name, value] of Object.entries(set)) out.push({ role: r.name, database, name, value });
  }
  return out;
}

/** The (role, database) pairs the file manages: a role's `settings`, each database of its `settingsInDatabase`. */
function managedPairs(c: PgContext['cluster'], facts: Pick<PgFacts, 'currentUser' | 'bootstrapUser'>): Set<string> {
  const out = new Set<string>();
  for (const r of declaredRoles(c)) {
    if (isProtectedRole(r.name, facts)) continue;
    if (r.settings !== undefined) out.add(`${r.name}\0`);
    for (const d of Object.keys(r.settingsInDatabase ?? {})) out.add(`${r.name}\0${d}`);
  }
  return out;
}

/** The observation from the rows (pure): only pairs the file manages. */
export function roleSettingsFrom(
  rows: RoleSettingRow[],
  metaRows: { n: string; t: string; u: string | null }[],
  managed: ReadonlySet<string>,
): Observation<RoleSettingState, RoleSettingsExtra> {
  const items = new Map<string, RoleSettingState>();
  for (const row of rows) {
    if (!managed.has(`${row.r}\0${row.d}`)) continue;
    for (const entry of row.c) {
      const eq = entry.indexOf('=');
      if (eq <= 0) continue;
      const name = entry.slice(0, eq).toLowerCase();
      items.set(roleSettingId(row.r, row.d, name), {
        role: row.r,
        database: row.d,
        name,
        value: entry.slice(eq + 1),
      });
    }
  }
  const meta = new Map<string, SettingMeta>();
  for (const m of metaRows) {
    const list = LIST_SETTINGS.get(m.n);
    meta.set(m.n, { vartype: m.t, unit: m.u, ...(list === undefined ? {} : { list }) });
  }
  return { items, extra: { meta } };
}

function shown(v: SettingValue): string {
  return Array.isArray(v) ? v.join(', ') : typeof v === 'boolean' ? (v ? 'on' : 'off') : String(v);
}

/** The declared and stored values as the server means them; a setting the server does not know (app.tenant) compares as text. */
function compare(value: SettingValue, stored: string | undefined, meta: SettingMeta | undefined) {
  if (meta === undefined) return { want: shown(value), have: stored };
  return {
    want: normalizeSetting(value, meta),
    have: stored === undefined ? undefined : normalizeSetting(stored, meta),
  };
}

export const roleSettings: ResourceKind<RoleSettingDecl, RoleSettingState, PgSession, PgContext, RoleSettingsExtra> = {
  kind: KIND,
  // pg_db_role_setting is carried by WAL: made on the primary only.
  replicated: true,
  needs: [roles, databases],

  desired(ctx) {
    const facts = ctx.facts;
    return new Map(
      roleSettingDecls(ctx.cluster)
        .filter((d) => !isProtectedRole(d.role, facts))
        .map((d) => [roleSettingId(d.role, d.database, d.name), d]),
    );
  },

  async observe(session, ctx) {
    const managed = managedPairs(ctx.cluster, session.facts);
    if (managed.size === 0) return roleSettingsFrom([], [], managed);
    const names = [...new Set(roleSettingDecls(ctx.cluster).map((d) => d.name))];
    const rows = await session.query<RoleSettingRow>(
      "SELECT r.rolname AS r, coalesce(d.datname, '') AS d, s.setconfig AS c FROM pg_db_role_setting s " +
        'JOIN pg_roles r ON r.oid = s.setrole LEFT JOIN pg_database d ON d.oid = s.setdatabase',
    );
    const meta =
      names.length === 0
        ? []
        : await session.query<{ n: string; t: string; u: string | null }>(
            'SELECT lower(name) AS n, vartype AS t, unit AS u FROM pg_settings WHERE lower(name) = ANY($1::text[])',
            [names],
          );
    return roleSettingsFrom(rows, meta, managed);
  },

  diff(desired, { items: observed, extra: { meta } }, ctx) {
    const drift: Drift[] = [];
    for (const [id, d] of desired) {
      const o = observed.get(id);
      const m = meta.get(d.name);
      const { want, have } = compare(d.value, o?.value, m);
      if (want === undefined) {
        drift.push({
          kind: KIND,
          id,
          field: 'invalid',
          desired: shown(d.value),
          observed: `not a valid ${m?.vartype ?? 'value'}${m?.unit === null || m?.unit === undefined ? '' : ` in units of ${m.unit}`}`,
        });
        continue;
      }
      if (o === undefined)
        drift.push({ kind: KIND, id, field: 'present', desired: shown(d.value), observed: '(not set)' });
      else if (have !== want)
        drift.push({ kind: KIND, id, field: 'value', desired: shown(d.value), observed: o.value });
    }
    drift.push(...undeclared(KIND, 'users', desired, observed, ctx));
    return drift;
  },

  plan(drift, desired, { items: observed }, ctx) {
    const existingRoles = ctx.observation(roles)?.extra.all;
    const existingDbs = ctx.observation(databases)?.extra.all;
    const declaredDbs = new Set(ctx.cluster.databases.map((d) => d.name));
    const changes: Change[] = [];
    for (const d of drift) {
      const o = observed.get(d.id);
      if (d.field === 'absent' && o !== undefined) {
        changes.push({
          kind: KIND,
          id: d.id,
          action: 'reset',
          risk: 'destructive',
          phase: PHASE.resetRoleSettings,
          prune: 'users',
          summary: `remove the undeclared setting ${o.name} = ${o.value} of role ${nameId(o.role)}${o.database === '' ? '' : ` in database ${nameId(o.database)}`}`,
          statements: [{ sql: `${alterRole(o.role, o.database)} RESET ${settingSql(o.name)}` }],
        });
        continue;
      }
      const s = desired.get(d.id);
      if (s === undefined) continue;
      const where = s.database === '' ? '' : ` in database ${nameId(s.database)}`;
      const index = ctx.cluster.roles.findIndex((r) => r.name === s.role);
      const at =
        index === -1
          ? undefined
          : ['roles', index, ...(s.database === '' ? ['settings'] : ['settingsInDatabase', s.database]), s.name];
      if (d.field === 'invalid') {
        changes.push({
          kind: KIND,
          id: d.id,
          action: 'set',
          risk: 'safe',
          phase: PHASE.roleSettings,
          summary: `set ${s.name} to ${shown(s.value)} for role ${nameId(s.role)}${where}`,
          statements: [],
          ...(at === undefined ? {} : { at }),
          needsHuman: 'SettingRejected',
          blocked: `${shown(s.value)} is not a valid value for ${s.name} (${String(d.observed)})`,
        });
        continue;
      }
      const kind = LIST_SETTINGS.get(s.name);
      const list =
        (kind === undefined ? undefined : listElements(s.value, kind)) ??
        (Array.isArray(s.value) ? s.value : [shown(s.value)]);
      const blocked =
        existingDbs !== undefined && s.database !== '' && !existingDbs.has(s.database) && !declaredDbs.has(s.database)
          ? `database ${nameId(s.database)} does not exist`
          : existingRoles !== undefined &&
              !existingRoles.has(s.role) &&
              !declaredRoles(ctx.cluster).some((r) => r.name === s.role)
            ? `role ${nameId(s.role)} does not exist`
            : undefined;
      changes.push({
        kind: KIND,
        id: d.id,
        action: 'set',
        risk: 'safe',
        phase: PHASE.roleSettings,
        summary: `set ${s.name} to ${shown(s.value)} for role ${nameId(s.role)}${where}${d.field === 'value' ? ` (was ${String(d.observed)})` : ''}`,
        statements: [
          {
            sql: `${alterRole(s.role, s.database)} SET ${settingSql(s.name)} = ${list.map((_, i) => `$${i + 1}`).join(', ')}`,
            params: list,
          },
        ],
        ...(blocked === undefined ? {} : { blocked }),
      });
    }
    return changes;
  },
};

function alterRole(role: string, database: string): string {
  return `ALTER ROLE ${quoteIdent(role)}${database === '' ? '' : ` IN DATABASE ${quoteIdent(database)}`}`;
}

function settingSql(name: string): string {
  return name.split('.').map(quoteIdent).join('.');
}
