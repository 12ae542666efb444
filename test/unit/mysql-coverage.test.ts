/**
 * Issue 13's MySQL/MariaDB coverage without a server: set-valued variables, routine and column
 * grants, roles, stored password hashes and account options, with MySQL 8's dialect pinned here
 * (it cannot run on the lab machine).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { grants, grantsFrom, type GrantWant } from '../../agents/mysql/grants.js';
import { columnAtom, parseColumnPrivilege, privilegeSql } from '../../agents/mysql/privilege-names.js';
import {
  grantTargetId,
  parseGrantTarget,
  quoteGrantTarget,
  quoteIdent,
  type GrantTarget,
} from '../../agents/mysql/quote.js';
import { parseFlavor, type Flavor, type MysqlContext } from '../../agents/mysql/session.js';
import { roleGrants, roleGrantSql, roleGrantsQuery } from '../../agents/mysql/role-grants.js';
import { hasRoles, roleStatement, rolesQuery } from '../../agents/mysql/roles.js';
import { roleSchema, userSchema } from '../../agents/mysql/spec.js';
import { identified, pluginProblem, sameHash, users, usersQuery } from '../../agents/mysql/users.js';
import { resolveSecret } from '../../src/secret.js';
import { listKind, sameValue, serverValue, setMembers } from '../../agents/mysql/variables.js';

const MARIADB = parseFlavor('10.11.19-MariaDB-0+deb12u1-log', '');
const MYSQL8 = parseFlavor('8.0.36', 'MySQL Community Server - GPL');
const MYSQL57 = parseFlavor('5.7.44-log', 'MySQL Community Server (GPL)');
process.env.SETPOINT_COVERAGE_PW = 'coverage-unit-pw';

/** A MysqlContext built by hand, users through the real schema; prune allows every class (exact mode). */
function ctxOf(flavor: Flavor, usersIn: unknown[] = [], rolesIn: unknown[] = []): MysqlContext {
  return {
    prune: () => true,
    cluster: {
      engine: 'mysql',
      members: ['db1'],
      databases: [],
      users: usersIn.map((u) => userSchema.parse(u)),
      roles: rolesIn.map((r) => roleSchema.parse(r)),
      settings: {},
    },
    host: { address: 'x' },
    hostName: 'db1',
    facts: { flavor, currentUser: { user: 'root', host: 'localhost' }, dataDir: '', packages: [] },
    secret: resolveSecret,
    observation: () => undefined,
  };
}

