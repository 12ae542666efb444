/**
 * The MySQL/MariaDB dialect without a server: quoting, privilege sets, and the statements the
 * databases, users and grants kinds generate. MySQL 8 cannot run on the lab machine, so its
 * dialect is pinned here with generated statements and known vectors, beside MariaDB's (whose
 * privilege lists below were observed on a real 10.11.19 server).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { databases, type DatabaseState } from '../../agents/mysql/databases.js';
import { grants, grantsFrom, type GrantsExtra, type GrantState, type GrantWant } from '../../agents/mysql/grants.js';
import { cachingSha2Hash, nativeHash } from '../../agents/mysql/password.js';
import {
  ALL,
  expandDeclared,
  isAll,
  normalizePrivilege,
  privilegesOfLevel,
  sorted,
} from '../../agents/mysql/privilege-names.js';
import {
  accountId,
  grantTargetId,
  parseGrantTarget,
  quoteAccount,
  quoteGrantTarget,
  quoteIdent,
  type GrantTarget,
} from '../../agents/mysql/quote.js';
import { databaseSchema, grantSchema, userSchema } from '../../agents/mysql/spec.js';
import { parseFlavor, type Flavor, type MysqlContext, type MysqlSession } from '../../agents/mysql/session.js';
import {
  defaultPlugin,
  identified,
  isProtected,
  parseUserRow,
  users,
  usersQuery,
  type UserState,
} from '../../agents/mysql/users.js';
import { itemsOnly, type Change, type Observation, type PruneClass } from '../../src/engine.js';
import { resolveSecret } from '../../src/secret.js';
import { Secret } from '../../src/secret.js';

const MARIADB = parseFlavor('10.11.19-MariaDB-0+deb12u1-log', '');
const MYSQL8 = parseFlavor('8.0.36', 'MySQL Community Server - GPL');
const MYSQL57 = parseFlavor('5.7.44-log', 'MySQL Community Server (GPL)');
const MARIADB103 = parseFlavor('10.3.39-MariaDB', 'mariadb.org binary distribution');

const PW_ENV = 'SETPOINT_DIALECT_TEST_PW';
const PW = 'c0rrect horse Bättery';
process.env[PW_ENV] = PW;

/**
 * A MysqlContext built by hand; users and databases go through the real schemas (defaults, transforms).
 * `prune` defaults to allowing every class (exact mode); pass false for additive mode.
 */
function ctxOf(
  flavor: Flavor,
  usersIn: unknown[] = [],
  databasesIn: unknown[] = [],
  currentUser = { user: 'root', host: '127.%' },
  prune: boolean | Partial<Record<PruneClass, boolean>> = true,
): MysqlContext {
  return {
    prune: (cls) => (typeof prune === 'boolean' ? prune : prune[cls] === true),
    cluster: {
      engine: 'mysql',
      members: ['db1'],
      databases: databasesIn.map((d) => databaseSchema.parse(d)),
      users: usersIn.map((u) => userSchema.parse(u)),
      roles: [],
      settings: {},
    },
    host: { address: 'x' },
    hostName: 'db1',
    facts: { flavor, currentUser, dataDir: '', packages: [] },
    secret: resolveSecret,
    observation: () => undefined,
  };
}

function target(on: string): GrantTarget {
  const t = parseGrantTarget(on);
  if (typeof t === 'string') throw new Error(t);
  return t;
}

function observedGrants(
  ...gs: { user: string; host?: string; on: string; privileges: Iterable<string>; grantOption?: boolean }[]
): Map<string, GrantState> {
  const out = new Map<string, GrantState>();
  for (const g of gs) {
    const host = g.host ?? '%';
    const t = target(g.on);
    out.set(`${accountId(g.user, host)} on ${grantTargetId(t)}`, {
      user: g.user,
      host,
      target: t,
      privileges: sorted(g.privileges),
      grantOption: g.grantOption ?? false,
    });
  }
  return out;
}

/** A grants observation with nothing beside the grants. */
function grantsSeen(items: Map<string, GrantState>): Observation<GrantState, GrantsExtra> {
  return { items, extra: { missingTables: new Set(), ownPrivileges: undefined } };
}

function grantPass(
  ctx: MysqlContext,
  items: Map<string, GrantState>,
): { drift: ReturnType<typeof grants.diff>; changes: Change[]; desired: Map<string, GrantWant> } {
  const desired = grants.desired(ctx);
  const observed = grantsSeen(items);
  const drift = grants.diff(desired, observed, ctx);
  return { drift, changes: grants.plan(drift, desired, observed, ctx), desired };
}

const sqlOf = (changes: Change[]) => changes.flatMap((c) => c.statements.map((s) => s.sql));

