import type { Command } from 'commander';
import { SetpointError } from '../errors.js';
import { History, type Entry, type Episode, type ResourceStory, type TargetAt } from '../history/store.js';
import { action, clip, EXIT, historyPath, iso, parseSince, printable, table } from './basics.js';

/** `setpoint show`: what setpoint last observed of a target or one resource at a time, and a resource's story. */
export function register(program: Command): void {
  program
    .command('show')
    .summary('what setpoint knew of a target or a resource at a time, and when its drift appeared and was fixed')
    .argument('<target>', "CLUSTER/HOST (CLUSTER/* for a cluster's topology pass)")
    .argument('[resource]', "a resource of that target, or text unique to one: mysql.user 'app'@'%', \"'app'\", ledger")
    .description(
      'Answer questions from the history file, without contacting any server.\n\n' +
        'With a target only: what setpoint last observed of each of its resources at --at (default now), the ' +
        'version of the file in force then, the drift open then, the conditions and the last error.\n\n' +
        'With a resource as well: its observed state at --at, then its story: every drift it had (newest ' +
        'last): when it appeared and under which version of the file, the actions setpoint took on it with their ' +
        'outcome, when it was resolved and what resolved it:\n' +
        '  action   a change setpoint made (its last successful one before)\n' +
        '  file     a new version of the file no longer declared the difference\n' +
        '  outside  the server changed back without setpoint (by hand, or another actor)\n' +
        '  open     not resolved yet\n' +
        'and the times its observed state changed. Observed states hold placeholders for secrets and password ' +
        'verifiers, never values.',
    )
    .option('--at <time>', 'a time (2026-11-26T14:31:00Z, 2026-11-26 14:31) or a duration back from now (90m, 2d)')
    .option('--limit <n>', 'with a resource: at most this many drift episodes and observations (the newest)', '20')
    .option('--db <path>', 'history file (default: $SETPOINT_DB, $STATE_DIRECTORY/history.db, ./setpoint.db)')
    .option(
      '--json',
      'one JSON object. A target: {cluster, host, at, spec, conditions, lastError, drift, resources}; a resource:\n' +
        '{cluster, host, resource, at, state, observedAt, episodes: [{field, appeared, specVersion, summary, desired,\n' +
        'observed, resolved, resolvedSpecVersion, fixedBy, actions}], observations: [{time, state}]}',
    )
    .addHelpText(
      'after',
      '\nExit status: 0; 1 when the target or resource is not in the history (or the text names several).\n\n' +
        'Examples:\n' +
        '  setpoint show orders/db1                        # what is there now, as setpoint last saw it\n' +
        '  setpoint show orders/db1 --at "2026-11-26 03:00"  # ... and at 03:00 (times without a zone are UTC)\n' +
        "  setpoint show orders/db1 \"'app'@'%'\"            # when did app's drift appear, what fixed it\n" +
        '  setpoint show ledger/pg1 "mysql.database ledger" --json',
    )
    .action(
      action(
        async (
          target: string,
          resource: string | undefined,
          opts: { at?: string; limit: string; db?: string; json?: boolean },
        ) => {
          const key = parseTarget(target);
          const at = opts.at === undefined ? Date.now() : parseAt(opts.at);
          const limit = Number(opts.limit);
          if (!Number.isInteger(limit) || limit <= 0)
            throw new SetpointError('cli.usage', '--limit: expected a positive whole number');
          const history = History.open(historyPath(opts.db), { readonly: true });
          try {
            const known = history.status({ cluster: key.cluster });
            if (!known.some((t) => t.host === key.host) && history.resourcesMatching(key, '').length === 0)
              throw new SetpointError(
                'cli.usage',
                `${target}: no such target in ${history.path}${
                  known.length === 0
                    ? ''
                    : ` (targets of ${key.cluster}: ${known.map((t) => `${t.cluster}/${t.host}`).join(', ')})`
                }`,
              );
            if (resource === undefined) {
              printTarget(history.targetAt(key, at), opts.json === true);
              return EXIT.ok;
            }
            const names = history.resourcesMatching(key, resource);
            if (names.length !== 1)
              throw new SetpointError(
                'cli.usage',
                names.length === 0
                  ? `${target}: no resource matches ${JSON.stringify(resource)} in the history`
                  : `${target}: ${JSON.stringify(resource)} matches ${names.length} resources; give one of: ${names
                      .slice(0, 10)
                      .map((n) => JSON.stringify(n))
                      .join(', ')}${names.length > 10 ? ', ...' : ''}`,
              );
            const name = names[0] as string;
            printStory(history.resourceStory(key, name), history.targetAt(key, at, name), limit, opts.json === true);
            return EXIT.ok;
          } finally {
            history.close();
          }
        },
      ),
    );
}

