/**
 * Seeding an empty MySQL/MariaDB member (127.0.29.1-2, real MariaDB servers with sshd): the primary's
 * binary logs no longer reach back to its first transaction, so a fresh member cannot catch up by
 * replication alone (MariaDB would let it start after the purged ones, silently without them). setpoint
 * does not point it; in a window it streams a dump of the primary over SSH into it and lets it
 * replicate from the dump's position.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import mysql from 'mysql2/promise';
import { destroyAll, startHost, type LabHost } from '../../lab/index.js';
import { cli, Daemon, jsonLines, tempDir, waitFor } from '../helpers.js';
import { History } from '../../src/history/store.js';

const tmp = tempDir('replication-seed');
const NAMES = ['db1', 'db2'] as const;
type Name = (typeof NAMES)[number];
const hosts = new Map<Name, LabHost>();
const admins = new Map<Name, mysql.Connection>();
// An admin password with the characters an option file must quote.
const ADMIN_PW = 'Adm"in\\pw #7';
const REPL_PW = 'Repl-seed-pw-3Kq';
let key = '';
let knownHosts = '';
let daemon: Daemon | undefined;
let file = '';
let db = '';

before(async () => {
  const first = await startHost({ name: 'db1', address: '127.0.29.1', ssh: true, mariadb: true, baseDir: tmp.dir });
  key = first.sshd?.clientKeyFile ?? '';
  const second = await startHost({
    name: 'db2',
    address: '127.0.29.2',
    ssh: { clientKeyFile: key },
    mariadb: true,
    baseDir: tmp.dir,
  });
  hosts.set('db1', first);
  hosts.set('db2', second);
  knownHosts = tmp.file('known_hosts', [first, second].map((h) => h.sshd?.knownHostsLine ?? '').join('\n') + '\n');
  // setpoint's admin account, on each server outside its binary log (db2 must stay empty: no GTIDs of its own).
  for (const n of NAMES) {
    const c = await mysql.createConnection({ host: addr(n), user: 'root', password: '', multipleStatements: true });
    await c.query('SET SESSION sql_log_bin = 0');
    await c.query(`CREATE USER 'setpoint'@'%' IDENTIFIED BY ?`, [ADMIN_PW]);
    await c.query(`GRANT ALL PRIVILEGES ON *.* TO 'setpoint'@'%' WITH GRANT OPTION`);
    await c.end();
    admins.set(n, await mysql.createConnection({ host: addr(n), user: 'setpoint', password: ADMIN_PW }));
  }
  // db1 has history its binary logs no longer hold.
  await admin('db1').query('CREATE DATABASE legacy');
  await admin('db1').query('CREATE TABLE legacy.t (id INT PRIMARY KEY, v VARCHAR(20))');
  await admin('db1').query("INSERT INTO legacy.t VALUES (1, 'one'), (2, 'two'), (3, 'three')");
  // A binary log is kept until InnoDB's checkpoint passes it (the binlog checkpoint): purge until it goes.
  await admin('db1').query('FLUSH BINARY LOGS');
  await waitFor(
    "db1's first binary logs purged",
    async () => {
      const [logs] = await admin('db1').query<mysql.RowDataPacket[]>('SHOW BINARY LOGS');
      await admin('db1').query(`PURGE BINARY LOGS TO '${String(logs[logs.length - 1]?.Log_name)}'`);
      const [left] = await admin('db1').query<mysql.RowDataPacket[]>('SHOW BINARY LOGS');
      return left.length === 1;
    },
    20_000,
    200,
  );
  tmp.file('admin.pw', `${ADMIN_PW}\n`);
  tmp.file('repl.pw', `${REPL_PW}\n`);
  file = tmp.file('orders.yaml', spec('0 0 1 1 *'));
  db = tmp.file('history.db');
});

after(async () => {
  await daemon?.stop();
  for (const c of admins.values()) await c.end().catch(() => undefined);
  await destroyAll();
  tmp.cleanup();
});

function addr(n: Name): string {
  return hosts.get(n)?.address ?? '';
}

function admin(n: Name): mysql.Connection {
  const c = admins.get(n);
  assert.ok(c);
  return c;
}

function spec(window: string): string {
  return `version: 1
hosts:
${NAMES.map(
  (n) => `  ${n}:
    address: ${addr(n)}
    ssh: { port: 2222, user: root, privateKeyFile: ${key}, knownHostsFile: ${knownHosts} }
    mysql: { user: setpoint, password: { file: ${tmp.dir}/admin.pw } }
`,
).join('')}clusters:
  orders:
    engine: mysql
    members: [db1, db2]
    replication:
      primary: db1
      user: repl
      password: { file: ${tmp.dir}/repl.pw }
policy:
  resyncSeconds: 1
  maintenanceWindows: [{ cron: "${window}", minutes: 60, timezone: UTC }]
`;
}

async function one<T>(n: Name, sql: string): Promise<T> {
  const [rows] = await admin(n).query<mysql.RowDataPacket[]>(sql);
  return rows[0] as T;
}

async function clusterRow(): Promise<Record<string, unknown> | undefined> {
  return jsonLines((await cli(['status', '--db', db, '--json'])).stdout).find((r) => r.host === '*');
}

test('an empty member the primary cannot feed is seeded over SSH in a window, then replicates; nothing of its own, no secret kept', async () => {
  daemon = new Daemon(file, db);
  // Outside a window: pointed (safe), the purge seen, the seed waits.
  const waiting = await waitFor(
    'the seed waiting for its window',
    async () => {
      const row = await clusterRow();
      const changes = JSON.stringify(row ?? {});
      return /seed db2 from a dump of db1/.test(changes) && /waiting for window/.test(changes) ? row : undefined;
    },
    30_000,
    250,
  );
  assert.ok(waiting);
  // MariaDB would let db2 start after the purged transactions, silently without them: it is not pointed.
  assert.match(JSON.stringify(waiting), /db1's binary logs no longer hold 0-\d+-3/);
  const [slave] = await admin('db2').query<mysql.RowDataPacket[]>('SHOW SLAVE STATUS');
  assert.deepEqual(slave, [], 'db2 was not pointed at db1');
  assert.equal(
    Number(
      (
        await one<{ n: number }>(
          'db2',
          "SELECT COUNT(*) AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'legacy'",
        )
      ).n,
    ),
    0,
    'nothing loaded before the window',
  );

  // The window opens: the dump streams from db1's host into db2's, then db2 replicates.
  writeFileSync(file, spec('* * * * *'));
  await waitFor(
    'db2 seeded and replicating',
    async () => {
      const r = await one<Record<string, unknown>>('db2', 'SHOW SLAVE STATUS');
      return r?.Slave_IO_Running === 'Yes' && r.Slave_SQL_Running === 'Yes' && r.Using_Gtid === 'Slave_Pos';
    },
    60_000,
    250,
  );
  const [rows] = await admin('db2').query<mysql.RowDataPacket[]>('SELECT id, v FROM legacy.t ORDER BY id');
  assert.deepEqual(
    rows.map((r) => [r.id, r.v]),
    [
      [1, 'one'],
      [2, 'two'],
      [3, 'three'],
    ],
  );
  // A new write on db1 arrives by replication.
  await admin('db1').query("INSERT INTO legacy.t VALUES (4, 'four')");
  await waitFor(
    'row 4 on db2',
    async () => Number((await one<{ n: number }>('db2', 'SELECT COUNT(*) AS n FROM legacy.t')).n) === 4,
    20_000,
    100,
  );
  // db2 logged nothing of its own: its GTIDs are db1's, and the topology converged.
  const db1Id = String((await one<{ id: string }>('db1', 'SELECT @@server_id AS id')).id);
  const own = (await one<{ s: string }>('db2', 'SELECT @@gtid_binlog_state AS s')).s;
  assert.deepEqual(
    own
      .split(',')
      .filter((g) => g !== '')
      .filter((g) => g.split('-')[1] !== db1Id),
    [],
    `db2's binary log holds only db1's transactions: ${own}`,
  );
  await waitFor('converged', async () => (await clusterRow())?.state === 'converged', 30_000, 250);
  const [ro] = await admin('db2').query<mysql.RowDataPacket[]>('SELECT @@read_only AS ro');
  assert.equal(Number(ro[0]?.ro), 1);

  // History: the seed step with its note; neither password anywhere in the history file.
  const h = History.open(db, { readonly: true });
  const entries = h.entries({ cluster: 'orders', host: '*' });
  h.close();
  const seed = entries.find((e) => e.kind === 'action' && /seed db2 from a dump of db1/.test(e.summary));
  assert.ok(seed, 'the seed action is in history');
  assert.ok(
    entries.some((e) => /db2 seeded from db1: \d+ bytes in \d+ ms, at 0-\d+-\d+/.test(e.summary)),
    JSON.stringify(entries.map((e) => e.summary)),
  );
  const raw = [db, `${db}-wal`]
    .filter((f) => existsSync(f))
    .map((f) => readFileSync(f).toString('latin1'))
    .join('');
  assert.ok(!raw.includes(ADMIN_PW) && !raw.includes(REPL_PW), 'no password in history');
  assert.equal(await daemon.stop(), 0);
  daemon = undefined;
});
