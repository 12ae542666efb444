/**
 * Changes sent in batches (127.0.37.1, MariaDB and PostgreSQL): a step's statement-only changes go to
 * the server in one request and are journaled together, yet each change keeps its own outcome. A change
 * the server refuses in the middle of a batch fails alone: the changes before it are done, the ones
 * after it still run, and history holds exactly one entry per change, none left `running`.
 * The refusals are made by hand on the server, where validate cannot foresee them: a plain file where
 * MariaDB would make a database's folder, and a PostgreSQL event trigger that rejects one schema.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import Database from 'better-sqlite3';
import pg from 'pg';
import { destroyAll, startHost, type LabHost } from '../../lab/index.js';
import { cli, mysqlRoot, tempDir } from '../helpers.js';

const tmp = tempDir('batch');
const N = 30;
const REFUSED = 17;
let host: LabHost;

before(async () => {
  host = await startHost({ name: 'b1', address: '127.0.37.1', mariadb: true, postgres: true });
});

after(async () => {
  await destroyAll();
  tmp.cleanup();
});

const names = (prefix: string) => Array.from({ length: N }, (_, i) => `${prefix}${String(i).padStart(2, '0')}`);

interface ActionRow {
  resource: string;
  outcome: string;
}

function actions(db: string): ActionRow[] {
  const h = new Database(db, { readonly: true });
  try {
    return h.prepare("SELECT resource, outcome FROM entries WHERE kind = 'action' ORDER BY id").all() as ActionRow[];
  } finally {
    h.close();
  }
}

/** Every resource once, by outcome. */
function byOutcome(rows: ActionRow[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const r of rows) out.set(r.outcome, [...(out.get(r.outcome) ?? []), r.resource]);
  return out;
}

test('MariaDB: one refused database in a batch fails alone; the others are made, each journaled once', async () => {
  const dbs = names('shop_');
  const refused = dbs[REFUSED] as string;
  // A plain file where the database's folder would go: CREATE DATABASE fails with "File exists".
  const dataDir = host.mariadb?.dataDir;
  assert.ok(dataDir !== undefined);
  writeFileSync(join(dataDir, refused), 'not a database\n');
  const pw = tmp.file('pw', 'Batch-pw-3Zq\n');
  const file = tmp.file(
    'my.yaml',
    `version: 1
hosts:
  h: { address: ${host.address}, mysql: { user: root } }
clusters:
  my:
    engine: mysql
    members: [h]
    databases:
${dbs.map((d) => `      - { name: ${d} }`).join('\n')}
    users:
${dbs.map((d) => `      - { name: ${d}_app, host: '%', password: { file: ${pw} }, grants: [{ on: '${d}.*', privileges: [SELECT, INSERT] }] }`).join('\n')}
`,
  );
  const root = await mysqlRoot(host.address);
  try {
    // The general log shows each request as the server received it.
    await root.query("SET GLOBAL log_output = 'TABLE'; SET GLOBAL general_log = 1");
    const db = join(tmp.dir, 'my.db');
    const r = await cli(['apply', '-f', file, '--once', '--db', db], { timeoutMs: 120_000 });
    assert.notEqual(r.code, 0, 'a refused change is a failed apply');
    assert.match(r.stdout + r.stderr, new RegExp(`shop_${REFUSED}`));

    const [rows] = await root.query('SHOW DATABASES');
    const have = new Set((rows as { Database: string }[]).map((x) => x.Database));
    for (const d of dbs) assert.equal(have.has(d), d !== refused, `database ${d}`);
    const [users] = await root.query("SELECT User FROM mysql.user WHERE User LIKE 'shop\\_%'");
    assert.equal((users as unknown[]).length, N, 'every user is made, whatever happened to the databases');
    const [grants] = await root.query("SELECT Db FROM mysql.db WHERE User LIKE 'shop\\_%'");
    // MariaDB grants on a database that does not exist; the refused one's grant is made all the same
    assert.equal((grants as unknown[]).length, N);

    await root.query('SET GLOBAL general_log = 0');
    const [requests] = await root.query(
      "SELECT COUNT(*) AS n FROM mysql.general_log WHERE command_type = 'Query' AND argument LIKE 'CREATE DATABASE%;%CREATE DATABASE%'",
    );
    assert.ok(Number((requests as { n: string }[])[0]?.n) >= 1, 'databases were made by multi-statement requests');

    const got = byOutcome(actions(db));
    assert.deepEqual(got.get('failed'), [`mysql.database ${refused}`]);
    assert.equal(got.get('running'), undefined, 'nothing is left running');
    const ok = got.get('ok') ?? [];
    assert.equal(ok.length, 3 * N - 1, 'every other change ran once');
    assert.equal(new Set(ok).size, ok.length, 'no change is journaled twice');
    assert.ok(ok.includes(`mysql.database ${dbs[REFUSED + 1] as string}`), 'the change after the refused one ran');
  } finally {
    await root.end();
  }
});