describe('set-valued variables', () => {
  const setOf = (name: string, flavor = MARIADB) => ({ kind: 'set' as const, name, flavor });
  test('which variables are lists: the server catalog first, a known list where there is none (MySQL)', () => {
    assert.equal(listKind('sql_mode', { type: 'SET', min: null, max: null, block: null, values: [] }), 'set');
    assert.equal(
      listKind('optimizer_switch', { type: 'FLAGSET', min: null, max: null, block: null, values: [] }),
      'flagset',
    );
    assert.equal(listKind('sql_mode', { type: 'VARCHAR', min: null, max: null, block: null, values: null }), undefined);
    assert.equal(listKind('sql_mode'), 'set');
    assert.equal(listKind('OPTIMIZER_SWITCH'), 'flagset');
    assert.equal(listKind('max_connections'), undefined);
  });

  test('order, case, spaces and repeats do not matter', () => {
    const o = 'STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION';
    assert.ok(
      sameValue(
        'no_engine_substitution, no_auto_create_user,ERROR_FOR_DIVISION_BY_ZERO,STRICT_TRANS_TABLES',
        o,
        setOf('sql_mode'),
      ),
    );
    assert.ok(
      sameValue(
        'STRICT_TRANS_TABLES,STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION',
        o,
        setOf('sql_mode'),
      ),
    );
    assert.ok(!sameValue('STRICT_TRANS_TABLES', o, setOf('sql_mode')));
    assert.ok(sameValue('', '', setOf('sql_mode')));
    assert.ok(sameValue('table,file', 'FILE,TABLE', setOf('log_output')));
    // Without the list kind the old comparison holds (plain strings).
    assert.ok(!sameValue('table,file', 'FILE,TABLE'));
  });

  test('sql_mode combination modes are expanded as each flavor expands them', () => {
    // MariaDB 10.11, observed: the combination's name stays in the list.
    assert.ok(
      sameValue(
        'TRADITIONAL',
        'STRICT_TRANS_TABLES,STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,TRADITIONAL,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION',
        setOf('sql_mode'),
      ),
    );
    assert.ok(sameValue('ansi', 'REAL_AS_FLOAT,PIPES_AS_CONCAT,ANSI_QUOTES,IGNORE_SPACE,ANSI', setOf('sql_mode')));
    assert.ok(
      sameValue(
        'ORACLE',
        'PIPES_AS_CONCAT,ANSI_QUOTES,IGNORE_SPACE,ORACLE,NO_KEY_OPTIONS,NO_TABLE_OPTIONS,NO_FIELD_OPTIONS,NO_AUTO_CREATE_USER,SIMULTANEOUS_ASSIGNMENT',
        setOf('sql_mode'),
      ),
    );
    // The parts without the combination's own mode are another value.
    assert.ok(
      !sameValue(
        'REAL_AS_FLOAT,PIPES_AS_CONCAT,ANSI_QUOTES,IGNORE_SPACE',
        'REAL_AS_FLOAT,PIPES_AS_CONCAT,ANSI_QUOTES,IGNORE_SPACE,ANSI',
        setOf('sql_mode'),
      ),
    );
    // MySQL 8: ANSI adds ONLY_FULL_GROUP_BY; TRADITIONAL has no NO_AUTO_CREATE_USER (removed in 8.0).
    assert.ok(
      sameValue(
        'ANSI',
        'REAL_AS_FLOAT,PIPES_AS_CONCAT,ANSI_QUOTES,IGNORE_SPACE,ONLY_FULL_GROUP_BY,ANSI',
        setOf('sql_mode', MYSQL8),
      ),
    );
    assert.ok(
      sameValue(
        'TRADITIONAL',
        'STRICT_TRANS_TABLES,STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,TRADITIONAL,NO_ENGINE_SUBSTITUTION',
        setOf('sql_mode', MYSQL8),
      ),
    );
    assert.ok(
      !sameValue(
        'STRICT_TRANS_TABLES,TRADITIONAL',
        'STRICT_TRANS_TABLES,STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION',
        setOf('sql_mode', MYSQL57),
      ),
    );
    assert.deepEqual([...setMembers('mysql40', 'sql_mode', MARIADB)].sort(), ['HIGH_NOT_PRECEDENCE', 'MYSQL40']);
    // Only sql_mode has combinations.
    assert.deepEqual([...setMembers('ANSI', 'old_mode', MARIADB)], ['ANSI']);
  });

  test('flag lists compare the declared flags only; flag=default is the server default', () => {
    const how = (defaults?: string) => ({
      kind: 'flagset' as const,
      name: 'optimizer_switch',
      flavor: MARIADB,
      defaults: defaults ?? null,
    });
    const o = 'index_merge=off,index_merge_union=on,mrr=on,mrr_cost_based=off';
    assert.ok(sameValue('mrr=on, INDEX_MERGE=off', o, how()));
    assert.ok(!sameValue('mrr=off', o, how()));
    assert.ok(sameValue('mrr=default', 'mrr=off', how('mrr=off,index_merge=on')));
    assert.ok(!sameValue('mrr=default', 'mrr=on', how('mrr=off,index_merge=on')));
    assert.ok(sameValue('default', 'mrr=off,index_merge=on', how('mrr=off,index_merge=on')));
    assert.ok(!sameValue('default', 'mrr=on,index_merge=on', how('mrr=off,index_merge=on')));
    // Where the server does not list its defaults (MySQL), a flag at default is not compared.
    assert.ok(sameValue('mrr=default', 'mrr=on', how()));
  });

  test('a list goes to the server trimmed, as text', () => {
    assert.equal(serverValue(' a , b ,', 'set'), 'a,b');
    assert.equal(serverValue('mrr=on, index_merge=off', 'flagset'), 'mrr=on,index_merge=off');
    assert.equal(serverValue('256M'), 268435456);
  });
});

