/**
 * Benchmark 1, no-op pass cost: one MariaDB and one PostgreSQL target with N = 10, 100, 1,000 and
 * 10,000 declared users/roles, converged; a full pass (observe + diff + plan, nothing to do) timed
 * in-process, beside the floor: the same catalog queries sent through the engine's own client.
 *
 *   node --import tsx bench/noop.ts [--sizes 10,100,1000,10000] [--runs 9]
 */
import { writeFileSync } from 'node:fs';
import type { History } from '../src/history/store.js';
import type { PassOutcome } from '../src/loop/reconcile.js';
import type { Target } from '../src/loop/targets.js';
import type { SessionPool } from '../src/transport/sessions.js';
import { destroyAll } from '../lab/index.js';
import { capture, inFlightMs, mysqlText, postgresText, type Captured } from './lib/capture.js';
import { benchAddress, cli, join, mariadbSession, psqlSession, startHosts, timedReplay, workDir } from './lib/lab.js';
import {
  arg,
  bytes,
  machine,
  median,
  ms,
  printTable,
  progress,
  ratio,
  sum,
  writeResult,
  type Figure,
  type Table,
} from './lib/report.js';
import {
  hostsBlock,
  mysqlCluster,
  mysqlDdl,
  PASSWORD,
  postgresCluster,
  postgresDdl,
  postgresManyDatabases,
  spec,
} from './lib/specs.js';
import { fromDist } from './lib/dist.js';

const { engines } = await fromDist<typeof import('../agents/index.js')>('agents/index.js');
const { History: HistoryStore } = await fromDist<typeof import('../src/history/store.js')>('src/history/store.js');
const { silent } = await fromDist<typeof import('../src/log.js')>('src/log.js');
const { reconcile } = await fromDist<typeof import('../src/loop/reconcile.js')>('src/loop/reconcile.js');
const { recordPass } = await fromDist<typeof import('../src/loop/record.js')>('src/loop/record.js');
const { targetsOf } = await fromDist<typeof import('../src/loop/targets.js')>('src/loop/targets.js');
const { parseSpec } = await fromDist<typeof import('../src/spec/load.js')>('src/spec/load.js');
const { SessionPool: Pool } =
  await fromDist<typeof import('../src/transport/sessions.js')>('src/transport/sessions.js');

const SIZES = arg('sizes', '10,100,1000,10000').split(',').map(Number);
const RUNS = Number(arg('runs', '9'));
/** PostgreSQL databases of the many-databases shape (0 skips it): more than the server's max_connections (100). */
const DATABASES = Number(arg('databases', '1000'));
const PG_DBS = ['b0', 'b1', 'b2', 'b3'];

const started = Date.now();
const say = progress(started);
const dir = workDir('noop');
const address = benchAddress(60, 1);
const pwFile = join(dir, 'pw');
writeFileSync(pwFile, `${PASSWORD}\n`, { mode: 0o600 });

interface Row {
  engine: string;
  n: number;
  passMs: number[];
  commitMs: number[];
  statements: number;
  bytesIn: number;
  inFlightMs: number;
  floorMs: number[];
  floorSerialMs: number[];
  markerMs: number;
  queries: number;
  connections: number;
}

/** Floor of one pass: each captured query replayed in a client session of its own connection (database). */
async function floor(
  engine: 'mysql' | 'postgres',
  log: readonly Captured[],
  runs: number,
): Promise<{ perRun: number[]; serial: number[]; markerMs: number }> {
  const scopes = new Map<string, number[]>();
  log.forEach((c, i) => {
    const s = c.scope ?? (engine === 'postgres' ? 'postgres' : '');
    scopes.set(s, [...(scopes.get(s) ?? []), i]);
  });
  const timeOf: number[][] = Array.from({ length: runs }, () => new Array<number>(log.length).fill(0));
  let marker = 0;
  for (const [scope, idx] of scopes) {
    const texts = idx.map((i) =>
      engine === 'mysql' ? mysqlText(log[i] as Captured) : postgresText(log[i] as Captured),
    );
    const r = await timedReplay(
      engine,
      (input) => (engine === 'mysql' ? mariadbSession(address, input) : psqlSession(address, scope, input)),
      texts,
      runs,
    );
    marker = r.markerMs;
    r.perQuery.forEach((row, run) => row.forEach((t, k) => ((timeOf[run] as number[])[idx[k] as number] = t)));
  }
  // The pass sends one kind's per-database queries at once: a run of the same text to different
  // databases counts as its slowest member (the strict floor); `serial` adds them all up.
  const perRun = timeOf.map((times) => {
    let total = 0;
    for (let i = 0; i < log.length;) {
      let j = i;
      let worst = 0;
      while (j < log.length && (log[j] as Captured).sql === (log[i] as Captured).sql)
        worst = Math.max(worst, times[j++] as number);
      total += worst;
      i = j;
    }
    return total;
  });
  return { perRun, serial: timeOf.map(sum), markerMs: marker };
}

