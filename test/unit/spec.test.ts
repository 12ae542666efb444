import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { after, test } from 'node:test';
import { engines } from '../../agents/index.js';
import { SpecError, formatProblem } from '../../src/errors.js';
import { parseSpec } from '../../src/spec/load.js';
import { resolveSecret } from '../../src/secret.js';
import { historyError } from '../../src/history/errors.js';
import { printable, table } from '../../src/cli/basics.js';

const dir = mkdtempSync(join(tmpdir(), 'setpoint-spec-'));
const pw = join(dir, 'pw');
// A secret as a secret file should be: 0600, and removed with its folder when the tests end.
writeFileSync(pw, 'hunter2-value\n', { mode: 0o600 });
after(() => rmSync(dir, { recursive: true, force: true }));

function problems(text: string): string[] {
  try {
    parseSpec(text, 'f.yaml', engines);
  } catch (err) {
    assert.ok(err instanceof SpecError, String(err));
    return err.problems.map(formatProblem);
  }
  assert.fail('expected the spec to be rejected');
}

test('the shipped example validates (with its secrets present) and gets defaults', () => {
  process.env.ORDERS_APP_PASSWORD = 'x';
  process.env.ORDERS_DBA_PASSWORD = 'y';
  process.env.ORDERS_ETL_PASSWORD = 'z';
  const text = readFileSync('config/setpoint.example.yaml', 'utf8')
    .replaceAll('/etc/setpoint/mysql.pw', pw)
    .replaceAll('/etc/setpoint/reporting.pw', pw);
  const s = parseSpec(text, 'example.yaml', engines);
  assert.equal(s.spec.policy.resyncSeconds, 30);
  assert.equal(s.spec.policy.concurrency, 8);
  const orders = s.spec.clusters.orders as unknown as { users: { host: string; name: string }[]; members: string[] };
  assert.deepEqual(orders.members, ['db1', 'db2']);
  assert.equal(orders.users.find((u) => u.name === 'reporting')?.host, '%');
  assert.match(s.version, /^[0-9a-f]{12}$/);
  assert.ok(!s.text.includes('hunter2'), 'the loaded spec keeps references, not values');
});

test('every problem is reported at once, as FILE:LINE:COL path: message', () => {
  const text = `version: 1
hosts:
  db1:
    address: 10.0.0.1
    mysql: { port: "3306", user: root }
clusters:
  orders:
    engine: mysql
    members: [db1, db9]
    databses: []
    users:
      - name: app
        host: 5
        password: { env: SETPOINT_TEST_NOT_SET }
policy:
  resyncSeconds: -1
`;
  const got = problems(text);
  assert.deepEqual(got, [
    'f.yaml:5:20 hosts.db1.mysql.port: expected number, received string',
    'f.yaml:10:5 clusters.orders.databses: unknown key "databses" (did you mean "databases"?)',
    'f.yaml:13:15 clusters.orders.users[0].host: expected string, received number',
    'f.yaml:16:18 policy.resyncSeconds: Too small: expected number to be >=1',
  ]);
});

test('unknown keys are errors at any depth, with a did-you-mean', () => {
  const text = `version: 1
hosts:
  db1: { address: 10.0.0.1, mysql: { user: root, pasword: { env: X } } }
clusters:
  orders:
    engine: mysql
    members: [db1]
    users:
      - name: app
        password: { file: ${pw} }
        grants:
          - { privilges: [SELECT], on: "a.*" }
policy: { resyncSecond: 5, backoff: { maxSeconds: 60, min: 1 } }
`;
  assert.deepEqual(problems(text), [
    'f.yaml:3:50 hosts.db1.mysql.pasword: unknown key "pasword" (did you mean "password"?)',
    'f.yaml:12:13 clusters.orders.users[0].grants[0]: missing required key "privileges"',
    'f.yaml:12:15 clusters.orders.users[0].grants[0].privilges: unknown key "privilges" (did you mean "privileges"?)',
    'f.yaml:13:11 policy.resyncSecond: unknown key "resyncSecond" (did you mean "resyncSeconds"?)',
    'f.yaml:13:55 policy.backoff.min: unknown key "min"',
  ]);
});