test('PostgreSQL: one refused schema in a batch fails alone; the others are made, each journaled once', async () => {
  const schemas = names('area_');
  const refused = schemas[REFUSED] as string;
  const admin = new pg.Client({ host: host.address, user: 'postgres', database: 'postgres' });
  await admin.connect();
  try {
    // An event trigger refuses one schema, as a site's own policy might.
    await admin.query(`
      CREATE FUNCTION refuse_one() RETURNS event_trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF EXISTS (SELECT 1 FROM pg_event_trigger_ddl_commands() WHERE object_identity = '${refused}') THEN
          RAISE EXCEPTION 'schema ${refused} is refused by site policy';
        END IF;
      END $$;
      CREATE EVENT TRIGGER refuse_one ON ddl_command_end WHEN TAG IN ('CREATE SCHEMA') EXECUTE FUNCTION refuse_one();`);
    const file = tmp.file(
      'pg.yaml',
      `version: 1
hosts:
  h: { address: ${host.address}, postgres: { user: postgres } }
clusters:
  pg:
    engine: postgres
    members: [h]
    roles:
${schemas.map((s) => `      - { name: ${s}_app, login: true }`).join('\n')}
    schemas:
${schemas.map((s) => `      - { database: postgres, name: ${s}, owner: ${s}_app }`).join('\n')}
`,
    );
    const db = join(tmp.dir, 'pg.db');
    const r = await cli(['apply', '-f', file, '--once', '--db', db], { timeoutMs: 120_000 });
    assert.notEqual(r.code, 0, 'a refused change is a failed apply');
    assert.match(r.stdout + r.stderr, /refused by site policy/);

    const have = new Set(
      (
        await admin.query<{ nspname: string }>("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'area\\_%'")
      ).rows.map((x) => x.nspname),
    );
    for (const s of schemas) assert.equal(have.has(s), s !== refused, `schema ${s}`);
    // Roles made by one request share its implicit transaction: one xmin for all of them.
    const roles = await admin.query<{ n: string; xids: string }>(
      "SELECT COUNT(*) AS n, COUNT(DISTINCT xmin::text) AS xids FROM pg_authid WHERE rolname LIKE 'area\\_%'",
    );
    assert.equal(Number(roles.rows[0]?.n), N);
    assert.equal(Number(roles.rows[0]?.xids), 1, 'the roles were made by one request');

    const got = byOutcome(actions(db));
    assert.deepEqual(got.get('failed'), [`postgres.schema postgres.${refused}`]);
    assert.equal(got.get('running'), undefined, 'nothing is left running');
    const ok = got.get('ok') ?? [];
    assert.equal(ok.length, 2 * N - 1, 'every other change ran once');
    assert.equal(new Set(ok).size, ok.length, 'no change is journaled twice');

    // Once the policy is lifted, the next apply makes the refused schema and nothing else.
    await admin.query('DROP EVENT TRIGGER refuse_one');
    const again = await cli(['apply', '-f', file, '--once', '--db', db], { timeoutMs: 120_000 });
    assert.equal(again.code, 0, again.stdout + again.stderr);
    const after = byOutcome(actions(db)).get('ok') ?? [];
    assert.deepEqual(after.slice(ok.length), [`postgres.schema postgres.${refused}`]);
  } finally {
    await admin.end();
  }
});
