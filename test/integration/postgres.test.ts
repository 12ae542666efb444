/**
 * The postgres engine against real PostgreSQL 15 servers started by the lab on 127.0.31.x: the CLI
 * from empty to converged, the daemon putting back each kind drifted by hand, constant observation
 * cost, a setting pending a restart, names that need quoting, and no password anywhere it must not be.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { engines } from '../../agents/index.js';
import { verifyPassword } from '../../agents/postgres/password.js';
import { silent } from '../../src/log.js';
import { reconcile } from '../../src/loop/reconcile.js';
import { targetsOf } from '../../src/loop/targets.js';
import { parseSpec } from '../../src/spec/load.js';
import { SessionPool } from '../../src/transport/sessions.js';
import { destroyAll, startHost, type LabHost } from '../../lab/index.js';
import { cli, Daemon, historyBytes, jsonLines, tempDir, waitFor } from '../helpers.js';

const tmp = tempDir('postgres');
const RPT_PW = 'Rq8-report-secret-Zt5';
const APP_PW = 'Ap3-app-secret-Wx7';
const ODD_PW = 'Öd9-odd "secret" \\ x';
const PASSWORDS = [RPT_PW, APP_PW, ODD_PW];
const hosts: LabHost[] = [];
/** Everything every CLI run printed, searched for passwords at the end. */
let printed = '';

before(async () => {
  hosts.push(
    ...(await Promise.all(
      [1, 2, 3, 4].map((i) => startHost({ name: `p${i}`, address: `127.0.31.${i}`, postgres: true })),
    )),
  );
  tmp.file('rpt.pw', `${RPT_PW}\n`);
  tmp.file('app.pw', `${APP_PW}\n`);
  tmp.file('odd.pw', `${ODD_PW}\n`);
});
after(async () => {
  await destroyAll();
  tmp.cleanup();
});

function pgOf(i: number): NonNullable<LabHost['postgres']> {
  const p = hosts[i - 1]?.postgres;
  assert.ok(p, `host ${i} has PostgreSQL`);
  return p;
}

function spec(address: string, body: string, policy = ''): string {
  return `version: 1
hosts:
  h:
    address: ${address}
    postgres: { port: 5432, user: postgres, database: postgres }
clusters:
  ledger:
    engine: postgres
    members: [h]
${body}
${policy}`;
}

const LEDGER = `    roles:
      - { name: app_owner, login: false }
      - { name: "Report Reader", login: true, password: { file: ${tmp.dir}/rpt.pw }, connectionLimit: 5, validUntil: "2027-01-01T00:00:00Z" }
      - { name: app, login: true, password: { file: ${tmp.dir}/app.pw }, memberOf: [app_owner] }
    databases:
      - { name: ledger, owner: app_owner, encoding: UTF8, strategy: file_copy }
    schemas:
      - { database: ledger, name: books, owner: app_owner }
    extensions:
      - { database: ledger, name: pgcrypto }
    privileges:
      - { database: ledger, role: "Report Reader", on: database, privileges: [CONNECT] }
      - { database: ledger, role: "Report Reader", on: { schema: books }, privileges: [USAGE] }
      - { database: ledger, role: "Report Reader", on: { allTablesInSchema: books }, privileges: [SELECT] }
    defaultPrivileges:
      - { database: ledger, owner: app_owner, schema: books, role: "Report Reader", on: tables, privileges: [SELECT] }
    settings: { work_mem: 64MB, log_min_duration_statement: 2s }`;

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await cli(args);
  printed += r.stdout + r.stderr;
  return r;
}

async function login(address: string, user: string, password: string, database: string): Promise<boolean> {
  const c = new pg.Client({ host: address, port: 5432, user, password, database, connectionTimeoutMillis: 5000 });
  c.on('error', () => undefined);
  try {
    await c.connect();
    await c.end();
    return true;
  } catch {
    return false;
  }
}

