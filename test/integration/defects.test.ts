/**
 * Regression tests for the defects that broke the README's promises (issue 16), against real MariaDB,
 * PostgreSQL and sshd lab hosts on 127.0.26.x, and real files, mounts and processes: empty and
 * hostile secrets, reloads during passes, symbolic links at managed paths, settings the server would
 * refuse, secret rotations, an unusable history file, EPIPE, and PostgreSQL list settings.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { destroyAll, startHost, type LabHost } from '../../lab/index.js';
import { CLI, cli, Daemon, jsonLines, mysqlRoot, ROOT, tempDir, waitFor } from '../helpers.js';
import { History } from '../../src/history/store.js';

const tmp = tempDir('defects');
let my: LabHost;
let pgHost: LabHost;
let slow: LabHost;
let files: LabHost;
let knownHosts = '';
let key = '';
const daemons: Daemon[] = [];
const mounts: string[] = [];

before(async () => {
  [my, pgHost, slow] = await Promise.all([
    startHost({ name: 'my', address: '127.0.26.1', mariadb: true }),
    startHost({ name: 'pg', address: '127.0.26.2', postgres: true }),
    startHost({ name: 'slow', address: '127.0.26.3', mariadb: true }),
  ]);
  files = await startHost({ name: 'files', address: '127.0.26.4', mariadb: true, ssh: true, baseDir: tmp.dir });
  key = files.sshd?.clientKeyFile ?? '';
  knownHosts = tmp.file('known_hosts', `${files.sshd?.knownHostsLine ?? ''}\n`);
});

after(async () => {
  await Promise.all(daemons.map((d) => d.stop()));
  for (const m of mounts.reverse()) {
    try {
      execFileSync('umount', ['-l', m]);
    } catch {
      // already gone
    }
  }
  await destroyAll();
  tmp.cleanup();
});

function daemon(file: string, db: string, env: Record<string, string> = {}, args: string[] = []): Daemon {
  const d = new Daemon(file, db, env, args);
  daemons.push(d);
  return d;
}

function mysqlSpec(address: string, body: string, policy = 'resyncSeconds: 1'): string {
  return `version: 1\nhosts:\n  h: { address: ${address}, mysql: { user: root } }\nclusters:\n  c:\n    engine: mysql\n    members: [h]\n${body}\npolicy:\n  ${policy}\n`;
}

function pgSpec(body: string, policy = 'resyncSeconds: 1'): string {
  return `version: 1\nhosts:\n  p: { address: ${pgHost.address}, postgres: { user: postgres } }\nclusters:\n  l:\n    engine: postgres\n    members: [p]\n${body}\npolicy:\n  ${policy}\n`;
}

async function status(db: string): Promise<Record<string, unknown>[]> {
  return jsonLines((await cli(['status', '--db', db, '--json'])).stdout);
}

function stalled(
  row: Record<string, unknown> | undefined,
): { status: string; reason: string; message: string } | undefined {
  return (row?.conditions as { type: string; status: string; reason: string; message: string }[] | undefined)?.find(
    (c) => c.type === 'Stalled',
  );
}

async function canLogin(address: string, user: string, password: string): Promise<boolean> {
  try {
    const c = await mysql.createConnection({ host: address, user, password, connectTimeout: 3000 });
    await c.end();
    return true;
  } catch {
    return false;
  }
}

/** One line on stderr, naming what went wrong, and no stack trace. */
function oneClearLine(stderr: string, mentions: RegExp): void {
  const lines = stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line, got:\n${stderr}`);
  assert.match(lines[0] ?? '', /^setpoint: /);
  assert.match(lines[0] ?? '', mentions);
  assert.doesNotMatch(stderr, /\n\s+at /);
}

test('1. an empty secret is never a password: validate refuses it, located; emptied under the daemon it stops the target and the account keeps its password', async () => {
  const empty = tmp.file('empty.pw', '');
  const newline = tmp.file('newline.pw', '\n');
  for (const [ref, why] of [
    [`{ file: ${empty} }`, /is empty/],
    [`{ file: ${newline} }`, /is empty \(only a newline\)/],
    ['{ env: DEFECTS_EMPTY_PW }', /env:DEFECTS_EMPTY_PW is set but empty/],
  ] as const) {
    const f = tmp.file(
      'empty.yaml',
      mysqlSpec(my.address, `    users:\n      - { name: nopw, host: "127.%", password: ${ref} }`),
    );
    const r = await cli(['validate', '-f', f], { env: { DEFECTS_EMPTY_PW: '' } });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /empty\.yaml:9:\d+ clusters\.c\.users\[0\]\.password: secret /);
    assert.match(r.stderr, why);
    const a = await cli(['apply', '-f', f, '--once', '--db', tmp.file('empty.db')], { env: { DEFECTS_EMPTY_PW: '' } });
    assert.equal(a.code, 1);
  }
  const root = await mysqlRoot(my.address);
  const [rows] = await root.query<mysql.RowDataPacket[]>("SELECT COUNT(*) AS n FROM mysql.user WHERE User = 'nopw'");
  assert.equal(Number(rows[0]?.n), 0, 'apply never created the account');
  const pgFile = tmp.file(
    'empty-pg.yaml',
    pgSpec('    roles:\n      - { name: nopw, login: true, password: { env: DEFECTS_EMPTY_PW } }'),
  );
  const pv = await cli(['validate', '-f', pgFile], { env: { DEFECTS_EMPTY_PW: '' } });
  assert.equal(pv.code, 1);
  assert.match(
    pv.stderr,
    /empty-pg\.yaml:9:\d+ clusters\.l\.roles\[0\]\.password: secret env:DEFECTS_EMPTY_PW is set but empty/,
  );

  // At run time: the daemon's watched secret file becomes empty.
  const pw = tmp.file('live.pw', 'Live-pw-1\n');
  const file = tmp.file(
    'live.yaml',
    mysqlSpec(my.address, `    users:\n      - { name: live, host: "127.%", password: { file: ${pw} } }`),
  );
  const db = tmp.file('live.db');
  const d = daemon(file, db);
  await waitFor('converged', async () => (await status(db))[0]?.converged === true, 30_000, 200);
  assert.equal(await canLogin(my.address, 'live', 'Live-pw-1'), true);
  writeFileSync(pw, '\n');
  const row = await waitFor(
    'the target stopped on the empty secret',
    async () => {
      const s = (await status(db))[0];
      return stalled(s)?.reason === 'SecretEmpty' ? s : undefined;
    },
    20_000,
    200,
  );
  assert.match(String(row?.lastError), /secret file:.*live\.pw is empty/);
  assert.equal(await canLogin(my.address, 'live', ''), false, 'no empty password');
  assert.equal(await canLogin(my.address, 'live', 'Live-pw-1'), true, 'the password in force is kept');
  await d.stop();

  // PostgreSQL: the role keeps its verifier.
  const ppw = tmp.file('pg.pw', 'Pg-live-pw-1\n');
  const pf = tmp.file(
    'live-pg.yaml',
    pgSpec(`    roles:\n      - { name: live, login: true, password: { file: ${ppw} } }`),
  );
  assert.equal((await cli(['apply', '-f', pf, '--once', '--db', tmp.file('pg.db')])).code, 0);
  writeFileSync(ppw, '');
  const again = await cli(['apply', '-f', pf, '--once', '--db', tmp.file('pg.db')]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /is empty/);
  assert.equal(
    await pgHost.postgres?.sql("SELECT rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid WHERE rolname = 'live'"),
    't',
  );
  await root.end();
});

test('5. a FIFO, a device or a huge file as a secret is refused at once; a watched secret replaced by a FIFO leaves the daemon responsive', async () => {
  const fifo = join(tmp.dir, 'fifo.pw');
  execFileSync('mkfifo', [fifo]);
  const big = tmp.file('big.pw', 'x'.repeat(70 * 1024));
  for (const [path, why] of [
    [fifo, /is a FIFO/],
    ['/dev/zero', /is a device/],
    [big, /larger than 64 KiB/],
  ] as const) {
    const f = tmp.file(
      'fifo.yaml',
      mysqlSpec(my.address, `    users:\n      - { name: f, host: "127.%", password: { file: ${path} } }`),
    );
    const started = Date.now();
    const r = await cli(['validate', '-f', f], { timeoutMs: 20_000 });
    assert.equal(r.code, 1, `${path}: ${r.stderr}`);
    assert.match(r.stderr, why);
    assert.ok(Date.now() - started < 10_000, 'answered without hanging');
  }
  const pw = tmp.file('watched.pw', 'Watched-pw-1\n');
  const file = tmp.file(
    'watched.yaml',
    mysqlSpec(my.address, `    users:\n      - { name: watched, host: "127.%", password: { file: ${pw} } }`),
  );
  const db = tmp.file('watched.db');
  const listen = '127.0.26.1:9466';
  const d = daemon(file, db, {}, ['--listen', listen]);
  await waitFor('converged', async () => (await status(db))[0]?.converged === true, 30_000, 200);
  unlinkSync(pw);
  execFileSync('mkfifo', [pw]);
  await waitFor(
    'the FIFO reported',
    async () => stalled((await status(db))[0])?.reason === 'SecretNotARegularFile',
    20_000,
    200,
  );
  const health = await fetch(`http://${listen}/healthz`, { signal: AbortSignal.timeout(3000) });
  assert.equal(health.status, 200, 'the daemon still answers');
  const t0 = Date.now();
  assert.equal(await d.stop('SIGTERM'), 0);
  assert.ok(Date.now() - t0 < 10_000, 'SIGTERM is obeyed');
});

