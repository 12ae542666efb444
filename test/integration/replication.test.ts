/**
 * Replication topology as desired state, against three real MariaDB servers with GTID binlogs
 * (127.0.27.1-3, one lab for the whole file): the topology built from three standalone servers, broken
 * by hand and repaired, a planned switchover under a steady writer (every committed row on every
 * member, GTID positions equal, never two writable members, each step in history), a switchover whose
 * candidate lags does not start, and an errant transaction stops the loop with a clear condition.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import mysql from 'mysql2/promise';
import { destroyAll, startHost, type LabHost } from '../../lab/index.js';
import { cli, Daemon, jsonLines, mysqlRoot, tempDir, waitFor } from '../helpers.js';
import { History } from '../../src/history/store.js';

const tmp = tempDir('replication');
const NAMES = ['db1', 'db2', 'db3'] as const;
type Name = (typeof NAMES)[number];
const hosts = new Map<Name, LabHost>();
const roots = new Map<Name, mysql.Connection>();
const APP_PW = 'App-repl-test-7Rk';
const LISTEN = '127.0.27.1:9467';
let daemon: Daemon | undefined;
let file = '';
let db = '';

before(async () => {
  const started = await Promise.all(
    NAMES.map((n, i) => startHost({ name: n, address: `127.0.27.${i + 1}`, mariadb: true })),
  );
  started.forEach((h, i) => hosts.set(NAMES[i] as Name, h));
  for (const n of NAMES) roots.set(n, await mysqlRoot(addr(n)));
  tmp.file('repl.pw', 'Repl-pw-4Zt\n');
  tmp.file('app.pw', `${APP_PW}\n`);
  file = tmp.file('orders.yaml', spec('db1'));
  db = tmp.file('history.db');
});

after(async () => {
  await daemon?.stop();
  for (const c of roots.values()) await c.end().catch(() => undefined);
  await destroyAll();
  tmp.cleanup();
});

function addr(n: Name): string {
  return hosts.get(n)?.address ?? '';
}

function root(n: Name): mysql.Connection {
  const c = roots.get(n);
  assert.ok(c);
  return c;
}

function spec(primary: Name, maxLag = 30, window = '* * * * *'): string {
  return `version: 1
hosts:
${NAMES.map((n) => `  ${n}: { address: ${addr(n)}, mysql: { user: root } }`).join('\n')}
clusters:
  orders:
    engine: mysql
    members: [db1, db2, db3]
    replication:
      primary: ${primary}
      user: repl
      password: { file: ${tmp.dir}/repl.pw }
      maxLagSeconds: ${maxLag}
      catchUpSeconds: 20
    databases: [{ name: shop }]
    users:
      - name: app
        host: "127.%"
        password: { file: ${tmp.dir}/app.pw }
        grants: [{ privileges: [SELECT, INSERT, CREATE], on: "shop.*" }]
policy:
  resyncSeconds: 1
  maintenanceWindows: [{ cron: "${window}", minutes: 60, timezone: UTC }]
`;
}

async function one<T>(n: Name, sql: string): Promise<T> {
  const [rows] = await root(n).query<mysql.RowDataPacket[]>(sql);
  return rows[0] as T;
}

async function status(): Promise<Record<string, unknown>[]> {
  return jsonLines((await cli(['status', '--db', db, '--json'])).stdout);
}

async function topology(): Promise<
  | {
      state: string;
      primary?: string;
      members: { member: string; role: string; source: string | null; replicating: boolean | null }[];
      conditions: { type: string; status: string; reason: string; message: string }[];
    }
  | undefined
> {
  const row = (await status()).find((r) => r.host === '*');
  if (row === undefined) return undefined;
  const members = row.topology as {
    member: string;
    role: string;
    source: string | null;
    replicating: boolean | null;
  }[];
  const primary = members.find((m) => m.role === 'primary')?.member;
  return {
    state: String(row.state),
    ...(primary === undefined ? {} : { primary }),
    members,
    conditions: row.conditions as never,
  };
}

async function converged(primary: Name): Promise<boolean> {
  const t = await topology();
  if (t?.state !== 'converged' || t.primary !== primary) return false;
  const rows = await status();
  return rows.filter((r) => r.host !== '*').every((r) => r.converged === true);
}

async function writableMembers(): Promise<Name[]> {
  const out: Name[] = [];
  for (const n of NAMES) if (Number((await one<{ ro: number }>(n, 'SELECT @@read_only AS ro')).ro) === 0) out.push(n);
  return out;
}

test('three standalone servers become a topology: db1 writable, db2 and db3 read-only replicas of it, the declared objects everywhere', async () => {
  daemon = new Daemon(file, db, {}, ['--listen', LISTEN]);
  await waitFor('the topology and every member converged', () => converged('db1'), 60_000, 250);
  for (const n of ['db2', 'db3'] as const) {
    const r = await one<Record<string, unknown>>(n, 'SHOW SLAVE STATUS');
    assert.equal(r.Master_Host, addr('db1'));
    assert.equal(r.Slave_IO_Running, 'Yes');
    assert.equal(r.Slave_SQL_Running, 'Yes');
    assert.equal(r.Using_Gtid, 'Slave_Pos');
    assert.equal(Number((await one<{ ro: number }>(n, 'SELECT @@read_only AS ro')).ro), 1);
    // Databases and accounts came by replication (the member passes acted on the primary only).
    assert.equal(
      Number(
        (
          await one<{ n: number }>(
            n,
            "SELECT COUNT(*) AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'shop'",
          )
        ).n,
      ),
      1,
    );
    assert.equal(
      Number((await one<{ n: number }>(n, "SELECT COUNT(*) AS n FROM mysql.user WHERE User IN ('app', 'repl')")).n),
      2,
    );
  }
  assert.deepEqual(await writableMembers(), ['db1']);
  const text = (await cli(['status', '--db', db])).stdout;
  assert.match(text, /db1: primary \(writable\)/);
  assert.match(text, /db2: replica of db1, replicating, lag 0s/);
});

test('broken by hand (a replica stopped, one re-pointed, one made writable): repaired', async () => {
  await root('db2').query('STOP SLAVE');
  await root('db3').query('STOP SLAVE');
  await root('db3').query(`CHANGE MASTER TO MASTER_HOST = '${addr('db2')}', MASTER_PORT = 3306`);
  await root('db3').query('START SLAVE');
  await root('db3').query('SET GLOBAL read_only = OFF');
  await waitFor(
    'repaired',
    async () => {
      if (!(await converged('db1'))) return false;
      const r2 = await one<Record<string, unknown>>('db2', 'SHOW SLAVE STATUS');
      const r3 = await one<Record<string, unknown>>('db3', 'SHOW SLAVE STATUS');
      return r2.Slave_SQL_Running === 'Yes' && r3.Master_Host === addr('db1') && r3.Slave_IO_Running === 'Yes';
    },
    30_000,
    250,
  );
  assert.deepEqual(await writableMembers(), ['db1']);
  const h = History.open(db, { readonly: true });
  const actions = h
    .entries({ cluster: 'orders', host: '*', kinds: ['action'] })
    .map((e) => `${e.field ?? ''} ${e.outcome ?? ''}`);
  h.close();
  for (const a of ['start ok', 'repoint ok', 'read-only ok'])
    assert.ok(actions.includes(a), `${a} in ${actions.join(', ')}`);
});

test('a planned switchover under a steady writer: no committed row lost, never two writable members, GTIDs equal, every step in history', async () => {
  await root('db1').query(
    'CREATE TABLE IF NOT EXISTS shop.t (id INT PRIMARY KEY, at TIMESTAMP(6) DEFAULT CURRENT_TIMESTAMP(6))',
  );
  await waitFor(
    'the table on every member',
    async () => {
      for (const n of NAMES)
        if (
          Number(
            (
              await one<{ n: number }>(
                n,
                "SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'shop' AND TABLE_NAME = 't'",
              )
            ).n,
          ) === 0
        )
          return false;
      return true;
    },
    10_000,
  );
  // The writer inserts as app (no SUPER: read-only stops it) into whichever member is writable.
  const committed: number[] = [];
  let stop = false;
  let seq = 0;
  let refused = 0;
  const writer = (async () => {
    const conns = new Map<Name, mysql.Connection>();
    for (const n of NAMES) conns.set(n, await mysql.createConnection({ host: addr(n), user: 'app', password: APP_PW }));
    let at: Name = 'db1';
    while (!stop) {
      const id = ++seq;
      try {
        await conns.get(at)?.query('INSERT INTO shop.t (id) VALUES (?)', [id]);
        committed.push(id);
      } catch {
        // read-only (or moving): find the writable member and go on
        refused++;
        for (const n of NAMES) {
          const [r] = await (conns.get(n) as mysql.Connection).query<mysql.RowDataPacket[]>('SELECT @@read_only AS ro');
          if (Number(r[0]?.ro) === 0) at = n;
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    for (const c of conns.values()) await c.end();
  })();
  // The sampler: how many members are writable, again and again.
  const samples: number[] = [];
  const sampler = (async () => {
    while (!stop) {
      samples.push((await writableMembers()).length);
      await new Promise((r) => setTimeout(r, 15));
    }
  })();
  await waitFor('rows flowing', () => committed.length > 50, 10_000, 50);
  const started = Date.now();
  writeFileSync(file, spec('db2'));
  await waitFor('db2 is the primary and everything converged', () => converged('db2'), 60_000, 200);
  const tookMs = Date.now() - started;
  await waitFor(
    'rows flowing to db2',
    async () =>
      committed.length > 0 &&
      Number((await one<{ n: number }>('db2', 'SELECT COUNT(*) AS n FROM shop.t')).n) > committed.length - 5,
    10_000,
    50,
  );
  stop = true;
  await writer;
  await sampler;
  assert.ok(samples.length > 20, `sampled ${samples.length} times`);
  assert.ok(
    samples.every((n) => n <= 1),
    `never two writable members: ${JSON.stringify(samples.filter((n) => n > 1).length)} samples had more`,
  );
  // Writes stop between fence and promote (~25 ms: too short for the sampler to be sure to see): the
  // writer was refused by the fenced primary, and history has the fence before the promotion (below).
  assert.ok(refused > 0, 'the writer was refused while db1 was fenced');
  // Every committed row, on every member; the same GTID position everywhere.
  await waitFor(
    'replicas caught up',
    async () => {
      const pos = await Promise.all(NAMES.map((n) => one<{ p: string }>(n, 'SELECT @@gtid_current_pos AS p')));
      return pos.every((p) => p.p === pos[0]?.p);
    },
    20_000,
    100,
  );
  for (const n of NAMES) {
    const [rows] = await root(n).query<mysql.RowDataPacket[]>('SELECT id FROM shop.t');
    const have = new Set(rows.map((r) => Number(r.id)));
    const lost = committed.filter((id) => !have.has(id));
    assert.deepEqual(lost, [], `${n} has every committed row (${committed.length})`);
  }
  assert.deepEqual(await writableMembers(), ['db2']);
  const r1 = await one<Record<string, unknown>>('db1', 'SHOW SLAVE STATUS');
  assert.equal(r1.Master_Host, addr('db2'), 'the old primary follows the new one');
  const h = History.open(db, { readonly: true });
  const steps = h
    .entries({ cluster: 'orders', host: '*', since: started - 1000 })
    .map((e) => `${e.kind} ${e.field ?? ''} ${e.outcome ?? ''} ${e.summary}`);
  h.close();
  const find = (re: RegExp) => steps.find((s) => re.test(s));
  assert.ok(find(/^action switchover ok switchover db1 -> db2, step 1 of 3/), steps.join('\n'));
  assert.ok(find(/^event .*db1 is read-only at 0-/), steps.join('\n'));
  assert.ok(find(/^action promote ok /), steps.join('\n'));
  assert.ok(find(/^event .*db2 has applied 0-/), steps.join('\n'));
  assert.ok(find(/^event .*db2 is the primary/), steps.join('\n'));
  assert.ok(
    find(/^action repoint ok re-point db1 at db2/) ?? find(/^action repoint ok point db1 at db2/),
    steps.join('\n'),
  );
  process.stdout.write(
    `# switchover under writes: ${tookMs} ms from the edit to converged; ${committed.length} rows committed, none lost\n`,
  );
  // The topology in metrics: who is primary, replicas running, their lag.
  const metrics = await (await fetch(`http://${LISTEN}/metrics`)).text();
  assert.match(metrics, /^setpoint_primary\{cluster="orders",member="db2"\} 1$/m);
  assert.match(metrics, /^setpoint_primary\{cluster="orders",member="db1"\} 0$/m);
  assert.match(metrics, /^setpoint_replica_running\{cluster="orders",member="db3"\} 1$/m);
  assert.match(metrics, /^setpoint_replication_lag_seconds\{cluster="orders",member="db1"\} \d+$/m);
});

test('a switchover whose candidate lags past maxLagSeconds does not start', async () => {
  // db1 (a replica now) applies events 60 s late: its lag grows past maxLagSeconds 2.
  await root('db1').query('STOP SLAVE');
  await root('db1').query('CHANGE MASTER TO MASTER_DELAY = 60');
  await root('db1').query('START SLAVE');
  writeFileSync(file, spec('db2', 2));
  await root('db2').query('INSERT INTO shop.t (id) VALUES (1000001)');
  await waitFor(
    'db1 lagging',
    async () =>
      Number(
        (await one<{ Seconds_Behind_Master: number | null }>('db1', 'SHOW SLAVE STATUS')).Seconds_Behind_Master ?? 0,
      ) > 2,
    20_000,
    200,
  );
  writeFileSync(file, spec('db1', 2));
  const waiting = await waitFor(
    'the switchover held back',
    async () => {
      const h = History.open(db, { readonly: true });
      const row = h.status({ cluster: 'orders', host: '*' })[0];
      h.close();
      return row?.message?.includes('the switchover does not start') === true ? row.message : undefined;
    },
    20_000,
    200,
  );
  assert.match(waiting ?? '', /db1 lags \d+ s, more than maxLagSeconds 2: the switchover does not start/);
  assert.deepEqual(await writableMembers(), ['db2'], 'db2 still takes writes');
  // Back: db1 catches up, the file names db2 again.
  writeFileSync(file, spec('db2'));
  await root('db1').query('STOP SLAVE');
  await root('db1').query('CHANGE MASTER TO MASTER_DELAY = 0');
  await root('db1').query('START SLAVE');
  await waitFor('converged again', () => converged('db2'), 30_000, 250);
});

test('the declared primary is down and the file names another member: promoted with the old one fenced; the old one rejoins as a replica', async () => {
  await hosts.get('db2')?.mariadb?.stop();
  writeFileSync(file, spec('db3'));
  await waitFor(
    'db3 takes writes, db1 follows it',
    async () => {
      const t = await topology();
      return t?.primary === 'db3' && t.members.find((m) => m.member === 'db1')?.source === 'db3';
    },
    40_000,
    250,
  );
  const h = History.open(db, { readonly: true });
  const promote = h
    .entries({ cluster: 'orders', host: '*', kinds: ['action'] })
    .filter((e) => e.field === 'promote')
    .pop();
  h.close();
  assert.match(
    promote?.summary ?? '',
    /switchover db2 -> db3, step 2 of 3: .*db2 cannot be reached: fenced, its steps skipped/,
  );
  // The old primary comes back (writable, as servers start): it has nothing db3 lacks, so it joins as a replica.
  await hosts.get('db2')?.mariadb?.start();
  await roots
    .get('db2')
    ?.end()
    .catch(() => undefined);
  roots.set('db2', await mysqlRoot(addr('db2')));
  await waitFor('converged on db3, db2 a replica', () => converged('db3'), 40_000, 250);
  assert.deepEqual(await writableMembers(), ['db3']);
  assert.equal((await one<Record<string, unknown>>('db2', 'SHOW SLAVE STATUS')).Master_Host, addr('db3'));
});

test('setpoint switchover --now: the file names db1, no window is open; the command asks the daemon, which does it now', async () => {
  // Jan 1st 00:00 only: a window the test will not see.
  writeFileSync(file, spec('db1', 30, '0 0 1 1 *'));
  await waitFor(
    'the switchover waiting for its window',
    async () => {
      const h = History.open(db, { readonly: true });
      const row = h.status({ cluster: 'orders', host: '*' })[0];
      h.close();
      return row?.message?.includes('waiting for window') === true;
    },
    20_000,
    200,
  );
  // The daemon holds every member's lease again (db2 restarted in the test before: its lease is re-taken
  // on the next connection), so the command must ask the daemon rather than act itself.
  await waitFor(
    "the daemon holds every member's lease",
    async () => {
      for (const n of NAMES)
        if ((await one<{ who: unknown }>(n, "SELECT IS_USED_LOCK('setpoint.lease') AS who")).who === null) return false;
      return true;
    },
    20_000,
    100,
  );
  const wrong = await cli(['switchover', '-f', file, '--cluster', 'orders', '--to', 'db2', '--db', db]);
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /the file names db1 as the primary of orders, not db2: edit replication.primary first/);
  const r = await cli([
    'switchover',
    '-f',
    file,
    '--cluster',
    'orders',
    '--to',
    'db1',
    '--now',
    '--db',
    db,
    '--timeout',
    '60',
  ]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  // The daemon holds every lease, so the command only records its request; the daemon may even be done
  // before the command's first look (then it says so at once, without the waiting line).
  assert.match(
    r.stdout,
    /^(orders: .* holds the lease: waiting for the daemon to move the primary to db1…\n)?orders: db1/,
  );
  assert.match(r.stdout, /orders: db1 is the primary; every member follows it\./);
  assert.deepEqual(await writableMembers(), ['db1']);
  writeFileSync(file, spec('db1'));
});

test('an errant transaction on a replica stops the loop with a clear condition; nothing is reset', async () => {
  await waitFor('converged on db1', () => converged('db1'), 30_000, 250);
  await root('db3').query('CREATE DATABASE errant_by_hand');
  const t = await waitFor(
    'stalled on the errant transaction',
    async () => {
      const x = await topology();
      return x?.conditions.find(
        (c) => c.type === 'Stalled' && c.status === 'True' && c.reason === 'ErrantTransactions',
      ) === undefined
        ? undefined
        : x;
    },
    20_000,
    250,
  );
  const stalled = t?.conditions.find((c) => c.type === 'Stalled');
  assert.match(
    stalled?.message ?? '',
    /db3 has transactions the primary db1 lacks \(errant GTIDs 0-\d+-\d+\): setpoint never discards data/,
  );
  // Nothing was skipped or reset: the database is still there, db3 still follows db2.
  assert.equal(
    Number(
      (
        await one<{ n: number }>(
          'db3',
          "SELECT COUNT(*) AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'errant_by_hand'",
        )
      ).n,
    ),
    1,
  );
  const metrics = await daemon?.stop();
  assert.equal(metrics, 0);
});
