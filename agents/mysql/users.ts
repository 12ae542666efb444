/** mysql.user: accounts, their password (checked against the stored verifier), lock, limits and TLS. */
import { undeclared } from '../../src/diff.js';
import { PHASE } from './phases.js';
import { itemsOnly, type Change, type Drift, type ResourceKind } from '../../src/engine.js';
import { memoCheck } from '../../src/names.js';
import { Secret, Verifier } from '../../src/secret.js';
import { nativeHash, verifyPassword } from './password.js';
import { accountId, quoteAccount } from './quote.js';
import { declaredUsers, hashPlugin, SYSTEM_USERS, type UserSpec } from './spec.js';
import { atLeast, type Flavor, type MysqlContext, type MysqlFacts, type MysqlSession } from './session.js';

export type Tls = 'none' | 'ssl' | 'x509' | 'specified';

export interface UserState {
  user: string;
  host: string;
  plugin: string;
  verifier: Verifier<Buffer>;
  /** When the server last saw the password set (epoch seconds), so history shows a password change. */
  passwordChanged: number | null;
  locked: boolean;
  maxConnections: number;
  maxQueriesPerHour: number;
  maxUpdatesPerHour: number;
  maxConnectionsPerHour: number;
  tls: Tls;
  /** REQUIRE SUBJECT / ISSUER / CIPHER ('' when not required). */
  x509Subject: string;
  x509Issuer: string;
  sslCipher: string;
  /** Days a password lasts: null the server's default, 0 never. */
  passwordLifetime: number | null;
  /** MariaDB: seconds a statement may run, 0 for no limit. */
  maxStatementTime: number;
}

const KIND = 'mysql.user';

/** Users' SQL differs by flavor: MariaDB 10.4+ keeps accounts as JSON in mysql.global_priv. */
export function usersQuery(f: Flavor): string {
  if (f.kind === 'mariadb' && atLeast(f, 10, 4)) return 'SELECT User AS u, Host AS h, Priv AS p FROM mysql.global_priv';
  // MySQL 8 roles are locked, expired accounts without a password; they are not users.
  const notRole =
    f.kind === 'mysql' && atLeast(f, 8, 0)
      ? " WHERE NOT (account_locked = 'Y' AND password_expired = 'Y' AND authentication_string = '')"
      : '';
  const locked = f.kind === 'mysql' && atLeast(f, 5, 7) ? 'account_locked' : "'N'";
  const changed = f.kind === 'mysql' && atLeast(f, 5, 7) ? 'UNIX_TIMESTAMP(password_last_changed)' : 'NULL';
  const isRole = f.kind === 'mariadb' ? " WHERE is_role = 'N'" : notRole;
  const lifetime = f.kind === 'mysql' && atLeast(f, 5, 7) ? 'password_lifetime' : 'NULL';
  const statementTime = f.kind === 'mariadb' && atLeast(f, 10, 1) ? 'max_statement_time' : '0';
  // MySQL before 5.7 and MariaDB before 10.4 keep native hashes in the Password column.
  const legacy = (f.kind === 'mysql' && !atLeast(f, 5, 7)) || f.kind === 'mariadb';
  const auth = legacy
    ? "HEX(IF(authentication_string = '' AND plugin IN ('', 'mysql_native_password'), Password, authentication_string))"
    : 'HEX(authentication_string)';
  const plugin = legacy ? "IF(plugin = '', 'mysql_native_password', plugin)" : 'plugin';
  return (
    `SELECT User AS u, Host AS h, ${plugin} AS plugin, ${auth} AS auth, ${locked} AS locked, ${changed} AS changed, ` +
    `max_user_connections AS muc, max_questions AS mq, max_updates AS mu, max_connections AS mc, ssl_type AS ssl, ` +
    `CAST(x509_subject AS CHAR) AS xs, CAST(x509_issuer AS CHAR) AS xi, CAST(ssl_cipher AS CHAR) AS sc, ${lifetime} AS pl, ${statementTime} AS mst FROM mysql.user${isRole}`
  );
}

const SSL_TYPES: Record<string, Tls> = {
  '': 'none',
  ANY: 'ssl',
  X509: 'x509',
  SPECIFIED: 'specified',
  '0': 'none',
  '1': 'ssl',
  '2': 'x509',
  '3': 'specified',
};

const text = (v: unknown, dflt: string): string =>
  typeof v === 'string' ? v : typeof v === 'number' ? String(v) : dflt;

