/**
 * postgres.role: roles, their attributes, their password (checked against the stored SCRAM-SHA-256
 * or md5 verifier) and their membership in other roles. Built-in roles (pg_*), the bootstrap
 * superuser and the role setpoint logs in as are never touched.
 */
import { undeclared } from '../../src/diff.js';
import { PHASE } from './phases.js';
import type { Change, Drift, Observation, ResourceKind } from '../../src/engine.js';
import { memoCheck } from '../../src/names.js';
import { Secret, Verifier } from '../../src/secret.js';
import { scramVerifier, verifierMethod, verifyPassword } from './password.js';
import { nameId, quoteIdent } from './quote.js';
import { declaredRoles, type RoleSpec } from './spec.js';
import type { PgContext, PgFacts, PgSession } from './session.js';

export interface Membership {
  role: string;
  admin: boolean;
}

export interface RoleState {
  name: string;
  login: boolean;
  superuser: boolean;
  createdb: boolean;
  createrole: boolean;
  replication: boolean;
  bypassrls: boolean;
  inherit: boolean;
  connectionLimit: number;
  /** Epoch seconds; null when not set; Infinity for 'infinity'. */
  validUntil: number | null;
  /** The stored verifier; undefined when it cannot be read (setpoint is not a superuser). */
  verifier?: Verifier<string>;
  /** Which verifier the role has (none, scram-sha-256, md5), or unknown when it cannot be read. */
  passwordMethod: string;
  memberOf: Membership[];
  /** COMMENT ON ROLE (shobj_description); null when none. */
  comment: string | null;
}

const KIND = 'postgres.role';

const ATTRIBUTES = [
  ['login', 'LOGIN'],
  ['superuser', 'SUPERUSER'],
  ['createdb', 'CREATEDB'],
  ['createrole', 'CREATEROLE'],
  ['replication', 'REPLICATION'],
  ['bypassrls', 'BYPASSRLS'],
  ['inherit', 'INHERIT'],
] as const;

/** A role setpoint must never touch: built-in roles, the bootstrap superuser, its own login. */
export function isProtectedRole(name: string, facts: Pick<PgFacts, 'currentUser' | 'bootstrapUser'>): boolean {
  return name.startsWith('pg_') || name === facts.bootstrapUser || name === facts.currentUser;
}

/** Why a declared role is never changed, or undefined. */
function protectedReason(name: string, facts: PgFacts): string | undefined {
  if (name === facts.currentUser) return `role ${nameId(name)} is the role setpoint logs in as: never changed`;
  if (name === facts.bootstrapUser) return `role ${nameId(name)} is the bootstrap superuser: never changed`;
  return undefined;
}

/** Seconds since the epoch of a declared validUntil ('infinity' is Infinity). */
export function validUntilSeconds(s: string): number {
  return s.toLowerCase() === 'infinity' ? Infinity : Date.parse(s) / 1000;
}

function showTime(t: number | null): string {
  if (t === null) return '(none)';
  if (t === Infinity) return 'infinity';
  return new Date(t * 1000).toISOString().replace('.000Z', 'Z');
}

// Checking a SCRAM verifier costs 4096 HMAC rounds: remember answers for unchanged inputs.
const cachedVerify = memoCheck((stored: string, password: string, role: string) =>
  verifyPassword(stored, password, role),
);

/** Parses a row of the roles query. */
export function parseRoleRow(r: Record<string, unknown>, canReadPasswords: boolean): RoleState {
  const pw = typeof r.rolpassword === 'string' ? r.rolpassword : null;
  const vu = r.validuntil === null || r.validuntil === undefined ? null : Number(r.validuntil);
  return {
    name: String(r.rolname),
    login: r.rolcanlogin === true,
    superuser: r.rolsuper === true,
    createdb: r.rolcreatedb === true,
    createrole: r.rolcreaterole === true,
    replication: r.rolreplication === true,
    bypassrls: r.rolbypassrls === true,
    inherit: r.rolinherit === true,
    connectionLimit: Number(r.rolconnlimit),
    validUntil: vu,
    ...(canReadPasswords ? { verifier: new Verifier(pw ?? '') } : {}),
    passwordMethod: canReadPasswords ? verifierMethod(pw) : pw === null ? 'none' : 'unknown',
    memberOf: [],
    comment: typeof r.comment === 'string' && r.comment !== '' ? r.comment : null,
  };
}

