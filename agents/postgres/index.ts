/** The postgres engine: PostgreSQL 12 and later, one session per server, one extra connection per database it looks into. */
import type { BaseFacts, Engine } from '../../src/engine.js';
import { readSecret } from '../../src/secret.js';
import type { z } from 'zod';
import { databases } from './databases.js';
import { defaultPrivileges } from './default-privileges.js';
import { extensions } from './extensions.js';
import { privileges } from './privileges.js';
import { replication } from './replication.js';
import { roles } from './roles.js';
import { roleSettings } from './role-settings.js';
import { checkCluster, clusterShape, connectionSchema } from './spec.js';
import { schemas } from './schemas.js';
import { classifyPostgresError, connectPostgres, type PgFacts, type PgSession } from './session.js';
import { settings } from './settings.js';
import { facts, service } from '../host/index.js';

/** `hosts.<name>.postgres` as validated. */
type Conn = z.infer<typeof connectionSchema>;

const leased = new WeakSet<PgSession>();

const PACKAGES = [
  'postgresql-17',
  'postgresql-16',
  'postgresql-15',
  'postgresql-14',
  'postgresql-13',
  'postgresql-12',
  'postgresql-server',
  'postgresql',
];

export const postgresEngine: Engine<Conn, PgSession, PgFacts & BaseFacts> = {
  name: 'postgres',
  hostKey: 'postgres',
  connectionSchema,
  clusterShape,
  checkCluster,
  async connect(host, conn, opts) {
    return connectPostgres(
      host.address,
      {
        port: conn.port,
        user: conn.user,
        database: conn.database,
        connections: conn.connections,
        ...(conn.password === undefined ? {} : { password: await readSecret(conn.password) }),
      },
      {
        timeoutMs: opts.timeoutMs,
        statementTimeoutMs: opts.statementTimeoutMs,
        ...(opts.owner === undefined ? {} : { owner: opts.owner }),
      },
    );
  },
  async lease(session) {
    if (leased.has(session)) return { held: true, taken: false };
    // A session-level advisory lock: held until this connection closes. application_name says who holds it.
    const [r] = await session.query<{ got: boolean }>("SELECT pg_try_advisory_lock(hashtext('setpoint.lease')) AS got");
    if (r?.got === true) {
      leased.add(session);
      return { held: true, taken: true };
    }
    const [h] = await session.query<{ app: string | null; addr: string | null; pid: number }>(
      "SELECT a.application_name AS app, host(a.client_addr) AS addr, a.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted AND l.objid = (hashtext('setpoint.lease')::bigint & 4294967295)::oid LIMIT 1",
    );
    return {
      held: false,
      holder:
        h === undefined
          ? 'another session (gone since)'
          : `${h.app ?? 'unknown'} (pid ${h.pid}${h.addr === null ? '' : ` from ${h.addr}`})`,
    };
  },
  facts(session) {
    return { ...session.facts, packages: PACKAGES };
  },
  packages: PACKAGES,
  // The order of observation follows `needs` (roles, then databases, then what lives inside them);
  // SSH kinds (service first: a stopped server is started before anything else) are probed together.
  kinds: [service, facts, roles, roleSettings, databases, schemas, extensions, privileges, defaultPrivileges, settings],
  topology: replication,
  classify: classifyPostgresError,
};