test('2. reloads during passes never orphan a target: SIGHUPs and edits while observations hang, and every target keeps being observed', async () => {
  const file = tmp.file('reload.yaml', mysqlSpec(slow.address, '    databases: [{ name: keep1 }]'));
  const db = tmp.file('reload.db');
  const d = daemon(file, db);
  await waitFor('converged', async () => (await status(db))[0]?.converged === true, 30_000, 200);
  const root = await mysqlRoot(slow.address);
  const locker = await mysqlRoot(slow.address);
  const daemonWaiting = async () => {
    const [r] = await root.query<mysql.RowDataPacket[]>(
      "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE STATE LIKE 'Waiting for table%lock' AND INFO LIKE '%global_priv%' OR (STATE LIKE 'Waiting for table%lock' AND INFO LIKE '%mysql.user%')",
    );
    return Number(r[0]?.n) > 0;
  };
  for (let round = 0; round < 4; round++) {
    // The users catalog query blocks on the lock: a pass hangs in its observation.
    await locker.query('LOCK TABLES mysql.global_priv WRITE');
    await waitFor('a pass hanging in its observation', daemonWaiting, 20_000, 50);
    for (let i = 0; i < 3; i++) d.child.kill('SIGHUP');
    // An identical rewrite, and in one round a real edit, while the pass hangs.
    writeFileSync(file, readFileSync(file, 'utf8'));
    if (round === 2) writeFileSync(file, mysqlSpec(slow.address, '    databases: [{ name: keep1 }, { name: keep2 }]'));
    await new Promise((r) => setTimeout(r, 700));
    await locker.query('UNLOCK TABLES');
  }
  const before = Date.parse(String((await status(db))[0]?.lastObserved));
  await root.query('DROP DATABASE keep1');
  await waitFor(
    'the hand-dropped database put back',
    async () => {
      const [r] = await root.query<mysql.RowDataPacket[]>(
        "SELECT COUNT(*) AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME IN ('keep1', 'keep2')",
      );
      return Number(r[0]?.n) === 2;
    },
    20_000,
    200,
  );
  await waitFor(
    'observed again and again',
    async () => Date.parse(String((await status(db))[0]?.lastObserved)) > before + 2000,
    20_000,
    200,
  );
  await d.stop();
  const h = History.open(db, { readonly: true });
  const specs = h.db.prepare("SELECT COUNT(*) AS n FROM entries WHERE kind = 'spec' AND outcome = 'loaded'").get() as {
    n: number;
  };
  h.close();
  assert.equal(specs.n, 2, 'one spec row per version loaded: unchanged files and SIGHUPs add none');
  await root.end();
  await locker.end();
});

