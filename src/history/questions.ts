/**
 * Readers that answer questions about the past: what setpoint last observed of a target (or one
 * resource) at a point in time, the story of one resource (when each drift appeared, what fixed it,
 * under which file version), and the recorded versions of the file. Every query is served by an index
 * (see migrations.ts: entries_spec, entries_resource; observations_resource), so they stay fast on a
 * history of millions of rows; test/unit/questions.test.ts checks their query plans.
 */
import type { TargetKey } from '../status.js';
import type { HistoryFile } from './file.js';
import { type Entry, rowToEntry } from './readers.js';

/** A version of the file as recorded: its text holds secret references, never secret values. */
export interface SpecVersion {
  version: string;
  file: string;
  /** When this version was first loaded. */
  loadedAt: number;
  text: string;
}

/** What setpoint knew of a target at a time. */
export interface TargetAt extends TargetKey {
  at: number;
  /** The version of the file in force then (the last one loaded at or before `at`). */
  spec: { version: string; loadedAt: number } | undefined;
  /** Each resource's latest observation at or before `at` (resources gone by then are left out). */
  resources: { resource: string; time: number; state: unknown }[];
  /** Drift open at `at`: appeared at or before it, resolved after it (or never). */
  drift: Entry[];
  /** Each condition's last transition at or before `at`. */
  conditions: Entry[];
  /** The last error at or before `at` (the conditions tell whether the target had recovered from it by then). */
  lastError: Entry | undefined;
}

/** One drift of one field of a resource, from when it appeared to when it was resolved. */
export interface Episode {
  field: string;
  appeared: number;
  /** The file version in force when it appeared. */
  specVersion: string | null;
  summary: string;
  desired: unknown;
  observed: unknown;
  /** When it was resolved; null while open. */
  resolved: number | null;
  /** The file version in force when it was resolved. */
  resolvedSpecVersion: string | null;
  /** Actions on the resource while it was open, oldest first. */
  actions: Entry[];
  /**
   * What resolved it: `action` (the last successful action on the resource before the resolution),
   * `file` (a new version of the file stopped declaring the difference), `outside` (the server
   * changed back with no action of setpoint: by hand, or another actor), `open`.
   */
  fixedBy: 'action' | 'file' | 'outside' | 'open';
}

/** The story of one resource of one target. */
export interface ResourceStory extends TargetKey {
  resource: string;
  /** Observations of it, oldest first (state null: it was gone). */
  observations: { time: number; state: unknown }[];
  /** Every entry about it (drift, actions, events), oldest first. */
  entries: Entry[];
  episodes: Episode[];
}

const ENTRY_COLUMNS = 'id, time, kind, cluster, host, resource, field, summary, outcome, ended, spec_version, detail';

/** The version of the file in force at `at`: the last one loaded at or before it. */
export function specInForce(h: HistoryFile, at: number): { version: string; loadedAt: number } | undefined {
  const r = h
    .stmt(
      "SELECT spec_version, time FROM entries WHERE kind = 'spec' AND outcome = 'loaded' AND time <= ? ORDER BY time DESC LIMIT 1",
    )
    .get(at) as { spec_version: string; time: number } | undefined;
  return r === undefined ? undefined : { version: r.spec_version, loadedAt: r.time };
}

/** What setpoint knew of a target at `at` (its latest observations, open drift, conditions, the file in force). */
export function targetAt(h: HistoryFile, t: TargetKey, at: number, resource?: string): TargetAt {
  const obs = (
    resource === undefined
      ? h
          .stmt(
            `SELECT o.resource, o.time, o.state FROM observations o WHERE o.id IN (
               SELECT MAX(id) FROM observations WHERE cluster = ? AND host = ? AND time <= ? GROUP BY resource)
             ORDER BY o.resource`,
          )
          .all(t.cluster, t.host, at)
      : h
          .stmt(
            'SELECT resource, time, state FROM observations WHERE cluster = ? AND host = ? AND resource = ? AND time <= ? ORDER BY id DESC LIMIT 1',
          )
          .all(t.cluster, t.host, resource, at)
  ) as { resource: string; time: number; state: string | null }[];
  const drift = (
    resource === undefined
      ? h
          .stmt(
            `SELECT ${ENTRY_COLUMNS} FROM entries INDEXED BY entries_target_kind WHERE cluster = ? AND host = ? AND kind = 'drift' AND time <= ?
               AND (ended IS NULL OR ended > ?) ORDER BY time, id`,
          )
          .all(t.cluster, t.host, at, at)
      : h
          .stmt(
            `SELECT ${ENTRY_COLUMNS} FROM entries WHERE cluster = ? AND host = ? AND resource = ? AND kind = 'drift' AND time <= ?
               AND (ended IS NULL OR ended > ?) ORDER BY time, id`,
          )
          .all(t.cluster, t.host, resource, at, at)
  ) as Record<string, unknown>[];
  const conditions = h
    .stmt(
      `SELECT ${ENTRY_COLUMNS} FROM entries WHERE id IN (
         SELECT MAX(id) FROM entries WHERE cluster = ? AND host = ? AND time <= ? AND kind = 'condition' GROUP BY field)
       ORDER BY field`,
    )
    .all(t.cluster, t.host, at) as Record<string, unknown>[];
  const lastError = h
    .stmt(
      `SELECT ${ENTRY_COLUMNS} FROM entries INDEXED BY entries_target_kind WHERE cluster = ? AND host = ? AND kind = 'error' AND time <= ? ORDER BY time DESC LIMIT 1`,
    )
    .get(t.cluster, t.host, at) as Record<string, unknown> | undefined;
  return {
    cluster: t.cluster,
    host: t.host,
    at,
    spec: specInForce(h, at),
    resources: obs
      .filter((r) => r.state !== null)
      .map((r) => ({ resource: r.resource, time: r.time, state: JSON.parse(r.state as string) as unknown })),
    drift: drift.map(rowToEntry),
    conditions: conditions.map(rowToEntry),
    lastError: lastError === undefined ? undefined : rowToEntry(lastError),
  };
}

