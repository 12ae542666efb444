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
    .option(
      '-o, --output <format>',
      'wide: resource names and errors in full (long ones are cut in the middle otherwise); json',
    )
    .option('--db <path>', 'history file (default: $SETPOINT_DB, $STATE_DIRECTORY/history.db, ./setpoint.db)')
    .option(
      '--json',
      'JSON lines: time, kind, cluster, host, resource, field, summary, outcome, ended, specVersion, detail',
    )
    .addHelpText(
      'after',
      '\nTimes are UTC (--json: ISO 8601 with Z).\n\nExample:\n  setpoint history --cluster orders --since 1h --kind drift,action',
    )
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
          output?: string;
        }) => {
          if (opts.output !== undefined && opts.output !== 'wide' && opts.output !== 'json')
            throw new SetpointError('cli.usage', `-o ${opts.output}: expected wide or json`);
          if (opts.output === 'json') opts.json = true;
          const wide = opts.output === 'wide';
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
                  ['TIME (UTC)', 'KIND', 'TARGET', 'RESOURCE', 'OUTCOME', 'SUMMARY'],
                  rows.map((r) => [
                    new Date(r.time).toISOString().replace('T', ' ').slice(0, 23),
                    r.kind,
                    r.cluster === null ? '-' : `${r.cluster}/${r.host ?? ''}`,
                    r.resource === null ? '-' : wide ? r.resource : middleCut(r.resource, 48),
                    outcomeText(r.outcome, r.time, r.ended, r.detail, wide),
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

function outcomeText(
  outcome: string | null,
  time: number,
  ended: number | null,
  detail: unknown,
  wide: boolean,
): string {
  if (outcome === null) return '-';
  const took = ended === null ? '' : ` after ${formatMs(ended - time)}`;
  const err = (detail as { error?: string } | null)?.error;
  return `${outcome}${took}${err === undefined ? '' : `: ${wide ? err : clip(err, 60)}`}`;
}

/**
 * A long name cut in the middle: the kind at its start and the object at its end stay
 * (`mysql.grant 'reporting_…'@'%' on analytics.*`); -o wide shows it whole.
 */
export function middleCut(s: string, max: number): string {
  if (s.length <= max) return s;
  const tail = Math.ceil((max - 1) / 2);
  return `${s.slice(0, max - 1 - tail)}…${s.slice(s.length - tail)}`;
}

function formatMs(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  return `${Math.round(ms / 60_000)}m`;
}
