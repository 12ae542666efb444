/**
 * Loading a big file (issue 12.2): `setpoint validate --skip-secrets` on a generated file of 2,000
 * MySQL users (each with a grant) and 2,000 databases, against Node's own start-up (`node -e 0`),
 * alternated; and the same file with one problem repeated 2,000 times (every user without a
 * password), which must print one line and a count.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { workDir } from './lib/lab.js';
import { CLI, machine, median, ms, progress, ratio, writeResult } from './lib/report.js';

const RUNS = 9;
const N = 2000;
const log = progress(Date.now());
const started = Date.now();
const dir = workDir('load');

function file(withPasswords: boolean): string {
  const lines = [
    'version: 1',
    'hosts:',
    '  h1: { address: 127.0.0.1, mysql: { user: root } }',
    'clusters:',
    '  big:',
    '    engine: mysql',
    '    members: [h1]',
    '    databases:',
  ];
  for (let i = 0; i < N; i++) lines.push(`      - { name: db_${String(i).padStart(4, '0')} }`);
  lines.push('    users:');
  for (let i = 0; i < N; i++) {
    const n = String(i).padStart(4, '0');
    lines.push(`      - name: user_${n}`, `        host: "%"`);
    if (withPasswords) lines.push('        password: { env: PW }');
    lines.push(`        grants: [{ privileges: [SELECT, INSERT], on: "db_${n}.*" }]`);
  }
  return lines.join('\n') + '\n';
}

const valid = join(dir, 'big.yaml');
const invalid = join(dir, 'bad.yaml');
writeFileSync(valid, file(true));
writeFileSync(invalid, file(false));

const time = (args: string[]): { ms: number; code: number | null; out: string } => {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, args, { encoding: 'utf8' });
  return { ms: performance.now() - t0, code: r.status, out: r.stdout + r.stderr };
};

const node: number[] = [];
const load: number[] = [];
const bad: number[] = [];
let badOut = '';
log(`${RUNS} runs each, alternated: node -e 0, validate (valid), validate (2,000 problems)`);
for (let i = 0; i < RUNS; i++) {
  node.push(time(['-e', '0']).ms);
  const v = time([CLI, 'validate', '-f', valid, '--skip-secrets']);
  if (v.code !== 0) throw new Error(`validate failed: ${v.out}`);
  load.push(v.ms);
  const b = time([CLI, 'validate', '-f', invalid, '--skip-secrets']);
  if (b.code !== 1) throw new Error(`validate of the bad file exited ${b.code}: ${b.out.slice(0, 500)}`);
  bad.push(b.ms);
  badOut = b.out;
}
const above = median(load) - median(node);
const lines = badOut.trim().split('\n');
writeResult({
  name: 'load',
  title: '8. Loading a big file',
  command: 'npm run build && node --import tsx bench/load.ts',
  startedAt: new Date(started).toISOString(),
  durationMs: Date.now() - started,
  machine: machine(),
  method: [
    `A generated file of ${N.toLocaleString('en-US')} MySQL users (each with a grant) and ${N.toLocaleString('en-US')} databases (${Math.round(file(true).length / 1024)} KB), validated by the built CLI (\`setpoint validate --skip-secrets\`), ${RUNS} runs alternated with \`node -e 0\` (Node's own start-up, the floor) and with the same file where no user has a password (${N.toLocaleString('en-US')} identical problems). Wall time of the process, median.`,
    `The bad file printed ${lines.length} lines: ${lines.map((l) => `\`${l.length > 140 ? l.slice(0, 140) + '…' : l}\``).join(' / ')}.`,
  ],
  figures: [
    {
      figure: `validate a ${N.toLocaleString('en-US')}-user + ${N.toLocaleString('en-US')}-database file, above Node's start-up`,
      value: ms(above),
      target: '< 150 ms',
      floor: `${ms(median(node))} (node -e 0)`,
      ratio: ratio(median(load), median(node)),
      met: above < 150,
    },
    {
      figure: `validate the same file with ${N.toLocaleString('en-US')} identical problems (grouped: ${lines.length} lines printed)`,
      value: ms(median(bad)),
      target: 'grouped',
      met: lines.length <= 3,
    },
  ],
  tables: [
    {
      title: 'Runs (ms)',
      headers: ['RUN', 'NODE -E 0', 'VALIDATE (VALID)', 'VALIDATE (2,000 PROBLEMS)'],
      rows: node.map((n, i) => [String(i + 1), ms(n), ms(load[i] ?? 0), ms(bad[i] ?? 0)]),
    },
  ],
});
