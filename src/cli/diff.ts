import type { Command } from 'commander';
import { SetpointError } from '../errors.js';
import { History, type SpecVersion } from '../history/store.js';
import { diffLines, unifiedDiff } from '../text-diff.js';
import { action, EXIT, historyPath, iso, printable, table } from './basics.js';
import { parseAt } from './show.js';

/** `setpoint diff --spec A --spec B`: what changed between two recorded versions of the file. */
export function register(program: Command): void {
  program
    .command('diff')
    .summary('what changed between two recorded versions of the desired-state file')
    .description(
      'Compare two versions of the desired-state file as the history file recorded them (every version the ' +
        'daemon or apply loaded is kept, by content hash; the versions are what `status`, `history` and ' +
        '`show` name). Prints a unified diff, old version first. A version is given by its hash or a prefix ' +
        'of it, by `@TIME` (the version in force then: @2026-11-26T03:00Z, @2d), or as `latest`. ' +
        'With one --spec, that version is compared with the latest; with none, the recorded versions are ' +
        'listed. The texts hold secret references ({ env }, { file }), never secret values.',
    )
    .option('--spec <version>', 'a version: hash (prefix), @TIME, or latest; give it twice: old, then new', collect, [])
    .option('--context <n>', 'lines of context around each change', '3')
    .option('--db <path>', 'history file (default: $SETPOINT_DB, $STATE_DIRECTORY/history.db, ./setpoint.db)')
    .option(
      '--json',
      'one JSON object {from: {version, file, loadedAt}, to: {...}, same, diff: ["@@ ...", "-old", "+new", ...]};\n' +
        'without --spec, one line per version {version, file, loadedAt}',
    )
    .addHelpText(
      'after',
      '\nExit status: 0 the versions are the same (or a listing), 2 they differ, 1 a version is not recorded\n' +
        'or names several.\n\n' +
        'Examples:\n' +
        '  setpoint diff                                   # which versions are recorded\n' +
        '  setpoint diff --spec 3f2a --spec latest\n' +
        '  setpoint diff --spec @2026-11-26T03:00Z          # what changed since 03:00\n' +
        '  setpoint diff --spec @1d --spec @1h --json',
    )
    .action(
      action(async (opts: { spec: string[]; context: string; db?: string; json?: boolean }) => {
        if (opts.spec.length > 2) throw new SetpointError('cli.usage', '--spec: give at most two versions');
        const context = Number(opts.context);
        if (!Number.isInteger(context) || context < 0)
          throw new SetpointError('cli.usage', '--context: expected a whole number');
        const history = History.open(historyPath(opts.db), { readonly: true });
        try {
          if (opts.spec.length === 0) {
            const all = history.specVersions();
            if (opts.json === true)
              for (const v of all)
                process.stdout.write(
                  JSON.stringify({ version: v.version, file: v.file, loadedAt: iso(v.loadedAt) }) + '\n',
                );
            else if (all.length === 0) process.stdout.write('No version of the file is recorded yet.\n');
            else
              process.stdout.write(
                table(
                  ['VERSION', 'FIRST LOADED', 'FILE'],
                  all.map((v) => [v.version, new Date(v.loadedAt).toISOString(), v.file]),
                ),
              );
            return EXIT.ok;
          }
          const from = resolve(history, opts.spec[0] as string);
          const to = resolve(history, opts.spec[1] ?? 'latest');
          const lines = unifiedDiff(diffLines(from.text, to.text), context);
          const same = lines.length === 0;
          if (opts.json === true) {
            const head = (v: SpecVersion) => ({ version: v.version, file: v.file, loadedAt: iso(v.loadedAt) });
            process.stdout.write(JSON.stringify({ from: head(from), to: head(to), same, diff: lines }) + '\n');
          } else if (same) process.stdout.write(`${from.version} and ${to.version} are the same.\n`);
          else {
            process.stdout.write(`--- ${from.version} ${printable(from.file)} (first loaded ${iso(from.loadedAt)})\n`);
            process.stdout.write(`+++ ${to.version} ${printable(to.file)} (first loaded ${iso(to.loadedAt)})\n`);
            for (const l of lines) process.stdout.write(printable(l) + '\n');
          }
          return same ? EXIT.ok : EXIT.drift;
        } finally {
          history.close();
        }
      }),
    );
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** A recorded version from a hash prefix, `@TIME` or `latest`. */
function resolve(history: History, text: string): SpecVersion {
  const t = text.trim();
  if (t === 'latest') {
    const v = history.specVersions()[0];
    if (v === undefined) throw new SetpointError('cli.usage', 'no version of the file is recorded yet');
    return v;
  }
  if (t.startsWith('@')) {
    const at = parseAt(t.slice(1));
    const inForce = history.specInForce(at);
    if (inForce === undefined)
      throw new SetpointError('cli.usage', `--spec ${t}: no version of the file was loaded by ${iso(at)}`);
    return resolve(history, inForce.version);
  }
  if (!/^[0-9a-z]{1,64}$/i.test(t))
    throw new SetpointError(
      'cli.usage',
      `--spec ${JSON.stringify(text)}: expected a version hash (or a prefix), @TIME or latest`,
    );
  const found = history.specVersions(t.toLowerCase());
  if (found.length === 0) throw new SetpointError('cli.usage', `--spec ${t}: no such version is recorded`);
  if (found.length > 1)
    throw new SetpointError(
      'cli.usage',
      `--spec ${t}: names ${found.length} versions (${found
        .slice(0, 5)
        .map((v) => v.version)
        .join(', ')}): give more of the hash`,
    );
  return found[0] as SpecVersion;
}
