/**
 * What every benchmark shares: statistics, the machine, a printed table, and the JSON each one
 * writes to bench/out/<name>.json (bench/run.ts turns those into bench/RESULTS.md).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';

export const BENCH = resolve(import.meta.dirname, '..');
export const ROOT = resolve(BENCH, '..');
export const OUT = join(BENCH, 'out');
export const CLI = join(ROOT, 'dist', 'bin', 'setpoint.js');

/** Median of a list (the mean of the two middle values for an even count). */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** Nearest-rank percentile (p in 0..100). */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * s.length));
  return s[rank - 1] as number;
}

export function sum(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}

/** Milliseconds with a sensible number of digits. */
export function ms(x: number): string {
  if (!Number.isFinite(x)) return '-';
  if (x >= 100) return `${Math.round(x)} ms`;
  if (x >= 10) return `${x.toFixed(1)} ms`;
  return `${x.toFixed(2)} ms`;
}

export function bytes(x: number): string {
  if (!Number.isFinite(x)) return '-';
  if (x >= 10 * 1024 * 1024) return `${(x / 1024 / 1024).toFixed(0)} MB`;
  if (x >= 1024 * 1024) return `${(x / 1024 / 1024).toFixed(1)} MB`;
  if (x >= 10 * 1024) return `${(x / 1024).toFixed(0)} KB`;
  if (x >= 1024) return `${(x / 1024).toFixed(1)} KB`;
  return `${Math.round(x)} B`;
}

export function ratio(a: number, b: number): string {
  return Number.isFinite(a / b) ? `${(a / b).toFixed(2)}×` : '-';
}

/** The machine, as RESULTS.md states it. */
export function machine(): { cores: number; cpu: string; memoryGb: number; node: string; kernel: string } {
  let cpu = cpus()[0]?.model ?? 'unknown';
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m?.[1] !== undefined) cpu = m[1].trim();
  } catch {
    // keep os.cpus()
  }
  let kernel = '';
  try {
    kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  } catch {
    // not Linux
  }
  return { cores: cpus().length, cpu, memoryGb: Math.round(totalmem() / 1024 ** 3), node: process.version, kernel };
}

/** A table as printed and as RESULTS.md renders it. */
export interface Table {
  title: string;
  headers: string[];
  rows: string[][];
}

/** One headline figure: what was measured, its target, its floor (when there is one) and the verdict. */
export interface Figure {
  figure: string;
  value: string;
  target: string;
  floor?: string;
  ratio?: string;
  /** true: target met; false: missed; undefined: no target (informative). */
  met?: boolean;
}

export interface BenchResult {
  name: string;
  title: string;
  command: string;
  startedAt: string;
  durationMs: number;
  machine: ReturnType<typeof machine>;
  /** How it was measured, one paragraph per entry. */
  method: string[];
  figures: Figure[];
  tables: Table[];
  /** Anything else worth keeping (raw samples). */
  raw?: unknown;
}

export function renderTable(t: Table): string {
  const widths = t.headers.map((h, i) => Math.max(h.length, ...t.rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [`${t.title}`, line(t.headers), line(widths.map((w) => '-'.repeat(w))), ...t.rows.map(line)].join('\n') + '\n';
}

export function printTable(t: Table): void {
  process.stdout.write('\n' + renderTable(t));
}

/** Writes bench/out/<name>.json and prints the headline figures. */
export function writeResult(r: BenchResult): void {
  mkdirSync(OUT, { recursive: true });
  writeFileSync(join(OUT, `${r.name}.json`), JSON.stringify(r, null, 2) + '\n');
  printTable({
    title: `${r.title}: figures`,
    headers: ['FIGURE', 'VALUE', 'TARGET', 'FLOOR', 'RATIO', 'MET'],
    rows: r.figures.map((f) => [
      f.figure,
      f.value,
      f.target,
      f.floor ?? '-',
      f.ratio ?? '-',
      f.met === undefined ? '-' : f.met ? 'yes' : 'NO',
    ]),
  });
  process.stdout.write(`\nwrote ${join(OUT, `${r.name}.json`)} (${(r.durationMs / 1000).toFixed(1)} s)\n`);
}

/** Logs a progress line to stderr with the time since start. */
export function progress(start: number): (msg: string) => void {
  return (msg) => process.stderr.write(`[${((Date.now() - start) / 1000).toFixed(1).padStart(6)} s] ${msg}\n`);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A command-line option `--name VALUE` of a benchmark, or its default. */
export function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? dflt : (process.argv[i + 1] ?? dflt);
}
