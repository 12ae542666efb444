/**
 * Where a no-op pass spends its time: seeds N objects on a lab host, converges, then profiles warm
 * in-process passes (the daemon's case) with the inspector and prints the heaviest functions.
 *
 *   npm run build && node --import tsx bench/noop-prof.ts [--n 10000] [--engine mysql|postgres] [--passes 5]
 */
import { writeFileSync } from 'node:fs';
import { Session as Inspector } from 'node:inspector/promises';
import { destroyAll } from '../lab/index.js';
import { fromDist } from './lib/dist.js';
import { benchAddress, join, mariadbSession, psqlSession, startHosts, workDir } from './lib/lab.js';
import { arg, median } from './lib/report.js';
import { hostsBlock, mysqlCluster, mysqlDdl, PASSWORD, postgresCluster, postgresDdl, spec } from './lib/specs.js';

const { engines } = await fromDist<typeof import('../agents/index.js')>('agents/index.js');
const { silent } = await fromDist<typeof import('../src/log.js')>('src/log.js');
const { reconcile } = await fromDist<typeof import('../src/loop/reconcile.js')>('src/loop/reconcile.js');
const { targetsOf } = await fromDist<typeof import('../src/loop/targets.js')>('src/loop/targets.js');
const { parseSpec } = await fromDist<typeof import('../src/spec/load.js')>('src/spec/load.js');
const { SessionPool } = await fromDist<typeof import('../src/transport/sessions.js')>('src/transport/sessions.js');

const N = Number(arg('n', '10000'));
const ENGINE = arg('engine', 'mysql');
const PASSES = Number(arg('passes', '5'));
const PG_DBS = ['b0', 'b1', 'b2', 'b3'];
const dir = workDir('noop-prof');
const address = benchAddress(63, 1);
const pwFile = join(dir, 'pw');
writeFileSync(pwFile, `${PASSWORD}\n`, { mode: 0o600 });
const file = join(dir, 'spec.yaml');
const text = spec(
  hostsBlock([{ name: 'h', address, mysql: ENGINE === 'mysql', postgres: ENGINE === 'postgres' }]),
  ENGINE === 'mysql' ? mysqlCluster('c', ['h'], 0, N, pwFile) : postgresCluster('c', ['h'], 0, N, PG_DBS),
);
writeFileSync(file, text);
try {
  await startHosts([
    { name: 'prof', address, mariadb: ENGINE === 'mysql', postgres: ENGINE === 'postgres', baseDir: dir },
  ]);
  if (ENGINE === 'mysql') await mariadbSession(address, mysqlDdl(0, N));
  else await psqlSession(address, 'postgres', postgresDdl(0, N, PG_DBS, true));
  const loaded = parseSpec(text, file, engines);
  const [t] = targetsOf(loaded.spec, engines, { cluster: 'c' });
  if (t === undefined) throw new Error('no target');
  const pool = new SessionPool();
  const pass = () => reconcile(t, { pool, log: silent, specVersion: loaded.version }, { act: false });
  const first = await pass();
  if (first.state !== 'converged') throw new Error(`not converged: ${first.state} ${first.error?.message ?? ''}`);
  for (let i = 0; i < 3; i++) await pass();
  const times: number[] = [];
  const inspector = new Inspector();
  inspector.connect();
  await inspector.post('Profiler.enable');
  await inspector.post('Profiler.start');
  for (let i = 0; i < PASSES; i++) {
    const t0 = performance.now();
    await pass();
    times.push(performance.now() - t0);
  }
  const { profile } = await inspector.post('Profiler.stop');
  const out = join(dir, `${ENGINE}-${N}.cpuprofile`);
  writeFileSync(out, JSON.stringify(profile));
  process.stdout.write(
    `${ENGINE} N=${N}: pass median ${median(times).toFixed(1)} ms (${times.map((x) => x.toFixed(0)).join(', ')}); profile ${out}\n`,
  );
  await pool.closeAll();
} finally {
  await destroyAll();
}
