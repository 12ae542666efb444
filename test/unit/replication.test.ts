/**
 * The mysql replication topology, decided on plain literals (each member's state as observe() reads
 * it): building a topology from standalone servers, repairs, the switchover's steps and gates, and
 * every case where setpoint stops rather than guess. And the GTID arithmetic behind "errant".
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { binlogCovers, errantGtids, parseMysqlGtidSet, subtractMysql } from '../../agents/mysql/gtid.js';
import {
  decideReplication,
  replicaFrom,
  type MemberReplication,
  type ReplicaState,
  type ReplicationObserved,
  type ReplicationWant,
} from '../../agents/mysql/replication.js';
import type { Flavor } from '../../agents/mysql/session.js';
import { Secret } from '../../src/secret.js';

const MARIADB: Flavor = { kind: 'mariadb', major: 10, minor: 11, patch: 19, version: '10.11.19-MariaDB' };
const SECRET = 'Repl-secret-9Qx';
const password = new Secret(SECRET, 'env:X');

const want = (primary = 'db1', over: Partial<ReplicationWant> = {}): ReplicationWant => ({
  primary,
  user: 'repl',
  host: '%',
  password: { env: 'X' },
  maxLagSeconds: 30,
  ssl: false,
  catchUpSeconds: 60,
  seedTimeoutSeconds: 3600,
  endpoints: {
    db1: { host: '10.0.0.1', port: 3306 },
    db2: { host: '10.0.0.2', port: 3306 },
    db3: { host: '10.0.0.3', port: 3306 },
  },
  ...over,
});

const ID = { db1: 1, db2: 2, db3: 3 } as const;
const follows = (source: keyof typeof ID, over: Partial<ReplicaState> = {}): ReplicaState => ({
  host: `10.0.0.${ID[source]}`,
  port: 3306,
  user: 'repl',
  io: 'Yes',
  sql: 'Yes',
  lagSeconds: 0,
  ioErrno: 0,
  ioError: '',
  sqlErrno: 0,
  sqlError: '',
  gtid: true,
  ssl: false,
  received: '',
  ...over,
});
const member = (name: keyof typeof ID, over: Partial<MemberReplication> = {}): MemberReplication => ({
  member: name,
  reachable: true,
  flavor: MARIADB,
  readOnly: false,
  serverId: ID[name],
  gtidState: '',
  binlogPos: '',
  slavePos: '',
  replica: null,
  account: true,
  userSchemas: 2,
  purged: '',
  ...over,
});
const seen = (...m: MemberReplication[]): ReplicationObserved => new Map(m.map((x) => [x.member, x]));
const decide = (w: ReplicationWant, o: ReplicationObserved) => decideReplication(w, o, password, 'orders');
const summary = (p: ReturnType<typeof decide>) =>
  p.changes.map((c) => [c.action, c.id, c.risk, c.blocked === undefined ? '' : (c.needsHuman ?? 'blocked')]);

test('GTIDs: MariaDB binlog states and MySQL sets, what one member has that another lacks', () => {
  assert.equal(errantGtids('0-1-10,0-3-2', '0-1-12', 'mariadb'), '0-3-2', 'a replica that wrote its own transaction');
  assert.equal(errantGtids('0-1-10', '0-1-12,0-2-4', 'mariadb'), '', 'behind is not errant');
  assert.equal(errantGtids('0-1-13', '0-1-12', 'mariadb'), '0-1-13', 'ahead of the primary in its own origin');
  assert.equal(errantGtids('', '', 'mariadb'), '');
  const a = 'aaaaaaaa-0000-0000-0000-000000000001:1-10:12, bbbbbbbb-0000-0000-0000-000000000002:1-3';
  const b = 'AAAAAAAA-0000-0000-0000-000000000001:1-11';
  assert.equal(
    errantGtids(a, b, 'mysql'),
    'aaaaaaaa-0000-0000-0000-000000000001:12,bbbbbbbb-0000-0000-0000-000000000002:1-3',
  );
  assert.equal(errantGtids(b, a, 'mysql'), 'aaaaaaaa-0000-0000-0000-000000000001:11');
  assert.equal(
    subtractMysql(parseMysqlGtidSet('u:1-5'), parseMysqlGtidSet('u:2-3'))
      .get('u')
      ?.map(([s, e]) => `${s}-${e}`)
      .join(','),
    '1-1,4-5',
  );
  assert.equal(binlogCovers('0-1-12,1-5-3', '0-1-10'), true);
  assert.equal(binlogCovers('0-1-9', '0-1-10'), false, 'a binlog behind the slave position would replay twice');
});

test('SHOW SLAVE STATUS and SHOW REPLICA STATUS rows read the same', () => {
  const maria = replicaFrom({
    Master_Host: 'a',
    Master_Port: 3306,
    Master_User: 'r',
    Slave_IO_Running: 'Yes',
    Slave_SQL_Running: 'No',
    Seconds_Behind_Master: null,
    Last_SQL_Errno: 1062,
    Last_SQL_Error: 'dup',
    Using_Gtid: 'Slave_Pos',
    Gtid_IO_Pos: '0-1-5',
  });
  assert.deepEqual(
    [maria?.host, maria?.sql, maria?.lagSeconds, maria?.sqlErrno, maria?.gtid, maria?.received],
    ['a', 'No', null, 1062, true, '0-1-5'],
  );
  const mysql = replicaFrom({
    Source_Host: 'b',
    Source_Port: 3307,
    Replica_IO_Running: 'Connecting',
    Replica_SQL_Running: 'Yes',
    Seconds_Behind_Source: 4,
    Auto_Position: 1,
  });
  assert.deepEqual(
    [mysql?.host, mysql?.port, mysql?.io, mysql?.lagSeconds, mysql?.gtid],
    ['b', 3307, 'Connecting', 4, true],
  );
  assert.equal(replicaFrom(undefined), null);
});

test('three standalone servers: the replicas are made read-only and pointed at the primary, in one safe step', () => {
  const p = decide(want(), seen(member('db1'), member('db2'), member('db3')));
  assert.deepEqual(summary(p), [
    ['read-only', 'db2', 'safe', ''],
    ['repoint', 'db2', 'safe', ''],
    ['read-only', 'db3', 'safe', ''],
    ['repoint', 'db3', 'safe', ''],
  ]);
  const repoint = p.changes.find((c) => c.action === 'repoint');
  assert.deepEqual(repoint?.commands, [
    'CHANGE MASTER TO MASTER_HOST = ?, MASTER_PORT = ?, MASTER_USER = ?, MASTER_PASSWORD = ?, MASTER_USE_GTID = slave_pos, MASTER_SSL = 0',
    'START SLAVE',
  ]);
  assert.ok(!JSON.stringify(p).includes(SECRET), 'the replication password is never in a plan');
  // Before the primary has the replication account, pointing a replica at it waits.
  const early = decide(want(), seen(member('db1', { account: false }), member('db2')));
  assert.match(
    early.changes.find((c) => c.action === 'repoint')?.blocked ?? '',
    /waiting for the replication account 'repl'@'%' on db1/,
  );
});

test('a converged topology plans nothing; a lagging replica is Degraded, not changed', () => {
  const ok = seen(
    member('db1'),
    member('db2', { readOnly: true, replica: follows('db1') }),
    member('db3', { readOnly: true, replica: follows('db1') }),
  );
  const p = decide(want(), ok);
  assert.deepEqual(p.changes, []);
  assert.deepEqual(p.drift, []);
  assert.equal(p.primary, 'db1');
  assert.deepEqual(
    p.members.map((m) => [m.member, m.role, m.source]),
    [
      ['db1', 'primary', null],
      ['db2', 'replica', 'db1'],
      ['db3', 'replica', 'db1'],
    ],
  );
  const lagging = decide(
    want(),
    seen(
      member('db1'),
      member('db2', { readOnly: true, replica: follows('db1', { lagSeconds: 45 }) }),
      member('db3', { readOnly: true, replica: follows('db1') }),
    ),
  );
  assert.deepEqual(lagging.changes, []);
  assert.match(lagging.degraded ?? '', /replica db2 lags 45 s \(more than maxLagSeconds 30\)/);
});

test('broken by hand: stopped threads are started, a re-pointed replica is pointed back, a writable replica made read-only', () => {
  const p = decide(
    want(),
    seen(
      member('db1'),
      member('db2', { readOnly: true, replica: follows('db1', { io: 'No', sql: 'No' }) }),
      member('db3', { readOnly: false, replica: follows('db2') }),
    ),
  );
  assert.deepEqual(summary(p), [
    ['start', 'db2', 'safe', ''],
    ['read-only', 'db3', 'safe', ''],
    ['repoint', 'db3', 'safe', ''],
  ]);
  assert.deepEqual(p.changes.find((c) => c.id === 'db3' && c.action === 'repoint')?.commands[0], 'STOP SLAVE');
  // A rotated replication password: the replica is pointed again, with the new one.
  const auth = decide(
    want(),
    seen(
      member('db1'),
      member('db2', {
        readOnly: true,
        replica: follows('db1', { io: 'Connecting', ioErrno: 1045, ioError: 'Access denied' }),
      }),
      member('db3', { readOnly: true, replica: follows('db1') }),
    ),
  );
  assert.deepEqual(summary(auth), [['repoint', 'db2', 'safe', '']]);
});

test('never guess on data: errant transactions, an SQL-thread error, rival writers stop the topology with a reason', () => {
  // A replica that took a write of its own (made writable by hand, then read-only again).
  const errant = decide(
    want(),
    seen(
      member('db1', { gtidState: '0-1-20' }),
      member('db2', { readOnly: true, replica: follows('db1'), gtidState: '0-1-20,0-2-1' }),
      member('db3', { readOnly: true, replica: follows('db1'), gtidState: '0-1-20' }),
    ),
  );
  assert.deepEqual(summary(errant), [['hold', 'db2', 'safe', 'ErrantTransactions']]);
  assert.match(
    errant.changes[0]?.blocked ?? '',
    /db2 has transactions the primary db1 lacks \(errant GTIDs 0-2-1\): setpoint never discards data/,
  );
  const sql = decide(
    want(),
    seen(
      member('db1'),
      member('db2', {
        readOnly: true,
        replica: follows('db1', { sql: 'No', sqlErrno: 1062, sqlError: "Duplicate entry '7'" }),
      }),
      member('db3', { readOnly: true, replica: follows('db1') }),
    ),
  );
  assert.deepEqual(summary(sql), [['hold', 'db2', 'safe', 'ReplicationBroken']]);
  assert.match(sql.changes[0]?.blocked ?? '', /never skips a transaction/);
  const rivals = decide(
    want(),
    seen(
      member('db1', { gtidState: '0-1-5' }),
      member('db2', { gtidState: '0-1-5,0-2-3' }),
      member('db3', { gtidState: '0-3-1' }),
    ),
  );
  assert.deepEqual(summary(rivals), [['hold', 'orders', 'safe', 'SeveralWritableMembers']]);
  assert.match(
    rivals.changes[0]?.blocked ?? '',
    /db2 \(GTIDs 0-2-3\), db3 \(GTIDs 0-3-1\) took writes db1 does not have/,
  );
  const down = decide(
    want(),
    seen(
      member('db1', { reachable: false, error: 'ECONNREFUSED' }),
      member('db2', { readOnly: true, replica: follows('db1', { io: 'Connecting' }) }),
    ),
  );
  assert.deepEqual(down.changes, []);
  assert.match(down.degraded ?? '', /primary db1 cannot be reached \(ECONNREFUSED\)/);
  // A replica that cannot be reached is not converged: nothing is known of it.
  const gone = decide(
    want(),
    seen(
      member('db1'),
      member('db2', { reachable: false, error: 'ECONNREFUSED' }),
      member('db3', { readOnly: true, replica: follows('db1') }),
    ),
  );
  assert.deepEqual(gone.changes, []);
  assert.deepEqual(
    gone.drift.map((d) => [d.id, d.field]),
    [['db2', 'reachable']],
  );
  assert.match(gone.degraded ?? '', /replica db2 cannot be reached/);
});

test('a planned switchover, step by step: fence (in a window), then promote (forward), then re-point the rest', () => {
  const w = want('db2');
  // Step 1: the old primary takes writes; the candidate is a healthy, caught-up replica of it.
  const before = seen(
    member('db1', { gtidState: '0-1-30', binlogPos: '0-1-30' }),
    member('db2', { readOnly: true, replica: follows('db1'), gtidState: '0-1-30' }),
    member('db3', { readOnly: true, replica: follows('db1'), gtidState: '0-1-30' }),
  );
  const s1 = decide(w, before);
  assert.deepEqual(summary(s1), [['switchover', 'orders', 'disruptive', '']]);
  assert.match(s1.changes[0]?.summary ?? '', /^switchover db1 -> db2, step 1 of 3: make db1 read-only \(writes stop\)/);
  assert.equal(s1.changes[0]?.forward, undefined, 'the first step waits for a window');
  assert.equal(s1.primary, 'db1');
  // Step 2: db1 is read-only; the candidate catches up, then is promoted. A step of a procedure begun.
  const fenced = seen(
    member('db1', { readOnly: true, gtidState: '0-1-31', binlogPos: '0-1-31' }),
    member('db2', { readOnly: true, replica: follows('db1'), gtidState: '0-1-30' }),
    member('db3', { readOnly: true, replica: follows('db1') }),
  );
  const s2 = decide(w, fenced);
  assert.deepEqual(summary(s2), [['promote', 'orders', 'disruptive', '']]);
  assert.equal(s2.changes[0]?.forward, true);
  assert.equal(s2.primary, undefined, 'nobody takes writes between the steps');
  // Step 3: db2 takes writes; db1 (the old primary) and db3 are pointed at it. db1 starts from its binlog.
  const promoted = seen(
    member('db1', { readOnly: true, gtidState: '0-1-31', binlogPos: '0-1-31', slavePos: '' }),
    member('db2', { gtidState: '0-1-31' }),
    member('db3', { readOnly: true, replica: follows('db1'), gtidState: '0-1-31' }),
  );
  const s3 = decide(w, promoted);
  assert.deepEqual(summary(s3), [
    ['repoint', 'db1', 'safe', ''],
    ['repoint', 'db3', 'safe', ''],
  ]);
  assert.deepEqual(s3.changes[0]?.commands, [
    'SET GLOBAL gtid_slave_pos = @@gtid_binlog_pos',
    'CHANGE MASTER TO MASTER_HOST = ?, MASTER_PORT = ?, MASTER_USER = ?, MASTER_PASSWORD = ?, MASTER_USE_GTID = slave_pos, MASTER_SSL = 0',
    'START SLAVE',
  ]);
  assert.equal(s3.primary, 'db2');
});

test('a switchover does not start with a lagging, stopped or diverged candidate; a fenced old primary is skipped', () => {
  const w = want('db2');
  const lag = decide(
    w,
    seen(member('db1'), member('db2', { readOnly: true, replica: follows('db1', { lagSeconds: 90 }) })),
  );
  assert.match(
    lag.changes[0]?.blocked ?? '',
    /db2 lags 90 s, more than maxLagSeconds 30: the switchover does not start/,
  );
  const stopped = decide(
    w,
    seen(member('db1'), member('db2', { readOnly: true, replica: follows('db1', { sql: 'No' }) })),
  );
  assert.match(stopped.changes[0]?.blocked ?? '', /SQL thread is not running/);
  const diverged = decide(
    w,
    seen(
      member('db1', { gtidState: '0-1-9' }),
      member('db2', { readOnly: true, replica: follows('db1'), gtidState: '0-1-9,0-2-1' }),
    ),
  );
  assert.match(diverged.changes[0]?.blocked ?? '', /db2 has transactions db1 lacks \(errant GTIDs 0-2-1\)/);
  const stranger = decide(
    w,
    seen(member('db1'), member('db2'), member('db3', { readOnly: true, replica: follows('db1') })),
  );
  assert.deepEqual(
    summary(stranger),
    [
      ['read-only', 'db1', 'safe', ''],
      ['repoint', 'db1', 'safe', ''],
      ['repoint', 'db3', 'safe', ''],
    ],
    'db2 took no writes db1 lacks, and db1 none db2 lacks: db1 simply joins db2',
  );
  // The old primary cannot be reached: promote at once (the cluster has no writable member), its steps skipped.
  const fenced = decide(
    w,
    seen(
      member('db1', { reachable: false, error: 'timeout' }),
      member('db2', { readOnly: true, replica: follows('db1', { io: 'Connecting', received: '0-1-44' }) }),
    ),
  );
  assert.deepEqual(summary(fenced), [['promote', 'orders', 'disruptive', '']]);
  assert.equal(fenced.changes[0]?.forward, true, 'with the old primary down, no window is waited for');
  assert.match(fenced.changes[0]?.summary ?? '', /db1 cannot be reached: fenced, its steps skipped/);
});

test('an empty member the primary cannot feed (binary logs purged) is seeded over SSH in a window; one holding data is left to a human', () => {
  const purged = follows('db1', {
    io: 'No',
    ioErrno: 1236,
    ioError: 'Could not find GTID state requested by slave in any binlog files',
  });
  const withSsh = want('db1', {
    endpoints: {
      db1: { host: '10.0.0.1', port: 3306, user: 'root', password: { env: 'A' }, ssh: true },
      db2: { host: '10.0.0.2', port: 3306, user: 'root', password: { env: 'A' }, ssh: true },
      db3: { host: '10.0.0.3', port: 3306, user: 'root', ssh: false },
    },
  });
  const admin = new Secret('Admin-pw"\\x', 'env:A');
  const empty = decideReplication(
    withSsh,
    seen(member('db1'), member('db2', { readOnly: true, replica: purged, userSchemas: 0, gtidState: '' })),
    password,
    'orders',
    { db1: { user: 'root', password: admin }, db2: { user: 'root', password: admin } },
  );
  assert.deepEqual(summary(empty), [['seed', 'db2', 'disruptive', '']]);
  const seed = empty.changes[0];
  assert.deepEqual(seed?.members, ['db2', 'db1']);
  assert.equal(seed?.forward, undefined, 'a seed waits for a window');
  assert.match(seed?.summary ?? '', /seed db2 from a dump of db1 over SSH/);
  assert.match(seed?.commands[0] ?? '', /--single-transaction --all-databases .*--gtid --master-data=1/);
  // Neither password is in what history keeps.
  const kept = JSON.stringify({ summary: seed?.summary, commands: seed?.commands });
  assert.ok(!kept.includes('Admin-pw') && !kept.includes(SECRET));
  assert.deepEqual(
    empty.drift.map((d) => [d.id, d.field]),
    [['db2', 'replicating']],
  );

  // The same member without ssh on its host: a human seeds it, or declares ssh.
  const noSsh = decideReplication(
    withSsh,
    seen(member('db1'), member('db3', { readOnly: true, replica: purged, userSchemas: 0 })),
    password,
    'orders',
  );
  assert.deepEqual(summary(noSsh), [['seed', 'db3', 'disruptive', 'SeedNeedsSsh']]);
  assert.match(noSsh.changes[0]?.blocked ?? '', /seeding db3 needs ssh on db3/);

  // A member that holds data (or GTIDs of its own) is never overwritten.
  for (const over of [{ userSchemas: 1 }, { userSchemas: 0, gtidState: '0-1-5' }]) {
    const full = decide(
      withSsh,
      seen(member('db1', { gtidState: '0-1-9' }), member('db2', { readOnly: true, replica: purged, ...over })),
    );
    assert.deepEqual(summary(full), [['hold', 'db2', 'safe', 'BinlogsPurged']]);
    assert.match(full.changes[0]?.blocked ?? '', /db2 holds data, and setpoint never overwrites it: rebuild db2 empty/);
  }
  // MariaDB does not refuse a fresh member whose primary purged its first transactions: it would start
  // after them. So an empty member is seeded before it is ever pointed, when the primary's logs are cut.
  const fresh = member('db2', { userSchemas: 0 });
  const cut = decideReplication(
    withSsh,
    seen(member('db1', { gtidState: '0-1-9', purged: '0-1-3' }), fresh),
    password,
    'orders',
  );
  assert.deepEqual(summary(cut), [
    ['read-only', 'db2', 'safe', ''],
    ['seed', 'db2', 'disruptive', ''],
  ]);
  assert.match(cut.changes[1]?.summary ?? '', /\(db1's binary logs no longer hold 0-1-3\)/);
  const whole = decide(withSsh, seen(member('db1', { gtidState: '0-1-9' }), fresh));
  assert.deepEqual(summary(whole), [
    ['read-only', 'db2', 'safe', ''],
    ['repoint', 'db2', 'safe', ''],
  ]);
  // Another IO error is not a purge: threads are started again.
  const other = decide(
    withSsh,
    seen(
      member('db1'),
      member('db2', { readOnly: true, replica: follows('db1', { io: 'No', ioErrno: 2003 }), userSchemas: 0 }),
    ),
  );
  assert.deepEqual(summary(other), [['start', 'db2', 'safe', '']]);
});
