import type { Command } from 'commander';
import { History } from '../history/store.js';
import { action, ago, clip, EXIT, historyPath, iso, jsonLines, table } from './basics.js';

/** The fields of a host.facts observation this listing shows. */
interface HostFactsRow {
  os?: string;
  kernel?: string;
  bootedAt?: string | null;
  cpus?: number | null;
  memoryBytes?: number | null;
  diskFreeBytes?: number | null;
  diskFreePercent?: number | null;
  package?: string | null;
  serviceActive?: boolean | null;
}

const gib = (b: unknown) => (typeof b === 'number' ? `${(b / 2 ** 30).toFixed(1)}G` : '-');

export function register(program: Command): void {
  program
    .command('hosts')
    .summary('what each host is: OS, kernel, CPUs, memory, free disk, package, service')
    .description(
      'List the facts last observed over SSH for each host that declares ssh: OS and kernel, uptime, CPU count,\n' +
        "memory, free space on the data directory's file system, the database server package and whether its\n" +
        'service is running. Facts are stored in history like any observation.',
    )
    .option('--db <path>', 'history file (default: $SETPOINT_DB, $STATE_DIRECTORY/history.db, ./setpoint.db)')
    .option('--json', 'one JSON object per host: host, observedAt, and every fact')
    .addHelpText('after', '\nExample:\n  setpoint hosts --json | jq -r "select(.diskFreePercent < 10) | .host"')
    .action(
      action(async (opts: { db?: string; json?: boolean }) => {
        const history = History.open(historyPath(opts.db), { readonly: true });
        try {
          const rows = history.latestOfKind('host.facts');
          if (opts.json === true) {
            jsonLines(
              rows.map((r) => ({
                host: r.resource.slice('host.facts '.length),
                observedAt: iso(r.time),
                ...(r.state as object),
              })),
            );
          } else if (rows.length === 0) {
            process.stdout.write('No host facts yet (facts are observed over SSH: declare hosts.<name>.ssh).\n');
          } else {
            process.stdout.write(
              table(
                ['HOST', 'OS', 'KERNEL', 'UP', 'CPUS', 'MEMORY', 'DISK FREE', 'PACKAGE', 'SERVICE', 'OBSERVED'],
                rows.map((r) => {
                  const f = r.state as HostFactsRow;
                  return [
                    r.resource.slice('host.facts '.length),
                    clip(f.os ?? '-', 28),
                    f.kernel ?? '-',
                    typeof f.bootedAt === 'string' ? ago(Date.parse(f.bootedAt)).replace(' ago', '') : '-',
                    f.cpus === null || f.cpus === undefined ? '-' : String(f.cpus),
                    gib(f.memoryBytes),
                    f.diskFreePercent === null || f.diskFreePercent === undefined
                      ? '-'
                      : `${gib(f.diskFreeBytes)} (${f.diskFreePercent}%)`,
                    clip(f.package ?? '-', 30),
                    f.serviceActive === null || f.serviceActive === undefined
                      ? '-'
                      : f.serviceActive === true
                        ? 'running'
                        : 'STOPPED',
                    ago(r.time),
                  ];
                }),
              ),
            );
          }
          return EXIT.ok;
        } finally {
          history.close();
        }
      }),
    );
}
