/**
 * The daemon's loop: a work queue of targets, each reconciled, then requeued after its resync
 * interval (jittered) or, on failure, after an exponential backoff (jittered, capped). A spec
 * edit enqueues at once only the targets it touches. Only this file decides requeue and backoff.
 */
import type { AnyEngine } from '../engine.js';
import type { History } from '../history/store.js';
import type { Logger } from '../log.js';
import type { LoadedSpec } from '../spec/types.js';
import type { SessionPool } from '../transport/sessions.js';
import type { SshPool } from '../transport/ssh.js';
import { DisruptionGate } from './windows.js';
import { backoffDelay, resyncDelay } from './backoff.js';
import { WorkQueue } from './queue.js';
import { passRecord, reconcile, type PassOutcome } from './reconcile.js';
import { targetsOf, type Target } from './targets.js';

export interface ControllerDeps {
  engines: readonly AnyEngine[];
  history: History;
  log: Logger;
  pool: SessionPool;
  ssh: SshPool;
  /** Called after every pass (tests, metrics). */
  onPass?: (o: PassOutcome) => void;
}

export class Controller {
  private readonly targets = new Map<string, Target>();
  private readonly failures = new Map<string, number>();
  private readonly lastSeen = new Map<string, string>();
  private spec: LoadedSpec | undefined;
  private readonly queue: WorkQueue;
  private readonly abort = new AbortController();
  /** Latest health of each target: its last pass observed everything without error. */
  private readonly health = new Map<string, boolean>();
  private readonly gate = new DisruptionGate((key) => this.health.get(key));
  /** Disruptive changes already made under the current spec, per target: never repeated in a loop. */
  private readonly disrupted = new Map<string, Set<string>>();

  constructor(private readonly deps: ControllerDeps) {
    this.queue = new WorkQueue(8, (key) => this.work(key));
  }

  /** The spec in force. */
  get current(): LoadedSpec | undefined {
    return this.spec;
  }

  /** Puts a new spec in force: new or changed targets run now, removed ones are forgotten. */
  apply(loaded: LoadedSpec): { added: string[]; changed: string[]; removed: string[] } {
    const next = targetsOf(loaded.spec, this.deps.engines);
    const added: string[] = [];
    const changed: string[] = [];
    const removed: string[] = [];
    const keep = new Set(next.map((t) => t.key));
    for (const key of [...this.targets.keys()]) {
      if (!keep.has(key)) {
        this.targets.delete(key);
        this.failures.delete(key);
        this.queue.remove(key);
        removed.push(key);
      }
    }
    this.spec = loaded;
    this.queue.setConcurrency(loaded.spec.policy.concurrency);
    // Spread first passes over a short window so a big fleet does not start all at once.
    const spread = Math.min(2000, next.length * 20);
    for (const t of next) {
      const prev = this.targets.get(t.key);
      this.targets.set(t.key, t);
      if (prev === undefined) {
        added.push(t.key);
        this.queue.add(t.key, Math.floor(Math.random() * spread));
      } else if (prev.fingerprint !== t.fingerprint) {
        changed.push(t.key);
        this.failures.delete(t.key);
        this.disrupted.delete(t.key);
        this.queue.add(t.key, 0);
      }
    }
    this.deps.history.forgetTargets(next.map((t) => ({ cluster: t.cluster, host: t.host })));
    return { added, changed, removed };
  }

  /** Runs a target now (an operator's request, a secret file that changed). */
  poke(key?: string): void {
    for (const k of key === undefined ? this.targets.keys() : [key]) if (this.targets.has(k)) this.queue.add(k, 0);
  }

  get depth(): { ready: number; running: number; scheduled: number } {
    return this.queue.depth;
  }

  /** Stops scheduling; in-flight passes stop after their current statement. */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.queue.stop();
  }

  private async work(key: string): Promise<void> {
    const t = this.targets.get(key);
    const spec = this.spec;
    if (t === undefined || spec === undefined) return;
    const { log, history } = this.deps;
    const members = spec.spec.clusters[t.cluster]?.members.map((h) => `${t.cluster}/${h}`) ?? [];
    let done = this.disrupted.get(key);
    if (done === undefined) this.disrupted.set(key, (done = new Set()));
    const o = await reconcile(
      t,
      {
        pool: this.deps.pool, ssh: this.deps.ssh, log, specVersion: spec.version, history,
        disruptive: (x) => this.gate.check(x, members),
        takeDisruptive: (x) => this.gate.take(x),
        disruptedBefore: done,
      },
      { act: true, signal: this.abort.signal },
    );
    const healthy = o.complete && o.error === undefined;
    this.health.set(key, healthy);
    if (healthy) this.gate.release(t);
    let delay: number;
    const backoff = t.policy.backoff;
    if (o.error !== undefined) {
      const n = (this.failures.get(key) ?? 0) + 1;
      this.failures.set(key, n);
      // A terminal error waits for a human: retry only at the cap, to notice a fixed secret or server.
      delay = o.error.terminal ? backoffDelay(64, backoff.initialSeconds * 1000, backoff.maxSeconds * 1000) : backoffDelay(n, backoff.initialSeconds * 1000, backoff.maxSeconds * 1000);
      if (o.made > 0 && !o.error.terminal && o.failed === 0) delay = 0;
    } else {
      this.failures.delete(key);
      delay = resyncDelay(t.policy.resyncSeconds);
    }
    const nextAt = Date.now() + delay;
    if (this.targets.get(key) === t) {
      history.commitPass(passRecord(o, spec.version, nextAt));
      this.queue.add(key, delay);
    }
    this.logDecision(t, o, delay);
    this.deps.onPass?.(o);
  }

  /** One log line when what the loop sees of a target changes, not every pass. */
  private logDecision(t: Target, o: PassOutcome, delay: number): void {
    const fields = { cluster: t.cluster, host: t.host };
    const waiting = o.changes.filter((c) => c.status === 'waiting');
    const sig = JSON.stringify([o.state, o.error?.message, o.drift?.map((d) => `${d.resource}#${d.field}`), waiting.map((w) => w.summary)]);
    const changedView = this.lastSeen.get(t.key) !== sig;
    this.lastSeen.set(t.key, sig);
    if (o.error !== undefined) {
      log(this.deps.log, o.error.terminal ? 'error' : 'warn', o.error.terminal ? 'stalled: needs a human' : 'pass failed', { ...fields, error: o.error.message, code: o.error.code, retryInMs: delay });
      return;
    }
    if (!changedView && o.made === 0) return;
    if (o.state === 'converged') this.deps.log.info('converged', { ...fields, server: o.server, changes: o.made });
    else {
      // Drift acted on was logged by the pass; here is what remains.
      if (o.made === 0) for (const d of o.drift ?? []) this.deps.log.info('drift', { ...fields, resource: d.resource, field: d.field, summary: d.summary });
      for (const w of waiting) this.deps.log.info('change waiting', { ...fields, resource: w.resource, summary: w.summary, reason: w.reason });
    }
  }
}

function log(l: Logger, level: 'warn' | 'error', msg: string, fields: Record<string, unknown>): void {
  if (level === 'error') l.error(msg, fields);
  else l.warn(msg, fields);
}
