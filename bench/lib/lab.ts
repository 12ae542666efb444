/**
 * Lab plumbing for the benchmarks: hosts on 127.0.60.x–127.0.69.x (other work uses other ranges),
 * the engines' own clients (`mariadb`, `psql`) with server-side timing markers, the daemon as a
 * child process, and what /proc says about a process (CPU, RSS, sockets).
 */
import { logLines } from '../../test/helpers.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { findExecutable } from '../../lab/commands.js';
import { startHost, type HostOptions, type LabHost } from '../../lab/index.js';
import { CLI, ROOT } from './report.js';

/** A per-benchmark folder for lab instances, specs and history files (short: socket paths are limited). */
export function workDir(name: string): string {
  const dir = `/tmp/spb-${name}`;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  // Removed on exit (the history benchmark's file is 2.4 GB); BENCH_KEEP=1 keeps it for a look.
  if (process.env.BENCH_KEEP !== '1') process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Checks that an address is in the benchmarks' range. */
export function benchAddress(third: number, fourth: number): string {
  if (third < 60 || third > 69 || fourth < 1 || fourth > 254)
    throw new Error(`bench addresses are 127.0.60.x–127.0.69.x, not 127.0.${third}.${fourth}`);
  return `127.0.${third}.${fourth}`;
}

/** Starts hosts in parallel, a few at a time (starting 75 servers at once overloads 2 cores). */
export async function startHosts(list: HostOptions[], parallel = 8): Promise<LabHost[]> {
  const out: LabHost[] = new Array<LabHost>(list.length);
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= list.length) return;
      out[i] = await startHost(list[i] as HostOptions);
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, list.length) }, worker));
  return out;
}

// ---------------------------------------------------------------------------------------------
// The engines' own clients

export interface ClientRun {
  stdout: string;
  stderr: string;
  code: number | null;
  /** Wall time of the client process, start-up included. */
  wallMs: number;
}

export function runClient(cmd: string, args: string[], input: string, env?: NodeJS.ProcessEnv): Promise<ClientRun> {
  return new Promise((done, fail) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: env ?? process.env });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', fail);
    child.on('close', (code) =>
      done({
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        code,
        wallMs: performance.now() - t0,
      }),
    );
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

/** Runs SQL text through one `mariadb` session over TCP as root (batch mode: tab-separated, no headers). */
export async function mariadbSession(
  address: string,
  input: string,
  opts: { force?: boolean } = {},
): Promise<ClientRun> {
  const bin = await findExecutable('mariadb', 'mariadb-client');
  const r = await runClient(
    bin,
    [
      '--no-defaults',
      '-h',
      address,
      '-P',
      '3306',
      '-u',
      'root',
      '-N',
      '-B',
      ...(opts.force === true ? ['--force'] : []),
    ],
    input,
  );
  if (r.code !== 0 && opts.force !== true)
    throw new Error(`mariadb on ${address} exited ${r.code}: ${r.stderr.slice(0, 2000)}`);
  return r;
}

/** Runs SQL text through one `psql` session over TCP as postgres (unaligned, tuples only; `\c` switches databases). */
export async function psqlSession(
  address: string,
  database: string,
  input: string,
  opts: { stopOnError?: boolean } = {},
): Promise<ClientRun> {
  const bin = await findExecutable('/usr/lib/postgresql/15/bin/psql', 'postgresql-client-15').catch(() =>
    findExecutable('psql', 'postgresql-client-15'),
  );
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PG')) env[k] = v;
  const r = await runClient(
    bin,
    [
      '-X',
      '-A',
      '-t',
      '-q',
      ...(opts.stopOnError === false ? [] : ['-v', 'ON_ERROR_STOP=1']),
      '-h',
      address,
      '-p',
      '5432',
      '-U',
      'postgres',
      '-d',
      database,
      '-f',
      '-',
    ],
    input,
    env,
  );
  if (r.code !== 0 && opts.stopOnError !== false)
    throw new Error(`psql on ${address}/${database} exited ${r.code}: ${r.stderr.slice(0, 2000)}`);
  return r;
}

const MARK = {
  mysql: "SELECT 'MARK', UNIX_TIMESTAMP(SYSDATE(6));",
  postgres: "SELECT 'MARK', extract(epoch FROM clock_timestamp());",
} as const;

function marks(stdout: string): number[] {
  const out: number[] = [];
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('MARK')) continue;
    out.push(Number(line.slice(5)) * 1000);
  }
  return out;
}

/**
 * Sends `queries` through one client session `reps` times with server-side timestamps around them,
 * and returns each query's time (ms) per repetition. Each query is followed by two markers: the
 * interval from the marker before the query to the one after it holds the query's round trip plus a
 * marker's; the interval between the two markers after it holds a marker's alone, measured at the
 * same moment. Their difference is the query's round trip as the client sees it (send, execute,
 * receive and print the rows), without the client's start-up or connect.
 */
