// Everything the lab started in this process, destroyed by destroyAll() or on exit; and a sweep of
// what killed test processes left behind.
import { readFileSync, rmSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { defaultBaseDir, ensureTraversableDir } from './dirs.js';
import { killSync, parseStat, processesMentioning, waitForExit } from './processes.js';

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
  const owner: LabOwner = {
    kind,
    address,
    port,
    ownerPid: process.pid,
    ownerStart: selfStartTime(),
    created: new Date().toISOString(),
  };
  await fs.writeFile(path.join(dir, 'lab.json'), JSON.stringify(owner, null, 2) + '\n');
  return dir;
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