function sameMembers(a: Membership[], b: Membership[]): boolean {
  const key = (m: Membership) => `${m.role}\0${m.admin}`;
  const x = new Set(a.map(key));
  return b.length === a.length && b.every((m) => x.has(key(m)));
}

function showMembers(list: Membership[]): string[] {
  return list.map((m) => `${nameId(m.role)}${m.admin ? ' (admin)' : ''}`).sort();
}

/** What the roles observation learns beside the managed roles: every role that exists, managed or not. */
export interface RolesExtra {
  all: Set<string>;
}

/** A row of pg_auth_members as the roles query reads it. */
export interface MemberRow {
  parent: string;
  member: string;
  admin: boolean;
}

/** The roles observation from its two queries' rows (pure): managed roles with their memberships, and every role's name. */
export function rolesFrom(
  rows: Record<string, unknown>[],
  members: MemberRow[],
  facts: Pick<PgFacts, 'superuser' | 'currentUser' | 'bootstrapUser'>,
): Observation<RoleState, RolesExtra> {
  const all = new Set<string>();
  const out = new Map<string, RoleState>();
  for (const r of rows) {
    const s = parseRoleRow(r, facts.superuser);
    all.add(s.name);
    if (isProtectedRole(s.name, facts)) continue;
    out.set(nameId(s.name), s);
  }
  for (const m of members) {
    const s = out.get(nameId(m.member));
    if (s === undefined) continue;
    const prev = s.memberOf.find((x) => x.role === m.parent);
    if (prev !== undefined) prev.admin ||= m.admin;
    else s.memberOf.push({ role: m.parent, admin: m.admin });
  }
  for (const s of out.values()) s.memberOf.sort((a, b) => (a.role < b.role ? -1 : a.role > b.role ? 1 : 0));
  return { items: out, extra: { all } };
}

