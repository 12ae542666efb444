/** The postgres engine's part of the desired-state file: `hosts.<h>.postgres` and the cluster keys. */
import { z } from 'zod';
import { secretRef } from '../../src/spec/schema.js';
import type { ClusterBase } from '../../src/spec/types.js';
import {
  DEFACL_TYPES,
  defaultOnType,
  knownPrivileges,
  normalizePrivilege,
  PUBLIC,
  type DefaultOn,
  type ObjectType,
} from './acl.js';
import { suggest } from '../../src/names.js';
import { parseScram } from './password.js';
import { parseQualifiedName } from './quote.js';

/** Databases whose existence setpoint never changes (template0 and template1 are never managed at all). */
export const TEMPLATE_DATABASES = new Set(['template0', 'template1']);
/** Schemas setpoint never creates, alters or drops: the catalogs (and every pg_* schema). */
export const SYSTEM_SCHEMAS = new Set(['pg_catalog', 'information_schema', 'pg_toast']);
/** True for a schema name that belongs to the system (pg_catalog, pg_toast, pg_temp_N...). */
export function isSystemSchema(name: string): boolean {
  return SYSTEM_SCHEMAS.has(name) || name.startsWith('pg_');
}

/** PostgreSQL truncates names past NAMEDATALEN-1 bytes: longer names would not read back the same. */
const MAX_NAME_BYTES = 63;

const name = (what: string) =>
  z
    .string()
    .min(1, `${what} must not be empty`)
    .refine((s) => !s.includes('\0'), `${what} must not contain a NUL byte`)
    .refine(
      (s) => Buffer.byteLength(s, 'utf8') <= MAX_NAME_BYTES,
      `${what} is longer than ${MAX_NAME_BYTES} bytes (PostgreSQL would truncate it)`,
    );

const roleName = name('role name')
  .refine((s) => !s.startsWith('pg_'), 'role names starting with "pg_" are reserved for built-in roles')
  .refine((s) => s !== 'public' && s !== 'none' && s !== PUBLIC, `"public" and "none" are reserved role names`);

/**
 * A role a grant or membership may name: any role, or PUBLIC where PUBLIC makes sense. `public` in
 * lower case is PUBLIC too, as PostgreSQL reads it (no role can be called "public").
 */
const granteeName = name('role name').transform((s) => (s === 'public' ? PUBLIC : s));

export const connectionSchema = z.strictObject({
  port: z.number().int().min(1).max(65535).default(5432),
  user: name('user').default('postgres'),
  database: name('database').default('postgres'),
  password: secretRef.optional(),
  /**
   * At most this many connections to other databases at any time (their catalogs: schemas,
   * extensions, object privileges), besides the admin one. Defaults to 4.
   */
  connections: z.number().int().min(1).max(64).default(4),
});

const membership = z.union([
  granteeName.transform((role) => ({ role, admin: false })),
  z.strictObject({ role: granteeName, admin: z.boolean().default(false) }),
]);

const timestamp = z
  .string()
  .refine(
    (s) => s.toLowerCase() === 'infinity' || !Number.isNaN(Date.parse(s)),
    'expected a time like 2027-01-01T00:00:00Z, or infinity',
  );

/**
 * A role's password as its stored verifier (a file then never holds the plaintext): SCRAM-SHA-256
 * (`SCRAM-SHA-256$4096:<salt>$<StoredKey>:<ServerKey>`, what pg_authid holds) or md5 (`md5` and 32 hex
 * digits, md5 of the password followed by the role name). Stored as it is, compared as it is.
 */
const verifier = z
  .string()
  .refine(
    (s) => parseScram(s) !== undefined || /^md5[0-9a-f]{32}$/.test(s),
    'expected a SCRAM-SHA-256 verifier (SCRAM-SHA-256$4096:<salt>$<StoredKey>:<ServerKey>, as pg_authid holds it) or an md5 one (md5 and 32 hex digits)',
  );

/**
 * A role's password: a secret reference (`{ env }`, `{ file }`: never empty), its stored verifier
 * (`{ verifier }`), or null: no password at all (an empty password is never one: PostgreSQL refuses
 * to store it and clears the password instead). Omitted: not managed.
 */
