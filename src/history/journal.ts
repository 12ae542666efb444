/**
 * The writer: spec versions, events, actions journaled before they run, and each pass in one
 * transaction (changed observations, drift that appeared or was resolved, errors, condition
 * transitions, the target's status row). Keeps caches of what it last wrote per target; they are
 * dropped when another connection commits (an `apply` or `pause` on the same file) or a write fails.
 */
import { kindOfResource, type Condition, type DriftRecord, type TargetKey, type TargetState } from '../status.js';
import type { HistoryFile } from './file.js';

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

export class Journal {
  private readonly lastObserved = new Map<string, Map<string, string>>();
  private readonly openDrift = new Map<string, Map<string, number>>();
  private readonly lastError = new Map<string, string>();
  private readonly lastAction = new Map<string, { summary: string; outcome: string; time: number }>();
  private dataVersion: number | undefined;
  private readonly actionTargets = new Map<number, string>();

  constructor(private readonly file: HistoryFile) {}

  /** Records a spec version (text holds references, not secret values) and a `spec` entry. */
  recordSpec(s: { file: string; version: string; text: string }, time = Date.now()): void {
    this.file.db.transaction(() => {
      this.file
        .stmt('INSERT OR IGNORE INTO specs (version, file, loaded_at, text) VALUES (?, ?, ?, ?)')
        .run(s.version, s.file, time, s.text);
      this.file.insert({
        time,
        kind: 'spec',
        summary: `loaded ${s.file} (version ${s.version})`,
        outcome: 'loaded',
        specVersion: s.version,
      });
    })();
  }

  /** Records a rejected file and why (its problems). The text is not kept: it may be half-typed. */
  recordRejectedSpec(file: string, problems: string[], time = Date.now()): void {
    this.file.insert({
      time,
      kind: 'spec',
      summary: `rejected ${file}: ${problems[0] ?? 'invalid'}${problems.length > 1 ? ` (+${problems.length - 1} more)` : ''}`,
      outcome: 'rejected',
      detail: { problems },
    });
  }

  /** An event; with `about`, filed under a target (and a resource) so `history --cluster --host --resource` finds it. */
  event(summary: string, detail?: unknown, time = Date.now(), about?: TargetKey & { resource?: string }): void {
    this.file.insert({
      time,
      kind: 'event',
      summary,
      outcome: null,
      detail,
      ...(about === undefined
        ? {}
        : {
            cluster: about.cluster,
            host: about.host,
            ...(about.resource === undefined ? {} : { resource: about.resource }),
          }),
    });
  }

