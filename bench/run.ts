/**
 * `npm run bench`: builds, runs every benchmark one after the other (each starts and stops its own
 * lab servers), and (re)writes bench/RESULTS.md from their bench/out/<name>.json.
 *
 *   npm run bench                  all of them
 *   npm run bench -- noop history  only these (RESULTS.md then keeps the others' last figures: from
 *                                  bench/out/<name>.json, or else as the last RESULTS.md has them)
 *   npm run bench -- --report      only rewrite RESULTS.md from bench/out (no build, no benchmark)
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH, machine, OUT, ROOT, type BenchResult, type Table } from './lib/report.js';

const ALL = ['noop', 'converge', 'latency', 'fleet', 'history', 'ssh', 'switchover', 'load', 'peers'] as const;
const only = process.argv.slice(2).filter((a) => (ALL as readonly string[]).includes(a));
/** `--report`: only rewrite RESULTS.md from bench/out (after editing bench/analysis.md, say). */
const reportOnly = process.argv.includes('--report');
const todo = reportOnly ? [] : only.length > 0 ? only : [...ALL];

const started = Date.now();
const stamp = () => `[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s]`;
let ran: { name: string; seconds: number; code: number | null }[] = [];

if (!reportOnly) {
  process.stdout.write(`${stamp()} npm run build\n`);
  const build = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
  if (build.status !== 0) {
    process.stderr.write('bench: the build failed\n');
    process.exit(1);
  }
}
for (const name of todo) {
  process.stdout.write(`\n${stamp()} ===== bench/${name}.ts =====\n`);
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(BENCH, `${name}.ts`)], {
    cwd: ROOT,
    stdio: 'inherit',
    env: { ...process.env, BENCH_BUILT: '1' },
  });
  ran.push({ name, seconds: (Date.now() - t0) / 1000, code: r.status });
  process.stdout.write(
    `${stamp()} bench/${name}.ts ${r.status === 0 ? 'done' : `FAILED (exit ${r.status ?? r.signal ?? '?'})`} in ${((Date.now() - t0) / 1000).toFixed(0)} s\n`,
  );
}
let totalSeconds = (Date.now() - started) / 1000;
// The last run's timing, kept for --report.
const runFile = join(OUT, 'run.json');
if (reportOnly && existsSync(runFile))
  ({ ran, totalSeconds } = JSON.parse(readFileSync(runFile, 'utf8')) as { ran: typeof ran; totalSeconds: number });
else if (!reportOnly) writeFileSync(runFile, JSON.stringify({ ran, totalSeconds, full: only.length === 0 }) + '\n');

const results: BenchResult[] = [];
/** Sections of benchmarks with no bench/out/<name>.json here, kept as the last RESULTS.md has them. */
const kept = new Map<number, { rows: string[]; section: string }>();
const previous = existsSync(join(BENCH, 'RESULTS.md')) ? readFileSync(join(BENCH, 'RESULTS.md'), 'utf8') : '';
const allFigures = previous.slice(previous.indexOf('## All figures'), previous.indexOf('\n## 1. ') + 1).split('\n');
for (const [i, name] of ALL.entries()) {
  const f = join(OUT, `${name}.json`);
  if (existsSync(f)) results.push(JSON.parse(readFileSync(f, 'utf8')) as BenchResult);
  else {
    const n = i + 1;
    const start = previous.indexOf(`\n## ${n}. `);
    if (start === -1) continue;
    const end = previous.indexOf('\n## ', start + 1);
    kept.set(n, {
      rows: allFigures.filter((l) => l.startsWith(`| ${n} | `)),
      section: previous.slice(start + 1, end === -1 ? undefined : end + 1),
    });
  }
}
/** Figures and sections in number order, measured now or kept. */
const numberOf = (r: BenchResult) => Number(r.title.split('.')[0]);

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
function md(t: Table): string {
  return [
    `**${cell(t.title)}**`,
    '',
    `| ${t.headers.map(cell).join(' | ')} |`,
    `| ${t.headers.map(() => '---').join(' | ')} |`,
    ...t.rows.map((r) => `| ${r.map(cell).join(' | ')} |`),
    '',
  ].join('\n');
}