test('members must be declared hosts with a connection for the engine; missing secrets name the reference only', () => {
  process.env.SETPOINT_TEST_SECRET = 'do-not-print-me';
  const text = `version: 1
hosts:
  db1:
    address: 10.0.0.1
    mysql: { user: root, password: { env: SETPOINT_TEST_NOT_SET } }
  db2:
    address: 10.0.0.2
clusters:
  orders:
    engine: mysql
    members: [db1, db2, db9]
    users:
      - { name: app, password: { env: SETPOINT_TEST_SECRET } }
      - { name: app2, password: { file: /nonexistent/setpoint/pw } }
`;
  const got = problems(text);
  assert.deepEqual(got, [
    'f.yaml:11:20 clusters.orders.members[1]: host "db2" has no mysql connection (add hosts.db2.mysql)',
    'f.yaml:11:25 clusters.orders.members[2]: unknown host "db9" (declare it under hosts)',
  ]);
  // Fix the members: now the secrets are checked.
  const got2 = problems(text.replace('[db1, db2, db9]', '[db1]'));
  assert.deepEqual(got2, [
    'f.yaml:5:36 hosts.db1.mysql.password: secret env:SETPOINT_TEST_NOT_SET is not set in the environment',
    'f.yaml:14:33 clusters.orders.users[1].password: secret file:/nonexistent/setpoint/pw cannot be read (ENOENT)',
  ]);
  assert.ok(!got2.join('\n').includes('do-not-print-me'));
});

test('YAML syntax errors and duplicate keys are located', () => {
  const got = problems('version: 1\nhosts:\n  db1:\n    address: [10.0.0.1\n');
  assert.equal(got.length >= 1, true);
  assert.match(got[0] ?? '', /^f\.yaml:\d+:\d+ \(document\): /);
  const dup = problems('version: 1\nhosts: {}\nhosts: {}\n');
  assert.match(dup[0] ?? '', /^f\.yaml:3:1 \(document\): Map keys must be unique/);
});

test('hostile names: NUL bytes, over-long names and system accounts are rejected with clear messages', () => {
  const text = `version: 1
hosts:
  db1: { address: 10.0.0.1, mysql: { user: root } }
clusters:
  c:
    engine: mysql
    members: [db1]
    databases:
      - { name: "a\\0b" }
      - { name: "${'x'.repeat(65)}" }
      - { name: mysql }
    users:
      - { name: root, password: { file: ${pw} } }
      - { name: "u'; DROP USER root; --", password: { file: ${pw} }, grants: [{ privileges: ["SELECT; DROP"], on: "a.*" }] }
      - { name: v, password: { file: ${pw} }, grants: [{ privileges: [SELECT], on: "*.t" }, { privileges: [SELECT], on: "\`a.b" }] }
`;
  const got = problems(text);
  assert.deepEqual(got, [
    'f.yaml:9:17 clusters.c.databases[0].name: database name must not contain a NUL byte',
    'f.yaml:10:17 clusters.c.databases[1].name: database name is longer than 64 characters',
    'f.yaml:11:17 clusters.c.databases[2].name: a system schema is never managed',
    'f.yaml:13:17 clusters.c.users[0].name: a system account is never managed',
    'f.yaml:14:117 clusters.c.users[1].grants[0].privileges[0]: "SELECT; DROP" is not a privilege name',
    'f.yaml:15:107 clusters.c.users[2].grants[0].on: "*.t" is not a grant target: use "*.*" or "db.t"',
    'f.yaml:15:144 clusters.c.users[2].grants[1].on: unterminated backquote in "`a.b"',
  ]);
});

