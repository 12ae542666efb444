/**
 * One pass over one target: observe -> diff -> plan -> policy -> act one step -> observe again,
 * until nothing runnable is left. Level-triggered: every step starts from a fresh observation,
 * and a step never assumes its own success.
 */
import type { Change, Drift, ErrorClass, KindContext, Session } from '../engine.js';
import type { DriftRecord, History, PassRecord, TargetState } from '../history/store.js';
import type { Logger } from '../log.js';
import type { SessionPool } from '../transport/sessions.js';
import { pruneAllows, selectStep, type StepPolicy } from './policy.js';
import type { Target } from './targets.js';

/** A change as `plan` and `status` show it. */
export interface PlannedChange {
  cluster: string;
  host: string;
  resource: string;
  action: string;
  risk: string;
  summary: string;
  /** `run`: would run in the next step; `pending`: in a later step; `waiting`: held back by policy. */
  status: 'run' | 'pending' | 'waiting';
  reason?: string;
}

export interface PassOutcome {
  target: Target;
  state: TargetState;
  server?: string;
  /** Remaining drift at the last observation; empty when converged; undefined when not observed. */
  drift?: DriftRecord[];
  /** The plan at the last observation: what is still to do and why it did not run. */
  changes: PlannedChange[];
  observed?: Map<string, string>;
  made: number;
  failed: number;
  error?: ErrorClass;
  /** When the pass started and when its last observation ended (epoch ms). */
  time: number;
  endedAt: number;
  /** Session counters used by this pass (statements sent, bytes received). */
  statements: number;
  bytesIn: number;
}

export interface PassDeps {
  pool: SessionPool;
  log: Logger;
  specVersion: string;
  /** Journal of actions; omitted by `plan`. */
  history?: History;
  /** Whether a disruptive change may run now for this target. Defaults to "no window configured". */
  disruptive?: (t: Target) => StepPolicy['disruptive'];
  /** A reason when the target is paused. */
  paused?: (t: Target) => string | undefined;
}

export interface PassOptions {
  /** False for `plan`: observe and plan only. */
  act: boolean;
  /** Bound on observe/act rounds in one pass. Defaults to 10. */
  maxSteps?: number;
  signal?: AbortSignal;
}