async function measure(t: Target, pool: SessionPool, history: History, n: number, version: string): Promise<Row> {
  const engine = t.engine.name as 'mysql' | 'postgres';
  const pass = (): Promise<PassOutcome> => reconcile(t, { pool, log: silent, specVersion: version }, { act: false });
  // Warm-up: connections opened, password checks cached, the code compiled as a running daemon has it
  // (a daemon runs the same passes forever); and the proof that the target is converged.
  const first = await pass();
  for (let i = 0; i < Math.max(2, Math.ceil(2000 / n)); i++) await pass();
  if (first.error !== undefined || (first.drift?.length ?? -1) !== 0 || first.changes.length !== 0) {
    throw new Error(
      `${t.key} at N=${n} is not converged: ${first.error?.message ?? ''} ${JSON.stringify(first.drift?.slice(0, 3))} ${first.changes.length} change(s)`,
    );
  }
  recordPass(history, first, version);
  const session = await pool.get(t);
  const cap = capture(session);
  const captured = await pass();
  cap.stop();
  const passMs: number[] = [];
  const commitMs: number[] = [];
  const floorMs: number[] = [];
  const floorSerialMs: number[] = [];
  const inFlight: number[] = [];
  let markerMs = 0;
  let last = captured;
  // Pass and floor alternate, so both see the same machine.
  for (let r = 0; r < RUNS; r++) {
    const during = capture(session);
    const t0 = performance.now();
    last = await pass();
    passMs.push(performance.now() - t0);
    during.stop();
    inFlight.push(inFlightMs(during.log));
    const t1 = performance.now();
    recordPass(history, last, version);
    commitMs.push(performance.now() - t1);
    const f = await floor(engine, cap.log, 1);
    floorMs.push(...f.perRun);
    floorSerialMs.push(...f.serial);
    markerMs = f.markerMs;
  }
  if (last.statements !== captured.statements)
    throw new Error(`statements per pass vary: ${captured.statements} then ${last.statements}`);
  const scopes = new Set(cap.log.map((c) => c.scope ?? ''));
  return {
    engine: session.server,
    n,
    passMs,
    commitMs,
    statements: last.statements,
    bytesIn: last.bytesIn,
    inFlightMs: median(inFlight),
    floorMs,
    floorSerialMs,
    markerMs,
    queries: cap.log.length,
    connections: scopes.size,
  };
}

