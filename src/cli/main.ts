/** The `setpoint` command line. One file per subcommand; the daemon is `run`. The entry point is bin/setpoint.ts. */
import { Command } from 'commander';
import type { AnyEngine } from '../engine.js';
import { packageVersion } from '../version.js';
import { unwrap, wrapLines } from './basics.js';
import { useEngines } from './engines.js';

/**
 * The module that registers each command, in help order. Only the invoked command's module is
 * loaded: `status` and `history` then start without the engines (mysql2, pg, ssh2, zod), which are
 * most of the start-up. Anything else (no command, `help`, a typo) loads them all, so help and
 * "did you mean" see every command. A new command must be listed here.
 */
const MODULES: Record<string, string> = {
  validate: './validate.js',
  plan: './plan.js',
  apply: './apply.js',
  run: './run.js',
  status: './status.js',
  history: './history.js',
  hosts: './hosts.js',
  pause: './pause.js',
  resume: './pause.js',
  switchover: './switchover.js',
  schema: './schema.js',
  show: './show.js',
  diff: './diff.js',
};

/** Runs the command line `argv` (as process.argv); `loadEngines` gives the engines, loaded only when a command needs them. */
export async function main(argv: readonly string[], loadEngines: () => Promise<readonly AnyEngine[]>): Promise<void> {
  useEngines(loadEngines);
  const program = new Command()
    .name('setpoint')
    .description(
      'Keep bare-metal MySQL/MariaDB and PostgreSQL servers at a declared state: write down what you want in a\n' +
        'YAML file, and setpoint observes each server, makes the next safe change, and remembers everything.',
    )
    .version(packageVersion())
    // Help fits the terminal, and 80 columns when piped: descriptions are re-wrapped, and any longer
    // line (examples, notes) is wrapped too. Subcommands inherit both.
    .configureHelp({ helpWidth: helpWidth(), commandDescription: (cmd: Command) => unwrap(cmd.description()) })
    .configureOutput({
      writeOut: (s) => process.stdout.write(wrapLines(unwrap(s), helpWidth())),
      writeErr: (s) => process.stderr.write(wrapLines(unwrap(s), helpWidth(process.stderr))),
    })
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText(
      'after',
      '\nFiles:\n  The history file is --db, else $SETPOINT_DB, else $STATE_DIRECTORY/history.db (under systemd), else ./setpoint.db.\n\n' +
        'Exit status:\n  0 ok / converged / nothing to do, 2 drift (plan, apply, status), 1 error.\n\n' +
        'Examples:\n  setpoint validate -f setpoint.yaml\n  setpoint plan -f setpoint.yaml\n  setpoint apply -f setpoint.yaml --once\n  setpoint run -f setpoint.yaml\n  setpoint status\n  setpoint history --since 1h --kind drift,action',
    );

  const invoked = argv[2] ?? '';

  // A reader that goes away (`setpoint status | head -1`, `| grep -q`, a closed pager) ends a listing
  // quietly. The daemon keeps running when its log reader goes away: it stops logging to that pipe.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_DESTROYED') throw err;
      if (invoked !== 'run') process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
    });
  }
  const own = MODULES[invoked];
  const wanted =
    own !== undefined ? [own] : invoked === '-V' || invoked === '--version' ? [] : [...new Set(Object.values(MODULES))];
  for (const m of wanted) ((await import(m)) as { register: (p: Command) => void }).register(program);

  await program.parseAsync(argv);
}

/** The terminal's width, or 80 when not a terminal. */
function helpWidth(stream: NodeJS.WriteStream = process.stdout): number {
  return stream.isTTY === true && (stream.columns ?? 0) >= 40 ? stream.columns : 80;
}