test('from an empty server: plan lists every kind (exit 2), apply --once converges (exit 0), plan again exits 0', async () => {
  const file = tmp.file('ledger.yaml', spec('127.0.31.1', LEDGER));
  const db = tmp.file('ledger.db');
  const plan = await run(['plan', '-f', file, '--json']);
  assert.equal(plan.code, 2, plan.stderr);
  const kinds = new Set(jsonLines(plan.stdout).map((c) => String(c.resource).split(' ')[0]));
  assert.deepEqual([...kinds].sort(), [
    'postgres.database',
    'postgres.default_privilege',
    'postgres.extension',
    'postgres.privilege',
    'postgres.role',
    'postgres.schema',
    'postgres.setting',
  ]);
  const t0 = Date.now();
  const apply = await run(['apply', '-f', file, '--once', '--db', db]);
  const took = Date.now() - t0;
  assert.equal(apply.code, 0, apply.stdout + apply.stderr);
  assert.match(apply.stdout, /All 1 target converged/);
  const again = await run(['plan', '-f', file]);
  assert.equal(again.code, 0, again.stdout + again.stderr);
  assert.match(again.stdout, /no changes/);
  process.stdout.write(`# postgres: apply --once from empty took ${took} ms (CLI start included)\n`);

  // What the server now holds, read by hand.
  const p = pgOf(1);
  assert.equal(
    await p.sql(
      "SELECT rolcanlogin || ' ' || rolconnlimit || ' ' || to_char(rolvaliduntil AT TIME ZONE 'UTC', 'YYYY-MM-DD') FROM pg_roles WHERE rolname = 'Report Reader'",
    ),
    'true 5 2027-01-01',
  );
  assert.equal(
    await p.sql(
      "SELECT pg_get_userbyid(datdba) || ' ' || pg_encoding_to_char(encoding) FROM pg_database WHERE datname = 'ledger'",
    ),
    'app_owner UTF8',
  );
  assert.equal(await p.sql("SELECT pg_has_role('app', 'app_owner', 'MEMBER')"), 't');
  assert.equal(
    await p.sql("SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'books'", 'ledger'),
    'app_owner',
  );
  assert.equal(await p.sql("SELECT extname FROM pg_extension WHERE extname = 'pgcrypto'", 'ledger'), 'pgcrypto');
  assert.equal(await p.sql("SELECT has_schema_privilege('Report Reader', 'books', 'USAGE')", 'ledger'), 't');
  assert.equal(
    await p.sql("SELECT current_setting('work_mem') || ' ' || current_setting('log_min_duration_statement')"),
    '64MB 2s',
  );
  // Passwords were set as SCRAM verifiers computed here: real logins over scram-sha-256 work.
  assert.equal(await login('127.0.31.1', 'Report Reader', RPT_PW, 'ledger'), true);
  assert.equal(await login('127.0.31.1', 'Report Reader', 'wrong', 'ledger'), false);
  assert.equal(await login('127.0.31.1', 'app', APP_PW, 'postgres'), true);
  assert.match(await p.sql("SELECT rolpassword FROM pg_authid WHERE rolname = 'app'"), /^SCRAM-SHA-256\$4096:/);

  // A table created later by its owner is covered by the default privileges: no drift.
  await p.sql('SET ROLE app_owner; CREATE TABLE books.entries (id int); RESET ROLE;', 'ledger');
  const covered = await run(['plan', '-f', file]);
  assert.equal(covered.code, 0, covered.stdout);
  // A table grant on that table now converges too; one on a table not created yet waits with why.
  writeFileSync(
    file,
    spec(
      '127.0.31.1',
      `${LEDGER.replace('    defaultPrivileges:', '      - { database: ledger, role: app, on: { table: books.entries }, privileges: [INSERT] }\n      - { database: ledger, role: app, on: { table: books.later }, privileges: [INSERT] }\n    defaultPrivileges:')}`,
    ),
  );
  const waiting = await run(['plan', '-f', file, '--json']);
  assert.equal(waiting.code, 2);
  const planned = jsonLines(waiting.stdout);
  assert.deepEqual(
    planned.map((c) => [c.resource, c.status, c.reason ?? null]),
    [
      ['postgres.privilege table ledger.books.entries to app', 'run', null],
      [
        'postgres.privilege table ledger.books.later to app',
        'waiting',
        'table books.later does not exist yet in database ledger',
      ],
    ],
  );
  const partial = await run(['apply', '-f', file, '--once', '--db', db]);
  assert.equal(partial.code, 2, 'drift remains, held back: exit 2, not an error');
  assert.equal(await p.sql("SELECT has_table_privilege('app', 'books.entries', 'INSERT')", 'ledger'), 't');
  await p.sql('CREATE TABLE books.later (id int)', 'ledger');
  assert.equal((await run(['apply', '-f', file, '--once', '--db', db])).code, 0);
  assert.equal((await run(['plan', '-f', file])).code, 0);
  for (const pw of PASSWORDS) assert.ok(!historyBytes(db).includes(pw), 'no password in the history file');
  assert.ok(!historyBytes(db).includes('SCRAM-SHA-256$'), 'no verifier in the history file');
});

