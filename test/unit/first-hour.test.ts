/**
 * Issue 14 ("the first hour of a new user"), the pure parts: colour only on a terminal, the plan's
 * before -> after and summary, status that fits 80–120 columns, help wrapping, readable log lines,
 * errors that say what to fix, and metric names that pass Prometheus' rules.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { colorWanted, paint } from '../../src/color.js';
import { renderPlan, planSummary, fieldLines, type PlanOutcome } from '../../src/cli/render-plan.js';
import { renderStatus, lastActionText, currentError } from '../../src/cli/render-status.js';
import { middleCut } from '../../src/cli/history.js';
import { unwrap, wrapLines } from '../../src/cli/basics.js';
import { count, humanDuration, textLine } from '../../src/log.js';
import { declarationPath } from '../../src/spec/declared.js';
import { connectError, refused } from '../../src/loop/reconcile.js';
import { Metrics } from '../../src/metrics.js';
import type { TargetStatus } from '../../src/history/readers.js';
import type { Condition, PlannedChange } from '../../src/status.js';
import type { PassOutcome } from '../../src/loop/reconcile.js';

// eslint-disable-next-line no-control-regex -- escape sequences are what is looked for
const ESC = /\u001b\[/;

test('colour: on a terminal only; NO_COLOR wins over a terminal; FORCE_COLOR forces it on a pipe', () => {
  assert.equal(colorWanted({ isTTY: true }, {}), true);
  assert.equal(colorWanted({ isTTY: false }, {}), false);
  assert.equal(colorWanted({}, {}), false);
  assert.equal(colorWanted({ isTTY: true }, { NO_COLOR: '1' }), false);
  assert.equal(colorWanted({ isTTY: true }, { NO_COLOR: '1', FORCE_COLOR: '1' }), false);
  assert.equal(colorWanted({ isTTY: false }, { FORCE_COLOR: '1' }), true);
  assert.equal(colorWanted({ isTTY: true }, { FORCE_COLOR: '0' }), true);
  assert.equal(colorWanted({ isTTY: false }, { FORCE_COLOR: '' }), false, 'an empty FORCE_COLOR is unset');
  assert.equal(colorWanted({ isTTY: false }, { FORCE_COLOR: '0' }), false);
  assert.equal(colorWanted({ isTTY: true }, { TERM: 'dumb' }), false);
  assert.equal(paint(false).red('x'), 'x');
  assert.match(paint(true).red('x'), ESC);
});

const change = (over: Partial<PlannedChange>): PlannedChange => ({
  cluster: 'orders',
  host: 'db1',
  resource: 'mysql.database orders',
  action: 'create',
  risk: 'safe',
  summary: 'create database orders',
  status: 'run',
  ...over,
});

const planOutcome: PlanOutcome = {
  target: { key: 'orders/db1' },
  server: 'MariaDB 10.11.6',
  drift: [
    { resource: 'mysql.database orders', field: 'present', summary: '', desired: true, observed: false },
    { resource: 'mysql.variable max_connections', field: 'value', summary: '', desired: 500, observed: '200' },
    {
      resource: "mysql.user 'app'@'%'",
      field: 'password',
      summary: '',
      desired: '[secret]',
      observed: 'a different password',
    },
    { resource: "mysql.user 'app'@'%'", field: 'maxConnections', summary: '', desired: 200, observed: 0 },
    {
      resource: "mysql.grant 'app'@'%' on orders.*",
      field: 'privileges',
      summary: '',
      desired: ['SELECT', 'INSERT'],
      observed: ['SELECT'],
    },
    { resource: "mysql.user 'old'@'%'", field: 'absent', summary: '', desired: false, observed: true },
  ],
  changes: [
    change({}),
    change({
      resource: 'mysql.variable max_connections',
      action: 'set',
      summary: 'SET GLOBAL max_connections = 500',
    }),
    change({
      resource: "mysql.user 'app'@'%'",
      action: 'alter',
      summary: "set password, MAX_USER_CONNECTIONS 200 for 'app'@'%'",
    }),
    change({ resource: "mysql.grant 'app'@'%' on orders.*", action: 'grant', summary: 'grant INSERT on orders.*' }),
    change({
      resource: "mysql.user 'old'@'%'",
      action: 'drop',
      risk: 'destructive',
      summary: "drop undeclared user 'old'@'%'",
      status: 'waiting',
      reason: 'prune is off for users',
      code: 'prune',
    }),
  ],
};

test('plan: every changed field as before -> after, secrets as "(changed)", and a closing summary', () => {
  const text = renderPlan([planOutcome, { target: { key: 'orders/db2' }, changes: [] }]);
  assert.doesNotMatch(text, ESC, 'no colour unless asked for');
  assert.match(text, /^orders\/db1 \(MariaDB 10\.11\.6\): 5 changes$/m);
  assert.match(text, /^ {2}\+ safe {8}create database orders$/m);
  assert.match(text, /^ {6}~ max_connections: 200 -> 500$/m);
  assert.match(text, /^ {6}~ maxConnections: 0 -> 200$/m);
  assert.match(text, /^ {6}~ password: \(changed; secrets are not shown\)$/m);
  assert.match(text, /^ {6}~ privileges: SELECT -> SELECT, INSERT$/m);
  assert.match(text, /^ {2}- destructive drop undeclared user 'old'@'%'\n {6}waiting: prune is off for users$/m);
  assert.match(text, /^orders\/db2: no changes$/m);
  assert.match(text, /^Plan: 2 to add, 2 to change, 1 to destroy \(5 changes on 2 targets, 1 waiting on policy\)\.$/m);
  assert.doesNotMatch(text, /\[secret\]|a different password/);
  // Each resource's fields once, under its first change.
  assert.equal(text.match(/max_connections: 200 -> 500/g)?.length, 1);
  const coloured = renderPlan([planOutcome], paint(true));
  assert.match(coloured, ESC);
  assert.equal(
    // eslint-disable-next-line no-control-regex -- removing the colour gives the plain text back
    coloured.replace(/\u001b\[\d+m/g, ''),
    renderPlan([planOutcome]),
  );
});

test('plan: errors and an empty plan still end with the summary; a name cannot forge lines', () => {
  const text = renderPlan([
    { target: { key: 'orders/db1' }, error: { message: 'connect ECONNREFUSED' }, changes: [] },
    {
      target: { key: 'orders/db2' },
      drift: [{ resource: 'mysql.database a\nb', field: 'charset', summary: '', desired: 'utf8mb4', observed: 'x\ny' }],
      changes: [change({ resource: 'mysql.database a\nb', action: 'alter', summary: 'alter database a\nb' })],
    },
  ]);
  assert.match(text, /^orders\/db1: ERROR connect ECONNREFUSED$/m);
  assert.match(text, /charset: x\\ny -> utf8mb4/);
  assert.match(text, /^Plan: 0 to add, 1 to change, 0 to destroy \(1 change on 2 targets, 1 target not observed\)\.$/m);
  assert.equal(planSummary([]), '0 to add, 0 to change, 0 to destroy');
  assert.deepEqual(
    fieldLines([{ resource: 'pg.role app', field: 'validUntil', summary: '', desired: null, observed: 'infinity' }]),
    ['validUntil: infinity -> (none)'],
  );
});

const cond = (type: Condition['type'], status: Condition['status']): Condition => ({
  type,
  status,
  reason: 'R',
  message: 'm',
  lastTransitionTime: '2026-11-26T10:00:00Z',
  observedGeneration: 'v1',
});

const NOW = Date.parse('2026-11-26T12:00:00Z');
const row = (over: Partial<TargetStatus>): TargetStatus => ({
  cluster: 'orders',
  host: 'db1',
  specVersion: '67fb42f879a6',
  server: 'MariaDB 10.11.6',
  state: 'converged',
  drift: 0,
  waiting: 0,
  message: 'converged',
  observedAt: NOW - 12_000,
  passAt: NOW - 12_000,
  lastAction: "create user 'app'@'127.%' with a rather long summary that goes on and on and on (ok)",
  lastActionAt: NOW - 180_000,
  lastError: null,
  lastErrorAt: null,
  nextAt: NOW + 18_000,
  conditions: [
    cond('Ready', 'True'),
    cond('Progressing', 'False'),
    cond('Degraded', 'False'),
    cond('Stalled', 'False'),
  ],
  ...over,
});

test('status: fits 80 and 120 columns; a stale error is not shown; paused says paused; the last action keeps its outcome', () => {
  const rows = [
    row({
      lastError: 'Access denied for user root (ER_ACCESS_DENIED_ERROR)',
      lastErrorAt: NOW - 3_600_000,
    }),
    row({
      host: 'db2',
      state: 'stalled',
      message:
        'host db2 (10.0.0.12:3306) refused the login as setpoint: Access denied; check the password in file:/etc/setpoint/mysql.pw',
      lastError:
        'host db2 (10.0.0.12:3306) refused the login as setpoint: Access denied; check the password in file:/etc/setpoint/mysql.pw',
      lastErrorAt: NOW - 12_000,
      lastAction: 'grant SELECT on orders.* (failed)',
      conditions: [cond('Ready', 'False'), cond('Stalled', 'True')],
    }),
    row({ host: 'db3', state: 'drifted', drift: 2, message: '2 drift' }),
  ];
  const paused = new Map([['orders/db3', 'migrating by hand']]);
  for (const width of [80, 100, 120]) {
    const text = renderStatus(rows, { width, wide: false, now: NOW, paused });
    for (const line of text.trimEnd().split('\n'))
      assert.ok(line.length <= width, `${line.length} > ${width}: ${line}`);
    const [, db1, db2, db3] = text.split('\n');
    assert.doesNotMatch(db1 ?? '', /Access denied/, 'a converged row shows no stale error');
    assert.match(db1 ?? '', /ok 3m ago: create/);
    assert.match(db2 ?? '', /stalled .*failed 3m ago: grant/);
    assert.match(db2 ?? '', /host db2/);
    assert.match(db3 ?? '', /^orders\/db3 +paused /);
    assert.match(db3 ?? '', /paused: mig/);
  }
  const wide = renderStatus(rows, { width: 80, wide: true, now: NOW, paused });
  assert.match(wide, /check the password in file:\/etc\/setpoint\/mysql\.pw/, 'wide cuts nothing');
  assert.match(wide, /LAST ERROR/);
  assert.doesNotMatch(wide.split('\n')[1] ?? '', /Access denied/, 'not even wide shows a stale error');
  assert.equal(
    lastActionText('drop database x (interrupted)', NOW - 60_000, NOW),
    'interrupted 1m ago: drop database x',
  );
  assert.equal(currentError(row({ state: 'failing', lastError: 'e', lastErrorAt: NOW, passAt: NOW })), 'e');
  // A long target name is cut in the middle, and the row still fits.
  const long = renderStatus([row({ cluster: 'c'.repeat(40), host: 'db-finance-17' })], {
    width: 80,
    wide: false,
    now: NOW,
  });
  assert.match(long, /…\/db-finance-17 /);
  for (const line of long.trimEnd().split('\n')) assert.ok(line.length <= 80, line);
});

test('history: a long resource name is cut in the middle, so the object at its end stays', () => {
  const name = "mysql.grant 'reporting_service_account_for_finance'@'10.0.%' on analytics.*";
  const cut = middleCut(name, 48);
  assert.equal(cut.length, 48);
  assert.ok(cut.startsWith('mysql.grant '));
  assert.ok(cut.endsWith(' on analytics.*'));
  assert.equal(middleCut('short', 48), 'short');
});

test('help: descriptions are re-wrapped and every line fits the width', () => {
  assert.equal(
    unwrap('one line\nand the next.\n\nA new paragraph\n  indented'),
    'one line and the next.\n\nA new paragraph\n  indented',
  );
  const text = wrapLines(
    '  --json  ' +
      'word '.repeat(30) +
      '\nshort\n  setpoint history --cluster orders --since 1h --kind drift,action,error,spec,event',
    40,
  );
  for (const line of text.split('\n')) assert.ok(line.length <= 40, line);
  assert.match(text, /^short$/m);
  assert.match(text, /^ {4}word/m, 'a continuation is indented under its line');
});

test('log lines: durations in human units, counts that say what they count, colour only when asked', () => {
  assert.equal(humanDuration(850), '850ms');
  assert.equal(humanDuration(12_000), '12s');
  assert.equal(humanDuration(253_000), '4m13s');
  assert.equal(humanDuration(3_720_000), '1h2m');
  assert.equal(humanDuration(90_000_000), '1d1h');
  const line = textLine('2026-11-26T14:31:02.113Z', 'warn', 'pass failed', {
    cluster: 'orders',
    error: 'connect ECONNREFUSED',
    retryInMs: 253_000,
    changed: count(2, 'target'),
    added: count(1, 'target'),
  });
  assert.equal(
    line,
    '14:31:02 warn  pass failed  cluster=orders error="connect ECONNREFUSED" retry in 4m13s changed=2 targets added=1 target',
  );
  assert.doesNotMatch(line, ESC);
  assert.match(textLine('2026-11-26T14:31:02.113Z', 'error', 'stalled', {}, paint(true)), ESC);
  // JSON keeps numbers: scripts and tests read retryInMs and the counts as numbers.
  assert.equal(JSON.stringify({ changed: count(2, 'target') }), '{"changed":2}');
});

test('a refused statement names the resource and where the file declares it', () => {
  const cluster = {
    engine: 'mysql',
    members: ['db1'],
    databases: [{ name: 'shop' }, { name: 'orders', charset: 'utf8mb4' }],
    users: [
      { name: 'app', host: '127.%', grants: [{ on: 'shop.*' }, { on: 'orders.*' }] },
      { name: 'reporting', host: '%', grants: [{ on: 'orders.*' }] },
    ],
    settings: { max_connections: 500, binlog_format: 'ROW' },
  };
  assert.deepEqual(declarationPath(cluster, 'orders'), ['databases', 1]);
  assert.deepEqual(declarationPath(cluster, "'app'@'127.%' on orders.*"), ['users', 0, 'grants', 1]);
  assert.deepEqual(declarationPath(cluster, "'reporting'@'%'"), ['users', 1]);
  assert.deepEqual(declarationPath(cluster, 'max_connections'), ['settings', 'max_connections']);
  assert.equal(declarationPath(cluster, 'nothing-like-it'), undefined);
  const t = { cluster: 'shop', clusterSpec: cluster as never };
  const e = refused(
    t,
    { kind: 'mysql.database', id: 'orders' },
    { terminal: true, code: 'sql.rejected', message: "Unknown character set: 'utf8mb5' (ER_UNKNOWN_CHARACTER_SET)" },
    (p) => `setpoint.yaml:12:9 ${p.join('.')}:`,
  );
  assert.equal(
    e.message,
    "mysql.database orders: Unknown character set: 'utf8mb5' (ER_UNKNOWN_CHARACTER_SET) (declared at setpoint.yaml:12:9 clusters.shop.databases.1)",
  );
  // The kind's own place wins; a lost connection is not a refused statement.
  assert.match(
    refused(t, { kind: 'k', id: 'orders', at: ['settings'] }, { terminal: true, code: 'sql.rejected', message: 'x' })
      .message,
    /declared at clusters\.shop\.settings\)$/,
  );
  const down = { terminal: false, code: 'sql.unreachable' as const, message: 'gone' };
  assert.equal(refused(t, { kind: 'k', id: 'orders' }, down), down);
});

test('an authentication failure names the host, its address, the account and the secret reference', () => {
  const engine = { hostKey: 'mysql' } as never;
  const auth = { terminal: true, code: 'sql.auth' as const, message: 'Access denied (ER_ACCESS_DENIED_ERROR)' };
  const withFile = connectError(
    {
      host: 'db1',
      engine,
      hostSpec: {
        address: '10.0.0.11',
        mysql: { port: 3306, user: 'setpoint', password: { file: '/etc/setpoint/mysql.pw' } },
      },
    },
    auth,
    (p) => `setpoint.yaml:7:5 ${p.join('.')}:`,
  );
  assert.equal(
    withFile.message,
    'host db1 (10.0.0.11:3306) refused the login as setpoint: Access denied (ER_ACCESS_DENIED_ERROR); check the password in file:/etc/setpoint/mysql.pw (setpoint.yaml:7:5 hosts.db1.mysql.password)',
  );
  const withEnv = connectError(
    {
      host: 'pg1',
      engine: { hostKey: 'postgres' } as never,
      hostSpec: { address: 'pg1.example', postgres: { user: 'postgres', password: { env: 'PG_PW' } } },
    },
    auth,
  );
  assert.match(
    withEnv.message,
    /^host pg1 \(pg1\.example\) refused the login as postgres: .*check the password in env:PG_PW \(hosts\.pg1\.postgres\.password\)$/,
  );
  const none = connectError({ host: 'db2', engine, hostSpec: { address: '10.0.0.12', mysql: { user: 'root' } } }, auth);
  assert.match(none.message, /no password is declared \(hosts\.db2\.mysql\): declare one/);
  const other = { terminal: false, code: 'sql.unreachable' as const, message: 'ECONNREFUSED' };
  assert.equal(connectError({ host: 'db1', engine, hostSpec: { address: 'x' } }, other), other);
});

/** Prometheus' metric naming rules that `promtool check metrics` enforces. */
function lintMetrics(text: string): string[] {
  const problems: string[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (m !== null) types.set(m[1] as string, m[2] as string);
  }
  for (const [name, type] of types) {
    if (type !== 'counter' && name.endsWith('_total')) problems.push(`${name}: non-counter named _total`);
    if (type === 'counter' && !name.endsWith('_total')) problems.push(`${name}: counter not named _total`);
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(name)) problems.push(`${name}: invalid name`);
    if (!text.includes(`# HELP ${name} `)) problems.push(`${name}: no HELP`);
  }
  return problems;
}

