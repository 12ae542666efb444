/**
 * mysql.role: roles (MariaDB 10.0.5+, MySQL 8). Created with CREATE ROLE; an undeclared one is dropped
 * only with `prune: { users: true }` and only when the file declares `roles` at all. Their privileges are the grants kind's (a role is a grantee), the roles
 * granted to them and to users the role-grants kind's.
 */
import { undeclared } from '../../src/diff.js';
import { itemsOnly, type Change, type Drift, type ResourceKind } from '../../src/engine.js';
import { PHASE } from './phases.js';
import { quoteGrantee, roleHost } from './quote.js';
import { atLeast, type Flavor, type MysqlContext, type MysqlSession } from './session.js';
import type { RoleSpec } from './spec.js';

export interface RoleState {
  name: string;
}

const KIND = 'mysql.role';

/** Whether this server has roles: MariaDB 10.0.5+ and MySQL 8. */
export function hasRoles(f: Flavor): boolean {
  return f.kind === 'mariadb'
    ? atLeast(f, 10, 1) || (f.major === 10 && f.minor === 0 && f.patch >= 5)
    : atLeast(f, 8, 0);
}

/**
 * The roles query. MariaDB marks roles (is_role, Host ''); MySQL 8 keeps them as locked, expired
 * accounts without a password (the ones setpoint manages have the host '%').
 */
export function rolesQuery(f: Flavor): string {
  return f.kind === 'mariadb'
    ? "SELECT User AS u FROM mysql.user WHERE is_role = 'Y'"
    : "SELECT User AS u FROM mysql.user WHERE Host = '%' AND account_locked = 'Y' AND password_expired = 'Y' AND authentication_string = ''";
}

/** CREATE ROLE / DROP ROLE as this flavor writes them. */
export function roleStatement(verb: 'CREATE' | 'DROP', name: string, f: Flavor): string {
  const mariadb = f.kind === 'mariadb';
  return `${verb} ROLE ${quoteGrantee(name, roleHost(mariadb), mariadb)}`;
}

export const roles: ResourceKind<RoleSpec, RoleState, MysqlSession, MysqlContext> = {
  kind: KIND,
  replicated: true,

  desired(ctx) {
    return new Map(ctx.cluster.roles.map((r) => [r.name, r]));
  },

  async observe(session, ctx) {
    const out = new Map<string, RoleState>();
    // A file that declares no roles leaves the server's roles alone (and costs no query).
    if (!hasRoles(session.flavor) || ctx.cluster.roles.length === 0) return itemsOnly(out);
    for (const r of await session.query<{ u: string }>(rolesQuery(session.flavor))) out.set(r.u, { name: r.u });
    return itemsOnly(out);
  },

  diff(desired, { items: observed }, ctx) {
    const drift: Drift[] = [];
    for (const [id] of desired)
      if (!observed.has(id)) drift.push({ kind: KIND, id, field: 'present', desired: true, observed: false });
    drift.push(...undeclared(KIND, 'users', desired, observed, ctx));
    return drift;
  },

  plan(drift, _desired, _observed, ctx) {
    const f = ctx.facts.flavor;
    const changes: Change[] = [];
    for (const d of drift) {
      if (d.field === 'present')
        changes.push({
          kind: KIND,
          id: d.id,
          action: 'create',
          risk: 'safe',
          phase: PHASE.roles,
          summary: `create role ${d.id}`,
          statements: [{ sql: roleStatement('CREATE', d.id, f) }],
          ...(hasRoles(f)
            ? {}
            : { blocked: `this server (${f.version}) has no roles: MariaDB 10.0.5 or MySQL 8.0 needed` }),
        });
      else if (d.field === 'absent')
        changes.push({
          kind: KIND,
          id: d.id,
          action: 'drop',
          risk: 'destructive',
          phase: PHASE.dropUsers,
          prune: 'users',
          summary: `drop undeclared role ${d.id}`,
          statements: [{ sql: roleStatement('DROP', d.id, f) }],
        });
    }
    return changes;
  },
};
