#!/usr/bin/env node
// Runs the test files with node's own runner (Node 20 takes paths, not globs).
// Usage: node test/run.mjs [unit|integration] [extra node --test args]
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const which = process.argv[2] === 'unit' || process.argv[2] === 'integration' ? process.argv[2] : undefined;
const extra = process.argv.slice(which === undefined ? 2 : 3);
const dirs = which === undefined ? ['unit', 'integration'] : [which];
const files = dirs.flatMap((d) =>
  readdirSync(join('test', d))
    .filter((f) => f.endsWith('.test.ts'))
    .sort()
    .map((f) => join('test', d, f)),
);
// Integration files wait on real servers more than they use CPU: run a few at once.
const r = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=3', '--test-reporter=spec', ...extra, ...files],
  { stdio: 'inherit' },
);
process.exit(r.status ?? 1);