const rolePassword = z.union([secretRef, z.strictObject({ verifier }), z.null()], {
  error: (issue) =>
    typeof issue.input === 'string'
      ? 'a password is never written in the file: use { env: NAME }, { file: /path }, { verifier: "SCRAM-SHA-256$..." }, or null for no password'
      : undefined,
});

const roleSettingName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/, 'expected a setting name like work_mem or app.tenant')
  .transform((s) => s.toLowerCase());
/** Settings a role gets at login (ALTER ROLE ... SET), by name; values as for the server's settings. */
const roleSettings = z.record(roleSettingName, z.union([z.string(), z.number(), z.boolean(), z.array(z.string())]));

/** COMMENT ON ...: a text, or null (or "") for none. Not managed when omitted. */
const comment = z
  .string()
  .refine((s) => !s.includes('\0'), 'a comment must not contain a NUL byte')
  .nullable();

export const roleSchema = z.strictObject({
  name: roleName,
  login: z.boolean().optional(),
  superuser: z.boolean().optional(),
  createdb: z.boolean().optional(),
  createrole: z.boolean().optional(),
  replication: z.boolean().optional(),
  bypassrls: z.boolean().optional(),
  inherit: z.boolean().optional(),
  connectionLimit: z.number().int().min(-1).optional(),
  validUntil: timestamp.optional(),
  password: rolePassword.optional(),
  /** Roles this role is a member of. Exact when prune allows grants, else a floor. Not managed when omitted. */
  memberOf: z.array(membership).optional(),
  /** ALTER ROLE ... SET: what its sessions start with. Not managed when omitted; extra ones are removed only with prune. */
  settings: roleSettings.optional(),
  /** ALTER ROLE ... IN DATABASE ... SET, by database. */
  settingsInDatabase: z.record(name('database name'), roleSettings).optional(),
  comment: comment.optional(),
});

const databaseName = name('database name').refine(
  (s) => !TEMPLATE_DATABASES.has(s),
  'template0 and template1 are never managed',
);

export const databaseSchema = z.strictObject({
  name: databaseName,
  owner: granteeName.optional(),
  /** At creation only; a difference later is reported, never "fixed". */
  encoding: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/, 'expected an encoding name like UTF8')
    .optional(),
  lcCollate: z.string().min(1).optional(),
  lcCtype: z.string().min(1).optional(),
  /** At creation only. Defaults to the server's (template1). */
  template: name('template').optional(),
  /** At creation only (PostgreSQL 15+): file_copy writes far less WAL for a small template. */
  strategy: z.enum(['wal_log', 'file_copy']).optional(),
  /** At creation only (a later difference is reported): the tablespace the database lives in. */
  tablespace: name('tablespace name').optional(),
  /** At creation only (PostgreSQL 15+): the locale provider of the database's default collation. */
  localeProvider: z.enum(['libc', 'icu']).optional(),
  /** At creation only, with localeProvider: icu: the ICU locale (en-US, und-x-icu, de-DE-u-co-phonebk...). */
  icuLocale: z.string().min(1).optional(),
  connectionLimit: z.number().int().min(-1).optional(),
  allowConnections: z.boolean().optional(),
  comment: comment.optional(),
});

export const schemaSchema = z.strictObject({
  database: databaseName,
  name: name('schema name').refine(
    (s) => !isSystemSchema(s),
    'system schemas (pg_catalog, information_schema, pg_*) are never managed',
  ),
  owner: granteeName.optional(),
  comment: comment.optional(),
});

export const extensionSchema = z.strictObject({
  database: databaseName,
  name: name('extension name'),
  version: z.string().min(1).optional(),
  schema: name('schema name').optional(),
  /** At creation: CREATE EXTENSION ... CASCADE creates the extensions it requires too. */
  cascade: z.boolean().optional(),
});

const tableTarget = z.string().transform((s, ctx) => {
  const t = parseQualifiedName(s);
  if (typeof t === 'string') {
    ctx.addIssue({ code: 'custom', message: t });
    return z.NEVER;
  }
  if (t.schema.includes('\0') || t.name.includes('\0')) {
    ctx.addIssue({ code: 'custom', message: 'a name must not contain a NUL byte' });
    return z.NEVER;
  }
  return t;
});

