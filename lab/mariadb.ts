// A real MariaDB server on a loopback address, for integration tests, benchmarks and the demo.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import {
  assertPortFree,
  isOurProcess,
  killSync,
  processesMentioning,
  readPidFile,
  readPidFileSync,
  serverGreets,
  tailFile,
  terminate,
  waitFor,
  waitForExit,
} from './processes.js';
import {
  assertRoot,
  closeFd,
  copyTree,
  ensureTemplate,
  mkdirOwned,
  openAppend,
  serverIdFor,
  touchOwned,
  validateLabAddress,
  writeScript,
  chown,
} from './dirs.js';
import { findExecutable, run, shq } from './commands.js';
import { makeInstanceDir, prepareBaseDir, register, removeDirSync, type Destroyable, unregister } from './registry.js';
import { aliveFunctions, statusBody, stopBody } from './shell.js';

export interface MariaDBOptions {
  /** Loopback address to bind (127.x.y.z, never 127.0.0.1). */
  address: string;
  /** Default 3306. */
  port?: number;
  /** Default derived from the address (127.a.b.c -> a*65536 + b*256 + c). */
  serverId?: number;
  /** Parent of the instance folder; default os.tmpdir()/setpoint-lab. */
  baseDir?: string;
  /** Extra [mysqld] options written into my.cnf (before the conf.d include, which wins). */
  extraConfig?: Record<string, string | number>;
}

export interface MariaDBInstance {
  readonly address: string;
  readonly port: number;
  /** The instance's own folder (config, scripts, logs, data). */
  readonly dir: string;
  readonly dataDir: string;
  readonly socket: string;
  readonly pidFile: string;
  /** mariadbd's error log. */
  readonly logFile: string;
  readonly serverId: number;
  /** The my.cnf in use (its [client] section names the socket, so `mariadb --defaults-file=<configFile>` works). */
  readonly configFile: string;
  /** Folder included with !includedir: drop `*.cnf` fragments (with a [mysqld] header) here, then restart. */
  readonly confDir: string;
  /** Shell scripts controlling this instance (run by /bin/sh as root, no env); status exits 0 when running. */
  readonly scripts: { start: string; stop: string; restart: string; status: string };
  /**
   * Run SQL through the `mariadb` CLI as root over the socket (-N -B: tab separated, no headers).
   * Returns stdout without the trailing newline. Throws (with stderr) on failure. Test setup only.
   */
  sql(statement: string): Promise<string>;
  start(): Promise<void>;
  /** SIGTERM to the pid from the pid file, wait until exited (zombie counts), SIGKILL after 60 s. */
  stop(): Promise<void>;
  restart(): Promise<void>;
  isRunning(): Promise<boolean>;
  /** Pid of the running server, or null. */
  pid(): Promise<number | null>;
  /** Stop and remove the folder. Idempotent. */
  destroy(): Promise<void>;
}

interface Binaries {
  mariadbd: string;
  installDb: string;
  client: string;
  admin: string;
}

let binaries: Promise<Binaries> | undefined;
function mariadbBinaries(): Promise<Binaries> {
  binaries ??= (async () => ({
    mariadbd: await findExecutable('mariadbd', 'mariadb-server'),
    installDb: await findExecutable('mariadb-install-db', 'mariadb-server'),
    client: await findExecutable('mariadb', 'mariadb-client'),
    admin: await findExecutable('mariadb-admin', 'mariadb-client'),
  }))();
  binaries.catch(() => (binaries = undefined));
  return binaries;
}

/** Settings that must match between the template datadir and every instance using it. */
const INNODB_FORMAT = ['innodb_log_file_size = 16M', 'innodb_page_size = 16k'];

/** Runs in bootstrap mode (no binlog, grant tables not loaded until FLUSH PRIVILEGES). */
const BOOTSTRAP_SQL = `FLUSH PRIVILEGES;
CREATE USER 'root'@'127.%' IDENTIFIED BY '';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.%' WITH GRANT OPTION;
`;