test('a verifier written by the server itself is verified, not rotated; a changed password is set again', async () => {
  const p = pgOf(3);
  await p.sql(`CREATE ROLE srv LOGIN PASSWORD '${APP_PW}'`);
  const before = await p.sql("SELECT rolpassword FROM pg_authid WHERE rolname = 'srv'");
  assert.equal(verifyPassword(before, APP_PW, 'srv'), true);
  const file = tmp.file(
    'srv.yaml',
    spec('127.0.31.3', `    roles:\n      - { name: srv, login: true, password: { file: ${tmp.dir}/app.pw } }`),
  );
  assert.equal((await run(['plan', '-f', file])).code, 0);
  await p.sql("ALTER ROLE srv PASSWORD 'changed by hand'");
  const plan = await run(['plan', '-f', file, '--json']);
  assert.equal(plan.code, 2);
  assert.match(plan.stdout, /set the password of role srv/);
  assert.equal((await run(['apply', '-f', file, '--once', '--db', tmp.file('srv.db')])).code, 0);
  assert.equal(await login('127.0.31.3', 'srv', APP_PW, 'postgres'), true);
  await p.sql('DROP ROLE srv');
});

test('the running daemon puts back each kind drifted by hand, and history reads drift -> action -> outcome', async () => {
  const address = '127.0.31.2';
  const p = pgOf(2);
  const file = tmp.file(
    'daemon.yaml',
    spec(address, LEDGER, 'policy:\n  resyncSeconds: 1\n  backoff: { initialSeconds: 1, maxSeconds: 2 }'),
  );
  const db = tmp.file('daemon.db');
  const daemon = new Daemon(file, db);
  try {
    const converged = async () => (await cli(['status', '--db', db, '--json'])).stdout.includes('"converged":true');
    await waitFor('first convergence', converged, 30_000);
    const rpt = `SELECT rolconnlimit FROM pg_roles WHERE rolname = 'Report Reader'`;
    const perturb: [string, string, string | undefined, () => Promise<boolean>][] = [
      [
        'ALTER ROLE',
        `ALTER ROLE "Report Reader" CONNECTION LIMIT 1`,
        undefined,
        async () => (await p.sql(rpt)) === '5',
      ],
      [
        'REVOKE',
        'REVOKE USAGE ON SCHEMA books FROM "Report Reader"',
        'ledger',
        async () => (await p.sql("SELECT has_schema_privilege('Report Reader', 'books', 'USAGE')", 'ledger')) === 't',
      ],
      [
        'ALTER DEFAULT PRIVILEGES',
        'ALTER DEFAULT PRIVILEGES FOR ROLE app_owner IN SCHEMA books REVOKE SELECT ON TABLES FROM "Report Reader"',
        'ledger',
        async () =>
          (await p.sql("SELECT count(*) FROM pg_default_acl WHERE defaclrole = 'app_owner'::regrole", 'ledger')) ===
          '1',
      ],
      [
        'DROP EXTENSION',
        'DROP EXTENSION pgcrypto',
        'ledger',
        async () => (await p.sql("SELECT count(*) FROM pg_extension WHERE extname = 'pgcrypto'", 'ledger')) === '1',
      ],
      [
        'ALTER SYSTEM RESET',
        'ALTER SYSTEM RESET work_mem; SELECT pg_reload_conf();',
        undefined,
        async () => (await p.sql("SELECT setting FROM pg_file_settings WHERE name = 'work_mem'")) === '64MB',
      ],
      [
        'a new table',
        'CREATE TABLE books.by_postgres (id int)',
        'ledger',
        async () =>
          (await p.sql("SELECT has_table_privilege('Report Reader', 'books.by_postgres', 'SELECT')", 'ledger')) === 't',
      ],
    ];
    const resources: Record<string, string> = {
      'ALTER ROLE': 'postgres.role "Report Reader"',
      REVOKE: 'postgres.privilege schema ledger.books to "Report Reader"',
      'ALTER DEFAULT PRIVILEGES':
        'postgres.default_privilege ledger: for app_owner in schema books on tables to "Report Reader"',
      'DROP EXTENSION': 'postgres.extension ledger.pgcrypto',
      'ALTER SYSTEM RESET': 'postgres.setting work_mem',
      'a new table': 'postgres.privilege table ledger.books.by_postgres to "Report Reader"',
    };
    for (const [what, sql, database, repaired] of perturb) {
      const t0 = Date.now();
      await p.sql(sql, database);
      await waitFor(`${what} put back`, repaired, 15_000);
      process.stdout.write(`# postgres daemon: ${what} put back in ${Date.now() - t0} ms\n`);
      const resource = resources[what] as string;
      let rows: Record<string, unknown>[] = [];
      await waitFor(
        `history of ${what}`,
        async () => {
          rows = jsonLines(
            (
              await cli([
                'history',
                '--db',
                db,
                '--resource',
                resource,
                '--since',
                new Date(t0).toISOString(),
                '--json',
              ])
            ).stdout,
          );
          const drift = rows.find((r) => r.kind === 'drift');
          const action = rows.find((r) => r.kind === 'action' && r.outcome === 'ok');
          return (
            drift !== undefined &&
            action !== undefined &&
            Date.parse(String(drift.time)) <= Date.parse(String(action.time)) &&
            drift.outcome === 'resolved'
          );
        },
        10_000,
      ).catch((err: Error) => {
        throw new Error(`${err.message}; history: ${JSON.stringify(rows)}`);
      });
    }
    await waitFor('converged again', converged, 15_000);
    const status = await run(['status', '--db', db]);
    assert.equal(status.code, 0, status.stdout);
  } finally {
    assert.equal(await daemon.stop(), 0);
  }
  printed += daemon.log;
  const history = await run(['history', '--db', db, '--json', '--limit', '100000']);
  assert.equal(history.code, 0);
  const bytes = historyBytes(db);
  for (const pw of PASSWORDS) {
    assert.ok(!bytes.includes(pw), 'no password in the history file');
    assert.ok(!daemon.log.includes(pw), 'no password in the daemon log');
  }
  assert.ok(
    !bytes.includes('SCRAM-SHA-256$') && !daemon.log.includes('SCRAM-SHA-256$'),
    'no verifier in history or logs',
  );
});