test('metrics: names follow the Prometheus rules; a gauge per target and condition; /readyz waits for every target to be observed', async () => {
  let inForce: { key: string; fingerprint: string }[] | undefined;
  const m = new Metrics({ targets: () => inForce, depth: () => ({ ready: 0, running: 0, scheduled: 0 }) });
  assert.equal(m.notReady(), 'no spec loaded');
  inForce = [
    { key: 'orders/db1', fingerprint: 'f1' },
    { key: 'orders/db2', fingerprint: 'f2' },
  ];
  const outcome = (host: string, fingerprint: string, over: Partial<PassOutcome> = {}): PassOutcome =>
    ({
      target: { key: `orders/${host}`, cluster: 'orders', host, fingerprint },
      state: 'converged',
      changes: [],
      drift: [],
      observedKinds: new Set(),
      complete: true,
      made: 0,
      failed: 0,
      disrupted: false,
      actions: [],
      time: 0,
      endedAt: 1,
      statements: 0,
      bytesIn: 0,
      commands: 0,
      ...over,
    }) as unknown as PassOutcome;
  m.observe(outcome('db1', 'f1'), [cond('Ready', 'True'), cond('Stalled', 'False')]);
  // db2 stalled on a refused login: never observed, so not ready (it used to be, once it had a pass at all).
  m.observe(
    outcome('db2', 'f2', {
      state: 'stalled',
      complete: false,
      error: { terminal: true, code: 'sql.auth', message: 'Access denied' },
    }),
    [cond('Ready', 'False'), cond('Stalled', 'True')],
  );
  assert.match(m.notReady() ?? '', /not observed successfully since the file was loaded: orders\/db2$/);
  m.observe(outcome('db2', 'f2'), [cond('Ready', 'True'), cond('Stalled', 'False')]);
  assert.equal(m.notReady(), undefined);
  // A new version of db2's part of the file: not ready until it is observed under it.
  inForce = [
    { key: 'orders/db1', fingerprint: 'f1' },
    { key: 'orders/db2', fingerprint: 'f3' },
  ];
  assert.match(m.notReady() ?? '', /orders\/db2/);
  const text = await m.registry.metrics();
  assert.deepEqual(lintMetrics(text), []);
  assert.match(text, /^setpoint_condition\{cluster="orders",host="db1",condition="Ready"\} 1$/m);
  assert.match(text, /^setpoint_condition\{cluster="orders",host="db2",condition="Stalled"\} 0$/m);
  assert.match(text, /^setpoint_nodejs_active_handles(\{[^}]*\})? \d+$/m);
  assert.doesNotMatch(text, /_active_handles_total/);
});
