/**
 * mysql.replication: the replication topology of a cluster, as desired state. The primary is
 * writable; every other member is read-only and replicates from the primary with GTID
 * auto-positioning (MySQL SOURCE_AUTO_POSITION, MariaDB MASTER_USE_GTID=slave_pos). A replica pointing
 * elsewhere is re-pointed, stopped threads are started again; a new `primary:` is a planned switchover
 * made step by step: fence the old primary (read-only) -> wait until the candidate has applied every
 * GTID of it (bounded; a timeout rolls back) -> promote the candidate (the point of no return) ->
 * re-point the others. It never guesses on data: errant transactions, an SQL-thread error or two
 * writable members stop it with a message a DBA can act on; nothing is skipped or reset.
 *
 * observe() reads each member (two statements); decide() is pure. The cluster pass (src/loop/cluster.ts)
 * takes every member's lease, gates disruptive steps and records each step.
 */
import {
  holdChange,
  type ClusterChange,
  type Drift,
  type MemberSession,
  type MemberTopology,
  type Topology,
  type TopologyPlan,
} from '../../src/engine.js';
import { PassThrough } from 'node:stream';
import { SetpointError } from '../../src/errors.js';
import type { Secret, SecretRef } from '../../src/secret.js';
import { shq } from '../../src/transport/ssh.js';
import { binlogCovers, errantGtids } from './gtid.js';
import { atLeast, type Flavor, type MysqlSession } from './session.js';
import type { MysqlCluster, ReplicationSpec } from './spec.js';

const KIND = 'mysql.replication';

/** A member's replica configuration and threads, as SHOW SLAVE/REPLICA STATUS gives them. */
export interface ReplicaState {
  host: string;
  port: number;
  user: string;
  /** Yes, No or Connecting. */
  io: string;
  sql: string;
  lagSeconds: number | null;
  ioErrno: number;
  ioError: string;
  sqlErrno: number;
  sqlError: string;
  /** GTID auto-positioning is on (MariaDB: Using_Gtid is not No; MySQL: Auto_Position = 1). */
  gtid: boolean;
  ssl: boolean;
  /** MariaDB: the last GTID received (Gtid_IO_Pos); MySQL: Retrieved_Gtid_Set. */
  received: string;
}

/** One member's replication state. */
export interface MemberReplication {
  member: string;
  reachable: boolean;
  /** Why it could not be observed. */
  error?: string;
  flavor?: Flavor;
  readOnly: boolean;
  serverId: number;
  /** MariaDB: gtid_binlog_state (every origin's last seq); MySQL: gtid_executed. */
  gtidState: string;
  /** MariaDB: gtid_binlog_pos and gtid_slave_pos; MySQL: gtid_executed in both. */
  binlogPos: string;
  slavePos: string;
  replica: ReplicaState | null;
  /** The replication account exists on it (replicas connect to the primary's). */
  account: boolean;
  /** Databases besides the system schemas. */
  userSchemas: number;
  /**
   * The transactions its binary logs no longer hold (MariaDB: the Gtid_list of its oldest binary log;
   * MySQL: gtid_purged). Read from the declared primary only while some member is empty; '' otherwise.
   */
  purged: string;
}

export type ReplicationObserved = Map<string, MemberReplication>;

export interface ReplicationWant extends ReplicationSpec {
  /**
   * Where each member is reached for replication (address and port of its mysql connection), the
   * admin account setpoint logs in with, and whether its host declares ssh (seeding needs it).
   */
  endpoints: Record<string, { host: string; port: number; user?: string; password?: SecretRef; ssh?: boolean }>;
}

/** The admin account of each member, its secret read (for a dump piped between hosts). */
export type Admins = Record<string, { user: string; password?: Secret }>;

const str = (v: unknown): string =>
  typeof v === 'string'
    ? v
    : typeof v === 'number' || typeof v === 'bigint'
      ? String(v)
      : Buffer.isBuffer(v)
        ? v.toString('utf8')
        : '';
const num = (v: unknown) => (v === null || v === undefined || v === '' ? null : Number(v));

/** A SHOW SLAVE/REPLICA STATUS row, either dialect's column names. */
export function replicaFrom(row: Record<string, unknown> | undefined): ReplicaState | null {
  if (row === undefined) return null;
  const pick = (...names: string[]) => names.map((n) => row[n]).find((v) => v !== undefined);
  const using = str(pick('Using_Gtid'));
  return {
    host: str(pick('Master_Host', 'Source_Host')),
    port: Number(pick('Master_Port', 'Source_Port') ?? 0),
    user: str(pick('Master_User', 'Source_User')),
    io: str(pick('Slave_IO_Running', 'Replica_IO_Running')),
    sql: str(pick('Slave_SQL_Running', 'Replica_SQL_Running')),
    lagSeconds: num(pick('Seconds_Behind_Master', 'Seconds_Behind_Source')),
    ioErrno: Number(pick('Last_IO_Errno') ?? 0),
    ioError: str(pick('Last_IO_Error')),
    sqlErrno: Number(pick('Last_SQL_Errno') ?? 0),
    sqlError: str(pick('Last_SQL_Error')),
    gtid: using !== '' ? using.toLowerCase() !== 'no' : Number(pick('Auto_Position') ?? 0) === 1,
    ssl: str(pick('Master_SSL_Allowed', 'Source_SSL_Allowed')).toLowerCase() === 'yes',
    received: str(pick('Gtid_IO_Pos', 'Retrieved_Gtid_Set')),
  };
}

