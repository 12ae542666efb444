/** The mysql engine's part of the desired-state file: `hosts.<h>.mysql` and the cluster keys. */
import { z } from 'zod';
import { secretRef } from '../../src/spec/schema.js';
import type { ClusterBase } from '../../src/spec/types.js';
import {
  ALL,
  GRANT_OPTION,
  normalizePrivilege,
  parseColumnPrivilege,
  privilegeNameProblem,
  ROUTINE_PRIVILEGES,
} from './privilege-names.js';
import { parseGrantTarget, quoteIdent } from './quote.js';

/** Schemas setpoint never creates, alters or drops. */
export const SYSTEM_SCHEMAS = new Set(['mysql', 'sys', 'performance_schema', 'information_schema']);
/** Accounts setpoint never creates, alters or drops, whatever their host. */
export const SYSTEM_USERS = new Set([
  'root',
  'mysql.sys',
  'mariadb.sys',
  'mysql.session',
  'mysql.infoschema',
  'mysql',
  'debian-sys-maint',
  'PUBLIC',
]);

const name = (what: string, max: number) =>
  z
    .string()
    .min(1, `${what} must not be empty`)
    .max(max, `${what} is longer than ${max} characters`)
    .refine((s) => !s.includes('\0'), `${what} must not contain a NUL byte`);

export const connectionSchema = z.strictObject({
  port: z.number().int().min(1).max(65535).default(3306),
  user: name('user', 80).default('root'),
  password: secretRef.optional(),
});

const identifier = z.string().regex(/^[A-Za-z0-9_]+$/, 'expected a name of letters, digits and _');

export const databaseSchema = z.strictObject({
  name: name('database name', 64)
    .refine((s) => !/\s$/.test(s), 'a database name must not end with a space')
    .refine((s) => !SYSTEM_SCHEMAS.has(s.toLowerCase()), 'a system schema is never managed'),
  charset: identifier.optional(),
  collation: identifier.optional(),
});

const privilege = z
  .string()
  .min(1)
  .transform((p, ctx) => {
    // SELECT (a, b): privileges on columns, kept as `SELECT (`a`, `b`)` (the columns quoted, to be read back exactly).
    const col = parseColumnPrivilege(p);
    if (typeof col === 'string') {
      ctx.addIssue({ code: 'custom', message: col });
      return z.NEVER;
    }
    if (col !== undefined) return `${col.privilege} (${col.columns.map(quoteIdent).join(', ')})`;
    const n = normalizePrivilege(p);
    const problem = n === undefined ? `"${p}" is not a privilege name` : privilegeNameProblem(p, n);
    if (n === undefined || problem !== undefined) {
      ctx.addIssue({ code: 'custom', message: problem ?? `"${p}" is not a privilege name` });
      return z.NEVER;
    }
    return n;
  });

export const grantSchema = z
  .strictObject({
    privileges: z.array(privilege).min(1, 'list at least one privilege (USAGE for none)'),
    on: z.string().transform((s, ctx) => {
      const t = parseGrantTarget(s);
      if (typeof t === 'string') {
        ctx.addIssue({ code: 'custom', message: t });
        return z.NEVER;
      }
      if (
        t.level !== 'global' &&
        (t.database.includes('\0') ||
          (t.level === 'table' && t.table.includes('\0')) ||
          (t.level === 'routine' && t.name.includes('\0')))
      ) {
        ctx.addIssue({ code: 'custom', message: 'a name must not contain a NUL byte' });
        return z.NEVER;
      }
      return t;
    }),
    grantOption: z.boolean().optional(),
  })
  .superRefine((g, ctx) => {
    // Privileges that cannot apply to the object are refused here, located, not by the server every pass.
    g.privileges.forEach((p, i) => {
      const column = p.endsWith(')');
      if (g.on.level === 'routine') {
        if (column || ![...ROUTINE_PRIVILEGES, GRANT_OPTION, ALL, 'USAGE'].includes(p))
          ctx.addIssue({
            code: 'custom',
            path: ['privileges', i],
            message: `${p} does not apply to a ${g.on.routine.toLowerCase()}: a routine grant holds ${ROUTINE_PRIVILEGES.join(', ')} (and grantOption)`,
          });
      } else if (column && g.on.level !== 'table')
        ctx.addIssue({
          code: 'custom',
          path: ['privileges', i],
          message: `${p}: a column privilege is on one table (on: "db.table")`,
        });
    });
  });

