/**
 * The product as it ships: benchmarks load setpoint from dist/ (what `npm run build` emits), with the
 * types of the sources. Loading src/ through tsx would measure tsx's transform as well (it wraps
 * every closure in a naming helper), not setpoint.
 */
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from './report.js';

let checked = false;

/** Throws when a source file is newer than its build output (the benchmark would measure old code). */
function checkBuild(): void {
  if (checked) return;
  checked = true;
  const stale: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) {
        const out = join(ROOT, 'dist', relative(ROOT, p)).replace(/\.ts$/, '.js');
        let built = 0;
        try {
          built = statSync(out).mtimeMs;
        } catch {
          // missing
        }
        if (built < statSync(p).mtimeMs) stale.push(relative(ROOT, p));
      }
    }
  };
  walk(join(ROOT, 'src'));
  walk(join(ROOT, 'agents'));
  if (stale.length > 0)
    throw new Error(
      `dist/ is older than ${stale.slice(0, 3).join(', ')}${stale.length > 3 ? ` and ${stale.length - 3} more` : ''}: run \`npm run build\` first`,
    );
}

/**
 * Imports `dist/<rel>` (e.g. `src/loop/reconcile.js`), typed as the source module `T`. BENCH_DIST
 * names another build to measure instead (e.g. an older commit's, for a before/after comparison).
 */
export async function fromDist<T>(rel: string): Promise<T> {
  const other = process.env.BENCH_DIST;
  // bench/run.ts builds once, then runs every benchmark on that build (sources may change meanwhile).
  if ((other === undefined || other === '') && process.env.BENCH_BUILT !== '1') checkBuild();
  return (await import(
    pathToFileURL(join(other === undefined || other === '' ? join(ROOT, 'dist') : other, rel)).href
  )) as T;
}