function filesHost(extra = ''): string {
  const m = files.mariadb;
  return `version: 1
hosts:
  f:
    address: ${files.address}
    ssh: { port: 2222, user: root, privateKeyFile: ${key}, knownHostsFile: ${knownHosts} }
    service: { commands: { start: ${JSON.stringify(m?.scripts.start)}, stop: ${JSON.stringify(m?.scripts.stop)}, restart: ${JSON.stringify(m?.scripts.restart)}, status: ${JSON.stringify(m?.scripts.status)} } }
    mysql: { port: 3306, user: root }
clusters:
  c:
    engine: mysql
    members: [f]
${extra}`;
}

test('3. the config-file writer never follows a planted link; a link at the managed path itself is refused (located, Stalled) unless declared', async () => {
  const dir = join(tmp.dir, 'managed');
  mkdirSync(dir);
  const path = join(dir, 'frag.cnf');
  const victims = [tmp.file('victim1', 'victim one\n'), tmp.file('victim2', 'victim two\n')];
  for (const v of victims) chmodSync(v, 0o600);
  writeFileSync(path, '# by hand\n');
  symlinkSync(victims[0] as string, `${path}.setpoint-tmp`);
  symlinkSync(victims[1] as string, `${path}.setpoint-prev`);
  const body = `    settings: { max_connections: 160 }\n    configFile: { path: ${path}, mode: "0644" }\n`;
  const file = tmp.file('links.yaml', filesHost(body));
  const db = tmp.file('links.db');
  const first = await cli(['apply', '-f', file, '--once', '--db', db]);
  assert.equal(first.code, 0, first.stdout + first.stderr);
  assert.match(readFileSync(path, 'utf8'), /^max_connections = 160$/m);
  assert.equal(
    readFileSync(`${path}.setpoint-prev`, 'utf8'),
    '# by hand\n',
    'the previous version replaced the planted link',
  );
  assert.equal(lstatSync(`${path}.setpoint-prev`).isSymbolicLink(), false);
  for (const [i, v] of victims.entries()) {
    assert.equal(readFileSync(v, 'utf8'), `victim ${i === 0 ? 'one' : 'two'}\n`, `${v} untouched`);
    assert.equal(statSync(v).mode & 0o777, 0o600, `${v} keeps its mode`);
  }
  // The managed path itself a link: refused, located, Stalled; the link's target untouched.
  rmSync(path);
  symlinkSync(victims[0] as string, path);
  const refused = await cli(['apply', '-f', file, '--once', '--db', db]);
  assert.notEqual(refused.code, 0);
  const row = (await status(db))[0];
  assert.equal(stalled(row)?.status, 'True');
  assert.equal(stalled(row)?.reason, 'ManagedPathIsSymlink');
  assert.match(stalled(row)?.message ?? '', /links\.yaml:13:\d+ clusters\.c\.configFile\.path: .*is a symbolic link/);
  assert.equal(readFileSync(victims[0] as string, 'utf8'), 'victim one\n');
  // Declared: written through the link.
  const follow = tmp.file(
    'links-follow.yaml',
    filesHost(body.replace('mode: "0644" }', 'mode: "0644", followSymlink: true }')),
  );
  assert.equal((await cli(['apply', '-f', follow, '--once', '--db', db])).code, 0);
  assert.match(readFileSync(victims[0] as string, 'utf8'), /^max_connections = 160$/m);
  assert.equal(lstatSync(path).isSymbolicLink(), true);
});