let versionPromise: Promise<string> | undefined;
function mariadbVersion(mariadbd: string): Promise<string> {
  versionPromise ??= run(mariadbd, ['--version'], { pkg: 'mariadb-server' }).then((r) => {
    const m = /Ver\s+(\d+\.\d+\.\d+)/.exec(r.stdout);
    if (!m?.[1]) throw new Error(`cannot parse mariadbd --version: ${r.stdout.trim()}`);
    return m[1];
  });
  return versionPromise;
}

async function mariadbTemplate(bin: Binaries): Promise<string> {
  const version = await mariadbVersion(bin.mariadbd);
  const hash = createHash('sha256')
    .update(BOOTSTRAP_SQL)
    .update(INNODB_FORMAT.join('\n'))
    .update(bin.mariadbd)
    .digest('hex')
    .slice(0, 10);
  return ensureTemplate(
    `mariadb-${version}-${hash}`,
    async (work) => {
      const data = path.join(work, 'data');
      const tmp = path.join(work, 'tmp');
      await mkdirOwned(data, 'mysql', 0o755);
      await mkdirOwned(tmp, 'mysql', 0o750);
      const cnf = path.join(work, 'my.cnf');
      await fs.writeFile(
        cnf,
        [
          '[mysqld]',
          `datadir = ${data}`,
          `tmpdir = ${tmp}`,
          `socket = ${path.join(tmp, 'bootstrap.sock')}`,
          'innodb_doublewrite = 0',
          'innodb_flush_log_at_trx_commit = 2',
          'innodb_buffer_pool_size = 64M',
          'performance_schema = OFF',
          ...INNODB_FORMAT,
          '',
        ].join('\n'),
        { mode: 0o644 },
      );
      const boot = path.join(work, 'bootstrap.sql');
      await fs.writeFile(boot, BOOTSTRAP_SQL, { mode: 0o644 });
      await run(
        bin.installDb,
        [
          `--defaults-file=${cnf}`,
          `--datadir=${data}`,
          '--user=mysql',
          '--skip-test-db',
          '--auth-root-authentication-method=socket',
          '--skip-name-resolve',
          `--extra-file=${boot}`,
        ],
        { cwd: work, pkg: 'mariadb-server', timeoutMs: 120_000 },
      );
      // files the installer wrote as root (mysql_upgrade_info) must belong to mysql too
      await fs.rm(path.join(data, 'ib_buffer_pool'), { force: true });
      await chown(data, 'mysql', true);
      return data;
    },
    ['ibdata1', 'ib_logfile0', 'mysql/global_priv.MAD', 'mysql/db.MAD'],
  );
}

function configValue(key: string, value: string | number): string {
  const v = String(value);
  if (/[\r\n]/.test(key) || /[\r\n]/.test(v)) throw new Error(`extraConfig ${key}: newlines are not allowed`);
  return `${key} = ${v}`;
}

/** Start a MariaDB server (own folder, datadir copied from a cached template). */
export async function startMariaDB(opts: MariaDBOptions): Promise<MariaDBInstance> {
  assertRoot('startMariaDB');
  validateLabAddress(opts.address);
  const address = opts.address;
  const port = opts.port ?? 3306;
  const serverId = opts.serverId ?? serverIdFor(address);
  const bin = await mariadbBinaries();
  await prepareBaseDir(opts.baseDir);
  await assertPortFree(address, port, 'MariaDB');
  const templateP = mariadbTemplate(bin);
  const dir = await makeInstanceDir('mariadb', address, port, opts.baseDir);
  const inst = new LabMariaDB(dir, address, port, serverId, bin);
  register(inst);
  try {
    const socketLen = Buffer.byteLength(inst.socket);
    if (socketLen > 107)
      throw new Error(
        `MariaDB socket path too long for a unix socket (${socketLen} bytes): ${inst.socket}; use a shorter baseDir`,
      );
    const template = await templateP;
    await Promise.all([
      copyTree(template, inst.dataDir),
      mkdirOwned(path.join(dir, 'run'), 'mysql', 0o755),
      mkdirOwned(path.join(dir, 'tmp'), 'mysql', 0o750),
      fs.mkdir(inst.confDir, { recursive: true, mode: 0o755 }),
      touchOwned(inst.logFile, 'mysql', 0o640),
    ]);
    await fs.writeFile(inst.configFile, inst.renderConfig(opts.extraConfig ?? {}), { mode: 0o644 });
    await inst.writeScripts();
    await inst.start();
    return inst;
  } catch (e) {
    await inst.destroy().catch(() => undefined);
    throw e;
  }
}

