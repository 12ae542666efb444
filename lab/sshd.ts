// A real OpenSSH server on a loopback address: the way setpoint reaches a "bare-metal host".
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import {
  assertPortFree,
  descendantsSync,
  isAliveSync,
  isOurProcess,
  killSync,
  processesMentioning,
  readPidFile,
  readPidFileSync,
  tailFile,
  tcpAccepts,
  terminate,
  waitFor,
  waitForExit,
} from './processes.js';
import { assertRoot, validateLabAddress } from './dirs.js';
import { findExecutable, run } from './commands.js';
import { makeInstanceDir, prepareBaseDir, register, removeDirSync, type Destroyable, unregister } from './registry.js';

export interface SshdOptions {
  /** Loopback address to bind (127.x.y.z, never 127.0.0.1). */
  address: string;
  /** Default 2222 (CI machines often run a system sshd on 0.0.0.0:22). */
  port?: number;
  /** Parent of the instance folder; default os.tmpdir()/setpoint-lab. */
  baseDir?: string;
  /**
   * Authorize this existing private key (its public half from `<file>.pub` or `ssh-keygen -y`)
   * instead of generating a new one, e.g. to use one key for every lab host.
   */
  clientKeyFile?: string;
}

export interface SshdInstance {
  readonly address: string;
  readonly port: number;
  readonly dir: string;
  readonly configFile: string;
  readonly pidFile: string;
  readonly logFile: string;
  /** known_hosts holding exactly this server's host key (`[addr]:port ssh-ed25519 AAAA...`). */
  readonly knownHostsFile: string;
  /** That known_hosts line, to build a combined known_hosts for several hosts. */
  readonly knownHostsLine: string;
  /** `ssh-ed25519 AAAA...` (no comment). */
  readonly hostPublicKey: string;
  /** ed25519 private key without passphrase, authorized for root. */
  readonly clientKeyFile: string;
  /** `ssh-ed25519 AAAA...` of the client key. */
  readonly clientPublicKey: string;
  readonly user: 'root';
  /** Arguments for the OpenSSH client up to and including `root@address` (strict host key checking). */
  sshArgs(): string[];
  /** Run a command over ssh as root (strict host key checking); stdout without the trailing newline. */
  exec(command: string, opts?: { input?: string }): Promise<string>;
  start(): Promise<void>;
  /** Stop the listener (like a real sshd, established sessions are left alone; destroy() ends them). */
  stop(): Promise<void>;
  restart(): Promise<void>;
  isRunning(): Promise<boolean>;
  pid(): Promise<number | null>;
  /** Stop (with every session) and remove the folder. Idempotent. */
  destroy(): Promise<void>;
}

interface Binaries {
  sshd: string;
  ssh: string;
  keygen: string;
}

let binaries: Promise<Binaries> | undefined;
function sshBinaries(): Promise<Binaries> {
  binaries ??= (async () => ({
    sshd: await findExecutable('/usr/sbin/sshd', 'openssh-server').catch(() =>
      findExecutable('sshd', 'openssh-server'),
    ),
    ssh: await findExecutable('ssh', 'openssh-client'),
    keygen: await findExecutable('ssh-keygen', 'openssh-client'),
  }))();
  binaries.catch(() => (binaries = undefined));
  return binaries;
}

/** The privilege separation directory systemd would create. */
async function ensurePrivsepDir(): Promise<void> {
  await fs.mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  await fs.chmod('/run/sshd', 0o755);
}

function keyOnly(pubLine: string): string {
  return pubLine.trim().split(/\s+/).slice(0, 2).join(' ');
}

async function generateKey(keygen: string, file: string, comment: string): Promise<string> {
  await run(keygen, ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file], { pkg: 'openssh-client' });
  return keyOnly(await fs.readFile(`${file}.pub`, 'utf8'));
}

async function publicKeyOf(keygen: string, file: string): Promise<string> {
  try {
    return keyOnly(await fs.readFile(`${file}.pub`, 'utf8'));
  } catch {
    return keyOnly((await run(keygen, ['-y', '-f', file], { pkg: 'openssh-client' })).stdout);
  }
}

/** Start an sshd for root on address:port with its own host key and an authorized client key. */
export async function startSshd(opts: SshdOptions): Promise<SshdInstance> {
  assertRoot('startSshd');
  validateLabAddress(opts.address);
  const address = opts.address;
  const port = opts.port ?? 2222;
  const bin = await sshBinaries();
  await prepareBaseDir(opts.baseDir);
  await assertPortFree(address, port, 'sshd');
  const [dir] = await Promise.all([makeInstanceDir('sshd', address, port, opts.baseDir), ensurePrivsepDir()]);
  const hostKey = path.join(dir, 'ssh_host_ed25519_key');
  const clientKeyFile = opts.clientKeyFile ?? path.join(dir, 'client_ed25519');
  let inst: LabSshd | undefined;
  try {
    const [hostPublicKey, clientPublicKey] = await Promise.all([
      generateKey(bin.keygen, hostKey, `setpoint-lab-host@${address}`),
      opts.clientKeyFile !== undefined
        ? publicKeyOf(bin.keygen, opts.clientKeyFile)
        : generateKey(bin.keygen, clientKeyFile, `setpoint-lab-client@${address}`),
    ]);
    inst = new LabSshd(dir, address, port, bin, hostKey, hostPublicKey, clientKeyFile, clientPublicKey);
    register(inst);
    await Promise.all([
      fs.writeFile(inst.knownHostsFile, `${inst.knownHostsLine}\n`, { mode: 0o644 }),
      fs.writeFile(inst.authorizedKeysFile, `${clientPublicKey}\n`, { mode: 0o600 }),
      fs.writeFile(inst.configFile, inst.renderConfig(), { mode: 0o644 }),
    ]);
    await inst.start();
    return inst;
  } catch (e) {
    if (inst) await inst.destroy().catch(() => undefined);
    else await fs.rm(dir, { recursive: true, force: true });
    throw e;
  }
}

