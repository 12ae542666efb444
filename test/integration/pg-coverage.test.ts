/**
 * Issue 13's PostgreSQL coverage against one real PostgreSQL 15 server started by the lab on
 * 127.0.34.1: for each kind of declaration, (a) the declared state is reached, (b) a second pass makes
 * no change and sends no write, (c) a change made by hand with plain SQL is repaired; and `validate`
 * refuses what is not supported, with FILE:LINE:COL.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { engines } from '../../agents/index.js';
import { md5Verifier, scramVerifier } from '../../agents/postgres/password.js';
import { silent } from '../../src/log.js';
import { reconcile, type PassOutcome } from '../../src/loop/reconcile.js';
import { targetsOf } from '../../src/loop/targets.js';
import { locator, parseSpec } from '../../src/spec/load.js';
import { SessionPool } from '../../src/transport/sessions.js';
import { destroyAll, startHost, type LabHost } from '../../lab/index.js';
import { cli, tempDir } from '../helpers.js';

const ADDRESS = '127.0.34.1';
const tmp = tempDir('pg-coverage');
let host: LabHost;
const pool = new SessionPool();

before(async () => {
  host = await startHost({ name: 'c1', address: ADDRESS, postgres: true });
});
after(async () => {
  await pool.closeAll();
  await destroyAll();
  tmp.cleanup();
});

function server(): NonNullable<LabHost['postgres']> {
  const p = host.postgres;
  assert.ok(p, 'the lab host has PostgreSQL');
  return p;
}

/** Runs SQL by hand, as a DBA would (psql over the socket, as postgres). */
function sql(statement: string, database?: string): Promise<string> {
  return server().sql(statement, database);
}

function spec(body: string, policy = ''): string {
  return `version: 1
hosts:
  h:
    address: ${ADDRESS}
    postgres: { port: 5432, user: postgres, database: postgres }
clusters:
  cov:
    engine: postgres
    members: [h]
${body}
${policy}`;
}

let passes = 0;
/** One pass of the loop in this process (`act`: make changes, as `apply --once` does). */
async function pass(body: string, opts: { act?: boolean; policy?: string } = {}): Promise<PassOutcome> {
  const file = `cov-${++passes}.yaml`;
  const text = spec(body, opts.policy);
  const loaded = parseSpec(text, file, engines);
  const [t] = targetsOf(loaded.spec, engines);
  assert.ok(t);
  return reconcile(
    t,
    { pool, log: silent, specVersion: loaded.version, locate: locator({ file, text }) },
    { act: opts.act ?? true, maxSteps: 10 },
  );
}

/** What a pass did and what is left, in one line for assertion messages. */
function show(o: PassOutcome): string {
  return JSON.stringify({
    state: o.state,
    made: o.made,
    error: o.error,
    needsHuman: o.needsHuman,
    changes: o.changes.map(
      (c) => `${c.resource}: ${c.summary} [${c.status}${c.reason === undefined ? '' : `: ${c.reason}`}]`,
    ),
    actions: o.actions,
  });
}

/** (a) the pass converges; returns it. */
async function converges(body: string, policy?: string): Promise<PassOutcome> {
  const o = await pass(body, policy === undefined ? {} : { policy });
  assert.equal(o.state, 'converged', show(o));
  return o;
}

/** (b) a second pass: nothing planned, nothing made (no statement but the catalog reads). */
async function noChange(body: string, policy?: string): Promise<void> {
  const o = await pass(body, policy === undefined ? {} : { policy });
  assert.equal(o.state, 'converged', show(o));
  assert.equal(o.made, 0, show(o));
  assert.deepEqual(o.changes, []);
  assert.deepEqual(o.actions, []);
}

/** (c) after a change by hand, the pass repairs it (at least one change made) and converges. */
async function repairs(body: string, what: RegExp, policy?: string): Promise<PassOutcome> {
  const o = await converges(body, policy);
  assert.ok(o.made >= 1, show(o));
  assert.ok(
    o.actions.some((a) => what.test(`${a.resource}: ${a.summary}`)),
    `expected an action matching ${what}: ${show(o)}`,
  );
  return o;
}

