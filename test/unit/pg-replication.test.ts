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
  divergedFrom,
  parseHistory,
  replication,
  lsnBytes,
  parseConninfo,
  slotFor,
  type PgMember,
  type PgObserved,
  type PgReplicationWant,
} from '../../agents/postgres/replication.js';
import { History } from '../../src/history/store.js';
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
  rewind: false,
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
  checksums: false,
  history: null,
  rewindGrants: true,
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

test('timeline history: a late standby on the old timeline is left alone; a diverged one is rebuilt, or rewound when the file allows it', () => {
  assert.deepEqual(parseHistory('1\t0/5028A28\tno recovery target specified\n\n2\t0/6000000\tx\n'), [
    { tli: 1, switchpoint: '0/5028A28' },
    { tli: 2, switchpoint: '0/6000000' },
  ]);
  // pg2 was promoted at 0/5000000 (timeline 2); pg1, the old primary, came back as a standby of pg2.
  const p2 = primary('pg2', {
    timeline: 2,
    lsn: '0/7000000',
    history: [{ tli: 1, switchpoint: '0/5000000' }],
    slots: [
      { name: 'setpoint_pg1', active: false, retainedBytes: 0 },
      { name: 'setpoint_pg3', active: true, retainedBytes: 0 },
    ],
  });
  const stuck = (lsn: string, over: Partial<PgMember> = {}) =>
    standby('pg1', 'pg2', { timeline: 1, lsn, receiver: null, walLogHints: true, ...over });
  // Replayed up to the switch point only: it can follow timeline 2 (its receiver is starting, say): nothing to do.
  assert.equal(divergedFrom(stuck('0/5000000'), p2), undefined);
  assert.deepEqual(summary(decide(want('pg2'), seen(stuck('0/5000000'), p2, standby('pg3', 'pg2')))), []);
  // Past it: WAL pg2 never had. Rebuilt (its data directory moved aside) unless rewind is allowed.
  assert.deepEqual(divergedFrom(stuck('0/5000100'), p2), { timeline: 1, at: '0/5000000' });
  const rebuilt = decide(want('pg2'), seen(stuck('0/5000100'), p2, standby('pg3', 'pg2')));
  assert.deepEqual(summary(rebuilt), [['build', 'pg1', 'disruptive', '']]);
  assert.match(rebuilt.changes[0]?.summary ?? '', /diverged from pg2: it replayed timeline 1 past 0\/5000000/);
  const rewound = decide(want('pg2', { rewind: true }), seen(stuck('0/5000100'), p2, standby('pg3', 'pg2')));
  assert.deepEqual(summary(rewound), [['rewind', 'pg1', 'disruptive', '']]);
  assert.ok(rewound.changes[0]?.commands.some((c) => c.includes('pg_rewind') && c.includes('-R')));
  // The copied postgresql.auto.conf may name the source's own old slot: its own is appended (the last line wins).
  for (const c of rewound.changes[0]?.commands.filter((x) => /pg_rewind|pg_basebackup/.test(x)) ?? [])
    assert.ok(c.includes(`${shq("primary_slot_name = 'setpoint_pg1'")} >> "$d/postgresql.auto.conf"`), c);
  assert.ok(
    rewound.changes[0]?.commands.some((c) => c.includes('pg_basebackup')),
    'a failed rewind falls back to a base backup',
  );
  // Neither wal_log_hints nor checksums: pg_rewind cannot work, a base backup it is.
  const noHints = decide(
    want('pg2', { rewind: true }),
    seen(stuck('0/5000100', { walLogHints: false }), p2, standby('pg3', 'pg2')),
  );
  assert.deepEqual(summary(noHints), [['build', 'pg1', 'disruptive', '']]);
  // The role lacks the functions pg_rewind uses: granted first, the rewind waits for it.
  const noGrants = decide(
    want('pg2', { rewind: true }),
    seen(stuck('0/5000100'), { ...p2, rewindGrants: false }, standby('pg3', 'pg2')),
  );
  assert.deepEqual(summary(noGrants), [
    ['grant', 'pg2 replicator', 'safe', ''],
    ['rewind', 'pg1', 'disruptive', 'blocked'],
  ]);
  assert.ok(
    noGrants.changes[0]?.commands.every((c) =>
      /^GRANT EXECUTE ON FUNCTION pg_catalog\.\w+\(.*\) TO "replicator"$/.test(c),
    ),
  );
  // A timeline the primary's history does not have is a fork too; streaming means it follows: never rebuilt.
  assert.deepEqual(divergedFrom(stuck('0/1000000', { timeline: 3 }), p2), { timeline: 3, at: null });
  assert.deepEqual(
    summary(
      decide(
        want('pg2'),
        seen(
          stuck('0/5000100', { receiver: { status: 'streaming', host: '10.0.1.2', port: 5432 } }),
          p2,
          standby('pg3', 'pg2'),
        ),
      ),
    ),
    [],
  );
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

test('a restarted daemon remembers where a stopped member keeps its data (the history file), so it can rejoin it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'setpoint-memory-'));
  try {
    const memory = replication.memory;
    assert.ok(memory);
    const before = seen(primary('pg1'), standby('pg2', 'pg1', { walLogHints: true }), standby('pg3', 'pg1'));
    const h = History.open(join(dir, 'h.db'));
    h.remember('topology:ledger', memory.keep(before));
    h.close();
    // A new process: pg2 is stopped. Without the memory it is only reported; with it, it is started as a standby.
    const again = History.open(join(dir, 'h.db'), { readonly: true });
    const kept = memory.restore(again.recall('topology:ledger'));
    again.close();
    const pg2 = kept?.get('pg2');
    assert.equal(pg2?.dataDir, '/var/lib/pg/pg2');
    assert.equal(pg2?.walLogHints, true);
    assert.equal(pg2?.reachable, false);
    assert.equal(JSON.stringify(memory.keep(before)).includes(SECRET), false);
    const down = { ...primary('pg2'), ...pg2, reachable: false, down: true, inRecovery: true, slots: [] };
    assert.deepEqual(summary(decide(want(), seen(primary('pg1'), down, standby('pg3', 'pg1')))), [
      ['rejoin', 'pg2', 'safe', ''],
    ]);
    const unknown = decide(
      want(),
      seen(primary('pg1'), { ...down, dataDir: null, systemId: null }, standby('pg3', 'pg1')),
    );
    assert.deepEqual(unknown.changes, []);
    assert.match(
      unknown.degraded ?? '',
      /standby pg2 cannot be reached \(its server is stopped; setpoint does not know its data directory yet/,
    );
    assert.deepEqual(
      unknown.drift.map((d) => [d.id, d.field]),
      [['pg2', 'reachable']],
    );
    assert.equal(memory.restore({ not: 'a list' }), undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('synchronous standbys, and a standby on PostgreSQL 12 (primary_conninfo needs a restart there): what is planned', () => {
  const sync = decide(
    want('pg1', { synchronous: { count: 1 } }),
    seen(primary('pg1'), standby('pg2', 'pg1'), standby('pg3', 'pg1')),
  );
  assert.deepEqual(summary(sync), [['set', 'pg1', 'safe', '']]);
  assert.match(sync.changes[0]?.summary ?? '', /synchronous_standby_names on pg1 to 'FIRST 1 \("pg2", "pg3"\)'/);
  const done = decide(
    want('pg1', { synchronous: { count: 1 } }),
    seen(primary('pg1', { synchronous: 'FIRST 1 ("pg2","pg3")' }), standby('pg2', 'pg1'), standby('pg3', 'pg1')),
  );
  assert.deepEqual(done.changes, [], 'spacing is not drift');
  const old = decide(want(), seen(primary('pg1'), standby('pg2', 'pg3', { version: 120015 }), standby('pg3', 'pg1')));
  assert.deepEqual(summary(old), [['repoint', 'pg2', 'safe', 'UnsupportedVersion']]);
});

test('a switchover whose candidate does not replay the final checkpoint in catchUpSeconds starts the old primary again and stops', async () => {
  const plan = decide(
    want('pg2', { catchUpSeconds: 0.2 }),
    seen(primary('pg1', { lsn: '0/3000100' }), standby('pg2', 'pg1', { lsn: '0/3000100' }), standby('pg3', 'pg1')),
  );
  const step = plan.changes[0];
  assert.equal(step?.action, 'switchover');
  const did: string[] = [];
  const notes: string[] = [];
  const session = (member: string) =>
    ({
      query: (sql: string) => {
        did.push(`${member}: ${sql.split(' ').slice(0, 2).join(' ')}`);
        if (sql.startsWith('SELECT pg_current_wal_lsn')) return Promise.resolve([{ l: '0/3000200' }]);
        if (sql.includes('pg_last_wal_replay_lsn() >=')) return Promise.resolve([{ ok: false, l: '0/3000100' }]); // never reaches the final checkpoint
        if (sql.includes('pg_promote')) throw new Error('must not promote');
        return Promise.resolve([]);
      },
    }) as never;
  const io = {
    sql: session,
    ssh: (member: string) => ({
      exec: (cmd: string) => {
        did.push(`${member}: ${cmd.includes('stop.sh') ? 'stop' : cmd.includes('start.sh') ? 'start' : 'exec'}`);
        return Promise.resolve({
          code: 0,
          stdout: cmd.includes('pg_controldata')
            ? 'Database cluster state:               shut down\nLatest checkpoint location:           0/3000300\n'
            : '',
          stderr: '',
        });
      },
    }),
    service: () => ({
      start: '/srv/start.sh',
      stop: '/srv/stop.sh',
      restart: '/srv/restart.sh',
      status: '/srv/status.sh',
    }),
    reconnect: () => Promise.resolve(),
    note: (summary: string) => notes.push(summary),
    log: { info() {}, warn() {}, error() {}, debug() {} },
  } as never;
  await assert.rejects(step?.run(io) ?? Promise.resolve(), (err: Error & { terminal?: boolean }) => {
    assert.match(
      err.message,
      /switchover pg1 -> pg2 rolled back: pg2 did not replay 0\/3000300 within catchUpSeconds 0\.2/,
    );
    assert.equal(err.terminal, true);
    return true;
  });
  assert.deepEqual(
    did.filter((d) => d.endsWith('stop') || d.endsWith('start')),
    ['pg1: stop', 'pg1: start'],
  );
  assert.ok(!did.some((d) => d.startsWith('pg2: SELECT pg_promote')));
  assert.match(notes.at(-1) ?? '', /switchover rolled back: .*; pg1 started again as the primary/);
});
