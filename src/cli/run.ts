import { watch, watchFile, unwatchFile, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { SetpointError, SpecError, formatProblem, messageOf } from '../errors.js';
import { History } from '../history/store.js';
import { createLogger, type Level, type Logger } from '../log.js';
import { Controller } from '../loop/controller.js';
import type { PassOutcome } from '../loop/reconcile.js';
import { parseSpec, specVersion } from '../spec/load.js';
import { secretRefs } from '../secret.js';
import type { LoadedSpec } from '../spec/types.js';
import { SessionPool } from '../transport/sessions.js';
import { SshPool } from '../transport/ssh.js';
import type { Server } from 'node:http';
import { Metrics } from '../metrics.js';
import cron, { type ScheduledTask } from 'node-cron';
import { action, engines, EXIT, historyPath, load, report } from './common.js';

export interface DaemonOptions {
  file: string;
  db: string;
  log: Logger;
  /** Resolves the daemon's promise when aborted (instead of signals). */
  signal?: AbortSignal;
  /** Handle SIGTERM/SIGINT/SIGHUP. Defaults to true. */
  signals?: boolean;
  onPass?: (o: PassOutcome) => void;
  /** Seconds to let in-flight passes finish on stop. Defaults to 10. */
  stopTimeoutSeconds?: number;
  /** ADDRESS:PORT (loopback) for /healthz, /readyz and /metrics; off when omitted. */
  listen?: string;
}

/** Runs the daemon until stopped; returns the exit code. */
export async function runDaemon(opts: DaemonOptions): Promise<number> {
  const { log } = opts;
  const file = resolve(opts.file);
  const daemonId = `${hostname()}:${process.pid}`;
  const history = History.open(opts.db, { daemonId });
  const interrupted = history.markInterrupted();
  if (interrupted > 0) log.warn('actions interrupted by an earlier stop were marked', { count: interrupted });
  let loaded: LoadedSpec;
  try {
    loaded = await load(file);
  } catch (err) {
    if (err instanceof SpecError) history.recordRejectedSpec(file, err.problems.map(formatProblem));
    history.event('daemon refused to start: the desired-state file is not valid', { error: messageOf(err) });
    history.close();
    throw err;
  }
  history.event(`daemon ${daemonId} started`, { file, db: opts.db });
  history.recordSpec(loaded);
  const pool = new SessionPool(daemonId);
  const ssh = new SshPool();
  let metrics: Metrics | undefined;
  const controller: Controller = new Controller({
    engines, history, log, pool, ssh,
    onPass: (o) => {
      metrics?.observe(o);
      opts.onPass?.(o);
    },
  });
  let server: Server | undefined;
  if (opts.listen !== undefined) {
    metrics = new Metrics({ targets: () => controller.targetKeys(), depth: () => controller.depth });
    try {
      server = await metrics.listen(opts.listen);
    } catch (err) {
      history.event(`daemon refused to start: cannot serve on ${opts.listen}`, { error: messageOf(err) });
      history.close();
      throw err instanceof SetpointError ? err : new SetpointError('cli.listen', `--listen ${opts.listen}: ${messageOf(err)}`, { cause: err });
    }
    log.info('serving /healthz, /readyz and /metrics', { listen: opts.listen });
  }
  const applied = controller.apply(loaded);
  log.info('started', { daemon: daemonId, file, db: opts.db, version: loaded.version, targets: applied.added.length });

  let current = loaded;
  // History retention on a cron schedule (node-cron); the schedule follows the spec in force.
  let retention: ScheduledTask | undefined;
  const scheduleRetention = (s: LoadedSpec) => {
    const r = s.spec.policy.retention;
    void retention?.destroy();
    retention = cron.schedule(
      r.schedule,
      async () => {
        try {
          const removed = await history.thin(Date.now() - r.keepDays * 86_400_000);
          log.info('history thinned', { removed, keepDays: r.keepDays });
        } catch (err) {
          log.error('history thinning failed', { error: messageOf(err) });
        }
      },
      { timezone: r.timezone, name: 'setpoint-retention', noOverlap: true, suppressMissedWarning: true },
    );
    retention.unref();
  };
  scheduleRetention(loaded);
  // Secret files are read at each use; watching them lets a fixed password resume a stalled target at once.
  const secretWatch = new Set<string>();
  const onSecret = () => {
    log.info('a secret file changed: looking again now');
    controller.poke();
  };
  const watchSecrets = (s: LoadedSpec) => {
    const want = new Set(secretFiles(s.spec));
    for (const f of secretWatch) if (!want.has(f)) {
      unwatchFile(f, onSecret);
      secretWatch.delete(f);
    }
    for (const f of want) if (!secretWatch.has(f)) {
      watchFile(f, { interval: 1000 }, onSecret);
      secretWatch.add(f);
    }
  };
  watchSecrets(loaded);
  const reload = async (why: string) => {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      log.error('cannot read the desired-state file; keeping the last good one', { file, error: messageOf(err) });
      return;
    }
    if (specVersion(text) === current.version) {
      // Nothing new to record; a SIGHUP (systemctl reload) still means "look again now".
      if (why === 'SIGHUP') {
        log.info('SIGHUP: the file is unchanged; observing every target now', { version: current.version });
        watchSecrets(current);
        controller.poke();
      }
      return;
    }
    try {
      const next = parseSpec(text, file, engines);
      current = next;
      history.recordSpec(next);
      const r = controller.apply(next);
      watchSecrets(next);
      scheduleRetention(next);
      log.info('spec loaded', { version: next.version, why, added: r.added.length, changed: r.changed.length, removed: r.removed.length });
    } catch (err) {
      const problems = err instanceof SpecError ? err.problems.map(formatProblem) : [messageOf(err)];
      history.recordRejectedSpec(file, problems);
      log.error('spec rejected; still converging to the last good version', { version: current.version, problems });
    }
  };

  let timer: NodeJS.Timeout | undefined;
  const soon = (why: string) => {
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      void reload(why);
    }, 100);
  };
  // Editors replace files by rename: watch the folder, and poll as a fallback (network file systems).
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dirname(file), (_event, name) => {
      if (name === null || name === basename(file)) soon('file changed');
    });
  } catch (err) {
    log.warn('cannot watch the folder of the desired-state file; polling only', { error: messageOf(err) });
  }
  watchFile(file, { interval: 1000 }, () => soon('file changed'));

  return new Promise<number>((done) => {
    let stopping = false;
    const stop = async (why: string) => {
      if (stopping) return;
      stopping = true;
      log.info('stopping', { why });
      watcher?.close();
      unwatchFile(file);
      for (const f of secretWatch) unwatchFile(f, onSecret);
      void retention?.destroy();
      if (timer !== undefined) clearTimeout(timer);
      const limit = (opts.stopTimeoutSeconds ?? 10) * 1000;
      let abandoned = false;
      await Promise.race([
        controller.stop(),
        new Promise<void>((r) =>
          setTimeout(() => {
            abandoned = true;
            r();
          }, limit).unref(),
        ),
      ]);
      await pool.closeAll();
      ssh.closeAll();
      server?.close();
      if (abandoned) history.markInterrupted(Date.now(), true);
      history.event(`daemon ${daemonId} stopped (${why})${abandoned ? '; in-flight changes abandoned' : ''}`);
      history.close();
      log.info('stopped', { why });
      if (opts.signals !== false) {
        process.off('SIGTERM', onTerm);
        process.off('SIGINT', onInt);
        process.off('SIGHUP', onHup);
      }
      done(EXIT.ok);
    };
    const onTerm = () => void stop('SIGTERM');
    const onInt = () => void stop('SIGINT');
    const onHup = () => void reload('SIGHUP');
    if (opts.signals !== false) {
      process.on('SIGTERM', onTerm);
      process.on('SIGINT', onInt);
      process.on('SIGHUP', onHup);
    }
    opts.signal?.addEventListener('abort', () => void stop('aborted'), { once: true });
  });
}

