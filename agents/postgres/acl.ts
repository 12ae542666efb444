/**
 * PostgreSQL ACLs, normalized: privilege names per object type, ALL and its expansion on this
 * server's version, and the built-in default ACL an object has while its ACL column is NULL
 * (what acldefault() returns): the owner holds everything, PUBLIC holds CONNECT and TEMPORARY on
 * databases, EXECUTE on functions, USAGE on types.
 */

/** The object types privileges and default privileges apply to. */
/** `column`: one column of a table (GRANT SELECT (a) ON t). */
export type ObjectType = 'database' | 'schema' | 'table' | 'sequence' | 'function' | 'type' | 'column';

/** Privileges of each object type, in the order GRANT lists them. MAINTAIN exists from PostgreSQL 17. */
export function privilegesOf(type: ObjectType, serverVersion: number): readonly string[] {
  switch (type) {
    case 'database':
      return ['CREATE', 'CONNECT', 'TEMPORARY'];
    case 'schema':
      return ['USAGE', 'CREATE'];
    case 'table':
      return serverVersion >= 170000
        ? ['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER', 'MAINTAIN']
        : ['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'];
    case 'sequence':
      return ['USAGE', 'SELECT', 'UPDATE'];
    case 'function':
      return ['EXECUTE'];
    case 'type':
      return ['USAGE'];
    case 'column':
      return ['SELECT', 'INSERT', 'UPDATE', 'REFERENCES'];
  }
}

/** Every privilege name a file may use for a type on some server (validation does not know the server). */
export function knownPrivileges(type: ObjectType): readonly string[] {
  return type === 'table' ? privilegesOf(type, 170000) : privilegesOf(type, 0);
}

/** The pseudo role every role is a member of. */
export const PUBLIC = 'PUBLIC';

/** Upper case, TEMP -> TEMPORARY, ALL PRIVILEGES -> ALL. Undefined for a name that is no privilege of `type`. */
export function normalizePrivilege(p: string, type: ObjectType): string | undefined {
  const n = p.trim().toUpperCase().replace(/\s+/g, ' ');
  if (n === 'ALL' || n === 'ALL PRIVILEGES') return 'ALL';
  const name = n === 'TEMP' ? 'TEMPORARY' : n;
  return knownPrivileges(type).includes(name) ? name : undefined;
}

/** Declared privileges with ALL expanded for this server, as a set. */
export function expand(declared: readonly string[], type: ObjectType, serverVersion: number): Set<string> {
  const out = new Set<string>();
  const all = privilegesOf(type, serverVersion);
  for (const p of declared) {
    if (p === 'ALL') for (const q of all) out.add(q);
    else if (all.includes(p)) out.add(p);
  }
  return out;
}

/** A set as people read it: ALL when it is complete, else in GRANT's order. */
export function display(set: ReadonlySet<string>, type: ObjectType, serverVersion: number): string[] {
  const all = privilegesOf(type, serverVersion);
  if (set.size > 0 && all.every((p) => set.has(p)) && [...set].every((p) => all.includes(p))) return ['ALL'];
  return ordered(set, type, serverVersion);
}

/** A set in GRANT's order (unknown names last, sorted). */
export function ordered(set: Iterable<string>, type: ObjectType, serverVersion: number): string[] {
  const all = privilegesOf(type, serverVersion);
  const list = [...new Set(set)];
  return [...all.filter((p) => list.includes(p)), ...list.filter((p) => !all.includes(p)).sort()];
}

/** One grantee's privileges on one object, with those it may grant on. */
export interface AclEntry {
  /** A role name, or PUBLIC. */
  grantee: string;
  privileges: Set<string>;
  grantable: Set<string>;
}

/** The ACL an object has while its ACL column is NULL (acldefault): owner all, PUBLIC per type. */
export function defaultAcl(type: ObjectType, owner: string, serverVersion: number): AclEntry[] {
  // A column without an ACL grants nothing of its own: the table's ACL holds the owner's privileges.
  if (type === 'column') return [];
  const out: AclEntry[] = [
    { grantee: owner, privileges: new Set(privilegesOf(type, serverVersion)), grantable: new Set() },
  ];
  const pub =
    type === 'database'
      ? ['CONNECT', 'TEMPORARY']
      : type === 'function'
        ? ['EXECUTE']
        : type === 'type'
          ? ['USAGE']
          : [];
  if (pub.length > 0) out.push({ grantee: PUBLIC, privileges: new Set(pub), grantable: new Set() });
  return out;
}

/** One row of aclexplode(): grantee (PUBLIC for 0), privilege_type, is_grantable. */
export interface AclRow {
  grantee: string;
  privilege: string;
  grantable: boolean;
}

/**
 * The effective ACL of an object: the exploded rows of its ACL, or the built-in default when the
 * ACL is NULL. Rows of one grantee from several grantors are merged.
 */
export function effectiveAcl(
  type: ObjectType,
  owner: string,
  rows: readonly AclRow[] | null,
  serverVersion: number,
): Map<string, AclEntry> {
  const out = new Map<string, AclEntry>();
  if (rows === null) {
    for (const e of defaultAcl(type, owner, serverVersion)) out.set(e.grantee, e);
    return out;
  }
  for (const r of rows) {
    let e = out.get(r.grantee);
    if (e === undefined) {
      e = { grantee: r.grantee, privileges: new Set(), grantable: new Set() };
      out.set(r.grantee, e);
    }
    e.privileges.add(r.privilege);
    if (r.grantable) e.grantable.add(r.privilege);
  }
  return out;
}

/** The SQL keyword of an object type in GRANT ... ON <keyword>. */
export function grantKeyword(type: ObjectType): string {
  return {
    database: 'DATABASE',
    schema: 'SCHEMA',
    table: 'TABLE',
    sequence: 'SEQUENCE',
    function: 'FUNCTION',
    type: 'TYPE',
    column: 'TABLE',
  }[type];
}

/** pg_default_acl.defaclobjtype of each type of default privilege. */
export const DEFACL_TYPES = { tables: 'r', sequences: 'S', functions: 'f', types: 'T', schemas: 'n' } as const;
export type DefaultOn = keyof typeof DEFACL_TYPES;

/** The object type a default privilege applies to. */
export function defaultOnType(on: DefaultOn): ObjectType {
  return ({ tables: 'table', sequences: 'sequence', functions: 'function', types: 'type', schemas: 'schema' } as const)[
    on
  ];
}
