// Shared process, file and lifecycle helpers for the lab (real MariaDB, PostgreSQL and sshd
// instances on loopback addresses). Node built-ins only: this folder is compiled into the
// product for `setpoint demo`, so it must not depend on test frameworks.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, readFileSync, readdirSync, rmSync, openSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

// ---------------------------------------------------------------------------------------------
// Errors and running commands

export class CommandError extends Error {
  constructor(
    message: string,
    readonly command: string,
    readonly args: readonly string[],
    readonly code: number | null,
    readonly signal: NodeJS.Signals | null,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(message);
    this.name = 'CommandError';
  }
}

export interface RunOptions {
  /** Written to the child's stdin (stdin is closed afterwards). */
  input?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Kill the command (SIGKILL) after this long; default 120 s. */
  timeoutMs?: number;
  /** Resolve instead of throwing when the exit code is not 0. */
  allowFailure?: boolean;
  /** Package that provides the command, named in the error when the binary is missing. */
  pkg?: string;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const PACKAGE_OF: Record<string, string> = {
  mariadbd: 'mariadb-server',
  'mariadb-install-db': 'mariadb-server',
  mariadb: 'mariadb-client',
  'mariadb-admin': 'mariadb-client',
  initdb: 'postgresql-15',
  pg_ctl: 'postgresql-15',
  pg_resetwal: 'postgresql-15',
  pg_basebackup: 'postgresql-client-15',
  postgres: 'postgresql-15',
  psql: 'postgresql-client-15',
  sshd: 'openssh-server',
  ssh: 'openssh-client',
  'ssh-keygen': 'openssh-client',
  runuser: 'util-linux',
  setsid: 'util-linux',
  cp: 'coreutils',
};

function missingBinaryMessage(command: string, pkg: string | undefined): string {
  const base = path.basename(command);
  const p = pkg ?? PACKAGE_OF[base];
  return p
    ? `${command} not found: install the Debian package ${p} (apt-get install -y ${p})`
    : `${command} not found`;
}

/** Run a command to completion, capturing stdout/stderr. Throws CommandError on failure. */
export function run(command: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: opts.cwd ?? os.tmpdir(),
      env: opts.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 120_000);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.stdin.on('error', () => {
      /* EPIPE when the command does not read its input; the exit status tells the story */
    });
    child.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (e.code === 'ENOENT') reject(new Error(missingBinaryMessage(command, opts.pkg)));
      else reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      if (code === 0 || opts.allowFailure) {
        resolve({ code, signal, stdout, stderr });
        return;
      }
      const what = timedOut ? `timed out after ${opts.timeoutMs ?? 120_000} ms` : signal ? `killed by ${signal}` : `exited with ${code}`;
      const detail = (stderr.trim() || stdout.trim()).slice(-4000);
      reject(new CommandError(`${[command, ...args].join(' ')} ${what}${detail ? `:\n${detail}` : ''}`, command, args, code, signal, stdout, stderr));
    });
    if (opts.input !== undefined) child.stdin.end(opts.input);
    else child.stdin.end();
  });
}

/** Run a command as another OS user through runuser (PostgreSQL refuses to run as root). */
export async function runAs(user: string, command: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const o: RunOptions = { ...opts };
  if (opts.pkg === undefined) {
    const p = PACKAGE_OF[path.basename(command)];
    if (p !== undefined) o.pkg = p;
  }
  const runuser = await findExecutable('runuser', 'util-linux');
  return run(runuser, ['-u', user, '--', command, ...args], o).catch((e: unknown) => {
    // runuser reports a missing target binary as exit 127 "failed to execute ...: No such file"
    if (e instanceof CommandError && e.code === 127 && /No such file/.test(e.stderr)) {
      throw new Error(missingBinaryMessage(command, o.pkg));
    }
    throw e;
  });
}

const SEARCH_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
const executableCache = new Map<string, string>();

/** Absolute path of an executable (PATH plus the sbin folders), or a clear "install package X" error. */
export async function findExecutable(name: string, pkg?: string): Promise<string> {
  const cached = executableCache.get(name);
  if (cached !== undefined) return cached;
  const dirs = name.includes('/') ? [''] : [...(process.env['PATH'] ?? '').split(':').filter(Boolean), ...SEARCH_DIRS];
  for (const dir of dirs) {
    const candidate = dir ? path.join(dir, name) : name;
    try {
      await fs.access(candidate, fs.constants.X_OK);
      const abs = path.resolve(candidate);
      executableCache.set(name, abs);
      return abs;
    } catch {
      // keep looking
    }
  }
  throw new Error(missingBinaryMessage(name, pkg));
}

