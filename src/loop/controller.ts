/**
 * The loop around passes: a work queue of targets, each reconciled, then requeued after its resync
 * interval (jittered) or, on failure, after an exponential backoff (jittered, capped). A spec edit
 * enqueues at once only the targets it touches. Only this file decides requeue and backoff; `once()`
 * runs the same passes with the same bookkeeping one time each (`setpoint apply --once`).
 */
import type { AnyEngine } from '../engine.js';
import { messageOf } from '../errors.js';
import type { History } from '../history/store.js';
import { count, type Logger } from '../log.js';
import { locator } from '../spec/load.js';
import type { LoadedSpec } from '../spec/types.js';
import type { SessionPool } from '../transport/sessions.js';
import type { SshPool } from '../transport/ssh.js';
import { backoffDelay, resyncDelay } from './backoff.js';
import type { ProbeCache } from './observe.js';
import { WorkQueue } from './queue.js';
import { reconcile, type PassOutcome } from './reconcile.js';
import type { Condition } from './conditions.js';
import { recordPass } from './record.js';
import { reconcileCluster } from './cluster.js';
import { clusterTargetsOf, targetsOf, type ClusterTarget, type Target } from './targets.js';
import { DisruptionGate } from './windows.js';

export interface ControllerDeps {
  engines: readonly AnyEngine[];
  history: History;
  log: Logger;
  pool: SessionPool;
  ssh: SshPool;
  /** Called after every pass (tests, metrics). */
  /** After each pass is recorded, with the target's conditions (undefined when the target left the file meanwhile). */
  onPass?: (o: PassOutcome, conditions?: Condition[]) => void;
  /** False for `apply --once`: targets are run by `once()`, never scheduled. Defaults to true. */
  schedule?: boolean;
}

/** What the loop keeps of one target between its passes; a new record when the file changes the target. */
interface TargetRecord {
  target: Target | ClusterTarget;
  /** Failed passes in a row (backoff). */
  failures: number;
  /** Its last pass observed everything without error (the one-at-a-time gate reads it). */
  healthy?: boolean;
  /** The signature of what the last log line said, so an unchanged view is not logged again. */
  lastSeen?: string;
  /** Disruptive changes already made under the current spec: never repeated in a loop. */
  disrupted: Set<string>;
  /** Recent successful changes by resource (anti-flapping). */
  repairs: Map<string, number[]>;
  /** Resources another actor keeps changing back: setpoint stopped fighting over them. */
  contested: Map<string, { since: number; count: number }>;
  /** The digest of its secrets at its last pass (see PassDeps.secretsRead). */
  secretsDigest?: string;
  /** Who holds its lease when another daemon does. */
  leaseHolder?: string;
  /** Its last pass planned a disruptive change it has not made (a rolling restart goes replicas first). */
  pendingDisruptive?: boolean;
  /** Cluster targets: the topology its last pass saw. */
  topology?: PassOutcome['topology'];
}

export class Controller {
  private readonly records = new Map<string, TargetRecord>();
  private spec: LoadedSpec | undefined;
  private readonly queue: WorkQueue;
  private readonly abort = new AbortController();
  private readonly gate = new DisruptionGate((key) => this.records.get(key)?.healthy);
  /** The last SSH observation of each target (see PassDeps.probeCache); dropped with the record's reset. */
  private readonly probes: ProbeCache = new Map();
  /** Members a topology step is working on (stopping, rebuilding, starting): their own passes wait. */
  private readonly busy = new Map<string, string>();
  /** The last observation of each cluster's topology (see Topology.observe's `previous`). */
  private readonly topologies = new Map<string, unknown>();
  /** The JSON last written to history for each topology (see Topology.memory). */
  private readonly kept = new Map<string, string>();
  private located: { spec: LoadedSpec; locate: (path: (string | number)[]) => string } | undefined;

  constructor(private readonly deps: ControllerDeps) {
    this.queue = new WorkQueue(8, (key) => this.work(key));
  }

  /** The spec in force. */
  get current(): LoadedSpec | undefined {
    return this.spec;
  }

