/**
 * What users of Ansible's and Terraform's MySQL modules declare (issue 13), against one real MariaDB
 * server started once for the file (127.0.33.x). Each case shows the declared state reached, a second
 * pass that changes and writes nothing, and a change made by hand with plain SQL put back; and that
 * `validate` refuses what setpoint does not support, located FILE:LINE:COL.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type mysql from 'mysql2/promise';
import { engines } from '../../agents/index.js';
import { nativeHash } from '../../agents/mysql/password.js';
import { SpecError } from '../../src/errors.js';
import { silent } from '../../src/log.js';
import { reconcile, type PassOutcome } from '../../src/loop/reconcile.js';
import { targetsOf } from '../../src/loop/targets.js';
import { parseSpec } from '../../src/spec/load.js';
import { SessionPool } from '../../src/transport/sessions.js';
import { destroyAll, startHost } from '../../lab/index.js';
import { mysqlRoot, tempDir } from '../helpers.js';

const ADDRESS = '127.0.33.1';
const tmp = tempDir('mysql-coverage');
const PASSWORD = 'Cv3-coverage-secret-Tq8';
let root: mysql.Connection;
const pool = new SessionPool();

before(async () => {
  await startHost({ name: 'cov', address: ADDRESS, mariadb: true });
  tmp.file('app.pw', `${PASSWORD}\n`);
  root = await mysqlRoot(ADDRESS);
});
after(async () => {
  await root?.end();
  await pool.closeAll();
  await destroyAll();
  tmp.cleanup();
});

function spec(body: string): string {
  return `version: 1
hosts:
  h:
    address: ${ADDRESS}
    mysql: { port: 3306, user: root }
clusters:
  cov:
    engine: mysql
    members: [h]
${body}
`;
}

/** One pass that may act (up to 10 steps), from the YAML body of the cluster. */
async function pass(body: string, act = true): Promise<PassOutcome> {
  const parsed = parseSpec(spec(body), 'coverage.yaml', engines);
  const [t] = targetsOf(parsed.spec, engines);
  assert.ok(t);
  return reconcile(t, { pool, log: silent, specVersion: 'x' }, { act, maxSteps: 10 });
}

async function binlogPos(): Promise<string> {
  const [rows] = await root.query<mysql.RowDataPacket[]>('SELECT @@GLOBAL.gtid_binlog_pos AS p');
  return String(rows[0]?.p);
}

/** Converges, then shows that a second pass finds nothing to do and writes nothing. */
async function converge(body: string, what: string): Promise<PassOutcome> {
  const first = await pass(body);
  assert.equal(first.error, undefined, `${what}: ${first.error?.message ?? ''}`);
  assert.equal(first.state, 'converged', `${what}: ${JSON.stringify(first.changes)} ${JSON.stringify(first.actions)}`);
  const pos = await binlogPos();
  const second = await pass(body);
  assert.equal(second.state, 'converged', `${what}, second pass: ${JSON.stringify(second.changes)}`);
  assert.equal(second.made, 0, `${what}: the second pass makes no change`);
  assert.deepEqual(second.changes, [], `${what}: the second pass plans nothing`);
  assert.equal(await binlogPos(), pos, `${what}: the second pass writes nothing`);
  return first;
}

/** The problems `validate` reports for a cluster body, as `FILE:LINE:COL path: message` lines. */
function problems(body: string): string[] {
  try {
    parseSpec(spec(body), 'coverage.yaml', engines);
  } catch (err) {
    if (err instanceof SpecError)
      return err.problems.map((p) => `${p.file}:${p.line}:${p.col} ${p.path}: ${p.message}`);
    throw err;
  }
  return [];
}

/** SHOW GRANTS of an account, the USAGE line left out, sorted (column lists too: the server keeps them in the order granted). */
async function showGrants(account: string): Promise<string[]> {
  const [rows] = await root.query<mysql.RowDataPacket[]>(`SHOW GRANTS FOR ${account}`);
  return rows
    .map((r) =>
      String(Object.values(r)[0]).replace(
        /\(([^()]*)\)/g,
        (_, cols: string) => `(${cols.split(', ').sort().join(', ')})`,
      ),
    )
    .filter((g) => !g.startsWith('GRANT USAGE ON *.*'))
    .sort();
}