// ---------------------------------------------------------------------------------------------
// Processes

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** State letter from /proc/<pid>/stat (R, S, D, Z, ...), or null when there is no such process. */
export async function procState(pid: number): Promise<string | null> {
  try {
    return parseStat(await fs.readFile(`/proc/${pid}/stat`, 'utf8')).state;
  } catch {
    return null;
  }
}

function parseStat(stat: string): { state: string; ppid: number; startTime: string } {
  // comm (field 2) may contain spaces and parentheses: parse after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { state: rest[0] ?? '?', ppid: Number(rest[1]), startTime: rest[19] ?? '' };
}

/** True when the process exists and is not a zombie (PID 1 here is not an init: zombies linger). */
export async function isAlive(pid: number): Promise<boolean> {
  const s = await procState(pid);
  return s !== null && s !== 'Z' && s !== 'X';
}

export function isAliveSync(pid: number): boolean {
  try {
    const s = parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8')).state;
    return s !== 'Z' && s !== 'X';
  } catch {
    return false;
  }
}

export async function cmdline(pid: number): Promise<string | null> {
  try {
    return (await fs.readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').join(' ').trim();
  } catch {
    return null;
  }
}

/** Alive and its command line mentions `marker` (guards against a recycled pid from a stale pid file). */
export async function isOurProcess(pid: number, marker: string): Promise<boolean> {
  if (!(await isAlive(pid))) return false;
  const c = await cmdline(pid);
  return c !== null && c.includes(marker);
}

/** Wait until the process has exited (zombie counts as exited). Returns false on timeout. */
export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let interval = 10;
  while (await isAlive(pid)) {
    if (Date.now() >= deadline) return false;
    await sleep(interval);
    interval = Math.min(interval * 2, 100);
  }
  return true;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
  }
}

/** Send `sig` (default SIGTERM), wait up to timeoutMs, then SIGKILL and wait again. */
export async function terminate(pid: number, opts: { signal?: NodeJS.Signals; timeoutMs?: number } = {}): Promise<void> {
  if (!(await isAlive(pid))) return;
  signal(pid, opts.signal ?? 'SIGTERM');
  if (await waitForExit(pid, opts.timeoutMs ?? 30_000)) return;
  signal(pid, 'SIGKILL');
  if (!(await waitForExit(pid, 10_000))) throw new Error(`process ${pid} did not exit after SIGKILL`);
}

/** First line of a pid file as a number, or null. */
export async function readPidFile(file: string): Promise<number | null> {
  try {
    const n = Number.parseInt((await fs.readFile(file, 'utf8')).split('\n')[0] ?? '', 10);
    return Number.isInteger(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}

export function readPidFileSync(file: string): number | null {
  try {
    const n = Number.parseInt(readFileSync(file, 'utf8').split('\n')[0] ?? '', 10);
    return Number.isInteger(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}

interface ProcInfo {
  pid: number;
  ppid: number;
  cmdline: string;
}

function listProcessesSync(): ProcInfo[] {
  const result: ProcInfo[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const st = parseStat(readFileSync(`/proc/${entry}/stat`, 'utf8'));
      if (st.state === 'Z' || st.state === 'X') continue;
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ').trim();
      result.push({ pid: Number(entry), ppid: st.ppid, cmdline: cmd });
    } catch {
      // raced with exit
    }
  }
  return result;
}

/** Live processes whose command line contains `text`. */
export function processesMentioning(text: string): number[] {
  return listProcessesSync()
    .filter((p) => p.pid !== process.pid && p.cmdline.includes(text))
    .map((p) => p.pid);
}

/** All live descendants of pid (children, grandchildren, ...). */
export function descendantsSync(pid: number): number[] {
  const procs = listProcessesSync();
  const out: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const p = queue.shift();
    for (const c of procs) {
      if (c.ppid === p) {
        out.push(c.pid);
        queue.push(c.pid);
      }
    }
  }
  return out;
}

export function killSync(pid: number | null, sig: NodeJS.Signals): void {
  if (pid === null) return;
  try {
    process.kill(pid, sig);
  } catch {
    // gone already
  }
}

// ---------------------------------------------------------------------------------------------
// Waiting for readiness

export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  opts: { timeoutMs?: number; intervalMs?: number; onTimeout?: () => Promise<string> } = {},
): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() >= deadline) {
      const extra = opts.onTimeout ? await opts.onTimeout() : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${extra ? `\n${extra}` : ''}`);
    }
    await sleep(opts.intervalMs ?? 25);
  }
}

/** True when a TCP connection to address:port is accepted. */
export function tcpAccepts(address: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: address, port });
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

/**
 * True when a stream socket (TCP or unix path) accepts a connection and the server speaks first
 * (MariaDB sends its greeting only once it is ready for connections).
 */
export function serverGreets(target: { path: string } | { host: string; port: number }, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect(target);
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('data', () => done(true));
    sock.once('error', () => done(false));
    sock.once('end', () => done(false));
  });
}

/** Throws a clear error when address:port is already bound (by another lab instance or anything else). */
export function assertPortFree(address: string, port: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', (e: NodeJS.ErrnoException) => {
      reject(new Error(`${what}: cannot use ${address}:${port}: ${e.code === 'EADDRINUSE' ? 'address already in use' : e.message}`));
    });
    srv.listen({ host: address, port, exclusive: true }, () => srv.close(() => resolve()));
  });
}

export async function tailFile(file: string, lines = 30): Promise<string> {
  try {
    const text = await fs.readFile(file, 'utf8');
    const all = text.trimEnd().split('\n');
    return all.slice(-lines).join('\n');
  } catch {
    return `(no ${file})`;
  }
}

// ---------------------------------------------------------------------------------------------
// Addresses, folders, ownership

/** Lab servers bind only 127.x.y.z loopback addresses, never 127.0.0.1 (the machine's own services). */
export function validateLabAddress(address: string): void {
  const m = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(address);
  if (!m || m.slice(1).some((x) => Number(x) > 255)) {
    throw new Error(`lab address must be a 127.x.y.z loopback address, got ${JSON.stringify(address)}`);
  }
  if (address === '127.0.0.1' || address === '127.0.0.0' || address === '127.255.255.255') {
    throw new Error(`lab address ${address} is reserved (127.0.0.1 belongs to the machine's own MariaDB/PostgreSQL); use e.g. 127.0.1.1`);
  }
}