/** Parses one row of usersQuery(); undefined for roles. */
export function parseUserRow(r: Record<string, unknown>): UserState | undefined {
  const user = String(r.u);
  const host = String(r.h);
  if (r.p !== undefined) {
    // mysql2 parses MariaDB's JSON columns itself; older drivers hand back text.
    const p = (typeof r.p === 'string' ? JSON.parse(r.p) : r.p) as Record<string, unknown>;
    if (p.is_role === true) return undefined;
    return {
      user,
      host,
      plugin: text(p.plugin, 'mysql_native_password'),
      verifier: new Verifier(Buffer.from(text(p.authentication_string, ''), 'latin1')),
      passwordChanged: typeof p.password_last_changed === 'number' ? p.password_last_changed : null,
      locked: p.account_locked === true,
      maxConnections: Number(p.max_user_connections ?? 0),
      maxQueriesPerHour: Number(p.max_questions ?? 0),
      maxUpdatesPerHour: Number(p.max_updates ?? 0),
      maxConnectionsPerHour: Number(p.max_connections ?? 0),
      tls: SSL_TYPES[text(p.ssl_type, '0')] ?? 'specified',
      x509Subject: text(p.x509_subject, ''),
      x509Issuer: text(p.x509_issuer, ''),
      sslCipher: text(p.ssl_cipher, ''),
      // -1 (or absent): the server's default.
      passwordLifetime:
        typeof p.password_lifetime === 'number' && p.password_lifetime >= 0 ? p.password_lifetime : null,
      maxStatementTime: Number(p.max_statement_time ?? 0),
    };
  }
  return {
    user,
    host,
    plugin: text(r.plugin, 'mysql_native_password'),
    verifier: new Verifier(Buffer.from(text(r.auth, ''), 'hex')),
    passwordChanged: r.changed === null || r.changed === undefined ? null : Number(r.changed),
    locked: r.locked === 'Y',
    maxConnections: Number(r.muc ?? 0),
    maxQueriesPerHour: Number(r.mq ?? 0),
    maxUpdatesPerHour: Number(r.mu ?? 0),
    maxConnectionsPerHour: Number(r.mc ?? 0),
    tls: SSL_TYPES[text(r.ssl, '')] ?? 'specified',
    x509Subject: text(r.xs, ''),
    x509Issuer: text(r.xi, ''),
    sslCipher: text(r.sc, ''),
    passwordLifetime: r.pl === null || r.pl === undefined ? null : Number(r.pl),
    maxStatementTime: Number(r.mst ?? 0),
  };
}

/** An account setpoint must never touch: system accounts and the one it is logged in as. */
export function isProtected(user: string, host: string, facts: Pick<MysqlFacts, 'currentUser'>): boolean {
  const self = facts.currentUser;
  return SYSTEM_USERS.has(user) || (self.user === user && self.host === host);
}

/** The plugin a password is set with when the file does not say: the flavor's default. */
export function defaultPlugin(f: Flavor): string {
  return f.kind === 'mysql' && atLeast(f, 8, 0) ? 'caching_sha2_password' : 'mysql_native_password';
}

// Checking a caching_sha2 verifier costs 5000 SHA-256 rounds: remember answers for unchanged inputs.
const cachedVerify = memoCheck((plugin: string, stored: Buffer, password: string) =>
  verifyPassword(plugin, stored, password),
);

function flavorOf(ctx: MysqlContext): Flavor {
  return ctx.facts.flavor;
}

const LIMITS = [
  ['maxConnections', 'MAX_USER_CONNECTIONS'],
  ['maxQueriesPerHour', 'MAX_QUERIES_PER_HOUR'],
  ['maxUpdatesPerHour', 'MAX_UPDATES_PER_HOUR'],
  ['maxConnectionsPerHour', 'MAX_CONNECTIONS_PER_HOUR'],
] as const;