class LabMariaDB implements MariaDBInstance, Destroyable {
  readonly dataDir: string;
  readonly socket: string;
  readonly pidFile: string;
  readonly logFile: string;
  readonly configFile: string;
  readonly confDir: string;
  readonly scripts: { start: string; stop: string; restart: string; status: string };
  private readonly outFile: string;
  private readonly marker: string;
  private destroying: Promise<void> | undefined;

  constructor(
    readonly dir: string,
    readonly address: string,
    readonly port: number,
    readonly serverId: number,
    private readonly bin: Binaries,
  ) {
    this.dataDir = path.join(dir, 'data');
    this.socket = path.join(dir, 'run', 'mysqld.sock');
    this.pidFile = path.join(dir, 'run', 'mysqld.pid');
    this.logFile = path.join(dir, 'mariadb.err');
    this.outFile = path.join(dir, 'mariadbd.out');
    this.configFile = path.join(dir, 'my.cnf');
    this.confDir = path.join(dir, 'conf.d');
    this.marker = `--defaults-file=${this.configFile}`;
    this.scripts = {
      start: path.join(dir, 'start.sh'),
      stop: path.join(dir, 'stop.sh'),
      restart: path.join(dir, 'restart.sh'),
      status: path.join(dir, 'status.sh'),
    };
  }

  renderConfig(extra: Record<string, string | number>): string {
    const lines = [
      `# setpoint lab MariaDB instance on ${this.address}:${this.port}`,
      '[client]',
      `socket = ${this.socket}`,
      '',
      '[mysqld]',
      'user = mysql',
      `datadir = ${this.dataDir}`,
      `socket = ${this.socket}`,
      `pid-file = ${this.pidFile}`,
      `log-error = ${this.logFile}`,
      `tmpdir = ${path.join(this.dir, 'tmp')}`,
      `bind-address = ${this.address}`,
      `port = ${this.port}`,
      `server_id = ${this.serverId}`,
      'log_bin = mysql-bin',
      'relay_log = relay-bin',
      'log_slave_updates = ON',
      'gtid_strict_mode = 1',
      'innodb_flush_log_at_trx_commit = 2',
      'sync_binlog = 0',
      'innodb_doublewrite = 0',
      'performance_schema = OFF',
      'innodb_buffer_pool_size = 64M',
      'innodb_buffer_pool_dump_at_shutdown = 0',
      'innodb_buffer_pool_load_at_startup = 0',
      ...INNODB_FORMAT,
      // TCP logins arrive from 127.0.0.1; without this it resolves to 'localhost' and matches the
      // unix_socket-only root@localhost instead of root@'127.%'.
      'skip-name-resolve',
    ];
    const extraLines = Object.entries(extra).map(([k, v]) => configValue(k, v));
    if (extraLines.length > 0) lines.push('', '# extraConfig', ...extraLines);
    lines.push('', `!includedir ${this.confDir}`, '');
    return lines.join('\n');
  }

