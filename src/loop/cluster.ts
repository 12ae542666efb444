/**
 * The cluster-level pass: the replication topology of one cluster, beside its member passes.
 * Observe every member at once (a member that cannot be reached is observed as such, never as empty),
 * decide purely (the engine's topology), and act one step at a time: every member's lease is held
 * while it acts, disruptive steps wait for a maintenance window and the cluster's one-at-a-time token
 * (a step of a procedure already begun goes forward), each step is journaled before it runs with
 * the sub-steps it records, and the next observation is the proof. The same PassOutcome as a member
 * pass, so history, conditions, status and metrics treat both alike.
 */
import type {
  ClusterChange,
  ClusterContext,
  ClusterIO,
  Change,
  MemberSession,
  Session,
  TopologyPlan,
} from '../engine.js';
import { SetpointError } from '../errors.js';
import { Secrets, secretRefsOnce } from '../secret.js';
import { resourceName, type DriftRecord, type PlannedChange, type WaitCode } from '../status.js';
import type { HostSpec } from '../spec/types.js';
import { changeKey, describeDrift } from './decide.js';
import { pruneAllows, selectStep } from './policy.js';
import {
  classify,
  connectError,
  serviceCommands,
  type PassDeps,
  type PassOptions,
  type PassOutcome,
} from './reconcile.js';
import type { SshSession } from '../transport/ssh.js';
import type { ClusterTarget } from './targets.js';

/** The kind of the resources that say where each member stands (engine-agnostic, for status). */
export const TOPOLOGY_KIND = 'topology';

export interface ClusterPassDeps extends Omit<
  PassDeps,
  'disruptive' | 'takeDisruptive' | 'paused' | 'contested' | 'secretsRead' | 'probeCache'