/** A role's name as a grant or a user names it. */
const roleName = name('role name', 80).refine(
  (s) => !SYSTEM_USERS.has(s) && s.toUpperCase() !== 'NONE',
  'a system account (or NONE) is never a managed role',
);

/** `roles[]`: a role (CREATE ROLE), its grants, and the roles granted to it. */
export const roleSchema = z.strictObject({
  name: roleName,
  /** Its privileges, as a user's; omitted: not managed. */
  grants: z.array(grantSchema).optional(),
  /** Roles granted to this role; omitted: not managed. */
  roles: z.array(roleName).optional(),
});

/** A password as the server stores it: mysql_native_password `*` + 40 hex digits, or caching_sha2_password `$A$005$` + salt and hash (MySQL 8). */
export const passwordHashSchema = z
  .string()
  .refine(
    (h) => /^\*[0-9A-Fa-f]{40}$/.test(h) || /^\$A\$[0-9A-Fa-f]{3}\$[^\0]{63}$/s.test(h),
    'expected a stored password hash: "*" and 40 hex digits (mysql_native_password) or "$A$005$..." of 70 characters (caching_sha2_password)',
  );

/** The plugin a stored hash belongs to. */
export function hashPlugin(hash: string): 'mysql_native_password' | 'caching_sha2_password' {
  return hash.startsWith('*') ? 'mysql_native_password' : 'caching_sha2_password';
}

/** `tls`: none, ssl, x509, or the certificate's subject / issuer and the cipher required (REQUIRE SUBJECT ... AND ISSUER ... AND CIPHER ...). */
export const tlsSchema = z.union([
  z.enum(['none', 'ssl', 'x509']),
  z
    .strictObject({
      subject: z.string().min(1).optional(),
      issuer: z.string().min(1).optional(),
      cipher: z.string().min(1).optional(),
    })
    .refine((t) => t.subject !== undefined || t.issuer !== undefined || t.cipher !== undefined, {
      message: 'name at least one of subject, issuer, cipher',
    }),
]);

export const PLUGINS = ['mysql_native_password', 'caching_sha2_password', 'unix_socket', 'auth_socket'] as const;

export const userSchema = z
  .strictObject({
    name: name('user name', 80).refine((s) => !SYSTEM_USERS.has(s), 'a system account is never managed'),
    host: name('host', 255).default('%'),
    password: secretRef.optional(),
    /** The password as the server stores it, instead of `password`: the file never holds the plaintext. */
    passwordHash: passwordHashSchema.optional(),
    plugin: z.enum(PLUGINS).optional(),
    locked: z.boolean().optional(),
    maxConnections: z.number().int().min(0).optional(),
    maxQueriesPerHour: z.number().int().min(0).optional(),
    maxUpdatesPerHour: z.number().int().min(0).optional(),
    maxConnectionsPerHour: z.number().int().min(0).optional(),
    tls: tlsSchema.optional(),
    /** Days a password lasts (PASSWORD EXPIRE INTERVAL n DAY), `never`, or `default` (the server's default_password_lifetime). */
    passwordLifetime: z.union([z.number().int().min(1).max(65535), z.enum(['never', 'default'])]).optional(),
    /** MariaDB: seconds a statement of this user may run (WITH MAX_STATEMENT_TIME); 0 for no limit. */
    maxStatementTime: z.number().min(0).max(31536000).optional(),
    grants: z.array(grantSchema).optional(),
    /** Roles granted to the user (GRANT role TO user); omitted: not managed. */
    roles: z.array(roleName).optional(),
    /** The roles active at login (SET DEFAULT ROLE); [] for none; omitted: not managed. MariaDB takes one. */
    defaultRoles: z.array(roleName).optional(),
  })
  .refine(
    (u) =>
      u.password !== undefined ||
      u.passwordHash !== undefined ||
      u.plugin === 'unix_socket' ||
      u.plugin === 'auth_socket',
    'a user needs a password or passwordHash (or plugin: unix_socket / auth_socket)',
  )
  .refine((u) => !(u.password !== undefined && u.passwordHash !== undefined), {
    message: 'declare password or passwordHash, not both',
    path: ['passwordHash'],
  })
  .refine((u) => u.passwordHash === undefined || u.plugin === undefined || u.plugin === hashPlugin(u.passwordHash), {
    message: 'this hash belongs to another plugin: "*..." is mysql_native_password, "$A$..." caching_sha2_password',
    path: ['passwordHash'],
  })
  .refine(
    (u) =>
      !(
        (u.password !== undefined || u.passwordHash !== undefined) &&
        (u.plugin === 'unix_socket' || u.plugin === 'auth_socket')
      ),
    {
      message: 'a user that logs in by socket has no password: drop password, or choose a password plugin',
      path: ['password'],
    },
  );

