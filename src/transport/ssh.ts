/**
 * SSH to the hosts (ssh2): key-based auth, host keys checked against a known_hosts file (hashed
 * entries too; no trust-on-first-use unless the host's spec says so), one persistent connection per
 * host, a timeout on every command, and stdout/stderr/exit code captured.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Client } from 'ssh2';
import { SetpointError } from '../errors.js';
import type { SshSpec } from '../spec/types.js';

/** Quotes one word for a POSIX shell: 'it'\''s'. */
export function shq(word: string): string {
  if (word.includes('\0')) throw new SetpointError('ssh.quote', 'a shell word must not contain a NUL byte');
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

export interface ExecResult {
  /** Exit status, or null when the command was killed by a signal. */
  code: number | null;
  signal?: string;
  stdout: string;
  stderr: string;
}

/** The narrow shell surface agents use. */
export interface ExecOptions {
  /** What the command reads: a value, or a stream (piped, with backpressure, and ended when it ends). */
  stdin?: string | Buffer | NodeJS.ReadableStream;
  /** Where the command's output goes instead of `stdout` in the result (ended when the command ends). */
  stdout?: NodeJS.WritableStream;
  timeoutMs?: number;
}

export interface Shell {
  /** Runs a command through the remote shell. Rejects only on transport failure or timeout, not on a non-zero exit. */
  exec(command: string, opts?: ExecOptions): Promise<ExecResult>;
  /** `host:port` for messages. */
  readonly where: string;
}

/** Verdict of a known_hosts lookup. */
export type HostKeyVerdict = 'match' | 'mismatch' | 'unknown' | 'revoked';

/** The name a host has in known_hosts: `host` on port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

function globMatch(pattern: string, name: string): boolean {
  const re = new RegExp(
    '^' +
      pattern
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*/g, '.*')
        .replace(/\?/g, '.') +
      '$',
    'i',
  );
  return re.test(name);
}

function hostFieldMatches(field: string, name: string): boolean {
  if (field.startsWith('|1|')) {
    const [, , salt, hash] = field.split('|');
    if (salt === undefined || hash === undefined) return false;
    const got = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest();
    const want = Buffer.from(hash, 'base64');
    return got.length === want.length && timingSafeEqual(got, want);
  }
  let matched = false;
  for (const p of field.split(',')) {
    if (p.startsWith('!')) {
      if (globMatch(p.slice(1), name)) return false;
    } else if (globMatch(p, name)) matched = true;
  }
  return matched;
}

/** Looks a presented key up in known_hosts text, as OpenSSH with StrictHostKeyChecking=yes would. */
export function checkKnownHosts(
  text: string,
  host: string,
  port: number,
  keyType: string,
  keyB64: string,
): HostKeyVerdict {
  const name = knownHostsName(host, port);
  let sawHost = false;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const parts = line.split(/\s+/);
    let marker: string | undefined;
    if (parts[0]?.startsWith('@') === true) marker = parts.shift();
    const [hosts, type, key] = parts;
    if (hosts === undefined || type === undefined || key === undefined) continue;
    if (marker === '@cert-authority') continue;
    if (marker === '@revoked') {
      if (key === keyB64) return 'revoked';
      continue;
    }
    if (!hostFieldMatches(hosts, name)) continue;
    sawHost = true;
    if (type === keyType && key === keyB64) return 'match';
  }
  return sawHost ? 'mismatch' : 'unknown';
}

/** SHA256:... fingerprint of a raw key, as ssh-keygen -l prints it. */
export function fingerprint(key: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(key).digest('base64').replace(/=+$/, '');
}

function keyTypeOf(key: Buffer): string {
  const len = key.readUInt32BE(0);
  return key.subarray(4, 4 + len).toString('latin1');
}

/** Counters of one connection, for tests and benchmarks. */
export interface SshStats {
  commands: number;
}

export class SshSession implements Shell {
  readonly stats: SshStats = { commands: 0 };
  broken = false;
  private constructor(
    private readonly client: Client,
    readonly where: string,
    private readonly timeoutMs: number,
  ) {
    client.on('close', () => (this.broken = true));
    client.on('error', () => (this.broken = true));
  }

