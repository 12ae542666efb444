/**
 * Benchmark 7, planned switchover: three lab MariaDB servers (127.0.64.1-3) with GTID binlogs, a
 * daemon keeping them a topology, and a writer inserting rows all along; the file's primary is moved
 * around the ring (db1 -> db2 -> db3 -> db1 ...) and each switchover is timed from history: the old
 * primary made read-only (writes stop) -> the new primary writable (writes resume), and the edit of
 * the file -> the topology converged.
 *
 *   npm run build && node --import tsx bench/switchover.ts [--reps 6]
 */
import { writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import mysql from 'mysql2/promise';
import { destroyAll } from '../lab/index.js';
import { fromDist } from './lib/dist.js';
import { benchAddress, join, startDaemon, startHosts, workDir } from './lib/lab.js';
import {
  arg,
  machine,
  median,
  ms,
  printTable,
  progress,
  sleep,
  writeResult,
  type Figure,
  type Table,
} from './lib/report.js';

const REPS = Number(arg('reps', '6'));
const NAMES = ['db1', 'db2', 'db3'] as const;

await fromDist('src/version.js'); // refuses to run on a stale build
const started = Date.now();
const say = progress(started);
const dir = workDir('switchover');
const db = join(dir, 'history.db');
const file = join(dir, 'orders.yaml');
writeFileSync(join(dir, 'repl.pw'), 'Bench-repl-pw-1\n', { mode: 0o600 });
writeFileSync(join(dir, 'app.pw'), 'Bench-app-pw-1\n', { mode: 0o600 });
const addresses = NAMES.map((_, i) => benchAddress(64, i + 1));

const spec = (primary: string) => `version: 1
hosts:
${NAMES.map((n, i) => `  ${n}: { address: ${addresses[i] ?? ''}, mysql: { user: root } }`).join('\n')}
clusters:
  orders:
    engine: mysql
    members: [db1, db2, db3]
    replication: { primary: ${primary}, user: repl, password: { file: ${dir}/repl.pw }, maxLagSeconds: 30, catchUpSeconds: 30 }
    databases: [{ name: shop }]
    users: [{ name: app, host: "127.%", password: { file: ${dir}/app.pw }, grants: [{ privileges: [SELECT, INSERT, CREATE], on: "shop.*" }] }]
policy:
  resyncSeconds: 1
  maintenanceWindows: [{ cron: "* * * * *", minutes: 60, timezone: UTC }]
`;

interface Rep {
  from: string;
  to: string;
  /** The old primary made read-only -> the new primary writable (from the journal: fence start -> promote end). */
  writesStoppedMs: number;
  /** The file edited -> the topology converged on the new primary (seen in history). */
  convergedMs: number;
  rows: number;
}

function topology(): { state: string; primary?: string } | undefined {
  const h = new Database(db, { readonly: true, fileMustExist: true });
  try {
    const row = h.prepare("SELECT state FROM targets WHERE cluster = 'orders' AND host = '*'").get() as
      { state: string } | undefined;
    const places = h
      .prepare(
        "SELECT state FROM observations WHERE id IN (SELECT MAX(id) FROM observations WHERE cluster = 'orders' AND resource LIKE 'topology %' GROUP BY resource)",
      )
      .all() as { state: string | null }[];
    const primary = places
      .map((p) => (p.state === null ? undefined : (JSON.parse(p.state) as { member: string; role: string })))
      .find((p) => p?.role === 'primary')?.member;
    return row === undefined ? undefined : { state: row.state, ...(primary === undefined ? {} : { primary }) };
  } finally {
    h.close();
  }
}

async function until(what: string, fn: () => boolean, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const reps: Rep[] = [];
try {
  say('starting three MariaDB servers');
  await startHosts(NAMES.map((n, i) => ({ name: n, address: addresses[i] ?? '', baseDir: dir, mariadb: true })));
  writeFileSync(file, spec('db1'));
  const daemon = startDaemon(file, db);
  await until('the topology converged on db1', () => {
    try {
      return topology()?.state === 'converged' && topology()?.primary === 'db1';
    } catch {
      return false;
    }
  });
  say('topology built; starting the writer');
  const root = await mysql.createConnection({ host: addresses[0] ?? '', user: 'root' });
  await root.query('CREATE TABLE IF NOT EXISTS shop.t (id INT PRIMARY KEY)');
  await root.end();
  await sleep(500);
  let stop = false;
  let committed = 0;
  const writer = (async () => {
    const conns = await Promise.all(
      addresses.map((a) => mysql.createConnection({ host: a, user: 'app', password: 'Bench-app-pw-1' })),
    );
    let at = 0;
    let id = 0;
    while (!stop) {
      try {
        await conns[at]?.query('INSERT INTO shop.t (id) VALUES (?)', [++id]);
        committed++;
      } catch {
        at = (at + 1) % conns.length;
        await sleep(5);
      }
    }
    await Promise.all(conns.map((c) => c.end()));
  })();
  let current = 'db1';
  for (let i = 0; i < REPS; i++) {
    const next = NAMES[(NAMES.indexOf(current as (typeof NAMES)[number]) + 1) % NAMES.length] as string;
    await sleep(1000);
    const before = committed;
    const t0 = Date.now();
    writeFileSync(file, spec(next));
    await until(
      `the topology converged on ${next}`,
      () => topology()?.state === 'converged' && topology()?.primary === next,
    );
    const convergedMs = Date.now() - t0;
    const h = new Database(db, { readonly: true });
    const fence = h
      .prepare(
        "SELECT time FROM entries WHERE cluster = 'orders' AND kind = 'action' AND field = 'switchover' AND time >= ? ORDER BY id LIMIT 1",
      )
      .get(t0) as { time: number } | undefined;
    const promote = h
      .prepare(
        "SELECT ended FROM entries WHERE cluster = 'orders' AND kind = 'action' AND field = 'promote' AND outcome = 'ok' AND time >= ? ORDER BY id LIMIT 1",
      )
      .get(t0) as { ended: number } | undefined;
    h.close();
    if (fence === undefined || promote === undefined) throw new Error(`rep ${i}: no switchover steps in history`);
    reps.push({
      from: current,
      to: next,
      writesStoppedMs: promote.ended - fence.time,
      convergedMs,
      rows: committed - before,
    });
    say(`${current} -> ${next}: writes stopped ${promote.ended - fence.time} ms, converged in ${convergedMs} ms`);
    current = next;
  }
  stop = true;
  await writer;
  await daemon.stop();
} finally {
  await destroyAll();
}

const table: Table = {
  title: 'Planned switchovers under a writer',
  headers: [
    '#',
    'FROM -> TO',
    'WRITES STOPPED (read-only -> writable)',
    'EDIT -> CONVERGED',
    'ROWS COMMITTED MEANWHILE',
  ],
  rows: reps.map((r, i) => [
    String(i + 1),
    `${r.from} -> ${r.to}`,
    ms(r.writesStoppedMs),
    ms(r.convergedMs),
    String(r.rows),
  ]),
};
printTable(table);
const stopped = median(reps.map((r) => r.writesStoppedMs));
const converged = median(reps.map((r) => r.convergedMs));
const figures: Figure[] = [
  {
    figure: 'switchover: old primary read-only -> new primary writable (median)',
    value: ms(stopped),
    target: '(reported)',
  },
  { figure: 'switchover: file edited -> topology converged (median)', value: ms(converged), target: '(reported)' },
];
writeResult({
  name: 'switchover',
  title: '7. Planned switchover',
  command: 'npm run build && node --import tsx bench/switchover.ts',
  startedAt: new Date(started).toISOString(),
  durationMs: Date.now() - started,
  machine: machine(),
  method: [
    `Three lab MariaDB 10.11 servers on 127.0.64.1-3 with GTID binlogs (log_slave_updates, gtid_strict_mode), the daemon (resync 1 s, a maintenance window always open) keeping them a topology, and a writer inserting rows as an account without SUPER (read-only stops it) into whichever member takes writes. The file's primary is moved around the ring ${REPS} times.`,
    'WRITES STOPPED is read from the journal: the start of step 1 (the old primary made read-only) to the end of step 2 (the candidate has applied every GTID of the old primary and is writable). EDIT -> CONVERGED is wall time from writing the file to the topology pass recording the new primary with every replica following it.',
  ],
  figures,
  tables: [table],
  raw: reps,
});
