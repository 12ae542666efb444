/** Targets: the cluster members the loop reconciles, each with its effective policy. */
import { createHash } from 'node:crypto';
import type { AnyEngine } from '../engine.js';
import { targetKey } from '../status.js';
import type { ClusterBase, HostSpec, MaintenanceWindow, Mode, PruneSpec, Spec } from '../spec/types.js';

export interface Target {
  /** `cluster/host`: the work-queue key. */
  key: string;
  cluster: string;
  host: string;
  engine: AnyEngine;
  clusterSpec: ClusterBase & Record<string, unknown>;
  hostSpec: HostSpec;
  policy: EffectivePolicy;
  /** Hash of everything in the file that concerns this target: a change means "look again now". */
  fingerprint: string;
}

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