/** A server setting's value as written in the file: 500, "256M", true, "ON", "ROW". */
export const settingValue = z.union([
  z
    .string()
    .max(4096)
    .refine((v) => !/[\0\n\r]/.test(v), 'a setting value must be one line'),
  z.number(),
  z.boolean(),
]);

export const configFileSchema = z.strictObject({
  path: z.string().regex(/^\/[^\0\n]*[^/]$/, 'expected an absolute file path'),
  mode: z
    .string()
    .regex(/^0?[0-7]{3}$/, 'expected an octal mode like "0644" (quote it)')
    .default('0644'),
  owner: z
    .string()
    .regex(/^[a-z_][a-z0-9_-]*$/i, 'expected a user name')
    .optional(),
  group: z
    .string()
    .regex(/^[a-z_][a-z0-9_-]*$/i, 'expected a group name')
    .optional(),
  /** Write through the path when it is a symbolic link. Defaults to false: a link there is refused. */
  followSymlink: z.boolean().optional(),
});

/** `replication:`: the topology, managed by the cluster-level pass (agents/mysql/replication.ts). */
export const replicationSchema = z.strictObject({
  /** The member that is the primary; changing it is a planned switchover. */
  primary: z.string().min(1),
  /** The replication account, created on the primary (and so, by replication, on every member). */
  user: name('replication user', 80).refine((s) => !SYSTEM_USERS.has(s), 'a system account is never managed'),
  /** The account's host pattern. Defaults to "%". */
  host: name('host', 255).default('%'),
  password: secretRef,
  /** A replica further behind than this is Degraded and is never promoted. Defaults to 30. */
  maxLagSeconds: z.number().positive().max(86400).default(30),
  /** MASTER_SSL / SOURCE_SSL on the replicas' connections. Defaults to false. */
  ssl: z.boolean().default(false),
  /** How long a switchover waits for the candidate to apply every transaction of the old primary. Defaults to 60. */
  catchUpSeconds: z.number().positive().max(3600).default(60),
  /**
   * How long seeding an empty member from a dump of the primary may take (over SSH: the dump streams
   * from the primary's host through setpoint into the member's). Defaults to 3600.
   */
  seedTimeoutSeconds: z
    .number()
    .positive()
    .max(7 * 86400)
    .default(3600),
});

export const clusterShape = {
  /** The replication topology: who is primary, and the account replicas connect with. */
  replication: replicationSchema.optional(),
  databases: z.array(databaseSchema).default([]),
  users: z.array(userSchema).default([]),
  /** Roles (MariaDB 10.0.5+, MySQL 8): created, granted privileges and other roles. */
  roles: z.array(roleSchema).default([]),
  /** Server variables, e.g. { max_connections: 500, innodb_buffer_pool_size: 256M }. */
  settings: z
    .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'expected a server variable name'), settingValue)
    .default({}),
  /** The config fragment settings are written to, so they survive a restart (and static ones take effect). */
  configFile: configFileSchema.optional(),
};