test('4. a fragment never holds a setting the server would refuse: unknown and invalid ones are left out (Stalled, located), the server parser vets the rest, and the server restarts', async () => {
  const m = files.mariadb;
  assert.ok(m);
  const path = join(m.confDir, '60-setpoint.cnf');
  const body = (settings: string) => `    settings: { ${settings} }\n    configFile: { path: ${path}, mode: "0644" }\n`;
  const file = tmp.file(
    'frag.yaml',
    filesHost(body('max_connections: 222, no_such_variable_x: 1, binlog_format: FOO, key_buffer_size: 1000')),
  );
  const db = tmp.file('frag.db');
  const r = await cli(['apply', '-f', file, '--once', '--db', db]);
  assert.notEqual(r.code, 0);
  const text = readFileSync(path, 'utf8');
  assert.match(text, /^max_connections = 222$/m);
  assert.doesNotMatch(text, /no_such_variable_x|binlog_format|key_buffer_size/);
  const row = (await status(db))[0];
  assert.equal(stalled(row)?.reason, 'SettingRejected');
  assert.match(stalled(row)?.message ?? '', /frag\.yaml:12:\d+ clusters\.c\.settings\.\w+: /);
  const plan = await cli(['plan', '-f', file]);
  assert.match(plan.stdout, /FOO is not one of MIXED, STATEMENT, ROW/);
  assert.match(plan.stdout, /1000 is not a multiple of 4096/);
  // The server starts with what was written.
  execFileSync('/bin/sh', [m.scripts.restart]);
  const root = await mysqlRoot(files.address);
  const [v] = await root.query<mysql.RowDataPacket[]>('SELECT @@max_connections AS n');
  assert.equal(Number(v[0]?.n), 222);
  await root.end();
  // A value only the server's own parser knows is wrong: the write is refused, the file kept as it was.
  const bad = tmp.file('frag-bad.yaml', filesHost(body('max_connections: 222, character_set_server: nosuchcs')));
  const b = await cli(['apply', '-f', bad, '--once', '--db', db]);
  assert.notEqual(b.code, 0, b.stdout + b.stderr);
  assert.match((await status(db))[0]?.lastError as string, /the server would refuse it: .*Character set 'nosuchcs'/);
  assert.equal(readFileSync(path, 'utf8'), text, 'the fragment in place is unchanged');
  execFileSync('/bin/sh', [m.scripts.restart]);
  assert.equal(await canLogin(files.address, 'root', ''), true, 'the server restarts');
});