describe('routine and column grants', () => {
  test('on: "FUNCTION db.f" / "PROCEDURE db.p" is one routine, quoted and named as written', () => {
    const t = parseGrantTarget('function `my.db`.MyF');
    assert.deepEqual(t, { level: 'routine', routine: 'FUNCTION', database: 'my.db', name: 'MyF' });
    assert.equal(quoteGrantTarget(t as GrantTarget), 'FUNCTION `my.db`.`MyF`');
    assert.equal(grantTargetId(t as GrantTarget), 'FUNCTION `my.db`.MyF');
    assert.deepEqual(parseGrantTarget('PROCEDURE db.p'), {
      level: 'routine',
      routine: 'PROCEDURE',
      database: 'db',
      name: 'p',
    });
    assert.match(JSON.stringify(parseGrantTarget('PROCEDURE db.*')), /one routine, no wildcard/);
    assert.match(JSON.stringify(parseGrantTarget('FUNCTION db')), /expected ..FUNCTION db\.name/);
    // A table named "FUNCTION x" is still reachable backquoted.
    assert.deepEqual(parseGrantTarget('`FUNCTION db`.t'), { level: 'table', database: 'FUNCTION db', table: 't' });
  });

  test('column privileges parse, and go back to SQL with their columns quoted', () => {
    assert.deepEqual(parseColumnPrivilege(' select ( a , `b,c` ) '), { privilege: 'SELECT', columns: ['a', 'b,c'] });
    assert.equal(parseColumnPrivilege('SELECT'), undefined);
    assert.match(JSON.stringify(parseColumnPrivilege('DELETE (a)')), /SELECT, INSERT, UPDATE, REFERENCES only/);
    assert.match(JSON.stringify(parseColumnPrivilege('SELECT (a,)')), /expected column names/);
    assert.equal(columnAtom('SELECT', 'MixedCase'), 'SELECT (mixedcase)');
    assert.equal(privilegeSql('SELECT (a`b)', quoteIdent), 'SELECT (`a``b`)');
    assert.equal(privilegeSql('ALTER ROUTINE', quoteIdent), 'ALTER ROUTINE');
  });

  test('grantsFrom reads procs_priv rows (any case) and column rows into the declared targets', () => {
    const want = new Map<string, GrantWant>([
      [
        'f',
        {
          user: 'u',
          host: '%',
          target: { level: 'routine', routine: 'FUNCTION', database: 'd', name: 'MyF' },
          privileges: ['EXECUTE'],
          grantOption: true,
        },
      ],
    ]);
    const o = grantsFrom(
      [{ u: 'u', h: '%' }],
      [
        { l: 'F', g: "'u'@'%'", d: 'd', t: 'myf', p: 'Execute,Grant', y: 'YES' },
        { l: 'P', g: "'u'@'%'", d: 'd', t: 'p', p: 'Alter Routine', y: 'NO' },
        { l: 'C', g: "'u'@'%'", d: 'd', t: 't', c: 'A', p: 'SELECT', y: 'NO' },
        { l: 'T', g: "'u'@'%'", d: 'd', t: 't', p: 'INSERT', y: 'NO' },
      ],
      [{ k: 'F', d: 'd', t: 'MYF' }],
      want,
      { currentUser: { user: 'root', host: 'localhost' } },
    );
    const f = o.items.get("'u'@'%' on FUNCTION d.MyF");
    assert.deepEqual([f?.privileges, f?.grantOption], [['EXECUTE'], true]);
    assert.deepEqual(o.items.get("'u'@'%' on PROCEDURE d.p")?.privileges, ['ALTER ROUTINE']);
    assert.deepEqual(o.items.get("'u'@'%' on d.t")?.privileges, ['INSERT', 'SELECT (a)']);
    assert.equal(o.extra.missingTables.size, 0, 'the routine exists (names match in any case)');
  });

  test('the MySQL 8 dialect: the same routine and column statements', () => {
    const ctx = ctxOf(MYSQL8, [
      {
        name: 'u',
        password: { env: 'SETPOINT_COVERAGE_PW' },
        grants: [
          { privileges: ['EXECUTE'], on: 'FUNCTION d.f', grantOption: true },
          { privileges: ['SELECT (a, b)', 'INSERT'], on: 'd.t' },
        ],
      },
    ]);
    const desired = grants.desired(ctx);
    const observed = grantsFrom(
      [{ u: 'u', h: '%' }],
      [],
      [
        { k: 'F', d: 'd', t: 'f' },
        { d: 'd', t: 't' },
      ],
      desired,
      ctx.facts,
    );
    const changes = grants.plan(grants.diff(desired, observed, ctx), desired, observed, ctx);
    assert.deepEqual(
      changes
        .map((c) => c.statements.map((s) => s.sql))
        .flat()
        .sort(),
      [
        'GRANT EXECUTE ON FUNCTION `d`.`f` TO `u`@`%` WITH GRANT OPTION',
        'GRANT INSERT, SELECT (`a`), SELECT (`b`) ON `d`.`t` TO `u`@`%`',
      ],
    );
  });
});

