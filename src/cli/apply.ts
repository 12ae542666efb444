import type { Command } from 'commander';
import { History } from '../history/store.js';
import { createLogger } from '../log.js';
import { reconcile } from '../loop/reconcile.js';
import { recordPass } from '../loop/record.js';
import { targetsOf } from '../loop/targets.js';
import { SessionPool } from '../transport/sessions.js';
import { SshPool } from '../transport/ssh.js';
import { locator } from '../spec/load.js';
import { DisruptionGate } from '../loop/windows.js';
import { action, engines, EXIT, historyPath, jsonLines, load } from './common.js';
import { render } from './plan.js';
import { forEachLimit } from './run-targets.js';

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
    .addHelpText('after', '\nExit status: 0 converged, 2 drift remains (held back by policy), 1 error.\n\nExample:\n  setpoint apply -f setpoint.yaml --once --cluster orders')
    .action(
      action(async (opts: { file: string; cluster?: string; host?: string; db?: string; json?: boolean }) => {
        const loaded = await load(opts.file);
        const targets = targetsOf(loaded.spec, engines, { ...(opts.cluster === undefined ? {} : { cluster: opts.cluster }), ...(opts.host === undefined ? {} : { host: opts.host }) });
        if (targets.length === 0) {
          process.stderr.write(`setpoint: no target matches${opts.cluster === undefined ? '' : ` --cluster ${opts.cluster}`}${opts.host === undefined ? '' : ` --host ${opts.host}`}\n`);
          return EXIT.error;
        }
        const history = History.open(historyPath(opts.db), { daemonId: `apply-${process.pid}` });
        const log = createLogger({ stream: process.stderr, json: false, level: opts.json === true ? 'warn' : 'info' });
        const pool = new SessionPool(`apply-${process.pid}`);
        const ssh = new SshPool();
        const health = new Map<string, boolean>();
        const gate = new DisruptionGate((key) => health.get(key));
        const members = (c: string) => loaded.spec.clusters[c]?.members.map((h) => `${c}/${h}`) ?? [];
        const locate = locator(loaded);
        try {
          history.recordSpec(loaded);
          const pauses = history.pauseState();
          const pausedOf = (c: string, h: string) => pauses.active.find((p) => p.target === c || p.target === h || p.target === `${c}/${h}`)?.reason;
          const passOf = async (t: (typeof targets)[number]) => {
            const o = await reconcile(
              t,
              {
                pool, ssh, log, specVersion: loaded.version, history, owner: history.daemonId,
                disruptive: (x) => gate.check(x, members(x.cluster)), takeDisruptive: (x) => gate.take(x), disruptedBefore: new Set(),
                paused: (x) => pausedOf(x.cluster, x.host), locate,
              },
              { act: true },
            );
            health.set(t.key, o.complete && o.error === undefined);
            if (o.complete && o.error === undefined) gate.release(t);
            const paused = pausedOf(t.cluster, t.host);
            recordPass(history, o, loaded.version, paused === undefined ? {} : { paused });
            return o;
          };
          const outcomes = await forEachLimit(targets, loaded.spec.policy.concurrency, passOf);
          // A restart waits until every other member of its cluster is known healthy: members observed in
          // the same round were not yet. Those targets get one more pass, one at a time.
          for (const [i, o] of outcomes.entries()) {
            if (o.changes.some((c) => c.status === 'waiting' && / is not observed yet$/.test(c.reason ?? ''))) outcomes[i] = await passOf(o.target);
          }
          if (opts.json === true) {
            jsonLines(
              outcomes.map((o) => ({
                cluster: o.target.cluster, host: o.target.host, state: o.state, made: o.made, failed: o.failed,
                drift: o.drift?.length ?? null, error: o.error?.message ?? null, remaining: o.changes,
              })),
            );
          } else {
            const made = outcomes.reduce((n, o) => n + o.made, 0);
            process.stdout.write(`Made ${made} change${made === 1 ? '' : 's'}.\n`);
            const left = outcomes.filter((o) => o.state !== 'converged');
            if (left.length === 0) process.stdout.write(`All ${outcomes.length} target${outcomes.length === 1 ? '' : 's'} converged.\n`);
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