export const roles: ResourceKind<RoleSpec, RoleState, PgSession, PgContext, RolesExtra> = {
  kind: KIND,
  // Carried by WAL: made on the primary only (standbys are read-only anyway).
  replicated: true,

  desired(ctx) {
    const c = ctx.cluster;
    return new Map(declaredRoles(c).map((r) => [nameId(r.name), r]));
  },

  async observe(session) {
    const facts = session.facts;
    // pg_authid holds the verifiers but only a superuser may read it; pg_roles shows '********'.
    const table = facts.superuser ? 'pg_authid' : 'pg_roles';
    const rows = await session.query(
      'SELECT rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin, rolreplication, rolbypassrls, rolconnlimit, ' +
        `extract(epoch FROM rolvaliduntil)::float8 AS validuntil, rolpassword, shobj_description(oid, 'pg_authid') AS comment FROM ${table}`,
    );
    const members = await session.query<MemberRow>(
      'SELECT pg_get_userbyid(roleid) AS parent, pg_get_userbyid(member) AS member, admin_option AS admin FROM pg_auth_members',
    );
    return rolesFrom(rows, members, facts);
  },

  diff(desired, { items: observed }, ctx) {
    const facts = ctx.facts;
    const drift: Drift[] = [];
    const exactMembers = ctx.prune('grants');
    for (const [id, d] of desired) {
      const why = protectedReason(d.name, facts);
      if (why !== undefined) {
        drift.push({ kind: KIND, id, field: 'protected', desired: 'declared', observed: why });
        continue;
      }
      const o = observed.get(id);
      if (o === undefined) {
        drift.push({ kind: KIND, id, field: 'present', desired: true, observed: false });
        continue;
      }
      for (const [field] of ATTRIBUTES) {
        const want = d[field];
        if (want !== undefined && want !== o[field])
          drift.push({ kind: KIND, id, field, desired: want, observed: o[field] });
      }
      if (d.connectionLimit !== undefined && d.connectionLimit !== o.connectionLimit)
        drift.push({
          kind: KIND,
          id,
          field: 'connectionLimit',
          desired: d.connectionLimit,
          observed: o.connectionLimit,
        });
      if (d.validUntil !== undefined) {
        const want = validUntilSeconds(d.validUntil);
        if (want !== o.validUntil)
          drift.push({
            kind: KIND,
            id,
            field: 'validUntil',
            desired: showTime(want),
            observed: showTime(o.validUntil),
          });
      }
      if (d.password !== undefined) {
        const want = d.password;
        if (want === null) {
          // No password: readable without superuser too (pg_roles shows NULL or ********).
          if (o.passwordMethod !== 'none')
            drift.push({ kind: KIND, id, field: 'password', desired: 'no password', observed: 'a password' });
        } else if (o.verifier === undefined) {
          drift.push({
            kind: KIND,
            id,
            field: 'password',
            desired: '[secret]',
            observed: `unverifiable: setpoint logs in as ${nameId(facts.currentUser)}, which is not a superuser and cannot read pg_authid`,
          });
        } else if ('verifier' in want) {
          if (o.verifier.value !== want.verifier)
            drift.push({
              kind: KIND,
              id,
              field: 'password',
              desired: '[verifier]',
              observed: o.passwordMethod === 'none' ? 'no password' : 'a different verifier',
            });
        } else {
          const ok = cachedVerify(o.verifier.value, ctx.secret(want).reveal(), d.name);
          if (ok !== true) {
            const observedText =
              ok === false
                ? o.passwordMethod === 'none'
                  ? 'no password'
                  : 'a different password'
                : `a verifier setpoint cannot check (${o.passwordMethod})`;
            drift.push({ kind: KIND, id, field: 'password', desired: '[secret]', observed: observedText });
          }
        }
      }
      if (d.comment !== undefined && (d.comment === '' ? null : d.comment) !== o.comment)
        drift.push({ kind: KIND, id, field: 'comment', desired: d.comment ?? null, observed: o.comment });
      if (d.memberOf !== undefined) {
        const want = d.memberOf;
        const have = o.memberOf;
        const missing = want.some((m) => !have.some((h) => h.role === m.role && (h.admin || !m.admin)));
        const extra = have.some((h) => {
          const w = want.find((m) => m.role === h.role);
          return w === undefined || (h.admin && !w.admin);
        });
        if (missing || (exactMembers && extra && !sameMembers(want, have)))
          drift.push({ kind: KIND, id, field: 'memberOf', desired: showMembers(want), observed: showMembers(have) });
      }
    }
    drift.push(...undeclared(KIND, 'users', desired, observed, ctx));
    return drift;
  },

  plan(drift, desired, { items: observed, extra }, ctx) {
    const facts = ctx.facts;
    const c = ctx.cluster;
    const declared = new Set(declaredRoles(c).map((r) => r.name));
    const byId = new Map<string, Drift[]>();
    for (const d of drift) byId.set(d.id, [...(byId.get(d.id) ?? []), d]);
    const changes: Change[] = [];
    for (const [id, items] of byId) {
      const spec = desired.get(id);
      const obs = observed.get(id);
      const fields = new Set(items.map((d) => d.field));
      if (fields.has('absent') && obs !== undefined) {
        changes.push({
          kind: KIND,
          id,
          action: 'drop',
          risk: 'destructive',
          phase: PHASE.dropRoles,
          prune: 'users',
          summary: `drop undeclared role ${id}`,
          statements: [{ sql: `DROP ROLE ${quoteIdent(obs.name)}` }],
        });
        continue;
      }
      if (spec === undefined) continue;
      const role = quoteIdent(spec.name);
      if (fields.has('protected')) {
        changes.push({
          kind: KIND,
          id,
          action: 'alter',
          risk: 'safe',
          phase: PHASE.roles,
          summary: `leave role ${id} as it is`,
          statements: [],
          blocked: protectedReason(spec.name, facts) ?? 'protected role',
        });
        continue;
      }
      if (fields.has('present')) {
        const opts = attributes(spec, fields, true);
        const params: unknown[] = [...opts.params];
        let sql = `CREATE ROLE ${role}${opts.sql}`;
        const pw = spec.password;
        if (pw !== undefined && pw !== null) {
          params.push(passwordParam(pw, ctx));
          sql += ` PASSWORD $${params.length}`;
        }
        const words = [
          ...opts.words,
          ...(pw === undefined
            ? []
            : [pw === null ? 'no password' : 'verifier' in pw ? 'password verifier' : 'password']),
        ];
        const note = commentOf(spec.comment);
        changes.push({
          kind: KIND,
          id,
          action: 'create',
          risk: 'safe',
          phase: PHASE.roles,
          summary: `create role ${id}${words.length === 0 ? '' : ` (${words.join(', ')})`}${note === null ? '' : ' with its comment'}`,
          statements: [
            { sql, params },
            ...(note === null ? [] : [{ sql: `COMMENT ON ROLE ${role} IS $1`, params: [note] }]),
          ],
        });
      } else {
        const opts = attributes(spec, fields, false);
        if (opts.words.length > 0) {
          changes.push({
            kind: KIND,
            id,
            action: 'alter',
            risk: 'safe',
            phase: PHASE.roles,
            summary: `set ${opts.words.join(', ')} for role ${id}`,
            statements: [{ sql: `ALTER ROLE ${role}${opts.sql}`, params: opts.params }],
          });
        }
        if (fields.has('comment'))
          changes.push(commentChange(KIND, id, PHASE.roles, `role ${id}`, `ROLE ${role}`, spec.comment));
        const pw = spec.password;
        if (fields.has('password') && pw === null) {
          changes.push({
            kind: KIND,
            id,
            action: 'alter',
            risk: 'safe',
            phase: PHASE.roles,
            summary: `remove the password of role ${id} (declared: no password)`,
            statements: [{ sql: `ALTER ROLE ${role} PASSWORD NULL` }],
          });
        } else if (fields.has('password') && pw !== undefined && pw !== null) {
          const unverifiable = obs?.verifier === undefined;
          const fromVerifier = 'verifier' in pw;
          changes.push({
            kind: KIND,
            id,
            action: 'alter',
            risk: 'safe',
            phase: PHASE.roles,
            summary: fromVerifier
              ? `set the password of role ${id} to the declared verifier (it does not match)`
              : `set the password of role ${id} (it does not match the declared one)`,
            statements: [{ sql: `ALTER ROLE ${role} PASSWORD $1`, params: [passwordParam(pw, ctx)] }],
            ...(unverifiable
              ? {
                  blocked: `the password of ${id} cannot be verified without superuser (pg_authid is not readable): it is left as it is`,
                }
              : {}),
          });
        }
      }
      if (fields.has('present') || fields.has('memberOf')) {
        const want = spec.memberOf ?? [];
        const have = obs?.memberOf ?? [];
        for (const m of want) {
          const h = have.find((x) => x.role === m.role);
          if (h !== undefined && (h.admin || !m.admin)) continue;
          const exists = declared.has(m.role) || roleExists({ items: observed, extra }, m.role, facts);
          changes.push({
            kind: KIND,
            id,
            action: 'grant',
            risk: 'safe',
            phase: PHASE.memberships,
            summary: `grant membership in ${nameId(m.role)} to ${id}${m.admin ? ' with admin option' : ''}`,
            statements: [{ sql: `GRANT ${quoteIdent(m.role)} TO ${role}${m.admin ? ' WITH ADMIN OPTION' : ''}` }],
            ...(exists ? {} : { blocked: `role ${nameId(m.role)} does not exist` }),
          });
        }
        if (ctx.prune('grants')) {
          for (const h of have) {
            const w = want.find((m) => m.role === h.role);
            if (w === undefined) {
              changes.push({
                kind: KIND,
                id,
                action: 'revoke',
                risk: 'destructive',
                phase: PHASE.revokeMemberships,
                prune: 'grants',
                summary: `revoke undeclared membership in ${nameId(h.role)} from ${id}`,
                statements: [{ sql: `REVOKE ${quoteIdent(h.role)} FROM ${role}` }],
              });
            } else if (h.admin && !w.admin) {
              changes.push({
                kind: KIND,
                id,
                action: 'revoke',
                risk: 'destructive',
                phase: PHASE.revokeMemberships,
                prune: 'grants',
                summary: `revoke admin option on ${nameId(h.role)} from ${id}`,
                statements: [{ sql: `REVOKE ADMIN OPTION FOR ${quoteIdent(h.role)} FROM ${role}` }],
              });
            }
          }
        }
      }
    }
    return changes;
  },
};