export async function timedReplay(
  engine: 'mysql' | 'postgres',
  run: (input: string) => Promise<ClientRun>,
  queries: readonly string[],
  reps: number,
): Promise<{ perQuery: number[][]; markerMs: number }> {
  const m = MARK[engine];
  let input = `${m}\n${m}\n`;
  for (let r = 0; r < reps; r++) {
    input += m + '\n';
    for (const q of queries) input += `${q.trimEnd().replace(/;$/, '')};\n${m}\n${m}\n`;
  }
  const res = await run(input);
  const t = marks(res.stdout);
  const expected = 2 + reps * (2 * queries.length + 1);
  if (t.length !== expected)
    throw new Error(`expected ${expected} markers, got ${t.length}: ${res.stderr.slice(0, 500)}`);
  const perQuery: number[][] = [];
  const bare: number[] = [];
  let i = 2;
  for (let r = 0; r < reps; r++) {
    const row: number[] = [];
    for (let q = 0; q < queries.length; q++) {
      const before = t[i] as number;
      const after = t[i + 1] as number;
      const next = t[i + 2] as number;
      bare.push(next - after);
      row.push(Math.max(0, after - before - (next - after)));
      i += 2;
    }
    perQuery.push(row);
    i += 1;
  }
  bare.sort((a, b) => a - b);
  return { perQuery, markerMs: bare[Math.floor(bare.length / 2)] ?? NaN };
}

// ---------------------------------------------------------------------------------------------
// The daemon as a child process

export interface DaemonProc {
  child: ChildProcess;
  pid: number;
  /** Log lines (JSON) so far. */
  lines(): Record<string, unknown>[];
  stop(): Promise<number>;
}

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

/** `setpoint run -f FILE --db DB` (the built CLI), logs captured. */
export function startDaemon(
  file: string,
  db: string,
  extra: string[] = [],
  nodeArgs: string[] = (process.env.BENCH_DAEMON_NODE_ARGS ?? '').split(' ').filter(Boolean),
): DaemonProc {
  const child = spawn(
    process.execPath,
    [...nodeArgs, CLI, 'run', '-f', file, '--db', db, '--log-format', 'json', ...extra],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.add(child);
  let log = '';
  child.stdout?.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<number>((r) =>
    child.on('close', (code) => {
      children.delete(child);
      r(code ?? -1);
    }),
  );
  if (child.pid === undefined) throw new Error('the daemon did not start');
  return {
    child,
    pid: child.pid,
    lines: () => logLines(log),
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

/**
 * Runs the built CLI to completion; wall time from spawn to exit. BENCH_CPU_PROF=DIR profiles each
 * run (node --cpu-prof into DIR) to see where a figure's time goes; the figures are then not comparable.
 */
export function cli(args: string[], env: Record<string, string> = {}): Promise<ClientRun> {
  const prof = process.env.BENCH_CPU_PROF;
  const node = prof === undefined || prof === '' ? [] : ['--cpu-prof', '--cpu-prof-dir', prof];
  return runClient(process.execPath, [...node, CLI, ...args], '', { ...process.env, ...env });
}

// ---------------------------------------------------------------------------------------------
// /proc

const CLK_TCK = 100;

/** CPU seconds a process has used so far, in user space and in the kernel. */
export function cpuTimes(pid: number): { user: number; system: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields 14 and 15 of stat (utime, stime) are 11 and 12 after the state field
  return { user: Number(rest[11]) / CLK_TCK, system: Number(rest[12]) / CLK_TCK };
}

/** CPU seconds (user + system) a process has used so far. */
export function cpuSeconds(pid: number): number {
  const t = cpuTimes(pid);
  return t.user + t.system;
}

/** Resident set size now and at its peak, in bytes. */
export function memory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

/** Established TCP connections of a process, counted by remote port. */
export function connections(pid: number): Map<number, number> {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m?.[1] !== undefined) inodes.add(m[1]);
    } catch {
      // closed meanwhile
    }
  }
  const byPort = new Map<number, number>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const [, , remote, state, , , , , , inode] = f;
      if (state !== '01' || inode === undefined || !inodes.has(inode)) continue;
      const port = parseInt(remote?.split(':')[1] ?? '0', 16);
      byPort.set(port, (byPort.get(port) ?? 0) + 1);
    }
  }
  return byPort;
}

/** Fetches the daemon's Prometheus text and sums a counter over its labels. */
export async function counter(url: string, name: string): Promise<number> {
  const text = await (await fetch(url)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `))
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

export { join };
