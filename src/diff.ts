/** Pieces of diff() every engine's kinds share. */
import type { Drift, KindContext, PruneClass } from './engine.js';

/**
 * Drift for what exists but is not declared: nothing unless policy lets setpoint remove that class
 * (prune off = unmanaged, not drift). `keep(id, state)` spares what must never be removed.
 */
export function undeclared<O>(
  kind: string,
  cls: PruneClass,
  desired: ReadonlyMap<string, unknown>,
  observed: ReadonlyMap<string, O>,
  ctx: KindContext,
  keep?: (id: string, state: O) => boolean,
): Drift[] {
  if (!ctx.prune(cls)) return [];
  const out: Drift[] = [];
  for (const [id, o] of observed) {
    if (desired.has(id) || keep?.(id, o) === true) continue;
    out.push({ kind, id, field: 'absent', desired: false, observed: true });
  }
  return out;
}
