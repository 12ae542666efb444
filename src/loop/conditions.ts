/**
 * Conditions, not phases (Kubernetes API conventions): each target carries Ready, Progressing,
 * Degraded and Stalled, each with a one-word reason, a message, the time its status last changed,
 * and the spec version it was computed against (so a reader can tell stale status). Pure.
 */
import type { Condition, ConditionStatus, ConditionType, TargetState } from '../status.js';

export type { Condition, ConditionStatus, ConditionType };

/** What one pass concluded, as the conditions need it. */
export interface ConditionInput {
  now: number;
  specVersion: string;
  state: TargetState;
  /** False when the pass could not observe the server (then Ready is Unknown). */
  observed: boolean;
  /** Changes made in this pass. */
  made: number;
  drift: number;
  /** Why remaining changes wait, if they do. */
  waiting: string[];
  error?: { code: string; message: string; terminal: boolean };
  /** Resources setpoint stopped fighting over (another actor keeps changing them). */
  contested: string[];
  paused?: string;
  /** Remaining runnable changes (more steps needed). */
  runnable: number;
  /** Set when more destructive changes were planned than the budget allows. */
  budgetExceeded?: string;
  /** Set when a change waits for a human: a one-word reason and a message. */
  needsHuman?: { reason: string; message: string };
}

export interface ConditionPolicy {
  /** A mismatch or failure that lasts longer than this is Degraded. Defaults to 300 s. */
  degradedAfterMs: number;
}

const TERMINAL_REASONS: Record<string, string> = {
  'sql.auth': 'AuthenticationFailed',
  'sql.privilege': 'PrivilegeMissing',
  'sql.rejected': 'StatementRejected',
  'ssh.hostkey': 'HostKeyMismatch',
  'ssh.auth': 'SshAuthenticationFailed',
  'ssh.key': 'SshKeyUnreadable',
  'secret.missing': 'SecretMissing',
  'secret.empty': 'SecretEmpty',
  'secret.unsafe': 'SecretNotARegularFile',
  'secret.too_large': 'SecretTooLarge',
};

function find(prev: readonly Condition[], type: ConditionType): Condition | undefined {
  return prev.find((c) => c.type === type);
}

/** Computes the next conditions; lastTransitionTime moves only when a status changes. */
export function computeConditions(prev: readonly Condition[], i: ConditionInput, p: ConditionPolicy): Condition[] {
  const iso = new Date(i.now).toISOString();
  const make = (type: ConditionType, status: ConditionStatus, reason: string, message: string): Condition => {
    const before = find(prev, type);
    return {
      type,
      status,
      reason,
      message,
      lastTransitionTime: before !== undefined && before.status === status ? before.lastTransitionTime : iso,
      observedGeneration: i.specVersion,
    };
  };
  const readyReason: Record<TargetState, string> = {
    converged: 'Converged',
    drifted: 'Drifted',
    waiting: 'WaitingOnPolicy',
    failing: 'Failing',
    stalled: 'NeedsHuman',
    unknown: 'Unknown',
  };
  const ready =
    i.state === 'converged'
      ? make('Ready', 'True', 'Converged', 'observed state matches the spec')
      : !i.observed || i.state === 'unknown'
        ? make('Ready', 'Unknown', readyReason[i.state], i.error?.message ?? 'not observed')
        : make(
            'Ready',
            'False',
            readyReason[i.state],
            i.error?.message ??
              `${i.drift} drift${i.waiting.length > 0 ? `; waiting: ${[...new Set(i.waiting)].join('; ')}` : ''}`,
          );

  const progressing =
    i.paused !== undefined
      ? make('Progressing', 'False', 'Paused', `paused: ${i.paused}`)
      : i.made > 0 && i.state !== 'converged'
        ? make('Progressing', 'True', 'ChangesMade', `${i.made} change(s) made, ${i.drift} drift left`)
        : i.runnable > 0 && i.error === undefined
          ? make('Progressing', 'True', 'ChangesPending', `${i.runnable} change(s) to make`)
          : make(
              'Progressing',
              'False',
              i.state === 'converged' ? 'Converged' : i.waiting.length > 0 ? 'WaitingOnPolicy' : 'Idle',
              i.state === 'converged' ? 'nothing to do' : 'no change can be made now',
            );

  const stalled =
    i.error?.terminal === true
      ? make(
          'Stalled',
          'True',
          TERMINAL_REASONS[i.error.code] ?? 'TerminalError',
          `${i.error.message} (needs a human; retried only at the backoff cap)`,
        )
      : i.contested.length > 0
        ? make('Stalled', 'True', 'ContestedByAnotherActor', `contested by another actor: ${i.contested.join(', ')}`)
        : i.budgetExceeded !== undefined
          ? make('Stalled', 'True', 'DestructiveBudgetExceeded', i.budgetExceeded)
          : i.needsHuman !== undefined
            ? make('Stalled', 'True', i.needsHuman.reason, `${i.needsHuman.message} (needs a human)`)
            : make('Stalled', 'False', 'AsExpected', 'no human needed');

  // Degraded: a mismatch or failure that persists, measured from when Ready last left True.
  const readyBefore = find(prev, 'Ready');
  if (ready.status !== 'True')
    ready.notReadySince =
      readyBefore !== undefined && readyBefore.status !== 'True'
        ? (readyBefore.notReadySince ?? readyBefore.lastTransitionTime)
        : iso;
  const notReadySince = ready.notReadySince === undefined ? undefined : Date.parse(ready.notReadySince);
  const lasting = notReadySince !== undefined && i.now - notReadySince >= p.degradedAfterMs;
  const degraded =
    i.contested.length > 0
      ? make('Degraded', 'True', 'ContestedByAnotherActor', `setpoint stopped fighting over ${i.contested.join(', ')}`)
      : lasting && progressing.status !== 'True'
        ? make(
            'Degraded',
            'True',
            i.error !== undefined ? 'PersistentFailure' : 'PersistentDrift',
            `not ready since ${ready.notReadySince ?? ready.lastTransitionTime}: ${ready.message}`,
          )
        : make(
            'Degraded',
            'False',
            'AsExpected',
            readyBefore === undefined ? 'first observation' : 'no lasting mismatch',
          );
  return [ready, progressing, degraded, stalled];
}

/** Conditions whose status changed, for history. */
export function transitions(prev: readonly Condition[], next: readonly Condition[]): Condition[] {
  return next.filter((c) => find(prev, c.type)?.status !== c.status);
}

/** A cluster's conditions from its members': Ready when all are, Degraded/Stalled/Progressing when any is. */
export function clusterConditions(members: readonly (readonly Condition[])[]): Record<ConditionType, ConditionStatus> {
  const all = (type: ConditionType, status: ConditionStatus) =>
    members.length > 0 && members.every((m) => find(m, type)?.status === status);
  const any = (type: ConditionType) => members.some((m) => find(m, type)?.status === 'True');
  return {
    Ready: all('Ready', 'True')
      ? 'True'
      : members.some((m) => find(m, 'Ready')?.status === 'False')
        ? 'False'
        : 'Unknown',
    Progressing: any('Progressing') ? 'True' : 'False',
    Degraded: any('Degraded') ? 'True' : 'False',
    Stalled: any('Stalled') ? 'True' : 'False',
  };
}