/** MySQL 8.0.22 and later speak of sources and replicas. */
function replicaWords(f: Flavor): boolean {
  return f.kind === 'mysql' && atLeast(f, 8, 0) && (f.minor > 0 || f.patch >= 22);
}

/** A member that could not be observed. */
function unreachable(member: string, error: string): MemberReplication {
  return {
    member,
    reachable: false,
    error,
    readOnly: false,
    serverId: 0,
    gtidState: '',
    binlogPos: '',
    slavePos: '',
    replica: null,
    account: false,
    userSchemas: 0,
    purged: '',
  };
}

/** Nothing in it: no databases of its own, no transaction logged or applied (a fresh server). */
export function isEmpty(o: MemberReplication): boolean {
  return o.reachable && o.userSchemas === 0 && o.gtidState === '' && o.slavePos === '';
}

/** What the primary's binary logs no longer hold (a fresh member cannot catch up by replication alone). */
async function purgedOn(s: MysqlSession): Promise<string> {
  if (s.flavor.kind !== 'mariadb') {
    const [v] = await s.query<{ p: unknown }>('SELECT @@gtid_purged AS p');
    return str(v?.p).replace(/\s+/g, '');
  }
  const logs = await s.query<Record<string, unknown>>('SHOW BINARY LOGS');
  const first = str(logs[0]?.Log_name);
  if (first === '') return '';
  const events = await s.query<Record<string, unknown>>('SHOW BINLOG EVENTS IN ? LIMIT 4', [first]);
  const list = events.find((e) => str(e.Event_type) === 'Gtid_list');
  return str(list?.Info)
    .replace(/^\[|\]$/g, '')
    .trim();
}

async function observeMember(m: MemberSession<MysqlSession>, want: ReplicationWant): Promise<MemberReplication> {
  const s = m.session;
  if (s === undefined) return unreachable(m.name, m.error?.message ?? 'not reachable');
  const f = s.flavor;
  // Whether the replication account exists on it: replicas are pointed at the primary only once it does.
  const account =
    "(SELECT COUNT(*) FROM mysql.user WHERE User = ? AND Host = ?) AS ra, (SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')) AS us";
  const maria = f.kind === 'mariadb';
  const [v] = await s.query<Record<string, unknown>>(
    maria
      ? `SELECT @@read_only AS ro, @@server_id AS sid, @@gtid_binlog_state AS bs, @@gtid_binlog_pos AS bp, @@gtid_slave_pos AS sp, ${account}`
      : `SELECT @@read_only AS ro, @@server_id AS sid, @@gtid_executed AS bs, @@gtid_executed AS bp, @@gtid_executed AS sp, ${account}`,
    [want.user, want.host],
  );
  const [r] = await s.query<Record<string, unknown>>(replicaWords(f) ? 'SHOW REPLICA STATUS' : 'SHOW SLAVE STATUS');
  const gtids = (x: unknown) => (maria ? str(x) : str(x).replace(/\s+/g, ''));
  return {
    member: m.name,
    reachable: true,
    flavor: f,
    readOnly: Number(v?.ro) === 1,
    serverId: Number(v?.sid ?? 0),
    gtidState: gtids(v?.bs),
    binlogPos: gtids(v?.bp),
    slavePos: gtids(v?.sp),
    replica: replicaFrom(r),
    account: Number(v?.ra) > 0,
    userSchemas: Number(v?.us ?? 0),
    purged: '',
  };
}

