/**
 * The history file (SQLite via better-sqlite3): what the servers looked like, what drifted, what
 * the loop did about it and with what result, and which version of the file was in force.
 * WAL mode, so the CLI reads while the daemon writes; created 0600; secrets are never written
 * (values pass through JSON.stringify, where Secret and Verifier print placeholders).
 */
import { closeSync, existsSync, mkdirSync, openSync, chmodSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { SetpointError } from '../errors.js';
import { kindOfResource, type Condition, type DriftRecord, type TargetKey, type TargetState } from '../status.js';
import { historyError, noteHistoryPath } from './errors.js';
import { migrations } from './migrations.js';

export type { DriftRecord, TargetKey, TargetState };

export type EntryKind = 'spec' | 'event' | 'drift' | 'action' | 'error' | 'condition';

/** A row of `setpoint history`. Times are epoch milliseconds. */
export interface Entry {
  id: number;
  time: number;
  kind: EntryKind;
  cluster: string | null;
  host: string | null;
  resource: string | null;
  field: string | null;
  summary: string;
  outcome: string | null;
  ended: number | null;
  specVersion: string | null;
  detail: unknown;
}


export interface TargetStatus extends TargetKey {
  specVersion: string | null;
  server: string | null;
  state: TargetState;
  drift: number;
  waiting: number;
  message: string | null;
  observedAt: number | null;
  passAt: number | null;
  lastAction: string | null;
  lastActionAt: number | null;
  lastError: string | null;
  lastErrorAt: number | null;
  nextAt: number | null;
  conditions: Condition[];
}


/** Everything a pass learned about a target, written in one transaction. */
export interface PassRecord extends TargetKey {
  time: number;
  specVersion: string;
  server?: string;
  /** Observed state, resource -> JSON; undefined when the observation failed (nothing is inferred from it). */
  observed?: Map<string, string>;
  /** The kinds `observed` covers; resources of other kinds were not seen and are left as they were. All when omitted. */
  kinds?: ReadonlySet<string>;
  /** Open drift after the pass; undefined when unknown (observation failed). */
  drift?: DriftRecord[];
  state: TargetState;
  waiting: number;
  message?: string;
  error?: { message: string; code: string; terminal: boolean };
  nextAt?: number;
  /** The target's conditions after this pass; status changes are recorded as `condition` entries. */
  conditions?: Condition[];
}

/** A pause request as stored. */
export interface Pause {
  target: string;
  reason: string;
  since: number;
  by: string | null;
}

export interface HistoryFilter {
  cluster?: string;
  host?: string;
  /** Substring of the resource, e.g. `mysql.user` or `'app'@'%'`. */
  resource?: string;
  since?: number;
  kinds?: EntryKind[];
  limit?: number;
}


/** Opens (and creates, 0600) the history file and migrates it. */
export class History {
  readonly db: Database.Database;
  // Caches of what this writer last wrote per target; dropped when another connection commits (an
  // `apply` or `pause` on the same file) or when a transaction fails, then reloaded from the file.
  private readonly lastObserved = new Map<string, Map<string, string>>();
  private readonly openDrift = new Map<string, Map<string, number>>();
  private readonly lastError = new Map<string, string>();
  private readonly lastAction = new Map<string, { summary: string; outcome: string; time: number }>();
  private dataVersion: number | undefined;
  private readonly actionTargets = new Map<number, string>();
  /** Prepared statements by SQL text: better-sqlite3 compiles on every prepare(), which costs more than most of these statements take to run. */
  private readonly statements = new Map<string, Database.Statement>();

  private constructor(db: Database.Database, readonly path: string, readonly daemonId: string) {
    this.db = db;
  }

  /** Opens the file; `readonly` never creates or migrates it. Failures are SetpointErrors that name the file and say what to do. */
  static open(path: string, opts: { readonly?: boolean; daemonId?: string } = {}): History {
    noteHistoryPath(path);
    try {
      return History.openFile(path, opts);
    } catch (err) {
      throw historyError(err, path);
    }
  }

  private static openFile(path: string, opts: { readonly?: boolean; daemonId?: string }): History {
    if (opts.readonly === true) {
      if (path !== ':memory:' && !existsSync(path)) {
        throw new SetpointError('history.missing', `history file ${path} does not exist yet (start the daemon or run apply, or pass --db)`, { exitCode: 1 });
      }
      const db = new Database(path, { readonly: true, fileMustExist: true });
      db.pragma('busy_timeout = 5000');
      // Reads the header now: a file that is not a database fails here, not in the middle of a listing.
      db.pragma('schema_version', { simple: true });
      return new History(db, path, opts.daemonId ?? 'cli');
    }
    if (path !== ':memory:') {
      mkdirSync(dirname(path), { recursive: true });
      if (!existsSync(path)) closeSync(openSync(path, 'a', 0o600));
      chmodSync(path, 0o600);
    }
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
    db.pragma('foreign_keys = ON');
    const h = new History(db, path, opts.daemonId ?? `${process.pid}`);
    h.migrate();
    return h;
  }

  private migrate(): void {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    if (version > migrations.length) {
      throw new SetpointError('history.too_new', `history file ${this.path} was written by a newer setpoint (schema ${version}, this one knows ${migrations.length})`);
    }
    for (let v = version; v < migrations.length; v++) {
      this.db.transaction(() => {
        this.db.exec(migrations[v] as string);
        this.db.pragma(`user_version = ${v + 1}`);
      })();
    }
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /** The prepared statement for `sql`, compiled once. */
  private stmt(sql: string): Database.Statement {
    let s = this.statements.get(sql);
    if (s === undefined) this.statements.set(sql, (s = this.db.prepare(sql)));
    return s;
  }

  /** Records a spec version (text holds references, not secret values) and a `spec` entry. */
  recordSpec(s: { file: string; version: string; text: string }, time = Date.now()): void {
    this.db.transaction(() => {
      this.stmt('INSERT OR IGNORE INTO specs (version, file, loaded_at, text) VALUES (?, ?, ?, ?)').run(s.version, s.file, time, s.text);
      this.insert({ time, kind: 'spec', summary: `loaded ${s.file} (version ${s.version})`, outcome: 'loaded', specVersion: s.version });
    })();
  }

  /** Records a rejected file and why (its problems). The text is not kept: it may be half-typed. */
  recordRejectedSpec(file: string, problems: string[], time = Date.now()): void {
    this.insert({ time, kind: 'spec', summary: `rejected ${file}: ${problems[0] ?? 'invalid'}${problems.length > 1 ? ` (+${problems.length - 1} more)` : ''}`, outcome: 'rejected', detail: { problems } });
  }

  event(summary: string, detail?: unknown, time = Date.now()): void {
    this.insert({ time, kind: 'event', summary, outcome: null, detail });
  }

  /** Journals a change before it runs, so a crash leaves a trace. Returns its id. */
  /** Runs `fn` in one transaction with valid caches; a failure drops the caches (rowids may be reused). */
  private write<T>(fn: () => T): T {
    const dv = this.db.pragma('data_version', { simple: true }) as number;
    if (this.dataVersion !== undefined && dv !== this.dataVersion) this.dropCaches();
    this.dataVersion = dv;
    try {
      return this.db.transaction(fn)();
    } catch (err) {
      this.dropCaches();
      throw err;
    }
  }

  private dropCaches(): void {
    this.lastObserved.clear();
    this.openDrift.clear();
    this.lastError.clear();
    this.lastAction.clear();
  }

  actionStarted(t: TargetKey, a: { resource: string; summary: string; risk: string; action: string; statements: string[] }, specVersion: string, time = Date.now()): number {
    const id = this.insert({ time, kind: 'action', cluster: t.cluster, host: t.host, resource: a.resource, field: a.action, summary: a.summary, outcome: 'running', specVersion, detail: { risk: a.risk, statements: a.statements } });
    this.lastAction.set(`${t.cluster}\0${t.host}`, { summary: a.summary, outcome: 'running', time });
    this.actionTargets.set(id, `${t.cluster}\0${t.host}`);
    return id;
  }

  actionEnded(id: number, outcome: 'ok' | 'failed', error?: string, time = Date.now()): void {
    const key = this.actionTargets.get(id);
    this.actionTargets.delete(id);
    const last = key === undefined ? undefined : this.lastAction.get(key);
    if (last !== undefined && key !== undefined) this.lastAction.set(key, { ...last, outcome });
    if (error === undefined) this.stmt('UPDATE entries SET outcome = ?, ended = ? WHERE id = ?').run(outcome, time, id);
    else this.stmt("UPDATE entries SET outcome = ?, ended = ?, detail = json_set(coalesce(detail, '{}'), '$.error', ?) WHERE id = ?").run(outcome, time, error, id);
  }

  /**
   * Marks actions left `running` by a daemon that is gone (a crash, kill -9) as `interrupted`; with
   * `own`, this daemon's own (a stop that abandoned in-flight changes).
   */
  markInterrupted(time = Date.now(), own = false): number {
    const who = own ? 'daemon = ?' : '(daemon IS NULL OR daemon <> ?)';
    return this.stmt(`UPDATE entries SET outcome = 'interrupted', ended = ? WHERE kind = 'action' AND outcome = 'running' AND ${who}`).run(time, this.daemonId).changes;
  }

  /** Writes a pass: changed observations, drift that appeared or was resolved, the error, and the target's status. */
  commitPass(p: PassRecord): void {
    const key = `${p.cluster}\0${p.host}`;
    this.write(() => {
      if (p.observed !== undefined) this.writeObservations(p, key, p.observed);
      if (p.drift !== undefined) this.syncDrift(p, key, p.drift, true, p.kinds);
      if (p.error !== undefined) {
        const last = this.lastError.get(key);
        if (last !== p.error.message) {
          this.insert({ time: p.time, kind: 'error', cluster: p.cluster, host: p.host, summary: p.error.message, outcome: p.error.terminal ? 'terminal' : 'transient', specVersion: p.specVersion, detail: { code: p.error.code } });
        }
        this.lastError.set(key, p.error.message);
      } else this.lastError.delete(key);
      // The last action comes from what this writer journaled; the file is asked once per target (after a restart).
      let lastAction = this.lastAction.get(key);
      if (lastAction === undefined) {
        lastAction = this.stmt("SELECT summary, outcome, time FROM entries WHERE cluster = ? AND host = ? AND kind = 'action' ORDER BY time DESC, id DESC LIMIT 1").get(p.cluster, p.host) as
          | { summary: string; outcome: string; time: number }
          | undefined;
        if (lastAction !== undefined) this.lastAction.set(key, lastAction);
      }
      const prev = this.stmt('SELECT last_error, last_error_at, observed_at, server, conditions FROM targets WHERE cluster = ? AND host = ?').get(p.cluster, p.host) as
        | { last_error: string | null; last_error_at: number | null; observed_at: number | null; server: string | null; conditions: string | null }
        | undefined;
      if (p.conditions !== undefined) {
        const before = prev?.conditions == null ? [] : (JSON.parse(prev.conditions) as Condition[]);
        for (const c of p.conditions) {
          const was = before.find((b) => b.type === c.type);
          if (was?.status === c.status) continue;
          this.insert({ time: p.time, kind: 'condition', cluster: p.cluster, host: p.host, field: c.type, summary: `${c.type}=${c.status} (${c.reason}): ${c.message}`, outcome: c.status, specVersion: p.specVersion, detail: { was: was?.status ?? null } });
        }
      }
      this
        .stmt(
          `INSERT OR REPLACE INTO targets (cluster, host, spec_version, server, state, drift, waiting, message, observed_at, pass_at,
             last_action, last_action_at, last_error, last_error_at, next_at, conditions)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          p.cluster, p.host, p.specVersion, p.server ?? prev?.server ?? null, p.state, p.drift?.length ?? 0, p.waiting, p.message ?? null,
          p.observed !== undefined ? p.time : (prev?.observed_at ?? null), p.time,
          lastAction === undefined ? null : `${lastAction.summary} (${lastAction.outcome})`, lastAction?.time ?? null,
          p.error?.message ?? prev?.last_error ?? null, p.error !== undefined ? p.time : (prev?.last_error_at ?? null), p.nextAt ?? null,
          p.conditions === undefined ? (prev?.conditions ?? null) : JSON.stringify(p.conditions),
        );
    });
  }

  /**
   * Thins observations older than `before` that a newer observation of the same resource replaced
   * (the latest of each resource always stays). Walks the table by id windows, one short transaction
   * each, yielding to the event loop between them, so the daemon's passes go on meanwhile.
   * Returns the number of rows removed.
   */
  async thin(before: number, window = 20_000): Promise<number> {
    const bounds = this.stmt('SELECT MIN(id) AS lo, MAX(id) AS hi FROM observations').get() as { lo: number | null; hi: number | null };
    if (bounds.lo === null || bounds.hi === null) return 0;
    const step = this.stmt(
      `DELETE FROM observations WHERE id IN (
         SELECT o.id FROM observations o
         WHERE o.id >= ? AND o.id < ? AND o.time < ?
           AND EXISTS (SELECT 1 FROM observations n WHERE n.cluster = o.cluster AND n.host = o.host AND n.resource = o.resource AND n.id > o.id))`,
    );
    const oldest = this.stmt('SELECT MIN(time) AS t FROM observations WHERE id >= ? AND id < ?');
    let removed = 0;
    for (let lo = bounds.lo; lo <= bounds.hi; lo += window) {
      // Ids grow with time: once a window starts after the cut-off, so do all later ones.
      const t = (oldest.get(lo, lo + window) as { t: number | null }).t;
      if (t !== null && t >= before) break;
      removed += this.db.transaction(() => step.run(lo, lo + window, before).changes)();
      await new Promise((r) => setImmediate(r));
    }
    if (removed > 0) this.db.pragma('wal_checkpoint(TRUNCATE)');
    return removed;
  }

  /** Removes status rows of targets no longer in the file. */
  forgetTargets(keep: TargetKey[]): void {
    const want = new Set(keep.map((k) => `${k.cluster}\0${k.host}`));
    const rows = this.stmt('SELECT cluster, host FROM targets').all() as TargetKey[];
    for (const r of rows) if (!want.has(`${r.cluster}\0${r.host}`)) this.stmt('DELETE FROM targets WHERE cluster = ? AND host = ?').run(r.cluster, r.host);
  }

  private writeObservations(p: PassRecord, key: string, now: Map<string, string>): void {
    let last = this.lastObserved.get(key);
    if (last === undefined) {
      last = new Map();
      const rows = this
        .stmt('SELECT o.resource, o.state FROM observations o WHERE o.id IN (SELECT MAX(id) FROM observations WHERE cluster = ? AND host = ? GROUP BY resource)')
        .all(p.cluster, p.host) as { resource: string; state: string | null }[];
      for (const r of rows) if (r.state !== null) last.set(r.resource, r.state);
      this.lastObserved.set(key, last);
    }
    const ins = this.stmt('INSERT INTO observations (time, cluster, host, resource, state) VALUES (?, ?, ?, ?, ?)');
    for (const [resource, state] of now) {
      if (last.get(resource) !== state) {
        ins.run(p.time, p.cluster, p.host, resource, state);
        last.set(resource, state);
      }
    }
    for (const resource of [...last.keys()]) {
      if (!now.has(resource) && (p.kinds === undefined || p.kinds.has(kindOfResource(resource)))) {
        ins.run(p.time, p.cluster, p.host, resource, null);
        last.delete(resource);
      }
    }
  }

  /** Journals drift as soon as it is seen, before any action on it (resolution is left to commitPass). */
  recordDrift(t: TargetKey, drift: DriftRecord[], specVersion: string, time = Date.now()): void {
    if (drift.length === 0) return;
    const key = `${t.cluster}\0${t.host}`;
    this.write(() => this.syncDrift({ ...t, time, specVersion }, key, drift, false));
  }

  private syncDrift(p: TargetKey & { time: number; specVersion: string }, key: string, drift: DriftRecord[], resolveGone = true, kinds?: ReadonlySet<string>): void {
    let open = this.openDrift.get(key);
    if (open === undefined) {
      open = new Map();
      const rows = this
        .stmt("SELECT id, resource, field FROM entries WHERE cluster = ? AND host = ? AND kind = 'drift' AND outcome = 'open'")
        .all(p.cluster, p.host) as { id: number; resource: string; field: string }[];
      for (const r of rows) open.set(`${r.resource}\0${r.field}`, r.id);
      this.openDrift.set(key, open);
    }
    const seen = new Set<string>();
    for (const d of drift) {
      const k = `${d.resource}\0${d.field}`;
      seen.add(k);
      if (!open.has(k)) {
        const id = this.insert({ time: p.time, kind: 'drift', cluster: p.cluster, host: p.host, resource: d.resource, field: d.field, summary: d.summary, outcome: 'open', specVersion: p.specVersion, detail: { desired: d.desired, observed: d.observed } });
        open.set(k, id);
      }
    }
    if (!resolveGone) return;
    const resolve = this.stmt("UPDATE entries SET outcome = 'resolved', ended = ? WHERE id = ?");
    for (const [k, id] of [...open]) {
      if (!seen.has(k) && (kinds === undefined || kinds.has(kindOfResource(k)))) {
        resolve.run(p.time, id);
        open.delete(k);
      }
    }
  }

  private insert(e: { time: number; kind: EntryKind; cluster?: string; host?: string; resource?: string; field?: string; summary: string; outcome: string | null; specVersion?: string; detail?: unknown }): number {
    const r = this
      .stmt('INSERT INTO entries (time, kind, cluster, host, resource, field, summary, outcome, spec_version, daemon, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(e.time, e.kind, e.cluster ?? null, e.host ?? null, e.resource ?? null, e.field ?? null, e.summary, e.outcome, e.specVersion ?? null, this.daemonId, e.detail === undefined ? null : JSON.stringify(e.detail));
    return Number(r.lastInsertRowid);
  }

  // ---- queries (the CLI) ----

  status(filter: { cluster?: string; host?: string } = {}): TargetStatus[] {
    const where: string[] = [];
    const args: string[] = [];
    if (filter.cluster !== undefined) {
      where.push('cluster = ?');
      args.push(filter.cluster);
    }
    if (filter.host !== undefined) {
      where.push('host = ?');
      args.push(filter.host);
    }
    const rows = this.stmt(`SELECT * FROM targets${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY cluster, host`).all(...args) as Record<string, unknown>[];
    return rows.map((r) => ({
      cluster: r.cluster as string,
      host: r.host as string,
      specVersion: r.spec_version as string | null,
      server: r.server as string | null,
      state: r.state as TargetState,
      drift: r.drift as number,
      waiting: r.waiting as number,
      message: r.message as string | null,
      observedAt: r.observed_at as number | null,
      passAt: r.pass_at as number | null,
      lastAction: r.last_action as string | null,
      lastActionAt: r.last_action_at as number | null,
      lastError: r.last_error as string | null,
      lastErrorAt: r.last_error_at as number | null,
      nextAt: r.next_at as number | null,
      conditions: r.conditions == null ? [] : (JSON.parse(r.conditions as string) as Condition[]),
    }));
  }

  /** The conditions a target carries now (empty before its first pass). */
  conditionsOf(t: TargetKey): Condition[] {
    const r = this.stmt('SELECT conditions FROM targets WHERE cluster = ? AND host = ?').get(t.cluster, t.host) as { conditions: string | null } | undefined;
    return r?.conditions == null ? [] : (JSON.parse(r.conditions) as Condition[]);
  }

  // ---- pause and resume ----

  /** Pauses a cluster, a host or a cluster/host: it is observed and reported, never changed. */
  pause(target: string, reason: string, by: string, time = Date.now()): void {
    this.db.transaction(() => {
      this.stmt('UPDATE pauses SET reason = ?, paused_by = ? WHERE target = ? AND resumed_at IS NULL').run(reason, by, target);
      const open = this.stmt('SELECT COUNT(*) AS n FROM pauses WHERE target = ? AND resumed_at IS NULL').get(target) as { n: number };
      if (open.n === 0) this.stmt('INSERT INTO pauses (target, reason, paused_at, paused_by) VALUES (?, ?, ?, ?)').run(target, reason, time, by);
      this.insert({ time, kind: 'event', summary: `paused ${target}: ${reason}`, outcome: 'paused', detail: { target, by } });
    })();
  }

  /** Resumes a paused target (and clears "contested" marks on it); false when it was not paused. */
  resume(target: string, by: string, time = Date.now()): boolean {
    return this.db.transaction(() => {
      const r = this.stmt('UPDATE pauses SET resumed_at = ?, resumed_by = ? WHERE target = ? AND resumed_at IS NULL').run(time, by, target);
      if (r.changes === 0) this.stmt('INSERT INTO pauses (target, reason, paused_at, paused_by, resumed_at, resumed_by) VALUES (?, ?, ?, ?, ?, ?)').run(target, '(resume only)', time, by, time, by);
      this.insert({ time, kind: 'event', summary: `resumed ${target}`, outcome: 'resumed', detail: { target, by, wasPaused: r.changes > 0 } });
      return r.changes > 0;
    })();
  }

  /** Pauses in force, and the last resume time of each target name. */
  pauseState(): { active: Pause[]; resumed: Map<string, number> } {
    const active = (this.stmt('SELECT target, reason, paused_at, paused_by FROM pauses WHERE resumed_at IS NULL').all() as { target: string; reason: string; paused_at: number; paused_by: string | null }[]).map(
      (r) => ({ target: r.target, reason: r.reason, since: r.paused_at, by: r.paused_by }),
    );
    const resumed = new Map((this.stmt('SELECT target, MAX(resumed_at) AS t FROM pauses WHERE resumed_at IS NOT NULL GROUP BY target').all() as { target: string; t: number }[]).map((r) => [r.target, r.t]));
    return { active, resumed };
  }

  /** Entries oldest first; with `limit`, the newest `limit` of them. */
  entries(f: HistoryFilter = {}): Entry[] {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (f.cluster !== undefined) {
      where.push('cluster = ?');
      args.push(f.cluster);
    }
    if (f.host !== undefined) {
      where.push('host = ?');
      args.push(f.host);
    }
    if (f.resource !== undefined) {
      where.push('instr(resource, ?) > 0');
      args.push(f.resource);
    }
    if (f.since !== undefined) {
      where.push('time >= ?');
      args.push(f.since);
    }
    if (f.kinds !== undefined && f.kinds.length > 0) {
      where.push(`kind IN (${f.kinds.map(() => '?').join(', ')})`);
      args.push(...f.kinds);
    }
    const limit = f.limit ?? 1000;
    const sql = `SELECT * FROM (SELECT * FROM entries${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY time DESC, id DESC LIMIT ?) ORDER BY time, id`;
    const rows = this.stmt(sql).all(...args, limit) as Record<string, unknown>[];
    return rows.map((r) => ({
      id: r.id as number,
      time: r.time as number,
      kind: r.kind as EntryKind,
      cluster: r.cluster as string | null,
      host: r.host as string | null,
      resource: r.resource as string | null,
      field: r.field as string | null,
      summary: r.summary as string,
      outcome: r.outcome as string | null,
      ended: r.ended as number | null,
      specVersion: r.spec_version as string | null,
      detail: r.detail === null ? null : JSON.parse(r.detail as string),
    }));
  }

  /** The latest observation of each resource of a kind, across targets (e.g. `host.facts` for `setpoint hosts`). */
  latestOfKind(kind: string): { cluster: string; host: string; resource: string; time: number; state: unknown }[] {
    const rows = this
      .stmt(
        `SELECT cluster, host, resource, time, state FROM observations WHERE id IN (
           SELECT MAX(id) FROM observations WHERE resource >= ? AND resource < ? GROUP BY resource)
         ORDER BY resource`,
      )
      .all(`${kind} `, `${kind}!`) as { cluster: string; host: string; resource: string; time: number; state: string | null }[];
    return rows.filter((r) => r.state !== null).map((r) => ({ ...r, state: JSON.parse(r.state as string) as unknown }));
  }

  /** Observed state of a target's resources as of `time` (the latest row at or before it). */
  observedAt(t: TargetKey, time: number): Map<string, unknown> {
    const rows = this
      .stmt('SELECT resource, state FROM observations WHERE id IN (SELECT MAX(id) FROM observations WHERE cluster = ? AND host = ? AND time <= ? GROUP BY resource)')
      .all(t.cluster, t.host, time) as { resource: string; state: string | null }[];
    return new Map(rows.filter((r) => r.state !== null).map((r) => [r.resource, JSON.parse(r.state as string)]));
  }
}