// ---------------------------------------------------------------------------------------------
describe('quoting', () => {
  test('quoteIdent doubles backticks and keeps quotes, spaces, dots and non-ASCII as they are', () => {
    assert.equal(quoteIdent('orders'), '`orders`');
    assert.equal(quoteIdent('a`b'), '`a``b`');
    assert.equal(quoteIdent('``'), '``````');
    assert.equal(quoteIdent('o\'brien "x"'), '`o\'brien "x"`');
    assert.equal(quoteIdent('my db'), '`my db`');
    assert.equal(quoteIdent('my.db'), '`my.db`');
    assert.equal(quoteIdent('café_日本'), '`café_日本`');
    assert.equal(quoteIdent('a\\b'), '`a\\b`');
    assert.equal(quoteIdent('x`; DROP DATABASE mysql; --'), '`x``; DROP DATABASE mysql; --`');
  });

  test('quoteIdent rejects a NUL byte', () => {
    assert.throws(() => quoteIdent('a\0b'), /NUL/);
    assert.throws(() => quoteAccount('u', 'h\0'), /NUL/);
  });

  test('quoteAccount backquotes both parts', () => {
    assert.equal(quoteAccount('app', '%'), '`app`@`%`');
    assert.equal(quoteAccount('a`pp', '10.0.%'), '`a``pp`@`10.0.%`');
    assert.equal(quoteAccount("o'brien", 'localhost'), "`o'brien`@`localhost`");
  });

  test("accountId is 'user'@'host' with ' and \\ escaped", () => {
    assert.equal(accountId('app', '%'), "'app'@'%'");
    assert.equal(accountId("o'brien", 'h\\x'), "'o\\'brien'@'h\\\\x'");
    assert.equal(accountId('a`b c', 'café'), "'a`b c'@'café'");
    // Distinct accounts never share an id, even with quotes in the names.
    assert.notEqual(accountId("a'@'b", 'c'), accountId('a', "b'@'c"));
  });

  test('parseGrantTarget reads *.*, db.*, db.tbl and backquoted parts', () => {
    assert.deepEqual(parseGrantTarget('*.*'), { level: 'global' });
    assert.deepEqual(parseGrantTarget('  *.* '), { level: 'global' });
    assert.deepEqual(parseGrantTarget('orders.*'), { level: 'database', database: 'orders' });
    assert.deepEqual(parseGrantTarget('orders.items'), { level: 'table', database: 'orders', table: 'items' });
    assert.deepEqual(parseGrantTarget('`my.db`.*'), { level: 'database', database: 'my.db' });
    assert.deepEqual(parseGrantTarget('`my.db`.`t``x`'), { level: 'table', database: 'my.db', table: 't`x' });
    assert.deepEqual(parseGrantTarget('`a b`.`c.d.e`'), { level: 'table', database: 'a b', table: 'c.d.e' });
    assert.deepEqual(parseGrantTarget("`o'b`.*"), { level: 'database', database: "o'b" });
    assert.deepEqual(parseGrantTarget('café.日本'), { level: 'table', database: 'café', table: '日本' });
  });

  test('parseGrantTarget rejects what is not a grant target', () => {
    for (const bad of ['', '*', 'db', 'db.', '.*', 'a.b.c', '*.tbl', '`unterminated.*', '`a`x.*', '``.*', 'db.``']) {
      assert.equal(typeof parseGrantTarget(bad), 'string', `"${bad}" should be rejected`);
    }
    assert.match(parseGrantTarget('*.tbl') as string, /not a grant target/);
    assert.match(parseGrantTarget('`x.*') as string, /unterminated/);
  });

  test('grantTargetId backquotes only parts that need it, and parse -> id -> parse round-trips', () => {
    assert.equal(grantTargetId({ level: 'global' }), '*.*');
    assert.equal(grantTargetId({ level: 'database', database: 'orders' }), 'orders.*');
    assert.equal(grantTargetId({ level: 'database', database: 'my.db' }), '`my.db`.*');
    assert.equal(grantTargetId({ level: 'table', database: 'my.db', table: 't`x' }), '`my.db`.`t``x`');
    assert.equal(grantTargetId({ level: 'table', database: 'café', table: 'a$_1' }), '`café`.a$_1');
    for (const text of [
      '*.*',
      'db.*',
      'db.tbl',
      '`my.db`.`t``x`',
      '`my db`.*',
      '`o\'b`.`"q"`',
      '`café`.`日本`',
      '`a``b`.`c.d`',
    ]) {
      const t = target(text);
      const id = grantTargetId(t);
      assert.deepEqual(target(id), t, `round trip of ${text} via ${id}`);
      assert.equal(grantTargetId(target(id)), id);
    }
  });

  test('quoteGrantTarget renders SQL with every name backquoted', () => {
    assert.equal(quoteGrantTarget({ level: 'global' }), '*.*');
    assert.equal(quoteGrantTarget({ level: 'database', database: 'orders' }), '`orders`.*');
    assert.equal(quoteGrantTarget({ level: 'table', database: 'my.db', table: 't`x' }), '`my.db`.`t``x`');
  });

  test('the grant schema turns `on` into a target and rejects NUL and bad targets', () => {
    assert.deepEqual(grantSchema.parse({ privileges: ['select'], on: '`my.db`.`t``x`' }).on, {
      level: 'table',
      database: 'my.db',
      table: 't`x',
    });
    assert.equal(grantSchema.safeParse({ privileges: ['select'], on: '`a\0b`.*' }).success, false);
    assert.equal(grantSchema.safeParse({ privileges: ['select'], on: 'a.b.c' }).success, false);
    assert.equal(userSchema.safeParse({ name: 'a\0b', password: { env: PW_ENV } }).success, false);
    assert.equal(userSchema.safeParse({ name: 'root', password: { env: PW_ENV } }).success, false);
  });
});