> {
  /**
   * The last observation of each cluster in this process (see Topology.observe's `previous`); the pass
   * reads and replaces its cluster's entry.
   */
  previous?: Map<string, unknown>;
  /** What was last written to the history file's memory for each cluster (JSON), to write only changes. */
  kept?: Map<string, string>;
  /** Marks members a change is working on (`what`), or done with them (undefined): their own passes wait meanwhile. */
  busy?: (members: string[], what: string | undefined) => void;
  /** Whether a disruptive step may start now (a maintenance window, or a request to act now), and why not. */
  disruptive?: (t: ClusterTarget) => { allowed: true } | { allowed: false; reason: string; code: WaitCode };
  /** Takes the cluster's one-at-a-time token; false when a member holds it (a restart under way). */
  takeDisruptive?: (t: ClusterTarget) => boolean;
  paused?: (t: ClusterTarget) => string | undefined;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const aborted = (signal: AbortSignal | undefined) => signal?.aborted === true;

export async function reconcileCluster(
  t: ClusterTarget,
  deps: ClusterPassDeps,
  opts: PassOptions,
): Promise<PassOutcome> {
  const topology = t.engine.topology;
  const maxSteps = opts.maxSteps ?? 10;
  const time = Date.now();
  const outcome: PassOutcome = {
    target: t,
    state: 'unknown',
    changes: [],
    made: 0,
    failed: 0,
    disrupted: false,
    actions: [],
    observedKinds: new Set(),
    complete: false,
    time,
    endedAt: time,
    statements: 0,
    bytesIn: 0,
    commands: 0,
  };
  if (topology === undefined) {
    outcome.error = { terminal: true, code: 'cli.usage', message: `engine ${t.engine.name} manages no topology` };
    outcome.state = 'stalled';
    return outcome;
  }
  const hosts: Record<string, HostSpec> = Object.fromEntries(t.members.map((m) => [m.host, m.hostSpec]));
  const secrets = await Secrets.read(secretRefsOnce(t.clusterSpec));
  const ctx: ClusterContext = {
    clusterName: t.cluster,
    cluster: t.clusterSpec,
    hosts,
    secret: (ref) => secrets.get(ref),
    prune: (cls) => pruneAllows(t.policy.prune, cls),
  };
  const desired: unknown = topology.desired(ctx);
  const used = new Map<Session, { statements: number; bytesIn: number }>();
  const connect = async (): Promise<MemberSession[]> =>
    Promise.all(
      t.members.map(async (m): Promise<MemberSession> => {
        let shell: SshSession | undefined;
        if (m.hostSpec.ssh !== undefined && deps.ssh !== undefined) {
          try {
            shell = await deps.ssh.get(m.host, m.hostSpec.address, m.hostSpec.ssh);
            shells.set(m.host, shell);
          } catch {
            shells.delete(m.host);
          }
        }
        const svc = serviceCommands(m.hostSpec);
        const withShell = {
          ...(shell === undefined ? {} : { ssh: shell }),
          ...(svc === undefined ? {} : { service: svc }),
        };
        try {
          const s = await deps.pool.get(m);
          if (!used.has(s)) used.set(s, { statements: s.stats.statements, bytesIn: s.stats.bytesIn });
          sessions.set(m.host, s);
          return { name: m.host, host: m.hostSpec, session: s, ...withShell };
        } catch (err) {
          sessions.delete(m.host);
          // A refused login names the member, its address and the secret reference, as in a member pass.
          const error = connectError(m, classify(m, err), deps.locate);
          return { name: m.host, host: m.hostSpec, session: undefined, error, ...withShell };
        }
      }),
    );
  const sessions = new Map<string, Session>();
  const shells = new Map<string, SshSession>();
  let destructiveLeft = t.policy.destructiveBudget;
  /** Waits until a member answers SQL again (after a start or restart of its server). */
  const reconnectMember = async (member: string, timeoutMs: number): Promise<void> => {
    const m = t.members.find((x) => x.host === member);
    if (m === undefined) throw new SetpointError('sql.unreachable', `${member} is not a member of ${t.cluster}`);
    await deps.pool.drop(m);
    const end = Date.now() + timeoutMs;
    for (;;) {
      try {
        const s = await deps.pool.get(m);
        sessions.set(member, s);
        return;
      } catch (err) {
        if (Date.now() > end)
          throw new SetpointError(
            'sql.unreachable',
            `${member} did not answer within ${Math.round(timeoutMs / 1000)} s: ${classify(m, err).message}`,
          );
        await sleep(250);
      }
    }
  };
  // What observe() carries while a member is down, across restarts too (the history file keeps it).
  const memoryKey = `topology:${t.cluster}`;
  const previousOf = (): unknown => {
    const inProcess = deps.previous?.get(t.cluster);
    if (inProcess !== undefined || topology.memory === undefined) return inProcess;
    try {
      const kept = deps.history?.recall(memoryKey);
      return kept === undefined ? undefined : topology.memory.restore(kept);
    } catch {
      return undefined;
    }
  };
  const keep = (observed: unknown): void => {
    if (topology.memory === undefined || deps.history === undefined) return;
    const kept = topology.memory.keep(observed);
    const text = JSON.stringify(kept);
    if (deps.kept?.get(t.cluster) === text) return;
    try {
      deps.history.remember(memoryKey, kept);
      deps.kept?.set(t.cluster, text);
    } catch (err) {
      deps.log.warn('cannot write the topology memory to history', { cluster: t.cluster, error: String(err) });
    }
  };
  let lastRun: string | undefined;
  let acting = opts.act;
  const leased = new Set<Session>();
  try {
    for (let step = 0; ; step++) {
      // Observe every member (I/O).
      const members = await connect();
      const observed: unknown = await topology.observe(members, desired, ctx, previousOf());
      deps.previous?.set(t.cluster, observed);
      keep(observed);
      // Decide (pure), then gate.
      const plan: TopologyPlan = topology.decide(desired, observed, ctx);
      const decision = gate(t, plan, deps, destructiveLeft);
      outcome.observed = new Map(plan.members.map((m) => [resourceName(TOPOLOGY_KIND, m.member), JSON.stringify(m)]));
      outcome.complete = members.every((m) => m.session !== undefined);
      // The topology's drift (its own kind, e.g. mysql.replication) is resolved only by a round that saw
      // every member: drift about a member that could not be observed stays open.
      outcome.observedKinds = new Set(outcome.complete ? [TOPOLOGY_KIND, topology.kind] : [TOPOLOGY_KIND]);
      outcome.drift = plan.drift.map((d): DriftRecord => ({
        resource: resourceName(d.kind, d.id),
        field: d.field,
        summary: describeDrift(d),
        desired: d.desired,
        observed: d.observed,
      }));
      outcome.changes = decision.changes;
      outcome.topology = {
        members: plan.members,
        ...(plan.primary === undefined ? {} : { primary: plan.primary }),
        ...(plan.degraded === undefined ? {} : { degraded: plan.degraded }),
      };
      if (decision.needsHuman === undefined) delete outcome.needsHuman;
      else outcome.needsHuman = decision.needsHuman;
      outcome.endedAt = Date.now();
      // Every member's lease, whenever this pass may act (even with nothing to do now): a session
      // opened again after a restart takes it back at once, so a second daemon or `setpoint switchover`
      // sees who keeps the cluster, and no one else acts on any member meanwhile.
      if (
        acting &&
        t.policy.mode !== 'observe' &&
        !aborted(opts.signal) &&
        deps.owner !== undefined &&
        t.engine.lease !== undefined
      ) {
        let holder: string | undefined;
        for (const m of members) {
          if (m.session === undefined || leased.has(m.session)) continue;
          const lease = await t.engine.lease(m.session, deps.owner);
          if (!lease.held) holder = `${m.name}: ${lease.holder}`;
          else {
            leased.add(m.session);
            if (lease.taken) {
              outcome.leaseTaken = true;
              deps.log.info('lease taken', { cluster: t.cluster, host: m.name, daemon: deps.owner });
            }
          }
        }
        if (holder !== undefined) {
          outcome.leaseHolder = holder;
          outcome.changes = outcome.changes.map((c) =>
            c.status === 'waiting' ? c : { ...c, status: 'waiting', reason: `lease held by ${holder}`, code: 'lease' },
          );
          break;
        }
      }
      if (!acting || decision.run.length === 0 || aborted(opts.signal)) break;
      if (step === 0) deps.history?.recordDrift(t, outcome.drift, deps.specVersion, time);
      if (step >= maxSteps) {
        outcome.more = true;
        break;
      }
      // Act (I/O).
      const runKey = decision.run.map(changeKey).join('\n');
      if (runKey === lastRun) {
        outcome.error = {
          terminal: false,
          code: 'loop.no_progress',
          message: `changes ran but the topology still needs them: ${decision.run[0]?.summary ?? ''}`,
        };
        break;
      }
      lastRun = runKey;
      for (const c of decision.run) {
        if (aborted(opts.signal)) break;
        if (c.risk === 'disruptive') {
          if (deps.takeDisruptive !== undefined && !deps.takeDisruptive(t)) continue;
          outcome.disrupted = true;
          deps.disruptedBefore?.add(changeKey(c));
        }
        deps.busy?.(c.members, c.summary);
        const ok = await act(t, c, { sessions, shells, reconnect: reconnectMember }, deps).finally(() =>
          deps.busy?.(c.members, undefined),
        );
        outcome.actions.push({
          resource: resourceName(c.kind, c.id),
          summary: c.summary,
          risk: c.risk,
          ok: ok === true,
        });
        if (ok === true) {
          outcome.made++;
          if (c.risk === 'destructive') destructiveLeft--;
        } else {
          outcome.failed++;
          outcome.error = classify(t.members[0] ?? t, ok);
          if (outcome.error.terminal) break;
        }
      }
      if (outcome.failed > 0) acting = false;
      // Some steps need a moment before the next look means anything (a replica connecting).
      const settle = Math.max(0, ...decision.run.map((c) => c.settleMs ?? 0));
      if (settle > 0) await sleep(settle);
    }
  } catch (err) {
    outcome.error = classify(t.members[0] ?? t, err);
    outcome.endedAt = Date.now();
    delete outcome.drift;
    delete outcome.observed;
    outcome.observedKinds = new Set();
    outcome.complete = false;
  }
  for (const [s, start] of used) {
    outcome.statements += s.stats.statements - start.statements;
    outcome.bytesIn += s.stats.bytesIn - start.bytesIn;
  }
  outcome.state =
    outcome.error !== undefined && outcome.drift === undefined
      ? outcome.error.terminal
        ? 'stalled'
        : 'failing'
      : outcome.error?.terminal === true || outcome.needsHuman !== undefined
        ? 'stalled'
        : outcome.error !== undefined
          ? 'failing'
          : outcome.drift === undefined
            ? 'unknown'
            : outcome.drift.length === 0
              ? 'converged'
              : t.policy.mode === 'observe'
                ? 'drifted'
                : outcome.changes.some((c) => c.status !== 'waiting')
                  ? 'drifted'
                  : 'waiting';
  return outcome;
}

/** Policy over the topology's changes: mode, pause, windows (a step of a procedure begun goes forward), the budget. */
function gate(
  t: ClusterTarget,
  plan: TopologyPlan,
  deps: ClusterPassDeps,
  destructiveLeft: number,
): { run: ClusterChange[]; changes: PlannedChange[]; needsHuman?: { reason: string; message: string } } {
  const byChange = new Map<Change, ClusterChange>();
  const asChange = (c: ClusterChange): Change => {
    const x: Change = {
      kind: c.kind,
      id: c.id,
      action: c.action,
      risk: c.risk,
      summary: c.summary,
      phase: c.phase,
      statements: [],
      ...(c.blocked === undefined ? {} : { blocked: c.blocked }),
      ...(c.prune === undefined ? {} : { prune: c.prune }),
    };
    byChange.set(x, c);
    return x;
  };
  let stuck: ClusterChange | undefined;
  for (const c of plan.changes) {
    if (c.blocked !== undefined && c.at !== undefined && deps.locate !== undefined)
      c.blocked = `${deps.locate(['clusters', t.cluster, ...c.at])} ${c.blocked}`;
    if (c.blocked !== undefined && c.needsHuman !== undefined) stuck ??= c;
  }
  const paused = deps.paused?.(t);
  const disruptive = deps.disruptive?.(t) ?? {
    allowed: false as const,
    reason: 'disruptive: no maintenance window is open',
    code: 'no-window' as const,
  };
  // A step of a procedure already begun is not held by the windows (its own gates still hold it).
  const forward = plan.changes.filter((c) => c.forward === true);
  const step = selectStep(
    plan.changes.map((c) => asChange(c.forward === true && c.blocked === undefined ? { ...c, risk: 'safe' } : c)),
    {
      mode: t.policy.mode,
      prune: t.policy.prune,
      destructiveLeft,
      destructiveBudget: t.policy.destructiveBudget,
      disruptive,
      ...(paused === undefined ? {} : { paused }),
    },
  );
  const real = (x: Change): ClusterChange => {
    const c = byChange.get(x) as ClusterChange;
    return forward.find((f) => f.kind === c.kind && f.id === c.id && f.action === c.action) ?? c;
  };
  const as = (c: ClusterChange, status: PlannedChange['status'], why?: string, code?: WaitCode): PlannedChange => ({
    cluster: t.cluster,
    host: t.host,
    resource: resourceName(c.kind, c.id),
    action: c.action,
    risk: c.risk,
    summary: c.summary,
    status,
    ...(why === undefined ? {} : { reason: why }),
    ...(code === undefined ? {} : { code }),
  });
  const run = step.run.map(real).filter((c) => c.action !== 'hold');
  return {
    run,
    changes: [
      ...run.map((c) => as(c, 'run')),
      ...step.pending.map((x) => as(real(x), 'pending')),
      ...step.waiting.map((w) => as(real(w.change), 'waiting', w.reason, w.code)),
    ],
    ...(stuck === undefined
      ? {}
      : { needsHuman: { reason: stuck.needsHuman as string, message: `${stuck.summary}: ${stuck.blocked ?? ''}` } }),
  };
}

/** Runs one cluster change; journals it and its sub-steps. Resolves to true, or to the error (never rejects). */
async function act(
  t: ClusterTarget,
  c: ClusterChange,
  conns: {
    sessions: Map<string, Session>;
    shells: Map<string, SshSession>;
    reconnect: (member: string, timeoutMs: number) => Promise<void>;
  },
  deps: ClusterPassDeps,
): Promise<unknown> {
  const resource = resourceName(c.kind, c.id);
  const id = deps.history?.actionStarted(
    t,
    { resource, summary: c.summary, risk: c.risk, action: c.action, statements: c.commands },
    deps.specVersion,
  );
  deps.log.info('change', { cluster: t.cluster, host: t.host, resource, risk: c.risk, summary: c.summary });
  const io: ClusterIO = {
    sql: (member) => {
      const s = conns.sessions.get(member);
      if (s === undefined) throw new SetpointError('sql.unreachable', `${member} does not answer SQL`);
      return s;
    },
    ssh: (member) => {
      const s = conns.shells.get(member);
      if (s === undefined)
        throw new SetpointError('ssh.unreachable', `${member}: no ssh connection (declare hosts.${member}.ssh)`);
      return s;
    },
    service: (member) => {
      const m = t.members.find((x) => x.host === member);
      return m === undefined ? undefined : serviceCommands(m.hostSpec);
    },
    reconnect: conns.reconnect,
    note: (summary, detail) => {
      deps.history?.event(summary, { action: id, ...detail }, Date.now(), {
        cluster: t.cluster,
        host: t.host,
        resource,
      });
      deps.log.info('step', { cluster: t.cluster, resource, summary });
    },
    log: deps.log,
  };
  try {
    await c.run(io);
    if (id !== undefined) deps.history?.actionEnded(id, 'ok');
    return true;
  } catch (err) {
    const cls = classify(t.members[0] ?? t, err);
    if (id !== undefined) deps.history?.actionEnded(id, 'failed', cls.message);
    deps.log.warn('change failed', { cluster: t.cluster, host: t.host, resource, error: cls.message });
    return err;
  }
}