test('6. rotating a secret is not another actor: create then four rotations, never contested, each rotation applied', async () => {
  const pw = tmp.file('rot.pw', 'Rot-pw-0\n');
  const file = tmp.file(
    'rot.yaml',
    mysqlSpec(my.address, `    users:\n      - { name: rot, host: "127.%", password: { file: ${pw} } }`),
  );
  const db = tmp.file('rot.db');
  const d = daemon(file, db);
  await waitFor('created', () => canLogin(my.address, 'rot', 'Rot-pw-0'), 30_000, 200);
  for (let i = 1; i <= 4; i++) {
    writeFileSync(pw, `Rot-pw-${i}\n`);
    await waitFor(`rotation ${i} applied`, () => canLogin(my.address, 'rot', `Rot-pw-${i}`), 20_000, 200);
  }
  await d.stop();
  const h = History.open(db, { readonly: true });
  const contested = h.db.prepare("SELECT COUNT(*) AS n FROM entries WHERE summary LIKE '%contested%'").get() as {
    n: number;
  };
  h.close();
  assert.equal(contested.n, 0);
});

test('7. an unusable history file is one clear line with exit status 1: read-only or full file system, garbage, truncated; and EPIPE is quiet', async () => {
  const spec = tmp.file('hist.yaml', mysqlSpec(my.address, '    databases: [{ name: histdb }]'));
  // A read-only file system: the directory cannot be written, nor the file in it.
  const ro = join(tmp.dir, 'ro');
  mkdirSync(ro);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', ro]);
  mounts.push(ro);
  assert.equal((await cli(['resume', 'c', '--db', join(ro, 'h.db')])).code, 0);
  execFileSync('mount', ['-o', 'remount,ro', ro]);
  const r1 = await cli(['run', '-f', spec, '--db', join(ro, 'h.db')]);
  assert.equal(r1.code, 1);
  oneClearLine(r1.stderr, /history file .*ro\/h\.db cannot be (written|opened)/);
  const r2 = await cli(['run', '-f', spec, '--db', join(ro, 'new', 'h.db')]);
  assert.equal(r2.code, 1);
  oneClearLine(r2.stderr, /history file .*ro\/new\/h\.db.*(read-only|cannot be opened)/);
  // A full file system at start.
  const full = join(tmp.dir, 'full');
  mkdirSync(full);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', full]);
  mounts.push(full);
  assert.equal((await cli(['resume', 'c', '--db', join(full, 'h.db')])).code, 0);
  try {
    execFileSync('dd', ['if=/dev/zero', `of=${join(full, 'filler')}`, 'bs=64k', 'count=64'], { stdio: 'ignore' });
  } catch {
    // dd stops when the disk is full: that is the point
  }
  const r3 = await cli(['run', '-f', spec, '--db', join(full, 'h.db')]);
  assert.equal(r3.code, 1);
  oneClearLine(r3.stderr, /no space left on the device holding the history file .*full\/h\.db/);
  // Garbage, and a real history file truncated.
  const garbage = tmp.file('garbage.db', 'this is not a database\n'.repeat(400));
  for (const args of [
    ['status', '--db', garbage],
    ['history', '--db', garbage],
    ['run', '-f', spec, '--db', garbage],
  ]) {
    const r = await cli(args);
    assert.equal(r.code, 1, args.join(' '));
    oneClearLine(r.stderr, /history file .*garbage\.db is damaged or is not a setpoint history file/);
  }
  const real = tmp.file('big.db');
  const h = History.open(real);
  for (let i = 0; i < 3000; i++) h.event(`event ${i} ${'x'.repeat(60)}`);
  h.close();
  const cut = tmp.file('cut.db', '');
  writeFileSync(cut, readFileSync(real));
  truncateSync(cut, Math.floor(statSync(cut).size / 2));
  const r4 = await cli(['history', '--db', cut]);
  assert.equal(r4.code, 1);
  oneClearLine(r4.stderr, /history file .*cut\.db is damaged/);
  // EPIPE: a listing piped into head.
  const piped = await new Promise<{ code: number | null; stderr: string; stdout: string }>((done) => {
    const c = spawn('/bin/sh', ['-c', `"${process.execPath}" "${CLI}" history --json --db "${real}" | head -1`], {
      cwd: ROOT,
    });
    let stderr = '';
    let stdout = '';
    c.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    c.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    c.on('close', (code) => done({ code, stderr, stdout }));
  });
  assert.equal(piped.stdout.trim().split('\n').length, 1);
  assert.equal(piped.stderr, '', 'nothing on stderr');
  assert.equal(piped.code, 0);
});

