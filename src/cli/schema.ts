import type { Command } from 'commander';
import { jsonSchema } from '../spec/file-schema.js';
import { action, engines, EXIT } from './common.js';

export function register(program: Command): void {
  program
    .command('schema')
    .summary('print the JSON Schema of the desired-state file (for editors)')
    .description(
      'Print the JSON Schema (draft-07) of the desired-state file, generated from the schemas `validate` uses. ' +
        'An editor with YAML language support (VS Code, Neovim, Emacs, ... through yaml-language-server) then ' +
        'completes keys, shows their allowed values and marks mistakes as you type. Point the file at it with ' +
        'a first line\n\n' +
        '  # yaml-language-server: $schema=/etc/setpoint/setpoint.schema.json\n\n' +
        'The schema checks the shape of the file (keys, types, allowed values, patterns). What it cannot ' +
        'express (cron expressions and time zones, privilege names, members declared under hosts, duplicate ' +
        'names, secrets that resolve) only `setpoint validate` checks; the schema never refuses what ' +
        '`validate` accepts. The same schema ships as config/setpoint.schema.json.',
    )
    .addHelpText('after', '\nExit status: 0.\n\nExample:\n  setpoint schema > /etc/setpoint/setpoint.schema.json')
    .action(
      action(async () => {
        process.stdout.write(JSON.stringify(jsonSchema(await engines()), null, 2) + '\n');
        return EXIT.ok;
      }),
    );
}
