/**
 * Where in a cluster's declaration a resource comes from, found from its id alone: for a change a
 * server refused, so the message can say FILE:LINE:COL of the declaration behind it. A kind that knows
 * exactly sets `Change.at`; this is the fallback for the others. Pure.
 */

type Path = (string | number)[];

/** True when `needle` occurs in `hay` as a whole token (not inside a longer name). */
function occurs(hay: string, needle: string): boolean {
  if (needle === '') return false;
  let i = hay.indexOf(needle);
  while (i !== -1) {
    const before = i === 0 ? '' : (hay[i - 1] as string);
    const after = hay[i + needle.length] ?? '';
    if (!/[\p{L}\p{N}_]/u.test(before) && !/[\p{L}\p{N}_]/u.test(after)) return true;
    i = hay.indexOf(needle, i + 1);
  }
  return false;
}

/**
 * The path (from the cluster) of the declaration that best matches `id`: each object scores the
 * strings among its own values (a setting: its key) that occur in the id as whole tokens, plus its parents'
 * scores; the best score wins, the deeper on a tie. `'app'@'%' on orders.*` finds
 * `users[0].grants[1]` (name app, host %, on orders.*); `max_connections` finds `settings.max_connections`.
 */
export function declarationPath(cluster: unknown, id: string): Path | undefined {
  let best: { path: Path; score: number } | undefined;
  const visit = (v: unknown, path: Path, inherited: number) => {
    if (v === null || typeof v !== 'object') return;
    const entries: [string | number, unknown][] = Array.isArray(v)
      ? v.map((x, i) => [i, x] as [number, unknown])
      : Object.entries(v as Record<string, unknown>);
    for (const [k, x] of entries) {
      const here = [...path, k];
      // A map keyed by name (settings): the key is the resource (settings.max_connections).
      let own = path[path.length - 1] === 'settings' && typeof k === 'string' && occurs(id, k) ? 1 : 0;
      if (x !== null && typeof x === 'object' && !Array.isArray(x))
        for (const y of Object.values(x as Record<string, unknown>))
          if ((typeof y === 'string' || typeof y === 'number') && occurs(id, String(y))) own++;
      const score = inherited + own;
      if (
        own > 0 &&
        (best === undefined || score > best.score || (score === best.score && here.length > best.path.length))
      )
        best = { path: here, score };
      visit(x, here, own > 0 ? score : inherited);
    }
  };
  visit(cluster, [], 0);
  return best?.path;
}
