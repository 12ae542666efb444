import type { Command } from 'commander';
import { History } from '../history/store.js';
import { clusterConditions } from '../loop/conditions.js';
import { SetpointError } from '../errors.js';
import { action, ago, EXIT, historyPath, iso, jsonLines, table } from './basics.js';
import { renderStatus } from './render-status.js';

export function register(program: Command): void {
  program
    .command('status')
    .summary('one row per cluster member: converged or not, and why')
    .description(
      'Show the latest status of every cluster member from the history file: its state (converged, drifted,\n' +
        'waiting on policy, failing, stalled), drift count, when it was last observed, the last action and the\n' +
        'last error. Works while the daemon runs.',
    )
    .option('--cluster <name>', 'only this cluster')
    .option('--host <name>', 'only this host')
    .option('--db <path>', 'history file (default: $SETPOINT_DB, $STATE_DIRECTORY/history.db, ./setpoint.db)')
    .option('--json', 'one JSON object per cluster member, with everything: conditions, last error, topology')
    .option('-o, --output <format>', 'wide: more columns (last error, spec version, next pass), nothing cut; json')
    .option('--conditions', 'show every condition of every member: status, reason, since, spec version, message')
    .option(
      '--clusters',
      "one row per cluster instead: members converged, and the cluster's conditions (Ready when all are, the others when any is)",
    )
    .addHelpText(
      'after',
      '\nThe table fits the terminal ($COLUMNS, or 120 columns when piped); -o wide\n' +
        "cuts nothing. An error older than a member's last pass is not shown: see\n" +
        '`setpoint history --kind error`.\n\n' +
        'Exit status: 0 all shown members converged, 2 some are not, 1 error.\n\nExample:\n  setpoint status --json | jq -r "select(.converged | not) | .host"',
    )
    .action(
      action(
        async (opts: {
          cluster?: string;
          host?: string;
          db?: string;
          json?: boolean;
          conditions?: boolean;
          clusters?: boolean;
          output?: string;
        }) => {
          if (opts.output !== undefined && opts.output !== 'wide' && opts.output !== 'json')
            throw new SetpointError('cli.usage', `-o ${opts.output}: expected wide or json`);
          if (opts.output === 'json') opts.json = true;
          const history = History.open(historyPath(opts.db), { readonly: true });
          try {
            const rows = history.status({
              ...(opts.cluster === undefined ? {} : { cluster: opts.cluster }),
              ...(opts.host === undefined ? {} : { host: opts.host }),
            });
            // Where each member stands in its cluster's replication topology (the `cluster/*` pass records it).
            const topology = new Map<
              string,
              {
                member: string;
                role: string;
                writable: boolean | null;
                source: string | null;
                replicating: boolean | null;
                lagSeconds: number | null;
                lagBytes?: number | null;
                timeline?: number | null;
                error: string | null;
              }[]
            >();
            for (const r of rows) {
              if (r.host !== '*') continue;
              const list = history.latestOfTarget(r, 'topology').map((o) => o.state);
              topology.set(r.cluster, list as NonNullable<ReturnType<typeof topology.get>>);
            }
            // A paused member (its cluster, its host or itself paused) says so.
            const paused = new Map<string, string>();
            const pauses = history.pauseState().active;
            for (const r of rows) {
              const p = pauses.find((x) => [r.cluster, r.host, `${r.cluster}/${r.host}`].includes(x.target));
              if (p !== undefined) paused.set(`${r.cluster}/${r.host}`, p.reason);
            }
            if (opts.clusters === true) {
              const clusters = [...new Set(rows.map((r) => r.cluster))].map((c) => {
                const members = rows.filter((r) => r.cluster === c);
                return {
                  cluster: c,
                  members: members.length,
                  converged: members.filter((m) => m.state === 'converged').length,
                  conditions: clusterConditions(members.map((m) => m.conditions)),
                };
              });
              if (opts.json === true) jsonLines(clusters);
              else
                process.stdout.write(
                  table(
                    ['CLUSTER', 'CONVERGED', 'READY', 'PROGRESSING', 'DEGRADED', 'STALLED'],
                    clusters.map((c) => [
                      c.cluster,
                      `${c.converged}/${c.members}`,
                      c.conditions.Ready,
                      c.conditions.Progressing,
                      c.conditions.Degraded,
                      c.conditions.Stalled,
                    ]),
                  ),
                );
            } else if (opts.json === true) {
              jsonLines(
                rows.map((r) => ({
                  cluster: r.cluster,
                  host: r.host,
                  converged: r.state === 'converged',
                  state: r.state,
                  drift: r.drift,
                  waiting: r.waiting,
                  message: r.message,
                  server: r.server,
                  specVersion: r.specVersion,
                  lastObserved: iso(r.observedAt),
                  lastPass: iso(r.passAt),
                  lastAction: r.lastAction,
                  lastActionAt: iso(r.lastActionAt),
                  lastError: r.lastError,
                  lastErrorAt: iso(r.lastErrorAt),
                  nextPass: iso(r.nextAt),
                  conditions: r.conditions,
                  paused: paused.get(`${r.cluster}/${r.host}`) ?? null,
                  ...(r.host === '*' ? { topology: topology.get(r.cluster) ?? [] } : {}),
                })),
              );
            } else if (rows.length === 0) {
              process.stdout.write('No cluster member has been observed yet.\n');
            } else {
              process.stdout.write(
                renderStatus(rows, {
                  width: process.stdout.isTTY === true ? (process.stdout.columns ?? 120) : columnsOf(process.env),
                  wide: opts.output === 'wide',
                  paused,
                }),
              );
              const clusters = [...new Set(rows.map((r) => r.cluster))];
              process.stdout.write('\n');
              for (const c of clusters) {
                const members = rows.filter((r) => r.cluster === c);
                const cc = clusterConditions(members.map((m) => m.conditions));
                process.stdout.write(
                  `cluster ${c}: ${Object.entries(cc)
                    .map(([k, v]) => `${k}=${v}`)
                    .join(' ')} (${members.length} member${members.length === 1 ? '' : 's'})\n`,
                );
                for (const m of topology.get(c) ?? []) {
                  const how =
                    m.role === 'primary'
                      ? `primary${m.writable === true ? ' (writable)' : ' (read-only)'}`
                      : m.role === 'replica'
                        ? `replica of ${m.source ?? '?'}, ${m.replicating === true ? 'replicating' : 'NOT replicating'}${m.lagSeconds === null ? '' : `, lag ${m.lagSeconds}s`}${m.lagBytes === null || m.lagBytes === undefined ? '' : `, ${m.lagBytes} bytes behind`}`
                        : m.role;
                  const tl = m.timeline === null || m.timeline === undefined ? '' : ` (timeline ${m.timeline})`;
                  process.stdout.write(`  ${m.member}: ${how}${tl}${m.error === null ? '' : ` — ${m.error}`}\n`);
                }
              }
              if (opts.conditions === true) {
                process.stdout.write('\n');
                process.stdout.write(
                  table(
                    ['TARGET', 'TYPE', 'STATUS', 'REASON', 'SINCE', 'SPEC', 'MESSAGE'],
                    rows.flatMap((r) =>
                      r.conditions.map((c) => [
                        `${r.cluster}/${r.host}`,
                        c.type,
                        c.status,
                        c.reason,
                        ago(Date.parse(c.lastTransitionTime)),
                        c.observedGeneration === r.specVersion
                          ? c.observedGeneration
                          : `${c.observedGeneration} (stale)`,
                        c.message,
                      ]),
                    ),
                  ),
                );
              }
            }
            return rows.every((r) => r.state === 'converged') ? EXIT.ok : EXIT.drift;
          } finally {
            history.close();
          }
        },
      ),
    );
}

/** $COLUMNS when it is a number, else 120: the width a piped listing is laid out for. */
function columnsOf(env: NodeJS.ProcessEnv): number {
  const n = Number(env.COLUMNS);
  return Number.isInteger(n) && n > 0 ? n : 120;
}
