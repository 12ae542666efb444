/** The readers the CLI uses: target status rows, entries, observations as of a time. */
import type { Condition, TargetKey, TargetState } from '../status.js';
import type { EntryKind, HistoryFile } from './file.js';

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
export function status(h: HistoryFile, filter: { cluster?: string; host?: string } = {}): TargetStatus[] {
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
  const rows = h
    .stmt(`SELECT * FROM targets${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY cluster, host`)
    .all(...args) as Record<string, unknown>[];
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
export function conditionsOf(h: HistoryFile, t: TargetKey): Condition[] {
  const r = h.stmt('SELECT conditions FROM targets WHERE cluster = ? AND host = ?').get(t.cluster, t.host) as
    { conditions: string | null } | undefined;
  return r?.conditions == null ? [] : (JSON.parse(r.conditions) as Condition[]);
}

/** Entries oldest first; with `limit`, the newest `limit` of them. */
export function entries(h: HistoryFile, f: HistoryFilter = {}): Entry[] {
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
  const rows = h.stmt(sql).all(...args, limit) as Record<string, unknown>[];
  return rows.map(rowToEntry);
}

/** An `entries` row as an Entry (detail parsed). */
export function rowToEntry(r: Record<string, unknown>): Entry {
  return {
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
  };
}

/** The latest observation of each resource of a kind, across targets (e.g. `host.facts` for `setpoint hosts`). */
export function latestOfKind(
  h: HistoryFile,
  kind: string,
): { cluster: string; host: string; resource: string; time: number; state: unknown }[] {
  const rows = h
    .stmt(
      `SELECT cluster, host, resource, time, state FROM observations WHERE id IN (
         SELECT MAX(id) FROM observations WHERE resource >= ? AND resource < ? GROUP BY resource)
       ORDER BY resource`,
    )
    .all(`${kind} `, `${kind}!`) as {
    cluster: string;
    host: string;
    resource: string;
    time: number;
    state: string | null;
  }[];
  return rows.filter((r) => r.state !== null).map((r) => ({ ...r, state: JSON.parse(r.state as string) as unknown }));
}

/** Observed state of a target's resources as of `time` (the latest row at or before it). */
export function observedAt(h: HistoryFile, t: TargetKey, time: number): Map<string, unknown> {
  const rows = h
    .stmt(
      'SELECT resource, state FROM observations WHERE id IN (SELECT MAX(id) FROM observations WHERE cluster = ? AND host = ? AND time <= ? GROUP BY resource)',
    )
    .all(t.cluster, t.host, time) as { resource: string; state: string | null }[];
  return new Map(rows.filter((r) => r.state !== null).map((r) => [r.resource, JSON.parse(r.state as string)]));
}

/** The latest observation of each resource of a kind on one target (its index: cluster, host, resource). */
export function latestOfTarget(
  h: HistoryFile,
  t: TargetKey,
  kind: string,
): { resource: string; time: number; state: unknown }[] {
  const rows = h
    .stmt(
      `SELECT resource, time, state FROM observations WHERE id IN (
         SELECT MAX(id) FROM observations WHERE cluster = ? AND host = ? AND resource >= ? AND resource < ? GROUP BY resource)
       ORDER BY resource`,
    )
    .all(t.cluster, t.host, `${kind} `, `${kind}!`) as { resource: string; time: number; state: string | null }[];
  return rows.filter((r) => r.state !== null).map((r) => ({ ...r, state: JSON.parse(r.state as string) as unknown }));
}