/**
 * One function by its signature as DROP FUNCTION takes it: `schema.name(type, type)` (argument types
 * only; names as for tables, `public` when no schema). Types are resolved by the server (int = int4 =
 * integer).
 */
const functionTarget = z.string().transform((s, ctx) => {
  const t = parseFunctionSignature(s);
  if (typeof t === 'string') {
    ctx.addIssue({ code: 'custom', message: t });
    return z.NEVER;
  }
  return t;
});

/** Splits `schema.f(int, numeric(10,2))` into its name and argument types; an error message when it is not one. */
export function parseFunctionSignature(text: string): { schema: string; name: string; args: string[] } | string {
  const expected = `expected a signature like "schema.function(integer, text)", got "${text}"`;
  // The opening parenthesis: the first one outside double quotes.
  let open = -1;
  let inQuote = false;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '"') inQuote = !inQuote;
    else if (text[i] === '(' && !inQuote) {
      open = i;
      break;
    }
  }
  const trimmed = text.trimEnd();
  if (open === -1 || !trimmed.endsWith(')') || text.includes('\0')) return expected;
  const qualified = parseQualifiedName(text.slice(0, open));
  if (typeof qualified === 'string') return qualified;
  const inner = trimmed.slice(open + 1, -1);
  const args: string[] = [];
  let depth = 0;
  let part = '';
  for (const ch of inner) {
    if (ch === '(') depth++;
    else if (ch === ')' && --depth < 0) return expected;
    if (ch === ',' && depth === 0) {
      args.push(part.trim());
      part = '';
    } else part += ch;
  }
  if (depth !== 0) return expected;
  if (part.trim() !== '' || args.length > 0) args.push(part.trim());
  for (const a of args)
    if (!/^[A-Za-z_"][A-Za-z0-9_ ."$]*(\(\s*\d+\s*(,\s*\d+\s*)?\))?(\s*\[\s*\])*$/.test(a))
      return `"${a}" is not an argument type (list the types only, as DROP FUNCTION takes them: integer, text, numeric(10,2)...)`;
  return { ...qualified, args };
}

export const privilegeTarget = z.union(
  [
    z.literal('database'),
    z.strictObject({ schema: name('schema name') }),
    z.strictObject({ allTablesInSchema: name('schema name') }),
    z.strictObject({ allSequencesInSchema: name('schema name') }),
    z.strictObject({ allFunctionsInSchema: name('schema name') }),
    z.strictObject({ table: tableTarget }),
    /** Column privileges: GRANT SELECT (a, b) ON TABLE t. */
    z.strictObject({ table: tableTarget, columns: z.array(name('column name')).min(1, 'list at least one column') }),
    z.strictObject({ sequence: tableTarget }),
    z.strictObject({ function: functionTarget }),
    z.strictObject({ type: tableTarget }),
  ],
  {
    // The one target whose own check failed (a signature that is none, a bad table name) says why.
    error: (issue) => {
      const branches = (issue as { errors?: { code: string; message: string }[][] }).errors ?? [];
      return branches.flat().find((e) => e.code === 'custom')?.message;
    },
  },
);

/** The object type a privilege target's privileges are about. */
export function targetType(on: z.infer<typeof privilegeTarget>): ObjectType {
  if (on === 'database') return 'database';
  if ('schema' in on) return 'schema';
  if ('allSequencesInSchema' in on) return 'sequence';
  if ('allFunctionsInSchema' in on || 'function' in on) return 'function';
  if ('sequence' in on) return 'sequence';
  if ('type' in on) return 'type';
  if ('columns' in on) return 'column';
  return 'table';
}

const privilegeList = z.array(z.string().min(1)).min(1, 'list at least one privilege');

/** ` (did you mean "SELECT"?)` for a misspelt privilege name of the type, else nothing. */
function hint(p: string, type: ObjectType): string {
  const m = suggest(p.trim().toUpperCase(), ['ALL', ...knownPrivileges(type)]);
  return m === undefined ? '' : ` (did you mean "${m}"?)`;
}