// ---------------------------------------------------------------------------------------------
describe('privilege names and sets', () => {
  test('normalizePrivilege: case, spacing and aliases', () => {
    assert.equal(normalizePrivilege('select'), 'SELECT');
    assert.equal(normalizePrivilege('  Insert '), 'INSERT');
    assert.equal(normalizePrivilege('create   temporary\ttables'), 'CREATE TEMPORARY TABLES');
    assert.equal(normalizePrivilege('all'), ALL);
    assert.equal(normalizePrivilege('ALL'), 'ALL PRIVILEGES');
    assert.equal(normalizePrivilege('all  privileges'), 'ALL PRIVILEGES');
    assert.equal(normalizePrivilege('grant'), 'GRANT OPTION');
    assert.equal(normalizePrivilege('grant option'), 'GRANT OPTION');
    assert.equal(normalizePrivilege('replication replica'), 'REPLICATION SLAVE');
    assert.equal(normalizePrivilege('Replica Monitor'), 'SLAVE MONITOR');
    assert.equal(normalizePrivilege('replication replica admin'), 'REPLICATION SLAVE ADMIN');
    assert.equal(normalizePrivilege('replication source admin'), 'REPLICATION MASTER ADMIN');
    assert.equal(normalizePrivilege('system_variables_admin'), 'SYSTEM_VARIABLES_ADMIN');
    assert.equal(normalizePrivilege('usage'), 'USAGE');
  });

  test('normalizePrivilege rejects anything that is not a privilege name', () => {
    for (const bad of [
      'SELECT; DROP',
      'SELECT,INSERT',
      '',
      '   ',
      'select`',
      "select'",
      '1SELECT',
      'SELECT -- x',
      'SELECT\0',
      'A'.repeat(65),
      'SÉLECT',
    ]) {
      assert.equal(normalizePrivilege(bad), undefined, JSON.stringify(bad));
    }
    assert.equal(
      userSchema.safeParse({
        name: 'u',
        password: { env: PW_ENV },
        grants: [{ privileges: ['SELECT; DROP'], on: 'db.*' }],
      }).success,
      false,
    );
  });

  const MARIADB_GLOBAL = [
    'SELECT',
    'INSERT',
    'UPDATE',
    'DELETE',
    'CREATE',
    'DROP',
    'RELOAD',
    'SHUTDOWN',
    'PROCESS',
    'FILE',
    'REFERENCES',
    'INDEX',
    'ALTER',
    'SHOW DATABASES',
    'SUPER',
    'CREATE TEMPORARY TABLES',
    'LOCK TABLES',
    'EXECUTE',
    'REPLICATION SLAVE',
    'BINLOG MONITOR',
    'CREATE VIEW',
    'SHOW VIEW',
    'CREATE ROUTINE',
    'ALTER ROUTINE',
    'CREATE USER',
    'EVENT',
    'TRIGGER',
    'CREATE TABLESPACE',
    'DELETE HISTORY',
    'SET USER',
    'FEDERATED ADMIN',
    'CONNECTION ADMIN',
    'READ_ONLY ADMIN',
    'REPLICATION SLAVE ADMIN',
    'REPLICATION MASTER ADMIN',
    'BINLOG ADMIN',
    'BINLOG REPLAY',
    'SLAVE MONITOR',
  ];
  const MARIADB_DB = [
    'SELECT',
    'INSERT',
    'UPDATE',
    'DELETE',
    'CREATE',
    'DROP',
    'REFERENCES',
    'INDEX',
    'ALTER',
    'CREATE TEMPORARY TABLES',
    'LOCK TABLES',
    'EXECUTE',
    'CREATE VIEW',
    'SHOW VIEW',
    'CREATE ROUTINE',
    'ALTER ROUTINE',
    'EVENT',
    'TRIGGER',
    'DELETE HISTORY',
  ];

  test('MariaDB 10.11.19: ALL at *.* is exactly what USER_PRIVILEGES showed on the real server', () => {
    assert.equal(MARIADB.kind, 'mariadb');
    assert.deepEqual([MARIADB.major, MARIADB.minor, MARIADB.patch], [10, 11, 19]);
    assert.equal(MARIADB_GLOBAL.length, 38);
    assert.deepEqual(sorted(privilegesOfLevel(MARIADB, 'global')), sorted(MARIADB_GLOBAL));
  });

  test('MariaDB 10.11.19: ALL at db.* is exactly what SCHEMA_PRIVILEGES showed on the real server', () => {
    assert.deepEqual(sorted(privilegesOfLevel(MARIADB, 'database')), sorted(MARIADB_DB));
    const table = privilegesOfLevel(MARIADB, 'table');
    for (const p of ['CREATE TEMPORARY TABLES', 'LOCK TABLES', 'EXECUTE', 'CREATE ROUTINE', 'ALTER ROUTINE', 'EVENT'])
      assert.ok(!table.has(p), p);
    assert.ok(table.has('DELETE HISTORY'));
  });

  test('MySQL 8.0.36: ALL at *.* has the static set, CREATE/DROP ROLE and the dynamic privileges', () => {
    assert.equal(MYSQL8.kind, 'mysql');
    const g = privilegesOfLevel(MYSQL8, 'global');
    for (const p of [
      'SELECT',
      'SUPER',
      'REPLICATION CLIENT',
      'REPLICATION SLAVE',
      'CREATE ROLE',
      'DROP ROLE',
      'CREATE TABLESPACE',
      'SYSTEM_VARIABLES_ADMIN',
      'BACKUP_ADMIN',
      'CONNECTION_ADMIN',
      'SYSTEM_USER',
      'ROLE_ADMIN',
      'XA_RECOVER_ADMIN',
      'REPLICATION_SLAVE_ADMIN',
    ]) {
      assert.ok(g.has(p), p);
    }
    // MariaDB-only names never appear on MySQL.
    for (const p of ['DELETE HISTORY', 'BINLOG MONITOR', 'SLAVE MONITOR', 'SET USER', 'READ_ONLY ADMIN'])
      assert.ok(!g.has(p), p);
    // 30 static privileges (SHOW PRIVILEGES, without PROXY and USAGE) plus the dynamic ones.
    assert.equal([...g].filter((p) => !p.includes('_')).length, 30);
    const db = privilegesOfLevel(MYSQL8, 'database');
    assert.ok(!db.has('SYSTEM_VARIABLES_ADMIN') && !db.has('CREATE ROLE') && !db.has('DELETE HISTORY'));
    assert.equal(db.size, 18);
    // MySQL 5.7 has neither roles nor dynamic privileges.
    const g57 = privilegesOfLevel(MYSQL57, 'global');
    assert.ok(!g57.has('CREATE ROLE') && !g57.has('SYSTEM_VARIABLES_ADMIN') && g57.has('REPLICATION CLIENT'));
    // MariaDB before 10.5 still says REPLICATION CLIENT.
    const g103 = privilegesOfLevel(MARIADB103, 'global');
    assert.ok(g103.has('REPLICATION CLIENT') && !g103.has('BINLOG MONITOR') && !g103.has('SLAVE MONITOR'));
  });

  test('expandDeclared: ALL takes in unknown observed privileges, not known ones of other levels; REPLICATION CLIENT is BINLOG MONITOR on MariaDB 10.5+', () => {
    const observed = new Set(['SELECT', 'FUTURE_NEW_ADMIN']);
    const e = expandDeclared([ALL], MYSQL8, 'global', observed);
    assert.ok(e.has('FUTURE_NEW_ADMIN'));
    assert.equal(e.size, privilegesOfLevel(MYSQL8, 'global').size + 1);
    assert.deepEqual(sorted(expandDeclared(['SELECT', 'USAGE', 'GRANT OPTION'], MYSQL8, 'database', observed)), [
      'SELECT',
    ]);
    assert.deepEqual(sorted(expandDeclared(['REPLICATION CLIENT'], MARIADB, 'global', new Set())), ['BINLOG MONITOR']);
    assert.deepEqual(sorted(expandDeclared(['REPLICATION CLIENT'], MYSQL8, 'global', new Set())), [
      'REPLICATION CLIENT',
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
describe('grants kind', () => {
  const appWith = (gs: unknown[], extra: Record<string, unknown> = {}) => ({
    name: 'app',
    password: { env: PW_ENV },
    grants: gs,
    ...extra,
  });

  test('the schema normalizes declared grants: target object, privileges upper-cased, GRANT OPTION split out', () => {
    const ctx = ctxOf(MARIADB, [appWith([{ privileges: ['select', 'Insert', 'grant option'], on: '`my.db`.*' }])]);
    const d = grants.desired(ctx);
    assert.deepEqual([...d.keys()], ["'app'@'%' on `my.db`.*"]);
    const w = d.get("'app'@'%' on `my.db`.*");
    assert.deepEqual(w, {
      user: 'app',
      host: '%',
      target: { level: 'database', database: 'my.db' },
      privileges: ['SELECT', 'INSERT'],
      grantOption: true,
    });
  });

  for (const [name, flavor] of [
    ['MariaDB 10.11', MARIADB],
    ['MySQL 8.0', MYSQL8],
  ] as const) {
    test(`${name}: declared [ALL] vs the server's expansion is no drift, at *.*, db.* and db.tbl`, () => {
      const ctx = ctxOf(flavor, [
        appWith([
          { privileges: ['all'], on: '*.*' },
          { privileges: ['ALL PRIVILEGES'], on: 'orders.*' },
          { privileges: ['All'], on: 'orders.items' },
        ]),
      ]);
      const observed = observedGrants(
        { user: 'app', on: '*.*', privileges: privilegesOfLevel(flavor, 'global') },
        { user: 'app', on: 'orders.*', privileges: privilegesOfLevel(flavor, 'database') },
        { user: 'app', on: 'orders.items', privileges: privilegesOfLevel(flavor, 'table') },
      );
      const { drift, changes } = grantPass(ctx, observed);
      assert.deepEqual(drift, []);
      assert.deepEqual(changes, []);
    });

    test(`${name}: declared [ALL] on nothing grants ALL PRIVILEGES in one statement`, () => {
      const ctx = ctxOf(flavor, [appWith([{ privileges: ['all'], on: 'orders.*' }])]);
      const { drift, changes } = grantPass(ctx, new Map());
      assert.equal(drift.length, 1);
      assert.equal(drift[0]?.field, 'privileges');
      assert.deepEqual(drift[0]?.desired, [ALL]);
      assert.deepEqual(drift[0]?.observed, []);
      assert.deepEqual(sqlOf(changes), ['GRANT ALL PRIVILEGES ON `orders`.* TO `app`@`%`']);
      assert.equal(changes[0]?.risk, 'safe');
    });
  }

  test('MySQL 8: a dynamic privilege setpoint does not know, beside the known ALL set, is still no drift', () => {
    const ctx = ctxOf(MYSQL8, [appWith([{ privileges: ['ALL'], on: '*.*', grantOption: true }])]);
    const observed = observedGrants({
      user: 'app',
      on: '*.*',
      privileges: [...privilegesOfLevel(MYSQL8, 'global'), 'FUTURE_NEW_ADMIN'],
      grantOption: true,
    });
    const { drift, changes } = grantPass(ctx, observed);
    assert.deepEqual(drift, []);
    assert.deepEqual(changes, []);
  });

  test("MySQL 8 releases differ: learned from setpoint's own account, ALL means what this server has", () => {
    // An older 8.0 release without TELEMETRY_LOG_ADMIN and friends: its root holds the static set and these.
    const staticGlobal = [...privilegesOfLevel(MYSQL8, 'global')].filter((p) => !p.includes('_'));
    const server = new Set([...staticGlobal, 'BACKUP_ADMIN', 'SYSTEM_VARIABLES_ADMIN', 'CONNECTION_ADMIN']);
    const all = privilegesOfLevel(MYSQL8, 'global', server);
    assert.ok(!all.has('TELEMETRY_LOG_ADMIN'), 'not expected where the server does not have it');
    assert.ok(all.has('BACKUP_ADMIN') && all.has('CREATE ROLE'));
    assert.equal(isAll(server, MYSQL8, 'global', server), true);
    assert.equal(isAll(server, MYSQL8, 'global'), false, 'the built-in list alone would see drift forever');
    assert.deepEqual(sorted(expandDeclared([ALL], MYSQL8, 'global', server, server)), sorted(server));
  });

  test('MySQL 8: an unknown privilege on a grant declared without ALL is drift and is revoked', () => {
    const ctx = ctxOf(MYSQL8, [appWith([{ privileges: ['SELECT'], on: '*.*' }])]);
    const observed = observedGrants({ user: 'app', on: '*.*', privileges: ['SELECT', 'FUTURE_NEW_ADMIN'] });
    const { drift, changes } = grantPass(ctx, observed);
    assert.deepEqual(
      drift.map((d) => d.field),
      ['privileges'],
    );
    assert.deepEqual(sqlOf(changes), ['REVOKE FUTURE_NEW_ADMIN ON *.* FROM `app`@`%`']);
  });

  test('case and order of declared privileges do not matter', () => {
    for (const flavor of [MARIADB, MYSQL8]) {
      const ctx = ctxOf(flavor, [appWith([{ privileges: ['select', 'Insert'], on: 'orders.*' }])]);
      const { drift } = grantPass(
        ctx,
        observedGrants({ user: 'app', on: 'orders.*', privileges: ['INSERT', 'SELECT'] }),
      );
      assert.deepEqual(drift, []);
    }
  });

  test('MariaDB 10.11: REPLICATION CLIENT declared, BINLOG MONITOR observed, no drift', () => {
    const ctx = ctxOf(MARIADB, [appWith([{ privileges: ['replication client', 'replica monitor'], on: '*.*' }])]);
    const { drift } = grantPass(
      ctx,
      observedGrants({ user: 'app', on: '*.*', privileges: ['BINLOG MONITOR', 'SLAVE MONITOR'] }),
    );
    assert.deepEqual(drift, []);
  });

  test('an extra privilege is a privileges drift whose plan is a destructive REVOKE gated by prune grants', () => {
    const ctx = ctxOf(MARIADB, [appWith([{ privileges: ['SELECT'], on: 'orders.*' }])]);
    const { drift, changes } = grantPass(
      ctx,
      observedGrants({ user: 'app', on: 'orders.*', privileges: ['SELECT', 'DELETE'] }),
    );
    assert.deepEqual(drift, [
      {
        kind: 'mysql.grant',
        id: "'app'@'%' on orders.*",
        field: 'privileges',
        desired: ['SELECT'],
        observed: ['DELETE', 'SELECT'],
      },
    ]);
    assert.equal(changes.length, 1);
    const c = changes[0] as Change;
    assert.equal(c.action, 'revoke');
    assert.equal(c.risk, 'destructive');
    assert.equal(c.prune, 'grants');
    assert.deepEqual(sqlOf(changes), ['REVOKE DELETE ON `orders`.* FROM `app`@`%`']);
  });

  test('a missing privilege is a safe GRANT of just that privilege', () => {
    const ctx = ctxOf(MYSQL8, [appWith([{ privileges: ['SELECT', 'INSERT', 'UPDATE'], on: 'orders.*' }])]);
    const { drift, changes } = grantPass(ctx, observedGrants({ user: 'app', on: 'orders.*', privileges: ['SELECT'] }));
    assert.deepEqual(
      drift.map((d) => d.field),
      ['privileges'],
    );
    assert.equal(changes.length, 1);
    assert.equal(changes[0]?.risk, 'safe');
    assert.equal(changes[0]?.prune, undefined);
    assert.deepEqual(sqlOf(changes), ['GRANT INSERT, UPDATE ON `orders`.* TO `app`@`%`']);
  });

  test('missing and extra at once: a safe GRANT and a destructive REVOKE, separately', () => {
    const ctx = ctxOf(MARIADB, [appWith([{ privileges: ['SELECT', 'INSERT'], on: 'orders.*' }])]);
    const { changes } = grantPass(ctx, observedGrants({ user: 'app', on: 'orders.*', privileges: ['SELECT', 'DROP'] }));
    assert.deepEqual(
      changes.map((c) => [c.action, c.risk, c.statements[0]?.sql]),
      [
        ['grant', 'safe', 'GRANT INSERT ON `orders`.* TO `app`@`%`'],
        ['revoke', 'destructive', 'REVOKE DROP ON `orders`.* FROM `app`@`%`'],
      ],
    );
  });

  test('grantOption wanted but missing: GRANT USAGE ... WITH GRANT OPTION (safe)', () => {
    const ctx = ctxOf(MARIADB, [appWith([{ privileges: ['SELECT'], on: 'orders.*', grantOption: true }])]);
    const { drift, changes } = grantPass(ctx, observedGrants({ user: 'app', on: 'orders.*', privileges: ['SELECT'] }));
    assert.deepEqual(drift, [
      { kind: 'mysql.grant', id: "'app'@'%' on orders.*", field: 'grantOption', desired: true, observed: false },
    ]);
    assert.deepEqual(sqlOf(changes), ['GRANT USAGE ON `orders`.* TO `app`@`%` WITH GRANT OPTION']);
    assert.equal(changes[0]?.risk, 'safe');
  });

  test('grantOption held but not declared: REVOKE GRANT OPTION (destructive)', () => {
    const ctx = ctxOf(MYSQL8, [appWith([{ privileges: ['SELECT'], on: 'orders.*' }])]);
    const { drift, changes } = grantPass(
      ctx,
      observedGrants({ user: 'app', on: 'orders.*', privileges: ['SELECT'], grantOption: true }),
    );
    assert.deepEqual(
      drift.map((d) => [d.field, d.desired, d.observed]),
      [['grantOption', false, true]],
    );
    assert.deepEqual(sqlOf(changes), ['REVOKE GRANT OPTION ON `orders`.* FROM `app`@`%`']);
    assert.equal(changes[0]?.risk, 'destructive');
    assert.equal(changes[0]?.prune, 'grants');
  });

  test('GRANT OPTION written among privileges means grantOption', () => {
    const ctx = ctxOf(MARIADB, [appWith([{ privileges: ['SELECT', 'grant'], on: 'orders.*' }])]);
    const { drift } = grantPass(
      ctx,
      observedGrants({ user: 'app', on: 'orders.*', privileges: ['SELECT'], grantOption: true }),
    );
    assert.deepEqual(drift, []);
  });

  for (const [name, flavor] of [
    ['MariaDB 10.11', MARIADB],
    ['MySQL 8.0', MYSQL8],
  ] as const) {
    test(`${name}: revoking everything says REVOKE ALL PRIVILEGES, then REVOKE GRANT OPTION apart`, () => {
      // app's grants are declared (on orders.*), so its grant on other.* is undeclared: 'absent'.
      const ctx = ctxOf(flavor, [appWith([{ privileges: ['SELECT'], on: 'orders.*' }])]);
      const observed = observedGrants(
        { user: 'app', on: 'orders.*', privileges: ['SELECT'] },
        { user: 'app', on: 'other.*', privileges: privilegesOfLevel(flavor, 'database'), grantOption: true },
      );
      const { drift, changes } = grantPass(ctx, observed);
      assert.deepEqual(drift, [
        { kind: 'mysql.grant', id: "'app'@'%' on other.*", field: 'absent', desired: [], observed: [ALL] },
      ]);
      assert.equal(changes.length, 1);
      const c = changes[0] as Change;
      assert.equal(c.action, 'revoke');
      assert.equal(c.risk, 'destructive');
      assert.equal(c.prune, 'grants');
      assert.deepEqual(sqlOf(changes), [
        'REVOKE ALL PRIVILEGES ON `other`.* FROM `app`@`%`',
        'REVOKE GRANT OPTION ON `other`.* FROM `app`@`%`',
      ]);
      for (const sql of sqlOf(changes)) assert.doesNotMatch(sql, /ALL PRIVILEGES, GRANT OPTION/);
      assert.match(c.summary, /not declared/);
    });
  }

  test('an undeclared partial grant is revoked by name; one with GRANT OPTION only is revoked too', () => {
    const ctx = ctxOf(MARIADB, [appWith([])]);
    const observed = observedGrants(
      { user: 'app', on: 'a.*', privileges: ['SELECT', 'INSERT'], grantOption: true },
      { user: 'app', on: 'b.t', privileges: [], grantOption: true },
    );
    const { drift, changes } = grantPass(ctx, observed);
    assert.deepEqual(
      drift.map((d) => [d.id, d.field]),
      [
        ["'app'@'%' on a.*", 'absent'],
        ["'app'@'%' on b.t", 'absent'],
      ],
    );
    assert.deepEqual(sqlOf(changes), [
      'REVOKE INSERT, SELECT, GRANT OPTION ON `a`.* FROM `app`@`%`',
      'REVOKE GRANT OPTION ON `b`.`t` FROM `app`@`%`',
    ]);
  });

  test('users without a grants list are not managed: their grants are never drift', () => {
    const ctx = ctxOf(MARIADB, [
      { name: 'app', password: { env: PW_ENV } },
      appWith([{ privileges: ['SELECT'], on: 'x.*' }], { name: 'etl' }),
    ]);
    const observed = observedGrants(
      { user: 'app', on: '*.*', privileges: ['SELECT', 'PROCESS'] },
      { user: 'etl', on: 'x.*', privileges: ['SELECT'] },
      // Not declared at all: not managed either (the users kind decides about the account).
      { user: 'stranger', on: 'y.*', privileges: ['SELECT'] },
    );
    const { drift, changes } = grantPass(ctx, observed);
    assert.deepEqual(drift, []);
    assert.deepEqual(changes, []);
  });

  test('an account whose grants are declared as [] loses every grant', () => {
    const ctx = ctxOf(MYSQL8, [appWith([])]);
    const { drift } = grantPass(ctx, observedGrants({ user: 'app', on: '*.*', privileges: ['PROCESS'] }));
    assert.deepEqual(
      drift.map((d) => d.field),
      ['absent'],
    );
  });

  test('prune off for grants (additive): declared grants are a floor; nothing is revoked', () => {
    const ctx = ctxOf(
      MARIADB,
      [
        appWith([
          { privileges: ['SELECT', 'INSERT'], on: 'orders.*' },
          { privileges: ['SELECT'], on: 'x.*' },
        ]),
      ],
      [],
      undefined,
      { databases: true, users: true },
    );
    const observed = observedGrants(
      { user: 'app', on: 'orders.*', privileges: ['SELECT', 'DROP'], grantOption: true },
      { user: 'app', on: 'x.*', privileges: ['SELECT', 'DELETE'], grantOption: true },
      { user: 'app', on: 'other.*', privileges: ['SELECT'] },
    );
    const { drift, changes } = grantPass(ctx, observed);
    // Only the missing INSERT is drift: the extra DROP/DELETE, GRANT OPTION and other.* are not managed.
    assert.deepEqual(
      drift.map((d) => [d.id, d.field]),
      [["'app'@'%' on orders.*", 'privileges']],
    );
    assert.deepEqual(
      changes.map((c) => [c.action, c.risk, c.statements[0]?.sql]),
      [['grant', 'safe', 'GRANT INSERT ON `orders`.* TO `app`@`%`']],
    );
    // Exact mode on the same input revokes.
    const exact = grantPass(
      ctxOf(MARIADB, [
        appWith([
          { privileges: ['SELECT', 'INSERT'], on: 'orders.*' },
          { privileges: ['SELECT'], on: 'x.*' },
        ]),
      ]),
      observed,
    );
    assert.ok(exact.changes.some((c) => c.action === 'revoke'));
    assert.ok(exact.drift.some((d) => d.field === 'absent'));
  });

  test('observe: grantees mapped to accounts, USAGE-only and protected accounts left out, missing tables noted (rows as literals)', () => {
    const ctx = ctxOf(
      MARIADB,
      [
        appWith([
          { privileges: ['SELECT'], on: 'orders.items' },
          { privileges: ['SELECT'], on: 'orders.gone' },
        ]),
      ],
      [],
      { user: 'setpoint', host: '10.%' },
    );
    const accounts = [
      { u: 'app', h: '%' },
      { u: 'root', h: 'localhost' },
      { u: 'setpoint', h: '10.%' },
      { u: 'idle', h: '%' },
    ];
    const rows = [
      { l: 'G', g: "'app'@'%'", d: null, t: null, p: 'USAGE', y: 'NO' },
      { l: 'G', g: "'idle'@'%'", d: null, t: null, p: 'USAGE', y: 'NO' },
      { l: 'G', g: "'root'@'localhost'", d: null, t: null, p: 'SELECT', y: 'YES' },
      { l: 'G', g: "'setpoint'@'10.%'", d: null, t: null, p: 'SUPER', y: 'NO' },
      { l: 'G', g: "'ghost'@'%'", d: null, t: null, p: 'SELECT', y: 'NO' },
      { l: 'D', g: "'app'@'%'", d: 'orders', t: null, p: 'SELECT', y: 'NO' },
      { l: 'D', g: "'app'@'%'", d: 'orders', t: null, p: 'INSERT', y: 'YES' },
      { l: 'T', g: "'app'@'%'", d: 'orders', t: 'items', p: 'SELECT', y: 'NO' },
    ];
    const observed = grantsFrom(accounts, rows, [{ d: 'orders', t: 'items' }], grants.desired(ctx), ctx.facts);
    assert.deepEqual(
      [...observed.items.values()].map((s) => [s.user, s.host, grantTargetId(s.target), s.privileges, s.grantOption]),
      [
        ['app', '%', 'orders.*', ['INSERT', 'SELECT'], true],
        ['app', '%', 'orders.items', ['SELECT'], false],
      ],
    );
    assert.deepEqual([...observed.extra.missingTables], ['orders.gone']);
    // The declared grant on a table that does not exist waits for it.
    const desired = grants.desired(ctx);
    const drift = grants.diff(desired, observed, ctx);
    const changes = grants.plan(drift, desired, observed, ctx);
    const waiting = changes.find((c) => c.id === "'app'@'%' on orders.gone");
    assert.match(waiting?.blocked ?? '', /does not exist yet/);
  });
});

// ---------------------------------------------------------------------------------------------
describe('users kind', () => {
  const SALT = Buffer.from('0123456789abcdefghij', 'latin1');

  function mysql8Row(over: Record<string, unknown> = {}): Record<string, unknown> {
    return {
      u: 'u',
      h: '%',
      plugin: 'caching_sha2_password',
      auth: cachingSha2Hash(PW, SALT).toString('hex').toUpperCase(),
      locked: 'N',
      changed: '1700000000',
      muc: 0,
      mq: 0,
      mu: 0,
      mc: 0,
      ssl: '',
      ...over,
    };
  }

  function pass(ctx: MysqlContext, rows: UserState[]): { drift: ReturnType<typeof users.diff>; changes: Change[] } {
    const desired = users.desired(ctx);
    const observed = itemsOnly(new Map(rows.map((r) => [accountId(r.user, r.host), r])));
    const drift = users.diff(desired, observed, ctx);
    return { drift, changes: users.plan(drift, desired, observed, ctx) };
  }

  function parsed(row: Record<string, unknown>): UserState {
    const s = parseUserRow(row);
    assert.ok(s !== undefined);
    return s;
  }

  test('usersQuery: MySQL 8 reads mysql.user with HEX(authentication_string) and leaves roles out', () => {
    const q = usersQuery(MYSQL8);
    assert.match(q, /FROM mysql\.user\b/);
    assert.match(q, /HEX\(authentication_string\) AS auth/);
    assert.match(q, /account_locked AS locked/);
    assert.match(q, /UNIX_TIMESTAMP\(password_last_changed\) AS changed/);
    assert.match(q, / WHERE NOT \(account_locked = 'Y' AND password_expired = 'Y' AND authentication_string = ''\)$/);
    assert.doesNotMatch(q, /global_priv|is_role/);
  });

  test('usersQuery: MariaDB 10.4+ reads mysql.global_priv; older MariaDB and MySQL 5.7 read mysql.user', () => {
    assert.equal(usersQuery(MARIADB), 'SELECT User AS u, Host AS h, Priv AS p FROM mysql.global_priv');
    assert.equal(
      usersQuery(parseFlavor('10.4.0-MariaDB', '')),
      'SELECT User AS u, Host AS h, Priv AS p FROM mysql.global_priv',
    );
    assert.match(usersQuery(MARIADB103), /FROM mysql\.user WHERE is_role = 'N'$/);
    assert.match(usersQuery(MARIADB103), /'N' AS locked, NULL AS changed/);
    assert.match(
      usersQuery(MYSQL57),
      /HEX\(authentication_string\) AS auth, account_locked AS locked, .* FROM mysql\.user$/,
    );
    assert.doesNotMatch(usersQuery(MYSQL57), /WHERE/);
  });

  test('parseUserRow: a MySQL 8 row with a HEX caching_sha2 verifier', () => {
    const s = parsed(mysql8Row({ locked: 'Y', muc: '5', ssl: 'X509' }));
    assert.equal(s.plugin, 'caching_sha2_password');
    assert.equal(s.verifier.value.length, 70);
    assert.equal(s.verifier.value.subarray(0, 7).toString('latin1'), '$A$005$');
    assert.equal(s.passwordChanged, 1700000000);
    assert.equal(s.locked, true);
    assert.equal(s.maxConnections, 5);
    assert.equal(s.tls, 'x509');
    // The verifier never prints.
    assert.equal(JSON.stringify(s).includes(s.verifier.value.toString('latin1')), false);
    assert.match(JSON.stringify(s), /"\[verifier\]"/);
  });

  test('parseUserRow: MariaDB global_priv JSON (text or parsed), roles are undefined', () => {
    const priv = {
      access: 0,
      plugin: 'mysql_native_password',
      authentication_string: nativeHash(PW),
      password_last_changed: 1700000001,
      account_locked: true,
      max_user_connections: 3,
      ssl_type: 1,
    };
    for (const p of [priv, JSON.stringify(priv)]) {
      const s = parsed({ u: 'app', h: '%', p });
      assert.equal(s.plugin, 'mysql_native_password');
      assert.equal(s.verifier.value.toString('latin1'), nativeHash(PW));
      assert.equal(s.passwordChanged, 1700000001);
      assert.equal(s.locked, true);
      assert.equal(s.maxConnections, 3);
      assert.equal(s.tls, 'ssl');
    }
    assert.equal(parseUserRow({ u: 'r', h: '', p: { is_role: true } }), undefined);
  });

  test('MySQL 8 caching_sha2: the same password is no drift, another is a password drift set with the plaintext as a Secret', () => {
    const obs = [parsed(mysql8Row())];
    const same = pass(ctxOf(MYSQL8, [{ name: 'u', password: { env: PW_ENV } }]), obs);
    assert.deepEqual(same.drift, []);
    assert.deepEqual(same.changes, []);

    const otherEnv = 'SETPOINT_DIALECT_TEST_PW2';
    const other = 'an0ther-Secret-value';
    process.env[otherEnv] = other;
    const { drift, changes } = pass(ctxOf(MYSQL8, [{ name: 'u', password: { env: otherEnv } }]), obs);
    assert.deepEqual(drift, [
      { kind: 'mysql.user', id: "'u'@'%'", field: 'password', desired: '[secret]', observed: 'a different password' },
    ]);
    assert.equal(changes.length, 1);
    const c = changes[0] as Change;
    assert.equal(c.action, 'alter');
    assert.equal(c.risk, 'safe');
    assert.equal(c.statements.length, 1);
    assert.equal(c.statements[0]?.sql, 'ALTER USER `u`@`%` IDENTIFIED WITH caching_sha2_password BY ?');
    const param = c.statements[0]?.params?.[0];
    assert.ok(param instanceof Secret);
    assert.equal(param.reveal(), other);
    const text = JSON.stringify(changes) + JSON.stringify(drift) + c.summary;
    assert.ok(!text.includes(other) && !text.includes(PW), 'no password in a change or drift');
  });

  test('MySQL 8 mysql_native_password: IDENTIFIED WITH mysql_native_password AS ? with the hash', () => {
    const obs = [
      parsed(
        mysql8Row({ plugin: 'mysql_native_password', auth: Buffer.from(nativeHash('old'), 'latin1').toString('hex') }),
      ),
    ];
    const same = pass(ctxOf(MYSQL8, [{ name: 'u', plugin: 'mysql_native_password', password: { env: PW_ENV } }]), [
      parsed(
        mysql8Row({ plugin: 'mysql_native_password', auth: Buffer.from(nativeHash(PW), 'latin1').toString('hex') }),
      ),
    ]);
    assert.deepEqual(same.drift, []);
    const { drift, changes } = pass(
      ctxOf(MYSQL8, [{ name: 'u', plugin: 'mysql_native_password', password: { env: PW_ENV } }]),
      obs,
    );
    assert.deepEqual(
      drift.map((d) => d.field),
      ['password'],
    );
    assert.deepEqual(sqlOf(changes), ['ALTER USER `u`@`%` IDENTIFIED WITH mysql_native_password AS ?']);
    const param = changes[0]?.statements[0]?.params?.[0];
    assert.ok(param instanceof Secret);
    assert.equal(param.reveal(), nativeHash(PW));
    assert.ok(!JSON.stringify(changes).includes(nativeHash(PW)));
    // Without a declared plugin, an observed native account keeps its plugin.
    const kept = pass(ctxOf(MYSQL8, [{ name: 'u', password: { env: PW_ENV } }]), obs);
    assert.deepEqual(sqlOf(kept.changes), ['ALTER USER `u`@`%` IDENTIFIED WITH mysql_native_password AS ?']);
  });

  test('MariaDB: IDENTIFIED BY PASSWORD ? with the hash', () => {
    const obs = [
      parsed({ u: 'u', h: '%', p: { plugin: 'mysql_native_password', authentication_string: nativeHash('old') } }),
    ];
    const { drift, changes } = pass(ctxOf(MARIADB, [{ name: 'u', password: { env: PW_ENV } }]), obs);
    assert.deepEqual(
      drift.map((d) => [d.field, d.observed]),
      [['password', 'a different password']],
    );
    assert.deepEqual(sqlOf(changes), ['ALTER USER `u`@`%` IDENTIFIED BY PASSWORD ?']);
    const param = changes[0]?.statements[0]?.params?.[0];
    assert.ok(param instanceof Secret);
    assert.equal(param.reveal(), nativeHash(PW));
    const same = pass(ctxOf(MARIADB, [{ name: 'u', password: { env: PW_ENV } }]), [
      parsed({ u: 'u', h: '%', p: { plugin: 'mysql_native_password', authentication_string: nativeHash(PW) } }),
    ]);
    assert.deepEqual(same.drift, []);
  });

  test('a verifier setpoint cannot check is a password drift, set again with the flavor default', () => {
    const obs = [parsed({ u: 'u', h: '%', p: { plugin: 'ed25519', authentication_string: 'abc' } })];
    const { drift, changes } = pass(ctxOf(MARIADB, [{ name: 'u', password: { env: PW_ENV } }]), obs);
    assert.match(String(drift[0]?.observed), /cannot check \(ed25519\)/);
    assert.deepEqual(sqlOf(changes), ['ALTER USER `u`@`%` IDENTIFIED BY PASSWORD ?']);
  });

  test('the default plugin is caching_sha2_password on MySQL 8, mysql_native_password on MariaDB and MySQL 5.7', () => {
    assert.equal(defaultPlugin(MYSQL8), 'caching_sha2_password');
    assert.equal(defaultPlugin(MARIADB), 'mysql_native_password');
    assert.equal(defaultPlugin(MYSQL57), 'mysql_native_password');
    const spec = userSchema.parse({ name: 'u', password: { env: PW_ENV } });
    assert.equal(
      identified(spec, MYSQL8, undefined, resolveSecret({ env: PW_ENV })).sql,
      ' IDENTIFIED WITH caching_sha2_password BY ?',
    );
    assert.equal(identified(spec, MARIADB, undefined, resolveSecret({ env: PW_ENV })).sql, ' IDENTIFIED BY PASSWORD ?');
    assert.equal(
      identified(spec, MYSQL57, undefined, resolveSecret({ env: PW_ENV })).sql,
      ' IDENTIFIED WITH mysql_native_password AS ?',
    );
    const sock = userSchema.parse({ name: 'u', plugin: 'unix_socket' });
    assert.deepEqual(identified(sock, MARIADB, undefined, undefined), {
      sql: ' IDENTIFIED VIA unix_socket',
      params: [],
      plugin: 'unix_socket',
    });
  });

  test('create: IDENTIFIED, then REQUIRE, then WITH limits, then ACCOUNT LOCK', () => {
    const spec = {
      name: 'app',
      host: '10.0.%',
      password: { env: PW_ENV },
      tls: 'ssl',
      maxConnections: 10,
      maxQueriesPerHour: 1000,
      maxConnectionsPerHour: 5,
      locked: true,
    };
    const my = pass(ctxOf(MYSQL8, [spec]), []);
    assert.deepEqual(
      my.drift.map((d) => d.field),
      ['present'],
    );
    assert.equal(my.changes.length, 1);
    const c = my.changes[0] as Change;
    assert.equal(c.action, 'create');
    assert.equal(c.risk, 'safe');
    assert.equal(
      c.statements[0]?.sql,
      'CREATE USER `app`@`10.0.%` IDENTIFIED WITH caching_sha2_password BY ? REQUIRE SSL WITH MAX_USER_CONNECTIONS ? MAX_QUERIES_PER_HOUR ? MAX_CONNECTIONS_PER_HOUR ? ACCOUNT LOCK',
    );
    const params = c.statements[0]?.params ?? [];
    assert.ok(params[0] instanceof Secret);
    assert.deepEqual(params.slice(1), [10, 1000, 5]);
    assert.ok(!JSON.stringify(my.changes).includes(PW));
    const maria = pass(ctxOf(MARIADB, [spec]), []);
    assert.equal(
      maria.changes[0]?.statements[0]?.sql,
      'CREATE USER `app`@`10.0.%` IDENTIFIED BY PASSWORD ? REQUIRE SSL WITH MAX_USER_CONNECTIONS ? MAX_QUERIES_PER_HOUR ? MAX_CONNECTIONS_PER_HOUR ? ACCOUNT LOCK',
    );
    // locked: false on create says nothing (new accounts are unlocked).
    const plain = pass(ctxOf(MYSQL8, [{ name: 'b', password: { env: PW_ENV }, locked: false }]), []);
    assert.equal(
      plain.changes[0]?.statements[0]?.sql,
      'CREATE USER `b`@`%` IDENTIFIED WITH caching_sha2_password BY ?',
    );
  });

  test('option drift alters only the drifted options; an undeclared user is a destructive drop gated by prune users', () => {
    const obs = [parsed(mysql8Row({ locked: 'Y', muc: 1 })), parsed(mysql8Row({ u: 'old' }))];
    const { drift, changes } = pass(
      ctxOf(MYSQL8, [{ name: 'u', password: { env: PW_ENV }, locked: false, maxConnections: 1, tls: 'none' }]),
      obs,
    );
    assert.deepEqual(
      drift.map((d) => [d.id, d.field]),
      [
        ["'u'@'%'", 'locked'],
        ["'old'@'%'", 'absent'],
      ],
    );
    assert.deepEqual(
      changes.map((c) => [c.action, c.risk, c.prune, c.statements[0]?.sql]),
      [
        ['alter', 'safe', undefined, 'ALTER USER `u`@`%` ACCOUNT UNLOCK'],
        ['drop', 'destructive', 'users', 'DROP USER `old`@`%`'],
      ],
    );
  });

  test('prune off for users: an undeclared account is not drift', () => {
    const { drift, changes } = pass(
      ctxOf(MYSQL8, [{ name: 'u', password: { env: PW_ENV } }], [], undefined, { grants: true, databases: true }),
      [parsed(mysql8Row()), parsed(mysql8Row({ u: 'old' }))],
    );
    assert.deepEqual(drift, []);
    assert.deepEqual(changes, []);
  });

  test('system accounts and the session’s own account are protected and never observed', async () => {
    const facts = { flavor: MYSQL8, currentUser: { user: 'root', host: '127.%' } };
    for (const u of [
      'root',
      'mysql.sys',
      'mysql.session',
      'mysql.infoschema',
      'mariadb.sys',
      'debian-sys-maint',
      'PUBLIC',
    ])
      assert.ok(isProtected(u, '%', facts), u);
    assert.ok(isProtected('root', 'anything', { currentUser: { user: 'x', host: 'y' } }));
    assert.ok(!isProtected('app', '%', facts));
    const facts2 = { currentUser: { user: 'setpoint', host: '10.%' } };
    assert.ok(isProtected('setpoint', '10.%', facts2));
    assert.ok(!isProtected('setpoint', '%', facts2));

    const rows = [
      mysql8Row({ u: 'root', h: 'localhost' }),
      mysql8Row({ u: 'mysql.sys', h: 'localhost' }),
      mysql8Row({ u: 'setpoint', h: '10.%' }),
      mysql8Row({ u: 'setpoint', h: '%' }),
      mysql8Row({ u: 'app' }),
    ];
    let sent = '';
    const session = {
      flavor: MYSQL8,
      async query(sql: string) {
        sent = sql;
        return rows;
      },
    } as unknown as MysqlSession;
    const ctx = ctxOf(MYSQL8, [], [], { user: 'setpoint', host: '10.%' });
    const observed = await users.observe(session, ctx);
    assert.equal(sent, usersQuery(MYSQL8));
    assert.deepEqual([...observed.items.keys()], ["'setpoint'@'%'", "'app'@'%'"]);
    // With nothing declared they are 'absent', but never the protected ones.
    const drift = users.diff(users.desired(ctx), observed, ctx);
    assert.ok(drift.every((d) => d.id !== "'root'@'localhost'" && d.id !== "'setpoint'@'10.%'"));
  });
});

// ---------------------------------------------------------------------------------------------
describe('databases kind', () => {
  function pass(
    ctx: MysqlContext,
    obs: DatabaseState[],
  ): { drift: ReturnType<typeof databases.diff>; changes: Change[] } {
    const desired = databases.desired(ctx);
    const observed = itemsOnly(new Map(obs.map((o) => [o.name, o])));
    const drift = databases.diff(desired, observed, ctx);
    return { drift, changes: databases.plan(drift, desired, observed, ctx) };
  }

  test('charset and collation compare case-insensitively', () => {
    const { drift } = pass(
      ctxOf(MYSQL8, [], [{ name: 'orders', charset: 'UTF8MB4', collation: 'UTF8MB4_Unicode_CI' }]),
      [{ name: 'orders', charset: 'utf8mb4', collation: 'utf8mb4_unicode_ci' }],
    );
    assert.deepEqual(drift, []);
  });

  test('a declared charset without a collation ignores the collation', () => {
    const { drift } = pass(ctxOf(MARIADB, [], [{ name: 'orders', charset: 'utf8mb4' }]), [
      { name: 'orders', charset: 'utf8mb4', collation: 'utf8mb4_uca1400_ai_ci' },
    ]);
    assert.deepEqual(drift, []);
    const none = pass(ctxOf(MARIADB, [], [{ name: 'orders' }]), [
      { name: 'orders', charset: 'latin1', collation: 'latin1_swedish_ci' },
    ]);
    assert.deepEqual(none.drift, []);
  });

  test('a different charset and collation is one safe ALTER with parameters', () => {
    const { drift, changes } = pass(
      ctxOf(MYSQL8, [], [{ name: 'my.db', charset: 'utf8mb4', collation: 'utf8mb4_0900_ai_ci' }]),
      [{ name: 'my.db', charset: 'latin1', collation: 'latin1_swedish_ci' }],
    );
    assert.deepEqual(
      drift.map((d) => d.field),
      ['charset', 'collation'],
    );
    assert.equal(changes.length, 1);
    assert.deepEqual(changes[0]?.statements, [
      { sql: 'ALTER DATABASE `my.db` CHARACTER SET ? COLLATE ?', params: ['utf8mb4', 'utf8mb4_0900_ai_ci'] },
    ]);
    assert.equal(changes[0]?.risk, 'safe');
  });

  test('missing is a safe CREATE; undeclared is a destructive DROP gated by prune databases', () => {
    const { drift, changes } = pass(ctxOf(MARIADB, [], [{ name: 'new`db', charset: 'utf8mb4' }]), [
      { name: 'legacy', charset: 'latin1', collation: 'latin1_swedish_ci' },
    ]);
    assert.deepEqual(
      drift.map((d) => [d.id, d.field]),
      [
        ['new`db', 'present'],
        ['legacy', 'absent'],
      ],
    );
    assert.deepEqual(
      changes.map((c) => [c.action, c.risk, c.prune, c.statements]),
      [
        ['create', 'safe', undefined, [{ sql: 'CREATE DATABASE `new``db` CHARACTER SET ?', params: ['utf8mb4'] }]],
        ['drop', 'destructive', 'databases', [{ sql: 'DROP DATABASE `legacy`' }]],
      ],
    );
  });

  test('prune off for databases: an undeclared database is not drift', () => {
    const { drift } = pass(ctxOf(MARIADB, [], [{ name: 'orders' }], undefined, { users: true, grants: true }), [
      { name: 'orders', charset: 'utf8mb4', collation: 'utf8mb4_general_ci' },
      { name: 'legacy', charset: 'latin1', collation: 'latin1_swedish_ci' },
    ]);
    assert.deepEqual(drift, []);
  });

  test('system schemas cannot be declared', () => {
    for (const n of ['mysql', 'SYS', 'performance_schema', 'information_schema'])
      assert.equal(databaseSchema.safeParse({ name: n }).success, false, n);
  });
});

test('a backquoted * is a name, not the wildcard: `*`.* is a database named *', () => {
  assert.deepEqual(parseGrantTarget('`*`.*'), { level: 'database', database: '*' });
  assert.deepEqual(parseGrantTarget('db.`*`'), { level: 'table', database: 'db', table: '*' });
  assert.deepEqual(parseGrantTarget('*.*'), { level: 'global' });
});

test('utf8 and utf8mb3 are one character set (servers report utf8mb3 since MySQL 8.0.30 and MariaDB 10.6)', async () => {
  const { charsetName } = await import('../../agents/mysql/databases.js');
  assert.equal(charsetName('utf8'), 'utf8mb3');
  assert.equal(charsetName('UTF8_General_CI'), 'utf8mb3_general_ci');
  assert.equal(charsetName('utf8mb4'), 'utf8mb4');
  assert.equal(charsetName('utf8mb4_unicode_ci'), 'utf8mb4_unicode_ci');
});

test('declaring the account setpoint logs in as: reported and left alone, never a failing CREATE USER', () => {
  process.env[PW_ENV] = PW;
  const ctx = ctxOf(
    MARIADB,
    [{ name: 'setpoint', host: '%', password: { env: PW_ENV }, grants: [{ privileges: ['ALL'], on: '*.*' }] }],
    [],
    { user: 'setpoint', host: '%' },
  );
  const d = users.desired(ctx);
  const drift = users.diff(d, itemsOnly(new Map()), ctx);
  assert.deepEqual(
    drift.map((x) => x.field),
    ['protected'],
  );
  const changes = users.plan(drift, d, itemsOnly(new Map()), ctx);
  assert.equal(changes.length, 1);
  assert.equal(changes[0]?.statements.length, 0);
  assert.match(changes[0]?.blocked ?? '', /the account setpoint logs in as: never changed/);
  assert.deepEqual(
    grants.diff(grants.desired(ctx), grantsSeen(new Map()), ctx),
    [],
    'its grants are not managed either',
  );
});

test('a plugin the server does not have waits with the reason instead of failing every pass', () => {
  process.env[PW_ENV] = PW;
  const sha2 = ctxOf(MARIADB, [{ name: 'app', password: { env: PW_ENV }, plugin: 'caching_sha2_password' }]);
  const c = users.plan(
    users.diff(users.desired(sha2), itemsOnly(new Map()), sha2),
    users.desired(sha2),
    itemsOnly(new Map()),
    sha2,
  );
  assert.match(
    c[0]?.blocked ?? '',
    /^caching_sha2_password needs MySQL 8\.0 or later; this server is MariaDB 10\.11\.19/,
  );
  const sock = ctxOf(MYSQL8, [{ name: 'ops', plugin: 'unix_socket' }]);
  assert.match(
    users.plan(
      users.diff(users.desired(sock), itemsOnly(new Map()), sock),
      users.desired(sock),
      itemsOnly(new Map()),
      sock,
    )[0]?.blocked ?? '',
    /MySQL calls it auth_socket/,
  );
  const fine = ctxOf(MYSQL8, [{ name: 'app', password: { env: PW_ENV }, plugin: 'caching_sha2_password' }]);
  assert.equal(
    users.plan(
      users.diff(users.desired(fine), itemsOnly(new Map()), fine),
      users.desired(fine),
      itemsOnly(new Map()),
      fine,
    )[0]?.blocked,
    undefined,
  );
});