export const users: ResourceKind<UserSpec, UserState, MysqlSession, MysqlContext> = {
  kind: KIND,
  // Carried by replication: made on the primary only.
  replicated: true,

  desired(ctx) {
    const c = ctx.cluster;
    return new Map(declaredUsers(c).map((u) => [accountId(u.name, u.host), u]));
  },

  async observe(session, ctx) {
    const rows = await session.query(usersQuery(session.flavor));
    const out = new Map<string, UserState>();
    for (const r of rows) {
      const u = parseUserRow(r);
      if (u === undefined || isProtected(u.user, u.host, ctx.facts)) continue;
      out.set(accountId(u.user, u.host), u);
    }
    return itemsOnly(out);
  },

  diff(desired, { items: observed }, ctx) {
    const drift: Drift[] = [];
    for (const [id, d] of desired) {
      // The account setpoint logs in as is never changed, even when declared: say so instead of failing on it.
      if (isProtected(d.name, d.host, ctx.facts)) {
        drift.push({
          kind: KIND,
          id,
          field: 'protected',
          desired: 'declared',
          observed: 'the account setpoint logs in as: never changed',
        });
        continue;
      }
      const o = observed.get(id);
      if (o === undefined) {
        drift.push({ kind: KIND, id, field: 'present', desired: true, observed: false });
        continue;
      }
      const wantPlugin = d.plugin ?? (d.passwordHash === undefined ? undefined : hashPlugin(d.passwordHash));
      if (wantPlugin !== undefined && wantPlugin !== o.plugin)
        drift.push({ kind: KIND, id, field: 'plugin', desired: wantPlugin, observed: o.plugin });
      else if (d.passwordHash !== undefined) {
        if (!sameHash(d.passwordHash, o.verifier.value))
          drift.push({ kind: KIND, id, field: 'password', desired: '[hash]', observed: 'a different password' });
      } else if (d.password !== undefined) {
        const ok = cachedVerify(o.plugin, o.verifier.value, ctx.secret(d.password).reveal());
        if (ok !== true) {
          drift.push({
            kind: KIND,
            id,
            field: 'password',
            desired: '[secret]',
            observed: ok === false ? 'a different password' : `a verifier setpoint cannot check (${o.plugin})`,
          });
        }
      }
      if (d.locked !== undefined && d.locked !== o.locked)
        drift.push({ kind: KIND, id, field: 'locked', desired: d.locked, observed: o.locked });
      for (const [field] of LIMITS) {
        if (d[field] !== undefined && d[field] !== o[field])
          drift.push({ kind: KIND, id, field, desired: d[field], observed: o[field] });
      }
      if (d.tls !== undefined && !sameTls(d.tls, o))
        drift.push({ kind: KIND, id, field: 'tls', desired: d.tls, observed: observedTls(o) });
      const lifetime =
        d.passwordLifetime === 'never' ? 0 : d.passwordLifetime === 'default' ? null : d.passwordLifetime;
      if (d.passwordLifetime !== undefined && lifetime !== o.passwordLifetime)
        drift.push({
          kind: KIND,
          id,
          field: 'passwordLifetime',
          desired: d.passwordLifetime,
          observed: o.passwordLifetime ?? 'default',
        });
      if (d.maxStatementTime !== undefined && Math.abs(d.maxStatementTime - o.maxStatementTime) > 1e-6)
        drift.push({
          kind: KIND,
          id,
          field: 'maxStatementTime',
          desired: d.maxStatementTime,
          observed: o.maxStatementTime,
        });
    }
    drift.push(...undeclared(KIND, 'users', desired, observed, ctx));
    return drift;
  },

  plan(drift, desired, { items: observed }, ctx) {
    const f = flavorOf(ctx);
    const byId = new Map<string, Drift[]>();
    for (const d of drift) byId.set(d.id, [...(byId.get(d.id) ?? []), d]);
    const changes: Change[] = [];
    for (const [id, items] of byId) {
      const spec = desired.get(id);
      const obs = observed.get(id);
      if (items.some((d) => d.field === 'absent') && obs !== undefined) {
        changes.push({
          kind: KIND,
          id,
          action: 'drop',
          risk: 'destructive',
          phase: PHASE.dropUsers,
          prune: 'users',
          summary: `drop undeclared user ${id}`,
          statements: [{ sql: `DROP USER ${quoteAccount(obs.user, obs.host)}` }],
        });
        continue;
      }
      if (spec === undefined) continue;
      if (items.some((d) => d.field === 'protected')) {
        changes.push({
          kind: KIND,
          id,
          action: 'alter',
          risk: 'safe',
          phase: PHASE.users,
          summary: `leave user ${id} as it is`,
          statements: [],
          blocked: `${id} is the account setpoint logs in as: never changed (remove it from the file)`,
        });
        continue;
      }
      const unsupported = pluginProblem(spec, f);
      const acct = quoteAccount(spec.name, spec.host);
      if (items.some((d) => d.field === 'present')) {
        const auth = identified(
          spec,
          f,
          undefined,
          spec.password === undefined ? undefined : ctx.secret(spec.password),
        );
        const opts = options(spec, true);
        changes.push({
          kind: KIND,
          id,
          action: 'create',
          risk: 'safe',
          phase: PHASE.users,
          summary: `create user ${id}${auth.plugin === undefined ? '' : ` (${auth.plugin})`}${opts.words.length === 0 ? '' : `, ${opts.words.join(', ')}`}`,
          statements: [{ sql: `CREATE USER ${acct}${auth.sql}${opts.sql}`, params: [...auth.params, ...opts.params] }],
          ...(unsupported === undefined ? {} : { blocked: unsupported }),
        });
        continue;
      }
      if (items.some((d) => d.field === 'password' || d.field === 'plugin')) {
        const auth = identified(
          spec,
          f,
          obs?.plugin,
          spec.password === undefined ? undefined : ctx.secret(spec.password),
        );
        const why =
          items.find((d) => d.field === 'plugin') !== undefined
            ? `change auth plugin to ${auth.plugin ?? '?'}`
            : 'set password (it does not match the declared one)';
        changes.push({
          kind: KIND,
          id,
          action: 'alter',
          risk: 'safe',
          phase: PHASE.users,
          summary: `${why} for ${id}`,
          statements: [{ sql: `ALTER USER ${acct}${auth.sql}`, params: auth.params }],
          ...(unsupported === undefined ? {} : { blocked: unsupported }),
        });
      }
      const fields = new Set(items.map((d) => d.field));
      if (
        [...fields].some(
          (x) =>
            x === 'locked' ||
            x === 'tls' ||
            x === 'passwordLifetime' ||
            x === 'maxStatementTime' ||
            LIMITS.some(([k]) => k === x),
        )
      ) {
        const opts = options(spec, false, fields);
        const noTime = fields.has('maxStatementTime') && f.kind !== 'mariadb';
        changes.push({
          kind: KIND,
          id,
          action: 'alter',
          risk: 'safe',
          phase: PHASE.users,
          summary: `set ${opts.words.join(', ')} for ${id}`,
          statements: [{ sql: `ALTER USER ${acct}${opts.sql}`, params: opts.params }],
          ...(noTime ? { blocked: "maxStatementTime is MariaDB's: MySQL has no per-user statement time" } : {}),
        });
      }
    }
    return changes;
  },
};