export function resourceName(kind: string, id: string): string {
  return `${kind} ${id}`;
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

export async function reconcile(t: Target, deps: PassDeps, opts: PassOptions): Promise<PassOutcome> {
  const maxSteps = opts.maxSteps ?? 10;
  const time = Date.now();
  const outcome: PassOutcome = { target: t, state: 'unknown', changes: [], made: 0, failed: 0, time, endedAt: time, statements: 0, bytesIn: 0 };
  let session: Session;
  try {
    session = await deps.pool.get(t);
  } catch (err) {
    outcome.error = t.engine.classify(err);
    outcome.state = outcome.error.terminal ? 'stalled' : 'failing';
    return outcome;
  }
  const start = { statements: session.stats.statements, bytesIn: session.stats.bytesIn };
  outcome.server = session.server;
  const ctx: KindContext = { cluster: t.clusterSpec, host: t.hostSpec, hostName: t.host, facts: t.engine.facts(session), prune: (cls) => pruneAllows(t.policy.prune, cls) };
  let destructiveLeft = t.policy.destructiveBudget;
  let lastRun: string | undefined;
  let acting = opts.act;
  try {
    for (let step = 0; ; step++) {
      // Observe everything, then decide: a partial observation never leads to a change.
      const observedByKind = new Map<string, Map<string, unknown>>();
      for (const kind of t.engine.kinds) observedByKind.set(kind.kind, await kind.observe(session, ctx));
      const observed = new Map<string, string>();
      const drift: Drift[] = [];
      const changes: Change[] = [];
      for (const kind of t.engine.kinds) {
        const o = observedByKind.get(kind.kind) as Map<string, unknown>;
        for (const [id, state] of o) observed.set(resourceName(kind.kind, id), JSON.stringify(state));
        const desired = kind.desired(ctx);
        const d = kind.diff(desired, o, ctx);
        drift.push(...d);
        changes.push(...kind.plan(d, desired, o, ctx));
      }
      const decision = selectStep(changes, {
        mode: t.policy.mode,
        prune: t.policy.prune,
        destructiveLeft,
        destructiveBudget: t.policy.destructiveBudget,
        disruptive: deps.disruptive?.(t) ?? { allowed: false, reason: 'disruptive changes need a maintenance window (none is open)' },
        ...(deps.paused?.(t) === undefined ? {} : { paused: deps.paused(t) as string }),
      });
      outcome.observed = observed;
      outcome.drift = drift.map((d) => ({ resource: resourceName(d.kind, d.id), field: d.field, summary: describeDrift(d), desired: d.desired, observed: d.observed }));
      const as = (c: Change, status: PlannedChange['status'], reason?: string): PlannedChange => ({
        cluster: t.cluster, host: t.host, resource: resourceName(c.kind, c.id), action: c.action, risk: c.risk, summary: c.summary, status, ...(reason === undefined ? {} : { reason }),
      });
      outcome.changes = [...decision.run.map((c) => as(c, 'run')), ...decision.pending.map((c) => as(c, 'pending')), ...decision.waiting.map((w) => as(w.change, 'waiting', w.reason))];
      outcome.endedAt = Date.now();
      if (!acting || decision.run.length === 0 || aborted(opts.signal)) break;
      // Drift is journaled before anything is done about it: history reads drift -> action -> outcome.
      if (step === 0) {
        deps.history?.recordDrift(t, outcome.drift, deps.specVersion, time);
        for (const d of outcome.drift) deps.log.info('drift', { cluster: t.cluster, host: t.host, resource: d.resource, field: d.field, summary: d.summary });
      }
      if (step >= maxSteps) {
        outcome.error = { terminal: false, code: 'loop.steps', message: `still ${decision.run.length} change(s) to make after ${maxSteps} steps; continuing next pass` };
        break;
      }
      const runKey = decision.run.map((c) => `${c.kind}|${c.id}|${c.action}|${c.summary}`).join('\n');
      if (runKey === lastRun) {
        outcome.error = { terminal: false, code: 'loop.no_progress', message: `changes ran but the server still needs them: ${decision.run[0]?.summary ?? ''}` };
        break;
      }
      lastRun = runKey;
      for (const c of decision.run) {
        if (aborted(opts.signal)) break;
        const ok = await act(t, session, c, deps);
        if (ok === true) {
          outcome.made++;
          if (c.risk === 'destructive') destructiveLeft--;
        } else {
          outcome.failed++;
          outcome.error = t.engine.classify(ok);
          if (session.broken || outcome.error.terminal) break;
        }
      }
      // After a failure, observe once more to record where things stand, but act no further this pass.
      if (outcome.failed > 0) acting = false;
    }
  } catch (err) {
    outcome.error = t.engine.classify(err);
    outcome.endedAt = Date.now();
    delete outcome.drift;
    delete outcome.observed;
    if (session.broken) await deps.pool.drop(t);
  }
  outcome.statements = session.stats.statements - start.statements;
  outcome.bytesIn = session.stats.bytesIn - start.bytesIn;
  outcome.state = stateOf(outcome, t);
  return outcome;
}

function stateOf(o: PassOutcome, t: Target): TargetState {
  if (o.error !== undefined && o.drift === undefined) return o.error.terminal ? 'stalled' : 'failing';
  if (o.error?.terminal === true) return 'stalled';
  if (o.failed > 0) return 'failing';
  if (o.drift === undefined) return 'unknown';
  if (o.drift.length === 0) return 'converged';
  if (t.policy.mode === 'observe') return 'drifted';
  return o.changes.some((c) => c.status !== 'waiting') ? 'drifted' : 'waiting';
}

/** Runs one change's statements; journals it. Resolves to true, or to the error (never rejects). */
async function act(t: Target, session: Session, c: Change, deps: PassDeps): Promise<unknown> {
  const resource = resourceName(c.kind, c.id);
  const id = deps.history?.actionStarted(t, { resource, summary: c.summary, risk: c.risk, action: c.action, statements: c.statements.map((s) => s.sql) }, deps.specVersion);
  deps.log.info('change', { cluster: t.cluster, host: t.host, resource, risk: c.risk, summary: c.summary });
  try {
    for (const s of c.statements) await session.query(s.sql, s.params ?? []);
    if (id !== undefined) deps.history?.actionEnded(id, 'ok');
    return true;
  } catch (err) {
    const cls = t.engine.classify(err);
    if (id !== undefined) deps.history?.actionEnded(id, 'failed', cls.message);
    deps.log.warn('change failed', { cluster: t.cluster, host: t.host, resource, error: cls.message });
    return err;
  }
}

/** The history record of a pass. */
export function passRecord(o: PassOutcome, specVersion: string, nextAt?: number): PassRecord {
  const waiting = o.changes.filter((c) => c.status === 'waiting');
  const message =
    o.error !== undefined
      ? o.error.message
      : o.drift === undefined
        ? undefined
        : o.drift.length === 0
          ? 'converged'
          : waiting.length > 0
            ? `${o.drift.length} drift; ${waiting.length} change(s) waiting: ${[...new Set(waiting.map((w) => w.reason))].join('; ')}`
            : `${o.drift.length} drift`;
  return {
    cluster: o.target.cluster,
    host: o.target.host,
    time: o.endedAt,
    specVersion,
    ...(o.server === undefined ? {} : { server: o.server }),
    ...(o.observed === undefined ? {} : { observed: o.observed }),
    ...(o.drift === undefined ? {} : { drift: o.drift }),
    state: o.state,
    waiting: waiting.length,
    ...(message === undefined ? {} : { message }),
    ...(o.error === undefined ? {} : { error: o.error }),
    ...(nextAt === undefined ? {} : { nextAt }),
  };
}

function aborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}
