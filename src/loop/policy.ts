/**
 * Policy: which of the planned changes may run now. Pure; the only owner of these rules.
 * A step is the batch of all runnable safe changes (in phase order), or else exactly one
 * destructive or disruptive change. The rest wait, each with a reason, or are pending (next step).
 */
import type { Change } from '../engine.js';
import type { Mode, PruneSpec } from '../spec/types.js';
import type { WaitCode } from '../status.js';

export interface StepPolicy {
  mode: Mode;
  prune: PruneSpec;
  /** Destructive changes still allowed in this pass. */
  destructiveLeft: number;
  /** Per-pass budget as configured (for messages). */
  destructiveBudget: number;
  /** Whether a disruptive change may run now; a reason when not. */
  disruptive: { allowed: true } | { allowed: false; reason: string; code: WaitCode };
  /** Set when the target is paused: nothing runs. */
  paused?: string;
}

export interface Waiting {
  change: Change;
  reason: string;
  code: WaitCode;
}

export interface StepDecision {
  /** Changes to run now, in order. */
  run: Change[];
  /** Changes policy holds back, with why. */
  waiting: Waiting[];
  /** Changes that may run in a later step of this pass. */
  pending: Change[];
}

/** Does `prune` allow removing this class of undeclared object? */
export function pruneAllows(prune: PruneSpec, cls: NonNullable<Change['prune']>): boolean {
  if (typeof prune === 'boolean') return prune;
  return prune[cls] === true;
}

export function selectStep(changes: readonly Change[], p: StepPolicy): StepDecision {
  const waiting: Waiting[] = [];
  const candidates: Change[] = [];
  for (const c of changes) {
    if (p.paused !== undefined) waiting.push({ change: c, reason: `paused: ${p.paused}`, code: 'paused' });
    else if (p.mode === 'observe') waiting.push({ change: c, reason: 'mode: observe', code: 'observe' });
    else if (c.blocked !== undefined) waiting.push({ change: c, reason: c.blocked, code: 'blocked' });
    else if (c.prune !== undefined && !pruneAllows(p.prune, c.prune))
      waiting.push({
        change: c,
        reason: `prune is off for ${c.prune} (set prune: true to remove what is not declared)`,
        code: 'prune',
      });
    else candidates.push(c);
  }
  const byPhase = (a: Change, b: Change) => a.phase - b.phase;
  const safe = candidates.filter((c) => c.risk === 'safe').sort(byPhase);
  const destructive = candidates.filter((c) => c.risk === 'destructive').sort(byPhase);
  const disruptive = candidates.filter((c) => c.risk === 'disruptive').sort(byPhase);

  // More destructive changes than the budget allows is more likely a mistake in the file than
  // intent (a deleted users: section): then none is made, and the target needs a human.
  if (destructive.length > p.destructiveLeft) {
    const reason =
      p.destructiveLeft === p.destructiveBudget
        ? `${destructive.length} destructive changes planned, more than the budget of ${p.destructiveBudget} per pass: none is made (raise destructiveBudget to confirm)`
        : `destructive budget used up (${p.destructiveBudget} per pass)`;
    for (const c of destructive) waiting.push({ change: c, reason, code: 'budget' });
    destructive.length = 0;
  }
  if (!p.disruptive.allowed) {
    for (const c of disruptive) waiting.push({ change: c, reason: p.disruptive.reason, code: p.disruptive.code });
    disruptive.length = 0;
  }
  if (safe.length > 0) return { run: safe, waiting, pending: [...destructive, ...disruptive] };
  const [first, ...rest] = [...destructive, ...disruptive];
  if (first === undefined) return { run: [], waiting, pending: [] };
  return { run: [first], waiting, pending: rest };
}