function parseTarget(text: string): { cluster: string; host: string } {
  const i = text.indexOf('/');
  if (i <= 0 || i === text.length - 1)
    throw new SetpointError('cli.usage', `${text}: expected a target as CLUSTER/HOST, e.g. orders/db1`);
  return { cluster: text.slice(0, i), host: text.slice(i + 1) };
}

/** A time, or a duration back from now; a time without a zone is UTC. */
export function parseAt(text: string, now = Date.now()): number {
  const t = text.trim();
  const zoned = /^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(t) ? `${t.replace(' ', 'T')}Z` : t;
  try {
    return parseSince(zoned, now);
  } catch {
    throw new SetpointError(
      'cli.usage',
      `--at ${JSON.stringify(text)}: expected a time like 2026-11-26T14:31:00Z or a duration back from now like 90m`,
    );
  }
}

const time = (t: number | null | undefined) =>
  t === null || t === undefined ? '-' : new Date(t).toISOString().replace('T', ' ').slice(0, 23);

function compact(state: unknown): string {
  return JSON.stringify(state) ?? 'null';
}

function printTarget(t: TargetAt, json: boolean): void {
  if (json) {
    process.stdout.write(
      JSON.stringify({
        cluster: t.cluster,
        host: t.host,
        at: iso(t.at),
        spec: t.spec === undefined ? null : { version: t.spec.version, loadedAt: iso(t.spec.loadedAt) },
        conditions: t.conditions.map((c) => ({
          type: c.field,
          status: c.outcome,
          since: iso(c.time),
          summary: c.summary,
        })),
        lastError: t.lastError === undefined ? null : entryJson(t.lastError),
        drift: t.drift.map(entryJson),
        resources: t.resources.map((r) => ({ resource: r.resource, observedAt: iso(r.time), state: r.state })),
      }) + '\n',
    );
    return;
  }
  const out: string[] = [];
  out.push(`${printable(`${t.cluster}/${t.host}`)} as setpoint knew it at ${time(t.at)} UTC`);
  out.push(
    `file version: ${t.spec === undefined ? 'none recorded by then' : `${t.spec.version} (loaded ${time(t.spec.loadedAt)})`}`,
  );
  out.push(
    `conditions:   ${
      t.conditions.length === 0
        ? 'none recorded by then'
        : t.conditions.map((c) => `${c.field ?? ''}=${c.outcome ?? ''} since ${time(c.time)}`).join(', ')
    }`,
  );
  if (t.lastError !== undefined)
    out.push(`last error:   ${time(t.lastError.time)} ${printable(clip(t.lastError.summary, 160))}`);
  process.stdout.write(out.join('\n') + '\n\n');
  if (t.drift.length === 0) process.stdout.write('No drift was open then.\n\n');
  else {
    process.stdout.write(`Drift open then (${t.drift.length}):\n`);
    process.stdout.write(
      table(
        ['SINCE', 'RESOURCE', 'FIELD', 'FILE VERSION', 'SUMMARY'],
        t.drift.map((d) => [time(d.time), d.resource ?? '-', d.field ?? '-', d.specVersion ?? '-', d.summary]),
      ) + '\n',
    );
  }
  if (t.resources.length === 0) process.stdout.write('Nothing observed by then.\n');
  else {
    process.stdout.write(`Observed (${t.resources.length} resources, each as last seen by then):\n`);
    process.stdout.write(
      table(
        ['RESOURCE', 'SEEN SO SINCE', 'STATE'],
        t.resources.map((r) => [r.resource, time(r.time), clip(compact(r.state), 140)]),
      ),
    );
  }
}