class LabSshd implements SshdInstance, Destroyable {
  readonly user = 'root' as const;
  readonly configFile: string;
  readonly pidFile: string;
  readonly logFile: string;
  readonly knownHostsFile: string;
  readonly knownHostsLine: string;
  readonly authorizedKeysFile: string;
  private readonly marker: string;
  private destroying: Promise<void> | undefined;

  constructor(
    readonly dir: string,
    readonly address: string,
    readonly port: number,
    private readonly bin: Binaries,
    private readonly hostKeyFile: string,
    readonly hostPublicKey: string,
    readonly clientKeyFile: string,
    readonly clientPublicKey: string,
  ) {
    this.configFile = path.join(dir, 'sshd_config');
    this.pidFile = path.join(dir, 'sshd.pid');
    this.logFile = path.join(dir, 'sshd.log');
    this.knownHostsFile = path.join(dir, 'known_hosts');
    this.authorizedKeysFile = path.join(dir, 'authorized_keys');
    this.knownHostsLine = `${port === 22 ? address : `[${address}]:${port}`} ${hostPublicKey}`;
    // the listener's title is `sshd: /usr/sbin/sshd -f <configFile> -E <log> [listener] ...`
    this.marker = `-f ${this.configFile}`;
  }

  renderConfig(): string {
    return [
      `# setpoint lab sshd on ${this.address}:${this.port}`,
      `ListenAddress ${this.address}`,
      `Port ${this.port}`,
      `HostKey ${this.hostKeyFile}`,
      `PidFile ${this.pidFile}`,
      `AuthorizedKeysFile ${this.authorizedKeysFile}`,
      'PermitRootLogin prohibit-password',
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      // instance folders live under the sticky, world-writable /tmp, which fails StrictModes
      'StrictModes no',
      'UseDNS no',
      'PrintMotd no',
      'PrintLastLog no',
      'X11Forwarding no',
      'AllowTcpForwarding yes',
      'MaxSessions 64',
      'MaxStartups 64:30:128',
      'Subsystem sftp internal-sftp',
      'LogLevel INFO',
      '',
    ].join('\n');
  }

  sshArgs(): string[] {
    return [
      '-F',
      '/dev/null',
      '-i',
      this.clientKeyFile,
      '-o',
      'IdentitiesOnly=yes',
      '-o',
      `UserKnownHostsFile=${this.knownHostsFile}`,
      '-o',
      'GlobalKnownHostsFile=/dev/null',
      '-o',
      'StrictHostKeyChecking=yes',
      '-o',
      'BatchMode=yes',
      '-o',
      'ConnectTimeout=10',
      '-o',
      'LogLevel=ERROR',
      '-p',
      String(this.port),
      `root@${this.address}`,
    ];
  }

  async exec(command: string, opts: { input?: string } = {}): Promise<string> {
    const r = await run(this.bin.ssh, [...this.sshArgs(), '--', command], {
      input: opts.input ?? '',
      pkg: 'openssh-client',
      timeoutMs: 120_000,
    });
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
    if (this.destroying) throw new Error(`sshd ${this.address}:${this.port} has been destroyed`);
    if (await this.isRunning()) return;
    await assertPortFree(this.address, this.port, 'sshd');
    await fs.rm(this.pidFile, { force: true });
    const logTail = async (): Promise<string> => `last lines of ${this.logFile}:\n${await tailFile(this.logFile)}`;
    try {
      // sshd binds, daemonizes (stdio to /dev/null) and writes its pid file; the parent exits
      await run(this.bin.sshd, ['-f', this.configFile, '-E', this.logFile], {
        cwd: this.dir,
        pkg: 'openssh-server',
        timeoutMs: 30_000,
      });
    } catch (e) {
      throw new Error(
        `sshd on ${this.address}:${this.port} did not start: ${e instanceof Error ? e.message : String(e)}\n${await logTail()}`,
      );
    }
    await waitFor(
      `sshd on ${this.address}:${this.port}`,
      async () => (await this.isRunning()) && (await tcpAccepts(this.address, this.port)),
      { timeoutMs: 15_000, intervalMs: 10, onTimeout: logTail },
    );
  }

  async stop(): Promise<void> {
    const pid = await this.pid();
    const pids = pid !== null ? [pid] : processesMentioning(this.marker);
    await Promise.all(pids.map((p) => terminate(p, { signal: 'SIGTERM', timeoutMs: 10_000 })));
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  destroy(): Promise<void> {
    this.destroying ??= (async () => {
      try {
        const pid = await this.pid();
        // sessions are children of the listener (each in its own session, so no process group)
        const sessions = pid !== null ? descendantsSync(pid) : [];
        await this.stop().catch(() => undefined);
        for (const p of [...sessions, ...processesMentioning(this.dir + '/')]) killSync(p, 'SIGTERM');
        for (const p of sessions) {
          if (!(await waitForExit(p, 3000))) killSync(p, 'SIGKILL');
        }
        await fs.rm(this.dir, { recursive: true, force: true });
      } finally {
        unregister(this);
      }
    })();
    return this.destroying;
  }

  killSync(): void {
    const pid = readPidFileSync(this.pidFile);
    if (pid !== null && isAliveSync(pid)) {
      for (const p of descendantsSync(pid)) killSync(p, 'SIGKILL');
      killSync(pid, 'SIGKILL');
    }
    for (const p of processesMentioning(this.marker)) killSync(p, 'SIGKILL');
    removeDirSync(this.dir);
  }
}
