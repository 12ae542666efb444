/**
 * The mysql engine through the CLI against real MariaDB servers started by the lab:
 * plan/apply/plan, names that need quoting, constant observation cost, prune, budget, observe mode.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import mysql from 'mysql2/promise';
import { engines } from '../../agents/index.js';
import { silent } from '../../src/log.js';
import { reconcile } from '../../src/loop/reconcile.js';
import { targetsOf } from '../../src/loop/targets.js';
import { parseSpec } from '../../src/spec/load.js';
import { SessionPool } from '../../src/transport/sessions.js';
import { destroyAll, startHost } from '../../lab/index.js';
import { cli, historyBytes, jsonLines, mysqlRoot, tempDir } from '../helpers.js';

const tmp = tempDir('mysql-cli');
const PASSWORD = 'Kx7-cli-secret-Vq2';
const OTHER = 'Zr4-other-secret-Lm9';

before(async () => {
  await Promise.all([1, 2, 3, 4].map((i) => startHost({ name: `m${i}`, address: `127.0.21.${i}`, mariadb: true })));
  tmp.file('app.pw', `${PASSWORD}\n`);
  tmp.file('other.pw', `${OTHER}\n`);
});
after(async () => {
  await destroyAll();
  tmp.cleanup();
});

function spec(address: string, cluster: string, body: string, policy = ''): string {
  return `version: 1
hosts:
  h:
    address: ${address}
    mysql: { port: 3306, user: root }
clusters:
  ${cluster}:
    engine: mysql
    members: [h]
${body}
${policy}`;
}

async function canLogin(address: string, user: string, password: string, database?: string): Promise<boolean> {
  try {
    const c = await mysql.createConnection({
      host: address,
      user,
      password,
      ...(database === undefined ? {} : { database }),
    });
    await c.end();
    return true;
  } catch {
    return false;
  }
}

test('1 database, 1 user, 1 grant on an empty server: plan lists 3 and exits 2, apply converges, plan exits 0', async () => {
  const file = tmp.file(
    'basic.yaml',
    spec(
      '127.0.21.1',
      'orders',
      `    databases:
      - { name: orders, charset: utf8mb4, collation: utf8mb4_unicode_ci }
    users:
      - name: app
        host: "127.%"
        password: { file: ${tmp.dir}/app.pw }
        maxConnections: 20
        grants:
          - { privileges: [select, INSERT, Update, DELETE], on: "orders.*" }`,
    ),
  );
  const db = tmp.file('basic.db');
  const plan = await cli(['plan', '-f', file, '--json']);
  assert.equal(plan.code, 2, plan.stderr);
  const changes = jsonLines(plan.stdout);
  assert.equal(changes.length, 3);
  for (const c of changes)
    for (const k of ['cluster', 'host', 'resource', 'action', 'risk', 'summary'])
      assert.ok(k in c, `plan --json has ${k}`);
  assert.deepEqual(
    changes.map((c) => [c.resource, c.action, c.risk]),
    [
      ['mysql.database orders', 'create', 'safe'],
      ["mysql.user 'app'@'127.%'", 'create', 'safe'],
      ["mysql.grant 'app'@'127.%' on orders.*", 'grant', 'safe'],
    ],
  );

  const apply = await cli(['apply', '-f', file, '--once', '--db', db]);
  assert.equal(apply.code, 0, apply.stdout + apply.stderr);
  assert.match(apply.stdout, /Made 3 changes/);

  const again = await cli(['plan', '-f', file]);
  assert.equal(again.code, 0, again.stdout + again.stderr);
  assert.match(again.stdout, /no changes/);

  assert.equal(await canLogin('127.0.21.1', 'app', PASSWORD, 'orders'), true, 'the declared password logs in');
  const root = await mysqlRoot('127.0.21.1');
  const [grants] = await root.query("SHOW GRANTS FOR 'app'@'127.%'");
  await root.end();
  assert.match(JSON.stringify(grants), /GRANT SELECT, INSERT, UPDATE, DELETE ON `orders`\.\* TO `app`@`127\.%`/);

  const status = await cli(['status', '--db', db, '--json']);
  assert.equal(status.code, 0, status.stderr);
  const row = jsonLines(status.stdout)[0];
  assert.equal(row?.converged, true);
  assert.equal(row?.drift, 0);

  for (const out of [plan.stdout, plan.stderr, apply.stdout, apply.stderr, again.stdout, status.stdout])
    assert.ok(!out.includes(PASSWORD));
  assert.ok(!historyBytes(db).includes(PASSWORD), 'the password is not in the history file');
});

test('names with quotes, backticks, spaces and non-ASCII letters round-trip', async () => {
  const root = await mysqlRoot('127.0.21.2');
  const weirdDb = "we`ird 'db' ä\\x";
  const weirdTable = 'tab "1" ü';
  const weirdUser = "o'brien `x` ü";
  const file = tmp.file(
    'names.yaml',
    spec(
      '127.0.21.2',
      'names',
      `    databases:
      - { name: ${JSON.stringify(weirdDb)}, charset: utf8mb4 }
      - { name: "Ünïcødé Straße", charset: utf8mb4 }
    users:
      - name: ${JSON.stringify(weirdUser)}
        host: "127.%"
        password: { file: ${tmp.dir}/app.pw }
        grants:
          - { privileges: [SELECT, INSERT], on: ${JSON.stringify(`\`${weirdDb.replace(/`/g, '``')}\`.*`)} }
          - { privileges: [UPDATE], on: ${JSON.stringify(`\`${weirdDb.replace(/`/g, '``')}\`.\`${weirdTable}\``)} }
          - { privileges: [ALL], on: "\`Ünïcødé Straße\`.*", grantOption: true }`,
    ),
  );
  const db = tmp.file('names.db');
  // The table does not exist yet: its grant waits, it does not fail.
  const first = await cli(['apply', '-f', file, '--once', '--db', db, '--json']);
  assert.equal(first.code, 2, first.stdout + first.stderr);
  const waiting = (jsonLines(first.stdout)[0]?.remaining as { status: string; reason?: string }[]).filter(
    (c) => c.status === 'waiting',
  );
  assert.equal(waiting.length, 1);
  assert.match(waiting[0]?.reason ?? '', /does not exist yet/);

  await root.query(`CREATE TABLE \`${weirdDb.replace(/`/g, '``')}\`.\`${weirdTable}\` (a INT)`);
  const second = await cli(['apply', '-f', file, '--once', '--db', db]);
  assert.equal(second.code, 0, second.stdout + second.stderr);
  const plan = await cli(['plan', '-f', file]);
  assert.equal(plan.code, 0, plan.stdout + plan.stderr);

  const [dbs] = await root.query<mysql.RowDataPacket[]>('SELECT SCHEMA_NAME AS n FROM information_schema.SCHEMATA');
  const names = dbs.map((r) => r.n as string);
  assert.ok(names.includes(weirdDb), `database ${weirdDb} exists: ${names.join(', ')}`);
  assert.ok(names.includes('Ünïcødé Straße'));
  assert.equal(await canLogin('127.0.21.2', weirdUser, PASSWORD, weirdDb), true);
  await root.end();
});

test('an observe pass sends the same number of statements for 10 and 1,000 users', async () => {
  const users = (n: number) =>
    Array.from(
      { length: n },
      (_, i) =>
        `      - { name: u${i}, host: "127.%", password: { file: ${tmp.dir}/app.pw }, grants: [{ privileges: [SELECT], on: "db${i % 10}.*" }] }`,
    ).join('\n');
  const dbs = Array.from({ length: 10 }, (_, i) => `      - { name: db${i} }`).join('\n');
  const make = (n: number) =>
    parseSpec(
      spec('127.0.21.3', 'scale', `    databases:\n${dbs}\n    users:\n${users(n)}`),
      `scale-${n}.yaml`,
      engines,
    );
  const pool = new SessionPool();
  try {
    const [big] = targetsOf(make(1000).spec, engines);
    assert.ok(big);
    const applied = await reconcile(big, { pool, log: silent, specVersion: 'x' }, { act: true, maxSteps: 5 });
    assert.equal(applied.state, 'converged', applied.error?.message);
    assert.equal(applied.made, 10 + 1000 + 1000);
    const count = async (n: number) => {
      const [t] = targetsOf(make(n).spec, engines);
      assert.ok(t);
      const o = await reconcile(t, { pool, log: silent, specVersion: 'x' }, { act: false });
      assert.equal(o.error, undefined);
      return o;
    };
    const ten = await count(10);
    const thousand = await count(1000);
    assert.equal(thousand.changes.length, 0, 'converged at 1,000');
    assert.equal(
      ten.statements,
      thousand.statements,
      `statements per observe pass: ${ten.statements} for 10 users, ${thousand.statements} for 1,000`,
    );
    assert.ok(ten.statements <= 8, `a handful of catalog queries, got ${ten.statements}`);
    assert.equal(pool.opened, 1, 'one connection, reused');
  } finally {
    await pool.closeAll();
  }
});

test('prune: off leaves undeclared users alone; on drops them, never more than the budget per pass (more planned: none, until confirmed); observe mode changes nothing', async () => {
  const root = await mysqlRoot('127.0.21.4');
  for (let i = 0; i < 7; i++) await root.query(`CREATE USER 'stray${i}'@'%' IDENTIFIED BY 'x'`);
  await root.query('CREATE DATABASE keepme');
  const body = `    databases: [{ name: declared }]
    users:
      - { name: app, host: "%", password: { file: ${tmp.dir}/app.pw } }`;
  const strays = async () => {
    const [rows] = await root.query<mysql.RowDataPacket[]>(
      "SELECT COUNT(*) AS n FROM mysql.user WHERE User LIKE 'stray%'",
    );
    return Number(rows[0]?.n);
  };
  const db = tmp.file('prune.db');

  // Observe mode first: drift is recorded, nothing changes.
  const observe = tmp.file('observe.yaml', spec('127.0.21.4', 'p', `    mode: observe\n${body}`));
  const o = await cli(['apply', '-f', observe, '--once', '--db', db, '--json']);
  assert.equal(o.code, 2, o.stdout + o.stderr);
  const [declared] = await root.query<mysql.RowDataPacket[]>(
    "SELECT COUNT(*) AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'declared'",
  );
  assert.equal(Number(declared[0]?.n), 0, 'observe mode created nothing');
  const drift = jsonLines((await cli(['history', '--db', db, '--kind', 'drift', '--json'])).stdout);
  assert.deepEqual(drift.map((d) => d.resource).sort(), ['mysql.database declared', "mysql.user 'app'@'%'"]);
  assert.equal(
    jsonLines((await cli(['history', '--db', db, '--kind', 'action', '--json'])).stdout).length,
    0,
    'no action in observe mode',
  );

  // Enforce, prune off: declared things are made, the 7 strays and the database keepme stay, and are not drift.
  const keep = tmp.file('keep.yaml', spec('127.0.21.4', 'p', body));
  const k = await cli(['apply', '-f', keep, '--once', '--db', db]);
  assert.equal(k.code, 0, k.stdout + k.stderr);
  assert.equal(await strays(), 7);

  // Prune on, budget 3: seven drops planned is more than the budget, so none is made, and it says why.
  const prune = tmp.file(
    'prune.yaml',
    spec('127.0.21.4', 'p', `    prune: { users: true }\n    destructiveBudget: 3\n${body}`),
  );
  const p1 = await cli(['apply', '-f', prune, '--once', '--db', db, '--json']);
  assert.equal(p1.code, 2, p1.stdout + p1.stderr);
  assert.equal(await strays(), 7, 'nothing dropped beyond the budget');
  const [r1] = jsonLines(p1.stdout);
  assert.equal(r1?.state, 'stalled');
  const remaining = r1?.remaining as { status: string; reason?: string }[];
  assert.equal(remaining.length, 7);
  assert.ok(
    remaining.every(
      (r) =>
        r.status === 'waiting' &&
        /^7 destructive changes planned, more than the budget of 3 per pass: none is made/.test(r.reason ?? ''),
    ),
  );
  const st = jsonLines((await cli(['status', '--db', db, '--json'])).stdout)[0];
  const stalled = (st?.conditions as { type: string; status: string; reason: string }[]).find(
    (c) => c.type === 'Stalled',
  );
  assert.deepEqual([stalled?.status, stalled?.reason], ['True', 'DestructiveBudgetExceeded']);
  // Raising the budget confirms: all seven go in one pass, one destructive change per step.
  const confirm = tmp.file(
    'confirm.yaml',
    spec('127.0.21.4', 'p', `    prune: { users: true }\n    destructiveBudget: 7\n${body}`),
  );
  const p2 = await cli(['apply', '-f', confirm, '--once', '--db', db]);
  assert.equal(p2.code, 0, p2.stdout + p2.stderr);
  assert.equal(await strays(), 0);
  // prune.users does not allow dropping databases; root and the system accounts were never candidates.
  const [dbs] = await root.query<mysql.RowDataPacket[]>(
    "SELECT COUNT(*) AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'keepme'",
  );
  assert.equal(Number(dbs[0]?.n), 1);
  const [sys] = await root.query<mysql.RowDataPacket[]>(
    "SELECT COUNT(*) AS n FROM mysql.user WHERE User IN ('root', 'mariadb.sys', 'mysql')",
  );
  assert.equal(Number(sys[0]?.n), 4);
  const drops = jsonLines((await cli(['history', '--db', db, '--kind', 'action', '--json'])).stdout).filter((a) =>
    String(a.summary).startsWith('drop undeclared user'),
  );
  assert.equal(drops.length, 7);
  assert.ok(drops.every((d) => d.outcome === 'ok'));
  await root.end();
});
