/**
 * Fault injection against real MariaDB servers: each case asserts nothing is lost.
 * kill -9 mid-apply, two daemons on one file, bad files, a file that would drop every user, a
 * contested setting, wrong admin credentials, hostile names; and no declared password anywhere.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import Database from 'better-sqlite3';
import mysql from 'mysql2/promise';
import { destroyAll, startHost, type LabHost } from '../../lab/index.js';
import { cli, Daemon, historyBytes, jsonLines, mysqlRoot, tempDir, waitFor } from '../helpers.js';

const tmp = tempDir('faults');
const PW = 'Faults-declared-pw-4Kq';
const ADMIN_PW = 'Faults-admin-pw-7Zr';
const hosts = new Map<string, LabHost>();
const daemons: Daemon[] = [];
const dbs: string[] = [];

before(async () => {
  const names = ['kill', 'twin', 'bad', 'mass', 'contest', 'creds', 'hostile'];
  const started = await Promise.all(
    names.map((n, i) => startHost({ name: n, address: `127.0.24.${i + 1}`, mariadb: true })),
  );
  started.forEach((h, i) => hosts.set(names[i] as string, h));
  tmp.file('pw', `${PW}\n`);
});
after(async () => {
  await Promise.all(daemons.map((d) => d.stop()));
  await destroyAll();
  tmp.cleanup();
});

function addr(name: string): string {
  return hosts.get(name)?.address ?? '';
}

function spec(host: string, body: string, policy = 'resyncSeconds: 1', mysqlConn = 'user: root'): string {
  return `version: 1
hosts:
  h: { address: ${addr(host)}, mysql: { ${mysqlConn} } }
clusters:
  c:
    engine: mysql
    members: [h]
${body}
policy:
  ${policy}
`;
}

function daemon(file: string, db: string): Daemon {
  const d = new Daemon(file, db);
  daemons.push(d);
  dbs.push(db);
  return d;
}

async function status(db: string): Promise<Record<string, unknown>[]> {
  return jsonLines((await cli(['status', '--db', db, '--json'])).stdout);
}

async function count(root: mysql.Connection, sql: string): Promise<number> {
  const [r] = await root.query<mysql.RowDataPacket[]>(sql);
  return Number(Object.values(r[0] ?? {})[0]);
}

test('kill -9 in the middle of a 500-object apply: after a restart it converges, the file is intact, every started change has an outcome', async () => {
  const users = Array.from(
    { length: 500 },
    (_, i) => `      - { name: bulk${i}, host: "127.%", password: { file: ${tmp.dir}/pw } }`,
  ).join('\n');
  const file = tmp.file('kill.yaml', spec('kill', `    users:\n${users}`));
  const db = tmp.file('kill.db');
  const first = daemon(file, db);
  await waitFor(
    'the apply under way',
    () => {
      try {
        const h = new Database(db, { readonly: true, fileMustExist: true });
        const n = (h.prepare("SELECT COUNT(*) AS n FROM entries WHERE kind = 'action'").get() as { n: number }).n;
        h.close();
        return n >= 60;
      } catch {
        return false;
      }
    },
    30_000,
    5,
  );
  first.child.kill('SIGKILL');
  await first.stop();
  const h = new Database(db, { readonly: true });
  assert.equal(h.pragma('integrity_check', { simple: true }), 'ok');
  const before = h
    .prepare("SELECT outcome, COUNT(*) AS n FROM entries WHERE kind = 'action' GROUP BY outcome")
    .all() as { outcome: string; n: number }[];
  h.close();
  const done = before.find((r) => r.outcome === 'ok')?.n ?? 0;
  const started = before.reduce((n, r) => n + r.n, 0);
  assert.ok(started >= 60 && done < 500, `killed mid-apply after ${done} changes: ${JSON.stringify(before)}`);
  assert.ok(
    before.every((r) => r.outcome === 'ok' || r.outcome === 'running'),
    'before the restart: done, or in flight when killed',
  );

  const second = daemon(file, db);
  await waitFor('converged after the restart', async () => (await status(db))[0]?.converged === true, 60_000, 200);
  await second.stop();
  const h2 = new Database(db, { readonly: true });
  assert.equal(h2.pragma('integrity_check', { simple: true }), 'ok');
  const outcomes = h2
    .prepare("SELECT outcome, COUNT(*) AS n FROM entries WHERE kind = 'action' GROUP BY outcome")
    .all() as { outcome: string; n: number }[];
  // A change interrupted by the kill may have reached the server: the restarted daemon then sees it done.
  const created = (
    h2
      .prepare(
        "SELECT COUNT(DISTINCT resource) AS n FROM entries WHERE kind = 'action' AND outcome IN ('ok', 'interrupted')",
      )
      .get() as { n: number }
  ).n;
  h2.close();
  assert.deepEqual(
    outcomes.map((o) => o.outcome).filter((o) => !['ok', 'interrupted'].includes(o)),
    [],
    `every started change has an outcome: ${JSON.stringify(outcomes)}`,
  );
  assert.equal(created, 500);
  const root = await mysqlRoot(addr('kill'));
  assert.equal(await count(root, "SELECT COUNT(*) FROM mysql.user WHERE User LIKE 'bulk%'"), 500);
  await root.end();
});

test('two daemons on the same file: every change is made once, and history shows who held the lease', async () => {
  const users = Array.from(
    { length: 20 },
    (_, i) => `      - { name: twin${i}, host: "127.%", password: { file: ${tmp.dir}/pw } }`,
  ).join('\n');
  const file = tmp.file('twin.yaml', spec('twin', `    databases: [{ name: twins }]\n    users:\n${users}`));
  const [dbA, dbB] = [tmp.file('twinA.db'), tmp.file('twinB.db')];
  const a = daemon(file, dbA);
  await waitFor('A converged the server', async () => (await status(dbA))[0]?.converged === true, 30_000, 200);
  const b = daemon(file, dbB);
  await waitFor('B observed it converged', async () => (await status(dbB))[0]?.converged === true, 30_000, 200);
  // A holds the lease (its connection keeps it) but is paused: B sees the drift, may not act, and says who holds it.
  assert.equal((await cli(['pause', 'c', '--db', dbA, '--reason', 'test'])).code, 0);
  const root = await mysqlRoot(addr('twin'));
  await root.query("DROP USER 'twin7'@'127.%'");
  const events = async (db: string) =>
    jsonLines((await cli(['history', '--db', db, '--kind', 'event', '--json'])).stdout).map((e) => String(e.summary));
  await waitFor(
    'B reports the lease holder',
    async () =>
      (await events(dbB)).some((e) =>
        /lease on c\/h held by another setpoint: connection \d+ from 127\.0\.0\.1:\d+ as root; observing only/.test(e),
      ),
    10_000,
    200,
  );
  assert.equal(await count(root, "SELECT COUNT(*) FROM mysql.user WHERE User = 'twin7'"), 0, 'B did not act');
  assert.equal((await cli(['resume', 'c', '--db', dbA])).code, 0);
  await waitFor(
    'twin7 back, made by A',
    async () => (await count(root, "SELECT COUNT(*) FROM mysql.user WHERE User = 'twin7'")) === 1,
    10_000,
    100,
  );
  await new Promise((r) => setTimeout(r, 2000));
  const actions = async (db: string) =>
    jsonLines((await cli(['history', '--db', db, '--kind', 'action', '--json'])).stdout).filter(
      (x) => x.outcome === 'ok',
    );
  const [actsA, actsB] = [await actions(dbA), await actions(dbB)];
  assert.equal(actsB.length, 0, 'B made no change');
  assert.equal(
    actsA.filter((x) => String(x.summary).startsWith('create user')).length,
    21,
    '20 users made once each, and twin7 once more',
  );
  assert.equal(actsA.filter((x) => String(x.summary).startsWith('create database')).length, 1);
  assert.ok((await events(dbA)).some((e) => /lease on c\/h taken by .+:\d+/.test(e)));
  const waiting = jsonLines((await cli(['status', '--db', dbB, '--json'])).stdout)[0];
  assert.ok(waiting !== undefined);
  await root.end();
  await a.stop();
  await b.stop();
});

test('a bad file at start is refused with exit 1 and FILE:LINE:COL errors; during a run it is rejected and the last good file kept', async () => {
  const cases: [string, string, RegExp][] = [
    ['yaml', 'version: 1\nhosts: { h: { address: [1.2.3.4 }\n', /^.*yaml\.yaml:2:\d+ \(document\): /m],
    [
      'types',
      spec('bad', '    databases: [{ name: 5 }]'),
      /types\.yaml:8:25 clusters\.c\.databases\[0\]\.name: expected string, received number/,
    ],
    [
      'unknown',
      spec('bad', '    databasess: []'),
      /unknown\.yaml:8:5 clusters\.c\.databasess: unknown key "databasess" \(did you mean "databases"\?\)/,
    ],
    [
      'secret',
      spec('bad', '    users: [{ name: u, password: { file: /nonexistent/pw } }]'),
      /secret\.yaml:8:34 clusters\.c\.users\[0\]\.password: secret file:\/nonexistent\/pw cannot be read \(ENOENT\)/,
    ],
  ];
  for (const [name, text, want] of cases) {
    const file = tmp.file(`${name}.yaml`, text);
    const r = await cli(['run', '-f', file, '--db', tmp.file(`${name}.db`)], { timeoutMs: 10_000 });
    assert.equal(r.code, 1, `${name}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, want);
  }
  const file = tmp.file('good.yaml', spec('bad', '    databases: [{ name: good }]'));
  const db = tmp.file('good.db');
  const d = daemon(file, db);
  await waitFor('converged', async () => (await status(db))[0]?.converged === true);
  writeFileSync(
    file,
    spec('bad', '    databases: [{ name: good }]\n    users: [{ name: u, password: { file: /nonexistent/pw } }]'),
  );
  await waitFor('the rejection', async () =>
    jsonLines((await cli(['history', '--db', db, '--kind', 'spec', '--json'])).stdout).some(
      (e) => e.outcome === 'rejected',
    ),
  );
  const root = await mysqlRoot(addr('bad'));
  await root.query('DROP DATABASE good');
  await waitFor(
    'good back under the last good file',
    async () =>
      (await count(root, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'good'")) === 1,
    8000,
  );
  assert.equal(await count(root, "SELECT COUNT(*) FROM mysql.user WHERE User = 'u'"), 0);
  await root.end();
  await d.stop();
});

test('an edit that would drop every declared user (prune: true) is stopped by the destructive budget and reported; nothing is dropped', async () => {
  const users = Array.from(
    { length: 10 },
    (_, i) => `      - { name: keep${i}, password: { file: ${tmp.dir}/pw } }`,
  ).join('\n');
  const body = (u: string) =>
    `    prune: true\n    destructiveBudget: 3\n    databases: [{ name: mass }]\n    users:\n${u}`;
  const file = tmp.file('mass.yaml', spec('mass', body(users)));
  const db = tmp.file('mass.db');
  const d = daemon(file, db);
  await waitFor('converged', async () => (await status(db))[0]?.converged === true);
  writeFileSync(file, spec('mass', body('      []').replace('    users:\n      []', '    users: []')));
  await waitFor('stalled on the budget', async () => (await status(db))[0]?.state === 'stalled', 10_000);
  await new Promise((r) => setTimeout(r, 3000));
  const root = await mysqlRoot(addr('mass'));
  assert.equal(await count(root, "SELECT COUNT(*) FROM mysql.user WHERE User LIKE 'keep%'"), 10, 'nothing dropped');
  await root.end();
  const row = (await status(db))[0];
  const stalled = (row?.conditions as { type: string; status: string; reason: string; message: string }[]).find(
    (c) => c.type === 'Stalled',
  );
  assert.equal(stalled?.reason, 'DestructiveBudgetExceeded');
  assert.match(
    String(stalled?.message),
    /10 destructive changes planned, more than the budget of 3 per pass: none is made/,
  );
  const drops = jsonLines((await cli(['history', '--db', db, '--kind', 'action', '--json'])).stdout).filter((a) =>
    String(a.summary).startsWith('drop'),
  );
  assert.equal(drops.length, 0);
  assert.ok(d.lines().some((l) => l.msg === 'change waiting' && /destructive changes planned/.test(String(l.reason))));
  await d.stop();
});

test('a contested setting (changed back every second) is marked Degraded after N repairs and the loop stops fighting', async () => {
  const file = tmp.file(
    'contest.yaml',
    spec(
      'contest',
      '    settings: { max_connections: 222 }',
      'resyncSeconds: 1\n  antiFlap: { repairs: 3, windowSeconds: 120, holdSeconds: 600 }',
    ),
  );
  const db = tmp.file('contest.db');
  const d = daemon(file, db);
  await waitFor('converged', async () => (await status(db))[0]?.converged === true);
  const root = await mysqlRoot(addr('contest'));
  const rival = setInterval(() => void root.query('SET GLOBAL max_connections = 111').catch(() => undefined), 1000);
  try {
    await waitFor(
      'Degraded by contest',
      async () => {
        const c = ((await status(db))[0]?.conditions ?? []) as { type: string; status: string; reason: string }[];
        return c.some((x) => x.type === 'Degraded' && x.status === 'True' && x.reason === 'ContestedByAnotherActor');
      },
      30_000,
      250,
    );
    const sets = async () =>
      jsonLines(
        (await cli(['history', '--db', db, '--kind', 'action', '--resource', 'max_connections', '--json'])).stdout,
      ).length;
    const n = await sets();
    assert.equal(n, 3, 'three repairs, then it stopped');
    await new Promise((r) => setTimeout(r, 4000));
    assert.equal(await sets(), 3, 'no more fighting');
    const events = jsonLines((await cli(['history', '--db', db, '--kind', 'event', '--json'])).stdout);
    assert.ok(events.some((e) => /contested by another actor: repaired 3 times within 120 s/.test(String(e.summary))));
    const human = await cli(['status', '--db', db, '--conditions']);
    assert.match(human.stdout, /Degraded +True +ContestedByAnotherActor/);
  } finally {
    clearInterval(rival);
    await root.end();
    await d.stop();
  }
});

test('wrong admin credentials: Stalled with the reason, no retry storm; fixing the secret file resumes at once', async () => {
  const root = await mysqlRoot(addr('creds'));
  await root.query(`CREATE USER 'setpoint'@'127.%' IDENTIFIED BY '${ADMIN_PW}'`);
  await root.query("GRANT ALL PRIVILEGES ON *.* TO 'setpoint'@'127.%' WITH GRANT OPTION");
  const adminPw = tmp.file('admin.pw', 'not-the-password\n');
  const file = tmp.file(
    'creds.yaml',
    spec(
      'creds',
      '    databases: [{ name: creds_ok }]',
      'resyncSeconds: 1\n  backoff: { initialSeconds: 1, maxSeconds: 300 }',
      `user: setpoint, password: { file: ${adminPw} }`,
    ),
  );
  const db = tmp.file('creds.db');
  const d = daemon(file, db);
  await waitFor('stalled', async () => (await status(db))[0]?.state === 'stalled', 15_000);
  const row = (await status(db))[0];
  const stalled = (row?.conditions as { type: string; status: string; reason: string }[]).find(
    (c) => c.type === 'Stalled',
  );
  assert.deepEqual([stalled?.status, stalled?.reason], ['True', 'AuthenticationFailed']);
  assert.match(String(row?.lastError), /Access denied for user 'setpoint'/);
  await new Promise((r) => setTimeout(r, 5000));
  const attempts = d.lines().filter((l) => l.msg === 'stalled: needs a human').length;
  assert.ok(attempts <= 2, `no retry storm: ${attempts} attempts in ~6 s`);
  const t0 = Date.now();
  writeFileSync(adminPw, `${ADMIN_PW}\n`);
  await waitFor(
    'converged once the secret is fixed',
    async () => (await status(db))[0]?.converged === true,
    10_000,
    100,
  );
  assert.ok(Date.now() - t0 < 5000, 'resumed at once, not at the 300 s cap');
  assert.equal(await count(root, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'creds_ok'"), 1);
  await root.end();
  await d.stop();
});

test('hostile names are rejected with a clear message, or handled exactly; nothing else runs', async () => {
  const long = 'n'.repeat(300);
  const rejected = tmp.file(
    'hostile-bad.yaml',
    spec(
      'hostile',
      `    databases: [{ name: "a\\0b" }, { name: "${long}" }]\n    users: [{ name: "${long}", password: { file: ${tmp.dir}/pw } }]`,
    ),
  );
  const v = await cli(['validate', '-f', rejected]);
  assert.equal(v.code, 1);
  assert.match(v.stderr, /databases\[0\]\.name: database name must not contain a NUL byte/);
  assert.match(v.stderr, /databases\[1\]\.name: database name is longer than 64 characters/);
  assert.match(v.stderr, /users\[0\]\.name: user name is longer than 80 characters/);
  const names = [
    "it's",
    'x"; DROP DATABASE mysql; --',
    'semi;colon',
    '/* not a comment */',
    '-- dash',
    'back\\slash',
    '`tick`',
    'ünï €',
  ];
  const yaml = (s: string) => JSON.stringify(s);
  const body =
    `    databases:\n${names.map((n) => `      - { name: ${yaml(n)} }`).join('\n')}\n` +
    `    users:\n${names.map((n) => `      - { name: ${yaml(n)}, host: "127.%", password: { file: ${tmp.dir}/pw }, grants: [{ privileges: [SELECT], on: ${yaml(`\`${n.replace(/`/g, '``')}\`.*`)} }] }`).join('\n')}`;
  const file = tmp.file('hostile.yaml', spec('hostile', body));
  const root = await mysqlRoot(addr('hostile'));
  const schemasBefore = await count(root, 'SELECT COUNT(*) FROM information_schema.SCHEMATA');
  const usersBefore = await count(root, 'SELECT COUNT(*) FROM mysql.user');
  const db = tmp.file('hostile.db');
  const apply = await cli(['apply', '-f', file, '--once', '--db', db]);
  assert.equal(apply.code, 0, apply.stdout + apply.stderr);
  assert.equal((await cli(['plan', '-f', file])).code, 0, 'converged: observed exactly as declared');
  assert.equal(
    await count(root, 'SELECT COUNT(*) FROM information_schema.SCHEMATA'),
    schemasBefore + names.length,
    'exactly the declared databases appeared',
  );
  assert.equal(
    await count(root, 'SELECT COUNT(*) FROM mysql.user'),
    usersBefore + names.length,
    'exactly the declared users appeared',
  );
  assert.equal(await count(root, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'mysql'"), 1);
  for (const n of names) {
    assert.equal(
      await count(root, `SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ${mysql.escape(n)}`),
      1,
      `database ${n}`,
    );
    const c = await mysql.createConnection({ host: addr('hostile'), user: n, password: PW, database: n });
    await c.end();
  }
  await root.end();
});

test('no declared password in any daemon log or history file after every case above', () => {
  for (const d of daemons) {
    assert.ok(!d.log.includes(PW), 'daemon log');
    assert.ok(!d.log.includes(ADMIN_PW), 'daemon log (admin)');
  }
  for (const db of [...dbs, tmp.file('hostile.db')]) {
    const bytes = historyBytes(db);
    assert.ok(!bytes.includes(PW), `history ${db}`);
    assert.ok(!bytes.includes(ADMIN_PW), `history ${db} (admin)`);
  }
});