/** `validate` refuses the body: exit 1 and each expected message, located as FILE:LINE:COL. */
async function refused(body: string, ...expected: RegExp[]): Promise<string> {
  const file = tmp.file(`bad-${++passes}.yaml`, spec(body));
  const r = await cli(['validate', '-f', file]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  for (const e of expected) {
    const line = (r.stdout + r.stderr).split('\n').find((l) => e.test(l));
    assert.ok(line !== undefined, `expected ${e} in: ${r.stdout}${r.stderr}`);
    assert.ok(line.startsWith(`${file}:`) && /^[^:]+:\d+:\d+ /.test(line), `located: ${line}`);
  }
  return r.stdout + r.stderr;
}

test('a setting the server shows as something else is compared with what is configured, and reported when it is not in effect', async () => {
  const cmd = 'test ! -f /tmp/setpoint-archive/%f';
  const body = `    settings: { archive_command: "${cmd}", timezone: europe/berlin }`;
  // (a) set once; archive_mode is off, so the server shows "(disabled)": reported, needs a human.
  const first = await pass(body);
  assert.ok(first.made >= 1, show(first));
  assert.equal(first.state, 'stalled', show(first));
  assert.equal(first.needsHuman?.reason, 'SettingNotInEffect');
  assert.match(
    first.needsHuman?.message ?? '',
    /^archive_command is configured as .* but not in effect: cov-\d+\.yaml:\d+:\d+ clusters\.cov\.settings\.archive_command: archive_mode is off, so archive_command does nothing/,
  );
  assert.equal(await sql("SELECT setting FROM pg_settings WHERE name = 'archive_command'"), '(disabled)');
  assert.equal(await sql("SELECT setting FROM pg_file_settings WHERE name = 'archive_command'"), cmd);
  // timezone is shown in the zone database's spelling (Europe/Berlin): configured as declared, no drift.
  assert.equal(
    await sql("SELECT setting || ' ' || reset_val FROM pg_settings WHERE name = 'TimeZone'"),
    'Europe/Berlin europe/berlin',
  );
  // (b) a second pass: nothing set again (it used to reload at every pass), still reported.
  const second = await pass(body);
  assert.equal(second.made, 0, show(second));
  assert.deepEqual(
    second.changes.map((c) => [c.resource, c.status]),
    [['postgres.setting archive_command', 'waiting']],
  );
  assert.equal(second.needsHuman?.reason, 'SettingNotInEffect');
  // (c) changed by hand: put back.
  await sql("ALTER SYSTEM SET archive_command = 'false'; ALTER SYSTEM SET timezone = 'UTC'; SELECT pg_reload_conf();");
  const repaired = await pass(body);
  assert.ok(
    repaired.actions.some((a) => a.resource === 'postgres.setting archive_command' && a.ok),
    show(repaired),
  );
  assert.ok(
    repaired.actions.some((a) => a.resource === 'postgres.setting timezone' && a.ok),
    show(repaired),
  );
  assert.equal(await sql("SELECT setting FROM pg_file_settings WHERE name = 'archive_command'"), cmd);
  // Declaring archive_mode: on as well: the restart it needs waits for a window; archive_command waits
  // for it without needing a human.
  const withMode = `    settings: { archive_command: "${cmd}", timezone: europe/berlin, archive_mode: on }`;
  const pending = await pass(withMode);
  assert.equal(pending.needsHuman, undefined, show(pending));
  assert.deepEqual(pending.changes.map((c) => [c.resource, c.status]).sort(), [
    ['postgres.setting archive_command', 'waiting'],
    ['postgres.setting restart h', 'waiting'],
  ]);
  assert.match(
    pending.changes.find((c) => c.resource === 'postgres.setting archive_command')?.reason ?? '',
    /takes effect once archive_mode = on does/,
  );
  await server().restart();
  await converges(withMode);
  assert.equal(await sql("SELECT setting FROM pg_settings WHERE name = 'archive_command'"), cmd);
  await noChange(withMode);
});

test('settings `{ reset: true }`: back to the default with ALTER SYSTEM RESET, kept there', async () => {
  await sql("ALTER SYSTEM SET work_mem = '32MB'; SELECT pg_reload_conf();");
  const body =
    '    settings: { work_mem: { reset: true }, archive_command: { reset: true }, timezone: { reset: true }, archive_mode: { reset: true } }';
  // (a) reset and reloaded; archive_mode is read at start only: its restart waits for a window.
  const first = await pass(body);
  assert.ok(first.made >= 1, show(first));
  assert.equal(await sql("SELECT count(*) FROM pg_file_settings WHERE sourcefile LIKE '%/postgresql.auto.conf'"), '0');
  assert.equal(await sql("SELECT setting || ' ' || source FROM pg_settings WHERE name = 'work_mem'"), '4096 default');
  assert.deepEqual(
    first.changes.map((c) => [c.resource, c.action, c.status]),
    [['postgres.setting restart h', 'restart', 'waiting']],
  );
  assert.match(first.changes[0]?.summary ?? '', /pending a restart for archive_mode = \(default\)/);
  await server().restart();
  await converges(body);
  // (b)
  await noChange(body);
  // (c) set again by hand, not even reloaded: reset again.
  await sql("ALTER SYSTEM SET work_mem = '8MB'");
  await repairs(body, /^postgres\.setting work_mem: reset work_mem to its default with ALTER SYSTEM RESET/);
  assert.equal(await sql("SELECT count(*) FROM pg_file_settings WHERE name = 'work_mem'"), '0');
  await noChange(body);
  // validate: reset must be true, and nothing else goes beside it.
  await refused('    settings: { work_mem: { reset: false } }', /settings\.work_mem/);
  await refused('    settings: { work_mem: { reset: true, value: 4MB } }', /settings\.work_mem/);
});

async function login(user: string, password: string): Promise<boolean> {
  const c = new pg.Client({
    host: ADDRESS,
    port: 5432,
    user,
    password,
    database: 'postgres',
    connectionTimeoutMillis: 5000,
  });
  c.on('error', () => undefined);
  try {
    await c.connect();
    await c.end();
    return true;
  } catch {
    return false;
  }
}

test('passwords: null is no password, a declared verifier is stored as it is (no plaintext anywhere), an empty one is refused', async () => {
  const HASHED_PW = 'Vf7-verifier-secret-Qp2';
  const scram = scramVerifier(HASHED_PW);
  const md5 = md5Verifier('Md5-legacy-secret', 'legacy');
  const body = `    roles:
      - { name: nopw, login: true, password: null }
      - { name: hashed, login: true, password: { verifier: "${scram}" }, validUntil: "2030-01-01T00:00:00Z" }
      - { name: legacy, login: true, password: { verifier: "${md5}" } }`;
  await sql("CREATE ROLE nopw LOGIN PASSWORD 'set-before'");
  // (a)
  const first = await converges(body);
  assert.equal(await sql("SELECT rolpassword IS NULL FROM pg_authid WHERE rolname = 'nopw'"), 't');
  assert.equal(await sql("SELECT rolpassword FROM pg_authid WHERE rolname = 'hashed'"), scram);
  assert.equal(await sql("SELECT rolpassword FROM pg_authid WHERE rolname = 'legacy'"), md5);
  assert.equal(
    await sql("SELECT to_char(rolvaliduntil AT TIME ZONE 'UTC', 'YYYY-MM-DD') FROM pg_authid WHERE rolname = 'hashed'"),
    '2030-01-01',
  );
  assert.equal(await login('hashed', HASHED_PW), true, 'the verifier is the password');
  const reported = JSON.stringify([first.changes, first.actions, first.drift, [...(first.observed ?? [])]]);
  assert.ok(!reported.includes('SCRAM-SHA-256$') && !reported.includes(md5), 'no verifier in what the pass reports');
  // (b)
  await noChange(body);
  // (c)
  await sql(
    "ALTER ROLE nopw PASSWORD 'by-hand'; ALTER ROLE hashed PASSWORD 'by-hand' VALID UNTIL 'infinity'; ALTER ROLE legacy PASSWORD NULL;",
  );
  const fixed = await repairs(body, /^postgres\.role nopw: remove the password of role nopw/);
  assert.deepEqual(fixed.actions.map((a) => a.summary).sort(), [
    'remove the password of role nopw (declared: no password)',
    'set the password of role hashed to the declared verifier (it does not match)',
    'set the password of role legacy to the declared verifier (it does not match)',
    'set valid until 2030-01-01T00:00:00Z for role hashed',
  ]);
  assert.equal(await sql("SELECT rolpassword FROM pg_authid WHERE rolname = 'hashed'"), scram);
  await noChange(body);
  // validate: an empty secret, a password in the file, a verifier that is none.
  const empty = tmp.file('empty.pw', '\n');
  await refused(`    roles:\n      - { name: r, password: { file: ${empty} } }`, /is empty \(only a newline\)/);
  await refused(
    '    roles:\n      - { name: r, password: "" }',
    /roles\[0\]\.password: a password is never written in the file/,
  );
  await refused(
    '    roles:\n      - { name: r, password: { verifier: "SCRAM-SHA-256$4096:abc" } }',
    /roles\[0\]\.password\.verifier: expected a SCRAM-SHA-256 verifier/,
  );
  await sql('DROP ROLE nopw, hashed, legacy');
});

test("role settings: ALTER ROLE ... [IN DATABASE ...] SET, compared in the server's units; extra ones removed only with prune", async () => {
  const body = `    roles:
      - name: app
        login: false
        settings: { work_mem: 64MB, search_path: ["My Schema", public], app.tenant: acme }
        settingsInDatabase: { covdb: { statement_timeout: 5s } }
    databases:
      - { name: covdb, strategy: file_copy }`;
  const stored = () =>
    sql(
      "SELECT string_agg(coalesce(d.datname, '*') || ':' || array_to_string(s.setconfig, '|'), ' ' ORDER BY d.datname NULLS FIRST) FROM pg_db_role_setting s LEFT JOIN pg_database d ON d.oid = s.setdatabase WHERE s.setrole = 'app'::regrole",
    );
  // (a)
  await converges(body);
  assert.equal(
    await stored(),
    '*:work_mem=64MB|search_path="My Schema", public|app.tenant=acme covdb:statement_timeout=5s',
  );
  // (b) 64MB is stored as written; 65536kB would compare the same.
  await noChange(body);
  await sql("ALTER ROLE app SET work_mem = '65536kB'");
  await noChange(body);
  // (c) changed, removed and added by hand: put back; the added one is left alone without prune.
  await sql(
    "ALTER ROLE app SET work_mem = '1MB'; ALTER ROLE app IN DATABASE covdb RESET statement_timeout; ALTER ROLE app SET lock_timeout = '1s';",
  );
  const fixed = await repairs(
    body,
    /^postgres\.role_setting app: work_mem: set work_mem to 64MB for role app \(was 1MB\)$/,
  );
  assert.ok(
    fixed.actions.some((a) => a.summary === 'set statement_timeout to 5s for role app in database covdb'),
    show(fixed),
  );
  assert.match(await stored(), /lock_timeout=1s/);
  // With prune (users), the undeclared one is removed: a destructive change.
  const prune = '    prune: { users: true }';
  const pruned = await repairs(`${body}\n${prune}`, /remove the undeclared setting lock_timeout = 1s of role app/);
  assert.equal(pruned.actions.length, 1, show(pruned));
  assert.doesNotMatch(await stored(), /lock_timeout/);
  await noChange(`${body}\n${prune}`);
  // A value the server refuses waits for a human, located in the file; a bad name is a validate error.
  const bad = await pass('    roles:\n      - { name: app, settings: { work_mem: lots } }');
  assert.equal(bad.needsHuman?.reason, 'SettingRejected', show(bad));
  assert.match(
    bad.needsHuman?.message ?? '',
    /cov-\d+\.yaml:\d+:\d+ clusters\.cov\.roles\[0\]\.settings\.work_mem: lots is not a valid value/,
  );
  await refused('    roles:\n      - { name: app, settings: { work-mem: 1MB } }', /roles\[0\]\.settings/);
  await refused('    roles:\n      - { name: app, settingsInDb: { covdb: {} } }', /unknown key "settingsInDb"/);
});

test('comments on roles, databases and schemas: COMMENT ON, read with shobj_description / obj_description', async () => {
  const body = `    roles:
      - { name: app, comment: "the application's role" }
      - { name: quiet, comment: null }
    databases:
      - { name: covdb, strategy: file_copy, comment: "Ledger — ünïcode" }
    schemas:
      - { database: covdb, name: books, comment: "books of account" }
      - { database: covdb, name: scratch, comment: "" }`;
  await sql("CREATE ROLE quiet; COMMENT ON ROLE quiet IS 'to be removed'");
  const comments = async () =>
    [
      await sql("SELECT shobj_description('app'::regrole, 'pg_authid')"),
      await sql("SELECT coalesce(shobj_description('quiet'::regrole, 'pg_authid'), '(none)')"),
      await sql("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = 'covdb'"),
      await sql("SELECT obj_description('books'::regnamespace, 'pg_namespace')", 'covdb'),
      await sql("SELECT coalesce(obj_description('scratch'::regnamespace, 'pg_namespace'), '(none)')", 'covdb'),
    ].join(' | ');
  const want = "the application's role | (none) | Ledger — ünïcode | books of account | (none)";
  // (a)
  await converges(body);
  assert.equal(await comments(), want);
  // (b)
  await noChange(body);
  // (c)
  await sql("COMMENT ON ROLE app IS 'by hand'; COMMENT ON ROLE quiet IS 'again'; COMMENT ON DATABASE covdb IS NULL;");
  await sql("COMMENT ON SCHEMA books IS 'by hand'; COMMENT ON SCHEMA scratch IS 'by hand';", 'covdb');
  const fixed = await repairs(body, /^postgres\.role app: set the comment on role app$/);
  assert.deepEqual(fixed.actions.map((a) => a.summary).sort(), [
    'remove the comment on role quiet',
    'remove the comment on schema scratch in database covdb',
    'set the comment on database covdb',
    'set the comment on role app',
    'set the comment on schema books in database covdb',
  ]);
  assert.equal(await comments(), want);
  await noChange(body);
  await refused('    roles:\n      - { name: app, comment: 5 }', /roles\[0\]\.comment/);
  await sql('DROP ROLE quiet');
});

test('databases: tablespace and ICU locale at creation, reported (never dropped) when an existing one differs; extension CASCADE', async () => {
  const dir = `${server().dir}/covts`;
  mkdirSync(dir, { mode: 0o700 });
  execFileSync('chown', ['postgres', dir]);
  await sql(`CREATE TABLESPACE covts LOCATION '${dir}'`);
  const body = `    databases:
      - { name: icudb, localeProvider: icu, icuLocale: en-US, tablespace: covts }
    extensions:
      - { database: icudb, name: earthdistance, cascade: true }`;
  const state = () =>
    sql(
      "SELECT datlocprovider::text || ' ' || daticulocale || ' ' || (SELECT spcname FROM pg_tablespace t WHERE t.oid = dattablespace) FROM pg_database WHERE datname = 'icudb'",
    );
  const extensions = () => sql("SELECT string_agg(extname, ' ' ORDER BY extname) FROM pg_extension", 'icudb');
  // (a) created from template0 (the provider differs from template1's), with the extension it requires.
  const first = await converges(body);
  assert.ok(
    first.actions.some((a) =>
      /^create database icudb \(locale provider icu, ICU locale en-US, tablespace covts, template template0\)$/.test(
        a.summary,
      ),
    ),
    show(first),
  );
  assert.equal(await state(), 'i en-US covts');
  assert.equal(await extensions(), 'cube earthdistance plpgsql');
  // (b)
  await noChange(body);
  // (c) the extensions dropped by hand: CASCADE brings both back.
  await sql('DROP EXTENSION earthdistance; DROP EXTENSION cube;', 'icudb');
  await repairs(body, /^postgres\.extension icudb\.earthdistance: create extension earthdistance .*\(cascade\)$/);
  assert.equal(await extensions(), 'cube earthdistance plpgsql');
  await noChange(body);
  // An existing database made otherwise: reported, waiting, never dropped or recreated.
  await sql('CREATE DATABASE plain');
  const other = `    databases:\n      - { name: plain, localeProvider: icu, icuLocale: de-DE, tablespace: covts }`;
  for (let i = 0; i < 2; i++) {
    const o = await pass(other);
    assert.equal(o.made, 0, show(o));
    assert.deepEqual(
      o.changes.map((c) => [c.summary, c.status]),
      [
        ['database plain has tablespace pg_default, declared covts', 'waiting'],
        ['database plain has localeProvider libc, declared icu', 'waiting'],
        ['database plain has icuLocale (none), declared de-DE', 'waiting'],
      ],
    );
    assert.match(o.changes[0]?.reason ?? '', /never moves a database/);
    assert.match(o.changes[1]?.reason ?? '', /never drops a database/);
  }
  assert.equal(await sql("SELECT datlocprovider FROM pg_database WHERE datname = 'plain'"), 'c');
  await refused(
    '    databases:\n      - { name: x, icuLocale: en-US }\n      - { name: y, localeProvider: icu }',
    /databases\[0\]\.icuLocale: an ICU locale needs localeProvider: icu/,
    /databases\[1\]\.localeProvider: localeProvider: icu needs icuLocale/,
  );
  await refused(
    '    extensions:\n      - { database: x, name: cube, cascade: yes please }',
    /extensions\[0\]\.cascade/,
  );
});

test('privileges on one function by signature, one sequence and one type; names checked per object type at validate', async () => {
  await sql(
    `CREATE SCHEMA IF NOT EXISTS books;
     CREATE FUNCTION books.total(a integer, b text) RETURNS int LANGUAGE sql AS 'SELECT 1';
     CREATE FUNCTION books.total(a integer) RETURNS int LANGUAGE sql AS 'SELECT 2';
     CREATE SEQUENCE books.ids;
     CREATE TYPE books.mood AS ENUM ('ok', 'sad');
     CREATE ROLE reader;
     REVOKE EXECUTE ON FUNCTION books.total(integer, text), books.total(integer) FROM PUBLIC;
     REVOKE USAGE ON TYPE books.mood FROM PUBLIC;`,
    'covdb',
  );
  const body = `    roles:
      - { name: reader }
    privileges:
      - { database: covdb, role: reader, on: { function: "books.total(int4, text)" }, privileges: [EXECUTE] }
      - { database: covdb, role: reader, on: { sequence: books.ids }, privileges: [USAGE, SELECT] }
      - { database: covdb, role: reader, on: { type: books.mood }, privileges: [USAGE] }
      - { database: covdb, role: reader, on: { function: "books.later(integer)" }, privileges: [EXECUTE] }`;
  const granted = () =>
    sql(
      "SELECT has_function_privilege('reader', 'books.total(integer, text)', 'EXECUTE') || ' ' || has_function_privilege('reader', 'books.total(integer)', 'EXECUTE') || ' ' || " +
        "has_sequence_privilege('reader', 'books.ids', 'USAGE, SELECT') || ' ' || has_sequence_privilege('reader', 'books.ids', 'UPDATE') || ' ' || has_type_privilege('reader', 'books.mood', 'USAGE')",
      'covdb',
    );
  // (a) the one overload named (int4 is integer), the sequence, the type; a function not created yet waits.
  const first = await pass(body);
  assert.equal(await granted(), 'true false true false true');
  assert.deepEqual(
    first.changes.map((c) => [c.resource, c.status, c.reason]),
    [
      [
        'postgres.privilege function covdb.books.later(integer) to reader',
        'waiting',
        'function books.later(integer) does not exist yet in database covdb',
      ],
    ],
  );
  await sql("CREATE FUNCTION books.later(integer) RETURNS int LANGUAGE sql AS 'SELECT 3'", 'covdb');
  await converges(body);
  // (b)
  await noChange(body);
  // (c)
  await sql(
    'REVOKE ALL ON FUNCTION books.total(integer, text) FROM reader; REVOKE ALL ON SEQUENCE books.ids FROM reader; REVOKE ALL ON TYPE books.mood FROM reader;',
    'covdb',
  );
  const fixed = await repairs(
    body,
    /^postgres\.privilege function covdb\.books\.total\(a integer, b text\) to reader: grant EXECUTE/,
  );
  assert.equal(fixed.actions.length, 3, show(fixed));
  assert.equal(await granted(), 'true false true false true');
  await noChange(body);
  // validate: privileges per object type, with a did-you-mean; a signature that is none.
  await refused(
    `    privileges:
      - { database: covdb, role: reader, on: { sequence: books.ids }, privileges: [EXECUTE] }
      - { database: covdb, role: reader, on: { function: "books.total(integer)" }, privileges: [EXECUTE, EXECTE] }
      - { database: covdb, role: reader, on: { type: books.mood }, privileges: [SELECT] }
      - { database: covdb, role: reader, on: { function: books.total }, privileges: [EXECUTE] }`,
    /privileges\[0\]\.privileges\[0\]: "EXECUTE" is not a privilege on a sequence/,
    /privileges\[1\]\.privileges\[1\]: "EXECTE" is not a privilege on a function \(did you mean "EXECUTE"\?\)/,
    /privileges\[2\]\.privileges\[0\]: "SELECT" is not a privilege on a type/,
    /privileges\[3\]\.on: expected a signature like/,
  );
});

test('column privileges: GRANT SELECT (a, b) ON TABLE t, read from pg_attribute.attacl', async () => {
  await sql(
    'CREATE SCHEMA IF NOT EXISTS books; CREATE TABLE books.accounts (id int, balance int, secret text);',
    'covdb',
  );
  const body = `    roles:
      - { name: reader }
    privileges:
      - { database: covdb, role: reader, on: { table: books.accounts, columns: [id, balance] }, privileges: [SELECT] }
      - { database: covdb, role: reader, on: { table: books.accounts, columns: [balance] }, privileges: [update] }`;
  const granted = () =>
    sql(
      "SELECT string_agg(c || ':' || p || '=' || has_column_privilege('reader', 'books.accounts', c, p), ' ' ORDER BY c, p) FROM unnest(ARRAY['id', 'balance', 'secret']) c, unnest(ARRAY['SELECT', 'UPDATE']) p",
      'covdb',
    );
  const want =
    'balance:SELECT=true balance:UPDATE=true id:SELECT=true id:UPDATE=false secret:SELECT=false secret:UPDATE=false';
  // (a)
  const first = await converges(body);
  assert.deepEqual(first.actions.map((a) => a.summary).sort(), [
    'grant SELECT on column id of table books.accounts in database covdb to reader',
    'grant SELECT, UPDATE on column balance of table books.accounts in database covdb to reader',
  ]);
  assert.equal(await granted(), want);
  // (b)
  await noChange(body);
  // (c)
  await sql('REVOKE SELECT (balance), UPDATE (balance) ON books.accounts FROM reader', 'covdb');
  await repairs(body, /^postgres\.privilege column covdb\.books\.accounts\.balance to reader: grant/);
  assert.equal(await granted(), want);
  await noChange(body);
  await refused(
    '    privileges:\n      - { database: covdb, role: reader, on: { table: books.accounts, columns: [id] }, privileges: [DELETE] }',
    /privileges\[0\]\.privileges\[0\]: "DELETE" is not a privilege on a column/,
  );
});
