/**
 * The daemon's loop: a work queue of targets, each reconciled, then requeued after its resync
 * interval (jittered) or, on failure, after an exponential backoff (jittered, capped). A spec
 * edit enqueues at once only the targets it touches. Only this file decides requeue and backoff.
 */
import type { AnyEngine } from '../engine.js';
import type { History } from '../history/store.js';
import type { Logger } from '../log.js';
import type { LoadedSpec } from '../spec/types.js';
import { messageOf } from '../errors.js';
import { locator } from '../spec/load.js';
import type { SessionPool } from '../transport/sessions.js';
import type { SshPool } from '../transport/ssh.js';
import { DisruptionGate } from './windows.js';
import { backoffDelay, resyncDelay } from './backoff.js';
import { WorkQueue } from './queue.js';
import { reconcile, type PassOutcome } from './reconcile.js';
import { recordPass } from './record.js';
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
  /** Recent successful changes per target and resource (anti-flapping). */
  private readonly repairs = new Map<string, Map<string, number[]>>();
  /** Resources another actor keeps changing back: setpoint stopped fighting over them. */
  private readonly contested = new Map<string, Map<string, { since: number; count: number }>>();
  /** The digest of each target's secrets at its last pass (see PassDeps.secretsRead). */
  private readonly secretDigests = new Map<string, string>();
  /** Who holds the lease of each target when another daemon does. */
  private readonly leaseHolders = new Map<string, string>();
  /** The last SSH observation of each target (see PassDeps.probeCache). */
  private readonly probes = new Map<string, { at: number; results: Map<string, Map<string, unknown>> }>();

  constructor(private readonly deps: ControllerDeps) {
    this.queue = new WorkQueue(8, (key) => this.work(key));
  }

  private located: { spec: LoadedSpec; locate: (path: (string | number)[]) => string } | undefined;
  /** FILE:LINE:COL of places in the spec in force, for messages. */
  private locate(spec: LoadedSpec): (path: (string | number)[]) => string {
    if (this.located?.spec !== spec) this.located = { spec, locate: locator(spec) };
    return this.located.locate;
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
    for (const [key, old] of [...this.targets]) {
      if (!keep.has(key)) {
        // Close what only this target used: its SQL session, and its host's shell unless another target uses the host.
        void this.deps.pool.drop(old);
        if (!next.some((n) => n.host === old.host)) this.deps.ssh.drop(old.host);
        // A removed member must not keep its cluster's one-at-a-time token, nor count as unhealthy.
        this.gate.release(old);
        this.health.delete(key);
        this.probes.delete(key);
        this.secretDigests.delete(key);
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
      // An unchanged target keeps the object in force: a pass under way stays the pass of that target.
      if (prev === undefined) {
        this.targets.set(t.key, t);
        added.push(t.key);
        this.queue.add(t.key, Math.floor(Math.random() * spread));
      } else if (prev.fingerprint !== t.fingerprint) {
        this.targets.set(t.key, t);
        changed.push(t.key);
        this.failures.delete(t.key);
        this.disrupted.delete(t.key);
        this.repairs.delete(t.key);
        this.contested.delete(t.key);
        this.probes.delete(t.key);
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

  /** Keys of the targets in force (undefined before a spec is applied). */
  targetKeys(): string[] | undefined {
    return this.spec === undefined ? undefined : [...this.targets.keys()];
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
    const backoff = t.policy.backoff;
    // Whatever happens below (a history write failing on a full disk, say), the target is requeued.
    let delay = backoffDelay((this.failures.get(key) ?? 0) + 1, backoff.initialSeconds * 1000, backoff.maxSeconds * 1000);
    try {
      delay = await this.pass(t, spec);
    } catch (err) {
      this.failures.set(key, (this.failures.get(key) ?? 0) + 1);
      this.deps.log.error('pass failed outside the server (history or bookkeeping); retrying', { cluster: t.cluster, host: t.host, error: messageOf(err), retryInMs: delay });
    } finally {
      // Every target in force is always scheduled, whatever reloads happened during its pass (a
      // changed one was also marked to run again at once, which wins over this later time).
      if (this.targets.has(key)) this.queue.add(key, delay);
    }
  }

  /** One pass and its bookkeeping; returns the delay before the next. */
  private async pass(t: Target, spec: LoadedSpec): Promise<number> {
    const key = t.key;
    const { log, history } = this.deps;
    const members = spec.spec.clusters[t.cluster]?.members.map((h) => `${t.cluster}/${h}`) ?? [];
    let done = this.disrupted.get(key);
    if (done === undefined) this.disrupted.set(key, (done = new Set()));
    const pauses = history.pauseState();
    const names = [t.cluster, t.host, t.key];
    const paused = pauses.active.find((p) => names.includes(p.target))?.reason;
    this.expireContests(t, Math.max(0, ...names.map((n) => pauses.resumed.get(n) ?? 0)));
    const o = await reconcile(
      t,
      {
        pool: this.deps.pool, ssh: this.deps.ssh, log, specVersion: spec.version, history, owner: history.daemonId, probeCache: this.probes,
        disruptive: (x) => this.gate.check(x, members),
        takeDisruptive: (x) => this.gate.take(x),
        disruptedBefore: done,
        paused: () => paused,
        contested: (x, resource) => this.contestReason(x, resource),
        secretsRead: (x, digest) => this.secretsRead(x, digest),
        locate: this.locate(spec),
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
    } else {
      this.failures.delete(key);
      delay = o.more === true ? 0 : resyncDelay(t.policy.resyncSeconds);
    }
    this.deps.onPass?.(o);
    this.logDecision(t, o, delay);
    this.countRepairs(t, o);
    this.noteLease(t, o);
    if (this.targets.get(key) === t) {
      const contested = [...(this.contested.get(key)?.keys() ?? [])];
      recordPass(history, o, spec.version, { nextAt: Date.now() + delay, contested, ...(paused === undefined ? {} : { paused }) });
    }
    return delay;
  }

  /**
   * A secret that changed is a new desired value: the changes it causes are not repairs of another
   * actor's work, so the anti-flapping count starts again (as it does when the file changes).
   */
  private secretsRead(t: Target, digest: string): void {
    const before = this.secretDigests.get(t.key);
    this.secretDigests.set(t.key, digest);
    if (before === undefined || before === digest) return;
    this.repairs.delete(t.key);
    if (this.contested.delete(t.key)) this.deps.log.info('a secret changed: no longer contested', { cluster: t.cluster, host: t.host });
  }

  private contestReason(t: Target, resource: string): string | undefined {
    const c = this.contested.get(t.key)?.get(resource);
    if (c === undefined) return undefined;
    const until = new Date(c.since + t.policy.antiFlap.holdSeconds * 1000).toISOString();
    return `contested by another actor: repaired ${c.count} times within ${t.policy.antiFlap.windowSeconds} s; setpoint stopped changing it until ${until} (or an edit of the file, or \`setpoint resume ${t.cluster}\`)`;
  }

  /** Drops contests that are past their hold time or were cleared by a resume after they began. */
  private expireContests(t: Target, lastResume: number): void {
    const m = this.contested.get(t.key);
    if (m === undefined) return;
    const now = Date.now();
    for (const [r, c] of m) {
      if (now - c.since >= t.policy.antiFlap.holdSeconds * 1000 || lastResume > c.since) {
        m.delete(r);
        this.repairs.get(t.key)?.delete(r);
        this.deps.log.info('no longer contested', { cluster: t.cluster, host: t.host, resource: r });
      }
    }
  }

  /** Anti-flapping: the Nth repair of one resource within the window marks it contested. */
  private countRepairs(t: Target, o: PassOutcome): void {
    const { repairs: limit, windowSeconds } = t.policy.antiFlap;
    const now = Date.now();
    let byResource = this.repairs.get(t.key);
    if (byResource === undefined) this.repairs.set(t.key, (byResource = new Map()));
    for (const resource of new Set(o.actions.filter((a) => a.ok).map((a) => a.resource))) {
      const times = [...(byResource.get(resource) ?? []), now].filter((x) => now - x <= windowSeconds * 1000);
      byResource.set(resource, times);
      if (times.length >= limit && this.contested.get(t.key)?.has(resource) !== true) {
        let m = this.contested.get(t.key);
        if (m === undefined) this.contested.set(t.key, (m = new Map()));
        m.set(resource, { since: now, count: times.length });
        const why = this.contestReason(t, resource) ?? '';
        this.deps.log.warn('contested: stopped fighting', { cluster: t.cluster, host: t.host, resource, reason: why });
        this.deps.history.event(`${t.key} ${resource}: ${why}`, { cluster: t.cluster, host: t.host, resource });
      }
    }
  }

  /** Records who holds the lease when it changes hands. */
  private noteLease(t: Target, o: PassOutcome): void {
    const before = this.leaseHolders.get(t.key);
    if (o.leaseTaken === true) {
      this.leaseHolders.delete(t.key);
      this.deps.history.event(`lease on ${t.key} taken by ${this.deps.history.daemonId}`, { cluster: t.cluster, host: t.host });
      this.deps.log.info('lease taken', { cluster: t.cluster, host: t.host, daemon: this.deps.history.daemonId });
    } else if (o.leaseHolder !== undefined && o.leaseHolder !== before) {
      this.leaseHolders.set(t.key, o.leaseHolder);
      this.deps.history.event(`lease on ${t.key} held by ${o.leaseHolder}; observing only`, { cluster: t.cluster, host: t.host, holder: o.leaseHolder });
      this.deps.log.warn('lease held by another daemon: observing only', { cluster: t.cluster, host: t.host, holder: o.leaseHolder });
    }
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