/** A server_id derived from the address (127.a.b.c -> a*65536 + b*256 + c), never 0. */
export function serverIdFor(address: string): number {
  const [, a, b, c] = address.split('.').map(Number);
  return ((a ?? 0) << 16) + ((b ?? 0) << 8) + (c ?? 0) || 1;
}

export function defaultBaseDir(): string {
  return path.join(os.tmpdir(), 'setpoint-lab');
}

export function cacheRoot(): string {
  return path.join(os.tmpdir(), 'setpoint-lab-cache');
}

async function ensureTraversableDir(dir: string): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  // the database users (mysql, postgres) must be able to traverse into instance folders
  const st = await fs.stat(dir);
  if ((st.mode & 0o005) !== 0o005 && st.uid === process.getuid?.()) await fs.chmod(dir, st.mode | 0o755);
}

/**
 * Create the base folder and, once per process, sweep leftovers of killed lab processes from it
 * (they may still hold the addresses and ports we are about to bind). Returns the base folder.
 */
export async function prepareBaseDir(baseDir?: string): Promise<string> {
  const base = baseDir ?? defaultBaseDir();
  await ensureTraversableDir(base);
  await sweepStaleOnce(base);
  return base;
}

export interface LabOwner {
  kind: string;
  address: string;
  port: number;
  ownerPid: number;
  ownerStart: string;
  created: string;
}

function selfStartTime(): string {
  try {
    return parseStat(readFileSync('/proc/self/stat', 'utf8')).startTime;
  } catch {
    return '';
  }
}

/**
 * A fresh instance folder <baseDir>/<kind>-<address>-<port>-<random>, mode 0755, with a lab.json
 * naming the owning process (so leftovers of a killed test run can be swept later).
 */
export async function makeInstanceDir(kind: string, address: string, port: number, baseDir?: string): Promise<string> {
  const base = await prepareBaseDir(baseDir);
  const dir = await fs.mkdtemp(path.join(base, `${kind}-${address}-${port}-`));
  await fs.chmod(dir, 0o755);
  const owner: LabOwner = { kind, address, port, ownerPid: process.pid, ownerStart: selfStartTime(), created: new Date().toISOString() };
  await fs.writeFile(path.join(dir, 'lab.json'), JSON.stringify(owner, null, 2) + '\n');
  return dir;
}

export async function chown(target: string, user: string, recursive = false): Promise<void> {
  const { uid, gid } = await lookupUser(user);
  if (!recursive) {
    await fs.chown(target, uid, gid);
    return;
  }
  await run(await findExecutable('chown', 'coreutils'), ['-R', `${uid}:${gid}`, target]);
}

