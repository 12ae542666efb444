// The setpoint lab: real MariaDB 10.11, PostgreSQL 15 and sshd instances on 127.x.y.z loopback
// addresses, for integration tests, benchmarks and the demo (npm run demo). Node built-ins only.
//
// Must run as root on Debian (servers run as the mysql/postgres users). The machine's own
// services on 127.0.0.1 are never touched: lab addresses must be 127.x.y.z other than 127.0.0.1.
// Set SETPOINT_LAB_KEEP=1 to leave instances running when the process exits (for debugging).
export { startMariaDB, type MariaDBInstance, type MariaDBOptions } from './mariadb.js';
export { startPostgres, type PostgresInstance, type PostgresOptions } from './postgres.js';
export { startSshd, type SshdInstance, type SshdOptions } from './sshd.js';
export { startHost, type HostOptions, type LabHost } from './host.js';
export { CommandError } from './commands.js';
export { cacheRoot, defaultBaseDir } from './dirs.js';
export { destroyAll, sweepStale } from './registry.js';
