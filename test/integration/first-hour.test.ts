/**
 * Issue 14, "the first hour of a new user", against real MariaDB servers (127.0.35.x) and the built CLI:
 * listings piped into a reader that quits, help at 80 columns, the plan a DBA reads, apply's
 * confirmation on a real terminal (a pty from script(1)), errors that say what to fix (a refused
 * login, a refused statement, an unreadable secret as another user), and the daemon's readiness,
 * condition gauges, promtool-clean /metrics and log lines; the demo cleaning up however it is stopped.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { after, before, test } from 'node:test';
import { destroyAll, startHost } from '../../lab/index.js';
import { CLI, Daemon, ROOT, cli, jsonLines, mysqlRoot, tempDir, waitFor } from '../helpers.js';

const tmp = tempDir('first-hour');
const A1 = '127.0.35.1';
const A2 = '127.0.35.2';
const LISTEN = '127.0.35.1:19535';

before(async () => {
  await Promise.all([
    startHost({ name: 'f1', address: A1, mariadb: true }),
    startHost({ name: 'f2', address: A2, mariadb: true }),
  ]);
  tmp.file('app.pw', 'Fh-app-secret-93\n');
});
after(async () => {
  await destroyAll();
  tmp.cleanup();
});

function spec(address: string, body: string, conn = 'user: root', policy = ''): string {
  return `version: 1
hosts:
  h:
    address: ${address}
    mysql: { port: 3306, ${conn} }
clusters:
  fh:
    engine: mysql
    members: [h]
${body}
policy:
  resyncSeconds: 2
  backoff: { initialSeconds: 1, maxSeconds: 2 }
${policy}`;
}

/** Runs a shell pipeline; resolves with the shell's status, its stdout and stderr. */
function sh(
  cmd: string,
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const c = spawn('/bin/bash', ['-c', cmd], { cwd: ROOT, env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    c.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    c.on('close', (code) => done({ code, stdout, stderr }));
  });
}

const node = `"${process.execPath}" "${CLI}"`;

test('listings piped into head, grep -q or a pager that quits end quietly; help fits 80 columns when piped', async () => {
  const file = tmp.file(
    'pipe.yaml',
    spec(A1, '    databases:\n' + Array.from({ length: 40 }, (_, i) => `      - { name: pipe${i} }`).join('\n')),
  );
  const db = tmp.file('pipe.db');
  const first = await cli(['apply', '-f', file, '--once', '--db', db]);
  assert.equal(first.code, 0, first.stdout + first.stderr);
  for (const cmd of [
    `${node} status --json --db "${db}" | head -1`,
    `${node} status --db "${db}" | head -1`,
    `${node} history --db "${db}" | head -1`,
    `${node} history --json --db "${db}" | grep -q Ready`,
    `${node} history --db "${db}" | (read -r line; exit 0)`,
    `${node} plan -f "${file}" | head -1`,
    `${node} --help | head -1`,
  ]) {
    const r = await sh(`set -o pipefail; ${cmd}; echo "status=\${PIPESTATUS[0]}" >&2`);
    assert.match(r.stderr, /^status=(0|2)\n$/, `${cmd}: quiet, exit 0 or 2, no stack trace:\n${r.stderr}`);
  }
  // Help: every line of every command's help fits 80 columns when piped.
  for (const c of [
    '',
    'validate',
    'plan',
    'apply',
    'run',
    'status',
    'history',
    'hosts',
    'pause',
    'resume',
    'switchover',
  ]) {
    const r = await sh(`${node} ${c} --help | cat`);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Usage: setpoint/);
    for (const line of r.stdout.split('\n'))
      assert.ok(line.length <= 80, `setpoint ${c} --help: ${line.length} columns: ${line}`);
  }
});