  /** Puts a new spec in force: new or changed targets run now, removed ones are forgotten. */
  apply(loaded: LoadedSpec): { added: string[]; changed: string[]; removed: string[] } {
    const members = targetsOf(loaded.spec, this.deps.engines);
    const next: (Target | ClusterTarget)[] = [...clusterTargetsOf(loaded.spec, this.deps.engines, members), ...members];
    const scheduling = this.deps.schedule !== false;
    const added: string[] = [];
    const changed: string[] = [];
    const removed: string[] = [];
    const keep = new Set(next.map((t) => t.key));
    for (const [key, r] of [...this.records]) {
      if (keep.has(key)) continue;
      const old = r.target;
      // Close what only this target used: its SQL session, and its host's shell unless another target uses the host.
      if (old.scope === 'member') {
        void this.deps.pool.drop(old);
        if (!members.some((n) => n.host === old.host)) this.deps.ssh.drop(old.host);
      }
      // A removed member must not keep its cluster's one-at-a-time token.
      this.gate.release(old);
      this.probes.delete(key);
      this.records.delete(key);
      this.queue.remove(key);
      removed.push(key);
    }
    this.spec = loaded;
    this.queue.setConcurrency(loaded.spec.policy.concurrency);
    // Spread first passes over a short window so a big fleet does not start all at once.
    const spread = Math.min(2000, next.length * 20);
    for (const t of next) {
      const prev = this.records.get(t.key);
      // An unchanged target keeps its record: a pass under way stays the pass of that target.
      if (prev === undefined) {
        this.records.set(t.key, fresh(t));
        added.push(t.key);
        if (scheduling) this.queue.add(t.key, Math.floor(Math.random() * spread));
      } else if (prev.target.fingerprint !== t.fingerprint) {
        // What the file changed is new desired state: no backoff, no memory of repairs or contests.
        this.records.set(t.key, {
          ...fresh(t),
          ...(prev.healthy === undefined ? {} : { healthy: prev.healthy }),
          ...(prev.lastSeen === undefined ? {} : { lastSeen: prev.lastSeen }),
        });
        this.probes.delete(t.key);
        changed.push(t.key);
        if (scheduling) this.queue.add(t.key, 0);
      }
    }
    this.deps.history.forgetTargets(next.map((t) => ({ cluster: t.cluster, host: t.host })));
    return { added, changed, removed };
  }

  /**
   * Runs one pass of every target in force (those `only` keeps), at most `policy.concurrency` at once,
   * with the daemon's bookkeeping. A disruptive change waits until the other members of its cluster are
   * known healthy: members observed in the same round were not yet, so those targets get one more pass,
   * one at a time.
   */
  async once(only: (t: Target | ClusterTarget) => boolean = () => true): Promise<PassOutcome[]> {
    const spec = this.spec;
    if (spec === undefined) return [];
    // Topologies first: the member passes of a replicated cluster act on the primary they name.
    const chosen = [...this.records.values()].map((r) => r.target).filter(only);
    const clusterOutcomes: PassOutcome[] = [];
    for (const t of chosen) if (t.scope === 'cluster') clusterOutcomes.push((await this.pass(t, spec)).outcome);
    const targets = chosen.filter((t) => t.scope === 'member');
    const outcomes: PassOutcome[] = new Array<PassOutcome>(targets.length);
    let next = 0;
    const worker = async () => {
      while (next < targets.length) {
        const i = next++;
        outcomes[i] = (await this.pass(targets[i] as Target, spec)).outcome;
      }
    };
    await Promise.all(
      Array.from({ length: Math.max(1, Math.min(spec.spec.policy.concurrency, targets.length)) }, worker),
    );
    for (const [i, o] of outcomes.entries()) {
      if (o.changes.some((c) => c.code === 'member-unobserved'))
        outcomes[i] = (await this.pass(o.target, spec)).outcome;
    }
    return [...clusterOutcomes, ...outcomes];
  }

  /** Runs a target now (an operator's request, a secret file that changed). */
  poke(key?: string): void {
    for (const k of key === undefined ? this.records.keys() : [key]) if (this.records.has(k)) this.queue.add(k, 0);
  }

  /** Keys of the targets in force (undefined before a spec is applied). */
  targetKeys(): string[] | undefined {
    return this.spec === undefined ? undefined : [...this.records.keys()];
  }