/** mkdir -p, then chown to user and chmod to mode. */
export async function mkdirOwned(dir: string, user: string, mode = 0o755): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  await chown(dir, user);
  await fs.chmod(dir, mode);
}

/** Create (or truncate) a file owned by user. */
export async function touchOwned(file: string, user: string, mode = 0o640): Promise<void> {
  await fs.writeFile(file, '');
  await chown(file, user);
  await fs.chmod(file, mode);
}

const userCache = new Map<string, { uid: number; gid: number }>();
export async function lookupUser(user: string): Promise<{ uid: number; gid: number }> {
  const cached = userCache.get(user);
  if (cached) return cached;
  const passwd = await fs.readFile('/etc/passwd', 'utf8');
  for (const line of passwd.split('\n')) {
    const f = line.split(':');
    if (f[0] === user && f[2] !== undefined && f[3] !== undefined) {
      const r = { uid: Number(f[2]), gid: Number(f[3]) };
      userCache.set(user, r);
      return r;
    }
  }
  const hint = user === 'mysql' ? 'mariadb-server' : user === 'postgres' ? 'postgresql-15' : undefined;
  throw new Error(`OS user ${user} does not exist${hint ? ` (install the Debian package ${hint})` : ''}`);
}

export function assertRoot(what: string): void {
  if (process.getuid?.() !== 0) throw new Error(`${what}: the lab must run as root (it starts servers as the mysql/postgres users)`);
}

/** Write an executable /bin/sh script. */
export async function writeScript(file: string, body: string): Promise<void> {
  await fs.writeFile(file, `#!/bin/sh\n# Generated by the setpoint lab (test/lab). Runs as root with no environment.\nPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nexport PATH\n${body.trimEnd()}\n`, { mode: 0o755 });
  await fs.chmod(file, 0o755);
}

/** Single-quote a value for /bin/sh. */
export function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export function randomSuffix(): string {
  return randomBytes(4).toString('hex');
}

// ---------------------------------------------------------------------------------------------
// Templates: build once per machine, atomic rename so concurrent processes never see a half one.

const templateBuilds = new Map<string, Promise<string>>();

/**
 * Path of the cached template `name` under os.tmpdir()/setpoint-lab-cache. When missing, `build`
 * is called with a private work folder and must return the finished folder inside it; that folder
 * is renamed into place. If another process won the race its copy is used and ours is discarded.
 */
export function ensureTemplate(name: string, build: (workDir: string) => Promise<string>, probeFiles: readonly string[] = []): Promise<string> {
  let p = templateBuilds.get(name);
  if (!p) {
    p = buildTemplate(name, build, probeFiles);
    templateBuilds.set(name, p);
    p.catch(() => templateBuilds.delete(name));
  }
  return p;
}

async function buildTemplate(name: string, build: (workDir: string) => Promise<string>, probeFiles: readonly string[]): Promise<string> {
  const root = cacheRoot();
  const final = path.join(root, name);
  if (await exists(final)) {
    const probes = await Promise.all(probeFiles.map((f) => exists(path.join(final, f))));
    if (probes.every(Boolean)) return final;
    // damaged (e.g. by a /tmp cleaner): move it aside and build again
    const aside = path.join(root, `.stale-${name}-${randomSuffix()}`);
    await fs.rename(final, aside).catch(() => undefined);
    await fs.rm(aside, { recursive: true, force: true });
  }
  await ensureTraversableDir(root);
  await removeOldBuilds(root);
  const work = await fs.mkdtemp(path.join(root, `.build-${name}-`));
  try {
    await fs.chmod(work, 0o755);
    const built = await build(work);
    try {
      await fs.rename(built, final);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
      // another process finished first: use theirs
    }
    return final;
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
}

async function removeOldBuilds(root: string): Promise<void> {
  // work folders of builds that crashed; a live build takes seconds, so an hour-old one is dead
  for (const e of await fs.readdir(root).catch(() => [] as string[])) {
    if (!e.startsWith('.build-') && !e.startsWith('.stale-')) continue;
    const p = path.join(root, e);
    const st = await fs.stat(p).catch(() => null);
    if (st && Date.now() - st.mtimeMs > 3_600_000) await fs.rm(p, { recursive: true, force: true });
  }
}

export async function exists(p: string): Promise<boolean> {
  try {
    await fs.access(p);
    return true;
  } catch {
    return false;
  }
}

/** cp -a (preserves owners and modes; the lab runs as root). */
export async function copyTree(src: string, dest: string): Promise<void> {
  await run(await findExecutable('cp', 'coreutils'), ['-a', src, dest]);
}

// ---------------------------------------------------------------------------------------------
// Registry: everything started by this process, destroyed by destroyAll() or on exit.

export interface Destroyable {
  readonly dir: string;
  destroy(): Promise<void>;
  /** Best-effort synchronous kill used from process.on('exit'): signal the servers, remove the folder. */
  killSync(): void;
}

const live = new Set<Destroyable>();
let hooksInstalled = false;

export function register(item: Destroyable): void {
  live.add(item);
  installExitHooks();
}

export function unregister(item: Destroyable): void {
  live.delete(item);
}

/** Destroy every lab instance started by this process (in parallel). */
export async function destroyAll(): Promise<void> {
  const items = [...live];
  const results = await Promise.allSettled(items.map((i) => i.destroy()));
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed.length > 0) {
    throw new AggregateError(
      failed.map((f) => f.reason),
      `lab: ${failed.length} instance(s) failed to destroy`,
    );
  }
}