/** Whether a stored hash is the declared one (a native hash's hex digits in any case). */
export function sameHash(declared: string, stored: Buffer): boolean {
  const s = stored.toString('latin1');
  return declared.startsWith('*') ? s.toUpperCase() === declared.toUpperCase() : s === declared;
}

/** Whether the observed requirement is the declared `tls`. */
export function sameTls(want: NonNullable<UserSpec['tls']>, o: UserState): boolean {
  if (typeof want === 'string') return want === o.tls;
  return (
    o.tls === 'specified' &&
    (want.subject ?? '') === o.x509Subject &&
    (want.issuer ?? '') === o.x509Issuer &&
    (want.cipher ?? '') === o.sslCipher
  );
}

function observedTls(o: UserState): unknown {
  return o.tls === 'specified' ? { subject: o.x509Subject, issuer: o.x509Issuer, cipher: o.sslCipher } : o.tls;
}

/** Why the declared plugin cannot work on this server, if it cannot (the statement would fail, every pass). */
export function pluginProblem(spec: UserSpec, f: Flavor): string | undefined {
  const mysql8 = f.kind === 'mysql' && atLeast(f, 8, 0);
  const plugin = spec.plugin ?? (spec.passwordHash === undefined ? undefined : hashPlugin(spec.passwordHash));
  if (spec.maxStatementTime !== undefined && f.kind !== 'mariadb')
    return "maxStatementTime is MariaDB's: MySQL has no per-user statement time";
  if (plugin === 'caching_sha2_password' && !mysql8)
    return `caching_sha2_password needs MySQL 8.0 or later; this server is ${f.kind === 'mariadb' ? 'MariaDB' : 'MySQL'} ${f.version}`;
  if (spec.plugin === 'unix_socket' && f.kind !== 'mariadb')
    return "unix_socket is MariaDB's plugin: MySQL calls it auth_socket";
  if (spec.plugin === 'auth_socket' && f.kind === 'mariadb')
    return "auth_socket is MySQL's plugin: MariaDB calls it unix_socket";
  return undefined;
}