/** Every `{ file: PATH }` secret reference in a spec. */
function secretFiles(spec: LoadedSpec['spec']): string[] {
  return secretRefs(spec).flatMap(({ ref }) => ('file' in ref ? [ref.file] : []));
}

export function register(program: Command): void {
  program
    .command('run')
    .summary('the daemon: keep every server at the file, forever')
    .description(
      'Loop forever: observe each cluster member, make the next change policy allows, and remember everything\n' +
        'in the history file. An edit to the file is picked up at once (a bad edit is rejected, recorded, and the\n' +
        'last good version kept). SIGHUP re-reads the file; SIGTERM or SIGINT stop cleanly.',
    )
    .requiredOption('-f, --file <path>', 'desired-state YAML file')
    .option('--db <path>', 'history file (default: $SETPOINT_DB, $STATE_DIRECTORY/history.db, ./setpoint.db)')
    .option('--log-level <level>', 'debug, info, warn or error', 'info')
    .option('--log-format <format>', 'json or text (default: text on a terminal, json otherwise)')
    .option('--listen <address:port>', 'serve /healthz, /readyz and Prometheus /metrics on this loopback address (default: $SETPOINT_LISTEN, else off)')
    .addHelpText('after', '\nLogs go to stdout, one JSON object per line unless stdout is a terminal.\n\nExample:\n  SETPOINT_DB=/var/lib/setpoint/history.db setpoint run -f /etc/setpoint/setpoint.yaml')
    .action(
      action(async (opts: { file: string; db?: string; logLevel: string; logFormat?: string; listen?: string }) => {
        if (!['debug', 'info', 'warn', 'error'].includes(opts.logLevel)) {
          process.stderr.write(`setpoint: --log-level must be debug, info, warn or error\n`);
          return EXIT.error;
        }
        const log = createLogger({ level: opts.logLevel as Level, ...(opts.logFormat === undefined ? {} : { json: opts.logFormat === 'json' }) });
        try {
          const listen = opts.listen ?? (process.env.SETPOINT_LISTEN === '' ? undefined : process.env.SETPOINT_LISTEN);
          return await runDaemon({ file: opts.file, db: historyPath(opts.db), log, ...(listen === undefined ? {} : { listen }) });
        } catch (err) {
          return report(err);
        }
      }),
    );
}
