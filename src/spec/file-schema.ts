/**
 * The whole desired-state file as one zod schema, composed from the same parts `validate` checks a
 * file with (src/spec/schema.ts and each engine's agents/<engine>/spec.ts), and the JSON Schema an
 * editor uses for completion and checks as you type (`setpoint schema`, config/setpoint.schema.json).
 */
import { z } from 'zod';
import type { AnyEngine } from '../engine.js';
import { clusterBaseShape, hostBaseShape, objectName, policySchema, secretRef } from './schema.js';

/** One host: the common keys, and each engine's connection block under its `hostKey` (e.g. `mysql`). */
export function hostSchema(engines: readonly AnyEngine[]) {
  return z.strictObject({
    ...hostBaseShape,
    ...Object.fromEntries(engines.map((e) => [e.hostKey, e.connectionSchema.optional()])),
  });
}

/** One cluster of `engine`: `engine`, the common keys and the engine's own. */
export function clusterSchema(engine: AnyEngine) {
  return z.strictObject({ engine: z.literal(engine.name), ...clusterBaseShape, ...engine.clusterShape });
}

/**
 * The whole file. `validate` checks it section by section with these same schemas (so one bad section
 * does not hide the problems of another), then the checks across sections (members are declared hosts,
 * one cluster per engine and server, each engine's checkCluster) and the secrets.
 */
export function fileSchema(engines: readonly AnyEngine[]) {
  const clusters = engines.map(clusterSchema);
  const cluster =
    clusters.length === 1
      ? (clusters[0] as ReturnType<typeof clusterSchema>)
      : z.discriminatedUnion(
          'engine',
          clusters as [ReturnType<typeof clusterSchema>, ...ReturnType<typeof clusterSchema>[]],
        );
  return z.strictObject({
    version: z.literal(1),
    hosts: z.record(objectName, hostSchema(engines)),
    clusters: z.record(objectName, cluster).default({}),
    policy: policySchema,
  });
}

/**
 * The file's JSON Schema (draft-07, what editors' YAML support reads best), generated from
 * fileSchema(). It describes what is written in the file (zod's input side: keys with defaults are
 * optional, transformed values are given as written). What JSON Schema cannot say (refinements: cron
 * expressions, time zones, privilege names, cross-references between sections) is left to `validate`:
 * the JSON Schema accepts everything `validate` accepts and never shows an editor a false error.
 */
export function jsonSchema(engines: readonly AnyEngine[]): Record<string, unknown> {
  const out = z.toJSONSchema(fileSchema(engines), {
    target: 'draft-7',
    io: 'input',
    unrepresentable: 'any',
    override: (ctx) => {
      // A secret reference is exactly one of { env } or { file } (a refinement in zod).
      if (ctx.zodSchema === secretRef.in) {
        ctx.jsonSchema.minProperties = 1;
        ctx.jsonSchema.maxProperties = 1;
      }
    },
  }) as Record<string, unknown>;
  return {
    $schema: out.$schema,
    title: 'setpoint desired-state file',
    description:
      "What should exist on a fleet of MySQL/MariaDB and PostgreSQL servers. Generated from setpoint's own validation schemas by `setpoint schema`; `setpoint validate -f FILE` checks what a JSON Schema cannot (cron expressions, privilege names, members declared under hosts, secrets that resolve).",
    ...Object.fromEntries(Object.entries(out).filter(([k]) => k !== '$schema')),
  };
}
