/** Retention: old observations that a newer one replaced are thinned, in short transactions. */
import type { HistoryFile } from './file.js';

/**
 * Thins observations older than `before` that a newer observation of the same resource replaced
 * (the latest of each resource always stays). Walks the table by id windows, one short transaction
 * each, yielding to the event loop between them, so the daemon's passes go on meanwhile.
 * Returns the number of rows removed.
 */
export async function thin(h: HistoryFile, before: number, window = 20_000): Promise<number> {
  const bounds = h.stmt('SELECT MIN(id) AS lo, MAX(id) AS hi FROM observations').get() as {
    lo: number | null;
    hi: number | null;
  };
  if (bounds.lo === null || bounds.hi === null) return 0;
  const step = h.stmt(
    `DELETE FROM observations WHERE id IN (
       SELECT o.id FROM observations o
       WHERE o.id >= ? AND o.id < ? AND o.time < ?
         AND EXISTS (SELECT 1 FROM observations n WHERE n.cluster = o.cluster AND n.host = o.host AND n.resource = o.resource AND n.id > o.id))`,
  );
  const oldest = h.stmt('SELECT MIN(time) AS t FROM observations WHERE id >= ? AND id < ?');
  let removed = 0;
  for (let lo = bounds.lo; lo <= bounds.hi; lo += window) {
    // Ids grow with time: once a window starts after the cut-off, so do all later ones.
    const t = (oldest.get(lo, lo + window) as { t: number | null }).t;
    if (t !== null && t >= before) break;
    removed += h.db.transaction(() => step.run(lo, lo + window, before).changes)();
    await new Promise((r) => setImmediate(r));
  }
  if (removed > 0) h.db.pragma('wal_checkpoint(TRUNCATE)');
  return removed;
}
