// Smoke test of the lab itself: node --import tsx lab/smoke.ts
// Starts two hosts (sshd + MariaDB + PostgreSQL) on 127.0.9.1 and 127.0.9.2, talks to every
// service the way setpoint will (TCP, ssh with strict host key checking), restarts servers through
// the library and through the generated scripts over ssh, makes a PostgreSQL standby and a MariaDB
// GTID replica, then destroys everything and checks that no lab process is left.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { destroyAll, startHost, startPostgres, type LabHost } from './index.js';
import { run } from './commands.js';

const t0 = Date.now();
const log = (msg: string): void => console.log(`[${((Date.now() - t0) / 1000).toFixed(2)}s] ${msg}`);

async function timed<T>(label: string, f: () => Promise<T>): Promise<T> {
  const s = performance.now();
  const r = await f();
  log(`${label}: ${Math.round(performance.now() - s)} ms`);
  return r;
}

async function mysqlTcp(h: LabHost, sql: string): Promise<string> {
  const m = h.mariadb;
  assert.ok(m);
  const r = await run('mariadb', [
    '--no-defaults',
    '-h',
    m.address,
    '-P',
    String(m.port),
    '-u',
    'root',
    '-N',
    '-B',
    '-e',
    sql,
  ]);
  return r.stdout.trim();
}

async function psqlTcp(h: LabHost, sql: string, user = 'postgres', password?: string): Promise<string> {
  const p = h.postgres;
  assert.ok(p);
  const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'] ?? '/usr/bin:/bin' };
  if (password !== undefined) env['PGPASSWORD'] = password;
  const r = await run(
    'psql',
    [
      '-X',
      '-A',
      '-t',
      '-v',
      'ON_ERROR_STOP=1',
      '-h',
      p.address,
      '-p',
      String(p.port),
      '-U',
      user,
      '-d',
      'postgres',
      '-c',
      sql,
    ],
    { env },
  );
  return r.stdout.trim();
}

