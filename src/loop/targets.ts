/**
 * Targets: what the loop reconciles, each with its effective policy. A member target is one server
 * of a cluster; a cluster target (key `cluster/*`) is the cluster's replication topology, when its
 * engine manages one and the cluster declares it: its pass runs beside the member passes.
 */
import { createHash } from 'node:crypto';
import type { AnyEngine } from '../engine.js';
import { targetKey } from '../status.js';
import type { ClusterBase, HostSpec, MaintenanceWindow, Mode, PruneSpec, Spec } from '../spec/types.js';

/** What every target has. */
export interface TargetBase {
  /** `cluster/host` (`cluster/*` for the cluster's topology): the work-queue and history key. */
  key: string;
  cluster: string;
  /** The member's host name; `*` for the cluster's topology. */
  host: string;
  engine: AnyEngine;
  clusterSpec: ClusterBase & Record<string, unknown>;
  policy: EffectivePolicy;
  /** Hash of everything in the file that concerns this target: a change means "look again now". */
  fingerprint: string;
}

/** One member of a cluster. */
export interface Target extends TargetBase {
  scope: 'member';
  hostSpec: HostSpec;
}

/** A cluster's replication topology: observed over every member, changed in a set order. */
export interface ClusterTarget extends TargetBase {
  scope: 'cluster';
  host: '*';
  /** The member targets, in the file's order (their sessions are the cluster pass's). */
  members: Target[];
}

/** The host part of a cluster target's key. */
export const TOPOLOGY_HOST = '*';

export interface EffectivePolicy {
  mode: Mode;
  prune: PruneSpec;
  destructiveBudget: number;
  resyncSeconds: number;
  maintenanceWindows: MaintenanceWindow[];
  backoff: { initialSeconds: number; maxSeconds: number };
  connectTimeoutSeconds: number;
  statementTimeoutSeconds: number;
  antiFlap: { repairs: number; windowSeconds: number; holdSeconds: number };
  degradedAfterSeconds: number;
  hostProbeSeconds: number;
}

export { targetKey };

/** Every member of every cluster in the spec, optionally only those of one cluster. */
export function targetsOf(
  spec: Spec,
  engines: readonly AnyEngine[],
  only?: { cluster?: string; host?: string },
): Target[] {
  const out: Target[] = [];
  for (const [cname, c] of Object.entries(spec.clusters)) {
    if (only?.cluster !== undefined && only.cluster !== cname) continue;
    const engine = engines.find((e) => e.name === c.engine);
    if (engine === undefined) continue;
    for (const h of c.members) {
      if (only?.host !== undefined && only.host !== h) continue;
      const hostSpec = spec.hosts[h];
      if (hostSpec === undefined) continue;
      const policy: EffectivePolicy = {
        mode: c.mode ?? spec.policy.mode,
        prune: c.prune ?? spec.policy.prune,
        destructiveBudget: c.destructiveBudget ?? spec.policy.destructiveBudget,
        resyncSeconds: c.resyncSeconds ?? spec.policy.resyncSeconds,
        maintenanceWindows: c.maintenanceWindows ?? spec.policy.maintenanceWindows,
        backoff: spec.policy.backoff,
        connectTimeoutSeconds: spec.policy.connectTimeoutSeconds,
        statementTimeoutSeconds: spec.policy.statementTimeoutSeconds,
        antiFlap: spec.policy.antiFlap,
        degradedAfterSeconds: spec.policy.degradedAfterSeconds,
        hostProbeSeconds: spec.policy.hostProbeSeconds,
      };
      const fingerprint = createHash('sha256')
        .update(JSON.stringify([c, hostSpec, policy]))
        .digest('hex')
        .slice(0, 16);
      out.push({
        scope: 'member',
        key: targetKey(cname, h),
        cluster: cname,
        host: h,
        engine,
        clusterSpec: c,
        hostSpec,
        policy,
        fingerprint,
      });
    }
  }
  return out;
}

/**
 * The cluster targets: one per cluster whose engine manages a topology and that declares one (its
 * fingerprint covers the cluster, its members' hosts and the policy).
 */
export function clusterTargetsOf(
  spec: Spec,
  engines: readonly AnyEngine[],
  members: readonly Target[],
  only?: { cluster?: string },
): ClusterTarget[] {
  const out: ClusterTarget[] = [];
  for (const [cname, c] of Object.entries(spec.clusters)) {
    if (only?.cluster !== undefined && only.cluster !== cname) continue;
    const engine = engines.find((e) => e.name === c.engine);
    const topology = engine?.topology;
    if (engine === undefined || topology === undefined) continue;
    const hosts = Object.fromEntries(
      c.members.flatMap((m) => (spec.hosts[m] === undefined ? [] : [[m, spec.hosts[m]]])),
    );
    const declared = topology.desired({
      clusterName: cname,
      cluster: c,
      hosts,
      prune: () => false,
      secret: () => {
        throw new Error('no secrets here');
      },
    });
    if (declared === undefined) continue;
    const mine = members.filter((t) => t.cluster === cname);
    const first = mine[0];
    if (first === undefined) continue;
    const fingerprint = createHash('sha256')
      .update(JSON.stringify([c, hosts, first.policy]))
      .digest('hex')
      .slice(0, 16);
    out.push({
      scope: 'cluster',
      key: targetKey(cname, TOPOLOGY_HOST),
      cluster: cname,
      host: TOPOLOGY_HOST,
      engine,
      clusterSpec: c,
      policy: first.policy,
      fingerprint,
      members: mine,
    });
  }
  return out;
}