async function scalar(sql: string): Promise<string> {
  const [rows] = await root.query<mysql.RowDataPacket[]>(sql);
  const r = rows[0];
  return r === undefined ? '' : String(Object.values(r)[0]);
}

test('set-valued variables are compared as the server means them: any order, combination modes expanded, flags one by one', async () => {
  const before = await scalar('SELECT @@GLOBAL.sql_mode');
  // The server's own default modes, in another order and case: no change at all.
  const reordered = before.split(',').reverse().join(', ').toLowerCase();
  const same = await pass(`    settings: { sql_mode: "${reordered}" }`);
  assert.equal(same.state, 'converged', JSON.stringify(same.changes));
  assert.equal(same.made, 0, 'the same modes in another order are no change');

  // A combination mode: the server stores it expanded; the declared name is compared as it means.
  const body = `    settings:
      sql_mode: "traditional, ANSI_QUOTES"
      optimizer_switch: "mrr=on, index_merge=off"
      log_output: "table,file"`;
  await converge(body, 'sql_mode TRADITIONAL, two optimizer flags, log_output');
  const mode = new Set((await scalar('SELECT @@GLOBAL.sql_mode')).split(','));
  for (const m of ['TRADITIONAL', 'STRICT_TRANS_TABLES', 'STRICT_ALL_TABLES', 'NO_ZERO_DATE', 'ANSI_QUOTES'])
    assert.ok(mode.has(m), `${m} in ${[...mode].join(',')}`);
  const sw = await scalar('SELECT @@GLOBAL.optimizer_switch');
  assert.match(sw, /(^|,)mrr=on(,|$)/);
  assert.match(sw, /(^|,)index_merge=off(,|$)/);
  assert.match(sw, /(^|,)index_merge_union=on(,|$)/, 'flags not declared are left as they are');
  assert.equal(await scalar('SELECT @@GLOBAL.log_output'), 'FILE,TABLE');

  // Drift by hand: the modes, one flag and the list changed; the next pass puts them back.
  await root.query("SET GLOBAL sql_mode = 'ANSI_QUOTES'");
  await root.query("SET GLOBAL optimizer_switch = 'mrr=off'");
  await root.query("SET GLOBAL log_output = 'FILE'");
  const repaired = await pass(body);
  assert.equal(repaired.state, 'converged', JSON.stringify(repaired.changes));
  assert.equal(repaired.made, 3, JSON.stringify(repaired.actions));
  assert.ok((await scalar('SELECT @@GLOBAL.sql_mode')).split(',').includes('STRICT_ALL_TABLES'));
  assert.match(await scalar('SELECT @@GLOBAL.optimizer_switch'), /(^|,)mrr=on(,|$)/);
  assert.equal(await scalar('SELECT @@GLOBAL.log_output'), 'FILE,TABLE');

  // The modes TRADITIONAL turns on, listed one by one without it, are another value: TRADITIONAL is a mode of its own.
  const spelled = `    settings: { sql_mode: "NO_ENGINE_SUBSTITUTION,NO_AUTO_CREATE_USER,ERROR_FOR_DIVISION_BY_ZERO,NO_ZERO_DATE,NO_ZERO_IN_DATE,STRICT_ALL_TABLES,STRICT_TRANS_TABLES" }`;
  await converge(spelled, 'the modes of TRADITIONAL, spelled out');
  assert.ok(!(await scalar('SELECT @@GLOBAL.sql_mode')).split(',').includes('TRADITIONAL'));

  // optimizer_switch: `flag=default` means the server's default for that flag.
  await converge('    settings: { optimizer_switch: "mrr=default,index_merge=default" }', 'flags back to default');
  assert.match(await scalar('SELECT @@GLOBAL.optimizer_switch'), /(^|,)mrr=off(,|$)/);

  // A mode the server does not have is never sent: the setting waits for a human.
  const bad = await pass('    settings: { sql_mode: "STRICT_TRANS_TABLES,NO_SUCH_MODE" }');
  assert.equal(bad.needsHuman?.reason, 'SettingRejected');
  assert.match(bad.needsHuman?.message ?? '', /NO_SUCH_MODE is not among/);
  assert.equal(bad.made, 0);
  await root.query('SET GLOBAL sql_mode = ?', [before]);
});