test('plan shows before -> after for each field, a summary, and colour only when asked for', async () => {
  const root = await mysqlRoot(A1);
  await root.query("CREATE USER 'fhapp'@'%' IDENTIFIED BY 'something-else' WITH MAX_USER_CONNECTIONS 10");
  await root.query('CREATE DATABASE fhdb CHARACTER SET latin1');
  await root.end();
  const file = tmp.file(
    'plan.yaml',
    spec(
      A1,
      `    databases:
      - { name: fhdb, charset: utf8mb4 }
      - { name: fhnew }
    users:
      - name: fhapp
        password: { file: ${tmp.dir}/app.pw }
        maxConnections: 200`,
    ),
  );
  const plan = await cli(['plan', '-f', file], { env: { NO_COLOR: '', FORCE_COLOR: '' } });
  assert.equal(plan.code, 2, plan.stdout + plan.stderr);
  assert.match(plan.stdout, /^ {6}~ charset: latin1 -> utf8mb4$/m);
  assert.match(plan.stdout, /^ {6}~ maxConnections: 10 -> 200$/m);
  assert.match(plan.stdout, /^ {6}~ password: \(changed; secrets are not shown\)$/m);
  assert.match(plan.stdout, /^ {2}\+ safe +create database fhnew/m);
  assert.match(plan.stdout, /^Plan: 1 to add, 3 to change, 0 to destroy \(4 changes on 1 target\)\.$/m);
  // eslint-disable-next-line no-control-regex -- no escape sequence on a pipe
  assert.doesNotMatch(plan.stdout, /\u001b\[/);
  assert.ok(!plan.stdout.includes('Fh-app-secret-93') && !plan.stdout.includes('something-else'));
  const forced = await cli(['plan', '-f', file], { env: { FORCE_COLOR: '1', NO_COLOR: '' } });
  // eslint-disable-next-line no-control-regex -- FORCE_COLOR colours even a pipe
  assert.match(forced.stdout, /\u001b\[3\dm/);
  const none = await cli(['plan', '-f', file], { env: { FORCE_COLOR: '1', NO_COLOR: '1' } });
  // eslint-disable-next-line no-control-regex -- NO_COLOR wins
  assert.doesNotMatch(none.stdout, /\u001b\[/);
});

/** Runs `setpoint ARGS` on a pseudo-terminal (script(1)), typing `input`; returns what the terminal showed. */
function onTerminal(args: string[], input: string): { status: number | null; output: string } {
  const cmd = [process.execPath, CLI, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
  const r = spawnSync('script', ['-qefc', cmd, '/dev/null'], {
    cwd: ROOT,
    input,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, NO_COLOR: '1' },
  });
  return { status: r.status, output: r.stdout };
}

test('apply on a terminal shows the plan and asks before destructive changes; --yes and a pipe do not ask', async () => {
  assert.equal(spawnSync('script', ['--version']).status, 0, 'script(1) is installed (util-linux)');
  const root = await mysqlRoot(A2);
  await root.query("CREATE USER 'leftover'@'%'");
  const file = tmp.file('prune.yaml', spec(A2, '    prune: { users: true }\n    databases: [{ name: kept }]'));
  const db = tmp.file('prune.db');
  const exists = async () =>
    Number(
      ((await root.query("SELECT COUNT(*) AS n FROM mysql.user WHERE user = 'leftover'"))[0] as { n: unknown }[])[0]?.n,
    ) === 1;

  const no = onTerminal(['apply', '-f', file, '--once', '--db', db], 'no\n');
  assert.equal(no.status, 1, no.output);
  assert.match(no.output, /- destructive drop undeclared user 'leftover'@'%'/);
  assert.match(no.output, /Plan: 1 to add, 0 to change, 1 to destroy/);
  assert.match(no.output, /1 destructive change would run/);
  assert.match(no.output, /Not applied: nothing was changed/);
  assert.equal(await exists(), true, 'declined: the user is still there');
  const kept = (await root.query("SHOW DATABASES LIKE 'kept'"))[0] as unknown[];
  assert.equal(kept.length, 0, 'declined: not even the safe changes ran');

  const yes = onTerminal(['apply', '-f', file, '--once', '--db', db], 'yes\n');
  assert.equal(yes.status, 0, yes.output);
  assert.equal(await exists(), false, 'confirmed: dropped');

  await root.query("CREATE USER 'leftover'@'%'");
  const flag = onTerminal(['apply', '-f', file, '--once', '--db', db, '--yes'], '');
  assert.equal(flag.status, 0, flag.output);
  assert.doesNotMatch(flag.output, /Apply\?/);
  assert.equal(await exists(), false, '--yes: dropped without asking');

  await root.query("CREATE USER 'leftover'@'%'");
  const piped = await cli(['apply', '-f', file, '--once', '--db', db]);
  assert.equal(piped.code, 0, piped.stdout + piped.stderr);
  assert.doesNotMatch(piped.stdout, /Apply\?/);
  assert.equal(await exists(), false, 'no terminal: applied as before (scripts, CI)');
  await root.end();
});

test('errors say what to fix: a refused login names host and secret; a refused statement names resource and FILE:LINE:COL', async () => {
  const bad = tmp.file('wrong.pw', 'not-the-password\n');
  const file = tmp.file(
    'auth.yaml',
    spec(A1, '    databases: [{ name: x }]', `user: root, password: { file: ${bad} }`),
  );
  const r = await cli(['apply', '-f', file, '--once', '--db', tmp.file('auth.db'), '--json']);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  const error = String(jsonLines(r.stdout)[0]?.error);
  assert.match(error, /^host h \(127\.0\.35\.1:3306\) refused the login as root: Access denied/);
  assert.ok(error.includes(`check the password in file:${bad} (${file}:5:`), error);
  assert.match(error, /hosts\.h\.mysql\.password\)$/);

  const refusedFile = tmp.file(
    'refused.yaml',
    spec(A1, '    databases:\n      - { name: fine }\n      - { name: badcharset, charset: utf8mb5 }'),
  );
  const r2 = await cli(['apply', '-f', refusedFile, '--once', '--db', tmp.file('refused.db')]);
  assert.equal(r2.code, 1, r2.stdout + r2.stderr);
  const msg = r2.stdout + r2.stderr;
  assert.ok(
    msg.includes(`mysql.database badcharset: Unknown character set: 'utf8mb5'`) &&
      msg.includes(`(declared at ${refusedFile}:12:9 clusters.fh.databases[1])`),
    msg,
  );
  const hist = jsonLines((await cli(['history', '--db', tmp.file('refused.db'), '--kind', 'action', '--json'])).stdout);
  assert.ok(
    hist.some((e) => /declared at .*refused\.yaml:12:9/.test(JSON.stringify(e.detail))),
    JSON.stringify(hist),
  );
});

test('a secret file the service user cannot read says which user tried', async () => {
  const secret = tmp.file('root-only.pw', 'x\n'); // 0600, root's
  const file = tmp.file('eacces.yaml', spec(A1, '', `user: root, password: { file: ${secret} }`));
  chmodSync(tmp.dir, 0o755);
  chmodSync(file, 0o644);
  const r = spawnSync('runuser', ['-u', 'nobody', '--', process.execPath, CLI, 'validate', '-f', file], {
    cwd: '/',
    encoding: 'utf8',
  });
  chmodSync(tmp.dir, 0o700);
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(
    r.stderr,
    /secret file:\S+root-only\.pw cannot be read \(EACCES\) by user nobody \(uid \d+\): give that user read access/,
  );
});

test('daemon: /readyz waits for a good login, condition gauges, promtool-clean /metrics, readable log lines', async () => {
  const root = await mysqlRoot(A2);
  await root.query("CREATE USER 'fhadmin'@'%' IDENTIFIED BY 'Fh-admin-pw-7'");
  await root.query("GRANT ALL PRIVILEGES ON *.* TO 'fhadmin'@'%' WITH GRANT OPTION");
  await root.end();
  const pw = tmp.file('admin.pw', 'wrong-at-first\n');
  const file = tmp.file(
    'daemon.yaml',
    spec(A2, '    databases: [{ name: served }]', `user: fhadmin, password: { file: ${pw} }`),
  );
  const db = tmp.file('daemon.db');
  const daemon = new Daemon(file, db, {}, ['--listen', LISTEN]);
  const get = async (path: string) => {
    const r = await fetch(`http://${LISTEN}${path}`);
    return { status: r.status, text: await r.text() };
  };
  try {
    await waitFor(
      'the stalled login in status',
      async () => {
        const s = jsonLines((await cli(['status', '--db', db, '--json'])).stdout)[0];
        return s?.state === 'stalled';
      },
      60_000,
      200,
    );
    const notReady = await get('/readyz');
    assert.equal(notReady.status, 503, 'Stalled on authentication: not ready');
    assert.match(notReady.text, /not observed successfully since the file was loaded: fh\/h/);
    let metrics = await get('/metrics');
    assert.match(metrics.text, /^setpoint_condition\{cluster="fh",host="h",condition="Stalled"\} 1$/m);
    assert.match(metrics.text, /^setpoint_condition\{cluster="fh",host="h",condition="Ready"\} 0$/m);

    // The password fixed: ready, and the gauges say so.
    writeFileSync(pw, 'Fh-admin-pw-7\n');
    await waitFor('ready', async () => (await get('/readyz')).status === 200, 60_000, 200);
    metrics = await get('/metrics');
    assert.match(metrics.text, /^setpoint_condition\{cluster="fh",host="h",condition="Ready"\} 1$/m);
    const check = spawnSync('promtool', ['check', 'metrics'], { input: metrics.text, encoding: 'utf8' });
    assert.equal(check.error, undefined, 'promtool is installed (Debian package prometheus; .ci/run installs it)');
    assert.equal(check.status, 0, check.stdout + check.stderr);

    // A bad edit is logged once however often the file is looked at; the fix gets its own line.
    const good = spec(A2, '    databases: [{ name: served }]', `user: fhadmin, password: { file: ${pw} }`);
    writeFileSync(file, good.replace('databases:', 'databses:'));
    await waitFor('the rejection', () => daemon.lines().some((l) => String(l.msg).startsWith('spec rejected')), 30_000);
    spawnSync('kill', ['-HUP', String(daemon.child.pid)]);
    await new Promise((r) => setTimeout(r, 2500)); // the 1 s poll and the SIGHUP look again meanwhile
    assert.equal(daemon.lines().filter((l) => String(l.msg).startsWith('spec rejected')).length, 1, daemon.log);
    writeFileSync(file, good.replace('[{ name: served }]', '[{ name: served }, { name: served2 }]'));
    await waitFor(
      'accepted again',
      () => daemon.lines().some((l) => l.msg === 'file valid again: the corrected version is accepted'),
      30_000,
    );
    const loaded = daemon
      .lines()
      .filter((l) => l.msg === 'spec loaded')
      .at(-1);
    assert.equal(loaded?.changed, 1, 'JSON keeps the count a number');

    // The lease is logged before the first change it allows.
    const lines = daemon.lines();
    const lease = lines.findIndex((l) => l.msg === 'lease taken');
    const change = lines.findIndex((l) => l.msg === 'change');
    assert.ok(lease !== -1 && change !== -1 && lease < change, daemon.log);
    const stalled = lines.find((l) => l.msg === 'stalled: needs a human');
    assert.equal(typeof stalled?.retryInMs, 'number');
    assert.match(String(stalled?.error), /check the password in file:/);
  } finally {
    assert.equal(await daemon.stop(), 0);
  }
});

test('status: a paused member says paused; JSON stays complete', async () => {
  const file = tmp.file('pause.yaml', spec(A1, '    databases: [{ name: pausedb }]'));
  const db = tmp.file('pause.db');
  assert.equal((await cli(['apply', '-f', file, '--once', '--db', db])).code, 0);
  assert.equal((await cli(['pause', 'fh', '--reason', 'migrating by hand', '--db', db])).code, 0);
  const text = await cli(['status', '--db', db], { env: { COLUMNS: '80' } });
  assert.match(text.stdout, /^fh\/h +paused +0 /m);
  assert.match(text.stdout, /paused: migrating by/);
  for (const line of text.stdout.split('\n')) assert.ok(line.length <= 80, line);
  const json = jsonLines((await cli(['status', '--db', db, '--json'])).stdout)[0];
  assert.equal(json?.paused, 'migrating by hand');
  assert.equal(json?.state, 'converged');
  const hist = await cli(['history', '--db', db]);
  assert.match(hist.stdout, /^TIME \(UTC\) /);
});

/** The demo's temporary folders (/tmp/setpoint-demo-*) that exist now. */
function demoDirs(): Set<string> {
  return new Set(readdirSync(tmpdir()).filter((n) => n.startsWith('setpoint-demo-')));
}

/** Starts the demo on this file's addresses, with its output on a pipe. */
function startDemo(): { child: ChildProcess; out: () => string; exited: Promise<number | null> } {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'lab/demo.ts', '--no-perturb', '--addresses', '127.0.35.11,127.0.35.12'],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } },
  );
  let out = '';
  child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (out += b.toString()));
  return { child, out: () => out, exited: new Promise((r) => child.on('close', (code) => r(code))) };
}

