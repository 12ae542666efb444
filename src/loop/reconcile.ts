/**
 * One pass over one target: observe -> diff -> plan -> policy -> act one step -> observe again,
 * until nothing runnable is left. Level-triggered: every step starts from a fresh observation,
 * and a step never assumes its own success. A target has an SQL session and, when its host
 * declares ssh, a shell; what cannot be observed is Unknown, never empty, and an incomplete
 * observation allows only safe changes (starting a stopped service, for instance).
 */
import { randomBytes } from 'node:crypto';
import type { ActIO, Change, Drift, ErrorClass, KindContext, ResourceKind, ServiceCommands, Session } from '../engine.js';
import { SetpointError, messageOf } from '../errors.js';
import { Secrets, secretRefs } from '../secret.js';
import type { DriftRecord, History, PassRecord, TargetState } from '../history/store.js';
import type { Logger } from '../log.js';
import type { SessionPool } from '../transport/sessions.js';
import { shq, type SshPool, type SshSession } from '../transport/ssh.js';
import { pruneAllows, selectStep, type StepPolicy } from './policy.js';
import type { Target } from './targets.js';

/** A change as `plan` and `status` show it. */
export interface PlannedChange {
  cluster: string;
  host: string;
  resource: string;
  action: string;
  risk: string;
  summary: string;
  /** `run`: would run in the next step; `pending`: in a later step; `waiting`: held back by policy. */
  status: 'run' | 'pending' | 'waiting';
  reason?: string;
}

export interface PassOutcome {
  target: Target;
  state: TargetState;
  server?: string;
  /** Remaining drift at the last observation of the kinds that could be observed; undefined when none could. */
  drift?: DriftRecord[];
  /** The plan at the last observation: what is still to do and why it did not run. */
  changes: PlannedChange[];
  observed?: Map<string, string>;
  /** Kinds the last observation covered (the rest were unreachable). */
  observedKinds: Set<string>;
  /** True when every kind was observed. */
  complete: boolean;
  made: number;
  failed: number;
  /** A disruptive change ran in this pass. */
  disrupted: boolean;
  /** Every change this pass tried, with its result. */
  actions: { resource: string; summary: string; risk: string; ok: boolean }[];
  /** Who holds the lease when another daemon does (changes then wait). */
  leaseHolder?: string;
  /** This pass took the lease on the server. */
  leaseTaken?: boolean;
  /** More destructive changes were planned than the budget allows: none was made, a human must confirm. */
  budgetExceeded?: string;
  /** A change waits for a human (an edit of the file or the host): the target is Stalled with this reason. */
  needsHuman?: { reason: string; message: string };
  /** The pass stopped at its step bound with changes still runnable: run again at once. */
  more?: boolean;
  error?: ErrorClass;
  /** Changes when any secret the cluster declares changed (a keyed digest; says nothing of the values). */
  secretsDigest?: string;
  /** When the pass started and when its last observation ended (epoch ms). */
  time: number;
  endedAt: number;
  /** Session counters used by this pass (SQL statements sent, bytes received, SSH commands). */
  statements: number;
  bytesIn: number;
  commands: number;
}

