import type { Command } from 'commander';
import { History } from '../history/store.js';
import { createLogger, flushLogs } from '../log.js';
import { Controller } from '../loop/controller.js';
import { targetsOf } from '../loop/targets.js';
import { SessionPool } from '../transport/sessions.js';
import { SshPool } from '../transport/ssh.js';
import { action, engines, EXIT, historyPath, jsonLines, load } from './common.js';
import { render } from './plan.js';

export function register(program: Command): void {
  program
    .command('apply')
    .summary('converge once, as far as policy allows')
    .description(
      'Run one pass over every targeted server: observe, make the next changes policy allows, observe again,\n' +
        'until nothing more may run. Every observation, drift and action is recorded in the history file.\n' +
        'Use `setpoint run` to keep converging.',
    )
    .requiredOption('-f, --file <path>', 'desired-state YAML file')
    .requiredOption('--once', 'one pass, then exit (required: the loop is `setpoint run`)')
    .option('--cluster <name>', 'only this cluster')
    .option('--host <name>', 'only this host')
    .option('--db <path>', 'history file (default: $SETPOINT_DB, $STATE_DIRECTORY/history.db, ./setpoint.db)')
    .option('--json', 'one JSON object per target: cluster, host, state, made, failed, drift, error, and what remains')
    .addHelpText(
      'after',
      '\nExit status: 0 converged, 2 drift remains (held back by policy), 1 error.\n\nExample:\n  setpoint apply -f setpoint.yaml --once --cluster orders',
    )
    .action(
      action(async (opts: { file: string; cluster?: string; host?: string; db?: string; json?: boolean }) => {
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
        const history = History.open(historyPath(opts.db), { daemonId: `apply-${process.pid}` });
        const log = createLogger({ stream: process.stderr, json: false, level: opts.json === true ? 'warn' : 'info' });
        const pool = new SessionPool(`apply-${process.pid}`);
        const ssh = new SshPool();
        // The daemon's own loop, run once: the same passes, gates, pauses and records.
        const controller = new Controller({ engines: await engines(), history, log, pool, ssh, schedule: false });
        try {
          history.recordSpec(loaded);
          controller.apply(loaded);
          // The chosen members, and their clusters' topologies (unless one host was asked for).
          const chosen = new Set([
            ...targets.map((t) => t.key),
            ...(opts.host === undefined ? targets.map((t) => `${t.cluster}/*`) : []),
          ]);
          const outcomes = await controller.once((t) => chosen.has(t.key));
          // The log (stderr) before the result (stdout): in one terminal or file they stay in order.
          flushLogs();
          if (opts.json === true) {
            jsonLines(
              outcomes.map((o) => ({
                cluster: o.target.cluster,
                host: o.target.host,
                state: o.state,
                made: o.made,
                failed: o.failed,
                drift: o.drift?.length ?? null,
                error: o.error?.message ?? null,
                remaining: o.changes,
              })),
            );
          } else {
            const made = outcomes.reduce((n, o) => n + o.made, 0);
            process.stdout.write(`Made ${made} change${made === 1 ? '' : 's'}.\n`);
            const left = outcomes.filter((o) => o.state !== 'converged');
            if (left.length === 0)
              process.stdout.write(`All ${outcomes.length} target${outcomes.length === 1 ? '' : 's'} converged.\n`);
            else process.stdout.write('\nNot converged:\n' + render(left));
          }
          if (outcomes.some((o) => o.error !== undefined)) return EXIT.error;
          return outcomes.every((o) => o.state === 'converged') ? EXIT.ok : EXIT.drift;
        } finally {
          await pool.closeAll();
          ssh.closeAll();
          history.close();
        }
      }),
    );
}
