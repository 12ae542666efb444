/**
 * One pass over one target: observe (I/O, src/loop/observe.ts) -> decide (pure, src/loop/decide.ts)
 * -> act one step (I/O, journaled), repeated until nothing runnable is left. Level-triggered: every
 * step starts from a fresh observation, and a step never assumes its own success. A target has an SQL
 * session and, when its host declares ssh, a shell; what cannot be observed is Unknown, never empty,
 * and an incomplete observation allows only safe changes (starting a stopped service, for instance).
 */
import type {
  ActIO,
  BatchResult,
  Change,
  ErrorClass,
  KindContext,
  MemberTopology,
  Observation,
  ServiceCommands,
  Session,
} from '../engine.js';
import { SetpointError, messageOf } from '../errors.js';
import type { History, PassRecord } from '../history/store.js';
import type { Logger } from '../log.js';
import { declarationPath } from '../spec/declared.js';
import { describeRef, Secrets, secretRefs, secretRefsOnce } from '../secret.js';
import { kindOfResource, resourceName, type DriftRecord, type PlannedChange, type TargetState } from '../status.js';
import type { SessionPool } from '../transport/sessions.js';
import { shq, type SshPool, type SshSession } from '../transport/ssh.js';
import { changeKey, decide, describeDrift } from './decide.js';
import { observeRound, sshPart, type ProbeCache, type Round } from './observe.js';
import { pruneAllows, type StepPolicy } from './policy.js';
import type { ClusterTarget, Target } from './targets.js';

export type { PlannedChange };

export interface PassOutcome {
  target: Target | ClusterTarget;
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
  /** Cluster passes: each member's place in the topology, who takes writes, and what lasts (lag, an unreachable replica). */
  topology?: { members: MemberTopology[]; primary?: string; degraded?: string };
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
  /**
   * The target's role in its cluster's replication topology, when the cluster declares one (undefined
   * otherwise): changes of replicated kinds are made on the primary only.
   */
  role?: (t: Target) => 'primary' | 'replica' | 'unknown' | undefined;
  /** FILE:LINE:COL and the path of a place in the spec in force (from its path in the document). */
  locate?: (path: (string | number)[]) => string;
  /** Who is acting: recorded in the lease so a second daemon can say who holds it. */
  owner?: string;
  /**
   * The daemon's last SSH observation of each target, reused while younger than hostProbeSeconds, the
   * server answers SQL and nothing is about to change; plan and apply always probe.
   */
  probeCache?: ProbeCache;
}

export interface PassOptions {
  /** False for `plan`: observe and plan only. */
  act: boolean;
  /** Bound on observe/act rounds in one pass. Defaults to 10. */
  maxSteps?: number;
  signal?: AbortSignal;
}

export { describeDrift, kindOfResource, resourceName };

/** Service commands of a host: its own, or systemd's on its unit. */
export function serviceCommands(host: Target['hostSpec']): ServiceCommands | undefined {
  const s = host.service;
  if (s === undefined) return undefined;
  if (s.commands !== undefined) {
    const c = s.commands;
    if (c.start === undefined || c.status === undefined) return undefined;
    const restart = c.restart ?? (c.stop === undefined ? undefined : `${c.stop} && ${c.start}`);
    return {
      start: c.start,
      status: c.status,
      ...(c.stop === undefined ? {} : { stop: c.stop }),
      ...(restart === undefined ? {} : { restart }),
      ...(c.reload === undefined ? {} : { reload: c.reload }),
    };
  }
  if (s.unit === undefined) return undefined;
  const u = shq(s.unit);
  return {
    start: `systemctl start ${u}`,
    stop: `systemctl stop ${u}`,
    restart: `systemctl restart ${u}`,
    reload: `systemctl reload ${u}`,
    status: `systemctl is-active --quiet ${u}`,
  };
}

/** Classifies any failure: setpoint's own errors carry their class, the rest the engine's. */
export function classify(t: { engine: Target['engine'] }, err: unknown): ErrorClass {
  if (err instanceof SetpointError) return { terminal: err.terminal, code: err.code, message: err.message };
  return t.engine.classify(err);
}

