/** The validated desired-state file, engine-agnostic part. Engine-specific keys ride along as `unknown`. */
import type { SecretRef } from '../secret.js';

export type Mode = 'enforce' | 'observe';

/** `prune: true` allows every class; an object form allows some. Defaults to false (nothing undeclared is touched). */
export type PruneSpec = boolean | { databases?: boolean; users?: boolean; grants?: boolean; objects?: boolean };

export interface SshSpec {
  port: number;
  user: string;
  privateKeyFile: string;
  knownHostsFile?: string;
  /** Accept and record an unknown host key on first connect. Defaults to false. */
  trustOnFirstUse: boolean;
  timeoutSeconds: number;
}

export interface ServiceSpec {
  unit?: string;
  commands?: Partial<Record<'start' | 'stop' | 'restart' | 'reload' | 'status', string>>;
}

export interface HostSpec {
  address: string;
  ssh?: SshSpec;
  service?: ServiceSpec;
  /** Engine connection blocks, keyed by each engine's `hostKey` (e.g. `mysql`). */
  [engineKey: string]: unknown;
}

export interface MaintenanceWindow {
  cron: string;
  minutes: number;
  timezone: string;
}

export interface ClusterBase {
  engine: string;
  members: string[];
  mode?: Mode;
  prune?: PruneSpec;
  destructiveBudget?: number;
  resyncSeconds?: number;
  maintenanceWindows?: MaintenanceWindow[];
}

export interface PolicySpec {
  /** Defaults to enforce. */
  mode: Mode;
  /** Defaults to false. */
  prune: PruneSpec;
  /** Seconds between observations of a converged target (jittered ±10%). Defaults to 30. */
  resyncSeconds: number;
  /** Most destructive changes per pass of one target. Defaults to 5. */
  destructiveBudget: number;
  /** Targets reconciled at once. Defaults to 8. */
  concurrency: number;
  /** Failure backoff: first delay and cap, in seconds. Defaults to 1 and 300. */
  backoff: { initialSeconds: number; maxSeconds: number };
  /** Seconds allowed for connecting and for each statement. Defaults to 10 and 60. */
  connectTimeoutSeconds: number;
  statementTimeoutSeconds: number;
  maintenanceWindows: MaintenanceWindow[];
  /**
   * Anti-flapping: a resource repaired `repairs` times within `windowSeconds` is contested by another
   * actor; setpoint stops changing it for `holdSeconds` (or until the file changes, or `setpoint resume`).
   * Defaults to 3 repairs in 600 s, held 3600 s.
   */
  antiFlap: { repairs: number; windowSeconds: number; holdSeconds: number };
  /** A mismatch or failure lasting longer than this marks the target Degraded. Defaults to 300. */
  degradedAfterSeconds: number;
  /**
   * How old the daemon lets its SSH observation of a host be (facts, service, config files) while the
   * server answers SQL and nothing is being changed; 0 probes every pass. Defaults to 60.
   */
  hostProbeSeconds: number;
  /**
   * History retention, run on a cron schedule: observations older than `keepDays` that a newer one
   * replaced are thinned; spec versions, drift, actions, errors and the latest observation of every
   * resource are kept. Defaults to 30 days, daily at 03:17 UTC.
   */
  retention: { keepDays: number; schedule: string; timezone: string };
}

export interface Spec {
  version: 1;
  hosts: Record<string, HostSpec>;
  clusters: Record<string, ClusterBase & Record<string, unknown>>;
  policy: PolicySpec;
}

/** A spec as loaded: the validated content plus where it came from. */
export interface LoadedSpec {
  file: string;
  /** The file's text; it holds secret references, never secret values. */
  text: string;
  /** Short content hash of the file: the "generation" status and history are computed against. */
  version: string;
  spec: Spec;
}

export type { SecretRef };