  /** Connects and checks the host key; refuses a mismatch (terminal error `ssh.hostkey`). */
  static async connect(address: string, spec: SshSpec, opts: { connectTimeoutMs?: number } = {}): Promise<SshSession> {
    const where = `${address}:${spec.port}`;
    let privateKey: Buffer;
    try {
      privateKey = readFileSync(spec.privateKeyFile);
    } catch (err) {
      throw new SetpointError(
        'ssh.key',
        `ssh ${where}: cannot read private key ${spec.privateKeyFile} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
        { terminal: true, cause: err },
      );
    }
    const knownHostsFile = spec.knownHostsFile ?? join(homedir(), '.ssh', 'known_hosts');
    const connectTimeoutMs = opts.connectTimeoutMs ?? spec.timeoutSeconds * 1000;
    let refusal: SetpointError | undefined;
    const verify = (key: Buffer): boolean => {
      const type = keyTypeOf(key);
      const b64 = key.toString('base64');
      let text = '';
      try {
        text = existsSync(knownHostsFile) ? readFileSync(knownHostsFile, 'utf8') : '';
      } catch (err) {
        refusal = new SetpointError(
          'ssh.hostkey',
          `ssh ${where}: cannot read known_hosts ${knownHostsFile} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
          { terminal: true },
        );
        return false;
      }
      const verdict = checkKnownHosts(text, address, spec.port, type, b64);
      if (verdict === 'match') return true;
      if (verdict === 'unknown' && spec.trustOnFirstUse) {
        appendFileSync(knownHostsFile, `${knownHostsName(address, spec.port)} ${type} ${b64}\n`, { mode: 0o600 });
        return true;
      }
      const fp = fingerprint(key);
      refusal = new SetpointError(
        'ssh.hostkey',
        verdict === 'mismatch'
          ? `ssh ${where}: HOST KEY MISMATCH: the ${type} key it presents (${fp}) is not the one in ${knownHostsFile}; refusing to connect. If the host was reinstalled, check the new key out of band and replace its line.`
          : verdict === 'revoked'
            ? `ssh ${where}: the key it presents (${fp}) is marked @revoked in ${knownHostsFile}; refusing to connect`
            : `ssh ${where}: unknown host key ${type} ${fp}: add it to ${knownHostsFile} (after checking it out of band), or set trustOnFirstUse: true for this host`,
        { terminal: true },
      );
      return false;
    };
    // Loaded on the first connection: SQL-only fleets and commands that never connect skip it.
    const { Client: SshClient } = await import('ssh2');
    const client = new SshClient();
    await new Promise<void>((resolve, reject) => {
      const sock = netConnect({ host: address, port: spec.port });
      // ssh2 leaves Nagle on: each sequential exec would cost ~90 ms on loopback.
      sock.setNoDelay(true);
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new SetpointError('ssh.unreachable', `ssh ${where}: no answer within ${connectTimeoutMs} ms`));
      }, connectTimeoutMs);
      const fail = (err: Error) => {
        clearTimeout(timer);
        client.end();
        sock.destroy();
        if (refusal !== undefined) return reject(refusal);
        const code = (err as NodeJS.ErrnoException).code;
        const level = (err as { level?: string }).level;
        if (level === 'client-authentication') {
          return reject(
            new SetpointError(
              'ssh.auth',
              `ssh ${where}: authentication as ${spec.user} with ${spec.privateKeyFile} failed`,
              { terminal: true, cause: err },
            ),
          );
        }
        reject(
          new SetpointError(
            'ssh.unreachable',
            `ssh ${where}: ${err.message}${code === undefined ? '' : ` (${code})`}`,
            { cause: err },
          ),
        );
      };
      sock.once('error', fail);
      sock.once('connect', () => {
        client.once('ready', () => {
          clearTimeout(timer);
          sock.off('error', fail);
          resolve();
        });
        client.once('error', fail);
        client.connect({
          sock,
          username: spec.user,
          privateKey,
          hostVerifier: verify,
          readyTimeout: connectTimeoutMs,
          keepaliveInterval: 15_000,
          keepaliveCountMax: 3,
        });
      });
    });
    return new SshSession(client, where, spec.timeoutSeconds * 1000);
  }

  exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    this.stats.commands++;
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    return new Promise((resolve, reject) => {
      this.client.exec(command, (err, stream) => {
        if (err !== undefined && err !== null) {
          this.broken = true;
          reject(
            new SetpointError('ssh.exec', `ssh ${this.where}: cannot run a command: ${err.message}`, { cause: err }),
          );
          return;
        }
        const out: Buffer[] = [];
        const errOut: Buffer[] = [];
        const timer = setTimeout(() => {
          stream.close();
          reject(
            new SetpointError(
              'ssh.timeout',
              `ssh ${this.where}: command timed out after ${timeoutMs} ms: ${command.slice(0, 200)}`,
            ),
          );
        }, timeoutMs);
        if (opts.stdout !== undefined) stream.pipe(opts.stdout);
        else stream.on('data', (d: Buffer) => out.push(d));
        stream.stderr.on('data', (d: Buffer) => errOut.push(d));
        stream.on('close', (code: number | null, signal?: string) => {
          clearTimeout(timer);
          resolve({
            code: code ?? null,
            ...(signal === undefined ? {} : { signal }),
            stdout: Buffer.concat(out).toString('utf8'),
            stderr: Buffer.concat(errOut).toString('utf8'),
          });
        });
        if (opts.stdin === undefined) stream.end();
        else if (typeof opts.stdin === 'string' || Buffer.isBuffer(opts.stdin)) stream.end(opts.stdin);
        else opts.stdin.pipe(stream);
      });
    });
  }

  close(): void {
    this.broken = true;
    this.client.end();
  }
}

/** One SSH connection per host, kept open across passes and opened again after a failure. */
export class SshPool {
  private readonly entries = new Map<
    string,
    { fingerprint: string; session?: SshSession; opening?: Promise<SshSession> }
  >();
  /** Connections opened since start (one per host is the goal). */
  opened = 0;

  async get(hostName: string, address: string, spec: SshSpec): Promise<SshSession> {
    const fp = JSON.stringify([address, spec]);
    let e = this.entries.get(hostName);
    if (e !== undefined && (e.fingerprint !== fp || e.session?.broken === true)) {
      e.session?.close();
      this.entries.delete(hostName);
      e = undefined;
    }
    if (e?.session !== undefined) return e.session;
    if (e?.opening !== undefined) return e.opening;
    const entry: { fingerprint: string; session?: SshSession; opening?: Promise<SshSession> } = { fingerprint: fp };
    entry.opening = SshSession.connect(address, spec)
      .then((s) => {
        this.opened++;
        entry.session = s;
        return s;
      })
      .catch((err: unknown) => {
        if (this.entries.get(hostName) === entry) this.entries.delete(hostName);
        throw err;
      })
      .finally(() => delete entry.opening);
    this.entries.set(hostName, entry);
    return entry.opening;
  }

  drop(hostName: string): void {
    this.entries.get(hostName)?.session?.close();
    this.entries.delete(hostName);
  }

  get size(): number {
    return [...this.entries.values()].filter((e) => e.session !== undefined && !e.session.broken).length;
  }

  closeAll(): void {
    for (const e of this.entries.values()) e.session?.close();
    this.entries.clear();
  }
}