test('routine privileges: EXECUTE and ALTER ROUTINE on one function or procedure, observed from mysql.procs_priv', async () => {
  await root.query('CREATE DATABASE rdb');
  await root.query('CREATE FUNCTION rdb.MyF() RETURNS INT DETERMINISTIC RETURN 1');
  await root.query('CREATE PROCEDURE rdb.p() SELECT 1');
  const body = (extra = '') => `    prune: { grants: true }
    users:
      - name: ru
        host: "%"
        password: { file: ${tmp.dir}/app.pw }
        grants:
          - { privileges: [execute], on: "FUNCTION rdb.myf", grantOption: true }
          - { privileges: [EXECUTE, "alter routine"], on: "procedure rdb.p" }${extra}`;
  const expected = [
    'GRANT EXECUTE ON FUNCTION `rdb`.`myf` TO `ru`@`%` WITH GRANT OPTION',
    'GRANT EXECUTE, ALTER ROUTINE ON PROCEDURE `rdb`.`p` TO `ru`@`%`',
  ];

  // A routine that does not exist yet: its grant waits, saying so; the rest is made.
  const later = `
          - { privileges: [ALL], on: "FUNCTION rdb.later" }`;
  const waiting = await pass(body(later));
  assert.equal(waiting.state, 'waiting', JSON.stringify(waiting.changes));
  const blocked = waiting.changes.filter((c) => c.status === 'waiting');
  assert.equal(blocked.length, 1, JSON.stringify(waiting.changes));
  assert.match(blocked[0]?.reason ?? '', /function rdb\.later does not exist yet/);
  assert.deepEqual(await showGrants("'ru'@'%'"), expected);
  await root.query('CREATE FUNCTION rdb.later() RETURNS INT DETERMINISTIC RETURN 2');
  await converge(body(later), 'routine grants');
  assert.deepEqual(
    await showGrants("'ru'@'%'"),
    [...expected, 'GRANT EXECUTE, ALTER ROUTINE ON FUNCTION `rdb`.`later` TO `ru`@`%`'].sort(),
  );

  // By hand: EXECUTE and GRANT OPTION taken away, ALTER ROUTINE added (not declared: prune revokes it).
  await root.query("REVOKE EXECUTE, GRANT OPTION ON FUNCTION rdb.myf FROM 'ru'@'%'");
  await root.query("GRANT ALTER ROUTINE ON PROCEDURE rdb.p TO 'ru'@'%' WITH GRANT OPTION");
  await root.query("GRANT ALTER ROUTINE ON FUNCTION rdb.MYF TO 'ru'@'%'");
  const repaired = await pass(body());
  assert.equal(repaired.state, 'converged', JSON.stringify(repaired.changes) + JSON.stringify(repaired.actions));
  assert.deepEqual(await showGrants("'ru'@'%'"), expected);
  await converge(body(), 'routine grants after repair');

  // validate refuses what a routine grant cannot hold, and a malformed routine name, located.
  const bad = problems(`    users:
      - name: ru
        password: { file: ${tmp.dir}/app.pw }
        grants:
          - { privileges: [EXECUTE, SELECT], on: "FUNCTION rdb.myf" }
          - { privileges: [EXECUTE], on: "PROCEDURE rdb.*" }`);
  assert.equal(bad.length, 2, bad.join('\n'));
  assert.match(
    bad[0] ?? '',
    /^coverage\.yaml:\d+:\d+ clusters\.cov\.users\[0\]\.grants\[0\]\.privileges\[1\]: SELECT does not apply to a function/,
  );
  assert.match(
    bad[1] ?? '',
    /^coverage\.yaml:\d+:\d+ clusters\.cov\.users\[0\]\.grants\[1\]\.on: expected "PROCEDURE db\.name"/,
  );
});

