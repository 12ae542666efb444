import { userInfo } from 'node:os';
import type { Command } from 'commander';
import { SetpointError } from '../errors.js';
import { History } from '../history/store.js';
import { action, EXIT, historyPath, load } from './common.js';

function who(): string {
  try {
    return `${userInfo().username}@${process.env.SUDO_USER ?? ''}`.replace(/@$/, '');
  } catch {
    return 'unknown';
  }
}

/** With -f, the name must be a cluster, a host or cluster/host of the file. */
async function checkName(name: string, file: string | undefined): Promise<void> {
  if (file === undefined) return;
  const s = (await load(file, { secrets: false })).spec;
  const known = new Set([
    ...Object.keys(s.clusters),
    ...Object.keys(s.hosts),
    ...Object.entries(s.clusters).flatMap(([c, x]) => x.members.map((m) => `${c}/${m}`)),
  ]);
  if (!known.has(name))
    throw new SetpointError('cli.usage', `"${name}" is not a cluster, host or cluster/host of ${file}`);
}

export function register(program: Command): void {
  program
    .command('pause')
    .summary('stop changing a cluster or host (it is still observed and reported)')
    .description(
      'Pause a cluster, a host, or one member (cluster/host): the daemon keeps observing and reporting it, and\n' +
        'records drift, but changes nothing there until `setpoint resume`. Recorded in history. Takes effect at\n' +
        "the target's next pass.",
    )
    .argument('<target>', 'a cluster name, a host name, or cluster/host')
    .option('--reason <text>', 'why (shown in status and history)', 'paused by an operator')
    .option('-f, --file <path>', 'check the name against this desired-state file')
    .option('--db <path>', 'history file (default: $SETPOINT_DB, $STATE_DIRECTORY/history.db, ./setpoint.db)')
    .addHelpText('after', '\nExample:\n  setpoint pause orders --reason "migrating the primary by hand"')
    .action(
      action(async (target: string, opts: { reason: string; file?: string; db?: string }) => {
        await checkName(target, opts.file);
        const history = History.open(historyPath(opts.db), { daemonId: `cli-${process.pid}` });
        try {
          history.pause(target, opts.reason, who());
          process.stdout.write(`paused ${target}: ${opts.reason}\n`);
          return EXIT.ok;
        } finally {
          history.close();
        }
      }),
    );
  program
    .command('resume')
    .summary('let setpoint change a paused cluster or host again (and stop treating it as contested)')
    .description(
      'Resume a paused cluster, host or cluster/host. Also clears "contested by another actor" marks on it, so\n' +
        'setpoint tries again to put those resources back. Recorded in history.',
    )
    .argument('<target>', 'a cluster name, a host name, or cluster/host')
    .option('-f, --file <path>', 'check the name against this desired-state file')
    .option('--db <path>', 'history file (default: $SETPOINT_DB, $STATE_DIRECTORY/history.db, ./setpoint.db)')
    .action(
      action(async (target: string, opts: { file?: string; db?: string }) => {
        await checkName(target, opts.file);
        const history = History.open(historyPath(opts.db), { daemonId: `cli-${process.pid}` });
        try {
          const was = history.resume(target, who());
          process.stdout.write(
            was ? `resumed ${target}\n` : `${target} was not paused; contested marks on it are cleared\n`,
          );
          return EXIT.ok;
        } finally {
          history.close();
        }
      }),
    );
}