test('the demo removes its servers and temp folder on SIGINT with its reader gone (| tee, Ctrl-C), and on SIGPIPE', async () => {
  const before = demoDirs();
  // Ctrl-C on `npm run demo | tee log`: tee is gone, then SIGINT arrives, here while the servers start.
  const a = startDemo();
  await waitFor('the demo starting its servers', () => a.out().includes('starting two MariaDB servers'), 60_000);
  a.child.stdout?.destroy();
  a.child.kill('SIGINT');
  assert.equal(await a.exited, 0, a.out());
  assert.doesNotMatch(a.out(), /EPIPE|Error:/, a.out());
  assert.deepEqual(
    [...demoDirs()].filter((d) => !before.has(d)),
    [],
    'no demo folder left behind',
  );

  // Up and converged, then SIGPIPE.
  const b = startDemo();
  await waitFor('the demo converged', () => /converged/.test(b.out()), 120_000, 200);
  const dir = /Desired state: (\S+)\/setpoint\.yaml/.exec(b.out())?.[1];
  assert.ok(dir !== undefined && existsSync(dir), b.out());
  b.child.kill('SIGPIPE');
  assert.equal(await b.exited, 0, b.out());
  assert.equal(existsSync(dir), false, 'the demo folder is removed');
  assert.match(b.out(), /removing the demo servers and files/);
  assert.deepEqual(
    [...demoDirs()].filter((d) => !before.has(d)),
    [],
  );
});
