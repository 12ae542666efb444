/** The mysql engine: MySQL 5.7/8.x and MariaDB 10.x/11.x, flavor detected per connection. */
import type { Engine } from '../../src/engine.js';
import { readSecret } from '../../src/secret.js';
import type { z } from 'zod';
import { databases } from './databases.js';
import { grants } from './grants.js';
import { checkCluster, clusterShape, connectionSchema } from './spec.js';
import { classifyMysqlError, connectMysql, type MysqlFacts, type MysqlSession } from './session.js';
import { replication } from './replication.js';
import { roleGrants } from './role-grants.js';
import { roles } from './roles.js';
import { users } from './users.js';
import { configFile, variables } from './variables.js';
import { facts, service } from '../host/index.js';

/** `hosts.<name>.mysql` as validated. */
type Conn = z.infer<typeof connectionSchema>;

const leased = new WeakSet<MysqlSession>();

const PACKAGES = [
  'mariadb-server',
  'mysql-server',
  'percona-server-server',
  'mysql-community-server',
  'mariadb-server-core',
];

export const mysqlEngine: Engine<Conn, MysqlSession, MysqlFacts> = {
  name: 'mysql',
  hostKey: 'mysql',
  connectionSchema,
  clusterShape,
  checkCluster,
  async connect(host, conn, opts) {
    return connectMysql(
      host.address,
      {
        port: conn.port,
        user: conn.user,
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
    // GET_LOCK is held by this connection until it closes: a daemon that dies lets go of it.
    const [r] = await session.query<{ got: number | null; who: number | null }>(
      "SELECT GET_LOCK('setpoint.lease', 0) AS got, IS_USED_LOCK('setpoint.lease') AS who",
    );
    if (Number(r?.got) === 1) {
      leased.add(session);
      return { held: true, taken: true };
    }
    const [p] = await session.query<{ u: string; h: string }>(
      'SELECT USER AS u, HOST AS h FROM information_schema.PROCESSLIST WHERE ID = ?',
      [r?.who ?? 0],
    );
    // The holder's name, where performance_schema keeps connection attributes (MySQL 8 by default).
    let name: string | undefined;
    try {
      const [a] = await session.query<{ v: string }>(
        "SELECT ATTR_VALUE AS v FROM performance_schema.session_connect_attrs WHERE PROCESSLIST_ID = ? AND ATTR_NAME = 'program_name'",
        [r?.who ?? 0],
      );
      if (a?.v.startsWith('setpoint') === true) name = a.v;
    } catch {
      // performance_schema off (MariaDB's default): the connection and its address say enough.
    }
    if (p === undefined) return { held: false, holder: 'another session (gone since)' };
    return { held: false, holder: `${name ?? 'another setpoint'}: connection ${String(r?.who)} from ${p.h} as ${p.u}` };
  },
  facts(session) {
    return { flavor: session.flavor, currentUser: session.currentUser, dataDir: session.dataDir, packages: PACKAGES };
  },
  packages: PACKAGES,
  // SSH kinds are probed together first (a stopped server is started before anything else); `needs` orders the rest.
  kinds: [service, facts, databases, roles, users, grants, roleGrants, configFile, variables],
  topology: replication,
  classify: classifyMysqlError,
};
