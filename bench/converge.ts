/**
 * Benchmark 2, converge from empty: N = 1,000 users + databases + grants (MariaDB) and N = 1,000
 * roles + schemas + grants in 4 databases (PostgreSQL): `setpoint apply --once` (the real CLI) wall
 * time, beside the floor: the same DDL piped through one `mariadb` / `psql` session.
 *
 *   npm run build && node --import tsx bench/converge.ts [--n 1000] [--runs 3]
 */
import { writeFileSync } from 'node:fs';
import type { Session } from '../src/engine.js';
import { destroyAll } from '../lab/index.js';
import { capture, mysqlText, postgresText, type Captured } from './lib/capture.js';
import { fromDist } from './lib/dist.js';
import { benchAddress, cli, join, mariadbSession, psqlSession, startHosts, workDir } from './lib/lab.js';
import {
  arg,
  machine,
  median,
  ms,
  printTable,
  progress,
  ratio,
  writeResult,
  type Figure,
  type Table,
} from './lib/report.js';
import { hostsBlock, mysqlCluster, PASSWORD, postgresCluster, spec } from './lib/specs.js';

const { engines } = await fromDist<typeof import('../agents/index.js')>('agents/index.js');
const { silent } = await fromDist<typeof import('../src/log.js')>('src/log.js');
const { reconcile } = await fromDist<typeof import('../src/loop/reconcile.js')>('src/loop/reconcile.js');
const { targetsOf } = await fromDist<typeof import('../src/loop/targets.js')>('src/loop/targets.js');
const { parseSpec } = await fromDist<typeof import('../src/spec/load.js')>('src/spec/load.js');
const { SessionPool } = await fromDist<typeof import('../src/transport/sessions.js')>('src/transport/sessions.js');

const N = Number(arg('n', '1000'));
const RUNS = Number(arg('runs', '3'));
const PG_DBS = ['b0', 'b1', 'b2', 'b3'];

const started = Date.now();
const say = progress(started);
const dir = workDir('converge');
const address = benchAddress(61, 1);
const pwFile = join(dir, 'pw');
writeFileSync(pwFile, `${PASSWORD}\n`, { mode: 0o600 });
const file = join(dir, 'converge.yaml');
const text = spec(
  hostsBlock([{ name: 'h', address, mysql: true, postgres: true }]),
  mysqlCluster('my', ['h'], 0, N, pwFile) + postgresCluster('pg', ['h'], 0, N, PG_DBS),
);
writeFileSync(file, text);

/** Back to empty: everything the spec declares is dropped. */
async function reset(engine: 'mysql' | 'postgres'): Promise<void> {
  if (engine === 'mysql') {
    let sql = '';
    for (let i = 0; i < N; i++) sql += `DROP DATABASE IF EXISTS \`d${i}\`;\nDROP USER IF EXISTS 'u${i}'@'%';\n`;
    await mariadbSession(address, sql);
  } else {
    let sql = PG_DBS.map((d) => `DROP DATABASE IF EXISTS ${d} WITH (FORCE);`).join('\n') + '\n';
    for (let i = 0; i < N; i++) sql += `DROP ROLE IF EXISTS r${i};\n`;
    await psqlSession(address, 'postgres', sql);
  }
}

/** The DDL a converge sends, captured from an in-process pass on the empty server (parameters inlined). */
async function captureDdl(engine: 'mysql' | 'postgres'): Promise<{ statements: Captured[]; ms: number }> {
  const loaded = parseSpec(text, file, engines);
  const [t] = targetsOf(loaded.spec, engines, { cluster: engine === 'mysql' ? 'my' : 'pg' });
  if (t === undefined) throw new Error('no target');
  const pool = new SessionPool();
  const session: Session = await pool.get(t);
  const cap = capture(session);
  const t0 = performance.now();
  const o = await reconcile(t, { pool, log: silent, specVersion: loaded.version }, { act: true });
  const took = performance.now() - t0;
  cap.stop();
  await pool.closeAll();
  if (o.state !== 'converged')
    throw new Error(`in-process converge of ${engine} ended ${o.state}: ${o.error?.message ?? ''}`);
  return { statements: cap.log.filter((c) => !/^\s*(SELECT|WITH|SHOW)\b/i.test(c.sql)), ms: took };
}

/** The captured DDL as one client's input; PostgreSQL statements grouped by database within each kind of statement, `\c` between. */
function floorInput(engine: 'mysql' | 'postgres', ddl: readonly Captured[]): string {
  if (engine === 'mysql') return ddl.map((c) => `${mysqlText(c)};\n`).join('');
  const kinds: string[] = [];
  const keyed = ddl.map((c, i) => {
    const kind = c.sql.split(/\s+/).slice(0, 2).join(' ');
    if (!kinds.includes(kind)) kinds.push(kind);
    return { c, i, kind: kinds.indexOf(kind), scope: c.scope ?? 'postgres' };
  });
  keyed.sort((a, b) => a.kind - b.kind || (a.scope < b.scope ? -1 : a.scope > b.scope ? 1 : 0) || a.i - b.i);
  let out = '';
  let scope = 'postgres';
  for (const k of keyed) {
    if (k.scope !== scope) {
      out += `\\c ${k.scope}\n`;
      scope = k.scope;
    }
    out += `${postgresText(k.c)};\n`;
  }
  return out;
}

