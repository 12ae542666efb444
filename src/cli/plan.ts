import type { Command } from 'commander';
import { silent } from '../log.js';
import { reconcile, type PassOutcome, type PlannedChange } from '../loop/reconcile.js';
import { reconcileCluster } from '../loop/cluster.js';
import { clusterTargetsOf, targetsOf, type Target } from '../loop/targets.js';
import type { LoadedSpec } from '../spec/types.js';
import { SessionPool } from '../transport/sessions.js';
import { SshPool } from '../transport/ssh.js';
import { locator } from '../spec/load.js';
import { DisruptionGate } from '../loop/windows.js';
import { paintFor } from '../color.js';
import { action, engines, EXIT, jsonLines, load } from './common.js';
import { renderPlan } from './render-plan.js';
import { forEachLimit } from './run-targets.js';

export function register(program: Command): void {
  program
    .command('plan')
    .summary('show what would change, and its risk')
    .description(
      'Observe every targeted server, compare it with the file, and print the changes setpoint would make,\n' +
        'each with its risk (safe, disruptive, destructive) and, when policy holds it back, why.\n' +
        'Nothing is changed and nothing is written to history.',
    )
    .requiredOption('-f, --file <path>', 'desired-state YAML file')
    .option('--cluster <name>', 'only this cluster')
    .option('--host <name>', 'only this host')
    .option('--json', 'one JSON object per change: cluster, host, resource, action, risk, summary, status, reason')
    .addHelpText(
      'after',
      '\nExit status: 0 nothing to do, 2 changes to make (drift), 1 error (bad file, unreachable server).\n\nExample:\n  setpoint plan -f setpoint.yaml --cluster orders --json | jq -r .summary',
    )
    .action(
      action(async (opts: { file: string; cluster?: string; host?: string; json?: boolean }) => {
        const loaded = await load(opts.file);
        const targets = targetsOf(loaded.spec, await engines(), {
          ...(opts.cluster === undefined ? {} : { cluster: opts.cluster }),
          ...(opts.host === undefined ? {} : { host: opts.host }),
        });
        if (targets.length === 0) {
          process.stderr.write(
            `setpoint: no target matches${opts.cluster === undefined ? '' : ` --cluster ${opts.cluster}`}${opts.host === undefined ? '' : ` --host ${opts.host}`}\n`,
          );
          return EXIT.error;
        }
        const outcomes = await planPasses(loaded, targets, opts);
        const changes = outcomes.flatMap((o) => o.changes);
        if (opts.json === true) jsonLines(changes.map(jsonChange));
        else process.stdout.write(renderPlan(outcomes, paintFor(process.stdout)));
        if (outcomes.some((o) => o.error !== undefined)) {
          if (opts.json === true)
            for (const o of outcomes)
              if (o.error !== undefined) process.stderr.write(`setpoint: ${o.target.key}: ${o.error.message}\n`);
          return EXIT.error;
        }
        return changes.length > 0 ? EXIT.drift : EXIT.ok;
      }),
    );
}

/**
 * One pass over `targets` that observes and decides but never acts (plan, and apply's confirmation):
 * the cluster topologies first (what a member may do depends on which member is primary), then the members.
 */
export async function planPasses(
  loaded: LoadedSpec,
  targets: readonly Target[],
  opts: { cluster?: string; host?: string },
): Promise<PassOutcome[]> {
  const pool = new SessionPool();
  const ssh = new SshPool();
  const gate = new DisruptionGate();
  const members = (c: string) => loaded.spec.clusters[c]?.members.map((h) => `${c}/${h}`) ?? [];
  const locate = locator(loaded);
  try {
    // The topologies first (what the member passes may do depends on which member is primary).
    const all = targetsOf(loaded.spec, await engines());
    const clusters = clusterTargetsOf(
      loaded.spec,
      await engines(),
      all,
      opts.cluster === undefined ? {} : { cluster: opts.cluster },
    );
    const topologies =
      opts.host === undefined
        ? await forEachLimit(clusters, loaded.spec.policy.concurrency, (t) =>
            reconcileCluster(
              t,
              { pool, log: silent, specVersion: loaded.version, disruptive: (x) => gate.check(x, []), locate },
              { act: false },
            ),
          )
        : [];
    const primaries = new Map(topologies.map((o) => [o.target.cluster, o.topology?.primary]));
    const memberOutcomes = await forEachLimit(targets, loaded.spec.policy.concurrency, (t) =>
      reconcile(
        t,
        {
          pool,
          ssh,
          log: silent,
          specVersion: loaded.version,
          disruptive: (x) => gate.check(x, members(x.cluster)),
          locate,
          role: (x) =>
            !primaries.has(x.cluster)
              ? undefined
              : primaries.get(x.cluster) === undefined
                ? 'unknown'
                : primaries.get(x.cluster) === x.host
                  ? 'primary'
                  : 'replica',
        },
        { act: false },
      ),
    );
    return [...topologies, ...memberOutcomes];
  } finally {
    await pool.closeAll();
    ssh.closeAll();
  }
}

function jsonChange(c: PlannedChange): Record<string, unknown> {
  return {
    cluster: c.cluster,
    host: c.host,
    resource: c.resource,
    action: c.action,
    risk: c.risk,
    summary: c.summary,
    status: c.status,
    ...(c.reason === undefined ? {} : { reason: c.reason }),
  };
}
