/**
 * History questions on a large history file: `setpoint show` (a target at a time, a resource's story)
 * and `setpoint diff`, in-process (median of runs) and as the built CLI, with their query plans. Needs
 * no servers. The file is the one bench/history.ts grows (10 M rows), kept with BENCH_KEEP=1:
 *
 *   npm run build && BENCH_KEEP=1 node --import tsx bench/history.ts --runs 1
 *   node --import tsx bench/questions.ts [--db /tmp/spb-history/history.db] [--runs 7]
 *
 * Prints figures only; not part of `npm run bench`'s RESULTS.md.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { fromDist } from './lib/dist.js';
import { arg, bytes, median, ms, printTable } from './lib/report.js';

const { History } = await fromDist<typeof import('../src/history/store.js')>('src/history/store.js');

const file = arg('db', '/tmp/spb-history/history.db');
const RUNS = Number(arg('runs', '7'));
if (!existsSync(file)) {
  process.stderr.write(
    `${file} does not exist: grow it with BENCH_KEEP=1 node --import tsx bench/history.ts --runs 1\n`,
  );
  process.exit(1);
}
const h = History.open(file, { readonly: true });
const rows = (
  h.db.prepare('SELECT (SELECT COUNT(*) FROM entries) + (SELECT COUNT(*) FROM observations) AS n').get() as {
    n: number;
  }
).n;
const t = { cluster: 'c42', host: 'c42-db0' };
// The resource of this target with the most entries: the longest story.
const busiest = (
  h.db
    .prepare(
      'SELECT resource, COUNT(*) AS n FROM entries WHERE cluster = ? AND host = ? AND resource IS NOT NULL GROUP BY resource ORDER BY n DESC LIMIT 1',
    )
    .get(t.cluster, t.host) as { resource: string; n: number }
).resource;
const versions = h.specVersions();
const mid = Date.now() - 15 * 86_400_000;

const timed = (fn: () => unknown): { ms: number; result: unknown } => {
  const times: number[] = [];
  let result: unknown;
  for (let r = 0; r < RUNS; r++) {
    const t0 = performance.now();
    result = fn();
    times.push(performance.now() - t0);
  }
  return { ms: median(times), result };
};
const now = timed(() => h.targetAt(t, Date.now()));
const past = timed(() => h.targetAt(t, mid));
const story = timed(() => h.resourceStory(t, busiest));
const match = timed(() => h.resourcesMatching(t, busiest.slice(11)));
const inForce = timed(() => h.specInForce(mid));
const list = timed(() => h.specVersions());
h.close();

function cli(args: string[]): number {
  const times: number[] = [];
  for (let r = 0; r < RUNS + 1; r++) {
    const t0 = performance.now();
    const p = spawnSync(process.execPath, ['dist/bin/setpoint.js', ...args, '--db', file], { encoding: 'utf8' });
    if (p.status !== 0 && p.status !== 2) throw new Error(`${args.join(' ')}: exit ${p.status}: ${p.stderr}`);
    if (r > 0) times.push(performance.now() - t0);
  }
  return median(times);
}
const node = (() => {
  const times: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const t0 = performance.now();
    spawnSync(process.execPath, ['-e', '0']);
    times.push(performance.now() - t0);
  }
  return median(times);
})();
const storyOut = story.result as { entries: unknown[]; episodes: unknown[]; observations: unknown[] };
printTable({
  title: `History questions on ${rows.toLocaleString('en-US')} rows (${bytes(statSync(file).size)}), target ${t.cluster}/${t.host}, median of ${RUNS}`,
  headers: ['QUESTION', 'IN-PROCESS', 'CLI WALL TIME', 'WHAT'],
  rows: [
    ['node -e 0 (the floor of any CLI run)', '-', ms(node), '-'],
    [
      'show TARGET (now)',
      ms(now.ms),
      ms(cli(['show', `${t.cluster}/${t.host}`])),
      `${(now.result as { resources: unknown[] }).resources.length} resources`,
    ],
    ['show TARGET --at 15 days ago', ms(past.ms), ms(cli(['show', `${t.cluster}/${t.host}`, '--at', '15d'])), '-'],
    [
      `show TARGET RESOURCE (${busiest})`,
      ms(story.ms),
      ms(cli(['show', `${t.cluster}/${t.host}`, busiest])),
      `${storyOut.entries.length} entries, ${storyOut.episodes.length} episodes, ${storyOut.observations.length} observations`,
    ],
    ['resource name lookup (substring)', ms(match.ms), '-', '-'],
    ['file version in force at a time', ms(inForce.ms), '-', '-'],
    [
      'diff --spec A --spec latest',
      ms(list.ms),
      ms(cli(['diff', '--spec', (versions[versions.length - 1] as { version: string }).version, '--spec', 'latest'])),
      `${versions.length} versions recorded`,
    ],
  ],
});