test('column privileges: SELECT (a, b) on a table, observed from the column catalog, granted and revoked per column', async () => {
  await root.query('CREATE DATABASE cdb');
  await root.query('CREATE TABLE cdb.t (a INT, B INT, `odd col` INT, d INT)');
  await root.query('CREATE TABLE cdb.t2 (a INT)');
  const body = `    prune: { grants: true }
    users:
      - name: cu
        host: "%"
        password: { file: ${tmp.dir}/app.pw }
        grants:
          - { privileges: ["select (a, B)", "UPDATE (\`odd col\`)", INSERT], on: "cdb.t" }
          - { privileges: ["SELECT (a)", "INSERT (later)"], on: "cdb.t2", grantOption: true }`;
  const expected = [
    'GRANT SELECT (`a`), INSERT (`later`) ON `cdb`.`t2` TO `cu`@`%` WITH GRANT OPTION',
    'GRANT SELECT (`a`, `b`), INSERT, UPDATE (`odd col`) ON `cdb`.`t` TO `cu`@`%`',
  ];
  // A column that does not exist yet: that grant waits, saying so (the server would refuse it every pass).
  const waiting = await pass(body);
  assert.equal(waiting.state, 'waiting', JSON.stringify(waiting.changes));
  const blocked = waiting.changes.filter((c) => c.status === 'waiting');
  assert.equal(blocked.length, 1, JSON.stringify(waiting.changes));
  assert.match(blocked[0]?.reason ?? '', /column later of cdb\.t2 does not exist yet/);
  await root.query('ALTER TABLE cdb.t2 ADD COLUMN later INT');
  await converge(body, 'column privileges');
  assert.deepEqual(await showGrants("'cu'@'%'"), expected);

  // By hand: a column taken away, another privilege on another column added (revoked: prune), the table grant dropped.
  await root.query("REVOKE SELECT (b) ON cdb.t FROM 'cu'@'%'");
  await root.query("GRANT REFERENCES (d) ON cdb.t TO 'cu'@'%'");
  await root.query("REVOKE INSERT ON cdb.t FROM 'cu'@'%'");
  const repaired = await pass(body);
  assert.equal(repaired.state, 'converged', JSON.stringify(repaired.changes) + JSON.stringify(repaired.actions));
  assert.deepEqual(await showGrants("'cu'@'%'"), expected);
  await converge(body, 'column privileges after repair');

  const bad = problems(`    users:
      - name: cu
        password: { file: ${tmp.dir}/app.pw }
        grants:
          - { privileges: ["SELECT (a)"], on: "cdb.*" }
          - { privileges: ["DELETE (a)", "SELECT ()"], on: "cdb.t" }`);
  assert.equal(bad.length, 3, bad.join('\n'));
  assert.match(
    bad[0] ?? '',
    /^coverage\.yaml:\d+:\d+ clusters\.cov\.users\[0\]\.grants\[0\]\.privileges\[0\]: SELECT \(`a`\): a column privilege is on one table/,
  );
  assert.match(
    bad[1] ?? '',
    /grants\[1\]\.privileges\[0\]: "DELETE \(a\)": a column list goes with SELECT, INSERT, UPDATE, REFERENCES only/,
  );
  assert.match(bad[2] ?? '', /grants\[1\]\.privileges\[1\]: "SELECT \(\)": expected column names/);
});

