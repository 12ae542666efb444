import type { Command } from 'commander';
import { SpecError, formatProblem } from '../errors.js';
import { targetsOf } from '../loop/targets.js';
import { action, engines, EXIT, load } from './common.js';

export function register(program: Command): void {
  program
    .command('validate')
    .summary('check a desired-state file')
    .description(
      'Parse and validate a desired-state file, reporting every problem at once as FILE:LINE:COL path: message.\nSecret references must resolve (the values are never printed). Nothing is contacted.',
    )
    .requiredOption('-f, --file <path>', 'desired-state YAML file')
    .option('--json', 'print one JSON object: {file, valid, version, clusters, targets, problems[]}')
    .option('--skip-secrets', 'do not check that secret references resolve (lint a file away from its secrets)')
    .addHelpText(
      'after',
      '\nExit status: 0 valid, 1 invalid or unreadable.\n\nExample:\n  setpoint validate -f /etc/setpoint/setpoint.yaml',
    )
    .action(
      action(async (opts: { file: string; json?: boolean; skipSecrets?: boolean }) => {
        try {
          const loaded = await load(opts.file, { secrets: opts.skipSecrets !== true });
          const clusters = Object.keys(loaded.spec.clusters).length;
          const targets = targetsOf(loaded.spec, await engines()).length;
          if (opts.json === true)
            process.stdout.write(
              JSON.stringify({
                file: opts.file,
                valid: true,
                version: loaded.version,
                clusters,
                targets,
                problems: [],
              }) + '\n',
            );
          else
            process.stdout.write(
              `${opts.file}: valid (version ${loaded.version}; ${clusters} cluster${clusters === 1 ? '' : 's'}, ${targets} target${targets === 1 ? '' : 's'})\n`,
            );
          return EXIT.ok;
        } catch (err) {
          if (opts.json === true && err instanceof SpecError) {
            process.stdout.write(
              JSON.stringify({
                file: opts.file,
                valid: false,
                problems: err.problems,
                text: err.problems.map(formatProblem),
              }) + '\n',
            );
            return EXIT.error;
          }
          throw err;
        }
      }),
    );
}