function keepOnExit(): boolean {
  const v = process.env['SETPOINT_LAB_KEEP'];
  return v !== undefined && v !== '' && v !== '0';
}

function killAllSync(): void {
  if (keepOnExit()) return;
  for (const item of live) {
    try {
      item.killSync();
    } catch {
      // best effort
    }
  }
  live.clear();
}

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', killAllSync);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    let handling = false;
    const handler = (): void => {
      if (handling) {
        // second signal: no more patience
        killAllSync();
        process.exit(128 + (os.constants.signals[sig] ?? 0));
      }
      handling = true;
      const onlyUs = process.listenerCount(sig) === 1;
      const done = (): void => {
        if (onlyUs) {
          // restore the default behaviour for this signal and re-raise it
          process.removeListener(sig, handler);
          process.kill(process.pid, sig);
        } else {
          handling = false;
        }
      };
      const timer = setTimeout(() => {
        killAllSync();
        done();
      }, 15_000);
      destroyAll()
        .catch(() => killAllSync())
        .finally(() => {
          clearTimeout(timer);
          done();
        });
    };
    process.on(sig, handler);
  }
}

// ---------------------------------------------------------------------------------------------
// Sweeping leftovers of killed test processes

const sweeps = new Map<string, Promise<void>>();

function sweepStaleOnce(base: string): Promise<void> {
  let p = sweeps.get(base);
  if (!p) {
    // never fail a start because of someone else's leftovers
    p = sweepStale(base).then(
      () => undefined,
      () => undefined,
    );
    sweeps.set(base, p);
  }
  return p;
}

function ownerAlive(owner: LabOwner): boolean {
  try {
    const st = parseStat(readFileSync(`/proc/${owner.ownerPid}/stat`, 'utf8'));
    return st.state !== 'Z' && st.state !== 'X' && (owner.ownerStart === '' || st.startTime === owner.ownerStart);
  } catch {
    return false;
  }
}

/**
 * Remove instance folders under baseDir whose owning process is gone, killing any server still
 * running from them. Runs automatically once per process and base folder; exported for tools.
 * Returns the folders removed.
 */
export async function sweepStale(baseDir: string = defaultBaseDir()): Promise<string[]> {
  const removed: string[] = [];
  let entries: string[];
  try {
    entries = await fs.readdir(baseDir);
  } catch {
    return removed;
  }
  for (const e of entries) {
    const dir = path.join(baseDir, e);
    let stale = false;
    try {
      const owner = JSON.parse(await fs.readFile(path.join(dir, 'lab.json'), 'utf8')) as LabOwner;
      stale = !ownerAlive(owner);
    } catch {
      const st = await fs.stat(dir).catch(() => null);
      stale = st !== null && st.isDirectory() && Date.now() - st.mtimeMs > 600_000;
    }
    if (!stale) continue;
    const pids = processesMentioning(dir + '/');
    for (const pid of pids) killSync(pid, 'SIGKILL');
    for (const pid of pids) await waitForExit(pid, 5000);
    await fs.rm(dir, { recursive: true, force: true });
    removed.push(dir);
  }
  return removed;
}

/** rm -rf used by synchronous exit paths. */
export function removeDirSync(dir: string): void {
  try {
    rmSync(dir, { recursive: true, force: true, maxRetries: 2 });
  } catch {
    // best effort
  }
}

/** Open a file for appending and return its fd (caller closes after handing it to a child). */
export function openAppend(file: string): number {
  return openSync(file, 'a');
}

export function closeFd(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // ignore
  }
}
