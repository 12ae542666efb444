/**
 * The contracts between the engine-agnostic framework (src/) and the agents (agents/<engine>/).
 * Nothing in src/ names an engine: an engine registers a connection schema, a cluster schema,
 * a way to open a session, and its resource kinds.
 */
import type { z } from 'zod';
import type { ErrorCode } from './errors.js';
import type { Logger } from './log.js';
import type { ClusterBase, HostSpec } from './spec/types.js';
import type { Secret, SecretRef } from './secret.js';
import type { Shell } from './transport/ssh.js';

/** How much harm a change can do. Policy decides which may run now. */
export type Risk = 'safe' | 'disruptive' | 'destructive';

/** A statement and its parameters. Parameters may be `Secret`s: the session reveals them to the server only. */
export interface Statement {
  sql: string;
  params?: readonly unknown[];
  /**
   * Which of the session's connections runs it, for a server the session reaches through several
   * (e.g. one per database); the session's main connection when omitted.
   */
  scope?: string;
}

/** The narrow SQL surface agents use; each engine's session implements it. */
export interface SqlClient {
  /** Runs one statement with positional parameters and returns its rows. */
  query<T = Record<string, unknown>>(
    sql: string,
    params?: readonly unknown[],
    opts?: { scope?: string | undefined },
  ): Promise<T[]>;
}

/** An open connection to one server, reused across passes. */
export interface Session extends SqlClient {
  /** Human description of the server, e.g. `MariaDB 10.11.19`. */
  readonly server: string;
  /** Counters since the session opened: statements sent and bytes received. */
  readonly stats: { statements: number; bytesIn: number };
  /** True once the connection is known to be broken; the pool then opens a new one. */
  readonly broken: boolean;
  close(): Promise<void>;
  /**
   * Runs groups of statements (a group is one change's) in order, in as few round trips as the server
   * allows where `batchable` says so, one by one otherwise. Resolves to how many groups ran to
   * completion; `error` is the failure of the group after them (the groups after that one did not run).
   * Sessions without it run every statement alone.
   */
  batch?(groups: readonly (readonly Statement[])[]): Promise<BatchResult>;
  /** Whether `s` may share a round trip with other statements (DDL the server runs in one request). */
  batchable?(s: Statement): boolean;
}

/** What `Session.batch` did: `done` groups completed; `error` stopped the next one. */
export interface BatchResult {
  done: number;
  error?: unknown;
}

/** One difference between the desired and the observed state of one resource. JSON-safe, no secrets. */
export interface Drift {
  /** Resource kind, e.g. `mysql.user`. */
  kind: string;
  /** Stable id of the resource within its kind, e.g. `'app'@'%'`. */
  id: string;
  /** `present` (declared, missing), `absent` (exists, not declared), or the field that differs. */
  field: string;
  desired: unknown;
  observed: unknown;
}

/** Which undeclared objects a change removes; gated by `prune`. */
export type PruneClass = 'databases' | 'users' | 'grants' | 'objects';

/** One change that moves a server toward the spec. */
export interface Change {
  kind: string;
  id: string;
  /** e.g. create, alter, drop, grant, revoke, set. */
  action: string;
  risk: Risk;
  /** One line for humans; never contains a secret. */
  summary: string;
  /** Changes of a lower phase run first within a step (databases before users before grants). */
  phase: number;
  statements: Statement[];
  /** Set when the change removes something undeclared: it runs only when `prune` allows that class. */
  prune?: PruneClass;
  /** Set when a precondition is not met yet (e.g. the table does not exist): the change waits, with this reason. */
  blocked?: string;
  /**
   * Set with `blocked` when only a human can unblock the change (an edit of the file or of the host):
   * the target is then Stalled, with this one-word reason (e.g. `ManagedPathIsSymlink`).
   */
  needsHuman?: string;
  /**
   * It starts a stopped database server. In a cluster whose topology owns its members' lifecycle
   * (PostgreSQL: a server must come back as the standby it should be), the topology pass does that instead.
   */
  starts?: boolean;
  /** Where the declaration behind the change is, as a path from the cluster (e.g. `['configFile', 'path']`): messages then say FILE:LINE:COL. */
  at?: (string | number)[];
  /** Work beyond SQL statements (SSH commands, waiting for a restart), run after `statements`. */
  run?: (io: ActIO) => Promise<void>;
  /** What `run` does, for history (commands without secrets). */
  commands?: string[];
}

