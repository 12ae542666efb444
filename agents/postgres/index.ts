/** The postgres engine: PostgreSQL 12 and later, one session per server, one extra connection per database it looks into. */
import type { Engine } from '../../src/engine.js';
import { resolveSecret } from '../../src/secret.js';
import type { SecretRef } from '../../src/spec/types.js';
import { databases } from './databases.js';
import { defaultPrivileges } from './default-privileges.js';
import { extensions } from './extensions.js';
import { privileges } from './privileges.js';
import { roles } from './roles.js';
import { checkCluster, clusterShape, connectionSchema } from './schema.js';
import { schemas } from './schemas.js';
import { classifyPostgresError, connectPostgres, type PgSession } from './session.js';
import { settings } from './settings.js';
import { facts, service } from '../host/index.js';

interface Conn {
  port: number;
  user: string;
  database: string;
  password?: SecretRef;
}

export const postgresEngine: Engine<Conn, PgSession> = {
  name: 'postgres',
  hostKey: 'postgres',
  connectionSchema: connectionSchema as unknown as Engine<Conn, PgSession>['connectionSchema'],
  clusterShape,
  checkCluster,
  async connect(host, conn, opts) {
    return connectPostgres(
      host.address,
      { port: conn.port, user: conn.user, database: conn.database, ...(conn.password === undefined ? {} : { password: resolveSecret(conn.password) }) },
      { timeoutMs: opts.timeoutMs, statementTimeoutMs: opts.statementTimeoutMs },
    );
  },
  facts(session) {
    return { ...session.facts };
  },
  packages: ['postgresql-17', 'postgresql-16', 'postgresql-15', 'postgresql-14', 'postgresql-13', 'postgresql-12', 'postgresql-server', 'postgresql'],
  // Observed in this order each round: the service first (a stopped server is started before
  // anything else); then roles and databases, because the per-database kinds read which roles and
  // databases exist from what those two saw (session.catalog).
  kinds: [service, facts, roles, databases, schemas, extensions, privileges, defaultPrivileges, settings],
  classify: classifyPostgresError,
};