const m = machine();
const full = reportOnly ? ran.length === ALL.length : only.length === 0;
let out = `# setpoint benchmarks: results\n\n`;
out += `Written by \`npm run bench\` (bench/run.ts) on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC. Do not edit by hand: `;
out += `run it again. The causes of missed targets are in bench/analysis.md, included at the end.\n\n`;
out += `- Machine: ${m.cores} cores, ${m.cpu}, ${m.memoryGb} GB RAM, Linux ${m.kernel}, Node ${m.node}. Lab servers: MariaDB 10.11, PostgreSQL 15, OpenSSH on 127.0.60.x–127.0.69.x.\n`;
out += full
  ? `- \`npm run bench\` took ${(totalSeconds / 60).toFixed(1)} minutes end to end (build included): ${ran.map((r) => `${r.name} ${r.seconds.toFixed(0)} s${r.code === 0 ? '' : ' (FAILED)'}`).join(', ')}.\n`
  : `- This run (${ran.map((r) => r.name).join(', ')}) took ${(totalSeconds / 60).toFixed(1)} minutes; the other sections are from earlier runs (see their dates).\n`;
out += `- Each figure is a median of several runs, and each comparison (setpoint against its floor) is measured side by side in the same run: these machines are shared and noisy, so a ratio holds where an absolute time does not. Repetitions are scaled so the whole run takes about 20 minutes on this 2-core machine (a quarter of it Ansible, in the peer comparison): no-op passes 9 per N (interleaved with 9 floor replays), converge 3 alternating runs per engine, 30 edits, a 120 s fleet window (the issue's 5 minutes, shortened) and a 60 s window of the same fleet without SSH, 7 CLI runs per command, 100 SSH passes per target. Each section gives its own command.\n\n`;

out += `## All figures\n\n| # | figure | value | target | floor | ratio | met |\n| --- | --- | --- | --- | --- | --- | --- |\n`;
for (let n = 1; n <= ALL.length; n++) {
  const r = results.find((x) => numberOf(x) === n);
  if (r === undefined) {
    for (const row of kept.get(n)?.rows ?? []) out += `${row}\n`;
    continue;
  }
  for (const f of r.figures) {
    out += `| ${n} | ${cell(f.figure)} | ${cell(f.value)} | ${cell(f.target)} | ${cell(f.floor ?? '-')} | ${cell(f.ratio ?? '-')} | ${f.met === undefined ? '-' : f.met ? 'yes' : '**no**'} |\n`;
  }
}
out += '\n';
for (let n = 1; n <= ALL.length; n++) {
  const r = results.find((x) => numberOf(x) === n);
  if (r === undefined) {
    const k = kept.get(n);
    if (k !== undefined) out += k.section.trimEnd() + '\n\n';
    continue;
  }
  out += `## ${r.title}\n\n`;
  out += `\`${r.command}\` — ${r.startedAt.slice(0, 16).replace('T', ' ')} UTC, ${(r.durationMs / 1000).toFixed(0)} s.\n\n`;
  for (const p of r.method) out += `${p}\n\n`;
  for (const t of r.tables) out += `${md(t)}\n`;
}
const analysis = join(BENCH, 'analysis.md');
if (existsSync(analysis)) out += `${readFileSync(analysis, 'utf8').trim()}\n`;
writeFileSync(join(BENCH, 'RESULTS.md'), out);
process.stdout.write(
  `\n${stamp()} wrote bench/RESULTS.md; ${ran.filter((r) => r.code !== 0).length} benchmark(s) failed; total ${(totalSeconds / 60).toFixed(1)} min\n`,
);
process.exit(ran.every((r) => r.code === 0) ? 0 : 1);
