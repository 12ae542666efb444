/**
 * mysql.roleGrant: the roles granted to a declared user or role (GRANT role TO grantee) and a
 * user's default roles (SET DEFAULT ROLE). A grantee whose `roles` list is declared has at least
 * those roles (exactly those with `prune: { grants: true }`); `defaultRoles` is exact.
 */
import type { Change, Drift, ResourceKind } from '../../src/engine.js';
import { itemsOnly } from '../../src/engine.js';
import { PHASE } from './phases.js';
import { accountId, quoteGrantee, roleHost } from './quote.js';
import { hasRoles, roles as roleKind } from './roles.js';
import type { Flavor, MysqlContext, MysqlSession } from './session.js';
import { isProtected } from './users.js';

/** What the file declares for one grantee (a user, or a role with the host roles have on this flavor). */
export interface RoleGrantWant {
  user: string;
  host: string;
  /** Roles granted to it; undefined: not managed. */
  roles?: string[];
  /** Its default roles; undefined: not managed. */
  defaultRoles?: string[];
}

export interface RoleGrantState {
  user: string;
  host: string;
  roles: string[];
  defaultRoles: string[];
}

const KIND = 'mysql.roleGrant';

/**
 * The query for role grants (k M) and default roles (k D): MariaDB's mysql.roles_mapping and
 * mysql.user.default_role, MySQL 8's mysql.role_edges and mysql.default_roles.
 */
export function roleGrantsQuery(f: Flavor): string {
  return f.kind === 'mariadb'
    ? "SELECT 'M' AS k, User AS u, Host AS h, Role AS r FROM mysql.roles_mapping " +
        "UNION ALL SELECT 'D', User, Host, default_role FROM mysql.user WHERE default_role <> ''"
    : "SELECT 'M' AS k, TO_USER AS u, TO_HOST AS h, FROM_USER AS r FROM mysql.role_edges WHERE FROM_HOST = '%' " +
        "UNION ALL SELECT 'D', USER, HOST, DEFAULT_ROLE_USER FROM mysql.default_roles WHERE DEFAULT_ROLE_HOST = '%'";
}

/** The statements that grant, revoke and set default roles on this flavor (MariaDB: one role per GRANT, one default role). */
export function roleGrantSql(
  f: Flavor,
  op: 'grant' | 'revoke' | 'default',
  grantee: { user: string; host: string },
  roleNames: string[],
): string[] {
  const mariadb = f.kind === 'mariadb';
  const who = quoteGrantee(grantee.user, grantee.host, mariadb);
  const role = (r: string) => quoteGrantee(r, roleHost(mariadb), mariadb);
  if (op === 'grant') return roleNames.map((r) => `GRANT ${role(r)} TO ${who}`);
  if (op === 'revoke') return roleNames.map((r) => `REVOKE ${role(r)} FROM ${who}`);
  const list = roleNames.length === 0 ? 'NONE' : roleNames.map(role).join(', ');
  return [mariadb ? `SET DEFAULT ROLE ${list} FOR ${who}` : `SET DEFAULT ROLE ${list} TO ${who}`];
}

const sortedList = (xs: Iterable<string>) => [...new Set(xs)].sort();