export interface PassDeps {
  pool: SessionPool;
  /** SSH connections; hosts that declare ssh are reached through it. */
  ssh?: SshPool;
  log: Logger;
  specVersion: string;
  /** Journal of actions; omitted by `plan`. */
  history?: History;
  /** Whether a disruptive change may run now for this target. Defaults to "no window". */
  disruptive?: (t: Target) => StepPolicy['disruptive'];
  /** Takes the cluster's one-at-a-time token before a disruptive change; false when another member holds it. */
  takeDisruptive?: (t: Target) => boolean;
  /** A reason when the target is paused. */
  paused?: (t: Target) => string | undefined;
  /**
   * Disruptive changes already made for this target under the current spec. One planned again means
   * it did not take (a restart that did not apply a setting): it waits for a human instead of looping.
   * The pass adds the ones it makes.
   */
  disruptedBefore?: Set<string>;
  /** Why a resource is contested (another actor keeps changing it), if it is: its changes then wait. */
  contested?: (t: Target, resource: string) => string | undefined;
  /**
   * Called once the pass has read its secrets, before it decides anything, with a digest that changes
   * when any of them does: a new secret is a new desired value, not another actor's change.
   */
  secretsRead?: (t: Target, digest: string) => void;
  /** FILE:LINE:COL and the path of a place in the spec in force (from its path in the document). */
  locate?: (path: (string | number)[]) => string;
  /** Who is acting: recorded in the lease so a second daemon can say who holds it. */
  owner?: string;
  /**
   * The daemon's last SSH observation of each target, reused while younger than hostProbeSeconds, the
   * server answers SQL and nothing is about to change; plan and apply always probe.
   */
  probeCache?: Map<string, { at: number; results: Map<string, Map<string, unknown>> }>;
}

export interface PassOptions {
  /** False for `plan`: observe and plan only. */
  act: boolean;
  /** Bound on observe/act rounds in one pass. Defaults to 10. */
  maxSteps?: number;
  signal?: AbortSignal;
}

export function resourceName(kind: string, id: string): string {
  return `${kind} ${id}`;
}

/** The kind part of a resource name. */
export function kindOfResource(resource: string): string {
  const i = resource.indexOf(' ');
  return i === -1 ? resource : resource.slice(0, i);
}

function fmt(v: unknown): string {
  if (Array.isArray(v)) return v.length === 0 ? '(none)' : v.join(', ');
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}

/** One line for a drift item. */
export function describeDrift(d: Drift): string {
  if (d.field === 'present') return 'declared but missing';
  if (d.field === 'absent') return 'exists but not declared';
  return `${d.field} is ${fmt(d.observed)}, declared ${fmt(d.desired)}`;
}

/** Service commands of a host: its own, or systemd's on its unit. */
export function serviceCommands(host: Target['hostSpec']): ServiceCommands | undefined {
  const s = host.service;
  if (s === undefined) return undefined;
  if (s.commands !== undefined) {
    const c = s.commands;
    if (c.start === undefined || c.status === undefined) return undefined;
    const restart = c.restart ?? (c.stop === undefined ? undefined : `${c.stop} && ${c.start}`);
    return { start: c.start, status: c.status, ...(c.stop === undefined ? {} : { stop: c.stop }), ...(restart === undefined ? {} : { restart }), ...(c.reload === undefined ? {} : { reload: c.reload }) };
  }
  if (s.unit === undefined) return undefined;
  const u = shq(s.unit);
  return { start: `systemctl start ${u}`, stop: `systemctl stop ${u}`, restart: `systemctl restart ${u}`, reload: `systemctl reload ${u}`, status: `systemctl is-active --quiet ${u}` };
}