function labProcesses(dirs: string[], clusterNames: string[]): string[] {
  const found: string[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (state === 'Z') continue;
      const cmd = readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0').join(' ');
      if (
        dirs.some((d) => cmd.includes(d)) ||
        clusterNames.some((c) => cmd.includes(`postgres: ${c}:`)) ||
        /^sshd: root@/.test(cmd)
      ) {
        found.push(`${e}: ${cmd}`);
      }
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

async function main(): Promise<void> {
  const cacheExisted = await fs
    .access('/tmp/setpoint-lab-cache')
    .then(() => true)
    .catch(() => false);
  log(`template cache ${cacheExisted ? 'present (warm)' : 'absent (cold)'}`);

  const all = { mariadb: true, postgres: true, ssh: true } as const;
  const h1 = await timed('startHost db1 (sshd+MariaDB+PostgreSQL)', () =>
    startHost({ name: 'db1', address: '127.0.9.1', ...all }),
  );
  const h2 = await timed('startHost db2 (sshd+MariaDB+PostgreSQL)', () =>
    startHost({ name: 'db2', address: '127.0.9.2', ...all }),
  );
  const hosts = [h1, h2];
  const dirs = hosts
    .flatMap((h) => [h.mariadb?.dir, h.postgres?.dir, h.sshd?.dir])
    .filter((d): d is string => d !== undefined);
  const clusterNames = hosts.flatMap((h) => (h.postgres ? [h.postgres.clusterName] : []));
  try {
    // --- MariaDB over TCP as root@127.0.0.1 ---
    for (const h of hosts) {
      const out = await mysqlTcp(h, 'SELECT VERSION(), CURRENT_USER(), @@server_id, @@gtid_strict_mode, @@log_bin');
      log(`${h.name} MariaDB: ${out}`);
      assert.match(out, /MariaDB/);
      assert.match(out, /root@127\.%/);
      assert.equal(await h.mariadb?.sql('SELECT 1'), '1');
    }
    assert.notEqual(await h1.mariadb?.sql('SELECT @@server_id'), await h2.mariadb?.sql('SELECT @@server_id'));

    // --- PostgreSQL over TCP as postgres; scram for everybody else ---
    const sysids: string[] = [];
    for (const h of hosts) {
      const out = await psqlTcp(
        h,
        "SELECT inet_server_addr(), current_setting('cluster_name'), system_identifier FROM pg_control_system()",
      );
      log(`${h.name} PostgreSQL: ${out}`);
      assert.ok(out.startsWith(`${h.address}|`));
      sysids.push(out.split('|')[2] ?? '');
    }
    assert.notEqual(sysids[0], sysids[1], 'each PostgreSQL copy must get its own system identifier');
    await h1.postgres?.sql("CREATE ROLE app LOGIN PASSWORD 's3cret';\nCREATE DATABASE appdb OWNER app;\nSELECT 1;");
    assert.equal(await psqlTcp(h1, 'SELECT current_user', 'app', 's3cret'), 'app');
    await assert.rejects(psqlTcp(h1, 'SELECT 1', 'app', 'wrong'), /password authentication failed/);
    assert.equal(await h1.postgres?.sql('SELECT count(*) FROM pg_class', 'appdb').then((s) => Number(s) > 0), true);

    // --- ssh with strict host key checking ---
    for (const h of hosts) {
      const s = h.sshd;
      assert.ok(s);
      await run('ssh', [...s.sshArgs(), 'true']);
      const who = await s.exec('id -un; echo "$SSH_CONNECTION"');
      log(`${h.name} ssh: ${who.replace(/\n/g, ' | ')}`);
      assert.match(who, /^root\n/);
      assert.equal(readFileSync(s.knownHostsFile, 'utf8').trim(), `[${h.address}]:${s.port} ${s.hostPublicKey}`);
    }
    // host 1's known_hosts must not vouch for host 2
    const s1 = h1.sshd;
    const s2 = h2.sshd;
    assert.ok(s1 && s2);
    const crossed = s2
      .sshArgs()
      .map((a) => (a === `UserKnownHostsFile=${s2.knownHostsFile}` ? `UserKnownHostsFile=${s1.knownHostsFile}` : a));
    await assert.rejects(
      run('ssh', [...crossed, 'true']),
      /Host key verification failed|REMOTE HOST IDENTIFICATION|No .* host key/,
    );

    // --- service scripts over ssh ---
    const m1 = h1.mariadb;
    const m2 = h2.mariadb;
    const p1 = h1.postgres;
    const p2 = h2.postgres;
    assert.ok(m1 && m2 && p1 && p2);
    assert.match(await s1.exec(`/bin/sh ${m1.scripts.status}`), /running/);
    assert.match(await s1.exec(`/bin/sh ${p1.scripts.status}`), /running/);

    // --- MariaDB GTID replica: db2 replicates from db1 ---
    await m2.sql(
      `CHANGE MASTER TO MASTER_HOST='${m1.address}', MASTER_PORT=${m1.port}, MASTER_USER='root', MASTER_PASSWORD='', MASTER_USE_GTID=slave_pos; START SLAVE;`,
    );
    await m1.sql('CREATE DATABASE smoke; CREATE TABLE smoke.t (id INT PRIMARY KEY); INSERT INTO smoke.t VALUES (1);');
    const pos = await m1.sql('SELECT @@gtid_binlog_pos');
    assert.equal(await m2.sql(`SELECT MASTER_GTID_WAIT('${pos}', 10)`), '0');
    assert.equal(await m2.sql('SELECT COUNT(*) FROM smoke.t'), '1');
    log(`MariaDB replica caught up to ${pos}`);

    // --- restarts: library and scripts-over-ssh ---
    await fs.writeFile(path.join(m1.confDir, 'smoke.cnf'), '[mysqld]\nmax_connections = 77\n');
    const oldPid1 = await m1.pid();
    await timed('MariaDB db1 restart() (library)', () => m1.restart());
    assert.notEqual(await m1.pid(), oldPid1);
    assert.equal(await m1.sql('SELECT @@max_connections'), '77');
    await timed('MariaDB db2 restart.sh over ssh', () => s2.exec(`/bin/sh ${m2.scripts.restart}`));
    assert.equal(await m2.isRunning(), true);
    assert.match(await mysqlTcp(h2, 'SELECT VERSION()'), /MariaDB/);
    await m2.sql('START SLAVE');

    await fs.writeFile(path.join(p1.confDir, 'smoke.conf'), 'work_mem = 7MB\n');
    const oldPg = await p1.pid();
    await timed('PostgreSQL db1 restart.sh over ssh', () => s1.exec(`/bin/sh ${p1.scripts.restart}`));
    assert.notEqual(await p1.pid(), oldPg);
    assert.equal(await p1.sql('SHOW work_mem'), '7MB');
    await timed('PostgreSQL db2 restart() (library)', () => p2.restart());
    assert.match(await psqlTcp(h2, 'SELECT version()'), /PostgreSQL 15/);
    await fs.writeFile(path.join(p2.confDir, 'smoke.conf'), 'work_mem = 9MB\n');
    await p2.reload();
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(await p2.sql('SHOW work_mem'), '9MB');
    await s2.exec(`/bin/sh ${p2.scripts.reload}`);

    // stop/start through scripts, status exit codes
    await s1.exec(`/bin/sh ${m1.scripts.stop}`);
    assert.equal(await m1.isRunning(), false);
    await assert.rejects(s1.exec(`/bin/sh ${m1.scripts.status}`), /not running/);
    await s1.exec(`/bin/sh ${m1.scripts.start}`);
    assert.equal(await m1.isRunning(), true);
    await s1.exec(`/bin/sh ${p1.scripts.stop}`);
    assert.equal(await p1.isRunning(), false);
    await p1.start();
    assert.equal(await p1.isRunning(), true);

    // sshd restart keeps its host key
    await timed('sshd db1 restart()', () => s1.restart());
    await s1.exec('true');

    // --- PostgreSQL standby of db1 on a third address ---
    const standby = await timed('startPostgres standby of db1 (pg_basebackup)', () =>
      startPostgres({ address: '127.0.9.3', standbyOf: p1, slot: 'smoke_standby' }),
    );
    dirs.push(standby.dir);
    clusterNames.push(standby.clusterName);
    assert.equal(await standby.sql('SELECT pg_is_in_recovery()'), 't');
    await p1.sql('CREATE TABLE replicated (id int); INSERT INTO replicated VALUES (42);');
    const lsn = await p1.sql('SELECT pg_current_wal_lsn()');
    for (let i = 0; ; i++) {
      if ((await standby.sql(`SELECT pg_last_wal_replay_lsn() >= '${lsn}'::pg_lsn`)) === 't') break;
      if (i > 100) throw new Error('standby did not catch up');
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(await standby.sql('SELECT id FROM replicated'), '42');
    assert.equal(
      await standby.sql('SELECT system_identifier FROM pg_control_system()'),
      await p1.sql('SELECT system_identifier FROM pg_control_system()'),
    );
    log('PostgreSQL standby streaming from db1');
  } finally {
    await timed('destroyAll', () => destroyAll());
  }

  const left = labProcesses(dirs, clusterNames);
  assert.deepEqual(left, [], `lab processes left behind:\n${left.join('\n')}`);
  for (const d of dirs) {
    assert.equal(
      await fs
        .access(d)
        .then(() => true)
        .catch(() => false),
      false,
      `${d} still exists`,
    );
  }
  log('OK: no lab processes or folders left');
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