/** Checks privilege names against the object type and rewrites them normalized (upper case, TEMP -> TEMPORARY). */
function normalizeList(list: string[], type: ObjectType, ctx: z.RefinementCtx, path: (string | number)[]): string[] {
  const out: string[] = [];
  list.forEach((p, i) => {
    const n = normalizePrivilege(p, type);
    if (n === undefined)
      ctx.addIssue({
        code: 'custom',
        path: [...path, i],
        message: `"${p}" is not a privilege on a ${type}${hint(p, type)} (expected ALL or ${knownPrivileges(type).join(', ')})`,
      });
    else out.push(n);
  });
  return out;
}

export const privilegeSchema = z
  .strictObject({
    database: databaseName,
    role: granteeName,
    on: privilegeTarget,
    privileges: privilegeList,
    grantOption: z.boolean().optional(),
  })
  .transform((g, ctx) => ({ ...g, privileges: normalizeList(g.privileges, targetType(g.on), ctx, ['privileges']) }));

export const defaultPrivilegeSchema = z
  .strictObject({
    database: databaseName,
    /** The role whose future objects get these privileges (FOR ROLE). */
    owner: granteeName,
    /** Only objects created in this schema; omitted: everywhere in the database. */
    schema: name('schema name').optional(),
    role: granteeName,
    on: z.enum(Object.keys(DEFACL_TYPES) as [DefaultOn, ...DefaultOn[]]),
    privileges: privilegeList,
    grantOption: z.boolean().optional(),
  })
  .transform((g, ctx) => ({ ...g, privileges: normalizeList(g.privileges, defaultOnType(g.on), ctx, ['privileges']) }));

const settingName = z
  .string()
  .regex(
    /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/,
    'expected a setting name like work_mem or pg_stat_statements.max',
  );
const settingValue = z.union([z.string(), z.number(), z.boolean(), z.array(z.string())]);
/** `{ reset: true }`: back to the default: no entry in postgresql.auto.conf (ALTER SYSTEM RESET), and reloaded. */
const settingReset = z.strictObject({ reset: z.literal(true) });
const settingDecl = z.union([settingValue, settingReset]);

/** Settings ALTER SYSTEM refuses, or that would move the server itself. */
const UNSETTABLE = new Set(['data_directory', 'config_file', 'hba_file', 'ident_file', 'external_pid_file']);

export const settingsSchema = z.record(settingName, settingDecl).superRefine((s, ctx) => {
  for (const k of Object.keys(s))
    if (UNSETTABLE.has(k.toLowerCase()))
      ctx.addIssue({ code: 'custom', path: [k], message: `${k} cannot be set with ALTER SYSTEM` });
});

const SIZE_UNITS: Record<string, number> = { B: 1, kB: 1024, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 };

/** A size in bytes: a number, or "16MB", "512kB", "1GB". */
const size = z.union([
  z.number().int().min(0),
  z.string().transform((s, ctx) => {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(B|kB|KB|MB|GB|TB)\s*$/.exec(s);
    if (m === null) {
      ctx.addIssue({ code: 'custom', message: 'expected a size like 16MB, 512kB or a number of bytes' });
      return z.NEVER;
    }
    return Math.round(Number(m[1]) * (SIZE_UNITS[m[2] as string] ?? 1));
  }),
]);

/** `replication:`: streaming replication, managed by the cluster-level pass (agents/postgres/replication.ts). */
export const replicationSchema = z.strictObject({
  /** The member that is the primary; changing it is a planned switchover. */
  primary: z.string().min(1),
  /** The role standbys connect as: REPLICATION LOGIN, made on the primary. */
  user: roleName,
  password: secretRef,
  /** One physical slot per standby on the primary. Defaults to true. */
  slots: z.boolean().default(true),
  /** A standby further behind than this is Degraded and is never promoted. Defaults to 16MB. */
  maxLagBytes: size.default(16 * 1024 * 1024),
  /** synchronous_standby_names = FIRST count (standbys...). Defaults to count 0 (asynchronous). */
  synchronous: z.strictObject({ count: z.number().int().min(0).default(0) }).default({ count: 0 }),
  /** How long a switchover waits for the candidate to replay the old primary's last WAL. Defaults to 60. */
  catchUpSeconds: z.number().positive().max(3600).default(60),
  /**
   * A diverged standby (an old primary that took writes after it was fenced) is brought back with
   * pg_rewind rather than a new base backup: fast, but the transactions it has and the primary lacks are
   * discarded. With false (the default) its whole data directory is moved aside and kept. Needs
   * wal_log_hints or data checksums; the replication role is granted EXECUTE on the four functions
   * pg_rewind reads files with (a base backup already lets it read them all).
   */
  rewind: z.boolean().default(false),
});

