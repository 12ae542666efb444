// A real PostgreSQL 15 server on a loopback address, for integration tests, benchmarks and the demo.
//
// Layout (Debian style, configuration outside PGDATA so pg_basebackup never copies a primary's
// listen address or port onto a standby):
//   <dir>/data                PGDATA (postgres, 0700), copied from a cached initdb template
//   <dir>/etc/postgresql.conf data_directory, hba_file, ident_file, include_dir = <dir>/etc/conf.d
//   <dir>/etc/pg_hba.conf, pg_ident.conf, conf.d/
//   <dir>/run                 unix socket directory
//   <dir>/postgres.log        server log
//   <dir>/{start,stop,restart,reload,status}.sh
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import {
  assertPortFree,
  isOurProcess,
  killSync,
  processesMentioning,
  readPidFile,
  readPidFileSync,
  tailFile,
  terminate,
  waitForExit,
} from './processes.js';
import {
  assertRoot,
  copyTree,
  ensureTemplate,
  mkdirOwned,
  touchOwned,
  validateLabAddress,
  writeScript,
} from './dirs.js';
import { findExecutable, run, runAs, CommandError, shq } from './commands.js';
import { makeInstanceDir, prepareBaseDir, register, removeDirSync, type Destroyable, unregister } from './registry.js';
import { aliveFunctions, statusBody } from './shell.js';

export interface PostgresOptions {
  /** Loopback address to bind (127.x.y.z, never 127.0.0.1). */
  address: string;
  /** Default 5432. */
  port?: number;
  /** Parent of the instance folder; default os.tmpdir()/setpoint-lab. */
  baseDir?: string;
  /** Extra postgresql.conf settings (strings are quoted, numbers are not), before the conf.d include. */
  extraConfig?: Record<string, string | number>;
  /** cluster_name; default `lab-<address>-<port>`. */
  clusterName?: string;
  /**
   * Make this instance a streaming standby of `standbyOf` (pg_basebackup -R -X stream over TCP as
   * postgres) instead of a fresh cluster. `slot` also creates and uses a physical replication slot.
   */
  standbyOf?: PostgresInstance;
  slot?: string;
}

export interface PostgresInstance {
  readonly address: string;
  readonly port: number;
  /** The instance's own folder. */
  readonly dir: string;
  /** PGDATA. */
  readonly dataDir: string;
  /** unix_socket_directories (psql -h <socketDir> -p <port>). */
  readonly socketDir: string;
  /** Folder holding postgresql.conf, pg_hba.conf, pg_ident.conf (outside PGDATA). */
  readonly configDir: string;
  readonly configFile: string;
  readonly hbaFile: string;
  /** include_dir of postgresql.conf: drop `*.conf` fragments here, then reload or restart. */
  readonly confDir: string;
  readonly logFile: string;
  readonly clusterName: string;
  /** Shell scripts controlling this instance (run by /bin/sh as root, no env); status exits 0 when running. */
  readonly scripts: { start: string; stop: string; restart: string; reload: string; status: string };
  /**
   * Run SQL through psql -X -A -t -q -v ON_ERROR_STOP=1 over the socket as postgres. The text is fed
   * on stdin, so several statements run one by one (CREATE DATABASE works). Returns stdout without the
   * trailing newline; throws (with stderr) on failure. Test setup only.
   */
  sql(statement: string, database?: string): Promise<string>;
  /** pg_ctl -w start as postgres. */
  start(): Promise<void>;
  /** Fast shutdown (SIGINT to the postmaster), wait until exited (zombie counts). */
  stop(): Promise<void>;
  restart(): Promise<void>;
  /** SIGHUP to the postmaster (re-read configuration). */
  reload(): Promise<void>;
  isRunning(): Promise<boolean>;
  /** Postmaster pid, or null. */
  pid(): Promise<number | null>;
  /** Stop and remove the folder. Idempotent. */
  destroy(): Promise<void>;
}