export const roleGrants: ResourceKind<RoleGrantWant, RoleGrantState, MysqlSession, MysqlContext> = {
  kind: KIND,
  replicated: true,
  needs: [roleKind],

  desired(ctx) {
    const c = ctx.cluster;
    const out = new Map<string, RoleGrantWant>();
    const host = roleHost(ctx.facts.flavor.kind === 'mariadb');
    for (const r of c.roles)
      if (r.roles !== undefined) out.set(accountId(r.name, host), { user: r.name, host, roles: sortedList(r.roles) });
    for (const u of c.users) {
      if (u.roles === undefined && u.defaultRoles === undefined) continue;
      out.set(accountId(u.name, u.host), {
        user: u.name,
        host: u.host,
        ...(u.roles === undefined ? {} : { roles: sortedList(u.roles) }),
        ...(u.defaultRoles === undefined ? {} : { defaultRoles: sortedList(u.defaultRoles) }),
      });
    }
    return out;
  },

  async observe(session, ctx) {
    const out = new Map<string, RoleGrantState>();
    if (!hasRoles(session.flavor) || this.desired(ctx).size === 0) return itemsOnly(out);
    const rows = await session.query<{ k: string; u: string; h: string; r: string }>(roleGrantsQuery(session.flavor));
    for (const row of rows) {
      // The account setpoint logs in as holds every role it created (MariaDB): never touched.
      if (isProtected(row.u, row.h, ctx.facts)) continue;
      const id = accountId(row.u, row.h);
      let s = out.get(id);
      if (s === undefined) {
        s = { user: row.u, host: row.h, roles: [], defaultRoles: [] };
        out.set(id, s);
      }
      (row.k === 'M' ? s.roles : s.defaultRoles).push(row.r);
    }
    for (const s of out.values()) {
      s.roles = sortedList(s.roles);
      s.defaultRoles = sortedList(s.defaultRoles);
    }
    return itemsOnly(out);
  },

  diff(desired, { items: observed }, ctx) {
    const drift: Drift[] = [];
    for (const [id, want] of desired) {
      if (isProtected(want.user, want.host, ctx.facts)) continue;
      const have = observed.get(id);
      const haveRoles = have?.roles ?? [];
      if (want.roles !== undefined) {
        const missing = want.roles.some((r) => !haveRoles.includes(r));
        const extra = ctx.prune('grants') && haveRoles.some((r) => !want.roles?.includes(r));
        if (missing || extra) drift.push({ kind: KIND, id, field: 'roles', desired: want.roles, observed: haveRoles });
      }
      const haveDefault = have?.defaultRoles ?? [];
      if (want.defaultRoles !== undefined && want.defaultRoles.join('\0') !== haveDefault.join('\0'))
        drift.push({ kind: KIND, id, field: 'defaultRoles', desired: want.defaultRoles, observed: haveDefault });
    }
    return drift;
  },

  plan(drift, desired, { items: observed }, ctx) {
    const f = ctx.facts.flavor;
    const known = new Set([
      ...ctx.cluster.roles.map((r) => r.name),
      ...(ctx.observation(roleKind)?.items.keys() ?? []),
    ]);
    const changes: Change[] = [];
    for (const d of drift) {
      const want = desired.get(d.id);
      if (want === undefined) continue;
      const haveRoles = observed.get(d.id)?.roles ?? [];
      const grantee = { user: want.user, host: want.host };
      if (d.field === 'roles' && want.roles !== undefined) {
        const missing = want.roles.filter((r) => !haveRoles.includes(r));
        const extra = haveRoles.filter((r) => !want.roles?.includes(r));
        const unknown = missing.filter((r) => !known.has(r));
        if (missing.length > 0)
          changes.push({
            kind: KIND,
            id: d.id,
            action: 'grant',
            risk: 'safe',
            phase: PHASE.roleGrants,
            summary: `grant role ${missing.join(', ')} to ${d.id}`,
            statements: roleGrantSql(f, 'grant', grantee, missing).map((sql) => ({ sql })),
            ...(unknown.length === 0
              ? {}
              : { blocked: `role ${unknown.join(', ')} does not exist (declare it under roles)` }),
          });
        if (extra.length > 0 && ctx.prune('grants'))
          changes.push({
            kind: KIND,
            id: d.id,
            action: 'revoke',
            risk: 'destructive',
            phase: PHASE.revokeGrants,
            prune: 'grants',
            summary: `revoke role ${extra.join(', ')} from ${d.id} (not declared)`,
            statements: roleGrantSql(f, 'revoke', grantee, extra).map((sql) => ({ sql })),
          });
      }
      if (d.field === 'defaultRoles' && want.defaultRoles !== undefined) {
        const many = f.kind === 'mariadb' && want.defaultRoles.length > 1;
        changes.push({
          kind: KIND,
          id: d.id,
          action: 'alter',
          risk: 'safe',
          phase: PHASE.defaultRoles,
          summary: `set default role ${want.defaultRoles.length === 0 ? 'NONE' : want.defaultRoles.join(', ')} for ${d.id}`,
          statements: roleGrantSql(f, 'default', grantee, want.defaultRoles).map((sql) => ({ sql })),
          ...(many
            ? { blocked: 'MariaDB has one default role per user: declare one', needsHuman: 'SettingRejected' }
            : {}),
        });
      }
    }
    return changes;
  },
};
