#!/usr/bin/env node
/** The `setpoint` command. One file per subcommand; the daemon is `run`. */
import { Command } from 'commander';
import { register as apply } from './apply.js';
import { register as demo } from './demo.js';
import { register as history } from './history.js';
import { register as hosts } from './hosts.js';
import { register as pause } from './pause.js';
import { register as plan } from './plan.js';
import { register as run } from './run.js';
import { register as status } from './status.js';
import { register as validate } from './validate.js';
import { packageVersion } from '../version.js';

const program = new Command()
  .name('setpoint')
  .description(
    'Keep bare-metal MySQL/MariaDB and PostgreSQL servers at a declared state: write down what you want in a\n' +
      'YAML file, and setpoint observes each server, makes the next safe change, and remembers everything.',
  )
  .version(packageVersion())
  .showHelpAfterError('(run with --help for usage)')
  .addHelpText(
    'after',
    '\nFiles:\n  The history file is --db, else $SETPOINT_DB, else $STATE_DIRECTORY/history.db (under systemd), else ./setpoint.db.\n\n' +
      'Exit status:\n  0 ok / converged / nothing to do, 2 drift (plan, apply, status), 1 error.\n\n' +
      'Examples:\n  setpoint validate -f setpoint.yaml\n  setpoint plan -f setpoint.yaml\n  setpoint apply -f setpoint.yaml --once\n  setpoint run -f setpoint.yaml\n  setpoint status\n  setpoint history --since 1h --kind drift,action',
  );

for (const r of [validate, plan, apply, run, status, history, hosts, pause, demo]) r(program);

await program.parseAsync(process.argv);
