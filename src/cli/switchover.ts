import type { Command } from 'commander';
import { SetpointError } from '../errors.js';
import { History } from '../history/store.js';
import { createLogger } from '../log.js';
import { Controller } from '../loop/controller.js';
import { clusterTargetsOf, targetsOf } from '../loop/targets.js';
import { SessionPool } from '../transport/sessions.js';
import { SshPool } from '../transport/ssh.js';
import { action, engines, EXIT, historyPath, load, printable } from './common.js';

export function register(program: Command): void {
  program
    .command('switchover')
    .summary('move the primary of a cluster to the member the file names, step by step')
    .description(
      "Run the cluster's topology pass until the member the file names as primary takes writes: the old primary\n" +
        'is made read-only, the candidate catches up (bounded; a timeout rolls back), is promoted, and the other\n' +
        'members follow it; each step is recorded. Edit the file first (replication.primary): the file is the desired\n' +
        'state, this command only says when. Without --now the first step waits for a maintenance window.\n' +
        "When a running daemon holds the cluster's leases, it performs the steps: this command asks it (with --now)\n" +
        'and waits until the switchover is done.',
    )
    .requiredOption('-f, --file <path>', 'desired-state YAML file')
    .requiredOption('--cluster <name>', 'the cluster')
    .option('--to <member>', 'check that the file names this member as primary (refuse otherwise)')
    .option('--now', 'do not wait for a maintenance window')
    .option('--timeout <seconds>', 'how long to wait for the switchover to complete', '300')
    .option('--db <path>', 'history file (default: $SETPOINT_DB, $STATE_DIRECTORY/history.db, ./setpoint.db)')
    .addHelpText(
      'after',
      '\nExit status: 0 the named member is the primary, 2 still waiting (a window, a gate), 1 error or refused.\n\n' +
        'Example:\n  # after setting replication.primary: db2 in the file\n  setpoint switchover -f /etc/setpoint/setpoint.yaml --cluster orders --to db2 --now',
    )
    .action(
      action(
        async (opts: { file: string; cluster: string; to?: string; now?: boolean; timeout: string; db?: string }) => {
          const timeoutMs = Number(opts.timeout) * 1000;
          if (!Number.isFinite(timeoutMs) || timeoutMs <= 0)
            throw new SetpointError('cli.usage', `--timeout ${opts.timeout}: expected a number of seconds`);
          const loaded = await load(opts.file);
          const all = await engines();
          const target = clusterTargetsOf(loaded.spec, all, targetsOf(loaded.spec, all), { cluster: opts.cluster })[0];
          if (target === undefined)
            throw new SetpointError(
              'cli.usage',
              `cluster ${opts.cluster} declares no replication topology in ${opts.file} (or does not exist)`,
            );
          const topology = target.engine.topology;
          const hosts = Object.fromEntries(target.members.map((m) => [m.host, m.hostSpec]));
          const declared: unknown = topology?.desired({
            clusterName: target.cluster,
            cluster: target.clusterSpec,
            hosts,
            prune: () => false,
            secret: () => {
              throw new Error('no secret needed');
            },
          });
          const primary = declared === undefined ? undefined : topology?.primaryOf(declared);
          if (opts.to !== undefined && opts.to !== primary)
            throw new SetpointError(
              'cli.usage',
              `the file names ${primary ?? '(none)'} as the primary of ${opts.cluster}, not ${opts.to}: edit replication.primary first (the file is the desired state)`,
            );
          const history = History.open(historyPath(opts.db), { daemonId: `switchover-${process.pid}` });
          const log = createLogger({ stream: process.stderr, json: false });
          const pool = new SessionPool(`switchover-${process.pid}`);
          const ssh = new SshPool();
          const controller = new Controller({ engines: all, history, log, pool, ssh, schedule: false });
          try {
            history.recordSpec(loaded);
            if (opts.now === true) history.requestNow(opts.cluster, `switchover-${process.pid}`);
            controller.apply(loaded);
            const end = Date.now() + timeoutMs;
            for (;;) {
              const [o] = await controller.once((t) => t.key === target.key);
              if (o === undefined) return EXIT.error;
              const now = o.topology?.primary;
              if (o.state === 'converged' && now === primary) {
                process.stdout.write(`${opts.cluster}: ${primary} is the primary; every member follows it.\n`);
                return EXIT.ok;
              }
              if (o.leaseHolder !== undefined) {
                // A daemon holds the members' leases: it performs the steps (the request to act now is in history).
                process.stdout.write(
                  `${opts.cluster}: ${printable(o.leaseHolder)} holds the lease: waiting for the daemon to move the primary to ${primary ?? '?'}…\n`,
                );
                return await waitForDaemon(history, opts.cluster, primary, end);
              }
              if (o.error !== undefined) {
                process.stderr.write(`setpoint: ${opts.cluster}: ${printable(o.error.message)}\n`);
                return EXIT.error;
              }
              const waiting = o.changes.filter((c) => c.status === 'waiting');
              if (o.made === 0 && waiting.length > 0) {
                for (const w of waiting)
                  process.stdout.write(`waiting: ${printable(w.summary)}: ${printable(w.reason ?? '')}\n`);
                return EXIT.drift;
              }
              if (Date.now() > end) {
                process.stderr.write(`setpoint: ${opts.cluster}: not done within ${opts.timeout} s\n`);
                return EXIT.drift;
              }
              await new Promise((r) => setTimeout(r, 500));
            }
          } finally {
            await pool.closeAll();
            ssh.closeAll();
            history.close();
          }
        },
      ),
    );
}

/** Polls the daemon's record of the cluster's topology until the declared primary takes writes and it converged. */
async function waitForDaemon(
  history: History,
  cluster: string,
  primary: string | undefined,
  end: number,
): Promise<number> {
  for (;;) {
    const row = history.status({ cluster, host: '*' })[0];
    const place = history
      .latestOfTarget({ cluster, host: '*' }, 'topology')
      .map((o) => o.state as { member: string; role: string });
    if (row?.state === 'converged' && place.some((m) => m.member === primary && m.role === 'primary')) {
      process.stdout.write(`${cluster}: ${primary ?? '?'} is the primary; every member follows it.\n`);
      return EXIT.ok;
    }
    if (row?.state === 'stalled') {
      process.stderr.write(`setpoint: ${cluster}: stalled: ${row.message ?? row.lastError ?? ''}\n`);
      return EXIT.error;
    }
    if (Date.now() > end) {
      process.stderr.write(
        `setpoint: ${cluster}: not done within the timeout (the daemon says: ${row?.message ?? 'nothing yet'})\n`,
      );
      return EXIT.drift;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}
