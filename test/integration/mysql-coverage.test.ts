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