/** The IDENTIFIED clause for a user on this flavor. The plaintext goes out only for caching_sha2 (which MySQL hashes itself). */
export function identified(
  spec: UserSpec,
  f: Flavor,
  observedPlugin: string | undefined,
  secret: Secret | undefined,
): { sql: string; params: unknown[]; plugin?: string } {
  const plugin =
    spec.plugin ??
    (spec.passwordHash !== undefined
      ? hashPlugin(spec.passwordHash)
      : observedPlugin === 'mysql_native_password' || observedPlugin === 'caching_sha2_password'
        ? observedPlugin
        : defaultPlugin(f));
  if (plugin === 'unix_socket') return { sql: ' IDENTIFIED VIA unix_socket', params: [], plugin };
  if (plugin === 'auth_socket') return { sql: ' IDENTIFIED WITH auth_socket', params: [], plugin };
  if (spec.passwordHash !== undefined) {
    // The stored form as given: kept out of logs and history like a password.
    // A native hash goes upper-cased, as the server writes its own (MariaDB stores what it is given).
    const given = spec.passwordHash;
    const hash = new Secret(given.startsWith('*') ? given.toUpperCase() : given, 'passwordHash');
    return f.kind === 'mariadb' && plugin === 'mysql_native_password'
      ? { sql: ' IDENTIFIED BY PASSWORD ?', params: [hash], plugin }
      : { sql: ` IDENTIFIED WITH ${plugin} AS ?`, params: [hash], plugin };
  }
  if (secret === undefined) return { sql: '', params: [] };
  if (plugin === 'mysql_native_password') {
    // The hash, not the password, crosses the wire and reaches the binlog.
    const hash = new Secret(nativeHash(secret.reveal()), secret.source);
    return f.kind === 'mariadb'
      ? { sql: ' IDENTIFIED BY PASSWORD ?', params: [hash], plugin }
      : { sql: ' IDENTIFIED WITH mysql_native_password AS ?', params: [hash], plugin };
  }
  return { sql: ` IDENTIFIED WITH ${plugin} BY ?`, params: [secret], plugin };
}

/** REQUIRE, WITH limits and ACCOUNT LOCK clauses for the declared options (only `only` fields when given). */
function options(
  spec: UserSpec,
  creating: boolean,
  only?: Set<string>,
): { sql: string; params: unknown[]; words: string[] } {
  const want = (f: string) => only === undefined || only.has(f);
  let sql = '';
  const params: unknown[] = [];
  const words: string[] = [];
  const tls = spec.tls;
  if (tls !== undefined && want('tls')) {
    if (typeof tls === 'string') sql += ` REQUIRE ${tls === 'none' ? 'NONE' : tls === 'ssl' ? 'SSL' : 'X509'}`;
    else {
      // REQUIRE replaces every requirement at once: all the declared ones go together.
      const parts = (
        [
          ['SUBJECT', tls.subject],
          ['ISSUER', tls.issuer],
          ['CIPHER', tls.cipher],
        ] as const
      ).filter(([, v]) => v !== undefined);
      sql += ` REQUIRE ${parts.map(([w]) => `${w} ?`).join(' AND ')}`;
      params.push(...parts.map(([, v]) => v));
    }
    words.push(`tls ${typeof tls === 'string' ? tls : 'specified'}`);
  }
  const limits = LIMITS.filter(([k]) => spec[k] !== undefined && want(k));
  const time = spec.maxStatementTime !== undefined && want('maxStatementTime');
  if (limits.length > 0 || time) {
    sql += ' WITH' + limits.map(([, w]) => ` ${w} ?`).join('') + (time ? ' MAX_STATEMENT_TIME ?' : '');
    for (const [k] of limits) {
      params.push(spec[k]);
      words.push(`${k} ${spec[k] as number}`);
    }
    if (time) {
      params.push(spec.maxStatementTime);
      words.push(`maxStatementTime ${String(spec.maxStatementTime)}`);
    }
  }
  const life = spec.passwordLifetime;
  if (life !== undefined && want('passwordLifetime')) {
    if (life === 'never') sql += ' PASSWORD EXPIRE NEVER';
    else if (life === 'default') sql += ' PASSWORD EXPIRE DEFAULT';
    else {
      sql += ' PASSWORD EXPIRE INTERVAL ? DAY';
      params.push(life);
    }
    words.push(`passwordLifetime ${String(life)}`);
  }
  if (spec.locked !== undefined && want('locked') && (spec.locked || !creating)) {
    sql += spec.locked ? ' ACCOUNT LOCK' : ' ACCOUNT UNLOCK';
    words.push(spec.locked ? 'locked' : 'unlocked');
  }
  return { sql, params, words };
}