test('duplicate databases, accounts and grant targets are errors', () => {
  const text = `version: 1
hosts:
  db1: { address: 10.0.0.1, mysql: { user: root } }
clusters:
  c:
    engine: mysql
    members: [db1]
    databases: [{ name: a }, { name: a }]
    users:
      - { name: u, host: "%", password: { file: ${pw} }, grants: [{ privileges: [SELECT], on: a.* }, { privileges: [INSERT], on: "\`a\`.*" }] }
      - { name: u, password: { file: ${pw} } }
`;
  const got = problems(text);
  assert.equal(got.length, 3, got.join('\n'));
  assert.match(got[0] ?? '', /databases\[1\]\.name: database "a" is already declared at databases\[0\]/);
  assert.match(got[1] ?? '', /users\[0\]\.grants\[1\]\.on: grants\[0\] of this user is on the same object/);
  assert.match(got[2] ?? '', /users\[1\]: user 'u'@'%' is already declared at users\[0\]/);
});

test('a Secret never prints its value', () => {
  const s = resolveSecret({ file: pw });
  assert.equal(s.reveal(), 'hunter2-value');
  assert.equal(String(s), '[secret]');
  assert.equal(JSON.stringify({ s }), '{"s":"[secret]"}');
  assert.ok(!inspect(s).includes('hunter2'));
  assert.ok(!`${String(s)}`.includes('hunter2'));
});

test('driver errors lose every secret value they quote, and the formatted statement', async () => {
  const { redactError } = await import('../../src/secret.js');
  const pw = "it's\\x";
  const err = Object.assign(new Error(`You have an error in your SQL syntax near 'BY 'it\\'s\\\\x'' at line 1`), {
    sql: `ALTER USER u IDENTIFIED BY 'it\\'s\\\\x'`,
    sqlMessage: `near 'BY 'it\\'s\\\\x''`,
  });
  redactError(err, [pw]);
  assert.ok(!err.message.includes('it\\'), err.message);
  assert.match(err.message, /BY '\[secret\]'/);
  assert.equal((err as { sql?: string }).sql, undefined);
  assert.equal(err.sqlMessage, "near 'BY '[secret]''");
});

