/**
 * SQL sessions, one per server, kept open across passes and opened again after a failure.
 * A session is keyed by engine and host; a change of the host's connection settings opens a new one.
 */
import { createHash } from 'node:crypto';
import type { Session } from '../engine.js';
import type { Target } from '../loop/targets.js';

interface Entry {
  fingerprint: string;
  session?: Session;
  opening?: Promise<Session>;
}

export class SessionPool {
  private readonly entries = new Map<string, Entry>();

  /** `owner` names the daemon to the servers (MySQL connection attributes). */
  constructor(private readonly owner?: string) {}
  /** Sessions opened since start (for tests and benchmarks: connections should be reused). */
  opened = 0;

  /** The open session for the target's server, opening one if needed. */
  async get(t: Target): Promise<Session> {
    const key = `${t.engine.name}\0${t.host}`;
    const conn = t.hostSpec[t.engine.hostKey];
    const fingerprint = createHash('sha256')
      .update(JSON.stringify([t.hostSpec.address, conn]))
      .digest('hex');
    let e = this.entries.get(key);
    if (e !== undefined && (e.fingerprint !== fingerprint || e.session?.broken === true)) {
      const old = e.session;
      this.entries.delete(key);
      e = undefined;
      if (old !== undefined) void old.close().catch(() => undefined);
    }
    if (e?.session !== undefined) return e.session;
    if (e?.opening !== undefined) return e.opening;
    const entry: Entry = { fingerprint };
    entry.opening = (async () => {
      try {
        const s = await t.engine.connect(t.hostSpec, conn, {
          timeoutMs: t.policy.connectTimeoutSeconds * 1000,
          statementTimeoutMs: t.policy.statementTimeoutSeconds * 1000,
          ...(this.owner === undefined ? {} : { owner: this.owner }),
        });
        this.opened++;
        entry.session = s;
        return s;
      } catch (err) {
        if (this.entries.get(key) === entry) this.entries.delete(key);
        throw err;
      } finally {
        delete entry.opening;
      }
    })();
    this.entries.set(key, entry);
    return entry.opening;
  }

  /** Closes the session of a target's server (after an error that may have left it unusable). */
  async drop(t: Target): Promise<void> {
    const key = `${t.engine.name}\0${t.host}`;
    const e = this.entries.get(key);
    this.entries.delete(key);
    await e?.session?.close().catch(() => undefined);
  }

  /** Sessions currently open. */
  get size(): number {
    return [...this.entries.values()].filter((e) => e.session !== undefined).length;
  }

  async closeAll(): Promise<void> {
    const all = [...this.entries.values()];
    this.entries.clear();
    await Promise.allSettled(all.map((e) => e.session?.close() ?? Promise.resolve()));
  }
}