describe('roles: the dialect of each flavor', () => {
  test('CREATE/DROP ROLE, GRANT role, SET DEFAULT ROLE: MariaDB roles have no host, MySQL 8 roles are `r`@`%`', () => {
    assert.equal(roleStatement('CREATE', 'r`1', MARIADB), 'CREATE ROLE `r``1`');
    assert.equal(roleStatement('CREATE', 'r1', MYSQL8), 'CREATE ROLE `r1`@`%`');
    assert.equal(roleStatement('DROP', 'r1', MYSQL8), 'DROP ROLE `r1`@`%`');
    const u = { user: 'app', host: '10.%' };
    assert.deepEqual(roleGrantSql(MARIADB, 'grant', u, ['a', 'b']), [
      'GRANT `a` TO `app`@`10.%`',
      'GRANT `b` TO `app`@`10.%`',
    ]);
    assert.deepEqual(roleGrantSql(MYSQL8, 'grant', u, ['a']), ['GRANT `a`@`%` TO `app`@`10.%`']);
    assert.deepEqual(roleGrantSql(MARIADB, 'grant', { user: 'w', host: '' }, ['a']), ['GRANT `a` TO `w`']);
    assert.deepEqual(roleGrantSql(MYSQL8, 'revoke', { user: 'w', host: '%' }, ['a']), ['REVOKE `a`@`%` FROM `w`@`%`']);
    assert.deepEqual(roleGrantSql(MARIADB, 'default', u, ['a']), ['SET DEFAULT ROLE `a` FOR `app`@`10.%`']);
    assert.deepEqual(roleGrantSql(MARIADB, 'default', u, []), ['SET DEFAULT ROLE NONE FOR `app`@`10.%`']);
    assert.deepEqual(roleGrantSql(MYSQL8, 'default', u, ['a', 'b']), [
      'SET DEFAULT ROLE `a`@`%`, `b`@`%` TO `app`@`10.%`',
    ]);
    assert.match(rolesQuery(MARIADB), /is_role = 'Y'/);
    assert.match(rolesQuery(MYSQL8), /account_locked = 'Y' AND password_expired = 'Y'/);
    assert.match(roleGrantsQuery(MARIADB), /mysql\.roles_mapping/);
    assert.match(roleGrantsQuery(MYSQL8), /mysql\.role_edges.*mysql\.default_roles/);
    assert.equal(hasRoles(MYSQL57), false);
  });

  test('a role granted to a user: planned after the role exists; MariaDB takes one default role', () => {
    const ctx = ctxOf(
      MARIADB,
      [{ name: 'u', password: { env: 'SETPOINT_COVERAGE_PW' }, roles: ['a', 'b'], defaultRoles: ['a', 'b'] }],
      [{ name: 'a' }],
    );
    const desired = roleGrants.desired(ctx);
    const observed = { items: new Map(), extra: undefined };
    const changes = roleGrants.plan(roleGrants.diff(desired, observed, ctx), desired, observed, ctx);
    const grant = changes.find((c) => c.action === 'grant');
    assert.match(grant?.blocked ?? '', /role b does not exist/);
    const dflt = changes.find((c) => c.action === 'alter');
    assert.match(dflt?.blocked ?? '', /one default role/);
    const ctx8 = ctxOf(
      MYSQL8,
      [{ name: 'u', password: { env: 'SETPOINT_COVERAGE_PW' }, defaultRoles: [] }],
      [{ name: 'a', roles: [] }],
    );
    const d8 = roleGrants.desired(ctx8);
    assert.deepEqual([...d8.keys()].sort(), ["'a'@'%'", "'u'@'%'"]);
  });
});

