/** The validated desired-state file, engine-agnostic part, inferred from the zod schemas. Engine-specific keys ride along as `unknown`. */
import type { z } from 'zod';
import type { SecretRef } from '../secret.js';
import type {
  clusterBaseShape,
  hostBaseShape,
  maintenanceWindow,
  modeSchema,
  policySchema,
  pruneSchema,
  serviceSchema,
  sshSchema,
} from './schema.js';

/** `enforce` (default) or `observe`. */
export type Mode = z.infer<typeof modeSchema>;

/** `prune: true` allows every class; an object form allows some. Defaults to false (nothing undeclared is touched). */
export type PruneSpec = z.infer<typeof pruneSchema>;

/** `hosts.<name>.ssh`: defaults applied (port 22, user root, no trust on first use, 30 s). */
export type SshSpec = z.infer<typeof sshSchema>;

/** `hosts.<name>.service`: a systemd unit, or commands. */
export type ServiceSpec = z.infer<typeof serviceSchema>;

export type MaintenanceWindow = z.infer<typeof maintenanceWindow>;

/** A host: the common keys, and the engine connection blocks keyed by each engine's `hostKey` (e.g. `mysql`). */
export type HostSpec = z.infer<z.ZodObject<typeof hostBaseShape>> & { [engineKey: string]: unknown };

/** The keys every cluster has, whatever its engine; an engine's own cluster type extends it (z.infer of its shape). */
export type ClusterBase = z.infer<z.ZodObject<typeof clusterBaseShape>> & { engine: string };

/** `policy:` with every default applied. */
export type PolicySpec = z.infer<typeof policySchema>;

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