  /** Runs `fn` in one transaction with valid caches; a failure drops the caches (rowids may be reused). */
  private write<T>(fn: () => T): T {
    const dv = this.file.db.pragma('data_version', { simple: true }) as number;
    if (this.dataVersion !== undefined && dv !== this.dataVersion) this.dropCaches();
    this.dataVersion = dv;
    try {
      return this.file.db.transaction(fn)();
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

  /** Journals a change before it runs, so a crash leaves a trace. Returns its id. */
  actionStarted(
    t: TargetKey,
    a: { resource: string; summary: string; risk: string; action: string; statements: string[] },
    specVersion: string,
    time = Date.now(),
  ): number {
    const id = this.file.insert({
      time,
      kind: 'action',
      cluster: t.cluster,
      host: t.host,
      resource: a.resource,
      field: a.action,
      summary: a.summary,
      outcome: 'running',
      specVersion,
      detail: { risk: a.risk, statements: a.statements },
    });
    this.lastAction.set(`${t.cluster}\0${t.host}`, { summary: a.summary, outcome: 'running', time });
    this.actionTargets.set(id, `${t.cluster}\0${t.host}`);
    return id;
  }

  actionEnded(id: number, outcome: 'ok' | 'failed', error?: string, time = Date.now()): void {
    const key = this.actionTargets.get(id);
    this.actionTargets.delete(id);
    const last = key === undefined ? undefined : this.lastAction.get(key);
    if (last !== undefined && key !== undefined) this.lastAction.set(key, { ...last, outcome });
    if (error === undefined)
      this.file.stmt('UPDATE entries SET outcome = ?, ended = ? WHERE id = ?').run(outcome, time, id);
    else
      this.file
        .stmt(
          "UPDATE entries SET outcome = ?, ended = ?, detail = json_set(coalesce(detail, '{}'), '$.error', ?) WHERE id = ?",
        )
        .run(outcome, time, error, id);
  }

  /**
   * Takes back an action journaled as started that never ran (a batch stopped at an earlier change's
   * failure): it is journaled again when it runs.
   */
  actionDiscarded(id: number): void {
    const key = this.actionTargets.get(id);
    this.actionTargets.delete(id);
    // The target's last action is read back from the file at the next commit.
    if (key !== undefined) this.lastAction.delete(key);
    this.file.stmt("DELETE FROM entries WHERE id = ? AND outcome = 'running'").run(id);
  }

  /**
   * Marks actions left `running` by a daemon that is gone (a crash, kill -9) as `interrupted`; with
   * `own`, this daemon's own (a stop that abandoned in-flight changes).
   */
  markInterrupted(time = Date.now(), own = false): number {
    const who = own ? 'daemon = ?' : '(daemon IS NULL OR daemon <> ?)';
    return this.file
      .stmt(
        `UPDATE entries SET outcome = 'interrupted', ended = ? WHERE kind = 'action' AND outcome = 'running' AND ${who}`,
      )
      .run(time, this.file.daemonId).changes;
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
          this.file.insert({
            time: p.time,
            kind: 'error',
            cluster: p.cluster,
            host: p.host,
            summary: p.error.message,
            outcome: p.error.terminal ? 'terminal' : 'transient',
            specVersion: p.specVersion,
            detail: { code: p.error.code },
          });
        }
        this.lastError.set(key, p.error.message);
      } else this.lastError.delete(key);
      // The last action comes from what this writer journaled; the file is asked once per target (after a restart).
      let lastAction = this.lastAction.get(key);
      if (lastAction === undefined) {
        lastAction = this.file
          .stmt(
            "SELECT summary, outcome, time FROM entries WHERE cluster = ? AND host = ? AND kind = 'action' ORDER BY time DESC, id DESC LIMIT 1",
          )
          .get(p.cluster, p.host) as { summary: string; outcome: string; time: number } | undefined;
        if (lastAction !== undefined) this.lastAction.set(key, lastAction);
      }
      const prev = this.file
        .stmt(
          'SELECT last_error, last_error_at, observed_at, server, conditions FROM targets WHERE cluster = ? AND host = ?',
        )
        .get(p.cluster, p.host) as
        | {
            last_error: string | null;
            last_error_at: number | null;
            observed_at: number | null;
            server: string | null;
            conditions: string | null;
          }
        | undefined;
      if (p.conditions !== undefined) {
        const before = prev?.conditions == null ? [] : (JSON.parse(prev.conditions) as Condition[]);
        for (const c of p.conditions) {
          const was = before.find((b) => b.type === c.type);
          if (was?.status === c.status) continue;
          this.file.insert({
            time: p.time,
            kind: 'condition',
            cluster: p.cluster,
            host: p.host,
            field: c.type,
            summary: `${c.type}=${c.status} (${c.reason}): ${c.message}`,
            outcome: c.status,
            specVersion: p.specVersion,
            detail: { was: was?.status ?? null },
          });
        }
      }
      this.file
        .stmt(
          `INSERT OR REPLACE INTO targets (cluster, host, spec_version, server, state, drift, waiting, message, observed_at, pass_at,
             last_action, last_action_at, last_error, last_error_at, next_at, conditions)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          p.cluster,
          p.host,
          p.specVersion,
          p.server ?? prev?.server ?? null,
          p.state,
          p.drift?.length ?? 0,
          p.waiting,
          p.message ?? null,
          p.observed !== undefined ? p.time : (prev?.observed_at ?? null),
          p.time,
          lastAction === undefined ? null : `${lastAction.summary} (${lastAction.outcome})`,
          lastAction?.time ?? null,
          p.error?.message ?? prev?.last_error ?? null,
          p.error !== undefined ? p.time : (prev?.last_error_at ?? null),
          p.nextAt ?? null,
          p.conditions === undefined ? (prev?.conditions ?? null) : JSON.stringify(p.conditions),
        );
    });
  }

  /** Removes status rows of targets no longer in the file. */
  forgetTargets(keep: TargetKey[]): void {
    const want = new Set(keep.map((k) => `${k.cluster}\0${k.host}`));
    const rows = this.file.stmt('SELECT cluster, host FROM targets').all() as TargetKey[];
    for (const r of rows)
      if (!want.has(`${r.cluster}\0${r.host}`))
        this.file.stmt('DELETE FROM targets WHERE cluster = ? AND host = ?').run(r.cluster, r.host);
  }

  private writeObservations(p: PassRecord, key: string, now: Map<string, string>): void {
    let last = this.lastObserved.get(key);
    if (last === undefined) {
      last = new Map();
      const rows = this.file
        .stmt(
          'SELECT o.resource, o.state FROM observations o WHERE o.id IN (SELECT MAX(id) FROM observations WHERE cluster = ? AND host = ? GROUP BY resource)',
        )
        .all(p.cluster, p.host) as { resource: string; state: string | null }[];
      for (const r of rows) if (r.state !== null) last.set(r.resource, r.state);
      this.lastObserved.set(key, last);
    }
    const ins = this.file.stmt(
      'INSERT INTO observations (time, cluster, host, resource, state) VALUES (?, ?, ?, ?, ?)',
    );
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

  private syncDrift(
    p: TargetKey & { time: number; specVersion: string },
    key: string,
    drift: DriftRecord[],
    resolveGone = true,
    kinds?: ReadonlySet<string>,
  ): void {
    let open = this.openDrift.get(key);
    if (open === undefined) {
      open = new Map();
      const rows = this.file
        .stmt(
          "SELECT id, resource, field FROM entries WHERE cluster = ? AND host = ? AND kind = 'drift' AND outcome = 'open'",
        )
        .all(p.cluster, p.host) as { id: number; resource: string; field: string }[];
      for (const r of rows) open.set(`${r.resource}\0${r.field}`, r.id);
      this.openDrift.set(key, open);
    }
    const seen = new Set<string>();
    for (const d of drift) {
      const k = `${d.resource}\0${d.field}`;
      seen.add(k);
      if (!open.has(k)) {
        const id = this.file.insert({
          time: p.time,
          kind: 'drift',
          cluster: p.cluster,
          host: p.host,
          resource: d.resource,
          field: d.field,
          summary: d.summary,
          outcome: 'open',
          specVersion: p.specVersion,
          detail: { desired: d.desired, observed: d.observed },
        });
        open.set(k, id);
      }
    }
    if (!resolveGone) return;
    const resolve = this.file.stmt("UPDATE entries SET outcome = 'resolved', ended = ? WHERE id = ?");
    for (const [k, id] of [...open]) {
      if (!seen.has(k) && (kinds === undefined || kinds.has(kindOfResource(k)))) {
        resolve.run(p.time, id);
        open.delete(k);
      }
    }
  }
}