/** What a change's `run` may use. */
export interface ActIO {
  /** The SQL session, when the server answers. */
  readonly sql: Session | undefined;
  /** The host's shell, when the host declares ssh. */
  ssh?: Shell;
  /** Waits until the server answers SQL again (after a start or restart); rejects after `timeoutMs`. */
  reconnect(timeoutMs: number): Promise<void>;
  log: Logger;
}

/** How to control the database service on a host: shell commands (systemd's by default). */
export interface ServiceCommands {
  start: string;
  /** Stop, restart and reload may be missing from declared commands; a restart then waits, saying so. */
  stop?: string;
  restart?: string;
  reload?: string;
  /** Exits 0 when the service is running. */
  status: string;
}

/**
 * What one kind observed in one round: its resources by id (each a JSON-safe state, recorded in
 * history), and whatever else it learned that is not a resource (which roles exist, which tables are
 * missing...) for its own diff and plan and for the kinds that `need` it. No state lives elsewhere.
 */
export interface Observation<O = unknown, X = undefined> {
  items: Map<string, O>;
  extra: X;
}

/** An observation with nothing beside its items. */
export function itemsOnly<O>(items: Map<string, O>): Observation<O> {
  return { items, extra: undefined };
}

/** Facts every engine's context carries (the host kinds read these). */
export interface BaseFacts {
  /** Package names whose installed version the host facts report (the first installed one). */
  packages: readonly string[];
  /** The server's data directory, when the session could read it. */
  dataDir?: string | undefined;
}

/**
 * What a kind's `desired`, `diff` and `plan` may know besides desired and observed state, typed by
 * the engine's cluster (inferred from its zod shape) and the facts its session learns. SQL kinds run
 * only with an SQL session, so their facts are all there; SSH kinds read `BaseFacts` only.
 */
export interface KindContext<C extends ClusterBase = ClusterBase, F extends BaseFacts = BaseFacts> {
  /** The cluster spec (validated). */
  cluster: C;
  /** The host this target is. */
  host: HostSpec;
  hostName: string;
  /** Facts the session learned (flavor, version, connection user...). */
  facts: F;
  /**
   * Whether policy lets setpoint remove undeclared things of a class. When it does not, those
   * things are not managed at all: not drift, not planned (prune off = additive, on = exact).
   */
  prune(cls: PruneClass): boolean;
  /** The host's shell, when the host declares ssh and it is connected. */
  ssh?: Shell;
  /** Service commands, when the host declares `service`. */
  service?: ServiceCommands;
  /**
   * The value of a secret reference of the spec, read once per pass before anything is decided (so
   * diff and plan do no I/O); throws the reading's error (missing, empty, not a regular file...).
   */
  secret(ref: SecretRef): Secret;
  /**
   * What a kind this one `needs` observed in this round; undefined when it could not be observed.
   * Typed by the kind: `ctx.observation(roles)?.extra.all`.
   */
  observation<O, X>(kind: {
    readonly kind: string;
    observe(...args: never[]): Promise<Observation<O, X>>;
  }): Observation<O, X> | undefined;
}

/** Any resource kind, whatever its types (the framework's view). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyKind = ResourceKind<any, any, any, any, any>;

/**
 * One resource kind of one engine: small and uniform.
 * observe() sends a fixed number of catalog queries whatever the number of objects.
 * desired(), diff() and plan() are pure functions of their arguments (no I/O, no state kept between calls).
 */
export interface ResourceKind<
  D = unknown,
  O = unknown,
  S = Session,
  Ctx extends KindContext = KindContext,
  X = undefined,
> {
  /** e.g. `mysql.database`. */
  readonly kind: string;
  /** The connection observe() needs: `sql` (default) or `ssh` (skipped on hosts without ssh). */
  readonly transport?: 'sql' | 'ssh';
  /**
   * What it changes reaches every member by replication (databases, accounts, grants): in a cluster
   * with a replication topology its changes are made on the primary only, and wait on the others.
   */
  readonly replicated?: boolean;
  /**
   * Kinds whose observation this one reads (`ctx.observation(kind)`): they are observed before it,
   * whatever the order of the engine's list. SSH kinds are probed together before every SQL kind, so
   * an SSH kind reads what it needs of an SQL kind in diff and plan only.
   */
  readonly needs?: readonly AnyKind[];
  /**
   * For ssh kinds: a shell snippet whose output `parse` reads. Every ssh kind's snippet of a pass runs
   * in one command (one SSH round trip per pass, however many kinds); observe() is then not called.
   */
  probe?(ctx: Ctx): string;
  parse?(out: { stdout: string; code: number }, ctx: Ctx): Observation<O, X>;
  desired(ctx: Ctx): Map<string, D>;
  observe(session: S, ctx: Ctx): Promise<Observation<O, X>>;
  diff(desired: Map<string, D>, observed: Observation<O, X>, ctx: Ctx): Drift[];
  plan(drift: Drift[], desired: Map<string, D>, observed: Observation<O, X>, ctx: Ctx): Change[];
}

