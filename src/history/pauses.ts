/** Pauses: a cluster, host or cluster/host is observed and reported, never changed, until resumed. */
import type { HistoryFile } from './file.js';

/** A pause request as stored. */
export interface Pause {
  target: string;
  reason: string;
  since: number;
  by: string | null;
}

/** Pauses a cluster, a host or a cluster/host: it is observed and reported, never changed. */
export function pause(h: HistoryFile, target: string, reason: string, by: string, time = Date.now()): void {
  h.db.transaction(() => {
    h.stmt('UPDATE pauses SET reason = ?, paused_by = ? WHERE target = ? AND resumed_at IS NULL').run(
      reason,
      by,
      target,
    );
    const open = h.stmt('SELECT COUNT(*) AS n FROM pauses WHERE target = ? AND resumed_at IS NULL').get(target) as {
      n: number;
    };
    if (open.n === 0)
      h.stmt('INSERT INTO pauses (target, reason, paused_at, paused_by) VALUES (?, ?, ?, ?)').run(
        target,
        reason,
        time,
        by,
      );
    h.insert({
      time,
      kind: 'event',
      summary: `paused ${target}: ${reason}`,
      outcome: 'paused',
      detail: { target, by },
    });
  })();
}

/** Resumes a paused target (and clears "contested" marks on it); false when it was not paused. */
export function resume(h: HistoryFile, target: string, by: string, time = Date.now()): boolean {
  return h.db.transaction(() => {
    const r = h
      .stmt('UPDATE pauses SET resumed_at = ?, resumed_by = ? WHERE target = ? AND resumed_at IS NULL')
      .run(time, by, target);
    if (r.changes === 0)
      h.stmt(
        'INSERT INTO pauses (target, reason, paused_at, paused_by, resumed_at, resumed_by) VALUES (?, ?, ?, ?, ?, ?)',
      ).run(target, '(resume only)', time, by, time, by);
    h.insert({
      time,
      kind: 'event',
      summary: `resumed ${target}`,
      outcome: 'resumed',
      detail: { target, by, wasPaused: r.changes > 0 },
    });
    return r.changes > 0;
  })();
}

/** Pauses in force, and the last resume time of each target name. */
export function pauseState(h: HistoryFile): { active: Pause[]; resumed: Map<string, number> } {
  const active = (
    h.stmt('SELECT target, reason, paused_at, paused_by FROM pauses WHERE resumed_at IS NULL').all() as {
      target: string;
      reason: string;
      paused_at: number;
      paused_by: string | null;
    }[]
  ).map((r) => ({ target: r.target, reason: r.reason, since: r.paused_at, by: r.paused_by }));
  const resumed = new Map(
    (
      h.stmt('SELECT target, MAX(resumed_at) AS t FROM pauses WHERE resumed_at IS NOT NULL GROUP BY target').all() as {
        target: string;
        t: number;
      }[]
    ).map((r) => [r.target, r.t]),
  );
  return { active, resumed };
}

/** How long a request to act now stays open when nothing takes it up. */
const REQUEST_TTL_MS = 3_600_000;

/** Records a request to act on a cluster now, outside the maintenance windows; returns its id. */
export function requestNow(h: HistoryFile, cluster: string, by: string, time = Date.now()): number {
  return h.db.transaction(() => {
    const id = Number(
      h
        .stmt("INSERT INTO requests (cluster, kind, requested_at, requested_by) VALUES (?, 'now', ?, ?)")
        .run(cluster, time, by).lastInsertRowid,
    );
    h.insert({
      time,
      kind: 'event',
      cluster,
      summary: `request to act on ${cluster} now, outside the maintenance windows`,
      outcome: 'requested',
      detail: { by, request: id },
    });
    return id;
  })();
}

/** Whether an open request to act on the cluster now exists (younger than an hour). */
export function requestsNow(h: HistoryFile, cluster: string, time = Date.now()): boolean {
  const r = h
    .stmt(
      "SELECT COUNT(*) AS n FROM requests WHERE cluster = ? AND kind = 'now' AND done_at IS NULL AND requested_at > ?",
    )
    .get(cluster, time - REQUEST_TTL_MS) as { n: number };
  return r.n > 0;
}

/** Closes a cluster's open requests with how they ended. */
export function closeRequests(h: HistoryFile, cluster: string, outcome: string, time = Date.now()): number {
  return h
    .stmt('UPDATE requests SET done_at = ?, outcome = ? WHERE cluster = ? AND done_at IS NULL')
    .run(time, outcome, cluster).changes;
}
