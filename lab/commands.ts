// Running commands for the lab: capture output, run as another user, find executables, quote for sh.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
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
  return p ? `${command} not found: install the Debian package ${p} (apt-get install -y ${p})` : `${command} not found`;
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
      const what = timedOut
        ? `timed out after ${opts.timeoutMs ?? 120_000} ms`
        : signal
          ? `killed by ${signal}`
          : `exited with ${code}`;
      const detail = (stderr.trim() || stdout.trim()).slice(-4000);
      reject(
        new CommandError(
          `${[command, ...args].join(' ')} ${what}${detail ? `:\n${detail}` : ''}`,
          command,
          args,
          code,
          signal,
          stdout,
          stderr,
        ),
      );
    });
    if (opts.input !== undefined) child.stdin.end(opts.input);
    else child.stdin.end();
  });
}

/** Run a command as another OS user through runuser (PostgreSQL refuses to run as root). */
export async function runAs(
  user: string,
  command: string,
  args: readonly string[],
  opts: RunOptions = {},
): Promise<RunResult> {
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

/** Single-quote a value for /bin/sh. */
export function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export function randomSuffix(): string {
  return randomBytes(4).toString('hex');
}
