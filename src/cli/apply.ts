import type { Command } from 'commander';
import { History } from '../history/store.js';
import { createLogger, flushLogs } from '../log.js';
import { Controller } from '../loop/controller.js';
import { targetsOf } from '../loop/targets.js';
import { SessionPool } from '../transport/sessions.js';
import { SshPool } from '../transport/ssh.js';
import { action, engines, EXIT, historyPath, jsonLines, load } from './common.js';
import { paintFor } from '../color.js';
import { planPasses } from './plan.js';
import { renderPlan } from './render-plan.js';

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
    .option(
      '-y, --yes',
      'do not ask before destructive changes (asked only on a terminal; never asked when piped, nor by the daemon)',
    )
    .option('--json', 'one JSON object per target: cluster, host, state, made, failed, drift, error, and what remains')
    .addHelpText(
      'after',
      '\nOn a terminal, when the pass would drop or revoke something, the plan is shown first and apply\n' +
        'goes on only after you type "yes" (--yes skips the question, as does running without a terminal).\n\n' +
        'Exit status: 0 converged, 2 drift remains (held back by policy), 1 error or not confirmed.\n\n' +
        'Example:\n  setpoint apply -f setpoint.yaml --once --cluster orders',
    )
    .action(
      action(
        async (opts: { file: string; cluster?: string; host?: string; db?: string; json?: boolean; yes?: boolean }) => {
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
          // On a terminal, destructive changes are shown and confirmed before anything runs or is recorded.
          if (opts.yes !== true && process.stdin.isTTY === true && process.stdout.isTTY === true) {
            const planned = await planPasses(loaded, targets, opts);
            const risky = planned
              .flatMap((o) => o.changes)
              .filter((c) => c.risk === 'destructive' && c.status !== 'waiting');
            if (risky.length > 0) {
              const paint = paintFor(process.stdout);
              process.stdout.write(renderPlan(planned, paint));
              const answer = await ask(
                `\n${paint.red(`${risky.length} destructive change${risky.length === 1 ? '' : 's'}`)} would run (drop, revoke).\n` +
                  'Apply? Only "yes" goes on (--yes skips this question): ',
              );
              if (answer.trim().toLowerCase() !== 'yes') {
                process.stdout.write('Not applied: nothing was changed.\n');
                return EXIT.error;
              }
            }
          }
          const history = History.open(historyPath(opts.db), { daemonId: `apply-${process.pid}` });
          const log = createLogger({
            stream: process.stderr,
            json: false,
            level: opts.json === true ? 'warn' : 'info',
          });
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
              else process.stdout.write('\nNot converged:\n' + renderPlan(left, paintFor(process.stdout)));
            }
            if (outcomes.some((o) => o.error !== undefined)) return EXIT.error;
            return outcomes.every((o) => o.state === 'converged') ? EXIT.ok : EXIT.drift;
          } finally {
            await pool.closeAll();
            ssh.closeAll();
            history.close();
          }
        },
      ),
    );
}

/** Asks one question on the terminal and returns the line typed (empty at end of input). */
async function ask(question: string): Promise<string> {
  const { createInterface } = await import('node:readline/promises');
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  const closed = new Promise<string>((r) => rl.once('close', () => r('')));
  try {
    return await Promise.race([rl.question(question), closed]);
  } finally {
    rl.close();
  }
}