test('secrets: empty, newline-only, non-regular and oversized are refused with the reference named; EACCES names the user', () => {
  const dir = mkdtempSync(join(tmpdir(), 'setpoint-secret-'));
  try {
    const f = (name: string, text: string) => {
      const p = join(dir, name);
      writeFileSync(p, text, { mode: 0o600 });
      return p;
    };
    assert.throws(
      () => resolveSecret({ file: f('e', '') }),
      /secret file:.*\/e is empty: an empty secret is never used as a password/,
    );
    assert.throws(() => resolveSecret({ file: f('n', '\r\n') }), /is empty \(only a newline\)/);
    assert.throws(() => resolveSecret({ file: f('s', '  \n') }), /is empty/);
    assert.throws(() => resolveSecret({ file: dir }), /is a directory: secrets are read from regular files only/);
    assert.throws(() => resolveSecret({ file: '/dev/null' }), /is a device/);
    assert.throws(() => resolveSecret({ file: f('big', 'x'.repeat(65 * 1024)) }), /larger than 64 KiB/);
    assert.equal(resolveSecret({ file: f('ok', 'pw\n') }).reveal(), 'pw');
    process.env.SETPOINT_SPEC_TEST_EMPTY = '';
    assert.throws(
      () => resolveSecret({ env: 'SETPOINT_SPEC_TEST_EMPTY' }),
      /env:SETPOINT_SPEC_TEST_EMPTY is set but empty/,
    );
    const denied = historyError(Object.assign(new Error('x'), { code: 'EACCES' }), '/var/lib/setpoint/history.db');
    assert.match(
      denied.message,
      /^history file \/var\/lib\/setpoint\/history\.db: permission denied for user \S+ \(uid \d+\): make \/var\/lib\/setpoint and the file writable/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('text output escapes control characters, so a name cannot forge lines', () => {
  assert.equal(printable('evil\nline\t\u001b[31m'), 'evil\\nline\\t\\x1b[31m');
  assert.equal(table(['A', 'B'], [['x\ny', 'z']]), 'A     B\nx\\ny  z\n');
});

test('the same problem at many places is printed once with a count; every one is kept for --json', () => {
  const users = Array.from({ length: 2000 }, (_, i) => `      - { name: u${i}, host: "%" }`).join('\n');
  const text = `version: 1
hosts:
  h: { address: 127.0.0.1, mysql: { user: root } }
clusters:
  c:
    engine: mysql
    members: [h]
    users:
${users}
    databases: [{ name: "bad name\\u0000" }]
`;
  let err: unknown;
  try {
    parseSpec(text, 'big.yaml', engines);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof SpecError);
  assert.equal(err.problems.filter((p) => /needs a password/.test(p.message)).length, 2000);
  const lines = err.message.split('\n');
  assert.match(lines[0] ?? '', /^big\.yaml:9:9 clusters\.c\.users\[0\]: a user needs a password/);
  assert.match(
    lines[1] ?? '',
    /^ {2}and 1,999 more like this: clusters\.c\.users\[1\] \(line 10\), clusters\.c\.users\[2\] \(line 11\), .*, \.\.\.$/,
  );
  // A different problem is its own line, not folded into the count.
  assert.ok(
    lines.some((l) => /databases\[0\]\.name: .*NUL/.test(l)),
    lines.join('\n'),
  );
  assert.equal(lines.length, 3);
  // A valid file of the same size takes the fast path: nothing composed, same data as the slow path.
  const ok = parseSpec(
    text.replace(/host: "%" \}/g, 'host: "%", password: { env: X } }').replace(/\n {4}databases.*\n/, '\n'),
    'big.yaml',
    engines,
    { secrets: false },
  );
  assert.equal((ok.spec.clusters.c as { users?: unknown[] } | undefined)?.users?.length, 2000);
});

test('MySQL privilege names are checked at validate, located, with a did-you-mean; dynamic ones are taken as given', () => {
  const file = (privs: string) => `version: 1
hosts:
  h: { address: 127.0.0.1, mysql: { user: root } }
clusters:
  c:
    engine: mysql
    members: [h]
    users:
      - { name: u, host: "%", password: { file: ${pw} }, grants: [{ privileges: [${privs}], on: "a.*" }] }
`;
  const got = problems(file('SELCT, INSERT, "CREATE TEMPORARY TABLE"'));
  assert.match(
    got[0] ?? '',
    /^f\.yaml:9:\d+ clusters\.c\.users\[0\]\.grants\[0\]\.privileges\[0\]: "SELCT" is not a privilege name \(did you mean "SELECT"\?\)/,
  );
  assert.match(
    got[1] ?? '',
    /privileges\[2\]: "CREATE TEMPORARY TABLE" is not a privilege name \(did you mean "CREATE TEMPORARY TABLES"\?\)/,
  );
  assert.equal(got.length, 2);
  // Known names in any spelling and alias, and MySQL 8 dynamic privileges (plugins register more), pass.
  const ok = parseSpec(
    file('select, "show  view", ALL, REPLICA MONITOR, BACKUP_ADMIN, SOME_PLUGIN_ADMIN'),
    'f.yaml',
    engines,
  );
  const users = (ok.spec.clusters.c as { users?: { grants: { privileges: string[] }[] }[] } | undefined)?.users;
  assert.deepEqual(users?.[0]?.grants[0]?.privileges, [
    'SELECT',
    'SHOW VIEW',
    'ALL PRIVILEGES',
    'SLAVE MONITOR',
    'BACKUP_ADMIN',
    'SOME_PLUGIN_ADMIN',
  ]);
});