/** One member as the cluster-level pass sees it: its SQL session when it answers, else why not. */
export interface MemberSession<S = Session> {
  name: string;
  host: HostSpec;
  session: S | undefined;
  error?: ErrorClass;
  /** Its shell, when its host declares ssh and it could be reached. */
  ssh?: Shell;
  /** How to control its database service, when its host declares `service`. */
  service?: ServiceCommands;
}

/** A member's place in the topology as status, metrics and history show it, whatever the engine. */
export interface MemberTopology {
  member: string;
  /** `primary`: takes writes; `replica`: follows `source`; `standalone`: neither; `unknown`: not observed. */
  role: 'primary' | 'replica' | 'standalone' | 'unknown';
  writable: boolean | null;
  /** The member it replicates from (or the address, when it is not a member). */
  source: string | null;
  /** Both replication threads (or the WAL receiver) run. */
  replicating: boolean | null;
  lagSeconds: number | null;
  /** How far behind in bytes of WAL, where the engine counts so (PostgreSQL). */
  lagBytes?: number | null;
  /** PostgreSQL: the timeline it is on. */
  timeline?: number | null;
  /** Where it is: a GTID set or position, an LSN. */
  position: string | null;
  /** The last replication error, if any. */
  error: string | null;
}

/** What a topology's `desired` and `decide` know of the cluster. */
export interface ClusterContext<C extends ClusterBase = ClusterBase> {
  clusterName: string;
  cluster: C;
  /** Each member's host spec, by member name. */
  hosts: Record<string, HostSpec>;
  /** The value of a secret reference, read once per pass before anything is decided. */
  secret(ref: SecretRef): Secret;
  /** Whether policy lets setpoint remove undeclared things of a class (replication slots are `objects`). */
  prune(cls: PruneClass): boolean;
}

/** What a cluster change's `run` may use. */
export interface ClusterIO<S extends Session = Session> {
  /** A member's session; throws when the member does not answer. */
  sql(member: string): S;
  /** A member's shell; throws when its host declares no ssh or it cannot be reached. */
  ssh(member: string): Shell;
  /** How to control a member's database service, when its host declares `service`. */
  service(member: string): ServiceCommands | undefined;
  /** Waits until a member answers SQL again (after a start or restart); rejects after `timeoutMs`. */
  reconnect(member: string, timeoutMs: number): Promise<void>;
  /** Records a sub-step of the change in history (with its positions), as it happens. */
  note(summary: string, detail?: Record<string, unknown>): void;
  log: Logger;
}

/** A change the cluster-level pass makes: it may touch several members, in a set order. */
export interface ClusterChange<S extends Session = Session> extends Omit<Change, 'statements' | 'run' | 'scope'> {
  /** The members it touches, in the order it touches them. */
  members: string[];
  /**
   * A step of a procedure already begun (a switchover past its first step): it goes forward whatever
   * the maintenance windows say (stopping half way would leave the cluster without a primary).
   */
  forward?: boolean;
  /** Statements and commands it runs, without secrets, for history. */
  commands: string[];
  /** How long the servers need after it before a look means anything (a replica connecting). Defaults to 0. */
  settleMs?: number;
  /** Runs the change. A change that has a point of no return rolls back itself when a gate fails before it. */
  run(io: ClusterIO<S>): Promise<void>;
}

/** The decision of a topology over one observation of every member. */
export interface TopologyPlan<S extends Session = Session> {
  drift: Drift[];
  /** Every change that would move the topology toward the file; policy picks the step. */
  changes: ClusterChange<S>[];
  /** Each member's place, for status and metrics. */
  members: MemberTopology[];
  /** The member taking writes now; undefined when none (or when it cannot be told). */
  primary?: string;
  /** A lasting condition that is not a change to make (a lagging or unreachable replica): Degraded, with why. */
  degraded?: string;
}