test('an observe pass costs the same number of statements for 10 and 1,000 roles', async () => {
  const address = '127.0.31.3';
  const roles = (n: number) =>
    `    roles:\n${Array.from({ length: n }, (_, i) => `      - { name: r${i}, login: true }`).join('\n')}`;
  const body = (n: number) =>
    `${roles(n)}\n    databases:\n      - { name: d1, strategy: file_copy }\n    schemas:\n      - { database: d1, name: s1 }\n    privileges:\n      - { database: d1, role: r0, on: { allTablesInSchema: s1 }, privileges: [SELECT] }\n    settings: { work_mem: 8MB }`;
  const pool = new SessionPool();
  const counts: number[] = [];
  try {
    for (const n of [10, 1000]) {
      const loaded = parseSpec(spec(address, body(n)), 'count.yaml', engines);
      const [t] = targetsOf(loaded.spec, engines);
      assert.ok(t);
      const t0 = Date.now();
      const applied = await reconcile(
        t,
        { pool, log: silent, specVersion: loaded.version },
        { act: true, maxSteps: 10 },
      );
      assert.equal(applied.state, 'converged', JSON.stringify(applied.error ?? applied.changes.slice(0, 3)));
      const applyMs = Date.now() - t0;
      const t1 = Date.now();
      const o = await reconcile(t, { pool, log: silent, specVersion: loaded.version }, { act: false });
      assert.equal(o.state, 'converged');
      assert.equal(o.changes.length, 0);
      counts.push(o.statements);
      process.stdout.write(
        `# postgres: ${n} roles: apply ${applyMs} ms, observe pass ${Date.now() - t1} ms, ${o.statements} statements, ${o.bytesIn} bytes in\n`,
      );
    }
  } finally {
    await pool.closeAll();
  }
  assert.equal(counts[0], counts[1], 'the same number of statements');
  // roles 2, databases 1, schemas 1, extensions 1, privileges 2, default privileges 1, settings 1.
  assert.equal(counts[0], 9);
});