/** Classifies any failure: setpoint's own errors carry their class, the rest the engine's. */
export function classify(t: Target, err: unknown): ErrorClass {
  if (err instanceof SetpointError) return { terminal: err.terminal, code: err.code, message: err.message };
  return t.engine.classify(err);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function reconcile(t: Target, deps: PassDeps, opts: PassOptions): Promise<PassOutcome> {
  const maxSteps = opts.maxSteps ?? 10;
  const time = Date.now();
  const outcome: PassOutcome = {
    target: t, state: 'unknown', changes: [], made: 0, failed: 0, disrupted: false, actions: [], observedKinds: new Set(), complete: false,
    time, endedAt: time, statements: 0, bytesIn: 0, commands: 0,
  };

  // The shell first: a host key mismatch or refused key stops everything on this host.
  let ssh: SshSession | undefined;
  let sshError: ErrorClass | undefined;
  if (t.hostSpec.ssh !== undefined && deps.ssh !== undefined) {
    try {
      ssh = await deps.ssh.get(t.host, t.hostSpec.address, t.hostSpec.ssh);
    } catch (err) {
      sshError = classify(t, err);
      if (sshError.terminal) {
        outcome.error = sshError;
        outcome.state = 'stalled';
        return outcome;
      }
    }
  }
  const sshStart = ssh?.stats.commands ?? 0;
  let sql: Session | undefined;
  let sqlError: ErrorClass | undefined;
  const used = new Map<Session, { statements: number; bytesIn: number }>();
  const useSql = (s: Session) => {
    if (!used.has(s)) used.set(s, { statements: s.stats.statements, bytesIn: s.stats.bytesIn });
    sql = s;
    sqlError = undefined;
    outcome.server = s.server;
  };
  const connectSql = async () => {
    try {
      useSql(await deps.pool.get(t));
    } catch (err) {
      sql = undefined;
      sqlError = classify(t, err);
    }
  };
  await connectSql();
  if (sql === undefined && (ssh === undefined || sqlError?.terminal === true)) {
    const error = sqlError ?? sshError ?? { terminal: false, code: 'sql.unreachable', message: 'no connection' };
    outcome.error = error;
    outcome.state = error.terminal ? 'stalled' : 'failing';
    return outcome;
  }

  const service = serviceCommands(t.hostSpec);
  // Secrets are read once per pass, before anything is decided: diff and plan do no I/O.
  const secrets = await Secrets.read(secretRefs(t.clusterSpec).map((s) => s.ref));
  outcome.secretsDigest = secrets.digest();
  deps.secretsRead?.(t, outcome.secretsDigest);
  const makeCtx = (): KindContext => ({
    cluster: t.clusterSpec,
    host: t.hostSpec,
    hostName: t.host,
    facts: { ...(sql === undefined ? {} : t.engine.facts(sql)), packages: t.engine.packages ?? [] },
    prune: (cls) => pruneAllows(t.policy.prune, cls),
    ...(ssh === undefined ? {} : { ssh }),
    ...(service === undefined ? {} : { service }),
    secret: (ref) => secrets.get(ref),
    observed: (kind) => seen.get(kind),
  });
  // What each kind observed in the current round, by kind name (KindContext.observed).
  let seen = new Map<string, Map<string, unknown>>();
  const io: ActIO = {
    get sql() {
      return sql;
    },
    ...(ssh === undefined ? {} : { ssh }),
    log: deps.log,
    reconnect: async (timeoutMs: number) => {
      await deps.pool.drop(t);
      const end = Date.now() + timeoutMs;
      for (;;) {
        await connectSql();
        if (sql !== undefined) return;
        if (Date.now() > end) throw new SetpointError('sql.unreachable', `the server did not answer within ${Math.round(timeoutMs / 1000)} s: ${sqlError?.message ?? ''}`);
        await sleep(250);
      }
    },
  };

  let destructiveLeft = t.policy.destructiveBudget;
  // The session that holds the lease: a reconnect (after a restart) opens a new one that must take it again.
  let leasedOn: Session | undefined;
  let lastRun: string | undefined;
  let acting = opts.act;
  try {
    for (let step = 0; ; step++) {
      if (step > 0 && sql === undefined) await connectSql();
      const ctx = makeCtx();
      // Observe everything reachable, then decide: a partial observation allows only safe changes.
      const observedByKind = new Map<ResourceKind, Map<string, unknown>>();
      const missing: string[] = [];
      let fromCache = false;
      if (ssh !== undefined) {
        const cached = deps.probeCache?.get(t.key);
        if (step === 0 && sql !== undefined && cached !== undefined && Date.now() - cached.at < t.policy.hostProbeSeconds * 1000) {
          for (const k of t.engine.kinds) {
            const o = cached.results.get(k.kind);
            if (o !== undefined) observedByKind.set(k, o);
          }
          fromCache = true;
        } else {
          const results = await probeAll(ssh, t.engine.kinds, ctx);
          for (const [k, o] of results) observedByKind.set(k, o);
          deps.probeCache?.set(t.key, { at: Date.now(), results: new Map([...results].map(([k, o]) => [k.kind, o])) });
        }
      }
      for (const kind of t.engine.kinds) {
        if (observedByKind.has(kind)) continue;
        const transport = kind.transport ?? 'sql';
        if (transport === 'ssh' && t.hostSpec.ssh === undefined) continue;
        const session = transport === 'ssh' ? ssh : sql;
        if (session === undefined) {
          missing.push(kind.kind);
          continue;
        }
        observedByKind.set(kind, await kind.observe(session, ctx));
      }
      seen = new Map([...observedByKind].map(([k, o]) => [k.kind, o]));
      const observed = new Map<string, string>();
      const drift: Drift[] = [];
      const changes: Change[] = [];
      for (const [kind, o] of observedByKind) {
        for (const [id, state] of o) observed.set(resourceName(kind.kind, id), JSON.stringify(state));
        const desired = kind.desired(ctx);
        const d = kind.diff(desired, o, ctx);
        drift.push(...d);
        changes.push(...kind.plan(d, desired, o, ctx));
      }
      let stuck: Change | undefined;
      for (const c of changes) {
        if (c.blocked !== undefined && c.at !== undefined && deps.locate !== undefined) c.blocked = `${deps.locate(['clusters', t.cluster, ...c.at])} ${c.blocked}`;
        if (c.blocked !== undefined && c.needsHuman !== undefined) stuck ??= c;
        const contest = c.blocked === undefined ? deps.contested?.(t, resourceName(c.kind, c.id)) : undefined;
        if (contest !== undefined) c.blocked = contest;
        if (c.risk === 'disruptive' && c.blocked === undefined && deps.disruptedBefore?.has(changeKey(c)) === true) {
          c.blocked = 'this change was already made under the current file and the server still needs it: not repeating it (check the server, then edit the file or restart setpoint)';
        }
      }
      const complete = missing.length === 0;
      const reason = complete ? undefined : `observation incomplete (${(sqlError ?? sshError)?.message ?? missing.join(', ')})`;
      const decision = selectStep(complete ? changes : changes.filter((c) => c.risk === 'safe'), {
        mode: t.policy.mode,
        prune: t.policy.prune,
        destructiveLeft,
        destructiveBudget: t.policy.destructiveBudget,
        disruptive: deps.disruptive?.(t) ?? { allowed: false, reason: 'disruptive: no maintenance window is open' },
        ...(deps.paused?.(t) === undefined ? {} : { paused: deps.paused(t) as string }),
      });
      if (!complete) for (const c of changes) if (c.risk !== 'safe') decision.waiting.push({ change: c, reason: reason as string });
      const overBudget = decision.waiting.find((w) => w.code === 'budget');
      if (overBudget !== undefined) outcome.budgetExceeded = overBudget.reason;
      else delete outcome.budgetExceeded;
      if (stuck === undefined) delete outcome.needsHuman;
      else outcome.needsHuman = { reason: stuck.needsHuman as string, message: `${stuck.summary}: ${stuck.blocked ?? ''}` };
      outcome.observed = observed;
      outcome.observedKinds = new Set([...observedByKind.keys()].map((k) => k.kind));
      outcome.complete = complete;
      outcome.drift = drift.map((d) => ({ resource: resourceName(d.kind, d.id), field: d.field, summary: describeDrift(d), desired: d.desired, observed: d.observed }));
      const as = (c: Change, status: PlannedChange['status'], why?: string): PlannedChange => ({
        cluster: t.cluster, host: t.host, resource: resourceName(c.kind, c.id), action: c.action, risk: c.risk, summary: c.summary, status, ...(why === undefined ? {} : { reason: why }),
      });
      outcome.changes = [...decision.run.map((c) => as(c, 'run')), ...decision.pending.map((c) => as(c, 'pending')), ...decision.waiting.map((w) => as(w.change, 'waiting', w.reason))];
      outcome.endedAt = Date.now();
      // Nothing is changed on the strength of a reused host observation: look again first.
      if (fromCache && acting && decision.run.length > 0) continue;
      if (!acting || decision.run.length === 0 || aborted(opts.signal)) break;
      if (step === 0) {
        // Drift is journaled before anything is done about it: history reads drift -> action -> outcome.
        deps.history?.recordDrift(t, outcome.drift, deps.specVersion, time);
        for (const d of outcome.drift) deps.log.info('drift', { cluster: t.cluster, host: t.host, resource: d.resource, field: d.field, summary: d.summary });
      }
      if (step >= maxSteps) {
        // Not a failure: the next pass goes on at once.
        outcome.more = true;
        break;
      }
      // The lease in the server: two daemons never act on one server at once.
      if (leasedOn !== sql && deps.owner !== undefined && t.engine.lease !== undefined && sql !== undefined) {
        const lease = await t.engine.lease(sql, deps.owner);
        if (!lease.held) {
          outcome.leaseHolder = lease.holder;
          const why = `lease held by ${lease.holder}`;
          outcome.changes = outcome.changes.map((c) => (c.status === 'waiting' ? c : { ...c, status: 'waiting', reason: why }));
          break;
        }
        leasedOn = sql;
        if (lease.taken) outcome.leaseTaken = true;
      }
      const runKey = decision.run.map(changeKey).join('\n');
      if (runKey === lastRun) {
        outcome.error = { terminal: false, code: 'loop.no_progress', message: `changes ran but the server still needs them: ${decision.run[0]?.summary ?? ''}` };
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
        const ok = await act(t, io, c, deps);
        outcome.actions.push({ resource: resourceName(c.kind, c.id), summary: c.summary, risk: c.risk, ok: ok === true });
        if (ok === true) {
          outcome.made++;
          if (c.risk === 'destructive') destructiveLeft--;
        } else {
          outcome.failed++;
          outcome.error = classify(t, ok);
          if (sql?.broken === true || outcome.error.terminal) break;
        }
      }
      // After a failure, observe once more to record where things stand, but act no further this pass.
      if (outcome.failed > 0) acting = false;
    }
  } catch (err) {
    outcome.error = classify(t, err);
    outcome.endedAt = Date.now();
    delete outcome.drift;
    delete outcome.observed;
    outcome.observedKinds = new Set();
    outcome.complete = false;
    if (sql?.broken === true) await deps.pool.drop(t);
    if (ssh?.broken === true) deps.ssh?.drop(t.host);
  }
  const partial = sqlError ?? sshError;
  if (outcome.error === undefined && !outcome.complete && partial !== undefined) outcome.error = partial;
  for (const [s, start] of used) {
    outcome.statements += s.stats.statements - start.statements;
    outcome.bytesIn += s.stats.bytesIn - start.bytesIn;
  }
  outcome.commands = (ssh?.stats.commands ?? 0) - sshStart;
  outcome.state = stateOf(outcome, t);
  return outcome;
}

/**
 * Runs every probing ssh kind's snippet in one command, each in a subshell between markers that carry
 * a random nonce (so no output can forge one), and hands each kind its own output and exit code.
 */
async function probeAll(ssh: SshSession, kinds: readonly ResourceKind[], ctx: KindContext): Promise<Map<ResourceKind, Map<string, unknown>>> {
  const probing = kinds.filter((k) => k.transport === 'ssh' && k.probe !== undefined && k.parse !== undefined);
  const out = new Map<ResourceKind, Map<string, unknown>>();
  if (probing.length === 0) return out;
  const nonce = randomBytes(8).toString('hex');
  const script = probing
    .map((k, i) => `printf '\\n@@${nonce} ${i} begin\\n'\n( ${(k.probe as (c: KindContext) => string)(ctx)}\n) </dev/null\nprintf '\\n@@${nonce} ${i} end %s\\n' "$?"`)
    .join('\n');
  const r = await ssh.exec(script);
  for (const [i, k] of probing.entries()) {
    const begin = r.stdout.indexOf(`\n@@${nonce} ${i} begin\n`);
    const endRe = new RegExp(`\\n@@${nonce} ${i} end (\\d+)\\n`);
    const end = endRe.exec(r.stdout);
    if (begin === -1 || end === null) throw new SetpointError('ssh.probe', `${ssh.where}: the probe of ${k.kind} gave no answer (exit ${r.code ?? r.signal ?? '?'}): ${r.stderr.trim().slice(0, 300)}`);
    const stdout = r.stdout.slice(begin + `\n@@${nonce} ${i} begin\n`.length, end.index);
    out.set(k, (k.parse as NonNullable<ResourceKind['parse']>)({ stdout, code: Number(end[1]) }, ctx));
  }
  return out;
}

/** Identity of a change across observations. */
function changeKey(c: Change): string {
  return `${c.kind}|${c.id}|${c.action}|${c.summary}`;
}

function aborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

function stateOf(o: PassOutcome, t: Target): TargetState {
  if (o.error !== undefined && o.drift === undefined) return o.error.terminal ? 'stalled' : 'failing';
  if (o.error?.terminal === true || o.budgetExceeded !== undefined || o.needsHuman !== undefined) return 'stalled';
  if (o.failed > 0 || o.error !== undefined) return 'failing';
  if (o.drift === undefined) return 'unknown';
  if (o.drift.length === 0) return 'converged';
  if (t.policy.mode === 'observe') return 'drifted';
  return o.changes.some((c) => c.status !== 'waiting') ? 'drifted' : 'waiting';
}

/** Runs one change's statements and its `run`; journals it. Resolves to true, or to the error (never rejects). */
async function act(t: Target, io: ActIO, c: Change, deps: PassDeps): Promise<unknown> {
  const resource = resourceName(c.kind, c.id);
  const id = deps.history?.actionStarted(t, { resource, summary: c.summary, risk: c.risk, action: c.action, statements: [...c.statements.map((s) => s.sql), ...(c.commands ?? [])] }, deps.specVersion);
  deps.log.info('change', { cluster: t.cluster, host: t.host, resource, risk: c.risk, summary: c.summary });
  try {
    if (c.statements.length > 0) {
      const sql = io.sql;
      if (sql === undefined) throw new SetpointError('sql.unreachable', 'the server does not answer SQL');
      for (const s of c.statements) await sql.query(s.sql, s.params ?? [], { scope: s.scope });
    }
    if (c.run !== undefined) await c.run(io);
    if (id !== undefined) deps.history?.actionEnded(id, 'ok');
    return true;
  } catch (err) {
    const cls = classify(t, err);
    if (id !== undefined) deps.history?.actionEnded(id, 'failed', cls.message);
    deps.log.warn('change failed', { cluster: t.cluster, host: t.host, resource, error: cls.message });
    return err;
  }
}

/** The history record of a pass. */
export function passRecord(o: PassOutcome, specVersion: string, nextAt?: number): PassRecord {
  const waiting = o.changes.filter((c) => c.status === 'waiting');
  const message =
    o.error !== undefined
      ? o.error.message
      : o.drift === undefined
        ? undefined
        : o.drift.length === 0
          ? 'converged'
          : waiting.length > 0
            ? `${o.drift.length} drift; waiting: ${waiting
                .slice(0, 3)
                .map((w) => `${w.summary} (${w.reason ?? ''})`)
                .join('; ')}${waiting.length > 3 ? `; and ${waiting.length - 3} more` : ''}`
            : `${o.drift.length} drift`;
  return {
    cluster: o.target.cluster,
    host: o.target.host,
    time: o.endedAt,
    specVersion,
    ...(o.server === undefined ? {} : { server: o.server }),
    ...(o.observed === undefined ? {} : { observed: o.observed, kinds: o.observedKinds }),
    ...(o.drift === undefined ? {} : { drift: o.drift }),
    state: o.state,
    waiting: waiting.length,
    ...(message === undefined ? {} : { message }),
    ...(o.error === undefined ? {} : { error: o.error }),
    ...(nextAt === undefined ? {} : { nextAt }),
  };
}

export { messageOf };