test('MariaDB roles: CREATE ROLE, grants to roles, roles granted to users and to roles, default role', async () => {
  const body = `    prune: { grants: true }
    databases: [{ name: rodb }]
    roles:
      - { name: reader, grants: [{ privileges: [SELECT], on: "rodb.*" }] }
      - { name: writer, grants: [{ privileges: [INSERT, UPDATE], on: "rodb.*" }], roles: [reader] }
    users:
      - name: ro
        host: "%"
        password: { file: ${tmp.dir}/app.pw }
        roles: [writer]
        defaultRoles: [writer]`;
  const mapping = async () => {
    const [rows] = await root.query<mysql.RowDataPacket[]>(
      "SELECT CONCAT(User, '@', Host, ' -> ', Role) AS m FROM mysql.roles_mapping WHERE User IN ('ro', 'writer', 'reader') ORDER BY 1",
    );
    return rows.map((r) => String(r.m));
  };
  const state = async () => ({
    mapping: await mapping(),
    defaultRole: await scalar("SELECT default_role FROM mysql.user WHERE User = 'ro'"),
    reader: await showGrants('reader'),
    writer: await showGrants('writer'),
  });
  const expected = {
    mapping: ['ro@% -> writer', 'writer@ -> reader'],
    defaultRole: 'writer',
    reader: ['GRANT SELECT ON `rodb`.* TO `reader`'],
    // SHOW GRANTS FOR a role lists the grants of the roles granted to it too.
    writer: [
      'GRANT INSERT, UPDATE ON `rodb`.* TO `writer`',
      'GRANT SELECT ON `rodb`.* TO `reader`',
      'GRANT `reader` TO `writer`',
    ],
  };
  await converge(body, 'roles');
  assert.deepEqual(await state(), expected);
  // The user logs in with its default role active, and has what its roles have.
  await root.query('CREATE TABLE rodb.t (a INT)');
  const mysql2 = (await import('mysql2/promise')).default;
  const ro = await mysql2.createConnection({ host: ADDRESS, user: 'ro', password: PASSWORD });
  const [cur] = await ro.query<mysql.RowDataPacket[]>('SELECT CURRENT_ROLE() AS r');
  assert.equal(cur[0]?.r, 'writer');
  await ro.query('INSERT INTO rodb.t VALUES (1)');
  await ro.query('SELECT * FROM rodb.t');
  await ro.end();

  // By hand: the user's role and default role taken away, another role given, a role's privilege revoked, a role dropped.
  await root.query("REVOKE writer FROM 'ro'@'%'");
  await root.query("SET DEFAULT ROLE NONE FOR 'ro'@'%'");
  await root.query("GRANT reader TO 'ro'@'%'");
  await root.query('REVOKE UPDATE ON rodb.* FROM writer');
  await root.query('DROP ROLE reader');
  const repaired = await pass(body);
  assert.equal(repaired.state, 'converged', JSON.stringify(repaired.changes) + JSON.stringify(repaired.actions));
  assert.deepEqual(await state(), expected);
  await converge(body, 'roles after repair');

  const bad = problems(`    roles:
      - { name: reader }
      - { name: reader, roles: [reader] }
    users:
      - { name: ro, password: { file: ${tmp.dir}/app.pw }, roles: [writer], defaultRoles: [reader] }`);
  assert.equal(bad.length, 3, bad.join('\n'));
  assert.match(
    bad.join('\n'),
    /coverage\.yaml:\d+:\d+ clusters\.cov\.roles\[1\]\.name: role "reader" is already declared at roles\[0\]/,
  );
  assert.match(
    bad.join('\n'),
    /coverage\.yaml:\d+:\d+ clusters\.cov\.roles\[1\]\.roles\[0\]: role "reader" cannot be granted to itself/,
  );
  assert.match(
    bad.join('\n'),
    /coverage\.yaml:\d+:\d+ clusters\.cov\.users\[0\]\.defaultRoles\[0\]: "reader" is not among this user's roles \(writer\)/,
  );
});