test('8. PostgreSQL list settings with quoted elements converge, and stay converged', async () => {
  const p = pgHost.postgres;
  assert.ok(p);
  await p.sql('CREATE SCHEMA "My Schema"');
  const file = tmp.file(
    'lists.yaml',
    pgSpec(
      '    settings:\n      search_path: ["My Schema", public, "$user"]\n      DateStyle: "ISO, DMY"\n      log_destination: [stderr]',
      'resyncSeconds: 30',
    ),
  );
  const db = tmp.file('lists.db');
  const first = await cli(['apply', '-f', file, '--once', '--db', db]);
  assert.equal(first.code, 0, first.stdout + first.stderr);
  assert.equal(
    await p.sql("SELECT setting FROM pg_file_settings WHERE name = 'search_path'"),
    '"My Schema", public, "$user"',
  );
  const plan = await cli(['plan', '-f', file]);
  assert.equal(plan.code, 0, plan.stdout);
  const actions = () => {
    const h = History.open(db, { readonly: true });
    const n = (h.db.prepare("SELECT COUNT(*) AS n FROM entries WHERE kind = 'action'").get() as { n: number }).n;
    h.close();
    return n;
  };
  const made = actions();
  assert.ok(made >= 2, 'search_path and DateStyle were set');
  const second = await cli(['apply', '-f', file, '--once', '--db', db]);
  assert.equal(second.code, 0);
  assert.equal(actions(), made, 'nothing more to do: no false drift');
  // Trailing garbage after a number is an invalid value, shown as such, never "no drift".
  const garbage = tmp.file('garbage.yaml', pgSpec('    settings: { work_mem: "64MBjunk" }'));
  const g = await cli(['plan', '-f', garbage]);
  assert.equal(g.code, 2);
  assert.match(g.stdout, /64MBjunk is not a valid value for work_mem/);
  const client = new pg.Client({ host: pgHost.address, user: 'postgres', database: 'postgres' });
  await client.connect();
  const { rows } = await client.query<{ s: string }>("SELECT setting AS s FROM pg_settings WHERE name = 'work_mem'");
  assert.notEqual(rows[0]?.s, '65536');
  await client.end();
});

test('names with newlines print escaped in text output; backoff.initialSeconds above maxSeconds is refused', async () => {
  const file = tmp.file('names.yaml', mysqlSpec(my.address, '    databases: [{ name: "evil\\nline" }]'));
  const plan = await cli(['plan', '-f', file]);
  assert.equal(plan.code, 2, plan.stderr);
  assert.match(plan.stdout, /evil\\nline/);
  assert.ok(!plan.stdout.split('\n').some((l) => l.startsWith('line')), plan.stdout);
  const backoff = tmp.file(
    'backoff.yaml',
    mysqlSpec(my.address, '    databases: []', 'backoff: { initialSeconds: 600, maxSeconds: 60 }'),
  );
  const v = await cli(['validate', '-f', backoff]);
  assert.equal(v.code, 1);
  assert.match(
    v.stderr,
    /backoff\.yaml:\d+:\d+ policy\.backoff\.initialSeconds: initialSeconds must not be more than maxSeconds/,
  );
});
