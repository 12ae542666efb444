/**
 * The vocabulary of status, in one place: target keys and states, drift records, planned changes and
 * why they wait, resource names, conditions. The loop writes these, history stores them, the CLI and
 * the metrics read them; none of those import each other for it.
 */

/** One cluster member: the unit the loop reconciles. */
export interface TargetKey {
  cluster: string;
  host: string;
}

/** `cluster/host`: the key of a target in the work queue, history and the CLI. */
export function targetKey(cluster: string, host: string): string {
  return `${cluster}/${host}`;
}

/** Target states, most to least healthy. */
export type TargetState = 'converged' | 'drifted' | 'waiting' | 'failing' | 'stalled' | 'unknown';

/** `kind id`, e.g. `mysql.user 'app'@'%'`: how history and the CLI name a resource. */
export function resourceName(kind: string, id: string): string {
  return `${kind} ${id}`;
}

/** The kind part of a resource name (`mysql.user 'app'@'%'` -> `mysql.user`). */
export function kindOfResource(resource: string): string {
  const i = resource.indexOf(' ');
  return i === -1 ? resource : resource.slice(0, i);
}

/** One open difference as the loop found it. */
export interface DriftRecord {
  resource: string;
  field: string;
  summary: string;
  desired: unknown;
  observed: unknown;
}

/**
 * Why a change waits, as a stable code (its `reason` says it for people):
 * `paused`, `observe` (mode: observe), `blocked` (a precondition: the kind says which), `prune` (prune is
 * off for its class), `budget` (more destructive changes than the budget), `no-window` (no maintenance
 * window declared), `window` (outside one), `one-at-a-time` (another member of the cluster goes first),
 * `member-unhealthy` / `member-unobserved` (another member is not known healthy), `incomplete` (the
 * observation was partial), `repeat` (a disruptive change already made did not take), `contested`
 * (another actor keeps changing it), `lease` (another daemon holds the server), `replica` (made on the
 * primary of a replicated cluster and carried by replication).
 */
export type WaitCode =
  | 'paused'
  | 'observe'
  | 'blocked'
  | 'prune'
  | 'budget'
  | 'no-window'
  | 'window'
  | 'one-at-a-time'
  | 'member-unhealthy'
  | 'member-unobserved'
  | 'incomplete'
  | 'repeat'
  | 'contested'
  | 'lease'
  | 'replica';

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
  /** Why it waits, as a code, when it does. */
  code?: WaitCode;
}

export type ConditionType = 'Ready' | 'Progressing' | 'Degraded' | 'Stalled';
export type ConditionStatus = 'True' | 'False' | 'Unknown';

/** A condition of a target, as Kubernetes API conventions have them. */
export interface Condition {
  type: ConditionType;
  status: ConditionStatus;
  /** One CamelCase word. */
  reason: string;
  message: string;
  /** When `status` last changed (ISO 8601). */
  lastTransitionTime: string;
  /** The spec version this condition was computed against. */
  observedGeneration: string;
  /** Ready only, when not True: since when it has not been True (across False/Unknown changes). */
  notReadySince?: string;
}