test('per-database connections are reused across passes and closed before an undeclared database is dropped', async () => {
  const address = '127.0.31.3';
  const pool = new SessionPool();
  try {
    const withDb = parseSpec(
      spec(
        address,
        '    databases:\n      - { name: gone, strategy: file_copy }\n    schemas:\n      - { database: gone, name: s }',
      ),
      'a.yaml',
      engines,
    );
    const [t] = targetsOf(withDb.spec, engines);
    assert.ok(t);
    assert.equal((await reconcile(t, { pool, log: silent, specVersion: 'a' }, { act: true })).state, 'converged');
    const session = (await pool.get(t)) as unknown as { databases: string[] };
    assert.deepEqual(session.databases, ['gone'], 'one connection to the database it looks into');
    assert.equal((await reconcile(t, { pool, log: silent, specVersion: 'a' }, { act: false })).state, 'converged');
    assert.equal(pool.opened, 1, 'the session is reused');
    const without = parseSpec(
      spec(address, '    databases: []', 'policy:\n  prune: { databases: true }'),
      'b.yaml',
      engines,
    );
    const [t2] = targetsOf(without.spec, engines);
    assert.ok(t2);
    const o = await reconcile(t2, { pool, log: silent, specVersion: 'b' }, { act: true });
    assert.equal(o.state, 'converged', JSON.stringify(o.error));
    assert.ok(o.made >= 1, 'gone (and d1 of the statement-count test) dropped');
    assert.deepEqual(session.databases, []);
    assert.equal(await pgOf(3).sql("SELECT count(*) FROM pg_database WHERE datname = 'gone'"), '0');
  } finally {
    await pool.closeAll();
  }
});

