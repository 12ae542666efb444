import type { Command } from 'commander';
import { History, type EntryKind } from '../history/store.js';
import { SetpointError } from '../errors.js';
import { action, clip, EXIT, historyPath, iso, jsonLines, parseSince, table } from './basics.js';

const KINDS: EntryKind[] = ['drift', 'action', 'error', 'spec', 'event', 'condition'];

export function register(program: Command): void {
  program
    .command('history')
    .summary('what drifted, what was done, with what result')
    .description(
      'List history entries, newest last: drift found (and when it was resolved), actions with their outcome\n' +
        '(ok, failed, interrupted), errors, spec versions loaded or rejected, and daemon events.',
    )
    .option('--cluster <name>', 'only this cluster')
    .option('--host <name>', 'only this host')
    .option('--resource <text>', "only resources containing this text, e.g. mysql.user or \"'app'@'%'\"")
    .option('--since <when>', 'a duration back from now (30m, 2h, 7d) or a time (2026-11-26T10:00:00Z)')
    .option('--kind <kinds>', `comma-separated: ${KINDS.join(', ')}`)
    .option('--limit <n>', 'at most this many (the newest)', '500')
    .option('--db <path>', 'history file (default: $SETPOINT_DB, $STATE_DIRECTORY/history.db, ./setpoint.db)')
    .option(
      '--json',
      'JSON lines: time, kind, cluster, host, resource, field, summary, outcome, ended, specVersion, detail',
    )
    .addHelpText('after', '\nExample:\n  setpoint history --cluster orders --since 1h --kind drift,action')
    .action(
      action(
        async (opts: {
          cluster?: string;
          host?: string;
          resource?: string;
          since?: string;
          kind?: string;
          limit: string;
          db?: string;
          json?: boolean;
        }) => {
          const kinds = opts.kind === undefined ? undefined : opts.kind.split(',').map((k) => k.trim());
          for (const k of kinds ?? [])
            if (!KINDS.includes(k as EntryKind))
              throw new SetpointError('cli.usage', `--kind ${k}: expected one of ${KINDS.join(', ')}`);
          const limit = Number(opts.limit);
          if (!Number.isInteger(limit) || limit <= 0)
            throw new SetpointError('cli.usage', '--limit: expected a positive whole number');
          const history = History.open(historyPath(opts.db), { readonly: true });
          try {
            const rows = history.entries({
              ...(opts.cluster === undefined ? {} : { cluster: opts.cluster }),
              ...(opts.host === undefined ? {} : { host: opts.host }),
              ...(opts.resource === undefined ? {} : { resource: opts.resource }),
              ...(opts.since === undefined ? {} : { since: parseSince(opts.since) }),
              ...(kinds === undefined ? {} : { kinds: kinds as EntryKind[] }),
              limit,
            });
            if (opts.json === true) {
              jsonLines(
                rows.map((r) => ({
                  time: iso(r.time),
                  kind: r.kind,
                  cluster: r.cluster,
                  host: r.host,
                  resource: r.resource,
                  field: r.field,
                  summary: r.summary,
                  outcome: r.outcome,
                  ended: iso(r.ended),
                  specVersion: r.specVersion,
                  detail: r.detail,
                })),
              );
            } else if (rows.length === 0) process.stdout.write('No history matches.\n');
            else {
              process.stdout.write(
                table(
                  ['TIME', 'KIND', 'TARGET', 'RESOURCE', 'OUTCOME', 'SUMMARY'],
                  rows.map((r) => [
                    new Date(r.time).toISOString().replace('T', ' ').slice(0, 23),
                    r.kind,
                    r.cluster === null ? '-' : `${r.cluster}/${r.host ?? ''}`,
                    clip(r.resource, 40),
                    outcomeText(r.outcome, r.time, r.ended, r.detail),
                    r.summary,
                  ]),
                ),
              );
            }
            return EXIT.ok;
          } finally {
            history.close();
          }
        },
      ),
    );
}

function outcomeText(outcome: string | null, time: number, ended: number | null, detail: unknown): string {
  if (outcome === null) return '-';
  const took = ended === null ? '' : ` after ${formatMs(ended - time)}`;
  const err = (detail as { error?: string } | null)?.error;
  return `${outcome}${took}${err === undefined ? '' : `: ${clip(err, 60)}`}`;
}

function formatMs(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  return `${Math.round(ms / 60_000)}m`;
}