test('password as its stored hash, password lifetime, REQUIRE SUBJECT/ISSUER/CIPHER, MAX_STATEMENT_TIME', async () => {
  const hash = nativeHash(PASSWORD);
  const body = (lifetime: string, tls: string) => `    users:
      - name: hu
        host: "%"
        passwordHash: "${hash.toLowerCase()}"
        passwordLifetime: ${lifetime}
        maxStatementTime: 2.5
      - name: tu
        host: "%"
        passwordHash: "${hash}"
        tls: ${tls}`;
  // mysql2 hands MariaDB's JSON column back parsed.
  const priv = async (user: string) => {
    const [rows] = await root.query<mysql.RowDataPacket[]>('SELECT Priv AS p FROM mysql.global_priv WHERE User = ?', [
      user,
    ]);
    const p: unknown = rows[0]?.p;
    return (typeof p === 'string' ? JSON.parse(p) : p) as Record<string, unknown>;
  };
  const tlsAll = '{ subject: "/CN=app", issuer: "/CN=ca", cipher: "AES256-SHA" }';
  await converge(body('30', tlsAll), 'hash, lifetime, statement time, tls');
  const hu = await priv('hu');
  assert.equal(hu.authentication_string, hash);
  assert.equal(hu.password_lifetime, 30);
  assert.equal(Number(hu.max_statement_time), 2.5);
  const tu = await priv('tu');
  assert.deepEqual(
    [tu.ssl_type, tu.x509_subject, tu.x509_issuer, tu.ssl_cipher],
    [3, '/CN=app', '/CN=ca', 'AES256-SHA'],
  );
  // The hash is the password's: it logs in with the plaintext the file never held.
  const mysql2 = (await import('mysql2/promise')).default;
  const c = await mysql2.createConnection({ host: ADDRESS, user: 'hu', password: PASSWORD });
  await c.end();

  // By hand: another password, no expiry, no statement limit, a weaker requirement.
  await root.query(
    "ALTER USER 'hu'@'%' IDENTIFIED BY 'changed-by-hand' WITH MAX_STATEMENT_TIME 0 PASSWORD EXPIRE NEVER",
  );
  await root.query("ALTER USER 'tu'@'%' REQUIRE CIPHER 'AES128-SHA'");
  const repaired = await pass(body('30', tlsAll));
  assert.equal(repaired.state, 'converged', JSON.stringify(repaired.changes) + JSON.stringify(repaired.actions));
  assert.deepEqual(await priv('hu'), { ...hu, password_last_changed: (await priv('hu')).password_last_changed });
  assert.deepEqual(await priv('tu'), { ...tu, password_last_changed: (await priv('tu')).password_last_changed });

  // Lifetime never / default, and the requirement narrowed to a cipher (REQUIRE replaces the rest).
  await converge(body('never', '{ cipher: "AES128-SHA" }'), 'lifetime never, cipher only');
  assert.equal((await priv('hu')).password_lifetime, 0);
  assert.deepEqual([(await priv('tu')).x509_subject, (await priv('tu')).ssl_cipher], ['', 'AES128-SHA']);
  await converge(body('default', 'ssl'), 'lifetime default, ssl');
  assert.equal((await priv('hu')).password_lifetime, -1);
  assert.equal((await priv('tu')).ssl_type, 1);

  const bad = problems(`    users:
      - { name: a, passwordHash: "*1234" }
      - { name: b, password: { file: ${tmp.dir}/app.pw }, passwordHash: "${hash}" }
      - { name: c, passwordHash: "${hash}", plugin: caching_sha2_password }
      - { name: d, passwordHash: "${hash}", tls: {}, passwordLifetime: 0 }`);
  assert.equal(bad.length, 5, bad.join('\n'));
  const all = bad.join('\n');
  assert.match(all, /coverage\.yaml:\d+:\d+ clusters\.cov\.users\[0\]\.passwordHash: expected a stored password hash/);
  assert.match(
    all,
    /coverage\.yaml:\d+:\d+ clusters\.cov\.users\[1\]\.passwordHash: declare password or passwordHash, not both/,
  );
  assert.match(
    all,
    /coverage\.yaml:\d+:\d+ clusters\.cov\.users\[2\]\.passwordHash: this hash belongs to another plugin/,
  );
  assert.match(all, /coverage\.yaml:\d+:\d+ clusters\.cov\.users\[3\]\.tls/);
  assert.match(all, /coverage\.yaml:\d+:\d+ clusters\.cov\.users\[3\]\.passwordLifetime/);
});