export const clusterShape = {
  /** Streaming replication: who is primary, and the role standbys connect as. */
  replication: replicationSchema.optional(),
  roles: z.array(roleSchema).default([]),
  databases: z.array(databaseSchema).default([]),
  schemas: z.array(schemaSchema).default([]),
  extensions: z.array(extensionSchema).default([]),
  privileges: z.array(privilegeSchema).default([]),
  defaultPrivileges: z.array(defaultPrivilegeSchema).default([]),
  settings: settingsSchema.default({}),
};

export type RoleSpec = z.infer<typeof roleSchema>;
export type ReplicationSpec = z.infer<typeof replicationSchema>;
export type DatabaseSpec = z.infer<typeof databaseSchema>;
export type SchemaSpec = z.infer<typeof schemaSchema>;
export type ExtensionSpec = z.infer<typeof extensionSchema>;
export type PrivilegeSpec = z.infer<typeof privilegeSchema>;
export type PrivilegeTarget = z.infer<typeof privilegeTarget>;
export type DefaultPrivilegeSpec = z.infer<typeof defaultPrivilegeSchema>;
export type SettingValue = z.infer<typeof settingValue>;
/** A declared server setting: a value, or `{ reset: true }`. */
export type SettingDecl = z.infer<typeof settingDecl>;
/** True for `{ reset: true }`. */
export function isReset(v: SettingDecl): v is { reset: true } {
  return typeof v === 'object' && !Array.isArray(v);
}
/** A postgres cluster as validated: the common keys and this engine's, defaults applied (inferred from the zod shape). */
export type PostgresCluster = ClusterBase & z.infer<z.ZodObject<typeof clusterShape>>;

/**
 * The roles a cluster declares: its `roles`, and the replication role when it declares `replication`
 * (LOGIN REPLICATION with its password, made on the primary and carried to every member by WAL).
 */
export function declaredRoles(c: PostgresCluster): RoleSpec[] {
  const r = c.replication;
  if (r === undefined) return c.roles;
  return [...c.roles, { name: r.user, login: true, replication: true, password: r.password }];
}

/**
 * Databases whose contents setpoint looks at: the declared ones and every database a schema,
 * extension or (default) privilege names. A named database counts as declared: it is never dropped.
 */
export function databasesInScope(c: PostgresCluster): Set<string> {
  return new Set([
    ...c.databases.map((d) => d.name),
    ...c.schemas.map((s) => s.database),
    ...c.extensions.map((e) => e.database),
    ...c.privileges.map((p) => p.database),
    ...c.defaultPrivileges.map((p) => p.database),
  ]);
}

/**
 * Databases whose catalogs setpoint reads (over a connection to each): those the file declares
 * something inside of — a schema, an extension, a privilege on an object in it, a default privilege.
 * A database that is only declared (or only granted on) is seen from pg_database alone.
 */
export function databasesInside(c: PostgresCluster): Set<string> {
  return new Set([
    ...c.schemas.map((s) => s.database),
    ...c.extensions.map((e) => e.database),
    ...c.privileges.filter((p) => p.on !== 'database').map((p) => p.database),
    ...c.defaultPrivileges.map((p) => p.database),
  ]);
}

