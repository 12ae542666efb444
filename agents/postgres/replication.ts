/**
 * postgres.replication: streaming replication as desired state. The primary is the one member not in
 * recovery; every other member is a standby streaming from it, with its own physical slot on it when
 * `slots` (setpoint_<member>); synchronous_standby_names follows `synchronous`. A standby built from
 * another cluster (a fresh server, a different system identifier) is rebuilt over SSH with
 * pg_basebackup, its data directory moved aside first (never deleted) — a disruptive step, in a window.
 * A standby following the wrong primary is re-pointed (ALTER SYSTEM primary_conninfo + reload). A new
 * `primary:` is a planned switchover: CHECKPOINT, a clean (fast) stop of the old primary, the candidate
 * replays the old primary's final checkpoint (bounded; a timeout starts the old primary again), then
 * pg_promote() — the point of no return; the old primary rejoins as a standby (standby.signal, started,
 * pointed at the new one). It stops rather than guess: two primaries, a standby of an outsider.
 *
 * observe() is three statements per member; decide() is pure.
 */
import type {
  ClusterChange,
  ClusterIO,
  Drift,
  MemberSession,
  MemberTopology,
  Topology,
  TopologyPlan,
} from '../../src/engine.js';
import { holdChange } from '../../src/engine.js';
import { z } from 'zod';
import { SetpointError } from '../../src/errors.js';
import { Secret } from '../../src/secret.js';
import { shq, type ExecResult } from '../../src/transport/ssh.js';
import { quoteIdent } from './quote.js';
import type { PgSession } from './session.js';
import type { PostgresCluster, ReplicationSpec } from './spec.js';

const KIND = 'postgres.replication';

/** What a standby's primary_conninfo says, without its password. */
export interface Conninfo {
  host: string;
  port: number;
  user: string;
  applicationName: string;
}

/** One member's replication state. */
export interface PgMember {
  member: string;
  reachable: boolean;
  error?: string;
  /** Not reachable, and its service status says the server is stopped (over SSH). */
  down?: boolean;
  /** Carried from an earlier observation while the member is down: where its data lives, what it runs. */
  dataDir: string | null;
  version: number | null;
  systemId: string | null;
  inRecovery: boolean;
  timeline: number | null;
  /** pg_current_wal_lsn() on a primary, pg_last_wal_replay_lsn() on a standby. */
  lsn: string | null;
  /** A standby: pg_last_wal_receive_lsn(). */
  receiveLsn: string | null;
  conninfo: Conninfo | null;
  slotName: string;
  /** pg_stat_wal_receiver, when the standby has a receiver. */
  receiver: { status: string; host: string; port: number } | null;
  lagSeconds: number | null;
  walLogHints: boolean;
  /** initdb --data-checksums (pg_rewind needs this or wal_log_hints). */
  checksums: boolean;
  /** A primary on a timeline past 1: its timeline history (where each earlier timeline ended); null when unknown. */
  history: { tli: number; switchpoint: string }[] | null;
  /** The replication role may EXECUTE the functions pg_rewind reads the source with. */
  rewindGrants: boolean;
  /** pg_hba.conf has a line that lets the replication user connect for replication. */
  hbaAllows: boolean | null;
  /** The replication role exists with LOGIN and REPLICATION (standbys connect as it). */
  roleReady: boolean;
  /** Physical slots it holds, and the WAL each keeps (on a primary). */
  slots: { name: string; active: boolean; retainedBytes: number | null }[];
  synchronous: string;
}

export type PgObserved = Map<string, PgMember>;

export interface PgReplicationWant extends ReplicationSpec {
  endpoints: Record<string, { host: string; port: number }>;
}

/** The functions pg_rewind runs on its source (what a non-superuser needs; PostgreSQL's documentation). */
export const REWIND_FUNCTIONS = [
  'pg_catalog.pg_ls_dir(text, boolean, boolean)',
  'pg_catalog.pg_stat_file(text, boolean)',
  'pg_catalog.pg_read_binary_file(text)',
  'pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean)',
] as const;

/** A timeline history file: one line per earlier timeline, `<tli> <switchpoint LSN> <reason>`. */
export function parseHistory(text: string): { tli: number; switchpoint: string }[] {
  const out: { tli: number; switchpoint: string }[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*(\d+)\s+([0-9A-Fa-f]+\/[0-9A-Fa-f]+)/.exec(line);
    if (m?.[1] !== undefined && m[2] !== undefined) out.push({ tli: Number(m[1]), switchpoint: m[2].toUpperCase() });
  }
  return out;
}

/**
 * Whether a standby has WAL the primary's history does not have: it is on a timeline the primary left (or
 * never had) and has replayed past the point where the primary's history leaves it. Undefined when it has
 * not diverged, or when that cannot be told (no history, no position).
 */
export function divergedFrom(m: PgMember, p: PgMember): { timeline: number; at: string | null } | undefined {
  if (m.timeline === null || p.timeline === null || m.timeline === p.timeline) return undefined;
  if (m.timeline > p.timeline) return { timeline: m.timeline, at: null };
  if (p.history === null) return undefined;
  const end = p.history.find((h) => h.tli === m.timeline);
  if (end === undefined) return { timeline: m.timeline, at: null };
  const at = lsnBytes(m.lsn);
  const stop = lsnBytes(end.switchpoint);
  return at !== null && stop !== null && at > stop ? { timeline: m.timeline, at: end.switchpoint } : undefined;
}

/** The slot a standby uses on the primary: setpoint_<member>, in the characters slot names allow. */
export function slotFor(member: string): string {
  return `setpoint_${member.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`.slice(0, 63);
}

/** LSN text (X/Y) as a number of bytes. */
export function lsnBytes(lsn: string | null): bigint | null {
  if (lsn === null) return null;
  const m = /^([0-9A-Fa-f]+)\/([0-9A-Fa-f]+)$/.exec(lsn.trim());
  return m === null ? null : (BigInt(`0x${m[1] as string}`) << 32n) + BigInt(`0x${m[2] as string}`);
}