interface Binaries {
  bin: string;
  postgres: string;
  initdb: string;
  pgCtl: string;
  pgResetwal: string;
  pgBasebackup: string;
  psql: string;
}

function pgBinDir(): string {
  return process.env['SETPOINT_LAB_PG_BIN'] ?? '/usr/lib/postgresql/15/bin';
}

let binaries: Promise<Binaries> | undefined;
function pgBinaries(): Promise<Binaries> {
  binaries ??= (async () => {
    const dir = pgBinDir();
    const b = (n: string, pkg: string): Promise<string> => findExecutable(path.join(dir, n), pkg);
    return {
      bin: dir,
      postgres: await b('postgres', 'postgresql-15'),
      initdb: await b('initdb', 'postgresql-15'),
      pgCtl: await b('pg_ctl', 'postgresql-15'),
      pgResetwal: await b('pg_resetwal', 'postgresql-15'),
      pgBasebackup: await b('pg_basebackup', 'postgresql-client-15'),
      psql: await b('psql', 'postgresql-client-15'),
    };
  })();
  binaries.catch(() => (binaries = undefined));
  return binaries;
}

const INITDB_ARGS = ['-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-locale', '--no-sync'];

let versionPromise: Promise<string> | undefined;
function pgVersion(postgres: string): Promise<string> {
  versionPromise ??= run(postgres, ['--version'], { pkg: 'postgresql-15' }).then((r) => {
    const m = /\(PostgreSQL\)\s+(\d+(?:\.\d+)?)/.exec(r.stdout);
    if (!m?.[1]) throw new Error(`cannot parse postgres --version: ${r.stdout.trim()}`);
    return m[1];
  });
  return versionPromise;
}

async function pgTemplate(bin: Binaries): Promise<string> {
  const version = await pgVersion(bin.postgres);
  const hash = createHash('sha256').update(INITDB_ARGS.join(' ')).update(bin.bin).digest('hex').slice(0, 10);
  return ensureTemplate(
    `postgres-${version}-${hash}`,
    async (work) => {
      const data = path.join(work, 'data');
      await mkdirOwned(data, 'postgres', 0o700);
      await runAs('postgres', bin.initdb, ['-D', data, ...INITDB_ARGS], { cwd: work, pkg: 'postgresql-15' });
      // configuration lives outside PGDATA (see the header comment)
      for (const f of ['postgresql.conf', 'pg_hba.conf', 'pg_ident.conf'])
        await fs.rm(path.join(data, f), { force: true });
      return data;
    },
    [
      'PG_VERSION',
      'global/pg_control',
      'base/1/PG_VERSION',
      'pg_wal',
      'pg_xact/0000',
      'pg_notify',
      'pg_tblspc',
      'pg_replslot',
    ],
  );
}

// --- unique system identifier per copy -------------------------------------------------------

