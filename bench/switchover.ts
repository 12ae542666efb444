/**
 * Benchmark 7, planned switchover on both engines: three lab servers, a daemon keeping them a
 * topology, and a writer inserting rows all along into whichever member takes writes; the file's
 * primary is moved around the ring (1 -> 2 -> 3 -> 1 ...) and each switchover is timed twice:
 * from history (the moment writes are stopped -> the new primary promoted) and from the writer's
 * side (the longest gap between two commits), plus the edit of the file -> the topology converged.
 *
 *   MariaDB 10.11 on 127.0.64.1-3 (SQL only: read_only fences the old primary);
 *   PostgreSQL 15 on 127.0.65.1-3 with sshd (the old primary is stopped cleanly over SSH).
 *
 *   npm run build && node --import tsx bench/switchover.ts [--reps 6] [--engine mysql|postgres|both]
 */
import { writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { destroyAll, type LabHost } from '../lab/index.js';
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
const ENGINES = arg('engine', 'both');
const APP_PW = 'Bench-app-pw-1';

await fromDist('src/version.js'); // refuses to run on a stale build
const started = Date.now();
const say = progress(started);
const dir = workDir('switchover');
writeFileSync(join(dir, 'repl.pw'), 'Bench-repl-pw-1\n', { mode: 0o600 });
writeFileSync(join(dir, 'app.pw'), `${APP_PW}\n`, { mode: 0o600 });

interface Rep {
  from: string;
  to: string;
  /** From history: writes stopped (MySQL: read_only set; PostgreSQL: the clean stop begins) -> promoted. */
  writesStoppedMs: number;
  /** The writer's view: the longest time between two commits from the edit to convergence. */
  writerGapMs: number;
  /** The file edited -> the topology converged on the new primary (seen in history). */
  convergedMs: number;
  rows: number;
}

/** What differs between the engines: the lab, the file, the writer, and where history says writes stop. */
interface Ring {
  engine: 'mysql' | 'postgres';
  cluster: string;
  names: readonly string[];
  start(): Promise<void>;
  spec(primary: string): string;
  /** Creates the table once the topology is built. */
  prepare(): Promise<void>;
  /** Inserts one row on member `i`; rejects when it does not take writes. */
  connect(): Promise<{ insert(i: number, id: number): Promise<void>; end(): Promise<void> }>;
  /** From the journal since t0: when writes stopped, and when the new primary took them. */
  window(h: Database.Database, t0: number): { stopped: number; promoted: number } | undefined;
}

function topology(db: string, cluster: string): { state: string; primary?: string } | undefined {
  const h = new Database(db, { readonly: true, fileMustExist: true });
  try {
    const row = h.prepare("SELECT state FROM targets WHERE cluster = ? AND host = '*'").get(cluster) as
      { state: string } | undefined;
    const places = h
      .prepare(
        "SELECT state FROM observations WHERE id IN (SELECT MAX(id) FROM observations WHERE cluster = ? AND resource LIKE 'topology %' GROUP BY resource)",
      )
      .all(cluster) as { state: string | null }[];
    const primary = places
      .map((p) => (p.state === null ? undefined : (JSON.parse(p.state) as { member: string; role: string })))
      .find((p) => p?.role === 'primary')?.member;
    return row === undefined ? undefined : { state: row.state, ...(primary === undefined ? {} : { primary }) };
  } finally {
    h.close();
  }
}

async function until(what: string, fn: () => boolean, timeoutMs = 120_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (fn()) return;
    } catch {
      // the history file is being created
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

async function runRing(ring: Ring): Promise<Rep[]> {
  const db = join(dir, `${ring.engine}.db`);
  const file = join(dir, `${ring.cluster}.yaml`);
  const first = ring.names[0] as string;
  say(`${ring.engine}: starting three servers`);
  await ring.start();
  writeFileSync(file, ring.spec(first));
  const daemon = startDaemon(file, db);
  const reps: Rep[] = [];
  try {
    const converged = (p: string) => {
      const t = topology(db, ring.cluster);
      return t?.state === 'converged' && t.primary === p;
    };
    await until(`the topology converged on ${first}`, () => converged(first), 300_000);
    say(`${ring.engine}: topology built; starting the writer`);
    await ring.prepare();
    await sleep(500);
    let stop = false;
    const commits: number[] = [];
    const writer = (async () => {
      const w = await ring.connect();
      let at = 0;
      let id = 0;
      while (!stop) {
        try {
          await w.insert(at, ++id);
          commits.push(Date.now());
        } catch {
          at = (at + 1) % ring.names.length;
          await sleep(2);
        }
      }
      await w.end();
    })();
    let current = first;
    for (let i = 0; i < REPS; i++) {
      const next = ring.names[(ring.names.indexOf(current) + 1) % ring.names.length] as string;
      await sleep(1000);
      const before = commits.length;
      const t0 = Date.now();
      writeFileSync(file, ring.spec(next));
      await until(`the topology converged on ${next}`, () => converged(next));
      const t1 = Date.now();
      // The writer's view: the longest stretch without a commit, counted from the last one before the edit.
      const during = [commits.filter((c) => c < t0).at(-1) ?? t0, ...commits.filter((c) => c >= t0 && c <= t1), t1];
      let gap = 0;
      for (let k = 1; k < during.length; k++) gap = Math.max(gap, (during[k] as number) - (during[k - 1] as number));
      const h = new Database(db, { readonly: true });
      const w = ring.window(h, t0);
      h.close();
      if (w === undefined) throw new Error(`${ring.engine} rep ${i}: no switchover steps in history`);
      reps.push({
        from: current,
        to: next,
        writesStoppedMs: w.promoted - w.stopped,
        writerGapMs: gap,
        convergedMs: t1 - t0,
        rows: commits.length - before,
      });
      say(
        `${ring.engine} ${current} -> ${next}: writes stopped ${w.promoted - w.stopped} ms (writer's longest gap ${gap} ms), converged in ${t1 - t0} ms`,
      );
      current = next;
    }
    stop = true;
    await writer;
  } finally {
    await daemon.stop();
  }
  return reps;
}

const policy = `policy:
  resyncSeconds: 1
  maintenanceWindows: [{ cron: "* * * * *", minutes: 60, timezone: UTC }]
`;

function mariadbRing(): Ring {
  const names = ['db1', 'db2', 'db3'] as const;
  const addresses = names.map((_, i) => benchAddress(64, i + 1));
  return {
    engine: 'mysql',
    cluster: 'orders',
    names,
    start: async () => {
      await startHosts(names.map((n, i) => ({ name: n, address: addresses[i] ?? '', baseDir: dir, mariadb: true })));
    },
    spec: (primary) => `version: 1
hosts:
${names.map((n, i) => `  ${n}: { address: ${addresses[i] ?? ''}, mysql: { user: root } }`).join('\n')}
clusters:
  orders:
    engine: mysql
    members: [db1, db2, db3]
    replication: { primary: ${primary}, user: repl, password: { file: ${dir}/repl.pw }, maxLagSeconds: 30, catchUpSeconds: 30 }
    databases: [{ name: shop }]
    users: [{ name: app, host: "127.%", password: { file: ${dir}/app.pw }, grants: [{ privileges: [SELECT, INSERT, CREATE], on: "shop.*" }] }]
${policy}`,
    prepare: async () => {
      const root = await mysql.createConnection({ host: addresses[0] ?? '', user: 'root' });
      await root.query('CREATE TABLE IF NOT EXISTS shop.t (id INT PRIMARY KEY)');
      await root.end();
    },
    connect: async () => {
      const conns = await Promise.all(
        addresses.map((a) => mysql.createConnection({ host: a, user: 'app', password: APP_PW })),
      );
      return {
        insert: async (i, id) => {
          await conns[i]?.query('INSERT INTO shop.t (id) VALUES (?)', [id]);
        },
        end: async () => {
          await Promise.all(conns.map((c) => c.end()));
        },
      };
    },
    window: (h, t0) => {
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
      return fence === undefined || promote === undefined
        ? undefined
        : { stopped: fence.time, promoted: promote.ended };
    },
  };
}

function postgresRing(): Ring {
  const names = ['pg1', 'pg2', 'pg3'] as const;
  const addresses = names.map((_, i) => benchAddress(65, i + 1));
  const hosts: LabHost[] = [];
  let key = '';
  let knownHosts = '';
  return {
    engine: 'postgres',
    cluster: 'ledger',
    names,
    start: async () => {
      const [first] = await startHosts([
        { name: 'pg1', address: addresses[0] ?? '', ssh: true, postgres: true, baseDir: dir },
      ]);
      if (first?.sshd === undefined) throw new Error('pg1 has no sshd');
      key = first.sshd.clientKeyFile;
      const rest = await startHosts(
        [1, 2].map((i) => ({
          name: names[i] ?? '',
          address: addresses[i] ?? '',
          ssh: { clientKeyFile: key },
          postgres: true,
          baseDir: dir,
        })),
      );
      hosts.push(first, ...rest);
      knownHosts = join(dir, 'known_hosts');
      writeFileSync(knownHosts, hosts.map((h) => h.sshd?.knownHostsLine ?? '').join('\n') + '\n');
    },
    spec: (primary) => `version: 1
hosts:
${hosts
  .map((h, i) => {
    const s = h.postgres?.scripts;
    if (s === undefined) throw new Error(`${h.name} has no PostgreSQL`);
    return `  ${names[i] ?? ''}:
    address: ${h.address}
    ssh: { port: 2222, user: root, privateKeyFile: ${key}, knownHostsFile: ${knownHosts} }
    service: { commands: { start: ${JSON.stringify(s.start)}, stop: ${JSON.stringify(s.stop)}, restart: ${JSON.stringify(s.restart)}, status: ${JSON.stringify(s.status)} } }
    postgres: { user: postgres }
`;
  })
  .join('')}clusters:
  ledger:
    engine: postgres
    members: [pg1, pg2, pg3]
    replication: { primary: ${primary}, user: replicator, password: { file: ${dir}/repl.pw }, catchUpSeconds: 30 }
    roles: [{ name: app, login: true, password: { file: ${dir}/app.pw } }]
    databases: [{ name: ledger, owner: app }]
${policy}`,
    prepare: async () => {
      const c = new pg.Client({ host: addresses[0], user: 'app', password: APP_PW, database: 'ledger' });
      await c.connect();
      await c.query('CREATE TABLE IF NOT EXISTS t (id int PRIMARY KEY)');
      await c.end();
    },
    connect: async () => {
      // One client per member, reconnected after the member restarts (a stopped primary, a rejoin).
      const clients: (pg.Client | undefined)[] = names.map(() => undefined);
      const get = async (i: number): Promise<pg.Client> => {
        const have = clients[i];
        if (have !== undefined) return have;
        const c = new pg.Client({
          host: addresses[i],
          user: 'app',
          password: APP_PW,
          database: 'ledger',
          connectionTimeoutMillis: 1000,
        });
        c.on('error', () => (clients[i] = undefined));
        await c.connect();
        clients[i] = c;
        return c;
      };
      return {
        insert: async (i, id) => {
          const c = await get(i);
          try {
            await c.query('INSERT INTO t (id) VALUES ($1)', [id]);
          } catch (err) {
            // A standby refuses writes on a good connection; anything else drops the connection.
            if ((err as { code?: string }).code !== '25006') {
              clients[i] = undefined;
              await c.end().catch(() => undefined);
            }
            throw err;
          }
        },
        end: async () => {
          for (const c of clients) await c?.end().catch(() => undefined);
        },
      };
    },
    window: (h, t0) => {
      // One step: the event "<old> checkpointed at ...; stopping it" marks the stop; the step ends once pg_promote() returned.
      const stopping = h
        .prepare(
          "SELECT time FROM entries WHERE cluster = 'ledger' AND kind = 'event' AND summary LIKE '%stopping it (fast)' AND time >= ? ORDER BY id LIMIT 1",
        )
        .get(t0) as { time: number } | undefined;
      const step = h
        .prepare(
          "SELECT ended FROM entries WHERE cluster = 'ledger' AND kind = 'action' AND field = 'switchover' AND outcome = 'ok' AND time >= ? ORDER BY id LIMIT 1",
        )
        .get(t0) as { ended: number } | undefined;
      return stopping === undefined || step === undefined
        ? undefined
        : { stopped: stopping.time, promoted: step.ended };
    },
  };
}

const rings = [
  ...(ENGINES === 'both' || ENGINES === 'mysql' ? [mariadbRing()] : []),
  ...(ENGINES === 'both' || ENGINES === 'postgres' ? [postgresRing()] : []),
];
const results = new Map<string, Rep[]>();
try {
  for (const ring of rings) results.set(ring.engine, await runRing(ring));
} finally {
  await destroyAll();
}

const tables: Table[] = [];
const figures: Figure[] = [];
const label = { mysql: 'MariaDB', postgres: 'PostgreSQL' } as const;
for (const ring of rings) {
  const reps = results.get(ring.engine) ?? [];
  const name = label[ring.engine];
  const table: Table = {
    title: `${name}: planned switchovers under a writer`,
    headers: ['#', 'FROM -> TO', 'WRITES STOPPED (history)', "WRITER'S LONGEST GAP", 'EDIT -> CONVERGED', 'ROWS'],
    rows: reps.map((r, i) => [
      String(i + 1),
      `${r.from} -> ${r.to}`,
      ms(r.writesStoppedMs),
      ms(r.writerGapMs),
      ms(r.convergedMs),
      String(r.rows),
    ]),
  };
  printTable(table);
  tables.push(table);
  figures.push(
    {
      figure: `${name} switchover: writes stopped -> new primary takes writes (median, from history)`,
      value: ms(median(reps.map((r) => r.writesStoppedMs))),
      target: '(reported)',
    },
    {
      figure: `${name} switchover: the writer's longest gap between commits (median)`,
      value: ms(median(reps.map((r) => r.writerGapMs))),
      target: '(reported)',
    },
    {
      figure: `${name} switchover: file edited -> topology converged (median)`,
      value: ms(median(reps.map((r) => r.convergedMs))),
      target: '(reported)',
    },
  );
}
writeResult({
  name: 'switchover',
  title: '7. Planned switchover',
  command: 'npm run build && node --import tsx bench/switchover.ts',
  startedAt: new Date(started).toISOString(),
  durationMs: Date.now() - started,
  machine: machine(),
  method: [
    `Three lab servers per engine, the daemon (resync 1 s, a maintenance window always open) keeping them a topology, and a writer inserting one row at a time as an unprivileged account into whichever member takes writes (it moves on when one refuses). The file's primary is moved around the ring ${REPS} times per engine.`,
    'MariaDB 10.11 on 127.0.64.1-3 (GTID binlogs, log_slave_updates, gtid_strict_mode; SQL only). WRITES STOPPED is the start of step 1 (the old primary made read-only) to the end of step 2 (the candidate has applied every GTID of the old primary and is writable).',
    "PostgreSQL 15 on 127.0.65.1-3 with sshd (services started and stopped over SSH). WRITES STOPPED is the moment setpoint starts the old primary's stop command (after its CHECKPOINT) to the end of the step (the candidate replayed its final checkpoint and is out of recovery): an upper bound, since it includes starting the SSH command before the server gets the signal. On this machine that start costs 0.5-0.8 s under the writer's load because root's ~/.bashrc, which sshd runs for every command, runs `pyenv init` (165 ms unloaded); the writer's gap is when writes really stop.",
    "WRITER'S LONGEST GAP is the longest time between two of the writer's commits from the edit to convergence (it includes the writer noticing and moving to the new primary). EDIT -> CONVERGED is wall time from writing the file to the topology pass recording the new primary with every other member following it (for PostgreSQL this includes the old primary restarting as a standby).",
  ],
  figures,
  tables,
  raw: Object.fromEntries(results),
});
