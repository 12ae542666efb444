/**
 * Hosts over SSH against real sshd + MariaDB lab hosts: facts, host-key refusal, config fragment drift,
 * a stopped service started again, a static setting applied by a restart only inside a maintenance
 * window and one host at a time, and one SSH connection per host across passes.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { destroyAll, startHost, type LabHost } from '../../lab/index.js';
import { cli, Daemon, jsonLines, mysqlRoot, tempDir, waitFor } from '../helpers.js';
import type { ProbeCache } from '../../src/loop/observe.js';

const tmp = tempDir('host-ssh');
const NAMES = ['h1', 'h2', 'h3'] as const;
let hosts: LabHost[] = [];
let rogue: LabHost;
let pg: LabHost;
let knownHosts = '';
let key = '';
const restartLog = join(tmp.dir, 'restarts.log');

before(async () => {
  const first = await startHost({ name: 'h1', address: '127.0.23.1', ssh: true, mariadb: true, baseDir: tmp.dir });
  key = first.sshd?.clientKeyFile ?? '';
  const rest = await Promise.all(
    [2, 3].map((i) =>
      startHost({
        name: `h${i}`,
        address: `127.0.23.${i}`,
        ssh: { clientKeyFile: key },
        mariadb: true,
        baseDir: tmp.dir,
      }),
    ),
  );
  hosts = [first, ...rest];
  // A host whose key is not the one known_hosts has for its address.
  rogue = await startHost({
    name: 'h4',
    address: '127.0.23.4',
    ssh: { clientKeyFile: key },
    mariadb: true,
    baseDir: tmp.dir,
  });
  pg = await startHost({
    name: 'h5',
    address: '127.0.23.5',
    ssh: { clientKeyFile: key },
    postgres: true,
    baseDir: tmp.dir,
  });
  const lines = [...hosts, pg].map((h) => h.sshd?.knownHostsLine ?? '');
  const wrongKey = (hosts[0]?.sshd?.knownHostsLine ?? '').split(' ').slice(1).join(' ');
  lines.push(`[127.0.23.4]:2222 ${wrongKey}`);
  knownHosts = tmp.file('known_hosts', lines.join('\n') + '\n');
  // One path for every host, {host} standing for its name: tmp/<name>/conf.d is the lab server's conf.d.
  for (const [i, h] of [...hosts, rogue].entries()) {
    mkdirSync(join(tmp.dir, `h${i + 1}`));
    symlinkSync(h.mariadb?.confDir ?? '', join(tmp.dir, `h${i + 1}`, 'conf.d'));
  }
  writeFileSync(restartLog, '');
});

after(async () => {
  await destroyAll();
  tmp.cleanup();
});

function hostBlock(name: string, h: LabHost): string {
  const m = h.mariadb;
  // Restarts are logged with start and end times, to prove they never overlap.
  const restart = `echo "${name} start $(date +%s%N)" >> ${restartLog}; ${m?.scripts.restart ?? ''}; rc=$?; echo "${name} end $(date +%s%N)" >> ${restartLog}; exit $rc`;
  return `  ${name}:
    address: ${h.address}
    ssh: { port: 2222, user: root, privateKeyFile: ${key}, knownHostsFile: ${knownHosts} }
    service:
      commands:
        start: ${JSON.stringify(m?.scripts.start)}
        stop: ${JSON.stringify(m?.scripts.stop)}
        restart: ${JSON.stringify(restart)}
        status: ${JSON.stringify(m?.scripts.status)}
    mysql: { port: 3306, user: root }
`;
}

function pgBlock(): string {
  const p = pg.postgres;
  return `  h5:
    address: ${pg.address}
    ssh: { port: 2222, user: root, privateKeyFile: ${key}, knownHostsFile: ${knownHosts} }
    service: { commands: { start: ${JSON.stringify(p?.scripts.start)}, restart: ${JSON.stringify(p?.scripts.restart)}, status: ${JSON.stringify(p?.scripts.status)} } }
    postgres: { port: 5432, user: postgres }
`;
}

function spec(window: string): string {
  return `version: 1
hosts:
${NAMES.map((n, i) => hostBlock(n, hosts[i] as LabHost)).join('')}${hostBlock('h4', rogue)}${pgBlock()}
clusters:
  fleet:
    engine: mysql
    members: [h1, h2, h3]
    settings: { max_connections: 321, back_log: 77 }
    configFile: { path: "${tmp.dir}/{host}/conf.d/60-setpoint.cnf", mode: "0640" }
    maintenanceWindows: [${window}]
  lonely:
    engine: mysql
    members: [h4]
    databases: [{ name: never_made }]
  ledger:
    engine: postgres
    members: [h5]
    settings: { shared_buffers: 32MB }
    maintenanceWindows: [${window}]
policy:
  resyncSeconds: 1
  backoff: { initialSeconds: 0.5, maxSeconds: 2 }
`;
}

const CLOSED = '{ cron: "0 0 1 1 *", minutes: 1, timezone: UTC }';
const OPEN = '{ cron: "* * * * *", minutes: 60, timezone: UTC }';

async function variable(h: LabHost, name: string): Promise<string> {
  return (await h.mariadb?.sql(`SELECT @@GLOBAL.${name}`)) ?? '';
}

test('outside a window: facts recorded, fragment written, dynamic setting applied, the static one waits for the window', async () => {
  const file = tmp.file('closed.yaml', spec(CLOSED));
  const db = join(tmp.dir, 'closed.db');
  const apply = await cli(['apply', '-f', file, '--once', '--db', db, '--json']);
  assert.equal(apply.code, 1, 'h4 is refused, so the run reports an error');
  const byHost = new Map(jsonLines(apply.stdout).map((r) => [r.host, r]));
  for (const n of NAMES) {
    const r = byHost.get(n);
    assert.equal(r?.state, 'waiting', `${n}: ${JSON.stringify(r)}`);
    const waiting = (r?.remaining as { summary: string; reason: string; risk: string }[]).filter(
      (c) => c.risk === 'disruptive',
    );
    assert.equal(waiting.length, 1);
    assert.match(waiting[0]?.summary ?? '', /restart the server on h\d to apply back_log = 77/);
    assert.equal(waiting[0]?.reason, 'waiting for window 2027-01-01T00:00:00.000Z');
  }
  for (const h of hosts) {
    assert.equal(await variable(h, 'max_connections'), '321', 'dynamic: set at once');
    assert.notEqual(await variable(h, 'back_log'), '77', 'static: not yet');
    const fragment = readFileSync(join(h.mariadb?.confDir ?? '', '60-setpoint.cnf'), 'utf8');
    assert.match(fragment, /\[mysqld\]\nback_log = 77\nmax_connections = 321\n/);
  }
  const ledger = byHost.get('h5');
  assert.equal(ledger?.state, 'waiting', JSON.stringify(ledger));
  assert.deepEqual(
    (ledger?.remaining as { summary: string; reason: string }[]).map((c) => [c.summary, c.reason]),
    [
      [
        'restart the server on h5: pending a restart for shared_buffers = 32MB (runs as 16MB)',
        'waiting for window 2027-01-01T00:00:00.000Z',
      ],
    ],
  );
  assert.equal(await pg.postgres?.sql('SHOW shared_buffers'), '16MB');
  const plan = await cli(['plan', '-f', file, '--cluster', 'fleet']);
  assert.equal(plan.code, 2);
  assert.match(plan.stdout, /waiting: waiting for window 2027-01-01T00:00:00\.000Z/);

  const status = jsonLines((await cli(['status', '--db', db, '--json'])).stdout);
  assert.deepEqual(
    status.filter((s) => s.cluster === 'fleet').map((s) => s.state),
    ['waiting', 'waiting', 'waiting'],
  );
  assert.match(String(status.find((s) => s.host === 'h1')?.message), /waiting for window/);

  // Facts, in `hosts` and in history.
  const facts = jsonLines((await cli(['hosts', '--db', db, '--json'])).stdout);
  assert.deepEqual(
    facts.map((f) => f.host),
    ['h1', 'h2', 'h3', 'h5'],
  );
  assert.match(String(facts[3]?.package), /^postgresql-15 /);
  for (const f of facts.slice(0, 3)) {
    assert.match(String(f.os), /Debian|Linux/);
    assert.ok(Number(f.cpus) >= 1);
    assert.ok(Number(f.memoryBytes) > 0);
    assert.ok(Number(f.diskBytes) > 0 && Number(f.diskFreePercent) >= 0);
    assert.match(String(f.package), /^mariadb-server/);
    assert.equal(f.serviceActive, true);
    assert.match(String(f.dataDir), /setpoint-host-ssh/);
  }
  const human = await cli(['hosts', '--db', db]);
  assert.match(human.stdout, /^HOST +OS +KERNEL/m);

  // The rogue host: refused, stalled, recorded, nothing ran there.
  const h4 = status.find((s) => s.host === 'h4');
  assert.equal(h4?.state, 'stalled');
  assert.match(String(h4?.lastError), /HOST KEY MISMATCH/);
  const errors = jsonLines((await cli(['history', '--db', db, '--host', 'h4', '--kind', 'error', '--json'])).stdout);
  assert.match(String(errors[0]?.summary), /HOST KEY MISMATCH.*refusing to connect/);
  const sshdLog = readFileSync(rogue.sshd?.logFile ?? '', 'utf8');
  assert.ok(!/Accepted publickey/.test(sshdLog), 'no session was ever opened on the rogue host');
  assert.equal(
    await rogue.mariadb?.sql("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'never_made'"),
    '0',
  );
});

test('a hand edit of the fragment is drift and is put back, the edited version kept', async () => {
  const file = tmp.file('closed.yaml', spec(CLOSED));
  const db = join(tmp.dir, 'edit.db');
  const path = join(hosts[1]?.mariadb?.confDir ?? '', '60-setpoint.cnf');
  const good = readFileSync(path, 'utf8');
  writeFileSync(path, good.replace('max_connections = 321', 'max_connections = 9999'));
  const plan = await cli(['plan', '-f', file, '--host', 'h2', '--json']);
  const fix = jsonLines(plan.stdout).find((c) => String(c.resource).startsWith('mysql.config'));
  assert.match(String(fix?.summary), /rewrite .*60-setpoint\.cnf.*previous kept as .*\.setpoint-prev/);
  const apply = await cli(['apply', '-f', file, '--once', '--db', db, '--host', 'h2']);
  assert.equal(apply.code, 2, apply.stdout + apply.stderr);
  assert.equal(readFileSync(path, 'utf8'), good);
  assert.match(readFileSync(`${path}.setpoint-prev`, 'utf8'), /max_connections = 9999/);
  const drift = jsonLines(
    (await cli(['history', '--db', db, '--kind', 'drift', '--resource', 'mysql.config', '--json'])).stdout,
  );
  assert.equal(drift[0]?.field, 'content');
});

test('inside a window: restarts one host at a time, the static setting is applied, a stopped server is started, one SSH connection per host', async () => {
  const file = tmp.file('open.yaml', spec(OPEN));
  const db = join(tmp.dir, 'open.db');
  const accepted = (h: LabHost) =>
    (readFileSync(h.sshd?.logFile ?? '', 'utf8').match(/Accepted publickey/g) ?? []).length;
  const before = hosts.map(accepted);
  const daemon = new Daemon(file, db);
  try {
    await waitFor(
      'back_log = 77 on every host',
      async () => (await Promise.all(hosts.map((h) => variable(h, 'back_log')))).every((v) => v === '77'),
      60_000,
      250,
    );
    // The server answers before the restart command has returned and logged its end: wait for the end lines.
    await waitFor(
      'every restart command returned',
      () => (readFileSync(restartLog, 'utf8').match(/ end /g) ?? []).length >= NAMES.length,
      10_000,
      100,
    );
    const events = readFileSync(restartLog, 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.split(' '));
    const spans = NAMES.map((n) => {
      const s = events.filter((e) => e[0] === n);
      assert.equal(s.length, 2, `${n} restarted exactly once: ${JSON.stringify(events)}`);
      return { n, start: BigInt(s[0]?.[2] ?? 0), end: BigInt(s[1]?.[2] ?? 0) };
    });
    spans.sort((a, b) => (a.start < b.start ? -1 : 1));
    for (let i = 1; i < spans.length; i++)
      assert.ok(
        (spans[i]?.start ?? 0n) > (spans[i - 1]?.end ?? 0n),
        `never two at once: ${JSON.stringify(spans.map((s) => [s.n, String(s.start), String(s.end)]))}`,
      );
    await waitFor(
      'the fleet and the ledger converged',
      async () => {
        const s = jsonLines((await cli(['status', '--db', db, '--json'])).stdout).filter(
          (r) => r.cluster === 'fleet' || r.cluster === 'ledger',
        );
        return s.length === 4 && s.every((r) => r.converged === true);
      },
      20_000,
    );
    assert.equal(
      await pg.postgres?.sql('SHOW shared_buffers'),
      '32MB',
      'PostgreSQL restarted in the window and runs the setting',
    );

    // A server stopped by hand is started again.
    await hosts[2]?.mariadb?.stop();
    await waitFor(
      'h3 answering again',
      async () => {
        const c = await mysqlRoot('127.0.23.3');
        await c.end();
        return true;
      },
      20_000,
      250,
    );
    const starts = jsonLines(
      (await cli(['history', '--db', db, '--host', 'h3', '--kind', 'action', '--json'])).stdout,
    ).filter((a) => String(a.summary).startsWith('start the database service'));
    assert.equal(starts.length, 1);
    assert.equal(starts[0]?.outcome, 'ok');

    // Many passes later (resync 1 s, restarts, a service start), one SSH connection per host.
    for (const [i, h] of hosts.entries())
      assert.equal(accepted(h) - (before[i] ?? 0), 1, `${h.name}: SSH connections opened by the daemon`);
  } finally {
    await daemon.stop();
  }
  // Nothing restarted twice: the fleet converged and stays so.
  const events = readFileSync(restartLog, 'utf8').trim().split('\n');
  assert.equal(events.length, 6, events.join('\n'));
});

test('the daemon reuses a host observation for hostProbeSeconds while the server answers and nothing changes', async () => {
  const { engines } = await import('../../agents/index.js');
  const { parseSpec } = await import('../../src/spec/load.js');
  const { targetsOf } = await import('../../src/loop/targets.js');
  const { reconcile } = await import('../../src/loop/reconcile.js');
  const { SessionPool } = await import('../../src/transport/sessions.js');
  const { SshPool } = await import('../../src/transport/ssh.js');
  const { silent } = await import('../../src/log.js');
  const text = `version: 1
hosts:
${hostBlock('h1', hosts[0] as LabHost)}clusters:
  solo:
    engine: mysql
    members: [h1]
    settings: { max_connections: 321 }
    configFile: { path: "${tmp.dir}/{host}/conf.d/60-setpoint.cnf", mode: "0640" }
`;
  const loaded = parseSpec(text, 'probe.yaml', engines);
  const [t] = targetsOf(loaded.spec, engines);
  assert.ok(t);
  const pool = new SessionPool();
  const ssh = new SshPool();
  const probeCache: ProbeCache = new Map();
  try {
    const run = () => reconcile(t, { pool, ssh, log: silent, specVersion: 'x', probeCache }, { act: true });
    const first = await run();
    assert.equal(first.state, 'converged', first.error?.message);
    assert.ok(first.commands >= 1);
    probeCache.clear();
    const fresh = await run();
    assert.equal(fresh.commands, 1, 'one SSH command for every host kind');
    const second = await run();
    assert.equal(second.commands, 0, 'reused within hostProbeSeconds');
    assert.equal(second.complete, true);
    assert.equal(second.state, 'converged');
    // A hand edit of the fragment is seen once the observation is older than hostProbeSeconds.
    const path = join(hosts[0]?.mariadb?.confDir ?? '', '60-setpoint.cnf');
    writeFileSync(path, readFileSync(path, 'utf8') + '# edited\n');
    for (const v of probeCache.values()) v.at -= 61_000;
    const third = await run();
    assert.equal(third.made, 1, 'the fragment was put back');
    assert.ok(third.commands >= 2, 'probed, wrote, probed again');
  } finally {
    await pool.closeAll();
    ssh.closeAll();
  }
});