function entryJson(e: Entry): Record<string, unknown> {
  return {
    time: iso(e.time),
    kind: e.kind,
    resource: e.resource,
    field: e.field,
    summary: e.summary,
    outcome: e.outcome,
    ended: iso(e.ended),
    specVersion: e.specVersion,
    detail: e.detail,
  };
}

const FIXED: Record<Episode['fixedBy'], string> = {
  action: 'fixed by setpoint',
  file: 'resolved by a new file version',
  outside: 'changed back without setpoint',
  open: 'still open',
};

function printStory(s: ResourceStory, at: TargetAt, limit: number, json: boolean): void {
  const now = at.resources[0];
  const episodes = s.episodes.slice(-limit);
  const observations = s.observations.slice(-limit);
  if (json) {
    process.stdout.write(
      JSON.stringify({
        cluster: s.cluster,
        host: s.host,
        resource: s.resource,
        at: iso(at.at),
        state: now?.state ?? null,
        observedAt: iso(now?.time),
        episodesTotal: s.episodes.length,
        episodes: episodes.map((e) => ({
          field: e.field,
          appeared: iso(e.appeared),
          specVersion: e.specVersion,
          summary: e.summary,
          desired: e.desired,
          observed: e.observed,
          resolved: iso(e.resolved),
          resolvedSpecVersion: e.resolvedSpecVersion,
          fixedBy: e.fixedBy,
          actions: e.actions.map(entryJson),
        })),
        observationsTotal: s.observations.length,
        observations: observations.map((o) => ({ time: iso(o.time), state: o.state })),
      }) + '\n',
    );
    return;
  }
  const out: string[] = [];
  out.push(printable(`${s.cluster}/${s.host} ${s.resource}`));
  out.push(
    now === undefined
      ? `at ${time(at.at)} UTC: not observed (missing, or not seen yet)`
      : `at ${time(at.at)} UTC, as last observed ${time(now.time)}: ${printable(clip(compact(now.state), 400))}`,
  );
  out.push('');
  if (s.episodes.length === 0) out.push('It never drifted.');
  else {
    out.push(
      `Drift (${s.episodes.length}${s.episodes.length > episodes.length ? `, the newest ${episodes.length}` : ''}, newest last):`,
    );
    for (const e of episodes) {
      out.push(
        printable(
          `- ${e.field} appeared ${time(e.appeared)} under file version ${e.specVersion ?? '-'}: ${clip(e.summary, 160)}`,
        ),
      );
      for (const a of e.actions)
        out.push(
          printable(
            `    ${time(a.time)} action ${a.outcome ?? '-'}${a.ended === null ? '' : ` after ${a.ended - a.time}ms`} (file version ${a.specVersion ?? '-'}): ${clip(a.summary, 140)}`,
          ),
        );
      out.push(
        e.resolved === null
          ? `    ${FIXED.open}`
          : `    resolved ${time(e.resolved)} (${formatMs(e.resolved - e.appeared)} later) under file version ${e.resolvedSpecVersion ?? '-'}: ${FIXED[e.fixedBy]}`,
      );
    }
  }
  out.push('');
  if (observations.length > 0) {
    out.push(
      `Observed state changes (${s.observations.length}${s.observations.length > observations.length ? `, the newest ${observations.length}` : ''}):`,
    );
    process.stdout.write(out.join('\n') + '\n');
    process.stdout.write(
      table(
        ['TIME', 'STATE'],
        observations.map((o) => [time(o.time), o.state === null ? '(gone)' : clip(compact(o.state), 160)]),
      ),
    );
  } else process.stdout.write(out.join('\n') + 'Never observed.\n');
}

function formatMs(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)}m`;
  return `${(ms / 3_600_000).toFixed(1)}h`;
}
