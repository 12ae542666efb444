/** The mysql engine: MySQL 5.7/8.x and MariaDB 10.x/11.x, flavor detected per connection. */
import type { Engine } from '../../src/engine.js';
import { resolveSecret } from '../../src/secret.js';
import type { SecretRef } from '../../src/spec/types.js';
import { databases } from './databases.js';
import { grants } from './grants.js';
import { checkCluster, clusterShape, connectionSchema } from './schema.js';
import { classifyMysqlError, connectMysql, type MysqlSession } from './session.js';
import { users } from './users.js';
import { configFile, variables } from './variables.js';
import { facts, service } from '../host/index.js';

interface Conn {
  port: number;
  user: string;
  password?: SecretRef;
}

export const mysqlEngine: Engine<Conn, MysqlSession> = {
  name: 'mysql',
  hostKey: 'mysql',
  connectionSchema: connectionSchema as unknown as Engine<Conn, MysqlSession>['connectionSchema'],
  clusterShape,
  checkCluster,
  async connect(host, conn, opts) {
    return connectMysql(host.address, { port: conn.port, user: conn.user, ...(conn.password === undefined ? {} : { password: resolveSecret(conn.password) }) }, {
      timeoutMs: opts.timeoutMs,
      statementTimeoutMs: opts.statementTimeoutMs,
    });
  },
  facts(session) {
    return { flavor: session.flavor, currentUser: session.currentUser, dataDir: session.dataDir };
  },
  packages: ['mariadb-server', 'mysql-server', 'percona-server-server', 'mysql-community-server', 'mariadb-server-core'],
  // The service first: a stopped server is started before anything else is looked at.
  kinds: [service, facts, databases, users, grants, configFile, variables],
  classify: classifyMysqlError,
};
