/**
 * PostgreSQL streaming replication as desired state, against three real PostgreSQL 15 servers with sshd
 * (127.0.28.1-3, one lab for the file): two standbys built from empty with pg_basebackup over SSH (their
 * data directories moved aside), replication broken by hand and repaired (a dropped slot, a changed
 * primary_conninfo), a switchover under a writer (every committed row on every member, never two
 * members out of recovery, the old primary streaming from the new one), a lagging candidate that
 * blocks the switchover; an old primary that took writes after it was fenced (diverged) rewound with
 * pg_rewind when the file allows it.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { destroyAll, startHost, type LabHost } from '../../lab/index.js';
import { cli, Daemon, jsonLines, tempDir, waitFor } from '../helpers.js';
import { History } from '../../src/history/store.js';

const tmp = tempDir('pg-replication');
const NAMES = ['pg1', 'pg2', 'pg3'] as const;
type Name = (typeof NAMES)[number];
const hosts = new Map<Name, LabHost>();
const APP_PW = 'App-pg-repl-3Wq';
let key = '';
let knownHosts = '';
let daemon: Daemon | undefined;
let file = '';
let db = '';

// pg_rewind needs full_page_writes (the lab turns it off for speed) and wal_log_hints (or checksums).
const PG = { extraConfig: { full_page_writes: 'on', wal_log_hints: 'on' } };

before(async () => {
  const first = await startHost({ name: 'pg1', address: '127.0.28.1', ssh: true, postgres: PG, baseDir: tmp.dir });
  key = first.sshd?.clientKeyFile ?? '';
  const rest = await Promise.all(
    [2, 3].map((i) =>
      startHost({
        name: `pg${i}`,
        address: `127.0.28.${i}`,
        ssh: { clientKeyFile: key },
        postgres: PG,
        baseDir: tmp.dir,
      }),
    ),
  );
  [first, ...rest].forEach((h, i) => hosts.set(NAMES[i] as Name, h));
  knownHosts = tmp.file('known_hosts', [first, ...rest].map((h) => h.sshd?.knownHostsLine ?? '').join('\n') + '\n');
  tmp.file('repl.pw', 'Repl-pg-pw-8Hd\n');
  tmp.file('app.pw', `${APP_PW}\n`);
  file = tmp.file('ledger.yaml', spec('pg1'));
  db = tmp.file('history.db');
});

after(async () => {
  await daemon?.stop();
  await destroyAll();
  tmp.cleanup();
});

function addr(n: Name): string {
  return hosts.get(n)?.address ?? '';
}

function server(n: Name): NonNullable<LabHost['postgres']> {
  const p = hosts.get(n)?.postgres;
  assert.ok(p);
  return p;
}

function hostBlock(n: Name): string {
  const s = server(n).scripts;
  return `  ${n}:
    address: ${addr(n)}
    ssh: { port: 2222, user: root, privateKeyFile: ${key}, knownHostsFile: ${knownHosts} }
    service: { commands: { start: ${JSON.stringify(s.start)}, stop: ${JSON.stringify(s.stop)}, restart: ${JSON.stringify(s.restart)}, status: ${JSON.stringify(s.status)} } }
    postgres: { user: postgres }
`;
}

function spec(primary: Name, maxLag = '16MB', rewind = false): string {
  return `version: 1
hosts:
${NAMES.map(hostBlock).join('')}clusters:
  ledger:
    engine: postgres
    members: [pg1, pg2, pg3]
    replication:
      primary: ${primary}
      user: replicator
      password: { file: ${tmp.dir}/repl.pw }
      maxLagBytes: ${maxLag}
      catchUpSeconds: 30
      rewind: ${rewind}
    roles:
      - { name: app, login: true, password: { file: ${tmp.dir}/app.pw } }
    databases: [{ name: ledger, owner: app }]
policy:
  resyncSeconds: 1
  maintenanceWindows: [{ cron: "* * * * *", minutes: 60, timezone: UTC }]
`;
}

async function q<T>(n: Name, sql: string, database = 'postgres'): Promise<T[]> {
  const c = new pg.Client({ host: addr(n), user: 'postgres', database, connectionTimeoutMillis: 3000 });
  // A server stopped by a switchover may end the connection after the query: not an uncaught error.
  c.on('error', () => undefined);
  await c.connect();
  try {
    return (await c.query(sql)).rows as T[];
  } finally {
    await c.end();
  }
}

async function topology(): Promise<
  | {
      state: string;
      primary?: string;
      members: {
        member: string;
        role: string;
        source: string | null;
        replicating: boolean | null;
        lagBytes?: number | null;
      }[];
      message: string;
    }
  | undefined
> {
  const row = jsonLines((await cli(['status', '--db', db, '--json'])).stdout).find((r) => r.host === '*');
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
    message: String(row.message),
  };
}

async function converged(primary: Name): Promise<boolean> {
  const t = await topology();
  return (
    t?.state === 'converged' &&
    t.primary === primary &&
    t.members.filter((m) => m.member !== primary).every((m) => m.replicating === true && m.source === primary)
  );
}

async function outOfRecovery(): Promise<Name[]> {
  const out: Name[] = [];
  for (const n of NAMES) {
    try {
      const [r] = await q<{ r: boolean }>(n, 'SELECT pg_is_in_recovery() AS r');
      if (r?.r === false) out.push(n);
    } catch {
      // down (a switchover stops the old primary)
    }
  }
  return out;
}

test('two standbys built from empty over SSH (pg_basebackup, their data moved aside), streaming with their slots', async () => {
  daemon = new Daemon(file, db);
  await waitFor('pg2 and pg3 streaming from pg1', () => converged('pg1'), 120_000, 500);
  for (const n of ['pg2', 'pg3'] as const) {
    const [r] = await q<{ r: boolean; s: string | null }>(
      n,
      'SELECT pg_is_in_recovery() AS r, (SELECT status FROM pg_stat_wal_receiver) AS s',
    );
    assert.deepEqual(r, { r: true, s: 'streaming' });
    const aside = readdirSync(dirname(server(n).dataDir)).filter((f) => f.startsWith('data.setpoint-'));
    assert.equal(aside.length, 1, `${n}: the old data directory is kept aside`);
    // The database came by WAL (made on the primary only).
    assert.equal(
      (await q<{ n: string }>(n, "SELECT count(*)::text AS n FROM pg_database WHERE datname = 'ledger'"))[0]?.n,
      '1',
    );
  }
  const slots = await q<{ slot_name: string; active: boolean }>(
    'pg1',
    'SELECT slot_name, active FROM pg_replication_slots ORDER BY slot_name',
  );
  assert.deepEqual(slots, [
    { slot_name: 'setpoint_pg2', active: true },
    { slot_name: 'setpoint_pg3', active: true },
  ]);
  assert.deepEqual(await outOfRecovery(), ['pg1']);
});

test('broken by hand (a standby pointed elsewhere, a slot dropped): repaired', async () => {
  await q('pg2', "ALTER SYSTEM SET primary_conninfo = 'host=127.0.28.3 port=5432 user=replicator'");
  await q('pg2', 'SELECT pg_reload_conf()');
  await q('pg3', 'ALTER SYSTEM RESET primary_slot_name');
  await q('pg3', 'SELECT pg_reload_conf()');
  await waitFor(
    'the slot of pg3 released',
    async () =>
      (
        await q<{ a: boolean }>('pg1', "SELECT active AS a FROM pg_replication_slots WHERE slot_name = 'setpoint_pg3'")
      )[0]?.a === false,
    20_000,
    200,
  );
  await q('pg1', "SELECT pg_drop_replication_slot('setpoint_pg3')");
  await waitFor(
    'repaired',
    async () => {
      if (!(await converged('pg1'))) return false;
      const slots = await q<{ n: string }>(
        'pg1',
        "SELECT count(*)::text AS n FROM pg_replication_slots WHERE active AND slot_name IN ('setpoint_pg2', 'setpoint_pg3')",
      );
      return slots[0]?.n === '2';
    },
    40_000,
    300,
  );
});

test('a switchover under a writer: no committed row lost, never two members out of recovery, the old primary streams from the new one', async () => {
  await q('pg1', 'CREATE TABLE IF NOT EXISTS t (id int PRIMARY KEY)', 'ledger');
  await q('pg1', 'GRANT INSERT, SELECT ON t TO app', 'ledger');
  const committed: number[] = [];
  let stop = false;
  let seq = 0;
  const writer = (async () => {
    let at: Name = 'pg1';
    let c: pg.Client | undefined;
    while (!stop) {
      try {
        if (c === undefined) {
          c = new pg.Client({
            host: addr(at),
            user: 'app',
            password: APP_PW,
            database: 'ledger',
            connectionTimeoutMillis: 1000,
          });
          c.on('error', () => undefined);
          await c.connect();
        }
        const id = ++seq;
        await c.query('INSERT INTO t (id) VALUES ($1)', [id]);
        committed.push(id);
      } catch {
        await c?.end().catch(() => undefined);
        c = undefined;
        const p = (await outOfRecovery())[0];
        if (p !== undefined) at = p;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    await c?.end().catch(() => undefined);
  })();
  const samples: number[] = [];
  const sampler = (async () => {
    while (!stop) {
      samples.push((await outOfRecovery()).length);
      await new Promise((r) => setTimeout(r, 30));
    }
  })();
  await waitFor('rows flowing', () => committed.length > 50, 10_000, 50);
  const started = Date.now();
  writeFileSync(file, spec('pg2'));
  await waitFor('pg2 primary, pg1 and pg3 streaming from it', () => converged('pg2'), 90_000, 300);
  await waitFor(
    'rows flowing to pg2',
    () => committed.length > 0 && committed[committed.length - 1] !== undefined && Date.now() - started > 0,
    5000,
  );
  const before = committed.length;
  await waitFor('new rows after the switchover', () => committed.length > before + 20, 20_000, 50);
  stop = true;
  await writer;
  await sampler;
  assert.ok(samples.length > 10);
  assert.ok(
    samples.every((n) => n <= 1),
    `never two members out of recovery: ${samples.filter((n) => n > 1).length} samples had more`,
  );
  await waitFor(
    'every member has every committed row',
    async () => {
      for (const n of NAMES) {
        const rows = await q<{ id: number }>(n, 'SELECT id FROM t', 'ledger');
        const have = new Set(rows.map((r) => r.id));
        if (committed.some((id) => !have.has(id))) return false;
      }
      return true;
    },
    20_000,
    200,
  );
  const [r1] = await q<{ r: boolean; h: string | null }>(
    'pg1',
    'SELECT pg_is_in_recovery() AS r, (SELECT sender_host FROM pg_stat_wal_receiver) AS h',
  );
  assert.deepEqual(r1, { r: true, h: addr('pg2') }, 'the old primary streams from the new one');
  const h = History.open(db, { readonly: true });
  const steps = h
    .entries({ cluster: 'ledger', host: '*', since: started - 1000 })
    .map((e) => `${e.kind} ${e.field ?? ''} ${e.outcome ?? ''} ${e.summary}`);
  h.close();
  for (const re of [
    /^action switchover ok /,
    /^event .*pg1 is stopped \(in \d+ ms\); its last checkpoint is at /,
    /^event .*pg2 has replayed /,
    /^event .*pg2 is the primary/,
    /^action rejoin ok start pg1 as a standby of pg2/,
  ])
    assert.ok(
      steps.some((s) => re.test(s)),
      `${String(re)} in:\n${steps.join('\n')}`,
    );
  process.stdout.write(`# PostgreSQL switchover under writes: ${committed.length} rows committed, none lost\n`);
});

test('a candidate behind by more than maxLagBytes blocks the switchover', async () => {
  // Replay paused on pg3: what it received waits, so it falls behind by all the WAL the insert writes.
  await q('pg3', 'SELECT pg_wal_replay_pause()');
  await q('pg2', 'INSERT INTO t SELECT g FROM generate_series(1000000, 1002000) g', 'ledger');
  writeFileSync(file, spec('pg3', '1kB'));
  let seen = '';
  const t = await waitFor(
    'the switchover held back',
    async () => {
      const x = await topology();
      seen = `${x?.state ?? '?'} (primary ${x?.primary ?? '?'}): ${x?.message ?? '(no topology row)'}`;
      return x?.message.includes('the switchover does not start') === true ? x : undefined;
    },
    30_000,
    300,
  ).catch((err: unknown) => {
    throw new Error(`${err instanceof Error ? err.message : String(err)}; last seen ${seen}`);
  });
  assert.match(
    t?.message ?? '',
    /pg3 is \d+ bytes behind pg2, more than maxLagBytes 1024: the switchover does not start/,
  );
  assert.deepEqual(await outOfRecovery(), ['pg2']);
  await q('pg3', 'SELECT pg_wal_replay_resume()');
  writeFileSync(file, spec('pg2'));
  await waitFor('converged on pg2 again', () => converged('pg2'), 30_000, 300);
});

test('a fenced old primary that took writes the new primary lacks is rewound (pg_rewind), not rebuilt, when rewind is allowed', async () => {
  writeFileSync(file, spec('pg2', '16MB', true));
  await waitFor(
    'the rewind functions granted',
    async () =>
      (
        await q<{ ok: boolean }>(
          'pg2',
          "SELECT has_function_privilege('replicator', 'pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean)', 'EXECUTE') AS ok",
        )
      )[0]?.ok === true,
    30_000,
    300,
  );
  // With setpoint stopped: pg1 and pg3 stop, pg2 takes writes they never see, then pg2 stops too.
  await daemon?.stop();
  const sh = (n: Name, what: 'start' | 'stop') => execFileSync('/bin/sh', [server(n).scripts[what]], { stdio: 'pipe' });
  sh('pg1', 'stop');
  sh('pg3', 'stop');
  await q('pg2', 'INSERT INTO t SELECT g FROM generate_series(9000000, 9000099) g', 'ledger');
  sh('pg2', 'stop');
  sh('pg1', 'start');
  sh('pg3', 'start');
  const asideBefore = readdirSync(dirname(server('pg2').dataDir)).filter((f) => f.startsWith('data.setpoint-')).length;
  // pg2 is down: the file names pg1, which is promoted (pg2 fenced); pg2 comes back diverged and is rewound.
  const started = Date.now();
  writeFileSync(file, spec('pg1', '16MB', true));
  daemon = new Daemon(file, db);
  await waitFor('pg1 primary, pg2 and pg3 streaming from it', () => converged('pg1'), 120_000, 500).catch(
    async (err: unknown) => {
      const hh = History.open(db, { readonly: true });
      const said = hh
        .entries({ cluster: 'ledger', since: started - 1000 })
        .map((e) => `${e.host} ${e.kind} ${e.field ?? ''} ${e.outcome ?? ''} ${e.summary}`)
        .slice(-40);
      hh.close();
      const log = readFileSync(server('pg2').logFile, 'utf8').split('\n').slice(-40).join('\n');
      throw new Error(
        `${err instanceof Error ? err.message : String(err)}\n${JSON.stringify(await topology())}\n${said.join('\n')}\npg2's log:\n${log}`,
      );
    },
  );
  const h = History.open(db, { readonly: true });
  const steps = h
    .entries({ cluster: 'ledger', host: '*', since: started - 1000 })
    .map((e) => `${e.kind} ${e.field ?? ''} ${e.outcome ?? ''} ${e.summary}`);
  h.close();
  for (const re of [
    /^action promote ok switchover pg2 -> pg1: pg2 cannot be reached: fenced/,
    /^action rewind ok rewind pg2 to pg1's timeline with pg_rewind \(it has diverged from pg1: it replayed timeline \d+ past /,
    /^event .*pg2 rewound to pg1 \(diverged at [0-9A-F]+\/[0-9A-F]+ on timeline \d+\)/,
  ])
    assert.ok(
      steps.some((s) => re.test(s)),
      `${String(re)} in:\n${steps.join('\n')}`,
    );
  assert.ok(!steps.some((s) => /^action build /.test(s)), `no base backup:\n${steps.join('\n')}`);
  assert.equal(
    readdirSync(dirname(server('pg2').dataDir)).filter((f) => f.startsWith('data.setpoint-')).length,
    asideBefore,
    'nothing moved aside: rewound in place',
  );
  // pg2 now holds what pg1 holds: the rows only it had are gone, as the file allowed.
  const only = (n: Name) =>
    q<{ n: string }>(n, 'SELECT count(*)::text AS n FROM t WHERE id >= 9000000', 'ledger').then((r) => r[0]?.n);
  assert.equal(await only('pg1'), '0');
  assert.equal(await only('pg2'), '0');
  assert.deepEqual(await outOfRecovery(), ['pg1']);
});
