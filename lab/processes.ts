// Processes of the lab's servers: liveness (zombies count as exited), signals, pid files, and
// waiting for readiness (a TCP port accepts, a server greets).
import { readFileSync, readdirSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as net from 'node:net';

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

export function parseStat(stat: string): { state: string; ppid: number; startTime: string } {
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
export async function terminate(
  pid: number,
  opts: { signal?: NodeJS.Signals; timeoutMs?: number } = {},
): Promise<void> {
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
export function serverGreets(
  target: { path: string } | { host: string; port: number },
  timeoutMs = 1000,
): Promise<boolean> {
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
      reject(
        new Error(
          `${what}: cannot use ${address}:${port}: ${e.code === 'EADDRINUSE' ? 'address already in use' : e.message}`,
        ),
      );
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