/** `clusters.shop.databases[1]`: a place in the file, when its line is not known. */
function pathText(path: readonly (string | number)[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

/**
 * A refused login says what to fix: the host and address, the account, and the secret reference that
 * holds the password, with its place in the file when known (`FILE:LINE:COL hosts.db1.mysql.password`).
 */
export function connectError(
  t: Pick<Target, 'host' | 'hostSpec' | 'engine'>,
  e: ErrorClass,
  locate?: (path: (string | number)[]) => string,
): ErrorClass {
  if (e.code !== 'sql.auth') return e;
  const conn = (t.hostSpec as unknown as Record<string, unknown>)[t.engine.hostKey] as
    { port?: number; user?: string; password?: unknown } | undefined;
  const where = `${t.hostSpec.address}${conn?.port === undefined ? '' : `:${conn.port}`}`;
  const user = conn?.user === undefined ? '' : ` as ${conn.user}`;
  const path = ['hosts', t.host, t.engine.hostKey, 'password'];
  const ref = secretRefs(conn?.password)[0]?.ref;
  const declared = ref === undefined ? path.slice(0, 3) : path;
  const at = locate === undefined ? pathText(declared) : locate(declared).replace(/:$/, '');
  const fix =
    ref === undefined
      ? `no password is declared (${at}): declare one, e.g. password: { file: /etc/setpoint/${t.host}.pw }`
      : `check the password in ${describeRef(ref)} (${at})`;
  return { ...e, message: `host ${t.host} (${where}) refused the login${user}: ${e.message}; ${fix}` };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * One pass: observe -> decide -> act one step, repeated until nothing runnable is left (or the step
 * bound). Every step starts from a fresh observation; a step never assumes its own success.
 */
export async function reconcile(t: Target, deps: PassDeps, opts: PassOptions): Promise<PassOutcome> {
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
      sqlError = connectError(t, classify(t, err), deps.locate);
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
  const secrets = await Secrets.read(secretRefsOnce(t.clusterSpec));
  outcome.secretsDigest = secrets.digest();
  deps.secretsRead?.(t, outcome.secretsDigest);
  const context = (observations: Round['observations']): KindContext => ({
    cluster: t.clusterSpec,
    host: t.hostSpec,
    hostName: t.host,
    // SQL kinds run only with a session, so their facts are there; SSH kinds read the packages only.
    facts: sql === undefined ? { packages: t.engine.packages ?? [] } : (t.engine.facts(sql) as KindContext['facts']),
    prune: (cls) => pruneAllows(t.policy.prune, cls),
    ...(ssh === undefined ? {} : { ssh }),
    ...(service === undefined ? {} : { service }),
    secret: (ref) => secrets.get(ref),
    observation: <O, X>(kind: { kind: string }) =>
      [...observations].find(([k]) => k.kind === kind.kind)?.[1] as Observation<O, X> | undefined,
  });
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
        if (Date.now() > end)
          throw new SetpointError(
            'sql.unreachable',
            `the server did not answer within ${Math.round(timeoutMs / 1000)} s: ${sqlError?.message ?? ''}`,
          );
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
      // Observe (I/O). The daemon may reuse a recent host observation while the server answers SQL.
      const cached = deps.probeCache?.get(t.key);
      const reuse =
        step === 0 &&
        ssh !== undefined &&
        sql !== undefined &&
        cached !== undefined &&
        Date.now() - cached.at < t.policy.hostProbeSeconds * 1000;
      const { round, ctx } = await observeRound({
        kinds: t.engine.kinds,
        sql,
        ssh,
        sshDeclared: t.hostSpec.ssh !== undefined,
        context,
        cached: reuse ? cached.results : undefined,
      });
      if (ssh !== undefined && !round.fromCache)
        deps.probeCache?.set(t.key, { at: Date.now(), results: sshPart(round) });
      // Decide (pure).
      const decision = decide(
        t,
        round,
        ctx,
        {
          destructiveLeft,
          disruptive: deps.disruptive?.(t) ?? {
            allowed: false,
            reason: 'disruptive: no maintenance window is open',
            code: 'no-window',
          },
          paused: deps.paused?.(t),
          contested: (resource) => deps.contested?.(t, resource),
          ...(deps.disruptedBefore === undefined ? {} : { disruptedBefore: deps.disruptedBefore }),
          ...(deps.locate === undefined ? {} : { locate: deps.locate }),
          ...(deps.role?.(t) === undefined
            ? {}
            : { role: deps.role(t), topologyStarts: t.engine.topology?.startsMembers === true }),
        },
        (sqlError ?? sshError)?.message,
      );
      outcome.observed = decision.observed;
      outcome.observedKinds = decision.observedKinds;
      outcome.complete = decision.complete;
      outcome.drift = decision.drift;
      outcome.changes = decision.changes;
      if (decision.budgetExceeded === undefined) delete outcome.budgetExceeded;
      else outcome.budgetExceeded = decision.budgetExceeded;
      if (decision.needsHuman === undefined) delete outcome.needsHuman;
      else outcome.needsHuman = decision.needsHuman;
      outcome.endedAt = Date.now();
      // Nothing is changed on the strength of a reused host observation: look again first.
      if (round.fromCache && acting && decision.run.length > 0) continue;
      if (!acting || decision.run.length === 0 || aborted(opts.signal)) break;
      if (step === 0) {
        // Drift is journaled before anything is done about it: history reads drift -> action -> outcome.
        deps.history?.recordDrift(t, outcome.drift, deps.specVersion, time);
        for (const d of outcome.drift)
          deps.log.info('drift', {
            cluster: t.cluster,
            host: t.host,
            resource: d.resource,
            field: d.field,
            summary: d.summary,
          });
      }
      if (step >= maxSteps) {
        // Not a failure: the next pass goes on at once.
        outcome.more = true;
        break;
      }
      // Act (I/O): the lease in the server first, so two daemons never act on one server at once.
      if (leasedOn !== sql && deps.owner !== undefined && t.engine.lease !== undefined && sql !== undefined) {
        const lease = await t.engine.lease(sql, deps.owner);
        if (!lease.held) {
          outcome.leaseHolder = lease.holder;
          const why = `lease held by ${lease.holder}`;
          outcome.changes = outcome.changes.map((c) =>
            c.status === 'waiting' ? c : { ...c, status: 'waiting', reason: why, code: 'lease' },
          );
          break;
        }
        leasedOn = sql;
        if (lease.taken) {
          outcome.leaseTaken = true;
          // Logged here, before the first change it allows (history records it after the pass).
          deps.log.info('lease taken', { cluster: t.cluster, host: t.host, daemon: deps.owner });
        }
      }
      const runKey = decision.run.map(changeKey).join('\n');
      if (runKey === lastRun) {
        outcome.error = {
          terminal: false,
          code: 'loop.no_progress',
          message: `changes ran but the server still needs them: ${decision.run[0]?.summary ?? ''}`,
        };
        break;
      }
      lastRun = runKey;
      const run = decision.run;
      for (let i = 0; i < run.length;) {
        if (aborted(opts.signal)) break;
        const c = run[i] as Change;
        if (c.risk === 'disruptive') {
          i++;
          if (deps.takeDisruptive !== undefined && !deps.takeDisruptive(t)) continue;
          outcome.disrupted = true;
          deps.disruptedBefore?.add(changeKey(c));
        }
        // Statement-only changes the session can send together go in one round trip and one journal write.
        const batch = c.risk === 'disruptive' ? [] : batchFrom(run, i, io.sql);
        const results = batch.length > 1 ? await actBatch(t, io, batch, deps) : [await act(t, io, c, deps)];
        if (c.risk !== 'disruptive') i += results.length;
        let stop = false;
        for (const [k, ok] of results.entries()) {
          const done = (batch.length > 1 ? batch[k] : c) as Change;
          outcome.actions.push({
            resource: resourceName(done.kind, done.id),
            summary: done.summary,
            risk: done.risk,
            ok: ok === true,
          });
          if (ok === true) {
            outcome.made++;
            if (done.risk === 'destructive') destructiveLeft--;
          } else {
            outcome.failed++;
            outcome.error = classify(t, ok);
            if (sql?.broken === true || outcome.error.terminal) stop = true;
          }
        }
        if (stop) break;
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

function aborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

/** Runs one change's statements and its `run`; journals it. Resolves to true, or to the error (never rejects). */
async function act(t: Target, io: ActIO, c: Change, deps: PassDeps): Promise<unknown> {
  const resource = resourceName(c.kind, c.id);
  const id = deps.history?.actionStarted(
    t,
    {
      resource,
      summary: c.summary,
      risk: c.risk,
      action: c.action,
      statements: [...c.statements.map((s) => s.sql), ...(c.commands ?? [])],
    },
    deps.specVersion,
  );
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
    const cls = refused(t, c, classify(t, err), deps.locate);
    if (id !== undefined) deps.history?.actionEnded(id, 'failed', cls.message);
    deps.log.warn('change failed', { cluster: t.cluster, host: t.host, resource, error: cls.message });
    return new SetpointError(cls.code, cls.message, { terminal: cls.terminal, cause: err });
  }
}

/** At most this many changes share a round trip (and a journal transaction). */
const BATCH_CHANGES = 200;
/** ...and at most this much SQL text. */
const BATCH_BYTES = 256 * 1024;

/** The changes from `run[i]` on that may run as one batch: statement-only, not disruptive, each statement batchable. */
function batchFrom(run: readonly Change[], i: number, sql: Session | undefined): Change[] {
  if (sql?.batch === undefined || sql.batchable === undefined) return [];
  const out: Change[] = [];
  let bytes = 0;
  for (let j = i; j < run.length && out.length < BATCH_CHANGES; j++) {
    const c = run[j] as Change;
    if (c.risk === 'disruptive' || c.run !== undefined || c.statements.length === 0) break;
    if (!c.statements.every((s) => sql.batchable?.(s) === true)) break;
    bytes += c.statements.reduce((n, s) => n + s.sql.length, 0);
    if (out.length > 0 && bytes > BATCH_BYTES) break;
    out.push(c);
  }
  return out;
}

/**
 * Runs a batch of statement-only changes: journaled together before (one transaction), sent in as
 * few round trips as the session can, journaled together after. Resolves to one result per change
 * that ran (true, or its error), in order; the changes after a failed one did not run (their journal
 * entries are taken back) and are left to the caller.
 */
async function actBatch(t: Target, io: ActIO, batch: Change[], deps: PassDeps): Promise<unknown[]> {
  const sql = io.sql;
  const h = deps.history;
  const ids =
    h?.together(() =>
      batch.map((c) =>
        h.actionStarted(
          t,
          {
            resource: resourceName(c.kind, c.id),
            summary: c.summary,
            risk: c.risk,
            action: c.action,
            statements: c.statements.map((s) => s.sql),
          },
          deps.specVersion,
        ),
      ),
    ) ?? [];
  for (const c of batch)
    deps.log.info('change', {
      cluster: t.cluster,
      host: t.host,
      resource: resourceName(c.kind, c.id),
      risk: c.risk,
      summary: c.summary,
    });
  let r: BatchResult;
  try {
    if (sql?.batch === undefined) throw new SetpointError('sql.unreachable', 'the server does not answer SQL');
    r = await sql.batch(batch.map((c) => c.statements));
  } catch (err) {
    r = { done: 0, error: err };
  }
  const results: unknown[] = batch.slice(0, r.done).map(() => true);
  const failed = r.error === undefined ? undefined : batch[r.done];
  const cls = failed === undefined ? undefined : refused(t, failed, classify(t, r.error), deps.locate);
  if (failed !== undefined && cls !== undefined)
    results.push(new SetpointError(cls.code, cls.message, { terminal: cls.terminal, cause: r.error }));
  h?.together(() => {
    for (const [k, id] of ids.entries()) {
      if (k < r.done) h.actionEnded(id, 'ok');
      else if (k === r.done && cls !== undefined) h.actionEnded(id, 'failed', cls.message);
      else h.actionDiscarded(id);
    }
  });
  if (failed !== undefined && cls !== undefined)
    deps.log.warn('change failed', {
      cluster: t.cluster,
      host: t.host,
      resource: resourceName(failed.kind, failed.id),
      error: cls.message,
    });
  return results;
}

/**
 * A change the server refused says which resource, and where the file declares it
 * (`mysql.database orders: ... (declared at setpoint.yaml:12:9 clusters.shop.databases[0])`).
 */
export function refused(
  t: Pick<Target, 'cluster' | 'clusterSpec'>,
  c: Pick<Change, 'kind' | 'id' | 'at'>,
  e: ErrorClass,
  locate?: (path: (string | number)[]) => string,
): ErrorClass {
  if (!e.code.startsWith('sql.') || e.code === 'sql.unreachable') return e;
  const at = c.at ?? declarationPath(t.clusterSpec, c.id);
  const where =
    at === undefined
      ? ''
      : ` (declared at ${locate === undefined ? pathText(['clusters', t.cluster, ...at]) : locate(['clusters', t.cluster, ...at]).replace(/:$/, '')})`;
  return { ...e, message: `${resourceName(c.kind, c.id)}: ${e.message}${where}` };
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
