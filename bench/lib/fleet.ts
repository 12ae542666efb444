/**
 * A fleet for the daemon benchmarks: H lab hosts, each with MariaDB and PostgreSQL (and sshd when
 * asked), one mysql cluster and one postgres cluster per host, each with `sets` object sets (three
 * objects each: a database, a user and a grant on MariaDB; a role, a schema and a grant on
 * PostgreSQL), seeded with plain DDL so the daemon starts on converged servers.
 */
import { writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { LabHost } from '../../lab/index.js';
import { benchAddress, join, mariadbSession, psqlSession, startHosts } from './lab.js';
import { sleep } from './report.js';
import {
  hostsBlock,
  mysqlCluster,
  mysqlDdl,
  PASSWORD,
  postgresCluster,
  postgresDdl,
  spec,
  type HostRef,
} from './specs.js';

export interface Fleet {
  hosts: LabHost[];
  /** Spec text (edit and rewrite `file` to change it). */
  text: string;
  file: string;
  /** Cluster names, alternating mysql and postgres: m0, p0, m1, p1, ... */
  clusters: string[];
  /** First object number of a cluster (objects are numbered per cluster: base, base+1, ...). */
  base(cluster: string): number;
  /** The PostgreSQL database of host i. */
  pgDb(i: number): string;
  pwFile: string;
}

export interface FleetOptions {
  dir: string;
  hosts: number;
  /** Third octet of the hosts' addresses (60–69). */
  octet: number;
  /** Object sets per cluster (three objects each). */
  sets: number;
  ssh: boolean;
  policy: string;
  log?: (msg: string) => void;
}

export async function startFleet(o: FleetOptions): Promise<Fleet> {
  const log = o.log ?? (() => undefined);
  log(`starting ${o.hosts} hosts (MariaDB + PostgreSQL${o.ssh ? ' + sshd' : ''}) on 127.0.${o.octet}.1-${o.hosts}`);
  const t0 = Date.now();
  const first = await startHosts([
    { name: 'f1', address: benchAddress(o.octet, 1), mariadb: true, postgres: true, ssh: o.ssh, baseDir: o.dir },
  ]);
  const key = first[0]?.sshd?.clientKeyFile;
  const rest = await startHosts(
    Array.from({ length: o.hosts - 1 }, (_, i) => ({
      name: `f${i + 2}`,
      address: benchAddress(o.octet, i + 2),
      mariadb: true,
      postgres: true,
      ssh: o.ssh ? (key === undefined ? true : { clientKeyFile: key }) : false,
      baseDir: o.dir,
    })),
  );
  const hosts = [...first, ...rest];
  log(`${hosts.length} hosts up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const pwFile = join(o.dir, 'pw');
  writeFileSync(pwFile, `${PASSWORD}\n`, { mode: 0o600 });
  const knownHosts = join(o.dir, 'known_hosts');
  if (o.ssh) writeFileSync(knownHosts, hosts.map((h) => h.sshd?.knownHostsLine ?? '').join('\n') + '\n');
  const refs: HostRef[] = hosts.map((h, i) => ({
    name: `h${i}`,
    address: h.address,
    mysql: true,
    postgres: true,
    ...(o.ssh && key !== undefined
      ? {
          ssh: {
            key,
            knownHosts,
            status: h.mariadb?.scripts.status ?? 'true',
            start: h.mariadb?.scripts.start ?? 'true',
          },
        }
      : {}),
  }));
  const base = (i: number) => i * 1000;
  const pgDb = (i: number) => `b${i}`;
  let clusters = '';
  const names: string[] = [];
  hosts.forEach((_, i) => {
    clusters += mysqlCluster(`m${i}`, [`h${i}`], base(i), base(i) + o.sets, pwFile);
    clusters += postgresCluster(`p${i}`, [`h${i}`], base(i), base(i) + o.sets, [pgDb(i)]);
    names.push(`m${i}`, `p${i}`);
  });
  const text = spec(hostsBlock(refs), clusters, o.policy);
  const file = join(o.dir, 'fleet.yaml');
  writeFileSync(file, text);
  log('seeding every server with its objects (plain DDL)');
  const t1 = Date.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 6 }, async () => {
      for (;;) {
        const i = next++;
        const h = hosts[i];
        if (h === undefined) return;
        await mariadbSession(h.address, mysqlDdl(base(i), base(i) + o.sets));
        await psqlSession(h.address, 'postgres', postgresDdl(base(i), base(i) + o.sets, [pgDb(i)], true));
      }
    }),
  );
  log(`seeded in ${((Date.now() - t1) / 1000).toFixed(1)} s`);
  return { hosts, text, file, clusters: names, base: (c) => base(Number(c.slice(1))), pgDb, pwFile };
}

/** Waits until the history file shows every cluster member converged by a pass after `since`. */
export async function waitConverged(db: string, targets: number, since: number, timeoutMs: number): Promise<number> {
  const end = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      const h = new Database(db, { readonly: true, fileMustExist: true });
      try {
        const rows = h
          .prepare('SELECT state, COUNT(*) AS n FROM targets WHERE pass_at >= ? GROUP BY state')
          .all(since) as { state: string; n: number }[];
        last = rows.map((r) => `${r.state}=${r.n}`).join(' ');
        const ok = rows.find((r) => r.state === 'converged')?.n ?? 0;
        if (ok === targets) return Date.now();
      } finally {
        h.close();
      }
    } catch {
      // not created yet
    }
    if (Date.now() > end) throw new Error(`not converged after ${timeoutMs} ms: ${last}`);
    await sleep(250);
  }
}