export type DatabaseSpec = z.infer<typeof databaseSchema>;
export type UserSpec = z.infer<typeof userSchema>;
export type GrantSpec = z.infer<typeof grantSchema>;
export type RoleSpec = z.infer<typeof roleSchema>;
export type ConfigFileSpec = z.infer<typeof configFileSchema>;
export type ReplicationSpec = z.infer<typeof replicationSchema>;
/** A mysql cluster as validated: the common keys and this engine's, defaults applied (inferred from the zod shape). */
export type MysqlCluster = ClusterBase & z.infer<z.ZodObject<typeof clusterShape>>;

/**
 * The accounts a cluster declares: its `users`, and the replication account when it declares
 * `replication` (REPLICATION SLAVE on *.*, made on the primary and carried to every member).
 */
export function declaredUsers(c: MysqlCluster): UserSpec[] {
  const r = c.replication;
  if (r === undefined) return c.users;
  const grant: GrantSpec = {
    privileges: [normalizePrivilege('REPLICATION SLAVE') ?? 'REPLICATION SLAVE'],
    on: { level: 'global' },
  };
  return [...c.users, { name: r.user, host: r.host, password: r.password, grants: [grant] }];
}

/** Settings the replication pass owns (declaring them as well would make two writers fight). */
const TOPOLOGY_SETTINGS = new Set(['read_only', 'super_read_only', 'gtid_slave_pos']);

/** Duplicate names and accounts are errors: which one would win is not obvious. */
export function checkCluster(
  cluster: Record<string, unknown>,
  report: (path: (string | number)[], message: string) => void,
): void {
  const c = cluster as unknown as MysqlCluster;
  if (c.replication !== undefined) {
    if (!c.members.includes(c.replication.primary))
      report(
        ['replication', 'primary'],
        `"${c.replication.primary}" is not a member of this cluster (members: ${c.members.join(', ')})`,
      );
    for (const k of Object.keys(c.settings))
      if (TOPOLOGY_SETTINGS.has(k.toLowerCase()))
        report(
          ['settings', k],
          `${k} is set by the replication pass (the primary writable, replicas read-only): leave it out`,
        );
  }
  const dbs = new Map<string, number>();
  c.databases.forEach((d, i) => {
    const prev = dbs.get(d.name);
    if (prev !== undefined)
      report(['databases', i, 'name'], `database "${d.name}" is already declared at databases[${prev}]`);
    else dbs.set(d.name, i);
  });
  const roles = new Map<string, number>();
  c.roles.forEach((r, i) => {
    const prev = roles.get(r.name);
    if (prev !== undefined) report(['roles', i, 'name'], `role "${r.name}" is already declared at roles[${prev}]`);
    else roles.set(r.name, i);
    if (r.roles?.includes(r.name) === true)
      report(['roles', i, 'roles', r.roles.indexOf(r.name)], `role "${r.name}" cannot be granted to itself`);
  });
  const users = new Map<string, number>();
  c.users.forEach((u, i) => {
    // A default role must be granted to the user: the server refuses it otherwise.
    (u.defaultRoles ?? []).forEach((r, j) => {
      if (u.roles !== undefined && !u.roles.includes(r))
        report(
          ['users', i, 'defaultRoles', j],
          `"${r}" is not among this user's roles (${u.roles.join(', ') || 'none'}): grant it first`,
        );
    });
    const key = `${u.name}\0${u.host.toLowerCase()}`;
    const prev = users.get(key);
    if (prev !== undefined) report(['users', i], `user '${u.name}'@'${u.host}' is already declared at users[${prev}]`);
    else users.set(key, i);
    if (
      c.replication !== undefined &&
      u.name === c.replication.user &&
      u.host.toLowerCase() === c.replication.host.toLowerCase()
    )
      report(
        ['users', i],
        `user '${u.name}'@'${u.host}' is the replication account: declare it only under replication`,
      );
    const targets = new Map<string, number>();
    (u.grants ?? []).forEach((g, j) => {
      const k = JSON.stringify(g.on);
      const p = targets.get(k);
      if (p !== undefined)
        report(['users', i, 'grants', j, 'on'], `grants[${p}] of this user is on the same object: merge them`);
      else targets.set(k, j);
    });
  });
}
