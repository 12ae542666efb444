/** Shared test helpers: run the built CLI, run the daemon as a child process, wait for conditions. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import mysql from 'mysql2/promise';

export const ROOT = resolve(import.meta.dirname, '..');
export const CLI = join(ROOT, 'dist', 'bin', 'setpoint.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `setpoint ARGS` (the built CLI) and collects its output. */
export function cli(
  args: string[],
  opts: { env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {},
): Promise<CliResult> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: opts.cwd ?? ROOT,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', fail);
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ code: code ?? -1, stdout, stderr });
    });
  });
}

/** A daemon (`setpoint run`) as a child process, with its log captured. */
export class Daemon {
  readonly child: ChildProcess;
  log = '';
  private exited: Promise<number>;
  constructor(file: string, db: string, env: Record<string, string> = {}, args: string[] = []) {
    this.child = spawn(process.execPath, [CLI, 'run', '-f', file, '--db', db, '--log-format', 'json', ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout?.on('data', (d: Buffer) => (this.log += d.toString()));
    this.child.stderr?.on('data', (d: Buffer) => (this.log += d.toString()));
    this.exited = new Promise((r) => this.child.on('close', (code) => r(code ?? -1)));
  }
  /** Log lines parsed as JSON (non-JSON lines are kept as { msg }). */
  lines(): Record<string, unknown>[] {
    return logLines(this.log);
  }
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number> {
    if (this.child.exitCode === null) this.child.kill(signal);
    return this.exited;
  }
}

/** Polls `fn` until it returns a truthy value; fails with `what` after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T> | T,
  timeoutMs = 20_000,
  intervalMs = 100,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last === undefined ? '' : `: ${last instanceof Error ? last.message : JSON.stringify(last)}`}`,
      );
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** A temporary folder removed by `cleanup()`. */
export function tempDir(prefix: string): {
  dir: string;
  file: (name: string, text?: string) => string;
  cleanup: () => void;
} {
  const dir = mkdtempSync(join(tmpdir(), `setpoint-${prefix}-`));
  return {
    dir,
    file: (name, text) => {
      const p = join(dir, name);
      if (text !== undefined) writeFileSync(p, text, { mode: 0o600 });
      return p;
    },
    // SETPOINT_TEST_KEEP=1 keeps the folder (history files, specs) for a look after a failure.
    cleanup: () => {
      if (process.env.SETPOINT_TEST_KEEP === '1') process.stderr.write(`# kept ${dir}\n`);
      else rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A root connection to a lab MariaDB over TCP, for checks and perturbations "by hand". */
export async function mysqlRoot(address: string, port = 3306): Promise<mysql.Connection> {
  return mysql.createConnection({
    host: address,
    port,
    user: 'root',
    password: '',
    multipleStatements: true,
    supportBigNumbers: true,
    bigNumberStrings: true,
  });
}

/** A daemon's log as objects: JSON lines parsed, any other line kept as { msg }. */
export function logLines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        return { msg: l };
      }
    });
}

/** Parses JSON lines. */
export function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** All bytes of a SQLite history file and its WAL, as latin1 text, to search for leaked secrets. */
export function historyBytes(db: string): string {
  let out = '';
  for (const f of [db, `${db}-wal`]) {
    try {
      out += readFileSync(f).toString('latin1');
    } catch {
      // no WAL yet
    }
  }
  return out;
}