/** Duplicates and contradictions are errors: which declaration would win is not obvious. */
export function checkCluster(
  cluster: Record<string, unknown>,
  report: (path: (string | number)[], message: string) => void,
): void {
  const c = cluster as unknown as PostgresCluster;
  if (c.replication !== undefined) {
    const r = c.replication;
    if (!c.members.includes(r.primary))
      report(
        ['replication', 'primary'],
        `"${r.primary}" is not a member of this cluster (members: ${c.members.join(', ')})`,
      );
    c.roles.forEach((x, i) => {
      if (x.name === r.user)
        report(['roles', i, 'name'], `role "${x.name}" is the replication role: declare it only under replication`);
    });
    for (const k of Object.keys(c.settings))
      if (['primary_conninfo', 'primary_slot_name', 'synchronous_standby_names'].includes(k.toLowerCase()))
        report(['settings', k], `${k} is set by the replication pass: leave it out`);
    if (r.synchronous.count > c.members.length - 1)
      report(
        ['replication', 'synchronous', 'count'],
        `${r.synchronous.count} synchronous standbys, but the cluster has ${c.members.length - 1} standby(s)`,
      );
  }
  const unique = <T>(list: T[], section: string, key: (x: T) => string, what: (x: T) => string, field?: string) => {
    const seen = new Map<string, number>();
    list.forEach((x, i) => {
      const k = key(x);
      const prev = seen.get(k);
      if (prev !== undefined)
        report(
          field === undefined ? [section, i] : [section, i, field],
          `${what(x)} is already declared at ${section}[${prev}]`,
        );
      else seen.set(k, i);
    });
  };
  unique(
    c.roles,
    'roles',
    (r) => r.name,
    (r) => `role "${r.name}"`,
    'name',
  );
  unique(
    c.databases,
    'databases',
    (d) => d.name,
    (d) => `database "${d.name}"`,
    'name',
  );
  unique(
    c.schemas,
    'schemas',
    (s) => `${s.database}\0${s.name}`,
    (s) => `schema "${s.name}" of database "${s.database}"`,
  );
  unique(
    c.extensions,
    'extensions',
    (e) => `${e.database}\0${e.name}`,
    (e) => `extension "${e.name}" of database "${e.database}"`,
  );
  unique(
    c.privileges,
    'privileges',
    (p) => `${p.database}\0${p.role}\0${JSON.stringify(p.on)}`,
    (p) => `a grant to "${p.role}" on the same object of database "${p.database}"`,
  );
  unique(
    c.defaultPrivileges,
    'defaultPrivileges',
    (p) => `${p.database}\0${p.owner}\0${p.schema ?? ''}\0${p.role}\0${p.on}`,
    (p) =>
      `a default privilege for "${p.owner}" on ${p.on} to "${p.role}"${p.schema === undefined ? '' : ` in schema "${p.schema}"`}`,
  );
  c.roles.forEach((r, i) => {
    const parents = new Map<string, number>();
    (r.memberOf ?? []).forEach((m, j) => {
      if (m.role === r.name) report(['roles', i, 'memberOf', j], `role "${r.name}" cannot be a member of itself`);
      if (m.role === PUBLIC) report(['roles', i, 'memberOf', j], 'every role is a member of PUBLIC already');
      const prev = parents.get(m.role);
      if (prev !== undefined) report(['roles', i, 'memberOf', j], `"${m.role}" is already listed at memberOf[${prev}]`);
      else parents.set(m.role, j);
    });
  });
  c.databases.forEach((d, i) => {
    if (d.owner === PUBLIC) report(['databases', i, 'owner'], 'PUBLIC cannot own a database');
    if (d.icuLocale !== undefined && d.localeProvider !== 'icu')
      report(['databases', i, 'icuLocale'], 'an ICU locale needs localeProvider: icu');
    if (d.localeProvider === 'icu' && d.icuLocale === undefined)
      report(['databases', i, 'localeProvider'], 'localeProvider: icu needs icuLocale (e.g. en-US)');
  });
  c.schemas.forEach((s, i) => {
    if (s.owner === PUBLIC) report(['schemas', i, 'owner'], 'PUBLIC cannot own a schema');
  });
  c.defaultPrivileges.forEach((p, i) => {
    if (p.on === 'schemas' && p.schema !== undefined)
      report(
        ['defaultPrivileges', i, 'schema'],
        'default privileges on schemas apply to the whole database: remove schema',
      );
    if (p.owner === PUBLIC)
      report(['defaultPrivileges', i, 'owner'], 'PUBLIC creates no objects: owner must be a role');
  });
}
