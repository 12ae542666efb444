/**
 * PostgreSQL streaming replication, decided on plain literals: slots, standbys built or re-pointed,
 * the switchover's step and gates, the old primary rejoining, and the cases where setpoint stops.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  bindir,
  MOVE_ASIDE,
  decidePgReplication,
  lsnBytes,
  parseConninfo,
  slotFor,
  type PgMember,
  type PgObserved,
  type PgReplicationWant,
} from '../../agents/postgres/replication.js';
import { Secret } from '../../src/secret.js';
import { shq } from '../../src/transport/ssh.js';

const SECRET = 'Pg-repl-secret-5Tt';
const password = new Secret(SECRET, 'env:X');
const SID = '7300000000000000001';

const want = (primary = 'pg1', over: Partial<PgReplicationWant> = {}): PgReplicationWant => ({
  primary,
  user: 'replicator',
  password: { env: 'X' },
  slots: true,
  maxLagBytes: 16 * 1024 * 1024,
  synchronous: { count: 0 },
  catchUpSeconds: 60,
  endpoints: {
    pg1: { host: '10.0.1.1', port: 5432 },
    pg2: { host: '10.0.1.2', port: 5432 },
    pg3: { host: '10.0.1.3', port: 5432 },
  },
  ...over,
});
const N = { pg1: 1, pg2: 2, pg3: 3 } as const;
const primary = (name: keyof typeof N, over: Partial<PgMember> = {}): PgMember => ({
  member: name,
  reachable: true,
  roleReady: true,
  dataDir: `/var/lib/pg/${name}`,
  version: 150007,
  systemId: SID,
  inRecovery: false,
  timeline: 1,
  lsn: '0/3000000',
  receiveLsn: null,
  conninfo: null,
  slotName: '',
  receiver: null,
  lagSeconds: null,
  walLogHints: false,
  hbaAllows: true,
  slots: [
    { name: 'setpoint_pg2', active: true, retainedBytes: 0 },
    { name: 'setpoint_pg3', active: true, retainedBytes: 0 },
  ],
  synchronous: '',
  ...over,
});
const standby = (name: keyof typeof N, of: keyof typeof N, over: Partial<PgMember> = {}): PgMember => ({
  ...primary(name),
  inRecovery: true,
  slots: [],
  lsn: '0/3000000',
  receiveLsn: '0/3000000',
  conninfo: { host: `10.0.1.${N[of]}`, port: 5432, user: 'replicator', applicationName: name },
  slotName: slotFor(name),
  receiver: { status: 'streaming', host: `10.0.1.${N[of]}`, port: 5432 },
  lagSeconds: 0,
  ...over,
});
const seen = (...m: PgMember[]): PgObserved => new Map(m.map((x) => [x.member, x]));
const decide = (w: PgReplicationWant, o: PgObserved, prune = false) =>
  decidePgReplication(w, o, password, 'ledger', () => prune);
const summary = (p: ReturnType<typeof decide>) =>
  p.changes.map((c) => [c.action, c.id, c.risk, c.blocked === undefined ? '' : (c.needsHuman ?? 'blocked')]);

test('conninfo, LSNs and slot names', () => {
  assert.deepEqual(
    parseConninfo("host=10.0.1.1 port=5433 user=replicator password='it''s \\'x\\'' application_name=pg2"),
    { host: '10.0.1.1', port: 5433, user: 'replicator', applicationName: 'pg2' },
  );
  assert.equal(parseConninfo(''), null);
  assert.equal(lsnBytes('1/10'), 4294967312n);
  assert.equal(slotFor('DB-East.1'), 'setpoint_db_east_1');
});

test('a converged cluster plans nothing; a standby far behind is Degraded', () => {
  const ok = decide(want(), seen(primary('pg1'), standby('pg2', 'pg1'), standby('pg3', 'pg1')));
  assert.deepEqual(ok.changes, []);
  assert.deepEqual(ok.drift, []);
  assert.equal(ok.primary, 'pg1');
  assert.deepEqual(
    ok.members.map((m) => [m.member, m.role, m.source, m.replicating]),
    [
      ['pg1', 'primary', null, null],
      ['pg2', 'replica', 'pg1', true],
      ['pg3', 'replica', 'pg1', true],
    ],
  );
  const far = decide(
    want(),
    seen(primary('pg1', { lsn: '1/0' }), standby('pg2', 'pg1'), standby('pg3', 'pg1', { lsn: '1/0' })),
  );
  assert.match(far.degraded ?? '', /standby pg2 is \d+ bytes behind \(more than maxLagBytes 16777216\)/);
});

test('fresh servers: slots made on the primary first, then each standby built with pg_basebackup (a disruptive step), data moved aside', () => {
  const fresh = (name: 'pg2' | 'pg3') => primary(name, { systemId: `73000000000000000${N[name]}9`, slots: [] });
  const first = decide(want(), seen(primary('pg1', { slots: [] }), fresh('pg2'), fresh('pg3')));
  assert.deepEqual(summary(first), [
    ['create', 'pg1 slot setpoint_pg2', 'safe', ''],
    ['create', 'pg1 slot setpoint_pg3', 'safe', ''],
    ['build', 'pg2', 'disruptive', 'blocked'],
    ['build', 'pg3', 'disruptive', 'blocked'],
  ]);
  assert.match(first.changes[2]?.blocked ?? '', /waiting for the slot setpoint_pg2 on pg1/);
  const then = decide(want(), seen(primary('pg1'), fresh('pg2'), fresh('pg3')));
  assert.deepEqual(summary(then), [
    ['build', 'pg2', 'disruptive', ''],
    ['build', 'pg3', 'disruptive', ''],
  ]);
  assert.match(
    then.changes[0]?.summary ?? '',
    /build pg2 as a standby of pg1 with pg_basebackup \(its data is not a copy of pg1's .*moved aside, not deleted/,
  );
  const script = then.changes[0]?.commands[1] ?? '';
  assert.match(script, /mv -- "\$d" "\$aside"/);
  assert.match(script, /IFS= read -r PGPASSWORD; export PGPASSWORD/);
  assert.match(
    script,
    /pg_basebackup" -d 'host=10.0.1.1 port=5432 user=replicator application_name=pg2' -D "\$d" -R -X stream -c fast -w -S 'setpoint_pg2'/,
  );
  assert.ok(!JSON.stringify(then).includes(SECRET), 'the password is never in a plan');
});

test('broken by hand: a standby pointed elsewhere or without its slot is re-pointed; a missing slot is made', () => {
  const p = decide(
    want(),
    seen(
      primary('pg1', { slots: [{ name: 'setpoint_pg2', active: true, retainedBytes: 0 }] }),
      standby('pg2', 'pg3'),
      standby('pg3', 'pg1', { slotName: '' }),
    ),
  );
  assert.deepEqual(summary(p), [
    ['create', 'pg1 slot setpoint_pg3', 'safe', ''],
    ['repoint', 'pg2', 'safe', ''],
    ['repoint', 'pg3', 'safe', 'blocked'],
  ]);
  assert.deepEqual(p.changes[1]?.commands, [
    'ALTER SYSTEM SET primary_conninfo = $1',
    "ALTER SYSTEM SET primary_slot_name = 'setpoint_pg2'",
    'SELECT pg_reload_conf()',
  ]);
  // An unused setpoint slot is reported; only prune drops it.
  const extra = seen(
    primary('pg1', {
      slots: [
        { name: 'setpoint_pg2', active: true, retainedBytes: 0 },
        { name: 'setpoint_pg3', active: true, retainedBytes: 0 },
        { name: 'setpoint_old', active: false, retainedBytes: 64 * 1048576 },
      ],
    }),
    standby('pg2', 'pg1'),
    standby('pg3', 'pg1'),
  );
  assert.match(
    decide(want(), extra).degraded ?? '',
    /slot setpoint_old on pg1 is not used and keeps 64 MB of WAL \(prune removes it\)/,
  );
  assert.deepEqual(summary(decide(want(), extra, true)), [['drop', 'pg1 slot setpoint_old', 'destructive', '']]);
});

test('a switchover: one disruptive step (stop the old primary cleanly, replay, promote), gated on lag; then the old primary rejoins', () => {
  const before = seen(
    primary('pg1', { lsn: '0/3000100' }),
    standby('pg2', 'pg1', { lsn: '0/3000100' }),
    standby('pg3', 'pg1'),
  );
  const s1 = decide(want('pg2'), before);
  assert.deepEqual(summary(s1), [['switchover', 'ledger', 'disruptive', '']]);
  assert.equal(s1.primary, 'pg1');
  const lagging = decide(
    want('pg2', { maxLagBytes: 1024 }),
    seen(primary('pg1', { lsn: '0/4000000' }), standby('pg2', 'pg1', { lsn: '0/3000000' }), standby('pg3', 'pg1')),
  );
  assert.match(
    lagging.changes[0]?.blocked ?? '',
    /pg2 is 16777216 bytes behind pg1, more than maxLagBytes 1024: the switchover does not start/,
  );
  // After: pg2 promoted (timeline 2), pg1 stopped by the step; it is started as a standby of pg2, pg3 re-pointed.
  const after = seen(
    primary('pg1', { reachable: false, down: true, error: 'ECONNREFUSED', slots: [] }),
    primary('pg2', {
      timeline: 2,
      slots: [
        { name: 'setpoint_pg1', active: false, retainedBytes: 0 },
        { name: 'setpoint_pg3', active: false, retainedBytes: 0 },
      ],
    }),
    standby('pg3', 'pg1'),
  );
  const s2 = decide(want('pg2'), after);
  assert.deepEqual(summary(s2), [
    ['rejoin', 'pg1', 'safe', ''],
    ['repoint', 'pg3', 'safe', ''],
  ]);
  assert.equal(s2.primary, 'pg2');
  // The old primary down and not by a switchover (fenced): the candidate is promoted at once.
  const fenced = decide(
    want('pg2'),
    seen(primary('pg1', { reachable: false, error: 'timeout' }), standby('pg2', 'pg1', { receiver: null })),
  );
  assert.deepEqual(summary(fenced), [['promote', 'ledger', 'disruptive', '']]);
  assert.equal(fenced.changes[0]?.forward, true);
});

test('two members out of recovery, or a primary following an outsider: setpoint stops and says why', () => {
  const two = decide(want(), seen(primary('pg1'), primary('pg2'), standby('pg3', 'pg1')));
  assert.deepEqual(summary(two), [['hold', 'ledger', 'safe', 'SeveralPrimaries']]);
  const outsider = decide(
    want(),
    seen(
      { ...standby('pg1', 'pg2'), conninfo: { host: '192.0.2.9', port: 5432, user: 'x', applicationName: 'pg1' } },
      primary('pg2'),
      standby('pg3', 'pg1'),
    ),
  );
  assert.deepEqual(summary(outsider), [['hold', 'pg1', 'safe', 'PrimaryFollowsOutsider']]);
  const unreachable = decide(
    want(),
    seen(primary('pg1', { reachable: false, error: 'ECONNREFUSED' }), standby('pg2', 'pg1')),
  );
  assert.deepEqual(unreachable.changes, [], 'not known to be stopped: nothing is done');
  assert.match(unreachable.degraded ?? '', /primary pg1 cannot be reached \(ECONNREFUSED\)/);
  // Stopped (its service says so): the topology starts it; member passes never start a member here.
  const stopped = decide(
    want(),
    seen(primary('pg1', { reachable: false, down: true, error: 'ECONNREFUSED' }), standby('pg2', 'pg1')),
  );
  assert.deepEqual(summary(stopped), [['start', 'pg1', 'safe', '']]);
});

test('moving a data directory aside: only a directory holding PG_VERSION, never a system path, whatever the binaries snippet sets', () => {
  const root = mkdtempSync(join(tmpdir(), 'setpoint-aside-'));
  try {
    const run = (d: string) =>
      spawnSync('/bin/sh', ['-c', `set -e; ${bindir(150000)}d=${shq(d)}; ${MOVE_ASIDE}echo "d=$d aside=$aside"`], {
        encoding: 'utf8',
      });
    const plain = join(root, 'not-data');
    mkdirSync(plain);
    writeFileSync(join(plain, 'precious'), 'x');
    const refused = run(plain);
    assert.equal(refused.status, 3);
    assert.match(refused.stderr, /holds no PG_VERSION: not a data directory, not moving it/);
    assert.ok(existsSync(join(plain, 'precious')), 'left where it was');
    assert.equal(run('/usr/lib/postgresql/15/bin').status, 3, 'a system path is refused before anything else');
    assert.ok(existsSync('/usr/lib/postgresql/15/bin/pg_basebackup'));
    const data = join(root, 'data');
    mkdirSync(data);
    writeFileSync(join(data, 'PG_VERSION'), '15\n');
    const moved = run(data);
    assert.equal(moved.status, 0, moved.stderr);
    assert.match(
      moved.stdout,
      new RegExp(`^d=${data} aside=${data}\\.setpoint-\\d{14}$`, 'm'),
      'the data directory variable survives the binaries snippet',
    );
    assert.ok(!existsSync(data));
    assert.equal(run(join(root, 'absent')).status, 0, 'nothing there: nothing to move');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