/**
 * The replication topology of an engine: observed over every member at once, decided purely. Driven
 * by the cluster-level pass (src/loop/cluster.ts), which owns leases, gates and history.
 */
export interface Topology<D = unknown, O = unknown, S extends Session = Session, C extends ClusterBase = ClusterBase> {
  /** e.g. `mysql.replication`. */
  readonly kind: string;
  /** The declared topology; undefined when the cluster declares none (no cluster pass then). */
  desired(ctx: ClusterContext<C>): D | undefined;
  /** The member the declared topology names primary. */
  primaryOf(desired: D): string;
  /**
   * The topology starts its members' stopped servers itself (as primary or standby): the member passes
   * then never start one. Defaults to false (a member pass starts a stopped server).
   */
  readonly startsMembers?: boolean;
  /**
   * One observation of every member (a member without a session is observed as unreachable). `previous`
   * is the last observation of this cluster in this process, for what does not change while a member is
   * down (where its data directory is): never for what the loop decides on.
   */
  observe(members: MemberSession<S>[], desired: D, ctx: ClusterContext<C>, previous: O | undefined): Promise<O>;
  /**
   * What `previous` must survive a restart of the daemon with (a stopped member's data directory): `keep`
   * makes it JSON (no secrets: it is stored in the history file), `restore` turns it back into an
   * observation for `previous` when this process has none yet.
   */
  readonly memory?: { keep(observed: O): unknown; restore(kept: unknown): O | undefined };
  /** Pure: the drift, the changes, and each member's place. */
  decide(desired: D, observed: O, ctx: ClusterContext<C>): TopologyPlan<S>;
}

/** How a failure should be treated by the loop. */
export interface ErrorClass {
  terminal: boolean;
  /** Stable short code, e.g. `sql.auth`, `sql.unreachable`. */
  code: ErrorCode;
  message: string;
}

/** Any engine, whatever its connection and session types (the framework's view of the registry). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyEngine = Engine<any, any, any>;

/** An engine: the `engine:` value of a cluster, and everything the framework needs to drive it. */
export interface Engine<C = unknown, S extends Session = Session, F extends BaseFacts = BaseFacts> {
  /** The value of `engine:` in a cluster. */
  readonly name: string;
  /** The key under `hosts.<name>` that holds this engine's connection settings. */
  readonly hostKey: string;
  readonly connectionSchema: z.ZodType<C>;
  /** Engine-specific cluster fields, merged with the common ones (engine, members, mode, prune...). */
  readonly clusterShape: z.ZodRawShape;
  /** Cross-field checks on one cluster; report problems with paths relative to the cluster. */
  checkCluster?(cluster: Record<string, unknown>, report: (path: (string | number)[], message: string) => void): void;
  /** Opens a session to the host's server. */
  /** `owner` names the daemon, for the server's own view of its clients (e.g. who holds the lease). */
  connect(host: HostSpec, conn: C, opts: { timeoutMs: number; statementTimeoutMs: number; owner?: string }): Promise<S>;
  /** The engine's kinds; each has its own desired and observed types. Listed in any order: `needs` orders them. */
  readonly kinds: readonly AnyKind[];
  /** The replication topology, when the engine manages one (a cluster-level pass beside the member passes). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly topology?: Topology<any, any, S, any>;
  /** Facts to learn once per session (flavor, version, data directory...), with the packages. */
  facts(session: S): F;
  /**
   * Takes (or confirms) the lease on this server for `owner` before acting, so two daemons never act
   * on one server at once; held for the session's life. `taken` is true when it was taken just now.
   * When another holds it, says who.
   */
  lease?(session: S, owner: string): Promise<{ held: true; taken: boolean } | { held: false; holder: string }>;
  /** Package names whose installed version the host facts report (the first installed one). */
  readonly packages?: readonly string[];
  classify(err: unknown): ErrorClass;
}

/** A change that does nothing and waits for a human: the topology is Stalled with `reason` and why. */
export function holdChange<S extends Session>(
  kind: string,
  id: string,
  summary: string,
  why: string,
  reason: string,
): ClusterChange<S> {
  return {
    kind,
    id,
    action: 'hold',
    risk: 'safe',
    phase: 0,
    summary,
    members: [],
    commands: [],
    run: () => Promise.resolve(),
    blocked: why,
    needsHuman: reason,
  };
}