let crcTable: Uint32Array | undefined;
function crc32c(buf: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let i = 0; i < 256; i++) {
      let c = i;
      for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
      crcTable[i] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (const byte of buf) crc = (crcTable[(crc ^ byte) & 0xff] ?? 0) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/**
 * Every copy of the template would share initdb's "database system identifier", and tools (setpoint
 * included) may use it to tell clusters apart. Give the copy a fresh one: patch pg_control (first
 * field, CRC-32C over the struct up to its crc field, located by search so no layout is hard-coded),
 * then let pg_resetwal rewrite the WAL, whose page headers carry the identifier too.
 */
async function assignNewSystemIdentifier(bin: Binaries, dataDir: string, cwd: string): Promise<void> {
  const file = path.join(dataDir, 'global', 'pg_control');
  const buf = await fs.readFile(file);
  let crcOffset = -1;
  for (let k = 16; k + 4 <= Math.min(buf.length, 2048); k += 4) {
    if (crc32c(buf.subarray(0, k)) === buf.readUInt32LE(k)) {
      crcOffset = k;
      break;
    }
  }
  if (crcOffset < 0) throw new Error(`${file}: could not locate the control file CRC`);
  const id = (BigInt(Math.floor(Date.now() / 1000)) << 32n) | BigInt(randomBytes(4).readUInt32LE(0));
  buf.writeBigUInt64LE(id, 0);
  buf.writeUInt32LE(crc32c(buf.subarray(0, crcOffset)), crcOffset);
  await fs.writeFile(file, buf);
  await runAs('postgres', bin.pgResetwal, ['-f', '-D', dataDir], { cwd, pkg: 'postgresql-15' });
}

// --- configuration -----------------------------------------------------------------------------

function quote(v: string | number): string {
  if (typeof v === 'number') return String(v);
  return `'${v.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

function configLine(key: string, value: string | number): string {
  if (!/^[A-Za-z_][A-Za-z0-9_.]*$/.test(key))
    throw new Error(`extraConfig: invalid PostgreSQL setting name ${JSON.stringify(key)}`);
  if (/[\r\n]/.test(String(value))) throw new Error(`extraConfig ${key}: newlines are not allowed`);
  return `${key} = ${quote(value)}`;
}

const HBA = `# setpoint lab: trust for local sockets and for postgres over TCP; everybody else needs a real
# password over TCP (lab connections all arrive from 127.0.0.1, whatever address they target).
# TYPE  DATABASE     USER      ADDRESS        METHOD
local   all          all                      trust
local   replication  all                      trust
host    all          postgres  127.0.0.0/8    trust
host    replication  postgres  127.0.0.0/8    trust
host    all          all       127.0.0.0/8    scram-sha-256
host    replication  all       127.0.0.0/8    scram-sha-256
`;

/** Start a PostgreSQL 15 server (own folder, PGDATA copied from a cached template, or a standby). */
export async function startPostgres(opts: PostgresOptions): Promise<PostgresInstance> {
  assertRoot('startPostgres');
  validateLabAddress(opts.address);
  const address = opts.address;
  const port = opts.port ?? 5432;
  const bin = await pgBinaries();
  await prepareBaseDir(opts.baseDir);
  await assertPortFree(address, port, 'PostgreSQL');
  const templateP = opts.standbyOf ? null : pgTemplate(bin);
  const dir = await makeInstanceDir('postgres', address, port, opts.baseDir);
  const inst = new LabPostgres(dir, address, port, opts.clusterName ?? `lab-${address}-${port}`, bin);
  register(inst);
  try {
    const sock = path.join(inst.socketDir, `.s.PGSQL.${port}`);
    if (Buffer.byteLength(sock) > 107)
      throw new Error(`PostgreSQL socket path too long for a unix socket: ${sock}; use a shorter baseDir`);
    await Promise.all([
      mkdirOwned(inst.socketDir, 'postgres', 0o755),
      fs.mkdir(inst.confDir, { recursive: true, mode: 0o755 }),
      touchOwned(inst.logFile, 'postgres', 0o640),
    ]);
    await Promise.all([
      fs.writeFile(inst.configFile, inst.renderConfig(opts.extraConfig ?? {}), { mode: 0o644 }),
      fs.writeFile(inst.hbaFile, HBA, { mode: 0o644 }),
      fs.writeFile(path.join(inst.configDir, 'pg_ident.conf'), '# MAPNAME SYSTEM-USERNAME PG-USERNAME\n', {
        mode: 0o644,
      }),
      inst.writeScripts(),
    ]);
    if (opts.standbyOf) {
      const primary = opts.standbyOf;
      await mkdirOwned(inst.dataDir, 'postgres', 0o700);
      const args = [
        '-h',
        primary.address,
        '-p',
        String(primary.port),
        '-U',
        'postgres',
        '-D',
        inst.dataDir,
        '-R',
        '-X',
        'stream',
        '-c',
        'fast',
        '-w',
      ];
      if (opts.slot !== undefined) args.push('-C', '-S', opts.slot);
      await runAs('postgres', bin.pgBasebackup, args, { cwd: dir, pkg: 'postgresql-client-15', timeoutMs: 300_000 });
    } else {
      const template = await (templateP ?? pgTemplate(bin));
      await copyTree(template, inst.dataDir);
      await fs.chmod(inst.dataDir, 0o700);
      await assignNewSystemIdentifier(bin, inst.dataDir, dir);
    }
    await inst.start();
    return inst;
  } catch (e) {
    await inst.destroy().catch(() => undefined);
    throw e;
  }
}

class LabPostgres implements PostgresInstance, Destroyable {
  readonly dataDir: string;
  readonly socketDir: string;
  readonly configDir: string;
  readonly configFile: string;
  readonly hbaFile: string;
  readonly confDir: string;
  readonly logFile: string;
  readonly scripts: { start: string; stop: string; restart: string; reload: string; status: string };
  private readonly pidFile: string;
  private readonly marker: string;
  private destroying: Promise<void> | undefined;

  constructor(
    readonly dir: string,
    readonly address: string,
    readonly port: number,
    readonly clusterName: string,
    private readonly bin: Binaries,
  ) {
    this.dataDir = path.join(dir, 'data');
    this.socketDir = path.join(dir, 'run');
    this.configDir = path.join(dir, 'etc');
    this.configFile = path.join(this.configDir, 'postgresql.conf');
    this.hbaFile = path.join(this.configDir, 'pg_hba.conf');
    this.confDir = path.join(this.configDir, 'conf.d');
    this.logFile = path.join(dir, 'postgres.log');
    this.pidFile = path.join(this.dataDir, 'postmaster.pid');
    // the postmaster's command line is `postgres -D <configDir>`
    this.marker = `-D ${this.configDir}`;
    this.scripts = {
      start: path.join(dir, 'start.sh'),
      stop: path.join(dir, 'stop.sh'),
      restart: path.join(dir, 'restart.sh'),
      reload: path.join(dir, 'reload.sh'),
      status: path.join(dir, 'status.sh'),
    };
  }

  renderConfig(extra: Record<string, string | number>): string {
    const lines = [
      `# setpoint lab PostgreSQL instance on ${this.address}:${this.port}`,
      `data_directory = ${quote(this.dataDir)}`,
      `hba_file = ${quote(this.hbaFile)}`,
      `ident_file = ${quote(path.join(this.configDir, 'pg_ident.conf'))}`,
      `listen_addresses = ${quote(this.address)}`,
      `port = ${this.port}`,
      `unix_socket_directories = ${quote(this.socketDir)}`,
      `cluster_name = ${quote(this.clusterName)}`,
      'fsync = off',
      'full_page_writes = off',
      'wal_level = replica',
      'max_wal_senders = 5',
      'hot_standby = on',
      'shared_buffers = 16MB',
      "password_encryption = 'scram-sha-256'",
      "timezone = 'UTC'",
      "log_timezone = 'UTC'",
    ];
    const extraLines = Object.entries(extra).map(([k, v]) => configLine(k, v));
    if (extraLines.length > 0) lines.push('', '# extraConfig', ...extraLines);
    lines.push('', `include_dir = ${quote(this.confDir)}`, '');
    return lines.join('\n');
  }

  private pgCtlArgs(...rest: string[]): string[] {
    return [this.bin.pgCtl, '-D', this.configDir, ...rest];
  }

  async writeScripts(): Promise<void> {
    const alive = aliveFunctions(this.pidFile, this.marker);
    const asPg = (args: string[]): string => `runuser -u postgres -- ${args.map(shq).join(' ')}`;
    await Promise.all([
      writeScript(this.scripts.status, `${alive}\n${statusBody}`),
      writeScript(
        this.scripts.start,
        `${alive}
if pid=$(pidof_instance); then echo "postgres already running (pid $pid)"; exit 0; fi
cd ${shq(this.dir)} || exit 1
if ! ${asPg(this.pgCtlArgs('-w', '-t', '60', '-l', this.logFile, 'start'))}; then
  echo "last lines of ${this.logFile}:" >&2; tail -n 30 ${shq(this.logFile)} >&2; exit 1
fi
`,
      ),
      writeScript(
        this.scripts.stop,
        `${alive}
pidof_instance >/dev/null || exit 0
cd ${shq(this.dir)} || exit 1
exec ${asPg(this.pgCtlArgs('-m', 'fast', '-w', '-t', '60', 'stop'))}
`,
      ),
      writeScript(
        this.scripts.restart,
        `/bin/sh ${shq(this.scripts.stop)} || exit 1\nexec /bin/sh ${shq(this.scripts.start)}\n`,
      ),
      writeScript(
        this.scripts.reload,
        `${alive}
pidof_instance >/dev/null || { echo "postgres is not running" >&2; exit 7; }
cd ${shq(this.dir)} || exit 1
exec ${asPg(this.pgCtlArgs('reload'))}
`,
      ),
    ]);
  }

  async sql(statement: string, database = 'postgres'): Promise<string> {
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PG')) env[k] = v;
    env['PGCONNECT_TIMEOUT'] = '10';
    env['PGAPPNAME'] = 'setpoint-lab';
    const r = await run(
      this.bin.psql,
      [
        '-X',
        '-A',
        '-t',
        '-q',
        '-v',
        'ON_ERROR_STOP=1',
        '-h',
        this.socketDir,
        '-p',
        String(this.port),
        '-U',
        'postgres',
        '-d',
        database,
        '-f',
        '-',
      ],
      { input: statement, env, cwd: this.dir },
    );
    return r.stdout.replace(/\n+$/, '');
  }

  async pid(): Promise<number | null> {
    const pid = await readPidFile(this.pidFile);
    if (pid !== null && (await isOurProcess(pid, this.marker))) return pid;
    return null;
  }

  async isRunning(): Promise<boolean> {
    return (await this.pid()) !== null;
  }

  async start(): Promise<void> {
    if (this.destroying) throw new Error(`PostgreSQL ${this.address}:${this.port} has been destroyed`);
    if (await this.isRunning()) return;
    await assertPortFree(this.address, this.port, 'PostgreSQL');
    const [cmd, ...args] = this.pgCtlArgs('-w', '-t', '60', '-l', this.logFile, 'start');
    try {
      await runAs('postgres', cmd ?? this.bin.pgCtl, args, { cwd: this.dir, pkg: 'postgresql-15', timeoutMs: 90_000 });
    } catch (e) {
      const msg = e instanceof CommandError ? e.message : String(e);
      throw new Error(
        `PostgreSQL on ${this.address}:${this.port} did not start: ${msg}\nlast lines of ${this.logFile}:\n${await tailFile(this.logFile)}`,
      );
    }
  }

  async stop(): Promise<void> {
    const pid = await this.pid();
    const pids = pid !== null ? [pid] : processesMentioning(this.marker);
    // SIGINT = fast shutdown (SIGTERM would wait for every client to disconnect)
    await Promise.all(pids.map((p) => terminate(p, { signal: 'SIGINT', timeoutMs: 60_000 })));
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async reload(): Promise<void> {
    const pid = await this.pid();
    if (pid === null) throw new Error(`PostgreSQL on ${this.address}:${this.port} is not running`);
    process.kill(pid, 'SIGHUP');
  }

  destroy(): Promise<void> {
    this.destroying ??= (async () => {
      try {
        await this.stop().catch(() => undefined);
        for (const p of processesMentioning(this.dir + '/')) {
          killSync(p, 'SIGKILL');
          await waitForExit(p, 5000);
        }
        await fs.rm(this.dir, { recursive: true, force: true });
      } finally {
        unregister(this);
      }
    })();
    return this.destroying;
  }

  killSync(): void {
    // SIGQUIT: immediate shutdown, the postmaster takes its children down with it
    killSync(readPidFileSync(this.pidFile), 'SIGQUIT');
    for (const p of processesMentioning(this.marker)) killSync(p, 'SIGQUIT');
    removeDirSync(this.dir);
  }
}