/** primary_conninfo's keywords, values unquoted; the password is dropped. */
export function parseConninfo(text: string): Conninfo | null {
  if (text.trim() === '') return null;
  const kv = new Map<string, string>();
  const re = /(\w+)\s*=\s*(?:'((?:[^'\\]|\\.)*)'|(\S+))/g;
  for (let m = re.exec(text); m !== null; m = re.exec(text))
    kv.set((m[1] as string).toLowerCase(), (m[2] ?? m[3] ?? '').replace(/\\(.)/g, '$1'));
  return {
    host: kv.get('host') ?? kv.get('hostaddr') ?? '',
    port: Number(kv.get('port') ?? 5432),
    user: kv.get('user') ?? '',
    applicationName: kv.get('application_name') ?? '',
  };
}

/** A conninfo value: single-quoted, with quotes and backslashes escaped. */
function conninfoValue(v: string): string {
  return `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** A member nothing is known of (not reachable, never seen). */
function unreachable(member: string): PgMember {
  return {
    member,
    reachable: false,
    dataDir: null,
    version: null,
    systemId: null,
    inRecovery: false,
    timeline: null,
    lsn: null,
    receiveLsn: null,
    conninfo: null,
    slotName: '',
    receiver: null,
    lagSeconds: null,
    walLogHints: false,
    checksums: false,
    history: null,
    rewindGrants: false,
    hbaAllows: null,
    roleReady: false,
    slots: [],
    synchronous: '',
  };
}

/** What the history file keeps of each member across restarts (Topology.memory). */
const keptSchema = z.array(
  z.object({
    member: z.string(),
    dataDir: z.string().nullable(),
    version: z.number().nullable(),
    systemId: z.string().nullable(),
    inRecovery: z.boolean(),
    timeline: z.number().nullable(),
    walLogHints: z.boolean(),
    checksums: z.boolean(),
  }),
);

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
const text = (v: unknown): string =>
  typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'bigint' ? String(v) : '';

async function observeMember(
  m: MemberSession<PgSession>,
  want: PgReplicationWant,
  before: PgMember | undefined,
): Promise<PgMember> {
  const s = m.session;
  if (s === undefined) {
    // Stopped, or running but not answering? The service says (a stopped server is the topology's to start).
    let down: boolean | undefined;
    if (m.ssh !== undefined && m.service !== undefined) {
      const r = await m.ssh.exec(`${m.service.status} >/dev/null 2>&1`).catch(() => undefined);
      if (r !== undefined) down = r.code !== 0;
    }
    return {
      ...unreachable(m.name),
      ...(down === undefined ? {} : { down }),
      error: m.error?.message ?? 'not reachable',
      ...(before === undefined
        ? {}
        : {
            dataDir: before.dataDir,
            version: before.version,
            systemId: before.systemId,
            inRecovery: before.inRecovery,
            timeline: before.timeline,
            walLogHints: before.walLogHints,
            checksums: before.checksums,
          }),
    };
  }
  const [v] = await s.query<Record<string, unknown>>(
    'SELECT pg_is_in_recovery() AS r, (SELECT system_identifier::text FROM pg_control_system()) AS sid, ' +
      // The timeline it writes (a primary) or replays (a standby: what its receiver gets, else its newest WAL
      // segment); the last checkpoint's lags behind a promotion or a timeline switch.
      "CASE WHEN pg_is_in_recovery() THEN greatest((SELECT received_tli FROM pg_stat_wal_receiver), (SELECT max(('x' || substr(name, 1, 8))::bit(32)::int) FROM pg_ls_waldir() WHERE name ~ '^[0-9A-F]{24}$'), (SELECT timeline_id FROM pg_control_checkpoint())) " +
      "ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END AS tl, " +
      "current_setting('data_checksums') AS dck, " +
      'CASE WHEN EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1) THEN ' +
      REWIND_FUNCTIONS.map((f) => `has_function_privilege($1, '${f}', 'EXECUTE')`).join(' AND ') +
      ' ELSE false END AS rwg, ' +
      'CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()::text ELSE pg_current_wal_lsn()::text END AS lsn, ' +
      'CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn()::text END AS rlsn, ' +
      "current_setting('primary_conninfo') AS pc, current_setting('primary_slot_name') AS ps, " +
      "current_setting('synchronous_standby_names') AS ssn, current_setting('data_directory') AS dd, " +
      "current_setting('server_version_num')::int AS v, current_setting('wal_log_hints') AS wlh, " +
      'CASE WHEN pg_is_in_recovery() THEN extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END AS lag, ' +
      "(SELECT count(*) FROM pg_hba_file_rules WHERE error IS NULL AND 'replication' = ANY(database) AND ('all' = ANY(user_name) OR $1 = ANY(user_name))) AS hba, " +
      '(SELECT count(*) FROM pg_roles WHERE rolname = $1 AND rolcanlogin AND rolreplication) AS role, ' +
      '(SELECT row_to_json(w) FROM (SELECT status, sender_host AS host, sender_port AS port FROM pg_stat_wal_receiver) w) AS wr',
    [want.user],
  );
  const inRecovery = v?.r === true;
  const slots = await s.query<{ n: string; a: boolean; k: string | null }>(
    inRecovery
      ? "SELECT slot_name AS n, active AS a, NULL AS k FROM pg_replication_slots WHERE slot_type = 'physical'"
      : "SELECT slot_name AS n, active AS a, pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::text AS k FROM pg_replication_slots WHERE slot_type = 'physical'",
  );
  // A primary past timeline 1: where each earlier timeline ended, to tell a diverged standby from a late one.
  let history: PgMember['history'] = null;
  const tl = num(v?.tl);
  if (!inRecovery && tl !== null && tl > 1) {
    const file = `pg_wal/${tl.toString(16).toUpperCase().padStart(8, '0')}.history`;
    history = await s
      .query<{ h: string }>('SELECT pg_read_file($1) AS h', [file])
      .then((r) => parseHistory(r[0]?.h ?? ''))
      .catch(() => null);
  }
  const wr = v?.wr as { status?: string; host?: string; port?: number } | null | undefined;
  return {
    member: m.name,
    reachable: true,
    dataDir: text(v?.dd) || null,
    version: num(v?.v),
    systemId: text(v?.sid) || null,
    inRecovery,
    timeline: tl,
    lsn: text(v?.lsn) || null,
    receiveLsn: text(v?.rlsn) || null,
    conninfo: parseConninfo(text(v?.pc)),
    slotName: text(v?.ps),
    receiver:
      wr === null || wr === undefined
        ? null
        : { status: wr.status ?? '', host: wr.host ?? '', port: Number(wr.port ?? 0) },
    lagSeconds: v?.lag === null || v?.lag === undefined ? null : Math.max(0, Math.round(Number(v.lag))),
    walLogHints: text(v?.wlh) === 'on',
    checksums: text(v?.dck) === 'on',
    history,
    rewindGrants: v?.rwg === true,
    hbaAllows: num(v?.hba) === null ? null : Number(v?.hba) > 0,
    roleReady: Number(v?.role) > 0,
    slots: slots.map((x) => ({ name: x.n, active: x.a, retainedBytes: x.k === null ? null : Number(x.k) })),
    synchronous: text(v?.ssn),
  };
}

/** The shell snippet that finds the server's binaries on a host (Debian, RHEL, source installs, PATH). */
/**
 * The shell snippet that sets $pgbin to the server's binaries on a host (Debian, RHEL, source installs,
 * PATH). It uses only variables of its own: a script's other variables (the data directory) are safe.
 */
export function bindir(version: number | null): string {
  const major = version === null ? '' : String(Math.floor(version / 10000));
  return (
    `pgbin=; for pgcand in /usr/lib/postgresql/${major}/bin /usr/pgsql-${major}/bin /usr/local/pgsql/bin; do if [ -x "$pgcand/pg_basebackup" ]; then pgbin=$pgcand; break; fi; done; ` +
    '[ -n "$pgbin" ] || pgbin=$(dirname "$(command -v pg_basebackup)"); '
  );
}

/**
 * Moves a data directory aside, never anything else: the path must hold PG_VERSION (a PostgreSQL data
 * directory) and must not be a system directory; otherwise the script stops (exit 3) before any change.
 */
export const MOVE_ASIDE =
  'case "$d" in ""|/|/usr|/usr/*|/bin|/bin/*|/sbin|/sbin/*|/etc|/etc/*|/lib|/lib/*|/boot|/boot/*|/proc/*|/sys/*|/dev/*) echo "refusing to move $d" >&2; exit 3;; esac; ' +
  'aside=; if [ -d "$d" ] && [ -z "$(ls -A -- "$d")" ]; then rmdir -- "$d"; fi; ' +
  'if [ -e "$d" ]; then [ -f "$d/PG_VERSION" ] || { echo "$d holds no PG_VERSION: not a data directory, not moving it" >&2; exit 3; }; ' +
  'aside="$d.setpoint-$(date +%Y%m%d%H%M%S)"; mv -- "$d" "$aside"; fi; ';

const COME_BACK_MS = 120_000;
const PROMOTE_MS = 60_000;

/** Runs a member's service verb over SSH; a missing verb or a failure is an error that says so. */
/**
 * Promotes a standby and waits until it takes writes. pg_promote(wait => true) looks every 100 ms; writes
 * are stopped meanwhile, so this asks without waiting and looks every 10 ms itself.
 */
async function promote(io: ClusterIO<PgSession>, member: string): Promise<void> {
  const s = io.sql(member);
  const [r] = await s.query<{ ok: boolean }>('SELECT pg_promote(false) AS ok');
  if (r?.ok !== true) throw new SetpointError('sql.rejected', `${member}: pg_promote() refused (is it a standby?)`);
  const end = Date.now() + PROMOTE_MS;
  for (;;) {
    const [x] = await s.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
    if (x?.r === false) return;
    if (Date.now() > end)
      throw new SetpointError(
        'sql.rejected',
        `${member} was asked to promote but is still in recovery after ${PROMOTE_MS / 1000} s`,
      );
    await new Promise((w) => setTimeout(w, 10));
  }
}

/**
 * Starts or stops a member's server with its service command over SSH. `then`, a script run in the same
 * SSH command once the service command succeeded, saves a round trip where every millisecond counts (the
 * switchover reads pg_controldata while no member takes writes); its output is returned.
 */
async function service(
  io: ClusterIO<PgSession>,
  member: string,
  verb: 'start' | 'stop',
  then?: string,
): Promise<ExecResult> {
  const cmd = io.service(member)?.[verb];
  if (cmd === undefined)
    throw new SetpointError('service.restart', `${member}: no ${verb} command (declare hosts.${member}.service)`, {
      terminal: true,
    });
  const failed = 'setpoint: the service command failed';
  const script = then === undefined ? cmd : `(${cmd}) >&2 || { rc=$?; echo "${failed} ($rc)" >&2; exit $rc; }; ${then}`;
  const r = await io.ssh(member).exec(script, { timeoutMs: COME_BACK_MS });
  if (r.code !== 0 && (then === undefined || r.stderr.includes(failed)))
    throw new SetpointError(
      verb === 'start' ? 'service.start' : 'service.restart',
      `${verb} on ${member} exited ${r.code ?? r.signal ?? '?'}: ${(r.stderr || r.stdout).replace(failed, '').trim().slice(0, 300)}`,
    );
  return r;
}

function placeOf(
  o: PgMember,
  want: PgReplicationWant,
  primary: string | undefined,
  primaryLsn: bigint | null,
): MemberTopology {
  if (!o.reachable)
    return {
      member: o.member,
      role: 'unknown',
      writable: null,
      source: null,
      replicating: null,
      lagSeconds: null,
      lagBytes: null,
      timeline: o.timeline,
      position: null,
      error: o.error ?? null,
    };
  const src =
    o.inRecovery && o.conninfo !== null
      ? (sourceMember(o.conninfo, want) ?? `${o.conninfo.host}:${o.conninfo.port}`)
      : null;
  const lsn = lsnBytes(o.lsn);
  return {
    member: o.member,
    role: o.member === primary ? 'primary' : o.inRecovery ? 'replica' : 'standalone',
    writable: !o.inRecovery,
    source: src,
    replicating: o.inRecovery ? o.receiver?.status === 'streaming' : null,
    lagSeconds: o.lagSeconds,
    lagBytes:
      o.inRecovery && lsn !== null && primaryLsn !== null ? Number(primaryLsn > lsn ? primaryLsn - lsn : 0n) : null,
    timeline: o.timeline,
    position: o.lsn,
    error: null,
  };
}

function sourceMember(c: Conninfo, want: PgReplicationWant): string | undefined {
  return Object.entries(want.endpoints).find(
    ([, e]) => e.host.toLowerCase() === c.host.toLowerCase() && e.port === c.port,
  )?.[0];
}

export const replication: Topology<PgReplicationWant, PgObserved, PgSession, PostgresCluster> = {
  kind: KIND,
  // A stopped member must come back as what it should be (the primary, or a standby with standby.signal):
  // this pass starts members, never a member pass.
  startsMembers: true,

  desired(ctx) {
    const r = ctx.cluster.replication;
    if (r === undefined) return undefined;
    const endpoints: PgReplicationWant['endpoints'] = {};
    for (const m of ctx.cluster.members) {
      const h = ctx.hosts[m];
      const conn = h?.postgres as { port?: number } | undefined;
      if (h !== undefined) endpoints[m] = { host: h.address, port: conn?.port ?? 5432 };
    }
    return { ...r, endpoints };
  },

  primaryOf(want) {
    return want.primary;
  },

  memory: {
    // Where each member's data lives and whose copy it is: what a stopped member is rejoined or rebuilt with.
    keep: (observed) =>
      [...observed.values()].map((m) => ({
        member: m.member,
        dataDir: m.dataDir,
        version: m.version,
        systemId: m.systemId,
        inRecovery: m.inRecovery,
        timeline: m.timeline,
        walLogHints: m.walLogHints,
        checksums: m.checksums,
      })),
    restore: (kept) => {
      const parsed = keptSchema.safeParse(kept);
      if (!parsed.success) return undefined;
      return new Map(parsed.data.map((k) => [k.member, { ...unreachable(k.member), ...k }]));
    },
  },

  async observe(members, want, _ctx, previous) {
    const states = await Promise.all(
      members.map(async (m) => {
        try {
          return await observeMember(m, want, previous?.get(m.name));
        } catch (err) {
          return observeMember(
            {
              ...m,
              session: undefined,
              error: { terminal: false, code: 'sql.error', message: err instanceof Error ? err.message : String(err) },
            },
            want,
            previous?.get(m.name),
          );
        }
      }),
    );
    return new Map(states.map((x) => [x.member, x]));
  },

  decide(want, observed, ctx) {
    return decidePgReplication(want, observed, ctx.secret(want.password), ctx.clusterName, (cls) => ctx.prune(cls));
  },
};

/** The pure decision. `password` is the replication role's secret: it goes into conninfo as a Secret parameter only. */
export function decidePgReplication(
  want: PgReplicationWant,
  observed: PgObserved,
  password: Secret,
  cluster: string,
  prune: (cls: 'objects') => boolean = () => false,
): TopologyPlan<PgSession> {
  const P = want.primary;
  const drift: Drift[] = [];
  const changes: ClusterChange<PgSession>[] = [];
  const lasting: string[] = [];
  const all = [...observed.values()];
  // The cluster is what shares the declared primary's system identifier; a fresh server is not of it yet.
  const ours = observed.get(P)?.systemId ?? null;
  const primaries = all.filter((o) => o.reachable && !o.inRecovery && (ours === null || o.systemId === ours));
  const current = primaries.length === 1 ? primaries[0]?.member : undefined;
  const currentLsn = current === undefined ? null : lsnBytes(observed.get(current)?.lsn ?? null);
  const members = all.map((o) => placeOf(o, want, current, currentLsn));
  const plan = (): TopologyPlan<PgSession> => ({
    drift,
    changes,
    members,
    ...(current === undefined ? {} : { primary: current }),
    ...(lasting.length > 0 ? { degraded: lasting.join('; ') } : {}),
  });
  const add = (c: Omit<ClusterChange<PgSession>, 'kind' | 'id'> & { id?: string }) =>
    changes.push({ kind: KIND, id: c.id ?? cluster, ...c });
  const stuck = (id: string, summary: string, why: string, reason: string) =>
    changes.push(holdChange<PgSession>(KIND, id, summary, why, reason));
  const p = observed.get(P);
  const e = want.endpoints[P];
  if (p === undefined || !p.reachable || e === undefined) {
    lasting.push(`primary ${P} cannot be reached${p?.error === undefined ? '' : ` (${p.error})`}`);
    drift.push({ kind: KIND, id: P, field: 'reachable', desired: true, observed: false });
    // Stopped (its service says so), and no other copy of the cluster took over: start it (it is the primary).
    if (
      p?.down === true &&
      primaries.length === 0 &&
      !all.some((o) => o.member !== P && o.reachable && !o.inRecovery && o.systemId === p.systemId)
    )
      add({
        id: P,
        action: 'start',
        risk: 'safe',
        phase: 5,
        members: [P],
        commands: ['(service start)'],
        summary: `start ${P}, the primary (its server is stopped)`,
        run: async (io) => {
          await service(io, P, 'start');
          await io.reconnect(P, COME_BACK_MS);
        },
      });
    return plan();
  }
  const conninfo = (member: string) =>
    new Secret(
      `host=${conninfoValue(e.host)} port=${e.port} user=${conninfoValue(want.user)} password=${conninfoValue(password.reveal())} application_name=${conninfoValue(member)}`,
      password.source,
    );
  const setPrimary = (m: PgMember): string[] => [
    'ALTER SYSTEM SET primary_conninfo = $1',
    ...(want.slots
      ? [`ALTER SYSTEM SET primary_slot_name = '${slotFor(m.member)}'`]
      : ['ALTER SYSTEM RESET primary_slot_name']),
    'SELECT pg_reload_conf()',
  ];
  const repoint = async (io: ClusterIO<PgSession>, m: PgMember) => {
    const s = io.sql(m.member);
    for (const sql of setPrimary(m)) await s.query(sql, sql.includes('$1') ? [conninfo(m.member)] : []);
  };

  // The declared primary is in recovery: a switchover (or it follows an outsider).
  if (p.inRecovery) {
    const from = p.conninfo === null ? undefined : sourceMember(p.conninfo, want);
    const o = from === undefined ? undefined : observed.get(from);
    if (o === undefined) {
      stuck(
        P,
        `promote ${P}`,
        `${P} is declared primary but is a standby of ${p.conninfo === null ? 'no one' : `${p.conninfo.host}:${p.conninfo.port}`}, which is not a member: setpoint does not promote it blindly (promote it by hand when its data is complete)`,
        'PrimaryFollowsOutsider',
      );
      return plan();
    }
    drift.push({ kind: KIND, id: cluster, field: 'primary', desired: P, observed: o.member });
    switchover(o, p);
    return plan();
  }
  // Several copies of this cluster out of recovery (a fork): setpoint does not choose which one's writes win.
  // A server of another cluster (a fresh one, another system identifier) is no rival: it is rebuilt below.
  const rivals = primaries.filter((o) => o.member !== P);
  if (rivals.length > 0) {
    drift.push({
      kind: KIND,
      id: cluster,
      field: 'primaries',
      desired: [P],
      observed: [P, ...rivals.map((o) => o.member)],
    });
    stuck(
      cluster,
      'choose the primary',
      `${[P, ...rivals.map((o) => o.member)].join(' and ')} are all out of recovery (each may hold writes the other lacks): setpoint does not demote a primary (stop all but ${P} and rebuild them, or name the one with the writes in the file)`,
      'SeveralPrimaries',
    );
    return plan();
  }
  if (p.hbaAllows === false)
    lasting.push(`pg_hba.conf of ${P} has no line letting ${want.user} connect for replication`);

  // Slots on the primary: one per standby; others removed only with prune.
  const wanted = new Set(
    want.slots
      ? Object.keys(want.endpoints)
          .filter((m) => m !== P)
          .map(slotFor)
      : [],
  );
  for (const name of wanted) {
    if (p.slots.some((x) => x.name === name)) continue;
    drift.push({ kind: KIND, id: `${P} slot ${name}`, field: 'present', desired: true, observed: false });
    add({
      id: `${P} slot ${name}`,
      action: 'create',
      risk: 'safe',
      phase: 10,
      members: [P],
      commands: ['SELECT pg_create_physical_replication_slot($1, true)'],
      summary: `create the physical replication slot ${name} on ${P}`,
      run: async (io) => {
        await io.sql(P).query('SELECT pg_create_physical_replication_slot($1, true)', [name]);
      },
    });
  }
  for (const x of p.slots) {
    if (wanted.has(x.name)) {
      if (!x.active && x.retainedBytes !== null && x.retainedBytes > want.maxLagBytes * 4)
        lasting.push(
          `slot ${x.name} on ${P} keeps ${Math.round(x.retainedBytes / 1048576)} MB of WAL and no standby uses it`,
        );
      continue;
    }
    if (!x.name.startsWith('setpoint_')) continue;
    if (!prune('objects')) {
      if (!x.active && x.retainedBytes !== null && x.retainedBytes > want.maxLagBytes)
        lasting.push(
          `slot ${x.name} on ${P} is not used and keeps ${Math.round(x.retainedBytes / 1048576)} MB of WAL (prune removes it)`,
        );
      continue;
    }
    drift.push({ kind: KIND, id: `${P} slot ${x.name}`, field: 'absent', desired: false, observed: true });
    add({
      id: `${P} slot ${x.name}`,
      action: 'drop',
      risk: 'destructive',
      phase: 90,
      prune: 'objects',
      members: [P],
      commands: ['SELECT pg_drop_replication_slot($1)'],
      summary: `drop the replication slot ${x.name} on ${P} (no member uses it)`,
      run: async (io) => {
        await io.sql(P).query('SELECT pg_drop_replication_slot($1)', [x.name]);
      },
    });
  }
  // synchronous_standby_names on the primary.
  const standbys = Object.keys(want.endpoints).filter((m) => m !== P);
  const sync =
    want.synchronous.count > 0 ? `FIRST ${want.synchronous.count} (${standbys.map((m) => `"${m}"`).join(', ')})` : '';
  if (p.synchronous.replace(/\s+/g, '') !== sync.replace(/\s+/g, '')) {
    drift.push({ kind: KIND, id: P, field: 'synchronous_standby_names', desired: sync, observed: p.synchronous });
    add({
      id: P,
      action: 'set',
      risk: 'safe',
      phase: 30,
      members: [P],
      commands: ['ALTER SYSTEM SET synchronous_standby_names = $1', 'SELECT pg_reload_conf()'],
      summary: `set synchronous_standby_names on ${P} to '${sync}'`,
      run: async (io) => {
        await io.sql(P).query('ALTER SYSTEM SET synchronous_standby_names = $1', [sync]);
        await io.sql(P).query('SELECT pg_reload_conf()');
      },
    });
  }

  // pg_rewind connects as the replication role: it needs the functions it reads files with.
  if (want.rewind && p.roleReady && !p.rewindGrants) {
    const grants = REWIND_FUNCTIONS.map((f) => `GRANT EXECUTE ON FUNCTION ${f} TO ${quoteIdent(want.user)}`);
    drift.push({ kind: KIND, id: `${P} ${want.user}`, field: 'rewind functions', desired: true, observed: false });
    add({
      id: `${P} ${want.user}`,
      action: 'grant',
      risk: 'safe',
      phase: 12,
      members: [P],
      commands: grants,
      summary: `grant ${want.user} EXECUTE on the functions pg_rewind uses on ${P}`,
      run: async (io) => {
        for (const g of grants) await io.sql(P).query(g);
      },
    });
  }

  // Every other member: a streaming standby of the primary.
  const primaryLsn = lsnBytes(p.lsn);
  for (const m of all) {
    if (m.member === P) continue;
    const slotReady = !want.slots || p.slots.some((x) => x.name === slotFor(m.member));
    // Standbys connect as the replication role: until the primary's member pass has made it, they wait.
    const ready = !p.roleReady
      ? `waiting for the replication role ${want.user} on ${P} (its member pass creates it)`
      : !slotReady
        ? `waiting for the slot ${slotFor(m.member)} on ${P}`
        : undefined;
    if (!m.reachable && m.down === true && m.dataDir !== null && m.systemId !== p.systemId) {
      // Stopped with data that is not this cluster's (a build that failed half way, a fresh server): build it.
      drift.push({
        kind: KIND,
        id: m.member,
        field: 'standby',
        desired: `a copy of ${P}`,
        observed: 'stopped, not a copy',
      });
      build(m, `it is stopped and its data is not a copy of ${P}'s`, ready);
      continue;
    }
    if (!m.reachable) {
      if (m.down === true && m.dataDir !== null && m.systemId === p.systemId) {
        // Down, and a copy of this cluster (an old primary stopped by a switchover, say): start it as a standby.
        drift.push({ kind: KIND, id: m.member, field: 'running', desired: `a standby of ${P}`, observed: 'down' });
        const dd = m.dataDir;
        add({
          id: m.member,
          action: 'rejoin',
          risk: 'safe',
          phase: 40,
          members: [m.member],
          commands: [`touch ${dd}/standby.signal`, '(service start)', ...setPrimary(m)],
          summary: `start ${m.member} as a standby of ${P} (standby.signal), pointed at ${P}`,
          ...(ready === undefined ? {} : { blocked: ready }),
          run: async (io) => {
            const r = await io
              .ssh(m.member)
              .exec(
                `set -e; d=${shq(dd)}; touch "$d/standby.signal"; chown --reference="$d" "$d/standby.signal" 2>/dev/null || chown postgres: "$d/standby.signal"`,
              );
            if (r.code !== 0)
              throw new SetpointError(
                'file.write',
                `${m.member}: cannot write standby.signal in ${dd}: ${r.stderr.trim().slice(0, 300)}`,
              );
            await service(io, m.member, 'start');
            await io.reconnect(m.member, COME_BACK_MS);
            await repoint(io, m);
            io.note(`${m.member} is a standby of ${P} again`, { member: m.member, source: P });
          },
        });
      } else {
        // Not known to be stopped (or where its data lives is not known): reported, never started blindly.
        drift.push({ kind: KIND, id: m.member, field: 'reachable', desired: true, observed: false });
        lasting.push(
          `standby ${m.member} cannot be reached${m.down === true ? ' (its server is stopped; setpoint does not know its data directory yet, so it does not start it)' : ''}`,
        );
      }
      continue;
    }
    // A standby pointed at the primary that cannot follow it because it has WAL the primary lacks (an old
    // primary that took writes after it was fenced): diverged, not merely late.
    const fork =
      m.systemId === p.systemId && m.inRecovery && m.receiver?.status !== 'streaming' && sourceOfM(m) === P
        ? divergedFrom(m, p)
        : undefined;
    if (m.systemId !== p.systemId || fork !== undefined) {
      // Another cluster (a fresh server), or a diverged copy: rebuild it from the primary (or rewind it).
      const why =
        fork === undefined
          ? `its data is not a copy of ${P}'s (system identifier ${m.systemId ?? '?'}, not ${p.systemId ?? '?'})`
          : `it has diverged from ${P}: it replayed timeline ${fork.timeline}${fork.at === null ? `, which is not in ${P}'s history` : ` past ${fork.at}, where ${P}'s history leaves it`}`;
      drift.push({ kind: KIND, id: m.member, field: 'standby', desired: `a copy of ${P}`, observed: why });
      if (!m.inRecovery && m.systemId === p.systemId) continue;
      build(m, why, ready, fork !== undefined);
      continue;
    }
    if (!m.inRecovery) continue; // a rival primary: handled above
    // Slots a standby kept from when it was a primary hold WAL there for no one: setpoint's own are dropped.
    for (const x of m.slots) {
      if (!x.name.startsWith('setpoint_') || x.active) continue;
      drift.push({ kind: KIND, id: `${m.member} slot ${x.name}`, field: 'absent', desired: false, observed: true });
      add({
        id: `${m.member} slot ${x.name}`,
        action: 'drop',
        risk: 'safe',
        phase: 15,
        members: [m.member],
        commands: ['SELECT pg_drop_replication_slot($1)'],
        summary: `drop the slot ${x.name} left on ${m.member} from when it was a primary (it keeps WAL there for no one)`,
        run: async (io) => {
          await io.sql(m.member).query('SELECT pg_drop_replication_slot($1)', [x.name]);
        },
      });
    }
    const c = m.conninfo;
    if (
      c === null ||
      sourceMember(c, want) !== P ||
      c.user !== want.user ||
      c.applicationName !== m.member ||
      (want.slots && m.slotName !== slotFor(m.member))
    ) {
      drift.push({
        kind: KIND,
        id: m.member,
        field: 'primary_conninfo',
        desired: `${P} as ${want.user}${want.slots ? `, slot ${slotFor(m.member)}` : ''}`,
        observed:
          c === null
            ? '(none)'
            : `${sourceMember(c, want) ?? `${c.host}:${c.port}`} as ${c.user}${m.slotName === '' ? '' : `, slot ${m.slotName}`}`,
      });
      add({
        id: m.member,
        action: 'repoint',
        risk: 'safe',
        phase: 20,
        members: [m.member],
        commands: setPrimary(m),
        settleMs: 500,
        summary: `point ${m.member} at ${P} (primary_conninfo${want.slots ? `, slot ${slotFor(m.member)}` : ''}, reload)`,
        ...(m.version !== null && m.version < 130000
          ? {
              blocked: `${m.member} runs PostgreSQL ${Math.floor(m.version / 10000)}, which reads primary_conninfo only at start: setpoint manages streaming replication from PostgreSQL 13`,
              needsHuman: 'UnsupportedVersion',
            }
          : ready === undefined
            ? {}
            : { blocked: ready }),
        run: async (io) => {
          await repoint(io, m);
          io.note(`${m.member} follows ${P}`, { member: m.member, source: P });
        },
      });
      continue;
    }
    if (m.receiver?.status !== 'streaming') {
      lasting.push(
        `standby ${m.member} is not streaming from ${P}${p.hbaAllows === false ? ' (pg_hba.conf)' : " (check the password, pg_hba.conf and the servers' logs)"}`,
      );
      continue;
    }
    const lsn = lsnBytes(m.lsn);
    if (primaryLsn !== null && lsn !== null && primaryLsn - lsn > BigInt(want.maxLagBytes))
      lasting.push(
        `standby ${m.member} is ${Number(primaryLsn - lsn)} bytes behind (more than maxLagBytes ${want.maxLagBytes})`,
      );
  }
  return plan();

  function sourceOfM(m: PgMember): string | undefined {
    return m.conninfo === null ? undefined : sourceMember(m.conninfo, want);
  }

  /**
   * Rebuilds a member as a standby of the primary: stop, data directory moved aside, pg_basebackup -R,
   * start. A diverged copy is rewound instead when the file allows it (pg_rewind -R; a failed rewind falls
   * back to the base backup in the same step).
   */
  function build(m: PgMember, why: string, ready: string | undefined, diverged = false): void {
    const dd = m.dataDir;
    const pe = want.endpoints[P];
    if (dd === null || pe === undefined) return;
    const slot = want.slots ? ` -S ${shq(slotFor(m.member))}` : '';
    // Both tools copy the source's postgresql.auto.conf, with the slot it used when it was a standby itself:
    // a wrong slot keeps the copy from streaming, so from ever becoming consistent (and its start from ending).
    const slotLine = `printf '%s\\n' ${shq(`primary_slot_name = '${want.slots ? slotFor(m.member) : ''}'`)} >> "$d/postgresql.auto.conf"; `;
    const dsn = `host=${pe.host} port=${pe.port} user=${want.user} application_name=${m.member}`;
    // On any failure the half-made copy is removed and the old data directory put back where it was.
    const script =
      `set -e; cd /; ${bindir(m.version)}d=${shq(dd)}; ${MOVE_ASIDE}` +
      'back() { if [ -n "$aside" ]; then rm -rf -- "$d"; mv -- "$aside" "$d"; fi; }; trap back EXIT; ' +
      'install -d -o postgres -g postgres -m 0700 -- "$d"; IFS= read -r PGPASSWORD; export PGPASSWORD; ' +
      `runuser -p -u postgres -- "$pgbin/pg_basebackup" -d ${shq(dsn)} -D "$d" -R -X stream -c fast -w${slot}; ` +
      `${slotLine}trap - EXIT; echo "aside=$aside"`;
    const canRewind = diverged && want.rewind && (m.walLogHints || m.checksums);
    const rewind =
      `set -e; cd /; ${bindir(m.version)}d=${shq(dd)}; IFS= read -r PGPASSWORD; export PGPASSWORD; ` +
      `runuser -p -u postgres -- "$pgbin/pg_rewind" -D "$d" --source-server=${shq(`${dsn} dbname=postgres`)} -R 2>&1; ${slotLine}`;
    let blocked = ready;
    if (canRewind && blocked === undefined && !p?.rewindGrants)
      blocked = `waiting for ${want.user} to be granted the functions pg_rewind uses on ${P}`;
    add({
      id: m.member,
      action: canRewind ? 'rewind' : 'build',
      risk: 'disruptive',
      phase: 50,
      members: [m.member],
      commands: ['(service stop)', ...(canRewind ? [`CHECKPOINT (on ${P})`, rewind] : []), script, '(service start)'],
      summary: canRewind
        ? `rewind ${m.member} to ${P}'s timeline with pg_rewind (${why}); the transactions only it has are discarded`
        : `build ${m.member} as a standby of ${P} with pg_basebackup (${why}); its data directory is moved aside, not deleted`,
      ...(blocked === undefined ? {} : { blocked }),
      run: async (io) => {
        if (m.reachable) await service(io, m.member, 'stop');
        const backup = async () => {
          const r = await io.ssh(m.member).exec(script, { stdin: `${password.reveal()}\n`, timeoutMs: 3_600_000 });
          if (r.code !== 0) {
            // The old data is back in place: start the server as it was, then say why.
            if (m.reachable) await service(io, m.member, 'start').catch(() => undefined);
            throw new SetpointError(
              'file.write',
              `pg_basebackup on ${m.member} failed (exit ${r.code ?? '?'}; its data directory is as it was): ${r.stderr.trim().slice(0, 400)}`,
            );
          }
          io.note(
            `${m.member}: data directory ${/aside=(\S+)/.exec(r.stdout)?.[1] || '(none)'} kept; base backup of ${P} taken`,
            { member: m.member },
          );
          await service(io, m.member, 'start');
        };
        let rewound = false;
        if (canRewind) {
          // pg_rewind reads the source's timeline from its control file, which a promotion updates only at
          // the next checkpoint: without one it rewinds to the wrong timeline (PostgreSQL before 16).
          await io.sql(P).query('CHECKPOINT');
          const r = await io.ssh(m.member).exec(rewind, { stdin: `${password.reveal()}\n`, timeoutMs: 3_600_000 });
          const said = (r.stdout + r.stderr).trim();
          const where = /diverged at WAL location (\S+) on timeline (\d+)/.exec(said);
          if (r.code === 0) {
            rewound = true;
            io.note(
              `${m.member} rewound to ${P}${where === null ? '' : ` (diverged at ${where[1] ?? '?'} on timeline ${where[2] ?? '?'})`}`,
              { member: m.member, diverged: where?.[1] ?? null },
            );
          } else
            io.note(
              `pg_rewind on ${m.member} failed (exit ${r.code ?? '?'}): ${said.split('\n').slice(-2).join(' ').slice(0, 300)}; taking a base backup instead`,
              { member: m.member },
            );
        }
        if (!rewound) await backup();
        else
          await service(io, m.member, 'start').catch(async (err: unknown) => {
            io.note(
              `${m.member} does not start after pg_rewind (${err instanceof Error ? err.message.split('\n')[0] : String(err)}); taking a base backup instead`,
              { member: m.member },
            );
            await backup();
          });
        await io.reconnect(m.member, COME_BACK_MS);
        await repoint(io, m);
        io.note(`${m.member} is a standby of ${P}`, { member: m.member, source: P });
      },
    });
  }

  function switchover(o: PgMember, cand: PgMember): void {
    const lag =
      o.reachable && !o.inRecovery
        ? (() => {
            const a = lsnBytes(o.lsn);
            const b = lsnBytes(cand.lsn);
            return a === null || b === null ? null : Number(a > b ? a - b : 0n);
          })()
        : null;
    const gate =
      cand.systemId !== o.systemId
        ? `${cand.member} is not a copy of ${o.member} (system identifiers differ)`
        : o.reachable && !o.inRecovery && cand.receiver?.status !== 'streaming'
          ? `${cand.member} is not streaming from ${o.member}`
          : lag === null && o.reachable && !o.inRecovery
            ? `${cand.member}'s lag is unknown`
            : (lag ?? 0) > want.maxLagBytes
              ? `${cand.member} is ${lag ?? '?'} bytes behind ${o.member}, more than maxLagBytes ${want.maxLagBytes}: the switchover does not start`
              : undefined;
    if (o.reachable && !o.inRecovery) {
      const dd = o.dataDir;
      add({
        id: cluster,
        action: 'switchover',
        risk: 'disruptive',
        phase: 50,
        members: [o.member, cand.member],
        commands: [
          'CHECKPOINT',
          '(service stop: fast)',
          'pg_controldata',
          'pg_last_wal_replay_lsn() >= the final checkpoint',
          'SELECT pg_promote(false)',
          'pg_is_in_recovery() until false',
        ],
        summary: `switchover ${o.member} -> ${cand.member}: stop ${o.member} cleanly (writes stop), let ${cand.member} replay its last WAL, promote ${cand.member}`,
        ...(gate === undefined ? {} : { blocked: gate }),
        ...(dd === null
          ? {
              blocked: `the data directory of ${o.member} is not known (setpoint needs to read data_directory: a superuser)`,
            }
          : {}),
        run: async (io) => {
          await io.sql(o.member).query('CHECKPOINT');
          const [pos] = await io.sql(o.member).query<{ l: string }>('SELECT pg_current_wal_lsn()::text AS l');
          io.note(`${o.member} checkpointed at ${pos?.l ?? '?'}; stopping it (fast)`, {
            member: o.member,
            position: pos?.l ?? null,
          });
          const t0 = Date.now();
          const ctl = await service(
            io,
            o.member,
            'stop',
            `${bindir(o.version)}"$pgbin/pg_controldata" ${shq(dd ?? '')}`,
          );
          const stopMs = Date.now() - t0;
          const final = /Latest checkpoint location:\s*([0-9A-F]+\/[0-9A-F]+)/i.exec(ctl.stdout)?.[1];
          const clean = /Database cluster state:\s*shut down\s*$/im.test(ctl.stdout);
          const back = async (why: string) => {
            await service(io, o.member, 'start');
            io.note(`switchover rolled back: ${why}; ${o.member} started again as the primary`, { member: o.member });
            throw new SetpointError(
              'sql.rejected',
              `switchover ${o.member} -> ${cand.member} rolled back: ${why}; ${o.member} takes writes again`,
              { terminal: true },
            );
          };
          if (final === undefined || !clean)
            return back(
              `${o.member} did not shut down cleanly (pg_controldata: ${
                ctl.stdout
                  .trim()
                  .split('\n')
                  .find((l) => /cluster state/i.test(l)) ?? ctl.stderr.trim().slice(0, 200)
              })`,
            );
          io.note(`${o.member} is stopped (in ${stopMs} ms); its last checkpoint is at ${final}`, {
            member: o.member,
            position: final,
            stopMs,
          });
          const end = Date.now() + want.catchUpSeconds * 1000;
          for (;;) {
            const [r] = await io
              .sql(cand.member)
              .query<{ ok: boolean; l: string | null }>(
                'SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok, pg_last_wal_replay_lsn()::text AS l',
                [final],
              );
            if (r?.ok === true) {
              io.note(`${cand.member} has replayed ${final} (at ${r.l ?? '?'})`, {
                member: cand.member,
                position: r.l,
              });
              break;
            }
            if (Date.now() > end)
              return back(
                `${cand.member} did not replay ${final} within catchUpSeconds ${want.catchUpSeconds} (at ${r?.l ?? '?'})`,
              );
            await new Promise((x) => setTimeout(x, 10));
          }
          await promote(io, cand.member);
          io.note(`${cand.member} is the primary`, { member: cand.member });
        },
      });
      return;
    }
    // The old primary is down (fenced, or stopped by a switchover a crash interrupted): replay what was received, promote.
    add({
      id: cluster,
      action: 'promote',
      risk: 'disruptive',
      phase: 50,
      members: [cand.member],
      forward: true,
      commands: [
        'pg_last_wal_replay_lsn() >= pg_last_wal_receive_lsn()',
        'SELECT pg_promote(false)',
        'pg_is_in_recovery() until false',
      ],
      summary: `switchover ${o.member} -> ${cand.member}: ${o.member} ${o.reachable ? 'is a standby itself' : 'cannot be reached: fenced, its steps skipped'}; ${cand.member} replays what it received and is promoted`,
      ...(cand.systemId !== o.systemId && o.systemId !== null
        ? { blocked: `${cand.member} is not a copy of ${o.member}`, needsHuman: 'SwitchoverBlocked' }
        : {}),
      run: async (io) => {
        const end = Date.now() + want.catchUpSeconds * 1000;
        for (;;) {
          const [r] = await io
            .sql(cand.member)
            .query<{ ok: boolean | null }>('SELECT pg_last_wal_replay_lsn() >= pg_last_wal_receive_lsn() AS ok');
          if (r?.ok !== false || Date.now() > end) break;
          await new Promise((x) => setTimeout(x, 10));
        }
        await promote(io, cand.member);
        io.note(`${cand.member} is the primary (${o.member} fenced)`, { member: cand.member });
      },
    });
  }
}