  /** The targets in force, each with the fingerprint of its part of the file; undefined before a spec is applied. */
  targetsInForce(): { key: string; fingerprint: string }[] | undefined {
    return this.spec === undefined
      ? undefined
      : [...this.records.values()].map((r) => ({ key: r.target.key, fingerprint: r.target.fingerprint }));
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
    const r = this.records.get(key);
    const spec = this.spec;
    if (r === undefined || spec === undefined) return;
    const backoff = r.target.policy.backoff;
    // Whatever happens below (a history write failing on a full disk, say), the target is requeued.
    let delay = backoffDelay(r.failures + 1, backoff.initialSeconds * 1000, backoff.maxSeconds * 1000);
    try {
      delay = (await this.pass(r.target, spec)).delay;
    } catch (err) {
      r.failures++;
      this.deps.log.error('pass failed outside the server (history or bookkeeping); retrying', {
        cluster: r.target.cluster,
        host: r.target.host,
        error: messageOf(err),
        retryInMs: delay,
      });
    } finally {
      // Every target in force is always scheduled, whatever reloads happened during its pass (a
      // changed one was also marked to run again at once, which wins over this later time).
      if (this.records.has(key)) this.queue.add(key, delay);
    }
  }

  /** One pass and its bookkeeping; returns the outcome and the delay before the next. */
  private async pass(t: Target | ClusterTarget, spec: LoadedSpec): Promise<{ outcome: PassOutcome; delay: number }> {
    const { log, history } = this.deps;
    const r = this.records.get(t.key) ?? fresh(t);
    const pauses = history.pauseState();
    const names = t.scope === 'cluster' ? [t.cluster, t.key] : [t.cluster, t.host, t.key];
    const paused = pauses.active.find((p) => names.includes(p.target))?.reason;
    this.expireContests(r, Math.max(0, ...names.map((n) => pauses.resumed.get(n) ?? 0)));
    const common = {
      pool: this.deps.pool,
      log,
      specVersion: spec.version,
      history,
      owner: history.daemonId,
      disruptedBefore: r.disrupted,
      locate: this.locate(spec),
    };
    const o =
      t.scope === 'cluster'
        ? await reconcileCluster(
            t,
            {
              ...common,
              ssh: this.deps.ssh,
              previous: this.topologies,
              kept: this.kept,
              busy: (members, what) => {
                for (const m of members) {
                  if (what === undefined) this.busy.delete(`${t.cluster}/${m}`);
                  else this.busy.set(`${t.cluster}/${m}`, what);
                }
              },
              disruptive: (x) => this.clusterDisruptive(x),
              takeDisruptive: (x) => this.gate.take(x),
              paused: () => paused,
            },
            { act: true, signal: this.abort.signal },
          )
        : await reconcile(
            t,
            {
              ...common,
              ssh: this.deps.ssh,
              probeCache: this.probes,
              disruptive: (x) => this.memberDisruptive(x, spec),
              takeDisruptive: (x) => this.gate.take(x),
              paused: () => {
                const busy = this.busy.get(t.key);
                return busy === undefined ? paused : `the cluster's topology pass is working on it: ${busy}`;
              },
              contested: (_x, resource) => contestReason(r, resource),
              secretsRead: (_x, digest) => this.secretsRead(r, digest),
              role: (x) => this.roleOf(x),
            },
            { act: true, signal: this.abort.signal },
          );
    r.pendingDisruptive = o.changes.some((c) => c.risk === 'disruptive' && c.status !== 'run');
    if (t.scope === 'cluster') {
      const before = r.topology?.primary;
      r.topology = o.topology;
      // A request to act now is done once the topology converged, or failed once a step failed.
      if ((o.state === 'converged' || o.failed > 0) && history.requestsNow(t.cluster))
        history.closeRequests(t.cluster, o.state === 'converged' ? 'done' : `failed: ${o.error?.message ?? ''}`);
      // A new primary: its members look again at once (their roles changed).
      if (o.topology?.primary !== before && this.deps.schedule !== false)
        for (const m of t.members) this.queue.add(m.key, 0);
    }
    r.healthy = o.complete && o.error === undefined;
    if (r.healthy) this.gate.release(t);
    let delay: number;
    const backoff = t.policy.backoff;
    if (o.error !== undefined) {
      r.failures++;
      // A terminal error waits for a human: retry only at the cap, to notice a fixed secret or server.
      delay = backoffDelay(
        o.error.terminal ? 64 : r.failures,
        backoff.initialSeconds * 1000,
        backoff.maxSeconds * 1000,
      );
    } else {
      r.failures = 0;
      delay = o.more === true ? 0 : resyncDelay(t.policy.resyncSeconds);
    }
    this.logDecision(r, o, delay);
    this.countRepairs(r, o);
    this.noteLease(r, o);
    let conditions: Condition[] | undefined;
    if (this.records.get(t.key) === r) {
      conditions = recordPass(history, o, spec.version, {
        nextAt: Date.now() + delay,
        contested: [...r.contested.keys()],
        ...(paused === undefined ? {} : { paused }),
      });
    }
    this.deps.onPass?.(o, conditions);
    return { outcome: o, delay };
  }