/** The statements of one flavor. */
function dialect(f: Flavor) {
  const words = replicaWords(f);
  const maria = f.kind === 'mariadb';
  return {
    stop: words ? 'STOP REPLICA' : 'STOP SLAVE',
    start: words ? 'START REPLICA' : 'START SLAVE',
    reset: words ? 'RESET REPLICA ALL' : 'RESET SLAVE ALL',
    readOnly: maria ? ['SET GLOBAL read_only = ON'] : ['SET GLOBAL read_only = ON', 'SET GLOBAL super_read_only = ON'],
    writable: maria
      ? ['SET GLOBAL read_only = OFF']
      : ['SET GLOBAL super_read_only = OFF', 'SET GLOBAL read_only = OFF'],
    change: (ssl: boolean) =>
      words
        ? `CHANGE REPLICATION SOURCE TO SOURCE_HOST = ?, SOURCE_PORT = ?, SOURCE_USER = ?, SOURCE_PASSWORD = ?, SOURCE_AUTO_POSITION = 1, SOURCE_SSL = ${ssl ? 1 : 0}`
        : maria
          ? `CHANGE MASTER TO MASTER_HOST = ?, MASTER_PORT = ?, MASTER_USER = ?, MASTER_PASSWORD = ?, MASTER_USE_GTID = slave_pos, MASTER_SSL = ${ssl ? 1 : 0}`
          : `CHANGE MASTER TO MASTER_HOST = ?, MASTER_PORT = ?, MASTER_USER = ?, MASTER_PASSWORD = ?, MASTER_AUTO_POSITION = 1, MASTER_SSL = ${ssl ? 1 : 0}`,
    /** Waits until the session has applied `pos`; answers 0 when it has, within `seconds`. */
    wait: maria ? 'SELECT MASTER_GTID_WAIT(?, ?) AS r' : 'SELECT WAIT_FOR_EXECUTED_GTID_SET(?, ?) AS r',
    position: maria ? 'SELECT @@gtid_binlog_pos AS p' : 'SELECT @@gtid_executed AS p',
  };
}

/** The member a replica's source address is, if it is one. */
function sourceMember(r: ReplicaState, want: ReplicationWant): string | undefined {
  return Object.entries(want.endpoints).find(
    ([, e]) => e.host.toLowerCase() === r.host.toLowerCase() && e.port === r.port,
  )?.[0];
}

function replicating(r: ReplicaState | null): boolean {
  return r !== null && r.io.toLowerCase() === 'yes' && r.sql.toLowerCase() === 'yes';
}

/** Configured to follow a source (threads running or not): what RESET SLAVE ALL removes. */
function following(r: ReplicaState | null): r is ReplicaState {
  return r !== null && r.host !== '';
}

// The source purged binary logs the replica needs (MySQL 8 reports 13114 for a replica asking for purged GTIDs).
const PURGED_ERRNOS = new Set([1236, 13114]);

/**
 * A client option file naming the admin account, base64 on one line: the remote shell decodes it
 * into a 0600 temporary file, so the password is never on a command line or in history.
 */