interface Row {
  engine: string;
  statements: number;
  applyMs: number[];
  floorMs: number[];
  inProcessMs: number;
}

try {
  say(`starting MariaDB and PostgreSQL on ${address}`);
  await startHosts([{ name: 'converge', address, mariadb: true, postgres: true, baseDir: dir }]);
  const rows: Row[] = [];
  const startup: number[] = [];
  for (const engine of ['mysql', 'postgres'] as const) {
    const cluster = engine === 'mysql' ? 'my' : 'pg';
    say(`${engine}: capturing the DDL of a converge from empty (in-process)`);
    const { statements, ms: inProcessMs } = await captureDdl(engine);
    const input = floorInput(engine, statements);
    const row: Row = { engine, statements: statements.length, applyMs: [], floorMs: [], inProcessMs };
    for (let r = 0; r < RUNS; r++) {
      await reset(engine);
      const f =
        engine === 'mysql' ? await mariadbSession(address, input) : await psqlSession(address, 'postgres', input);
      row.floorMs.push(f.wallMs);
      await reset(engine);
      const db = join(dir, `history-${engine}-${r}.db`);
      const a = await cli(['apply', '-f', file, '--once', '--cluster', cluster, '--db', db]);
      if (a.code !== 0)
        throw new Error(`setpoint apply exited ${a.code}: ${a.stderr.slice(-2000)}${a.stdout.slice(-2000)}`);
      row.applyMs.push(a.wallMs);
      startup.push((await cli(['apply', '--help'])).wallMs);
      say(`${engine} run ${r + 1}: apply ${ms(a.wallMs)}, floor ${ms(f.wallMs)} (${statements.length} statements)`);
    }
    rows.push(row);
  }
  const table: Table = {
    title: `Converge from empty, N = ${N.toLocaleString('en-US')} (median of ${RUNS} runs, apply and floor alternating)`,
    headers: [
      'ENGINE',
      'DDL STATEMENTS',
      'SETPOINT APPLY --ONCE',
      'FLOOR (ONE CLIENT SESSION)',
      'RATIO',
      'IN-PROCESS PASS',
      'RUNS (APPLY)',
      'RUNS (FLOOR)',
    ],
    rows: rows.map((r) => [
      r.engine,
      String(r.statements),
      ms(median(r.applyMs)),
      ms(median(r.floorMs)),
      ratio(median(r.applyMs), median(r.floorMs)),
      ms(r.inProcessMs),
      r.applyMs.map((x) => Math.round(x)).join(', '),
      r.floorMs.map((x) => Math.round(x)).join(', '),
    ]),
  };
  printTable(table);
  const figures: Figure[] = rows.map((r) => {
    const a = median(r.applyMs);
    const f = median(r.floorMs);
    return {
      figure: `${r.engine === 'mysql' ? 'MariaDB' : 'PostgreSQL'}: converge ${N.toLocaleString('en-US')} ${r.engine === 'mysql' ? 'users + databases + grants' : 'roles + schemas + grants (4 databases)'} from empty, apply --once`,
      value: ms(a),
      target: '≤ 1.5× floor',
      floor: ms(f),
      ratio: ratio(a, f),
      met: a <= 1.5 * f,
    };
  });
  figures.push({
    figure:
      "start-up of the apply command (`setpoint apply --help`: Node, the engines' modules, parsing the arguments), part of every apply above",
    value: ms(median(startup)),
    target: '-',
  });
  writeResult({
    name: 'converge',
    title: '2. Converge from empty',
    command: 'node --import tsx bench/converge.ts',
    startedAt: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    machine: machine(),
    method: [
      `One lab host (${address}) with MariaDB 10.11 and PostgreSQL 15. MariaDB: ${N} databases, ${N} users (mysql_native_password, one secret file) and ${N} grants (SELECT, INSERT, UPDATE, DELETE on d<i>.*). PostgreSQL: ${N} roles (LOGIN), ${N} schemas spread over ${PG_DBS.length} databases created WITH STRATEGY FILE_COPY, and ${N} grants (USAGE on each schema to its role); a database per role would be ~7.5 GB of CREATE DATABASE here.`,
      'APPLY: wall time of `node dist/bin/setpoint.js apply -f FILE --once --cluster C --db NEW.db`, from spawn to exit: Node start-up, loading and validating the file, observing, every change (each journaled in the history file before and after it runs), the observation that proves convergence, and the history commit. It must exit 0 (converged).',
      "FLOOR: the same DDL — captured from an in-process converge by wrapping the session's query(), parameters inlined (the password goes as its mysql_native_password hash, as setpoint sends it) — piped through one `mariadb` / `psql` session; wall time of the client process (its start-up is a few ms). psql switches databases with \\c: its statements are grouped by database within each kind (roles, databases, schemas, grants), which only helps the floor.",
      `Before every run the server is reset to empty (DROP everything declared). Apply and floor alternate, ${RUNS} runs each; the figure is the median. IN-PROCESS PASS is the capture run (reconcile with act: true in-process, no history): what the CLI adds on top of it is start-up, spec loading and history.`,
    ],
    figures,
    tables: [table],
    raw: { rows, startup },
  });
} finally {
  await destroyAll();
}