  /**
   * A member's role in its cluster's topology, when the cluster declares one: `primary` when the topology
   * pass saw it take writes, `replica` when it saw another do; `unknown` before that. Undefined: no topology.
   */
  private roleOf(t: Target): 'primary' | 'replica' | 'unknown' | undefined {
    const c = this.records.get(`${t.cluster}/*`);
    if (c === undefined) return undefined;
    const primary = c.topology?.primary;
    return primary === undefined ? 'unknown' : primary === t.host ? 'primary' : 'replica';
  }

  /** A member's disruptive change (a restart): windows and the one-at-a-time gate; in a topology, replicas first and the primary last. */
  private memberDisruptive(t: Target, spec: LoadedSpec): ReturnType<DisruptionGate['check']> {
    const members = spec.spec.clusters[t.cluster]?.members.map((h) => `${t.cluster}/${h}`) ?? [];
    if (this.roleOf(t) === 'primary') {
      const first = members.filter((k) => k !== t.key && this.records.get(k)?.pendingDisruptive === true);
      if (first.length > 0)
        return {
          allowed: false,
          reason: `waiting: replicas restart first (${first.join(', ')}), the primary last`,
          code: 'one-at-a-time',
        };
    }
    return this.gate.check(t, members);
  }

  /** A topology's disruptive step: windows and the cluster's token (it judges the members itself); a request to act now opens the gate. */
  private clusterDisruptive(t: ClusterTarget): ReturnType<DisruptionGate['check']> {
    if (this.deps.history.requestsNow(t.cluster)) {
      const holder = this.gate.holder(t.cluster);
      return holder === undefined || holder === t.key
        ? { allowed: true }
        : { allowed: false, reason: `waiting: ${holder} goes first (one at a time)`, code: 'one-at-a-time' };
    }
    return this.gate.check(t, []);
  }

  /** FILE:LINE:COL of places in the spec in force, for messages. */
  private locate(spec: LoadedSpec): (path: (string | number)[]) => string {
    if (this.located?.spec !== spec) this.located = { spec, locate: locator(spec) };
    return this.located.locate;
  }

  /**
   * A secret that changed is a new desired value: the changes it causes are not repairs of another
   * actor's work, so the anti-flapping count starts again (as it does when the file changes).
   */
  private secretsRead(r: TargetRecord, digest: string): void {
    const before = r.secretsDigest;
    r.secretsDigest = digest;
    if (before === undefined || before === digest) return;
    r.repairs.clear();
    if (r.contested.size > 0)
      this.deps.log.info('a secret changed: no longer contested', { cluster: r.target.cluster, host: r.target.host });
    r.contested.clear();
  }

  /** Drops contests that are past their hold time or were cleared by a resume after they began. */
  private expireContests(r: TargetRecord, lastResume: number): void {
    const now = Date.now();
    for (const [resource, c] of r.contested) {
      if (now - c.since >= r.target.policy.antiFlap.holdSeconds * 1000 || lastResume > c.since) {
        r.contested.delete(resource);
        r.repairs.delete(resource);
        this.deps.log.info('no longer contested', { cluster: r.target.cluster, host: r.target.host, resource });
      }
    }
  }