function optionFile(a: { user: string; password?: Secret } | undefined): string {
  const q = (v: string) => `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  const lines = ['[client]', `user=${q(a?.user ?? 'root')}`];
  if (a?.password !== undefined) lines.push(`password=${q(a.password.reveal())}`);
  return Buffer.from(`${lines.join('\n')}\n`).toString('base64');
}

/** Reads the option file line, then runs `tool` (the first of `names` on the host's PATH) with it. */
function withOptions(names: string[], args: string): string {
  const find = names.map((n) => `command -v ${n}`).join(' || ');
  return [
    'umask 077',
    'f=$(mktemp) || exit 1',
    `trap 'rm -f "$f"' EXIT`,
    'IFS= read -r b',
    `printf '%s' "$b" | base64 -d > "$f" || exit 1`,
    `t=$(${find}) || { echo 'none of ${names.join(', ')} is installed on this host' >&2; exit 127; }`,
    `"$t" --defaults-extra-file="$f" ${args}`,
  ].join('; ');
}

function dumpCommand(e: { host: string; port: number }, args: string[]): string {
  return withOptions(
    ['mariadb-dump', 'mysqldump'],
    `--host=${shq(e.host)} --port=${e.port} --protocol=TCP ${args.join(' ')}`,
  );
}

/** The load: the member's own binary log off for the session, so the dump gives it no GTIDs of its own. */
function loadCommand(e: { host: string; port: number }, maria: boolean): string {
  const client = withOptions(
    ['mariadb', 'mysql'],
    `--host=${shq(e.host)} --port=${e.port} --protocol=TCP --binary-mode`,
  );
  // MySQL's dump sets SQL_LOG_BIN = 0 itself (--set-gtid-purged=ON); MariaDB's does not.
  return maria
    ? client.replace(/"\$t" --defaults/, `{ echo 'SET SESSION sql_log_bin = 0;'; cat; } | "$t" --defaults`)
    : client;
}

// Access denied: the replication password changed (a rotated secret); CHANGE MASTER again with the new one.
const AUTH_ERRNOS = new Set([1045, 1698, 2061]);

/** A member's place, for status and metrics. */
function placeOf(o: MemberReplication, want: ReplicationWant, primary: string | undefined): MemberTopology {
  if (!o.reachable)
    return {
      member: o.member,
      role: 'unknown',
      writable: null,
      source: null,
      replicating: null,
      lagSeconds: null,
      position: null,
      error: o.error ?? null,
    };
  const r = o.replica;
  const src = following(r) ? (sourceMember(r, want) ?? `${r.host}:${r.port}`) : null;
  const err =
    r === null
      ? null
      : r.sqlErrno !== 0
        ? `SQL thread: ${r.sqlError} (${r.sqlErrno})`
        : r.ioErrno !== 0
          ? `IO thread: ${r.ioError} (${r.ioErrno})`
          : null;
  return {
    member: o.member,
    role: o.member === primary ? 'primary' : src !== null ? 'replica' : 'standalone',
    writable: !o.readOnly,
    source: src,
    replicating: src === null ? null : replicating(r),
    lagSeconds: r?.lagSeconds ?? null,
    position: o.binlogPos === '' ? null : o.binlogPos,
    error: err,
  };
}

/** The member taking writes now: writable and not following anyone; undefined when none or several. */
export function currentPrimary(observed: ReplicationObserved): string | undefined {
  const w = [...observed.values()].filter((o) => o.reachable && !o.readOnly && !following(o.replica));
  return w.length === 1 ? w[0]?.member : undefined;
}

export const replication: Topology<ReplicationWant, ReplicationObserved, MysqlSession, MysqlCluster> = {
  kind: KIND,

  desired(ctx) {
    const r = ctx.cluster.replication;
    if (r === undefined) return undefined;
    const endpoints: ReplicationWant['endpoints'] = {};
    for (const m of ctx.cluster.members) {
      const h = ctx.hosts[m];
      const conn = h?.mysql as { port?: number; user?: string; password?: SecretRef } | undefined;
      if (h !== undefined)
        endpoints[m] = {
          host: h.address,
          port: conn?.port ?? 3306,
          user: conn?.user ?? 'root',
          ...(conn?.password === undefined ? {} : { password: conn.password }),
          ssh: h.ssh !== undefined,
        };
    }
    return { ...r, endpoints };
  },

  primaryOf(want) {
    return want.primary;
  },

  async observe(members, want) {
    const states = await Promise.all(
      members.map(async (m) => {
        try {
          return await observeMember(m, want);
        } catch (err) {
          return unreachable(m.name, err instanceof Error ? err.message : String(err));
        }
      }),
    );
    const observed = new Map(states.map((x) => [x.member, x]));
    // Only while a member is empty: can the declared primary still feed it from its binary logs?
    const p = observed.get(want.primary);
    const session = members.find((m) => m.name === want.primary)?.session;
    if (p?.reachable === true && session !== undefined && states.some((o) => o.member !== p.member && isEmpty(o)))
      p.purged = await purgedOn(session).catch(() => '');
    return observed;
  },

  decide(want, observed, ctx) {
    const admins: Admins = {};
    for (const [m, e] of Object.entries(want.endpoints))
      admins[m] = { user: e.user ?? 'root', ...(e.password === undefined ? {} : { password: ctx.secret(e.password) }) };
    return decideReplication(want, observed, ctx.secret(want.password), ctx.clusterName, admins);
  },
};

/**
 * The pure decision. `password` is the replication secret (it goes into CHANGE MASTER as a parameter
 * and never into a summary or history).
 */
export function decideReplication(
  want: ReplicationWant,
  observed: ReplicationObserved,
  password: Secret,
  cluster: string,
  admins: Admins = {},
): TopologyPlan<MysqlSession> {
  const P = want.primary;
  const drift: Drift[] = [];
  const changes: ClusterChange<MysqlSession>[] = [];
  const lasting: string[] = [];
  const all = [...observed.values()];
  const reachable = all.filter((o) => o.reachable);
  const p = observed.get(P);
  const current = currentPrimary(observed);
  const members = all.map((o) => placeOf(o, want, current));
  const plan = (): TopologyPlan<MysqlSession> => ({
    drift,
    changes,
    members,
    ...(current === undefined ? {} : { primary: current }),
    ...(lasting.length > 0 ? { degraded: lasting.join('; ') } : {}),
  });
  const flavor = reachable.find((o) => o.flavor !== undefined)?.flavor;
  if (flavor === undefined) {
    lasting.push('no member can be reached');
    return plan();
  }
  const d = dialect(flavor);
  const add = (c: Omit<ClusterChange<MysqlSession>, 'kind' | 'id'> & { id?: string }) =>
    changes.push({ kind: KIND, id: c.id ?? cluster, ...c });
  const stuck = (id: string, summary: string, why: string, reason: string) =>
    changes.push(holdChange<MysqlSession>(KIND, id, summary, why, reason));
  const errantOn = (m: MemberReplication, ref: MemberReplication) =>
    errantGtids(m.gtidState, ref.gtidState, flavor.kind);
  const repoint = (m: MemberReplication, to: string): void => {
    const e = want.endpoints[to];
    if (e === undefined) return;
    // MariaDB: a member that wrote its own transactions (a former primary) starts from what it has
    // logged, not from an older gtid_slave_pos; only when its binlog covers the slave position.
    const fromBinlog = flavor.kind === 'mariadb' && m.binlogPos !== m.slavePos && binlogCovers(m.binlogPos, m.slavePos);
    const statements = [
      ...(following(m.replica) ? [d.stop] : []),
      ...(fromBinlog ? ['SET GLOBAL gtid_slave_pos = @@gtid_binlog_pos'] : []),
      d.change(want.ssl),
      d.start,
    ];
    add({
      id: m.member,
      action: 'repoint',
      // START SLAVE returns at once: give the IO thread a moment to connect before the next look.
      settleMs: 200,
      risk: 'safe',
      phase: 20,
      members: [m.member],
      commands: statements,
      summary: `${following(m.replica) ? 're-point' : 'point'} ${m.member} at ${to} (${e.host}:${e.port}, GTID auto-positioning)`,
      // Pointed at a primary that lacks the account, the replica would only fail to log in.
      ...(observed.get(to)?.account === false
        ? {
            blocked: `waiting for the replication account '${want.user}'@'${want.host}' on ${to} (its member pass creates it)`,
          }
        : {}),
      run: async (io) => {
        const s = io.sql(m.member);
        for (const sql of statements)
          await s.query(sql, sql === d.change(want.ssl) ? [e.host, e.port, want.user, password] : []);
        io.note(`${m.member} replicates from ${to}`, { member: m.member, source: to, position: m.binlogPos });
      },
    });
  };
  const setReadOnly = (m: MemberReplication, on: boolean, why: string) =>
    add({
      id: m.member,
      action: on ? 'read-only' : 'writable',
      risk: 'safe',
      phase: 10,
      members: [m.member],
      commands: on ? d.readOnly : d.writable,
      summary: `make ${m.member} ${on ? 'read-only' : 'writable'} (${why})`,
      run: async (io) => {
        for (const sql of on ? d.readOnly : d.writable) await io.sql(m.member).query(sql);
      },
    });

  // What the file says against who takes writes.
  const writable = reachable.filter((o) => !o.readOnly);
  if (p === undefined || !p.reachable) {
    // The declared primary cannot be seen: nothing is changed.
    lasting.push(
      current !== undefined && current !== P
        ? `primary ${P} cannot be reached (${p?.error ?? 'no session'}); ${current} takes writes`
        : `primary ${P} cannot be reached${p?.error === undefined ? '' : ` (${p.error})`}`,
    );
    drift.push({ kind: KIND, id: P, field: 'reachable', desired: true, observed: false });
    return plan();
  }
  const sourceOfP = following(p.replica) ? sourceMember(p.replica, want) : undefined;
  const oldPrimary = sourceOfP === undefined ? undefined : observed.get(sourceOfP);
  // A switchover: the declared primary still follows a member that follows no one (the old primary).
  if (oldPrimary !== undefined && (!oldPrimary.reachable || !following(oldPrimary.replica))) {
    drift.push({ kind: KIND, id: cluster, field: 'primary', desired: P, observed: oldPrimary.member });
    switchover(oldPrimary, p);
    return plan();
  }
  if (following(p.replica)) {
    const from = sourceOfP ?? `${p.replica.host}:${p.replica.port}`;
    drift.push({ kind: KIND, id: P, field: 'source', desired: '(none: the primary)', observed: from });
    stuck(
      P,
      `stop ${P} replicating from ${from}`,
      `${P} is declared primary but replicates from ${from}, which ${sourceOfP === undefined ? 'is not a member' : 'is itself a replica'}: setpoint does not cut it off (stop it by hand when its data is complete)`,
      'PrimaryFollowsOutsider',
    );
    return plan();
  }
  // Another member took writes the declared primary does not have: setpoint does not choose between them.
  const rivals = writable.filter((o) => o.member !== P && !following(o.replica) && errantOn(o, p) !== '');
  if (rivals.length > 0) {
    drift.push({ kind: KIND, id: cluster, field: 'writable', desired: [P], observed: writable.map((o) => o.member) });
    stuck(
      cluster,
      'choose the primary',
      `${rivals.map((o) => `${o.member} (GTIDs ${errantOn(o, p)})`).join(', ')} took writes ${P} does not have, and ${P} does not replicate from ${rivals.length === 1 ? 'it' : 'them'}: setpoint does not choose (make ${P} a replica of the member with the writes and let the file name that one, or remove the writes)`,
      'SeveralWritableMembers',
    );
    return plan();
  }

  // The declared primary takes writes (or will): every other member follows it.
  if (p.readOnly) {
    drift.push({ kind: KIND, id: P, field: 'writable', desired: true, observed: false });
    if (writable.length === 0) setReadOnly(p, false, 'the declared primary');
  }
  for (const m of all) {
    if (m.member === P) continue;
    if (!m.reachable) {
      // Not converged: nothing is known of it (it may come back writable, or with errant transactions).
      lasting.push(`replica ${m.member} cannot be reached`);
      drift.push({ kind: KIND, id: m.member, field: 'reachable', desired: true, observed: false });
      continue;
    }
    const errant = errantOn(m, p);
    if (errant !== '') {
      drift.push({ kind: KIND, id: m.member, field: 'errant', desired: '(none)', observed: errant });
      stuck(
        m.member,
        `join ${m.member} to ${P}`,
        `${m.member} has transactions the primary ${P} lacks (errant GTIDs ${errant}): setpoint never discards data; inspect them, then remove them from ${m.member} (or rebuild it) and it joins`,
        'ErrantTransactions',
      );
      continue;
    }
    if (!m.readOnly) {
      drift.push({ kind: KIND, id: m.member, field: 'writable', desired: false, observed: true });
      setReadOnly(m, true, `a replica of ${P}`);
    }
    if (isEmpty(m) && p.purged !== '') {
      // Pointed at the primary it would start after the purged transactions (MariaDB) or fail (MySQL):
      // it would never hold what the primary held before. A dump brings it level first.
      drift.push({ kind: KIND, id: m.member, field: 'seeded', desired: true, observed: false });
      seed(m, p, `${P}'s binary logs no longer hold ${p.purged}`);
      continue;
    }
    const r = m.replica;
    const src = following(r) ? sourceMember(r, want) : undefined;
    if (
      !following(r) ||
      src !== P ||
      !r.gtid ||
      r.user !== want.user ||
      r.ssl !== want.ssl ||
      AUTH_ERRNOS.has(r.ioErrno)
    ) {
      drift.push({
        kind: KIND,
        id: m.member,
        field: 'source',
        desired: P,
        observed: !following(r)
          ? '(none)'
          : src !== P
            ? (src ?? `${r.host}:${r.port}`)
            : `${src} (${!r.gtid ? 'without GTID auto-positioning' : r.user !== want.user ? `as ${r.user}` : r.ssl !== want.ssl ? `ssl ${r.ssl ? 'on' : 'off'}` : `IO error ${r.ioErrno}: ${r.ioError}`})`,
      });
      repoint(m, P);
      continue;
    }
    if (r.sqlErrno !== 0) {
      drift.push({
        kind: KIND,
        id: m.member,
        field: 'sql_thread',
        desired: 'running',
        observed: `error ${r.sqlErrno}`,
      });
      stuck(
        m.member,
        `restart replication on ${m.member}`,
        `the SQL thread of ${m.member} stopped on error ${r.sqlErrno}: ${r.sqlError} — setpoint never skips a transaction: repair ${m.member} by hand, then START SLAVE`,
        'ReplicationBroken',
      );
      continue;
    }
    if (!replicating(r) && PURGED_ERRNOS.has(r.ioErrno)) {
      drift.push({
        kind: KIND,
        id: m.member,
        field: 'replicating',
        desired: true,
        observed: `IO error ${r.ioErrno}: ${r.ioError}`,
      });
      if (isEmpty(m)) seed(m, p, `${P}'s binary logs no longer reach back`);
      else
        stuck(
          m.member,
          `rebuild ${m.member}`,
          `${m.member} needs transactions ${P} no longer has in its binary logs (IO error ${r.ioErrno}: ${r.ioError}); ${m.member} holds data, and setpoint never overwrites it: rebuild ${m.member} empty (a fresh data directory) and setpoint seeds it from ${P}`,
          'BinlogsPurged',
        );
      continue;
    }
    if (!replicating(r)) {
      drift.push({
        kind: KIND,
        id: m.member,
        field: 'replicating',
        desired: true,
        observed: `IO ${r.io}, SQL ${r.sql}${r.ioErrno !== 0 ? ` (IO error ${r.ioErrno}: ${r.ioError})` : ''}`,
      });
      add({
        id: m.member,
        action: 'start',
        // START SLAVE returns at once: give the IO thread a moment to connect before the next look.
        settleMs: 200,
        risk: 'safe',
        phase: 30,
        members: [m.member],
        commands: [d.start],
        summary: `start replication on ${m.member}${r.ioErrno !== 0 ? ` (after IO error ${r.ioErrno})` : ''}`,
        run: async (io) => {
          await io.sql(m.member).query(d.start);
        },
      });
      continue;
    }
    if (r.lagSeconds !== null && r.lagSeconds > want.maxLagSeconds)
      lasting.push(`replica ${m.member} lags ${r.lagSeconds} s (more than maxLagSeconds ${want.maxLagSeconds})`);
  }
  return plan();

  /**
   * An empty member the primary cannot feed from its binary logs (purged): a consistent dump of the
   * primary streams over SSH from the primary's host, through setpoint, into the member's (its own
   * binary log off for the load, so it gains no GTIDs of its own), then it replicates from the dump's
   * position. Disruptive: it waits for a window.
   */
  function seed(m: MemberReplication, src: MemberReplication, why: string): void {
    const from = want.endpoints[src.member];
    const to = want.endpoints[m.member];
    if (from === undefined || to === undefined) return;
    const maria = flavor?.kind === 'mariadb';
    const dump = [
      '--single-transaction',
      '--all-databases',
      '--routines',
      '--events',
      '--triggers',
      '--flush-privileges',
      '--hex-blob',
      ...(maria ? ['--gtid', '--master-data=1', '--ignore-table=mysql.gtid_slave_pos'] : ['--set-gtid-purged=ON']),
    ];
    const missingSsh = [src, m].filter((x) => want.endpoints[x.member]?.ssh !== true).map((x) => x.member);
    const change = d.change(want.ssl);
    add({
      id: m.member,
      action: 'seed',
      risk: 'disruptive',
      phase: 40,
      members: [m.member, src.member],
      settleMs: 200,
      commands: [
        `${src.member}$ mariadb-dump|mysqldump ${dump.join(' ')} | ${m.member}$ mariadb|mysql (sql_log_bin = 0)`,
        change,
        d.start,
      ],
      summary: `seed ${m.member} from a dump of ${src.member} over SSH (${why}), then point it at ${src.member}`,
      ...(missingSsh.length > 0
        ? {
            blocked: `seeding ${m.member} needs ssh on ${missingSsh.join(' and ')}: declare ssh for ${missingSsh.length === 1 ? 'that host' : 'those hosts'}, or seed ${m.member} by hand`,
            needsHuman: 'SeedNeedsSsh',
          }
        : !src.account
          ? // The dump carries the replication account: seed once the primary's member pass made it.
            {
              blocked: `waiting for the replication account '${want.user}'@'${want.host}' on ${src.member} (its member pass creates it)`,
            }
          : {}),
      run: async (io) => {
        const target = io.sql(m.member);
        if (following(m.replica)) await target.query(d.stop);
        if (!maria) await target.query('SET GLOBAL super_read_only = OFF');
        const timeoutMs = want.seedTimeoutSeconds * 1000;
        const pipe = new PassThrough({ highWaterMark: 1 << 20 });
        let bytes = 0;
        const started = Date.now();
        let lastNote = started;
        const counter = new PassThrough({ highWaterMark: 1 << 20 });
        counter.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          if (Date.now() - lastNote >= 10_000) {
            lastNote = Date.now();
            io.log.info('seeding', { member: m.member, from: src.member, bytes });
          }
        });
        // The load reads the credentials line first, then the dump.
        pipe.write(`${optionFile(admins[m.member])}\n`);
        counter.pipe(pipe);
        const load = io.ssh(m.member).exec(loadCommand(to, maria), { stdin: pipe, timeoutMs });
        const out = await io
          .ssh(src.member)
          .exec(dumpCommand(from, dump), { stdin: `${optionFile(admins[src.member])}\n`, stdout: counter, timeoutMs });
        const loaded = await load;
        const tail = (t: string) => t.trim().split('\n').slice(-3).join(' / ');
        if (out.code !== 0 || loaded.code !== 0) {
          if (!maria) await target.query('SET GLOBAL super_read_only = ON').catch(() => undefined);
          throw new SetpointError(
            'sql.rejected',
            out.code !== 0
              ? `seeding ${m.member}: the dump on ${src.member} failed (exit ${out.code}): ${tail(out.stderr)}`
              : `seeding ${m.member}: loading the dump failed (exit ${loaded.code}): ${tail(loaded.stderr)}; ${m.member} holds part of it: empty its data directory and setpoint seeds it again`,
            { terminal: true },
          );
        }
        if (!maria) await target.query('SET GLOBAL super_read_only = ON');
        const [pos] = await target.query<{ p: string }>(
          maria ? 'SELECT @@gtid_slave_pos AS p' : 'SELECT @@gtid_executed AS p',
        );
        io.note(
          `${m.member} seeded from ${src.member}: ${bytes} bytes in ${Date.now() - started} ms, at ${pos?.p ?? '?'}`,
          {
            member: m.member,
            position: pos?.p ?? null,
            bytes,
          },
        );
        await target.query(d.stop).catch(() => undefined);
        await target.query(change, [from.host, from.port, want.user, password.reveal()]);
        await target.query(d.start);
      },
    });
  }

  /** The steps of a planned switchover from `o` to the declared primary `p`, each gated, one per observation. */
  function switchover(o: MemberReplication, cand: MemberReplication): void {
    const r = cand.replica;
    const candFollowsOld = following(r) && sourceMember(r, want) === o.member;
    // Before anything: the candidate must be a healthy, caught-up replica of the old primary, with nothing of its own.
    const errant = o.reachable ? errantOn(cand, o) : '';
    const gate = !candFollowsOld
      ? `${cand.member} does not replicate from ${o.member}: it cannot take over without losing writes (point it at ${o.member} first)`
      : errant !== ''
        ? `${cand.member} has transactions ${o.member} lacks (errant GTIDs ${errant})`
        : r.sqlErrno !== 0
          ? `${cand.member}'s SQL thread stopped on error ${r.sqlErrno}: ${r.sqlError}`
          : r.sql.toLowerCase() !== 'yes'
            ? `${cand.member}'s SQL thread is not running`
            : o.reachable && !o.readOnly && r.io.toLowerCase() !== 'yes'
              ? `${cand.member}'s IO thread is ${r.io} (${r.ioError || 'not connected'})`
              : r.lagSeconds === null && o.reachable && !o.readOnly
                ? `${cand.member}'s lag is unknown`
                : (r.lagSeconds ?? 0) > want.maxLagSeconds
                  ? `${cand.member} lags ${r.lagSeconds} s, more than maxLagSeconds ${want.maxLagSeconds}: the switchover does not start`
                  : undefined;
    if (o.reachable && !o.readOnly) {
      // Step 1 (disruptive: writes stop): fence the old primary.
      add({
        id: cluster,
        action: 'switchover',
        risk: 'disruptive',
        phase: 50,
        members: [o.member],
        commands: d.readOnly,
        summary: `switchover ${o.member} -> ${cand.member}, step 1 of 3: make ${o.member} read-only (writes stop)`,
        ...(gate === undefined ? {} : { blocked: gate }),
        run: async (io) => {
          for (const sql of d.readOnly) await io.sql(o.member).query(sql);
          const [pos] = await io.sql(o.member).query<{ p: string }>(d.position);
          io.note(`${o.member} is read-only at ${pos?.p ?? '?'}`, { member: o.member, position: pos?.p ?? null });
        },
      });
      return;
    }
    // Step 2 (forward): the old primary is fenced (read-only, or unreachable). Wait until the candidate has
    // applied everything, bounded; a timeout rolls back (the old primary writable again). Then promote: the
    // point of no return.
    const fenced = o.reachable
      ? `${o.member} is read-only`
      : `${o.member} cannot be reached: fenced, its steps skipped`;
    const statements = [d.wait, d.stop, d.reset, ...d.writable];
    add({
      id: cluster,
      action: 'promote',
      risk: 'disruptive',
      phase: 50,
      members: o.reachable ? [cand.member, o.member] : [cand.member],
      commands: statements,
      // Past step 1 the switchover goes forward whatever the windows say; so does a fenced one (the old
      // primary is down: waiting for a window would only keep the cluster without writes).
      forward: true,
      summary: `switchover ${o.member} -> ${cand.member}, step 2 of 3: wait until ${cand.member} has applied every transaction of ${o.member}, then make it the primary (${fenced})`,
      ...(gate !== undefined && (!candFollowsOld || errant !== '' || r.sqlErrno !== 0)
        ? { blocked: gate, needsHuman: 'SwitchoverBlocked' }
        : {}),
      run: async (io) => {
        const s = io.sql(cand.member);
        let target: string;
        if (o.reachable) {
          const [pos] = await io.sql(o.member).query<{ p: string }>(d.position);
          target = pos?.p ?? o.binlogPos;
        } else target = r?.received ?? '';
        const started = Date.now();
        const [w] =
          target === '' ? [{ r: 0 }] : await s.query<{ r: number | null }>(d.wait, [target, want.catchUpSeconds]);
        if (Number(w?.r) !== 0) {
          if (o.reachable) for (const sql of d.writable) await io.sql(o.member).query(sql);
          io.note(
            `switchover rolled back: ${cand.member} did not apply ${target} within ${want.catchUpSeconds} s; ${o.member} is writable again`,
            { member: cand.member, position: target },
          );
          throw new SetpointError(
            'sql.rejected',
            `switchover ${o.member} -> ${cand.member} rolled back: ${cand.member} did not apply ${target} within catchUpSeconds ${want.catchUpSeconds}; ${o.member} takes writes again`,
            { terminal: true },
          );
        }
        io.note(`${cand.member} has applied ${target} (waited ${Date.now() - started} ms)`, {
          member: cand.member,
          position: target,
        });
        await s.query(d.stop);
        await s.query(d.reset);
        for (const sql of d.writable) await s.query(sql);
        io.note(`${cand.member} is the primary (writable)`, { member: cand.member, position: target });
      },
    });
  }
}