/** Whether a role exists, as far as the roles kind can tell (observed, or one it never manages). */
function roleExists(o: Observation<RoleState, RolesExtra>, name: string, facts: PgFacts): boolean {
  return o.items.has(nameId(name)) || o.extra.all.has(name) || isProtectedRole(name, facts);
}

/**
 * The password as it goes to the server: a SCRAM-SHA-256 verifier built here, never the plaintext;
 * a declared verifier as it is. Both as secrets: history keeps `$1` where they were.
 */
function passwordParam(pw: NonNullable<RoleSpec['password']>, ctx: PgContext): Secret {
  if ('verifier' in pw) return new Secret(pw.verifier, 'the declared verifier');
  const secret = ctx.secret(pw);
  return new Secret(scramVerifier(secret.reveal()), secret.source);
}

/** Role options for CREATE/ALTER ROLE: the declared ones (only drifted fields when altering). */
function attributes(
  spec: RoleSpec,
  fields: Set<string>,
  creating: boolean,
): { sql: string; params: unknown[]; words: string[] } {
  let sql = '';
  const params: unknown[] = [];
  const words: string[] = [];
  for (const [field, word] of ATTRIBUTES) {
    const v = spec[field];
    if (v === undefined || (!creating && !fields.has(field))) continue;
    sql += ` ${v ? '' : 'NO'}${word}`;
    words.push(`${v ? '' : 'no'}${field}`);
  }
  if (spec.connectionLimit !== undefined && (creating || fields.has('connectionLimit'))) {
    params.push(spec.connectionLimit);
    sql += ` CONNECTION LIMIT $${params.length}`;
    words.push(`connection limit ${spec.connectionLimit}`);
  }
  if (spec.validUntil !== undefined && (creating || fields.has('validUntil'))) {
    const t = validUntilSeconds(spec.validUntil);
    params.push(t === Infinity ? 'infinity' : new Date(t * 1000).toISOString());
    sql += ` VALID UNTIL $${params.length}`;
    words.push(`valid until ${showTime(t)}`);
  }
  return { sql: sql === '' ? '' : ` WITH${sql}`, params, words };
}

/** A declared comment as the server keeps it: "" is none. Undefined (not managed) reads as none too. */
export function commentOf(c: string | null | undefined): string | null {
  return c === undefined || c === null || c === '' ? null : c;
}

/** COMMENT ON <what> IS ... (NULL removes it). */
export function commentChange(
  kind: string,
  id: string,
  phase: number,
  what: string,
  object: string,
  comment: string | null | undefined,
  scope?: string,
): Change {
  const c = commentOf(comment);
  return {
    kind,
    id,
    action: 'comment',
    risk: 'safe',
    phase,
    summary: c === null ? `remove the comment on ${what}` : `set the comment on ${what}`,
    statements: [{ sql: `COMMENT ON ${object} IS $1`, params: [c], ...(scope === undefined ? {} : { scope }) }],
  };
}