/**
 * The resources of a target whose name contains `text` (observed, or named by an entry: a declared
 * resource that never existed has drift but no observation). An exact name wins over substrings.
 */
export function resourcesMatching(h: HistoryFile, t: TargetKey, text: string): string[] {
  const rows = [
    ...(h
      .stmt('SELECT DISTINCT resource FROM observations WHERE cluster = ? AND host = ? AND instr(resource, ?) > 0')
      .all(t.cluster, t.host, text) as { resource: string }[]),
    ...(h
      .stmt(
        'SELECT DISTINCT resource FROM entries WHERE cluster = ? AND host = ? AND resource IS NOT NULL AND instr(resource, ?) > 0',
      )
      .all(t.cluster, t.host, text) as { resource: string }[]),
  ];
  const names = [...new Set(rows.map((r) => r.resource))].sort();
  return names.includes(text) ? [text] : names;
}

/** The story of one resource: its observations and every entry about it, and its drift episodes. */
export function resourceStory(h: HistoryFile, t: TargetKey, resource: string): ResourceStory {
  const observations = (
    h
      .stmt('SELECT time, state FROM observations WHERE cluster = ? AND host = ? AND resource = ? ORDER BY id')
      .all(t.cluster, t.host, resource) as { time: number; state: string | null }[]
  ).map((r) => ({ time: r.time, state: r.state === null ? null : (JSON.parse(r.state) as unknown) }));
  const list = (
    h
      .stmt(`SELECT ${ENTRY_COLUMNS} FROM entries WHERE cluster = ? AND host = ? AND resource = ? ORDER BY time, id`)
      .all(t.cluster, t.host, resource) as Record<string, unknown>[]
  ).map(rowToEntry);
  const versionAt = (time: number) => specInForce(h, time)?.version ?? null;
  return {
    cluster: t.cluster,
    host: t.host,
    resource,
    observations,
    entries: list,
    episodes: episodes(list, versionAt),
  };
}

/**
 * Drift episodes from a resource's entries (pure): each drift entry with the actions on the resource
 * while it was open, and what resolved it. `versionAt` gives the file version in force at a time.
 */
export function episodes(list: readonly Entry[], versionAt: (time: number) => string | null): Episode[] {
  const out: Episode[] = [];
  for (const d of list) {
    if (d.kind !== 'drift') continue;
    const end = d.ended ?? Number.POSITIVE_INFINITY;
    const actions = list.filter((a) => a.kind === 'action' && a.time >= d.time && a.time <= end);
    const detail = (d.detail ?? {}) as { desired?: unknown; observed?: unknown };
    const resolvedSpecVersion = d.ended === null ? null : versionAt(d.ended);
    let fixedBy: Episode['fixedBy'] = 'open';
    if (d.ended !== null) {
      if (actions.some((a) => a.outcome === 'ok')) fixedBy = 'action';
      else if (resolvedSpecVersion !== null && resolvedSpecVersion !== d.specVersion) fixedBy = 'file';
      else fixedBy = 'outside';
    }
    out.push({
      field: d.field ?? '',
      appeared: d.time,
      specVersion: d.specVersion,
      summary: d.summary,
      desired: detail.desired,
      observed: detail.observed,
      resolved: d.ended,
      resolvedSpecVersion,
      actions,
      fixedBy,
    });
  }
  return out;
}

/** Recorded versions of the file whose hash starts with `prefix`, newest load first. */
export function specVersions(h: HistoryFile, prefix = ''): SpecVersion[] {
  const rows = h
    .stmt(
      'SELECT version, file, loaded_at, text FROM specs WHERE version >= ? AND version < ? ORDER BY loaded_at DESC, version',
    )
    .all(prefix, `${prefix}\uffff`) as { version: string; file: string; loaded_at: number; text: string }[];
  return rows.map((r) => ({ version: r.version, file: r.file, loadedAt: r.loaded_at, text: r.text }));
}