  /** Anti-flapping: the Nth repair of one resource within the window marks it contested. */
  private countRepairs(r: TargetRecord, o: PassOutcome): void {
    const t = r.target;
    const { repairs: limit, windowSeconds } = t.policy.antiFlap;
    const now = Date.now();
    for (const resource of new Set(o.actions.filter((a) => a.ok).map((a) => a.resource))) {
      const times = [...(r.repairs.get(resource) ?? []), now].filter((x) => now - x <= windowSeconds * 1000);
      r.repairs.set(resource, times);
      if (times.length >= limit && !r.contested.has(resource)) {
        r.contested.set(resource, { since: now, count: times.length });
        const why = contestReason(r, resource) ?? '';
        this.deps.log.warn('contested: stopped fighting', { cluster: t.cluster, host: t.host, resource, reason: why });
        this.deps.history.event(`${t.key} ${resource}: ${why}`, { cluster: t.cluster, host: t.host, resource });
      }
    }
  }

  /** Records who holds the lease when it changes hands. */
  private noteLease(r: TargetRecord, o: PassOutcome): void {
    const t = r.target;
    if (o.leaseTaken === true) {
      delete r.leaseHolder;
      this.deps.history.event(`lease on ${t.key} taken by ${this.deps.history.daemonId}`, {
        cluster: t.cluster,
        host: t.host,
      });
    } else if (o.leaseHolder !== undefined && o.leaseHolder !== r.leaseHolder) {
      r.leaseHolder = o.leaseHolder;
      this.deps.history.event(`lease on ${t.key} held by ${o.leaseHolder}; observing only`, {
        cluster: t.cluster,
        host: t.host,
        holder: o.leaseHolder,
      });
      this.deps.log.warn('lease held by another daemon: observing only', {
        cluster: t.cluster,
        host: t.host,
        holder: o.leaseHolder,
      });
    }
  }

  /** One log line when what the loop sees of a target changes, not every pass. */
  private logDecision(r: TargetRecord, o: PassOutcome, delay: number): void {
    const t = r.target;
    const fields = { cluster: t.cluster, host: t.host };
    const waiting = o.changes.filter((c) => c.status === 'waiting');
    const sig = JSON.stringify([
      o.state,
      o.error?.message,
      o.drift?.map((d) => `${d.resource}#${d.field}`),
      waiting.map((w) => w.summary),
    ]);
    const changedView = r.lastSeen !== sig;
    r.lastSeen = sig;
    if (o.error !== undefined) {
      if (o.error.terminal)
        this.deps.log.error('stalled: needs a human', {
          ...fields,
          error: o.error.message,
          code: o.error.code,
          retryInMs: delay,
        });
      else
        this.deps.log.warn('pass failed', { ...fields, error: o.error.message, code: o.error.code, retryInMs: delay });
      return;
    }
    if (!changedView && o.made === 0) return;
    if (o.state === 'converged')
      this.deps.log.info('converged', { ...fields, server: o.server, changes: count(o.made, 'change') });
    else {
      // Drift acted on was logged by the pass; here is what remains.
      if (o.made === 0)
        for (const d of o.drift ?? [])
          this.deps.log.info('drift', { ...fields, resource: d.resource, field: d.field, summary: d.summary });
      for (const w of waiting)
        this.deps.log.info('change waiting', { ...fields, resource: w.resource, summary: w.summary, reason: w.reason });
    }
  }
}

function fresh(target: Target | ClusterTarget): TargetRecord {
  return { target, failures: 0, disrupted: new Set(), repairs: new Map(), contested: new Map() };
}

function contestReason(r: TargetRecord, resource: string): string | undefined {
  const c = r.contested.get(resource);
  if (c === undefined) return undefined;
  const p = r.target.policy.antiFlap;
  const until = new Date(c.since + p.holdSeconds * 1000).toISOString();
  return `contested by another actor: repaired ${c.count} times within ${p.windowSeconds} s; setpoint stopped changing it until ${until} (or an edit of the file, or \`setpoint resume ${r.target.cluster}\`)`;
}
