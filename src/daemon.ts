/**
 * The daemon: the composition root of the long-running loop. It opens the history, loads the file,
 * wires sessions, the Controller, the metrics listener, history retention and the watchers of the file
 * and its secrets, and stops all of it cleanly. `setpoint run` and the demo start one; signals are the
 * caller's business (`reload()`, `stop()`).
 */
import { watch, watchFile, unwatchFile, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { hostname } from 'node:os';
import { basename, dirname, resolve } from 'node:path';
import cron, { type ScheduledTask } from 'node-cron';
import type { AnyEngine } from './engine.js';
import { SetpointError, SpecError, formatProblem, messageOf } from './errors.js';
import { History } from './history/store.js';
import { count, type Logger } from './log.js';
import { Controller } from './loop/controller.js';
import type { PassOutcome } from './loop/reconcile.js';
import { Metrics } from './metrics.js';
import { secretRefs } from './secret.js';
import { loadSpec, parseSpec, specVersion } from './spec/load.js';
import type { LoadedSpec } from './spec/types.js';
import { SessionPool } from './transport/sessions.js';
import { SshPool } from './transport/ssh.js';

export interface DaemonOptions {
  /** The desired-state file. */
  file: string;
  /** The history file. */
  db: string;
  engines: readonly AnyEngine[];
  log: Logger;
  onPass?: (o: PassOutcome) => void;
  /** Seconds to let in-flight passes finish on stop. Defaults to 10. */
  stopTimeoutSeconds?: number;
  /** ADDRESS:PORT (loopback) for /healthz, /readyz and /metrics; off when omitted. */
  listen?: string;
}

export class Daemon {
  /** Resolves with the exit code once the daemon has stopped. */
  readonly stopped: Promise<number>;
  private done!: (code: number) => void;
  private stopping = false;
  private current: LoadedSpec;
  private retention: ScheduledTask | undefined;
  private readonly secretWatch = new Set<string>();
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** The version of the file last rejected, while the file still holds it: it is logged once, not at every look. */
  private rejected: string | undefined;
  private readonly onSecret = () => {
    this.opts.log.info('a secret file changed: looking again now');
    this.controller.poke();
  };

  private constructor(
    private readonly opts: DaemonOptions & { file: string },
    readonly id: string,
    private readonly history: History,
    loaded: LoadedSpec,
    private readonly controller: Controller,
    private readonly pool: SessionPool,
    private readonly ssh: SshPool,
    private readonly server: Server | undefined,
  ) {
    this.current = loaded;
    this.stopped = new Promise((r) => (this.done = r));
  }

  /**
   * Starts the daemon: throws (a SpecError, a SetpointError naming the history file or the listen
   * address) when it cannot start, with what happened recorded in history where it can be.
   */
  static async start(opts: DaemonOptions): Promise<Daemon> {
    const { log } = opts;
    const file = resolve(opts.file);
    const id = `${hostname()}:${process.pid}`;
    const history = History.open(opts.db, { daemonId: id });
    const interrupted = history.markInterrupted();
    if (interrupted > 0)
      log.warn('actions interrupted by an earlier stop were marked', { count: count(interrupted, 'action') });
    let loaded: LoadedSpec;
    try {
      loaded = await loadSpec(file, opts.engines);
    } catch (err) {
      if (err instanceof SpecError) history.recordRejectedSpec(file, err.problems.map(formatProblem));
      history.event('daemon refused to start: the desired-state file is not valid', { error: messageOf(err) });
      history.close();
      throw err;
    }
    history.event(`daemon ${id} started`, { file, db: opts.db });
    history.recordSpec(loaded);
    const pool = new SessionPool(id);
    const ssh = new SshPool();
    let metrics: Metrics | undefined;
    // The status page reads the file in force through the daemon, once it exists.
    const made: { daemon?: Daemon } = {};
    const controller: Controller = new Controller({
      engines: opts.engines,
      history,
      log,
      pool,
      ssh,
      onPass: (o, conditions) => {
        metrics?.observe(o, conditions);
        opts.onPass?.(o);
      },
    });
    let server: Server | undefined;
    if (opts.listen !== undefined) {
      metrics = new Metrics({
        targets: () => controller.targetsInForce(),
        depth: () => controller.depth,
        fleet: { history, spec: () => made.daemon?.current.spec },
      });
      try {
        server = await metrics.listen(opts.listen);
      } catch (err) {
        history.event(`daemon refused to start: cannot serve on ${opts.listen}`, { error: messageOf(err) });
        history.close();
        throw err instanceof SetpointError
          ? err
          : new SetpointError('cli.listen', `--listen ${opts.listen}: ${messageOf(err)}`, { cause: err });
      }
      log.info('serving /, /healthz, /readyz and /metrics', { listen: opts.listen });
    }
    const d = new Daemon({ ...opts, file }, id, history, loaded, controller, pool, ssh, server);
    made.daemon = d;
    const applied = controller.apply(loaded);
    log.info('started', {
      daemon: id,
      file,
      db: opts.db,
      version: loaded.version,
      targets: count(applied.added.length, 'target'),
    });
    d.scheduleRetention(loaded);
    d.watchSecrets(loaded);
    d.watchFile();
    return d;
  }

  /** Re-reads the file: a new valid version is put in force; an invalid one is rejected and recorded. */
  async reload(why: string): Promise<void> {
    const { log } = this.opts;
    let text: string;
    try {
      text = await readFile(this.opts.file, 'utf8');
    } catch (err) {
      log.error('cannot read the desired-state file; keeping the last good one', {
        file: this.opts.file,
        error: messageOf(err),
      });
      return;
    }
    const version = specVersion(text);
    if (version === this.rejected) return;
    if (version === this.current.version) {
      if (this.rejected !== undefined) {
        // The bad edit was undone: the version in force is the file again.
        this.rejected = undefined;
        this.history.event('the desired-state file is valid again: back to the version in force', {
          version: this.current.version,
        });
        log.info('file valid again: back to the version in force', { version: this.current.version });
        return;
      }
      // Nothing new to record; a SIGHUP (systemctl reload) still means "look again now".
      if (why === 'SIGHUP') {
        log.info('SIGHUP: the file is unchanged; observing every target now', { version: this.current.version });
        this.watchSecrets(this.current);
        this.controller.poke();
      }
      return;
    }
    try {
      const next = parseSpec(text, this.opts.file, this.opts.engines);
      if (this.rejected !== undefined)
        log.info('file valid again: the corrected version is accepted', {
          version: next.version,
          rejected: this.rejected,
        });
      this.rejected = undefined;
      this.current = next;
      this.history.recordSpec(next);
      const r = this.controller.apply(next);
      this.watchSecrets(next);
      this.scheduleRetention(next);
      log.info('spec loaded', {
        version: next.version,
        why,
        added: count(r.added.length, 'target'),
        changed: count(r.changed.length, 'target'),
        removed: count(r.removed.length, 'target'),
      });
    } catch (err) {
      const problems = err instanceof SpecError ? err.problems.map(formatProblem) : [messageOf(err)];
      this.rejected = version;
      this.history.recordRejectedSpec(this.opts.file, problems);
      log.error('spec rejected; still converging to the last good version', {
        version: this.current.version,
        problems,
      });
    }
  }

  /** Stops: in-flight passes get `stopTimeoutSeconds` to finish, then everything is closed and the stop recorded. */
  async stop(why: string): Promise<void> {
    if (this.stopping) return this.stopped.then(() => undefined);
    this.stopping = true;
    const { log } = this.opts;
    log.info('stopping', { why });
    this.watcher?.close();
    unwatchFile(this.opts.file);
    for (const f of this.secretWatch) unwatchFile(f, this.onSecret);
    void this.retention?.destroy();
    if (this.timer !== undefined) clearTimeout(this.timer);
    const limit = (this.opts.stopTimeoutSeconds ?? 10) * 1000;
    let abandoned = false;
    await Promise.race([
      this.controller.stop(),
      new Promise<void>((r) =>
        setTimeout(() => {
          abandoned = true;
          r();
        }, limit).unref(),
      ),
    ]);
    await this.pool.closeAll();
    this.ssh.closeAll();
    this.server?.close();
    if (abandoned) this.history.markInterrupted(Date.now(), true);
    this.history.event(`daemon ${this.id} stopped (${why})${abandoned ? '; in-flight changes abandoned' : ''}`);
    this.history.close();
    log.info('stopped', { why });
    this.done(0);
  }

  /** History retention on a cron schedule (node-cron); the schedule follows the spec in force. */
  private scheduleRetention(s: LoadedSpec): void {
    const r = s.spec.policy.retention;
    const { log } = this.opts;
    void this.retention?.destroy();
    this.retention = cron.schedule(
      r.schedule,
      async () => {
        try {
          const removed = await this.history.thin(Date.now() - r.keepDays * 86_400_000);
          log.info('history thinned', { removed: count(removed, 'observation'), keepDays: r.keepDays });
        } catch (err) {
          log.error('history thinning failed', { error: messageOf(err) });
        }
      },
      { timezone: r.timezone, name: 'setpoint-retention', noOverlap: true, suppressMissedWarning: true },
    );
    this.retention.unref();
  }

  /** Secret files are read at each pass; watching them lets a fixed password resume a stalled target at once. */
  private watchSecrets(s: LoadedSpec): void {
    const want = new Set(secretRefs(s.spec).flatMap(({ ref }) => ('file' in ref ? [ref.file] : [])));
    for (const f of this.secretWatch) {
      if (want.has(f)) continue;
      unwatchFile(f, this.onSecret);
      this.secretWatch.delete(f);
    }
    for (const f of want) {
      if (this.secretWatch.has(f)) continue;
      watchFile(f, { interval: 1000 }, this.onSecret);
      this.secretWatch.add(f);
    }
  }

  /** Editors replace files by rename: watch the folder, and poll as a fallback (network file systems). */
  private watchFile(): void {
    const file = this.opts.file;
    const soon = (why: string) => {
      if (this.timer !== undefined) clearTimeout(this.timer);
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.reload(why);
      }, 100);
    };
    try {
      this.watcher = watch(dirname(file), (_event, name) => {
        if (name === null || name === basename(file)) soon('file changed');
      });
    } catch (err) {
      this.opts.log.warn('cannot watch the folder of the desired-state file; polling only', { error: messageOf(err) });
    }
    watchFile(file, { interval: 1000 }, () => soon('file changed'));
  }
}
