/**
 * The objects the benchmarks declare, as desired-state text, and the same objects as plain DDL (to
 * seed a server quickly, and as the floor the engine's own client sets).
 *
 * MySQL/MariaDB object i: database `d<i>`, user `u<i>`@`%` with a password (a file), and a grant of
 * SELECT, INSERT, UPDATE, DELETE on `d<i>`.*.
 * PostgreSQL object i: role `r<i>` (LOGIN), schema `s<i>` in database `b<i mod D>` (D databases,
 * created with STRATEGY FILE_COPY), and USAGE on that schema granted to the role.
 */
import { nativeHash } from '../../agents/mysql/password.js';

export const PASSWORD = 'Bench-pw-7Qx';
export const MYSQL_PRIVS = ['SELECT', 'INSERT', 'UPDATE', 'DELETE'];

export interface HostRef {
  name: string;
  address: string;
  mysql?: boolean;
  postgres?: boolean;
  /** SSH and service control: `{ key, knownHosts, status, start }` when the host is managed over SSH. */
  ssh?: { key: string; knownHosts: string; status: string; start: string };
}

export function hostsBlock(hosts: readonly HostRef[]): string {
  let out = 'hosts:\n';
  for (const h of hosts) {
    out += `  ${h.name}:\n    address: ${h.address}\n`;
    if (h.mysql === true) out += '    mysql: { port: 3306, user: root }\n';
    if (h.postgres === true) out += '    postgres: { port: 5432, user: postgres, database: postgres }\n';
    if (h.ssh !== undefined) {
      out += `    ssh: { port: 2222, user: root, privateKeyFile: ${h.ssh.key}, knownHostsFile: ${h.ssh.knownHosts} }\n`;
      out += `    service: { commands: { status: ${JSON.stringify(h.ssh.status)}, start: ${JSON.stringify(h.ssh.start)} } }\n`;
    }
  }
  return out;
}

/** A mysql cluster with objects [from, to). */
export function mysqlCluster(
  name: string,
  members: readonly string[],
  from: number,
  to: number,
  pwFile: string,
  extra = '',
): string {
  let out = `  ${name}:\n    engine: mysql\n    members: [${members.join(', ')}]\n${extra}    databases:\n`;
  for (let i = from; i < to; i++) out += `      - { name: d${i} }\n`;
  out += '    users:\n';
  for (let i = from; i < to; i++) {
    out += `      - { name: u${i}, host: "%", password: { file: ${pwFile} }, grants: [{ privileges: [${MYSQL_PRIVS.join(', ')}], on: "d${i}.*" }] }\n`;
  }
  return out;
}

/** The DDL of mysql objects [from, to), one statement per line. */
export function mysqlDdl(from: number, to: number): string {
  const hash = nativeHash(PASSWORD);
  let out = '';
  for (let i = from; i < to; i++) {
    out += `CREATE DATABASE \`d${i}\`;\nCREATE USER 'u${i}'@'%' IDENTIFIED BY PASSWORD '${hash}';\nGRANT ${MYSQL_PRIVS.join(', ')} ON \`d${i}\`.* TO 'u${i}'@'%';\n`;
  }
  return out;
}

/** A postgres cluster with objects [from, to) spread over `dbs` databases. */
export function postgresCluster(
  name: string,
  members: readonly string[],
  from: number,
  to: number,
  dbs: readonly string[],
  extra = '',
): string {
  const db = (i: number) => dbs[i % dbs.length] as string;
  let out = `  ${name}:\n    engine: postgres\n    members: [${members.join(', ')}]\n${extra}    databases:\n`;
  for (const d of dbs) out += `      - { name: ${d}, strategy: file_copy }\n`;
  out += '    roles:\n';
  for (let i = from; i < to; i++) out += `      - { name: r${i}, login: true }\n`;
  out += '    schemas:\n';
  for (let i = from; i < to; i++) out += `      - { database: ${db(i)}, name: s${i} }\n`;
  out += '    privileges:\n';
  for (let i = from; i < to; i++)
    out += `      - { database: ${db(i)}, role: r${i}, on: { schema: s${i} }, privileges: [USAGE] }\n`;
  return out;
}

/**
 * A postgres cluster with `n` databases m<i>, each with its own role m<i>_app and CONNECT, TEMPORARY on
 * it: database-level privileges only, so no database's own catalogs need to be read.
 */
export function postgresManyDatabases(name: string, members: readonly string[], n: number): string {
  let out = `  ${name}:\n    engine: postgres\n    members: [${members.join(', ')}]\n    roles:\n`;
  for (let i = 0; i < n; i++) out += `      - { name: m${i}_app, login: false }\n`;
  out += '    databases:\n';
  for (let i = 0; i < n; i++) out += `      - { name: m${i}, strategy: file_copy }\n`;
  out += '    privileges:\n';
  for (let i = 0; i < n; i++)
    out += `      - { database: m${i}, role: m${i}_app, on: database, privileges: [CONNECT, TEMPORARY] }\n`;
  return out;
}

/** psql input creating postgres objects [from, to) (databases first when `withDatabases`). */
export function postgresDdl(from: number, to: number, dbs: readonly string[], withDatabases: boolean): string {
  let out = '';
  if (withDatabases) for (const d of dbs) out += `CREATE DATABASE ${d} STRATEGY FILE_COPY;\n`;
  out += 'BEGIN;\n';
  for (let i = from; i < to; i++) out += `CREATE ROLE r${i} LOGIN;\n`;
  out += 'COMMIT;\n';
  dbs.forEach((d, k) => {
    out += `\\c ${d}\nBEGIN;\n`;
    for (let i = from; i < to; i++) {
      if (i % dbs.length !== k) continue;
      out += `CREATE SCHEMA s${i};\nGRANT USAGE ON SCHEMA s${i} TO r${i};\n`;
    }
    out += 'COMMIT;\n';
  });
  return out;
}

export function spec(hosts: string, clusters: string, policy = ''): string {
  return `version: 1\n${hosts}clusters:\n${clusters}${policy === '' ? '' : `policy:\n${policy}`}`;
}
