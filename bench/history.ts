/**
 * Benchmark 5, history: a history file grown through the real writer (History: commitPass,
 * recordDrift, actionStarted/actionEnded, recordSpec, event) to 10 million rows (entries +
 * observations) with a fleet-like mix, then the latency of `setpoint history --cluster X --since 1h`
 * and `setpoint status` (the real CLI, start-up included; start-up also measured alone).
 * The history's growth per converged target per day is measured with a real daemon in bench/fleet.ts.
 *
 *   npm run build && node --import tsx bench/history.ts [--rows 10000000] [--runs 7]
 */
import { statSync } from 'node:fs';
import type { Condition } from '../src/loop/conditions.js';
import type { DriftRecord, PassRecord, TargetKey } from '../src/history/store.js';
import { fromDist } from './lib/dist.js';
import { cli, join, workDir } from './lib/lab.js';
import {
  arg,
  bytes,
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

const { History } = await fromDist<typeof import('../src/history/store.js')>('src/history/store.js');
const { computeConditions } = await fromDist<typeof import('../src/loop/conditions.js')>('src/loop/conditions.js');

const ROWS = Number(arg('rows', '10000000'));
const RUNS = Number(arg('runs', '7'));
const CLUSTERS = 100;
const MEMBERS = 5;
const RESOURCES = 150;
const DAYS = 30;

const started = Date.now();
const say = progress(started);
const dir = workDir('history');
const file = join(dir, 'history.db');

// A small deterministic PRNG (mulberry32), so every run writes the same history.
let seed = 0x5e7b01;
function rand(): number {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;

interface Sim extends TargetKey {
  /** resource -> observed state (JSON), as a pass would hand it to commitPass. */
  observed: Map<string, string>;
  next: number;
  conditions: Condition[];
}

function userState(i: number, changed: number): string {
  return JSON.stringify({
    user: `u${i}`,
    host: '%',
    plugin: 'mysql_native_password',
    verifier: '[verifier]',
    passwordChanged: changed,
    locked: false,
    maxConnections: 0,
    maxQueriesPerHour: 0,
    maxUpdatesPerHour: 0,
    maxConnectionsPerHour: 0,
    tls: 'none',
  });
}
function resourcesOf(i: number, t: number): [string, string][] {
  return [
    [`mysql.database d${i}`, JSON.stringify({ name: `d${i}`, charset: 'utf8mb4', collation: 'utf8mb4_general_ci' })],
    [`mysql.user 'u${i}'@'%'`, userState(i, Math.floor(t / 1000))],
    [
      `mysql.grant 'u${i}'@'%' on d${i}.*`,
      JSON.stringify({
        user: `u${i}`,
        host: '%',
        target: { level: 'database', database: `d${i}` },
        privileges: ['DELETE', 'INSERT', 'SELECT', 'UPDATE'],
        grantOption: false,
      }),
    ],
  ];
}

/** Grows the file to `ROWS` rows through the writer; returns rows/s and what was written. */
function grow(): { seconds: number; counts: Record<string, number>; events: Record<string, number> } {
  const h = History.open(file, { daemonId: 'bench-history' });
  // Storage settings only, for growing fast (the writer's statements and transactions are its own): a 256 MB
  // page cache, and a rollback journal in memory instead of the WAL (which would write every page twice).
  // The file is switched back to WAL, as the daemon keeps it, before the CLI reads it.
  h.db.pragma('cache_size = -262144');
  h.db.pragma('journal_mode = MEMORY');
  h.db.pragma('synchronous = OFF');
  const now = Date.now();
  const span = DAYS * 86_400_000;
  let version = 'v000000000000';
  const sims: Sim[] = [];
  for (let c = 0; c < CLUSTERS; c++)
    for (let m = 0; m < MEMBERS; m++)
      sims.push({ cluster: `c${c}`, host: `c${c}-db${m}`, observed: new Map(), next: 0, conditions: [] });
  const rowsNow = () =>
    (
      h.db.prepare('SELECT (SELECT COUNT(*) FROM entries) + (SELECT COUNT(*) FROM observations) AS n').get() as {
        n: number;
      }
    ).n;
  const events: Record<string, number> = { initial: 0, drift: 0, change: 0, outage: 0, rollout: 0, event: 0 };
  let written = 0;
  // Time runs with the rows written, so the file spans DAYS days ending now, the last hour with its share.
  let perEvent = 30;
  let inBatch = 0;
  let lastTime = 0;
  const timeAt = () => {
    const t = now - span + Math.floor((Math.min(written + inBatch * perEvent, ROWS) / ROWS) * (span - 60_000));
    lastTime = Math.max(lastTime, t);
    return lastTime;
  };
  const commit = (
    s: Sim,
    time: number,
    extra: Partial<PassRecord> & { made?: number; error?: PassRecord['error'] },
  ) => {
    const state = extra.error !== undefined ? 'failing' : 'converged';
    s.conditions = computeConditions(
      s.conditions,
      {
        now: time,
        specVersion: version,
        state,
        observed: extra.error === undefined,
        made: extra.made ?? 0,
        drift: 0,
        waiting: [],
        ...(extra.error === undefined ? {} : { error: extra.error }),
        contested: [],
        runnable: 0,
      },
      { degradedAfterMs: 300_000 },
    );
    const { made: _made, ...rest } = extra;
    h.commitPass({
      cluster: s.cluster,
      host: s.host,
      time,
      specVersion: version,
      server: 'MariaDB 10.11.19',
      state,
      waiting: 0,
      ...(extra.error === undefined
        ? { observed: s.observed, drift: [] as DriftRecord[], message: 'converged' }
        : { message: extra.error.message }),
      nextAt: time + 30_000,
      conditions: s.conditions,
      ...rest,
    });
  };
  const t0 = performance.now();
  h.recordSpec({ file: '/etc/setpoint/setpoint.yaml', version, text: '# bench\n' }, now - span);
  // Every target's first observation: all its resources.
  h.db.transaction(() => {
    for (const s of sims) {
      for (let i = 0; i < RESOURCES / 3; i++) for (const [r, st] of resourcesOf(i, now - span)) s.observed.set(r, st);
      s.next = RESOURCES / 3;
      commit(s, now - span, {});
      events.initial = (events.initial ?? 0) + 1;
    }
  })();
  written = rowsNow();
  let lastReport = performance.now();
  while (written < ROWS) {
    const before = written;
    h.db.transaction(() => {
      for (let n = 0; n < 2000; n++) {
        inBatch = n;
        const s = pick(sims);
        const time = timeAt();
        const roll = rand();
        if (roll < 0.5) {
          // Drift found and repaired: a password or a grant changed by hand, put back.
          events.drift = (events.drift ?? 0) + 1;
          const k = 1 + Math.floor(-Math.log(1 - rand()) * 2);
          const keys = [...s.observed.keys()];
          const drift: DriftRecord[] = [];
          for (let j = 0; j < k; j++) {
            const r = pick(keys);
            const user = r.startsWith('mysql.user');
            drift.push({
              resource: r,
              field: user ? 'password' : 'privileges',
              summary: user
                ? 'password is a different password, declared [secret]'
                : 'privileges is SELECT, declared DELETE, INSERT, SELECT, UPDATE',
              desired: user ? '[secret]' : ['DELETE', 'INSERT', 'SELECT', 'UPDATE'],
              observed: user ? 'a different password' : ['SELECT'],
            });
          }
          h.recordDrift(s, drift, version, time);
          for (const d of drift) {
            const id = h.actionStarted(
              s,
              {
                resource: d.resource,
                summary: `set password (it does not match the declared one) for ${d.resource.slice(11)}`,
                risk: 'safe',
                action: 'alter',
                statements: ['ALTER USER `u`@`%` IDENTIFIED BY PASSWORD ?'],
              },
              version,
              time + 3,
            );
            h.actionEnded(id, rand() < 0.02 ? 'failed' : 'ok', undefined, time + 5);
            if (d.resource.startsWith('mysql.user')) {
              const i = Number(/'u(\d+)'/.exec(d.resource)?.[1] ?? 0);
              s.observed.set(d.resource, userState(i, Math.floor(time / 1000)));
            }
          }
          commit(s, time + 8, { made: drift.length });
        } else if (roll < 0.75) {
          // Observed state that changed with no drift (an undeclared option, a counter), recorded as it changes.
          events.change = (events.change ?? 0) + 1;
          const keys = [...s.observed.keys()].filter((r) => r.startsWith('mysql.user'));
          for (let j = 0; j < 3; j++) {
            const r = pick(keys);
            const i = Number(/'u(\d+)'/.exec(r)?.[1] ?? 0);
            s.observed.set(r, userState(i, Math.floor(time / 1000) + j));
          }
          commit(s, time, {});
        } else if (roll < 0.9) {
          // The server went away for a while, then came back.
          events.outage = (events.outage ?? 0) + 1;
          commit(s, time, {
            error: {
              message: `connect ECONNREFUSED ${s.host}:3306 (ECONNREFUSED)`,
              code: 'sql.unreachable',
              terminal: false,
            },
          });
          commit(s, time + 60_000, {});
        } else if (roll < 0.97) {
          // A new version of the file: new objects on every member of a cluster, old ones pruned.
          events.rollout = (events.rollout ?? 0) + 1;
          version = `v${Math.floor(rand() * 1e12)
            .toString(16)
            .padStart(12, '0')}`;
          h.recordSpec({ file: '/etc/setpoint/setpoint.yaml', version, text: `# bench ${version}\n` }, time);
          const members = sims.filter((x) => x.cluster === s.cluster);
          const add = 10;
          for (const m of members) {
            const drift: DriftRecord[] = [];
            const fresh: [string, string][] = [];
            for (let j = 0; j < add; j++) fresh.push(...resourcesOf(m.next + j, time));
            for (const [r] of fresh)
              drift.push({
                resource: r,
                field: 'present',
                summary: 'declared but missing',
                desired: true,
                observed: false,
              });
            const old = [...m.observed.keys()].slice(0, add * 3);
            for (const r of old)
              drift.push({
                resource: r,
                field: 'absent',
                summary: 'exists but not declared',
                desired: false,
                observed: true,
              });
            h.recordDrift(m, drift, version, time);
            for (const d of drift) {
              const id = h.actionStarted(
                m,
                {
                  resource: d.resource,
                  summary: `${d.field === 'present' ? 'create' : 'drop'} ${d.resource}`,
                  risk: d.field === 'present' ? 'safe' : 'destructive',
                  action: d.field === 'present' ? 'create' : 'drop',
                  statements: ['CREATE USER ...'],
                },
                version,
                time + 2,
              );
              h.actionEnded(id, 'ok', undefined, time + 4);
            }
            for (const r of old) m.observed.delete(r);
            for (const [r, st] of fresh) m.observed.set(r, st);
            m.next += add;
            commit(m, time + 10, { made: drift.length });
          }
        } else {
          events.event = (events.event ?? 0) + 1;
          h.event(`lease on ${s.cluster}/${s.host} taken by bench:1`, { cluster: s.cluster, host: s.host }, time);
        }
      }
    })();
    written = rowsNow();
    perEvent = Math.max(1, (written - before) / 2000);
    inBatch = 0;
    if (performance.now() - lastReport > 10_000) {
      lastReport = performance.now();
      say(
        `  ${(written / 1e6).toFixed(2)} M rows, ${Math.round(written / ((performance.now() - t0) / 1000)).toLocaleString('en-US')} rows/s`,
      );
    }
  }
  const counts: Record<string, number> = {};
  for (const r of h.db.prepare('SELECT kind, COUNT(*) AS n FROM entries GROUP BY kind').all() as {
    kind: string;
    n: number;
  }[])
    counts[r.kind] = r.n;
  counts.observations = (h.db.prepare('SELECT COUNT(*) AS n FROM observations').get() as { n: number }).n;
  h.db.pragma('journal_mode = WAL');
  h.close();
  return { seconds: (performance.now() - t0) / 1000, counts, events };
}

say(`growing ${file} to ${ROWS.toLocaleString('en-US')} rows through the writer`);
const g = grow();
const total = Object.values(g.counts).reduce((a, b) => a + b, 0);
say(
  `${total.toLocaleString('en-US')} rows in ${g.seconds.toFixed(1)} s (${Math.round(total / g.seconds).toLocaleString('en-US')} rows/s), ${bytes(statSync(file).size)}`,
);

// The CLI: each command run RUNS times, interleaved with a bare Node start-up and `setpoint --version`.
const cluster = 'c42';
const timings: Record<string, number[]> = { node: [], version: [], history: [], status: [], statusJson: [] };
let shown = { history: 0, status: 0 };
for (let r = 0; r < RUNS + 1; r++) {
  const node = await (async () => {
    const t0 = performance.now();
    const { spawnSync } = await import('node:child_process');
    spawnSync(process.execPath, ['-e', '0']);
    return performance.now() - t0;
  })();
  const version = await cli(['--version']);
  const hist = await cli(['history', '--db', file, '--cluster', cluster, '--since', '1h']);
  const status = await cli(['status', '--db', file]);
  const statusJson = await cli(['status', '--db', file, '--json']);
  if (hist.code !== 0) throw new Error(`history exited ${hist.code}: ${hist.stderr}`);
  if (status.code !== 0 && status.code !== 2) throw new Error(`status exited ${status.code}: ${status.stderr}`);
  shown = {
    history: hist.stdout.split('\n').length - 2,
    status: status.stdout.split('\n').filter((l) => / converged | failing /.test(l)).length,
  };
  if (r === 0) continue; // the first run warms the page cache
  timings.node?.push(node);
  timings.version?.push(version.wallMs);
  timings.history?.push(hist.wallMs);
  timings.status?.push(status.wallMs);
  timings.statusJson?.push(statusJson.wallMs);
}

// The queries alone, in-process, and their plans.
const h = History.open(file, { readonly: true });
const since = Date.now() - 3_600_000;
const q: Record<string, number[]> = { history: [], status: [] };
for (let r = 0; r < RUNS; r++) {
  let t0 = performance.now();
  h.entries({ cluster, since, limit: 500 });
  q.history?.push(performance.now() - t0);
  t0 = performance.now();
  h.status();
  q.status?.push(performance.now() - t0);
}
const plan = (
  h.db
    .prepare(
      `EXPLAIN QUERY PLAN SELECT * FROM (SELECT * FROM entries WHERE cluster = ? AND time >= ? ORDER BY time DESC, id DESC LIMIT ?) ORDER BY time, id`,
    )
    .all(cluster, since, 500) as { detail: string }[]
).map((r) => r.detail);
h.close();

const m = (k: string) => median(timings[k] ?? []);
const table: Table = {
  title: `History file of ${total.toLocaleString('en-US')} rows (${bytes(statSync(file).size)}): CLI latency, median of ${RUNS} runs`,
  headers: ['COMMAND', 'WALL TIME', 'OF WHICH NODE + CLI START-UP', 'QUERY IN-PROCESS', 'ROWS SHOWN'],
  rows: [
    ['node -e 0 (bare Node start-up)', ms(m('node')), '-', '-', '-'],
    ['setpoint --version (CLI start-up)', ms(m('version')), ms(m('version')), '-', '-'],
    [
      `setpoint history --cluster ${cluster} --since 1h`,
      ms(m('history')),
      ms(m('version')),
      ms(median(q.history ?? [])),
      String(shown.history),
    ],
    ['setpoint status', ms(m('status')), ms(m('version')), ms(median(q.status ?? [])), String(shown.status)],
    ['setpoint status --json', ms(m('statusJson')), ms(m('version')), '-', '-'],
  ],
};
printTable(table);
const mix: Table = {
  title: 'What the file holds',
  headers: ['ROWS', ...Object.keys(g.counts)],
  rows: [[total.toLocaleString('en-US'), ...Object.values(g.counts).map((n) => n.toLocaleString('en-US'))]],
};
printTable(mix);
const figures: Figure[] = [
  {
    figure: `\`setpoint history --cluster X --since 1h\` on ${(total / 1e6).toFixed(1)} M rows`,
    value: ms(m('history')),
    target: '< 100 ms',
    floor: `${ms(m('node'))} (node -e 0)`,
    ratio: ratio(m('history'), m('node')),
    met: m('history') < 100,
  },
  {
    figure: `\`setpoint status\` on the same file (${CLUSTERS * MEMBERS} targets)`,
    value: ms(m('status')),
    target: '< 100 ms',
    floor: `${ms(m('node'))} (node -e 0)`,
    ratio: ratio(m('status'), m('node')),
    met: m('status') < 100,
  },
  {
    figure: 'CLI start-up alone (`setpoint --version`)',
    value: ms(m('version')),
    target: '-',
    floor: `${ms(m('node'))} (node -e 0)`,
    ratio: ratio(m('version'), m('node')),
  },
];
writeResult({
  name: 'history',
  title: '5. History',
  command: 'node --import tsx bench/history.ts',
  startedAt: new Date(started).toISOString(),
  durationMs: Date.now() - started,
  machine: machine(),
  method: [
    `The file is grown through setpoint's own writer (dist/src/history/store.js: commitPass, recordDrift, actionStarted/actionEnded, recordSpec, event; conditions from computeConditions), ${g.seconds.toFixed(0)} s at ${Math.round(total / g.seconds).toLocaleString('en-US')} rows/s, in transactions of 2,000 events (the writer's own transactions nest inside as savepoints; while growing, its page cache is 256 MB and its journal a rollback journal in memory instead of the WAL, then the file is switched back to WAL as the daemon keeps it). The fleet: ${CLUSTERS} clusters × ${MEMBERS} members = ${CLUSTERS * MEMBERS} targets, ${RESOURCES} resources each at first, over ${DAYS} days ending now (so the last hour holds its share). Events (a deterministic random mix): ${Object.entries(
      g.events,
    )
      .map(([k, v]) => `${k} ${v.toLocaleString('en-US')}`)
      .join(
        ', ',
      )} — drift found and repaired (drift entries, an action each, the changed observations, condition transitions), observed changes without drift, outages (an error entry, condition transitions, recovery), file versions rolled out to a cluster (10 new object sets per member, 10 old ones pruned: drift, actions, observations), daemon events.`,
    `Latency: wall time of the built CLI from spawn to exit (\`node dist/bin/setpoint.js history --db FILE --cluster ${cluster} --since 1h\`, \`... status --db FILE\`), median of ${RUNS} runs after one warm-up run, interleaved with \`node -e 0\` (the floor: a Node process that does nothing) and \`setpoint --version\` (CLI start-up: Node, module loading, argument parsing). QUERY IN-PROCESS is History.entries() / History.status() on an open read-only connection.`,
    `Query plan of the history query: ${plan.join('; ')}.`,
    'Bytes per converged target per day at resync 10 s are measured with a real daemon in bench/fleet.ts (4. Fleet cost).',
  ],
  figures,
  tables: [table, mix],
  raw: { growth: g, timings, queries: q, plan },
});