describe('stored hashes and account options', () => {
  const SHA2 = '$A$005$' + 'x'.repeat(20) + 'Y'.repeat(43);
  test('a stored hash is sent as the stored form, with its plugin, on each flavor', () => {
    const native = userSchema.parse({ name: 'u', passwordHash: '*2470c0c06dee42fd1618bb99005adca2ec9d1e19' });
    const m = identified(native, MARIADB, undefined, undefined);
    assert.equal(m.sql, ' IDENTIFIED BY PASSWORD ?');
    assert.equal((m.params[0] as { reveal(): string }).reveal(), '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19');
    assert.equal(String(m.params[0]), '[secret]', 'never printed');
    assert.equal(identified(native, MYSQL8, undefined, undefined).sql, ' IDENTIFIED WITH mysql_native_password AS ?');
    const sha2 = userSchema.parse({ name: 'u', passwordHash: SHA2 });
    const s8 = identified(sha2, MYSQL8, undefined, undefined);
    assert.deepEqual([s8.sql, s8.plugin], [' IDENTIFIED WITH caching_sha2_password AS ?', 'caching_sha2_password']);
    assert.match(pluginProblem(sha2, MARIADB) ?? '', /caching_sha2_password needs MySQL 8/);
    assert.equal(pluginProblem(sha2, MYSQL8), undefined);
    assert.ok(
      sameHash('*2470c0c06dee42fd1618bb99005adca2ec9d1e19', Buffer.from('*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19')),
    );
    assert.ok(sameHash(SHA2, Buffer.from(SHA2, 'latin1')));
    assert.ok(!sameHash(SHA2, Buffer.from(SHA2.toLowerCase(), 'latin1')));
  });

  test('maxStatementTime is MariaDB only; lifetimes and REQUIRE SUBJECT/ISSUER/CIPHER in the statements', () => {
    const u = userSchema.parse({
      name: 'u',
      passwordHash: '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19',
      maxStatementTime: 1.5,
      passwordLifetime: 90,
      tls: { subject: "/CN=o'k", cipher: 'AES256-SHA' },
    });
    assert.match(pluginProblem(u, MYSQL8) ?? '', /maxStatementTime is MariaDB's/);
    const ctx = ctxOf(MARIADB, [u]);
    const desired = users.desired(ctx);
    const observed = { items: new Map(), extra: undefined };
    const [create] = users.plan(users.diff(desired, observed, ctx), desired, observed, ctx);
    assert.equal(
      create?.statements[0]?.sql,
      'CREATE USER `u`@`%` IDENTIFIED BY PASSWORD ? REQUIRE SUBJECT ? AND CIPHER ? WITH MAX_STATEMENT_TIME ? PASSWORD EXPIRE INTERVAL ? DAY',
    );
    assert.deepEqual(create?.statements[0]?.params?.slice(1), ["/CN=o'k", 'AES256-SHA', 1.5, 90]);
    assert.match(usersQuery(MYSQL8), /password_lifetime AS pl, 0 AS mst/);
    assert.match(usersQuery(parseFlavor('10.3.39-MariaDB', '')), /NULL AS pl, max_statement_time AS mst/);
  });
});
