/**
 * The decide stage of a pass: pure. From one round of observation, the spec and the gates (mode,
 * prune, destructive budget, maintenance window and one-at-a-time, pause, contested resources, a
 * disruptive change that did not take, a partial observation) to the drift, every planned change
 * with its status, and the next step. No I/O: unit-tested with plain literals.
 */
import type { Change, Drift, KindContext } from '../engine.js';
import { resourceName, type DriftRecord, type PlannedChange, type WaitCode } from '../status.js';
import { selectStep, type StepPolicy } from './policy.js';
import type { Round } from './observe.js';
import type { Target } from './targets.js';

export interface Gates {
  /** Destructive changes still allowed in this pass. */
  destructiveLeft: number;
  /** Whether a disruptive change may run now (window, one at a time); a reason and code when not. */
  disruptive: StepPolicy['disruptive'];
  /** Set when the target is paused. */
  paused?: string | undefined;
  /** Why a resource is contested by another actor, if it is. */
  contested?: (resource: string) => string | undefined;
  /** Disruptive changes already made under the current spec (by changeKey): one planned again did not take. */
  disruptedBefore?: ReadonlySet<string>;
  /** FILE:LINE:COL and path of a place in the spec, for changes that say where they come from. */
  locate?: (path: (string | number)[]) => string;
  /** In a cluster with a replication topology: this member's role (replicated kinds act on the primary only). */
  role?: 'primary' | 'replica' | 'unknown' | undefined;
  /** The cluster's topology starts its members' servers itself: this pass never does. */
  topologyStarts?: boolean;
}

export interface Decision {
  /** Each observed resource's state as JSON, by resource name (what history records). */
  observed: Map<string, string>;
  /** Kinds this round observed. */
  observedKinds: Set<string>;
  /** True when every kind was observed. */
  complete: boolean;
  drift: DriftRecord[];
  /** Every change, with whether it runs now, later in this pass, or waits (and why). */
  changes: PlannedChange[];
  /** The step: the changes to make now, in order. */
  run: Change[];
  /** Set when more destructive changes were planned than the budget allows. */
  budgetExceeded?: string;
  /** Set when a change waits for a human: a one-word reason and a message. */
  needsHuman?: { reason: string; message: string };
}

/** Identity of a change across observations. */
export function changeKey(c: Pick<Change, 'kind' | 'id' | 'action' | 'summary'>): string {
  return `${c.kind}|${c.id}|${c.action}|${c.summary}`;
}

function fmt(v: unknown): string {
  if (Array.isArray(v)) return v.length === 0 ? '(none)' : v.join(', ');
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}

/** One line for a drift item. */
export function describeDrift(d: Drift): string {
  if (d.field === 'present') return 'declared but missing';
  if (d.field === 'absent') return 'exists but not declared';
  return `${d.field} is ${fmt(d.observed)}, declared ${fmt(d.desired)}`;
}

const REPEAT =
  'this change was already made under the current file and the server still needs it: not repeating it (check the server, then edit the file or restart setpoint)';

/**
 * Diffs and plans every observed kind, then lets policy pick the step. A partial observation allows
 * only safe changes (the rest wait, saying why).
 */
export function decide(t: Target, round: Round, ctx: KindContext, gates: Gates, incomplete?: string): Decision {
  const observed = new Map<string, string>();
  const drift: Drift[] = [];
  const changes: Change[] = [];
  const codes = new Map<Change, WaitCode>();
  for (const [kind, o] of round.observations) {
    for (const [id, state] of o.items) observed.set(resourceName(kind.kind, id), JSON.stringify(state));
    const desired = kind.desired(ctx);
    const d = kind.diff(desired, o, ctx);
    drift.push(...d);
    const planned = kind.plan(d, desired, o, ctx);
    // What replication carries is made on the primary; the other members receive it.
    if (kind.replicated === true && gates.role !== undefined && gates.role !== 'primary') {
      for (const c of planned) {
        if (c.blocked !== undefined) continue;
        c.blocked =
          gates.role === 'unknown'
            ? 'waiting for the replication topology: which member is the primary is not known yet'
            : `made on the primary; ${t.host} receives it by replication`;
        codes.set(c, 'replica');
      }
    }
    if (gates.topologyStarts === true)
      for (const c of planned)
        if (c.starts === true && c.blocked === undefined) {
          c.blocked = `the replication topology starts ${t.host} itself (as the primary or a standby, whichever it should be)`;
          codes.set(c, 'replica');
        }
    changes.push(...planned);
  }
  let stuck: Change | undefined;
  for (const c of changes) {
    if (c.blocked !== undefined && c.at !== undefined && gates.locate !== undefined)
      c.blocked = `${gates.locate(['clusters', t.cluster, ...c.at])} ${c.blocked}`;
    if (c.blocked !== undefined && c.needsHuman !== undefined) stuck ??= c;
    const contest = c.blocked === undefined ? gates.contested?.(resourceName(c.kind, c.id)) : undefined;
    if (contest !== undefined) {
      c.blocked = contest;
      codes.set(c, 'contested');
    }
    if (c.risk === 'disruptive' && c.blocked === undefined && gates.disruptedBefore?.has(changeKey(c)) === true) {
      c.blocked = REPEAT;
      codes.set(c, 'repeat');
    }
  }
  const complete = round.missing.length === 0;
  const step = selectStep(complete ? changes : changes.filter((c) => c.risk === 'safe'), {
    mode: t.policy.mode,
    prune: t.policy.prune,
    destructiveLeft: gates.destructiveLeft,
    destructiveBudget: t.policy.destructiveBudget,
    disruptive: gates.disruptive,
    ...(gates.paused === undefined ? {} : { paused: gates.paused }),
  });
  if (!complete) {
    const reason = `observation incomplete (${incomplete ?? round.missing.join(', ')})`;
    for (const c of changes) if (c.risk !== 'safe') step.waiting.push({ change: c, reason, code: 'incomplete' });
  }
  const as = (c: Change, status: PlannedChange['status'], why?: string, code?: WaitCode): PlannedChange => ({
    cluster: t.cluster,
    host: t.host,
    resource: resourceName(c.kind, c.id),
    action: c.action,
    risk: c.risk,
    summary: c.summary,
    status,
    ...(why === undefined ? {} : { reason: why }),
    ...(code === undefined ? {} : { code }),
  });
  const overBudget = step.waiting.find((w) => w.code === 'budget');
  return {
    observed,
    observedKinds: new Set([...round.observations.keys()].map((k) => k.kind)),
    complete,
    drift: drift.map((d) => ({
      resource: resourceName(d.kind, d.id),
      field: d.field,
      summary: describeDrift(d),
      desired: d.desired,
      observed: d.observed,
    })),
    changes: [
      ...step.run.map((c) => as(c, 'run')),
      ...step.pending.map((c) => as(c, 'pending')),
      ...step.waiting.map((w) =>
        as(w.change, 'waiting', w.reason, w.code === 'blocked' ? (codes.get(w.change) ?? 'blocked') : w.code),
      ),
    ],
    run: step.run,
    ...(overBudget === undefined ? {} : { budgetExceeded: overBudget.reason }),
    ...(stuck === undefined
      ? {}
      : { needsHuman: { reason: stuck.needsHuman as string, message: `${stuck.summary}: ${stuck.blocked ?? ''}` } }),
  };
}