test('a setting that needs a restart is applied with ALTER SYSTEM, then shown as pending a restart by status and plan, not failed, not looping', async () => {
  const address = '127.0.31.4';
  const p = pgOf(4);
  const file = tmp.file('restart.yaml', spec(address, '    settings: { shared_buffers: 32MB }'));
  const db = tmp.file('restart.db');
  const apply = await run(['apply', '-f', file, '--once', '--db', db, '--json']);
  assert.equal(apply.code, 2, 'waiting, not failed');
  const [outcome] = jsonLines(apply.stdout);
  assert.equal(outcome?.state, 'waiting');
  assert.equal(outcome?.error, null);
  assert.equal(
    await p.sql(
      "SELECT setting FROM pg_file_settings WHERE name = 'shared_buffers' AND sourcefile LIKE '%postgresql.auto.conf'",
    ),
    '32MB',
  );
  assert.equal(
    await p.sql(
      "SELECT current_setting('shared_buffers') || ' ' || pending_restart FROM pg_settings WHERE name = 'shared_buffers'",
    ),
    '16MB true',
  );
  const status = await run(['status', '--db', db, '--json']);
  const [row] = jsonLines(status.stdout);
  assert.equal(row?.state, 'waiting');
  assert.match(String(row?.message), /pending a restart/);
  assert.equal(row?.lastError, null);
  const plan = await run(['plan', '-f', file, '--json']);
  assert.equal(plan.code, 2);
  const changes = jsonLines(plan.stdout);
  assert.deepEqual(
    changes.map((c) => [c.resource, c.action, c.risk, c.status]),
    [['postgres.setting restart h', 'restart', 'disruptive', 'waiting']],
  );
  assert.match(String(changes[0]?.summary), /pending a restart for shared_buffers = 32MB/);
  assert.match(String(changes[0]?.reason), /^a restart needs hosts\.h\.ssh and hosts\.h\.service/);
  // Not looping: a second apply sets nothing again.
  assert.equal((await run(['apply', '-f', file, '--once', '--db', db])).code, 2);
  const actions = jsonLines((await run(['history', '--db', db, '--kind', 'action', '--json'])).stdout);
  assert.equal(actions.length, 1, 'ALTER SYSTEM ran once');
  await p.restart();
  assert.equal((await run(['plan', '-f', file])).code, 0);
});

test('the lease: an advisory lock held for the session; a second daemon is told who holds it, by name', async () => {
  const loaded = parseSpec(
    spec('127.0.31.4', '    roles: [{ name: lease_probe, login: false }]'),
    'lease.yaml',
    engines,
  );
  const [t] = targetsOf(loaded.spec, engines);
  assert.ok(t);
  const lease = t.engine.lease?.bind(t.engine);
  assert.ok(lease);
  const [a, b] = [new SessionPool('daemon-a:1'), new SessionPool('daemon-b:2')];
  try {
    const [sa, sb] = [await a.get(t), await b.get(t)];
    assert.deepEqual(await lease(sa, 'daemon-a:1'), { held: true, taken: true });
    assert.deepEqual(
      await lease(sa, 'daemon-a:1'),
      { held: true, taken: false },
      'kept for the session, not taken twice',
    );
    const other = await lease(sb, 'daemon-b:2');
    assert.equal(other.held, false);
    assert.match((other as { holder: string }).holder, /^setpoint daemon-a:1 \(pid \d+ from 127\.0\.0\.1\)$/);
    // B acting is refused in the pass, with the holder named; A's session closing lets go.
    const o = await reconcile(t, { pool: b, log: silent, specVersion: 'x', owner: 'daemon-b:2' }, { act: true });
    assert.match(String(o.leaseHolder), /^setpoint daemon-a:1/);
    assert.equal(o.made, 0);
    assert.ok(
      o.changes.every((c) => c.status === 'waiting' && /^lease held by setpoint daemon-a:1/.test(c.reason ?? '')),
    );
    await a.closeAll();
    const after = await reconcile(t, { pool: b, log: silent, specVersion: 'x', owner: 'daemon-b:2' }, { act: true });
    assert.equal(after.state, 'converged', after.error?.message);
  } finally {
    await a.closeAll();
    await b.closeAll();
  }
});

