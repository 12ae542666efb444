/** Writes a pass to history with the target's conditions computed from it. */
import type { History } from '../history/store.js';
import { computeConditions, type Condition } from './conditions.js';
import { passRecord, type PassOutcome } from './reconcile.js';

export interface RecordExtras {
  nextAt?: number;
  /** Resources setpoint stopped fighting over. */
  contested?: string[];
  /** Why the target is paused, if it is. */
  paused?: string;
  now?: number;
}

/** Commits the pass (one transaction) and returns the target's new conditions. */
export function recordPass(history: History, o: PassOutcome, specVersion: string, x: RecordExtras = {}): Condition[] {
  const prev = history.conditionsOf(o.target);
  const conditions = computeConditions(
    prev,
    {
      now: x.now ?? o.endedAt,
      specVersion,
      state: o.state,
      observed: o.drift !== undefined,
      made: o.made,
      drift: o.drift?.length ?? 0,
      waiting: o.changes.filter((c) => c.status === 'waiting').map((c) => c.reason ?? ''),
      ...(o.error === undefined ? {} : { error: o.error }),
      contested: x.contested ?? [],
      ...(x.paused === undefined ? {} : { paused: x.paused }),
      runnable: o.changes.filter((c) => c.status !== 'waiting').length,
      ...(o.budgetExceeded === undefined ? {} : { budgetExceeded: o.budgetExceeded }),
      ...(o.needsHuman === undefined ? {} : { needsHuman: o.needsHuman }),
    },
    { degradedAfterMs: o.target.policy.degradedAfterSeconds * 1000 },
  );
  history.commitPass({ ...passRecord(o, specVersion, x.nextAt), conditions });
  return conditions;
}