  async writeScripts(): Promise<void> {
    const alive = aliveFunctions(this.pidFile, this.marker);
    const tail = `tail -n 30 ${shq(this.logFile)} >&2`;
    await Promise.all([
      writeScript(this.scripts.status, `${alive}\n${statusBody}`),
      writeScript(this.scripts.stop, `${alive}\n${stopBody('mariadbd', 'TERM')}`),
      writeScript(
        this.scripts.start,
        `${alive}
if pid=$(pidof_instance); then echo "mariadbd already running (pid $pid)"; exit 0; fi
cd ${shq(this.dir)} || exit 1
setsid ${shq(this.bin.mariadbd)} ${shq(this.marker)} </dev/null >>${shq(this.outFile)} 2>&1 &
child=$!
i=0
while :; do
  if ${shq(this.bin.admin)} --no-defaults --socket=${shq(this.socket)} --connect-timeout=2 ping >/dev/null 2>&1; then exit 0; fi
  st=$(sed -n 's/^.*) \\(.\\) .*$/\\1/p' "/proc/$child/stat" 2>/dev/null)
  if [ -z "$st" ] || [ "$st" = Z ]; then echo "mariadbd exited during startup; last lines of ${this.logFile}:" >&2; ${tail}; exit 1; fi
  i=$((i + 1))
  if [ "$i" -ge 600 ]; then echo "mariadbd did not answer within 30s; last lines of ${this.logFile}:" >&2; ${tail}; kill -KILL "$child"; exit 1; fi
  sleep 0.05
done
`,
      ),
      writeScript(
        this.scripts.restart,
        `/bin/sh ${shq(this.scripts.stop)} || exit 1\nexec /bin/sh ${shq(this.scripts.start)}\n`,
      ),
    ]);
  }

  async sql(statement: string): Promise<string> {
    const r = await run(
      this.bin.client,
      ['--no-defaults', `--socket=${this.socket}`, '--user=root', '--connect-timeout=10', '-N', '-B'],
      {
        input: statement,
        cwd: this.dir,
      },
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
    if (this.destroying) throw new Error(`MariaDB ${this.address}:${this.port} has been destroyed`);
    if (await this.isRunning()) return;
    await assertPortFree(this.address, this.port, 'MariaDB');
    const fd = openAppend(this.outFile);
    let exited: string | null = null;
    let child;
    try {
      // detached: setsid(), own session; stdio to a log file so nothing holds our pipes
      child = spawn(this.bin.mariadbd, [this.marker], {
        detached: true,
        stdio: ['ignore', fd, fd],
        cwd: this.dir,
        env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
      });
    } finally {
      closeFd(fd);
    }
    child.unref();
    child.on('error', (e) => (exited = `could not run ${this.bin.mariadbd}: ${e.message}`));
    child.on('exit', (code, sig) => (exited = `mariadbd exited during startup (${sig ?? `code ${code}`})`));
    const logTail = async (): Promise<string> =>
      `last lines of ${this.logFile}:\n${await tailFile(this.logFile)}\n${await tailFile(this.outFile, 10)}`;
    try {
      await waitFor(
        `MariaDB on ${this.address}:${this.port}`,
        async () => {
          if (exited !== null) throw new Error(`${exited}; ${await logTail()}`);
          return serverGreets({ path: this.socket });
        },
        { timeoutMs: 30_000, intervalMs: 20, onTimeout: logTail },
      );
    } catch (e) {
      if (child.pid !== undefined)
        await terminate(child.pid, { signal: 'SIGKILL', timeoutMs: 5000 }).catch(() => undefined);
      throw e;
    }
  }

  async stop(): Promise<void> {
    const pid = await this.pid();
    const pids = pid !== null ? [pid] : processesMentioning(this.marker);
    await Promise.all(pids.map((p) => terminate(p, { signal: 'SIGTERM', timeoutMs: 60_000 })));
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  destroy(): Promise<void> {
    this.destroying ??= (async () => {
      try {
        await this.stop().catch(() => undefined);
        // anything else still running from this folder (e.g. started by hand)
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
    killSync(readPidFileSync(this.pidFile), 'SIGKILL');
    for (const p of processesMentioning(this.marker)) killSync(p, 'SIGKILL');
    removeDirSync(this.dir);
  }
}