test('role, database and schema names with quotes, spaces, upper case and non-ASCII letters round-trip', async () => {
  const address = '127.0.31.3';
  const p = pgOf(3);
  const role = 'Ré "Q" Reader';
  const dbName = 'Lédger "Q" Ünï';
  const schema = 'Bööks x';
  const file = tmp.file(
    'names.yaml',
    spec(
      address,
      `    roles:
      - { name: ${JSON.stringify(role)}, login: true, password: { file: ${tmp.dir}/odd.pw } }
    databases:
      - { name: ${JSON.stringify(dbName)}, owner: ${JSON.stringify(role)}, strategy: file_copy }
    schemas:
      - { database: ${JSON.stringify(dbName)}, name: ${JSON.stringify(schema)}, owner: ${JSON.stringify(role)} }
    privileges:
      - { database: ${JSON.stringify(dbName)}, role: ${JSON.stringify(role)}, on: database, privileges: [CONNECT, TEMP] }`,
    ),
  );
  const db = tmp.file('names.db');
  assert.equal((await run(['apply', '-f', file, '--once', '--db', db])).code, 0);
  assert.equal((await run(['plan', '-f', file])).code, 0);
  assert.equal(await p.sql(`SELECT rolname FROM pg_roles WHERE rolname = 'Ré "Q" Reader'`), role);
  assert.equal(
    await p.sql(`SELECT datname || '|' || pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'Lédger "Q" Ünï'`),
    `${dbName}|${role}`,
  );
  assert.equal(await p.sql(`SELECT nspname FROM pg_namespace WHERE nspname = 'Bööks x'`, dbName), schema);
  assert.equal(await login(address, role, ODD_PW, dbName), true);
  for (const pw of PASSWORDS) assert.ok(!historyBytes(db).includes(pw));
});

test('a grant to `public` in lower case is a grant to PUBLIC, as PostgreSQL reads it: revoked by hand, put back', async () => {
  const address = '127.0.31.3';
  const p = pgOf(3);
  const file = tmp.file(
    'public.yaml',
    spec(
      address,
      `    databases:
      - { name: pub, strategy: file_copy }
    privileges:
      - { database: pub, role: public, on: database, privileges: [CONNECT, TEMPORARY] }`,
    ),
  );
  const db = tmp.file('public.db');
  const first = await run(['apply', '-f', file, '--once', '--db', db]);
  assert.equal(first.code, 0, first.stdout + first.stderr);
  await p.sql('REVOKE CONNECT, TEMPORARY ON DATABASE pub FROM PUBLIC');
  const drift = await run(['plan', '-f', file, '--json']);
  assert.equal(drift.code, 2, drift.stdout + drift.stderr);
  assert.match(drift.stdout, /grant CONNECT, TEMPORARY on database pub to PUBLIC/);
  const again = await run(['apply', '-f', file, '--once', '--db', db]);
  assert.equal(again.code, 0, again.stdout + again.stderr);
  assert.equal(
    await p.sql(
      "SELECT has_database_privilege('public', 'pub', 'CONNECT') AND has_database_privilege('public', 'pub', 'TEMPORARY')",
    ),
    't',
  );
  assert.equal((await run(['plan', '-f', file])).code, 0);
});

test('extension `version: latest` keeps an old install updated to the version the server ships by default, then no change', async () => {
  const address = '127.0.31.3';
  const p = pgOf(3);
  const body = (ext: string) => `    databases:
      - { name: extdb, strategy: file_copy }
${ext}`;
  const db = tmp.file('ext.db');
  const bare = tmp.file('ext0.yaml', spec(address, body('')));
  assert.equal((await run(['apply', '-f', bare, '--once', '--db', db])).code, 0);
  // An old version, installed by hand.
  await p.sql("CREATE EXTENSION hstore VERSION '1.4'", 'extdb');
  const file = tmp.file(
    'ext.yaml',
    spec(address, body('    extensions:\n      - { database: extdb, name: hstore, version: latest }')),
  );
  const plan = await run(['plan', '-f', file]);
  assert.equal(plan.code, 2, plan.stdout + plan.stderr);
  assert.match(plan.stdout, /update extension hstore in database extdb from 1\.4 to 1\.8/);
  const apply = await run(['apply', '-f', file, '--once', '--db', db]);
  assert.equal(apply.code, 0, apply.stdout + apply.stderr);
  assert.equal(await p.sql("SELECT extversion FROM pg_extension WHERE extname = 'hstore'", 'extdb'), '1.8');
  assert.equal((await run(['plan', '-f', file])).code, 0);
});

test('no declared password appears in anything the CLI printed', () => {
  assert.ok(printed.length > 0);
  for (const pw of PASSWORDS) assert.ok(!printed.includes(pw), 'no password in CLI output');
  assert.ok(!printed.includes('SCRAM-SHA-256$'), 'no verifier in CLI output');
});