try {
  say(`starting MariaDB and PostgreSQL on ${address}`);
  await startHosts([{ name: 'noop', address, mariadb: true, postgres: true, baseDir: dir }]);
  const host = hostsBlock([{ name: 'h', address, mysql: true, postgres: true }]);
  const rows: Row[] = [];
  let have = 0;
  await psqlSession(address, 'postgres', PG_DBS.map((d) => `CREATE DATABASE ${d} STRATEGY FILE_COPY;`).join('\n'));
  const history = HistoryStore.open(join(dir, 'history.db'), { daemonId: 'bench-noop' });
  for (const n of SIZES) {
    say(`seeding objects ${have}..${n - 1} on both servers`);
    const t0 = Date.now();
    await Promise.all([
      mariadbSession(address, mysqlDdl(have, n)),
      psqlSession(address, 'postgres', postgresDdl(have, n, PG_DBS, false)),
    ]);
    say(`seeded in ${Date.now() - t0} ms; loading the spec`);
    have = n;
    const text = spec(host, mysqlCluster('my', ['h'], 0, n, pwFile) + postgresCluster('pg', ['h'], 0, n, PG_DBS));
    const t1 = Date.now();
    const loaded = parseSpec(text, join(dir, 'noop.yaml'), engines);
    say(`spec of ${(text.length / 1024).toFixed(0)} KB parsed in ${Date.now() - t1} ms; measuring`);
    const pool = new Pool();
    for (const t of targetsOf(loaded.spec, engines)) {
      const row = await measure(t, pool, history, n, loaded.version);
      rows.push(row);
      say(
        `${row.engine} N=${n}: pass ${ms(median(row.passMs))}, floor ${ms(median(row.floorMs))}, ${row.statements} statements, ${bytes(row.bytesIn)}`,
      );
    }
    await pool.closeAll();
  }
  let many: { databases: number; convergeMs: number; maxConnections: string } | undefined;
  if (DATABASES > 0) {
    // A server with more databases than connections: converged by `apply --once` from empty, then measured.
    const text = spec(host, postgresManyDatabases('many', ['h'], DATABASES));
    const file = join(dir, 'many.yaml');
    writeFileSync(file, text);
    say(`PostgreSQL: converging ${DATABASES} databases, roles and database grants with apply --once`);
    const a = await cli(['apply', '-f', file, '--once', '--cluster', 'many', '--db', join(dir, 'many.db')]);
    if (a.code !== 0) throw new Error(`apply of ${DATABASES} databases exited ${a.code}: ${a.stderr.slice(-2000)}`);
    const maxConnections = (await psqlSession(address, 'postgres', 'SHOW max_connections;')).stdout.trim();
    many = { databases: DATABASES, convergeMs: a.wallMs, maxConnections };
    say(`converged in ${ms(a.wallMs)} (max_connections ${maxConnections}); measuring`);
    const loaded = parseSpec(text, file, engines);
    const pool = new Pool();
    for (const t of targetsOf(loaded.spec, engines, { cluster: 'many' })) {
      const row = await measure(t, pool, history, DATABASES, loaded.version);
      row.engine = `${row.engine}, ${DATABASES.toLocaleString('en-US')} databases`;
      rows.push(row);
      say(`${row.engine}: pass ${ms(median(row.passMs))}, floor ${ms(median(row.floorMs))}`);
    }
    await pool.closeAll();
  }
  history.close();

  const table: Table = {
    title: 'No-op pass: observe + diff + plan, nothing to do (median of runs)',
    headers: [
      'ENGINE',
      'N',
      'PASS',
      'FLOOR',
      'RATIO',
      'FLOOR (SERIAL)',
      'STATEMENTS',
      'CONNECTIONS',
      'BYTES IN',
      'QUERIES IN FLIGHT',
      '+ HISTORY COMMIT',
    ],
    rows: rows.map((r) => [
      r.engine,
      String(r.n),
      ms(median(r.passMs)),
      ms(median(r.floorMs)),
      ratio(median(r.passMs), median(r.floorMs)),
      ms(median(r.floorSerialMs)),
      String(r.statements),
      String(r.connections),
      bytes(r.bytesIn),
      ms(r.inFlightMs),
      ms(median(r.commitMs)),
    ]),
  };
  printTable(table);
  const figures: Figure[] = [];
  for (const engine of [...new Set(rows.map((r) => r.engine))]) {
    const mine = rows.filter((r) => r.engine === engine);
    const counts = [...new Set(mine.map((r) => r.statements))];
    figures.push({
      figure: `${engine}: statements per no-op pass, N = ${mine.map((r) => r.n.toLocaleString('en-US')).join(' / ')}`,
      value: mine.map((r) => String(r.statements)).join(' / '),
      target: 'constant in N',
      met: counts.length === 1,
    });
    for (const r of mine) {
      const p = median(r.passMs);
      const f = median(r.floorMs);
      figures.push({
        figure: `${engine}: no-op pass, N = ${r.n.toLocaleString('en-US')}`,
        value: ms(p),
        target: '≤ 2× floor',
        floor: ms(f),
        ratio: ratio(p, f),
        met: p <= 2 * f,
      });
    }
  }
  if (many !== undefined)
    figures.push({
      figure: `PostgreSQL: ${many.databases.toLocaleString('en-US')} databases (max_connections ${many.maxConnections}) + roles + database grants converge from empty, apply --once`,
      value: ms(many.convergeMs),
      target: 'converges',
      met: true,
    });
  writeResult({
    name: 'noop',
    title: '1. No-op pass cost',
    command: 'node --import tsx bench/noop.ts',
    startedAt: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    machine: machine(),
    method: [
      `One lab host (${address}) with MariaDB 10.11 and PostgreSQL 15. Objects are added as N grows (${SIZES.join(', ')}), seeded with plain DDL through the engines' own clients; before measuring, a pass must find no drift and plan no change (converged).`,
      'MariaDB object i: database d<i>, user u<i>@% with a password (a secret file; mysql_native_password), and SELECT, INSERT, UPDATE, DELETE on d<i>.*: N users, N databases, N grants. 10,000 MariaDB databases fit (each is a folder), so N = 10,000 is the full shape.',
      `PostgreSQL object i: role r<i> (LOGIN, no password), schema s<i> in one of ${PG_DBS.length} databases (${PG_DBS.join(', ')}, CREATE DATABASE ... STRATEGY FILE_COPY), and USAGE on s<i> granted to r<i>: N roles, N schemas, N grants, ${PG_DBS.length} databases. A database per role is not feasible here (CREATE DATABASE writes ~7.5 MB each: 10,000 would be ~75 GB), so "its own database" became "its own schema". Roles carry no password: checking 10,000 SCRAM verifiers (4,096 HMAC rounds each) is a one-time cost per daemon start that setpoint caches, and would only slow the seeding.`,
      `PASS: reconcile(target, …, { act: false }) in-process (the built code in dist/) with a SessionPool whose connections are already open, after warm-up passes (max(3, 2000 / N): a daemon runs the same passes forever, so its code is compiled hot), timed with performance.now(); the median of ${RUNS} passes. STATEMENTS and BYTES IN are PassOutcome.statements and .bytesIn (bytes read from the server sockets). "+ HISTORY COMMIT" is what the daemon adds after each pass: recordPass() into a SQLite history file (nothing changed, so nothing but the target row is written). QUERIES IN FLIGHT is the time within a pass during which at least one query was outstanding (median over the timed passes; the rest of the pass is setpoint's own CPU: diff, plan, JSON for history).`,
      `FLOOR: the exact SQL of one pass, captured by wrapping the session's query() (parameters inlined as literals), replayed through the engine's own client — one \`mariadb\` session, or one \`psql\` session per database the pass reads (PostgreSQL reads per-database catalogs over one connection per database) — once after each timed pass (${RUNS} times). Each query is bracketed by server-side timestamps (SELECT UNIX_TIMESTAMP(SYSDATE(6)) / clock_timestamp()); a query's time is the interval between the markers before and after it, minus the interval between that marker and the next one (a bare marker's round trip, measured at the same moment): its round trip as the client sees it (send, execute, receive and print the rows), without client start-up or connect. setpoint sends one kind's per-database queries concurrently, so for PostgreSQL the floor counts each such group as its slowest member (FLOOR); FLOOR (SERIAL) adds them all up. MariaDB has one connection, where both are the same.`,
      "Passes and floor replays alternate on the same servers; the ratio is the figure, absolute times move with the machine's load.",
      `Many databases (PostgreSQL, ${DATABASES.toLocaleString('en-US')} databases): database m<i> (STRATEGY FILE_COPY), role m<i>_app and CONNECT, TEMPORARY on m<i> granted to it, on the same server, whose max_connections is 100: converged from empty by \`setpoint apply --once\` (the real CLI; it must exit 0), then measured like the rows above. Nothing is declared inside those databases, so their privileges come from pg_database over the admin connection.`,
    ],
    figures,
    tables: [table],
    raw: rows,
  });
} finally {
  await destroyAll();
}
