import type { Command } from 'commander';
import { Daemon, type DaemonOptions } from '../daemon.js';
import { createLogger, type Level } from '../log.js';
import { action, engines, EXIT, historyPath, report } from './common.js';

/** Runs the daemon until SIGTERM or SIGINT (SIGHUP re-reads the file); returns the exit code. */
export async function runDaemon(opts: DaemonOptions): Promise<number> {
  const d = await Daemon.start(opts);
  const onTerm = () => void d.stop('SIGTERM');
  const onInt = () => void d.stop('SIGINT');
  const onHup = () => void d.reload('SIGHUP');
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onInt);
  process.on('SIGHUP', onHup);
  try {
    return await d.stopped;
  } finally {
    process.off('SIGTERM', onTerm);
    process.off('SIGINT', onInt);
    process.off('SIGHUP', onHup);
  }
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
    .option(
      '--listen <address:port>',
      'serve /healthz, /readyz, Prometheus /metrics and a read-only status page at / on this loopback address\n(default: $SETPOINT_LISTEN, else off)',
    )
    .addHelpText(
      'after',
      '\nLogs go to stdout, one JSON object per line unless stdout is a terminal.\n\nExample:\n  SETPOINT_DB=/var/lib/setpoint/history.db setpoint run -f /etc/setpoint/setpoint.yaml',
    )
    .action(
      action(async (opts: { file: string; db?: string; logLevel: string; logFormat?: string; listen?: string }) => {
        if (!['debug', 'info', 'warn', 'error'].includes(opts.logLevel)) {
          process.stderr.write(`setpoint: --log-level must be debug, info, warn or error\n`);
          return EXIT.error;
        }
        const log = createLogger({
          level: opts.logLevel as Level,
          ...(opts.logFormat === undefined ? {} : { json: opts.logFormat === 'json' }),
        });
        try {
          const listen = opts.listen ?? (process.env.SETPOINT_LISTEN === '' ? undefined : process.env.SETPOINT_LISTEN);
          const code = await runDaemon({
            file: opts.file,
            db: historyPath(opts.db),
            engines: await engines(),
            log,
            ...(listen === undefined ? {} : { listen }),
          });
          // Stopped: history is closed and the pools are too. A connection a pass opened while it was
          // being abandoned (a reconnect in flight at SIGTERM) must not keep the process up.
          setTimeout(() => process.exit(code), 200).unref();
          return code;
        } catch (err) {
          return report(err);
        }
      }),
    );
}
