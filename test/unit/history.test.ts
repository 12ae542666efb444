/** The history file, on a temporary SQLite file: permissions, migrations, writes and queries. */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { SetpointError } from '../../src/errors.js';
import { History, type PassRecord, type TargetKey } from '../../src/history/store.js';
import { migrations } from '../../src/history/migrations.js';
import { Secret } from '../../src/secret.js';

const dir = mkdtempSync(join(tmpdir(), 'setpoint-history-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
/** A fresh file path per test, so tests do not see each other's rows. */
function fresh(): string {
  return join(dir, `h${++n}`, 'history.db');
}

const T: TargetKey = { cluster: 'orders', host: 'db1' };

function pass(over: Partial<PassRecord> & { time: number }): PassRecord {
  return { ...T, specVersion: 'v1', state: 'converged', waiting: 0, ...over };
}

function count(h: History, sql: string, ...args: unknown[]): number {
  return (h.db.prepare(`SELECT COUNT(*) AS c FROM ${sql}`).get(...args) as { c: number }).c;
}

const mode = (p: string) => statSync(p).mode & 0o777;

test('the file is created with mode 0600, and so is the -wal file', () => {
  const path = fresh();
  const h = History.open(path, { daemonId: 'd1' });
  try {
    assert.equal(mode(path), 0o600);
    h.event('hello', undefined, 1);
    assert.ok(existsSync(`${path}-wal`), 'WAL mode keeps a -wal file while open');
    assert.equal(mode(`${path}-wal`), 0o600);
    if (existsSync(`${path}-shm`)) assert.equal(mode(`${path}-shm`), 0o600);
    assert.equal(h.db.pragma('journal_mode', { simple: true }), 'wal');
  } finally {
    h.close();
  }
});

test('an existing file with looser permissions is tightened to 0600', () => {
  const path = fresh();
  History.open(path).close();
  chmodSync(path, 0o644);
  const h = History.open(path);
  h.close();
  assert.equal(mode(path), 0o600);
});

test('migrations set user_version; reopening does not migrate again; a newer file is refused', () => {
  const path = fresh();
  const h = History.open(path);
  assert.equal(h.db.pragma('user_version', { simple: true }), migrations.length);
  assert.ok(migrations.length >= 1);
  const tables = (
    h.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]
  ).map((r) => r.name);
  for (const t of ['entries', 'meta', 'observations', 'specs', 'targets']) assert.ok(tables.includes(t), t);
  h.event('kept');
  h.close();
  const again = History.open(path);
  assert.equal(again.db.pragma('user_version', { simple: true }), migrations.length);
  assert.deepEqual(
    again.entries().map((e) => e.summary),
    ['kept'],
  );
  again.db.pragma(`user_version = ${migrations.length + 1}`);
  again.close();
  assert.throws(
    () => History.open(path),
    (err: unknown) => err instanceof SetpointError && err.code === 'history.too_new',
  );
});

test('recordSpec stores the text once per version and a spec entry each time', () => {
  const h = History.open(fresh());
  try {
    const text = 'version: 1\nusers:\n  - password: { env: APP_PW }\n';
    h.recordSpec({ file: '/etc/setpoint/setpoint.yaml', version: 'abc123', text }, 1000);
    h.recordSpec({ file: '/etc/setpoint/setpoint.yaml', version: 'abc123', text }, 2000);
    const rows = h.db.prepare('SELECT version, file, loaded_at, text FROM specs').all();
    assert.deepEqual(rows, [{ version: 'abc123', file: '/etc/setpoint/setpoint.yaml', loaded_at: 1000, text }]);
    const e = h.entries({ kinds: ['spec'] });
    assert.equal(e.length, 2);
    assert.equal(e[0]?.outcome, 'loaded');
    assert.equal(e[0]?.specVersion, 'abc123');
    h.recordRejectedSpec('/etc/setpoint/setpoint.yaml', ['bad 1', 'bad 2'], 3000);
    const r = h.entries({ kinds: ['spec'] }).at(-1);
    assert.equal(r?.outcome, 'rejected');
    assert.match(r?.summary ?? '', /bad 1 \(\+1 more\)/);
    assert.deepEqual(r?.detail, { problems: ['bad 1', 'bad 2'] });
  } finally {
    h.close();
  }
});

test('observations are written only when a resource changes; observedAt reconstructs any time', () => {
  const path = fresh();
  const h = History.open(path);
  const a1 = JSON.stringify({ name: 'orders', charset: 'utf8mb4' });
  const a2 = JSON.stringify({ name: 'orders', charset: 'latin1' });
  const b1 = JSON.stringify({ user: 'app' });
  h.commitPass(
    pass({
      time: 1000,
      observed: new Map([
        ['mysql.database orders', a1],
        ['mysql.user app', b1],
      ]),
    }),
  );
  assert.equal(count(h, 'observations'), 2);
  // The same pass again writes nothing.
  h.commitPass(
    pass({
      time: 2000,
      observed: new Map([
        ['mysql.database orders', a1],
        ['mysql.user app', b1],
      ]),
    }),
  );
  assert.equal(count(h, 'observations'), 2);
  // A failed observation (observed undefined) infers nothing.
  h.commitPass(
    pass({ time: 2500, state: 'failing', error: { message: 'down', code: 'sql.unreachable', terminal: false } }),
  );
  assert.equal(count(h, 'observations'), 2);
  // One changed resource: one row.
  h.commitPass(
    pass({
      time: 3000,
      observed: new Map([
        ['mysql.database orders', a2],
        ['mysql.user app', b1],
      ]),
    }),
  );
  assert.equal(count(h, 'observations'), 3);
  // One disappeared: a row with state NULL.
  h.commitPass(pass({ time: 4000, observed: new Map([['mysql.database orders', a2]]) }));
  assert.equal(count(h, 'observations'), 4);
  assert.deepEqual(h.db.prepare('SELECT time, resource, state FROM observations WHERE state IS NULL').all(), [
    { time: 4000, resource: 'mysql.user app', state: null },
  ]);
  h.close();

  // A new instance (a restarted daemon) knows the last state from the file: nothing is rewritten.
  const h2 = History.open(path);
  h2.commitPass(pass({ time: 5000, observed: new Map([['mysql.database orders', a2]]) }));
  assert.equal(count(h2, 'observations'), 4);
  // Reappearing is a change.
  h2.commitPass(
    pass({
      time: 6000,
      observed: new Map([
        ['mysql.database orders', a2],
        ['mysql.user app', b1],
      ]),
    }),
  );
  assert.equal(count(h2, 'observations'), 5);

  assert.deepEqual(h2.observedAt(T, 999), new Map());
  assert.deepEqual(
    h2.observedAt(T, 1000),
    new Map<string, unknown>([
      ['mysql.database orders', JSON.parse(a1)],
      ['mysql.user app', JSON.parse(b1)],
    ]),
  );
  assert.deepEqual(
    h2.observedAt(T, 2999),
    new Map<string, unknown>([
      ['mysql.database orders', JSON.parse(a1)],
      ['mysql.user app', JSON.parse(b1)],
    ]),
  );
  assert.deepEqual(
    h2.observedAt(T, 3000),
    new Map<string, unknown>([
      ['mysql.database orders', JSON.parse(a2)],
      ['mysql.user app', JSON.parse(b1)],
    ]),
  );
  assert.deepEqual(h2.observedAt(T, 4500), new Map<string, unknown>([['mysql.database orders', JSON.parse(a2)]]));
  assert.deepEqual(
    h2.observedAt(T, 7000),
    new Map<string, unknown>([
      ['mysql.database orders', JSON.parse(a2)],
      ['mysql.user app', JSON.parse(b1)],
    ]),
  );
  // Other targets are separate.
  assert.deepEqual(h2.observedAt({ cluster: 'orders', host: 'db2' }, 7000), new Map());
  const st = h2.status(T)[0];
  assert.equal(st?.observedAt, 6000);
  h2.close();
});

test('drift: recorded once while open, resolved with its end time when a pass no longer sees it', () => {
  const path = fresh();
  const h = History.open(path);
  const d = {
    resource: "mysql.user 'app'@'%'",
    field: 'locked',
    summary: 'locked differs',
    desired: true,
    observed: false,
  };
  h.recordDrift(T, [d], 'v1', 1000);
  h.recordDrift(T, [d], 'v1', 1100);
  h.commitPass(pass({ time: 1200, drift: [d], state: 'drifted' }));
  let rows = h.entries({ kinds: ['drift'] });
  assert.equal(rows.length, 1);
  assert.equal(rows[0]?.outcome, 'open');
  assert.equal(rows[0]?.time, 1000);
  assert.equal(rows[0]?.ended, null);
  assert.deepEqual(rows[0]?.detail, { desired: true, observed: false });
  assert.equal(h.status(T)[0]?.drift, 1);
  h.close();

  // After a restart the open drift is known from the file: not inserted again.
  const h2 = History.open(path);
  h2.commitPass(pass({ time: 1500, drift: [d], state: 'drifted' }));
  assert.equal(h2.entries({ kinds: ['drift'] }).length, 1);
  // An empty drift list resolves it.
  h2.commitPass(pass({ time: 2000, drift: [] }));
  rows = h2.entries({ kinds: ['drift'] });
  assert.equal(rows.length, 1);
  assert.equal(rows[0]?.outcome, 'resolved');
  assert.equal(rows[0]?.ended, 2000);
  // A pass whose drift is unknown (observation failed) resolves nothing; seen again, it is a new entry.
  h2.commitPass(pass({ time: 2500, drift: [d] }));
  h2.commitPass(pass({ time: 2600, state: 'failing', error: { message: 'x', code: 'sql.error', terminal: false } }));
  rows = h2.entries({ kinds: ['drift'] });
  assert.deepEqual(
    rows.map((r) => [r.time, r.outcome]),
    [
      [1000, 'resolved'],
      [2500, 'open'],
    ],
  );
  // recordDrift never resolves what it does not list.
  h2.recordDrift(T, [{ ...d, field: 'tls' }], 'v1', 2700);
  assert.deepEqual(
    h2.entries({ kinds: ['drift'] }).map((r) => [r.field, r.outcome]),
    [
      ['locked', 'resolved'],
      ['locked', 'open'],
      ['tls', 'open'],
    ],
  );
  h2.close();
});

test('actions: started as running, ended ok or failed with the error', () => {
  const h = History.open(fresh(), { daemonId: 'd1' });
  try {
    const a = h.actionStarted(
      T,
      {
        resource: 'mysql.database orders',
        summary: 'create database orders',
        risk: 'safe',
        action: 'create',
        statements: ['CREATE DATABASE `orders`'],
      },
      'v1',
      1000,
    );
    const b = h.actionStarted(
      T,
      {
        resource: 'mysql.user app',
        summary: 'create user app',
        risk: 'safe',
        action: 'create',
        statements: ['CREATE USER ...'],
      },
      'v1',
      1001,
    );
    let rows = h.entries({ kinds: ['action'] });
    assert.deepEqual(
      rows.map((r) => [r.id, r.outcome, r.field]),
      [
        [a, 'running', 'create'],
        [b, 'running', 'create'],
      ],
    );
    assert.deepEqual(rows[0]?.detail, { risk: 'safe', statements: ['CREATE DATABASE `orders`'] });
    h.actionEnded(a, 'ok', undefined, 1010);
    h.actionEnded(b, 'failed', 'Access denied (ER_DBACCESS_DENIED_ERROR)', 1020);
    rows = h.entries({ kinds: ['action'] });
    assert.deepEqual(
      rows.map((r) => [r.outcome, r.ended]),
      [
        ['ok', 1010],
        ['failed', 1020],
      ],
    );
    assert.deepEqual(rows[1]?.detail, {
      risk: 'safe',
      statements: ['CREATE USER ...'],
      error: 'Access denied (ER_DBACCESS_DENIED_ERROR)',
    });
    // The target status shows the latest action.
    h.commitPass(pass({ time: 1100 }));
    assert.equal(h.status(T)[0]?.lastAction, 'create user app (failed)');
    assert.equal(h.status(T)[0]?.lastActionAt, 1001);
  } finally {
    h.close();
  }
});

test("markInterrupted marks another daemon's running actions interrupted and leaves its own", () => {
  const path = fresh();
  const old = History.open(path, { daemonId: 'old' });
  const cur = History.open(path, { daemonId: 'new' });
  try {
    const a = old.actionStarted(
      T,
      { resource: 'r1', summary: 'left running', risk: 'safe', action: 'create', statements: [] },
      'v1',
      1000,
    );
    const done = old.actionStarted(
      T,
      { resource: 'r2', summary: 'finished', risk: 'safe', action: 'create', statements: [] },
      'v1',
      1001,
    );
    old.actionEnded(done, 'ok', undefined, 1002);
    const mine = cur.actionStarted(
      T,
      { resource: 'r3', summary: 'mine', risk: 'safe', action: 'create', statements: [] },
      'v1',
      1003,
    );
    assert.equal(cur.markInterrupted(2000), 1);
    const byId = new Map(cur.entries({ kinds: ['action'] }).map((e) => [e.id, e]));
    assert.equal(byId.get(a)?.outcome, 'interrupted');
    assert.equal(byId.get(a)?.ended, 2000);
    assert.equal(byId.get(done)?.outcome, 'ok');
    assert.equal(byId.get(done)?.ended, 1002);
    assert.equal(byId.get(mine)?.outcome, 'running');
    assert.equal(byId.get(mine)?.ended, null);
    assert.equal(cur.markInterrupted(3000), 0);
  } finally {
    old.close();
    cur.close();
  }
});

test('entries filters by cluster, host, resource substring, since and kinds; oldest first; limit keeps the newest', () => {
  const h = History.open(fresh());
  try {
    h.event('daemon started', { pid: 1 }, 100);
    const db2 = { cluster: 'orders', host: 'db2' };
    const rep = { cluster: 'reporting', host: 'db1' };
    h.recordDrift(
      T,
      [
        {
          resource: "mysql.user 'app'@'%'",
          field: 'password',
          summary: 'password differs',
          desired: '[secret]',
          observed: 'x',
        },
      ],
      'v1',
      200,
    );
    h.recordDrift(
      db2,
      [
        {
          resource: "mysql.user 'app'@'%'",
          field: 'locked',
          summary: 'locked differs',
          desired: true,
          observed: false,
        },
      ],
      'v1',
      300,
    );
    h.recordDrift(
      rep,
      [{ resource: 'mysql.database reports', field: 'present', summary: 'missing', desired: true, observed: false }],
      'v1',
      400,
    );
    h.actionStarted(
      T,
      { resource: "mysql.user 'app'@'%'", summary: 'alter user', risk: 'safe', action: 'alter', statements: [] },
      'v1',
      500,
    );
    h.commitPass(pass({ time: 600, state: 'failing', error: { message: 'boom', code: 'sql.error', terminal: false } }));
    // Same time as the previous entry: ties keep insertion order.
    h.event('tick', undefined, 600);

    assert.deepEqual(
      h.entries().map((e) => e.time),
      [100, 200, 300, 400, 500, 600, 600],
    );
    assert.deepEqual(
      h
        .entries()
        .slice(-2)
        .map((e) => e.summary),
      ['boom', 'tick'],
    );
    assert.deepEqual(
      h.entries({ cluster: 'orders' }).map((e) => e.time),
      [200, 300, 500, 600],
    );
    assert.deepEqual(
      h.entries({ cluster: 'orders', host: 'db1' }).map((e) => e.time),
      [200, 500, 600],
    );
    assert.deepEqual(
      h.entries({ host: 'db1' }).map((e) => e.time),
      [200, 400, 500, 600],
    );
    assert.deepEqual(
      h.entries({ resource: "'app'@'%'" }).map((e) => e.time),
      [200, 300, 500],
    );
    assert.deepEqual(
      h.entries({ resource: 'mysql.database' }).map((e) => e.time),
      [400],
    );
    assert.deepEqual(
      h.entries({ since: 300 }).map((e) => e.time),
      [300, 400, 500, 600, 600],
    );
    assert.deepEqual(
      h.entries({ kinds: ['drift', 'error'] }).map((e) => e.kind),
      ['drift', 'drift', 'drift', 'error'],
    );
    assert.deepEqual(h.entries({ kinds: [] }).length, 7);
    assert.deepEqual(
      h.entries({ limit: 3 }).map((e) => [e.time, e.summary]),
      [
        [500, 'alter user'],
        [600, 'boom'],
        [600, 'tick'],
      ],
    );
    assert.deepEqual(
      h.entries({ cluster: 'orders', kinds: ['drift'], limit: 1 }).map((e) => e.time),
      [300],
    );
    assert.deepEqual(h.entries({ cluster: 'nope' }), []);
    const first = h.entries()[0];
    assert.deepEqual(first?.detail, { pid: 1 });
    assert.equal(first?.cluster, null);
  } finally {
    h.close();
  }
});

test('errors are inserted once per distinct message', () => {
  const h = History.open(fresh());
  try {
    const err = (message: string, terminal = false) => ({ message, code: 'sql.unreachable', terminal });
    h.commitPass(pass({ time: 1, state: 'failing', error: err('connect ECONNREFUSED') }));
    h.commitPass(pass({ time: 2, state: 'failing', error: err('connect ECONNREFUSED') }));
    h.commitPass(pass({ time: 3, state: 'failing', error: err('connect ECONNREFUSED') }));
    assert.equal(h.entries({ kinds: ['error'] }).length, 1);
    h.commitPass(pass({ time: 4, state: 'stalled', error: err('Access denied', true) }));
    h.commitPass(pass({ time: 5, state: 'stalled', error: err('Access denied', true) }));
    assert.deepEqual(
      h.entries({ kinds: ['error'] }).map((e) => [e.time, e.summary, e.outcome]),
      [
        [1, 'connect ECONNREFUSED', 'transient'],
        [4, 'Access denied', 'terminal'],
      ],
    );
    assert.deepEqual(h.entries({ kinds: ['error'] })[0]?.detail, { code: 'sql.unreachable' });
    // Each target has its own last error.
    h.commitPass(pass({ host: 'db2', time: 6, state: 'failing', error: err('Access denied') }));
    assert.equal(h.entries({ kinds: ['error'] }).length, 3);
    // A clean pass clears it: the same error later is new again.
    h.commitPass(pass({ time: 7 }));
    h.commitPass(pass({ time: 8, state: 'stalled', error: err('Access denied', true) }));
    assert.equal(h.entries({ kinds: ['error'], host: 'db1' }).length, 3);
    const st = h.status(T)[0];
    assert.equal(st?.lastError, 'Access denied');
    assert.equal(st?.lastErrorAt, 8);
    assert.equal(st?.state, 'stalled');
  } finally {
    h.close();
  }
});

test('a Secret in a drift value is written as "[secret]": its value is nowhere in the file', () => {
  const path = fresh();
  const value = 'Sup3r-S3cret-Value-9f8e7d';
  const h = History.open(path);
  const secret = new Secret(value, 'env:APP_PW');
  const d = {
    resource: "mysql.user 'app'@'%'",
    field: 'password',
    summary: 'MARKER-password-differs',
    desired: { password: secret, list: [secret] },
    observed: 'a different password',
  };
  h.recordDrift(T, [d], 'v1', 1000);
  h.commitPass(
    pass({
      time: 1100,
      drift: [d],
      observed: new Map([["mysql.user 'app'@'%'", JSON.stringify({ user: 'app', password: secret })]]),
    }),
  );
  h.actionStarted(
    T,
    {
      resource: d.resource,
      summary: 'set password',
      risk: 'safe',
      action: 'alter',
      statements: ['ALTER USER `app`@`%` IDENTIFIED WITH caching_sha2_password BY ?'],
    },
    'v1',
    1200,
  );
  assert.deepEqual(h.entries({ kinds: ['drift'] })[0]?.detail, {
    desired: { password: '[secret]', list: ['[secret]'] },
    observed: 'a different password',
  });

  const raw = () =>
    [path, `${path}-wal`, `${path}-shm`]
      .filter((p) => existsSync(p))
      .map((p) => readFileSync(p))
      .reduce((a, b) => Buffer.concat([a, b]), Buffer.alloc(0));
  const marker = Buffer.from('MARKER-password-differs');
  const needles = [
    Buffer.from(value, 'utf8'),
    Buffer.from(value, 'utf16le'),
    Buffer.from(Buffer.from(value).toString('base64')),
  ];
  let bytes = raw();
  assert.ok(bytes.includes(marker), 'the raw bytes hold the entry (the check reads the right bytes)');
  for (const nd of needles) assert.ok(!bytes.includes(nd), 'the secret value is not in the file or its WAL');
  h.close();
  // After close the WAL is checkpointed into the main file.
  bytes = readFileSync(path);
  assert.ok(bytes.includes(marker));
  for (const nd of needles) assert.ok(!bytes.includes(nd));
});

test('History.open readonly on a missing file throws history.missing and creates nothing', () => {
  const path = join(dir, 'missing', 'history.db');
  assert.throws(
    () => History.open(path, { readonly: true }),
    (err: unknown) => err instanceof SetpointError && err.code === 'history.missing' && err.message.includes(path),
  );
  assert.equal(existsSync(path), false);
  assert.equal(existsSync(join(dir, 'missing')), false);
});

test('History.open readonly reads what the daemon wrote and cannot write', () => {
  const path = fresh();
  const w = History.open(path, { daemonId: 'd' });
  w.event('written', undefined, 5);
  const r = History.open(path, { readonly: true });
  try {
    assert.deepEqual(
      r.entries().map((e) => e.summary),
      ['written'],
    );
    assert.throws(() => r.event('nope'), /readonly/i);
  } finally {
    r.close();
    w.close();
  }
});

test('forgetTargets keeps only the listed targets', () => {
  const h = History.open(fresh());
  try {
    h.commitPass(pass({ time: 1 }));
    h.commitPass(pass({ host: 'db2', time: 1 }));
    h.commitPass(pass({ cluster: 'reporting', time: 1 }));
    h.forgetTargets([T, { cluster: 'reporting', host: 'db1' }]);
    assert.deepEqual(
      h.status().map((s) => `${s.cluster}/${s.host}`),
      ['orders/db1', 'reporting/db1'],
    );
    assert.deepEqual(
      h.status({ cluster: 'reporting' }).map((s) => s.host),
      ['db1'],
    );
  } finally {
    h.close();
  }
});

// SQLite takes a zero-length file as a new database.
test('an empty pre-existing file becomes a history file with mode 0600', () => {
  const path = join(dir, 'empty.db');
  writeFileSync(path, '', { mode: 0o666 });
  chmodSync(path, 0o666);
  const h = History.open(path);
  try {
    assert.equal(mode(path), 0o600);
    assert.equal(h.db.pragma('user_version', { simple: true }), migrations.length);
  } finally {
    h.close();
  }
});

test('a partial observation (some kinds unreachable) leaves the unseen kinds as they were', () => {
  const h = History.open(fresh());
  h.commitPass(
    pass({
      time: 1000,
      observed: new Map([
        ['host.facts db1', '{"os":"x"}'],
        ['mysql.user app', '{}'],
      ]),
    }),
  );
  h.commitPass(
    pass({ time: 2000, observed: new Map([['host.facts db1', '{"os":"x"}']]), kinds: new Set(['host.facts']) }),
  );
  assert.equal(count(h, 'observations WHERE state IS NULL'), 0, 'mysql.user was not seen, so not gone');
  h.recordDrift(
    T,
    [{ resource: 'mysql.user app', field: 'locked', summary: 's', desired: true, observed: false }],
    'v1',
    2500,
  );
  h.commitPass(
    pass({
      time: 3000,
      drift: [],
      observed: new Map([['host.facts db1', '{"os":"x"}']]),
      kinds: new Set(['host.facts']),
    }),
  );
  assert.equal(count(h, "entries WHERE kind = 'drift' AND outcome = 'open'"), 1, 'drift on an unseen kind stays open');
  h.close();
});

test('retention thins superseded observations older than the cut-off and keeps the latest of every resource', async () => {
  const h = History.open(fresh());
  for (let t = 1; t <= 5; t++)
    h.commitPass(
      pass({
        time: t * 1000,
        observed: new Map([
          ['mysql.user a', `{"v":${t}}`],
          ['mysql.user b', '{"v":0}'],
        ]),
      }),
    );
  assert.equal(count(h, 'observations'), 6);
  // a@1000, a@2000 and a@3000 are older than the cut-off and replaced; b@1000 is old but still the latest of b.
  assert.equal(await h.thin(3500, 1), 3);
  assert.deepEqual(h.db.prepare('SELECT resource, time FROM observations ORDER BY resource, time').all(), [
    { resource: 'mysql.user a', time: 4000 },
    { resource: 'mysql.user a', time: 5000 },
    { resource: 'mysql.user b', time: 1000 },
  ]);
  assert.deepEqual(
    h.observedAt(T, 6000),
    new Map<string, unknown>([
      ['mysql.user a', { v: 5 }],
      ['mysql.user b', { v: 0 }],
    ]),
  );
  h.close();
});

test('a failed pass commit leaves no stale cache behind: a reused rowid is never mistaken for old drift', () => {
  const h = History.open(fresh());
  const bad = {
    type: 'Ready',
    status: 'False',
    reason: 'x',
    message: 'x',
    lastTransitionTime: 'x',
    observedGeneration: 'v1',
    extra: 1n,
  } as unknown as NonNullable<PassRecord['conditions']>[number];
  const drift = [{ resource: 'mysql.user app', field: 'locked', summary: 's', desired: true, observed: false }];
  assert.throws(() => h.commitPass(pass({ time: 1000, drift, conditions: [bad] })));
  assert.equal(count(h, 'entries'), 0, 'rolled back');
  const id = h.actionStarted(
    T,
    { resource: 'mysql.user app', summary: 'lock app', risk: 'safe', action: 'alter', statements: [] },
    'v1',
    1500,
  );
  h.commitPass(pass({ time: 2000, drift: [] }));
  assert.equal(
    (h.db.prepare('SELECT outcome FROM entries WHERE id = ?').get(id) as { outcome: string }).outcome,
    'running',
    'the action row was not "resolved" as drift',
  );
  h.close();
});

test('another writer on the same file (apply, pause) makes this writer reload what it cached', () => {
  const path = fresh();
  const daemon = History.open(path, { daemonId: 'd' });
  const apply = History.open(path, { daemonId: 'a' });
  daemon.commitPass(pass({ time: 1000, drift: [] }));
  apply.recordDrift(
    T,
    [{ resource: 'mysql.database x', field: 'present', summary: 's', desired: true, observed: false }],
    'v1',
    1100,
  );
  daemon.commitPass(pass({ time: 2000, drift: [] }));
  assert.equal(
    count(daemon, "entries WHERE kind = 'drift' AND outcome = 'resolved'"),
    1,
    'the drift the other writer opened is resolved, not left open for ever',
  );
  apply.close();
  daemon.close();
});
