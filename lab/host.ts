// A lab "bare-metal host": one loopback address carrying any of sshd, MariaDB and PostgreSQL.
import { startMariaDB, type MariaDBInstance, type MariaDBOptions } from './mariadb.js';
import { startPostgres, type PostgresInstance, type PostgresOptions } from './postgres.js';
import { startSshd, type SshdInstance, type SshdOptions } from './sshd.js';
import { validateLabAddress } from './dirs.js';

export interface HostOptions {
  /** A label for messages (e.g. 'db1'). */
  name: string;
  /** Loopback address shared by the host's services (127.x.y.z, never 127.0.0.1). */
  address: string;
  /** Parent of the instance folders unless a service's own options say otherwise. */
  baseDir?: string;
  mariadb?: boolean | Omit<MariaDBOptions, 'address'>;
  postgres?: boolean | Omit<PostgresOptions, 'address'>;
  ssh?: boolean | Omit<SshdOptions, 'address'>;
}

export interface LabHost {
  readonly name: string;
  readonly address: string;
  readonly mariadb?: MariaDBInstance;
  readonly postgres?: PostgresInstance;
  readonly sshd?: SshdInstance;
  /** Destroy the host's services (databases first, then sshd). Idempotent. */
  destroy(): Promise<void>;
}

function serviceOptions<T extends { baseDir?: string }>(
  spec: boolean | Omit<T, 'address'> | undefined,
  address: string,
  baseDir: string | undefined,
): (T & { address: string }) | null {
  if (spec === undefined || spec === false) return null;
  const o = { ...(spec === true ? {} : spec), address } as T & { address: string };
  if (o.baseDir === undefined && baseDir !== undefined) o.baseDir = baseDir;
  return o;
}

/** Start the requested services in parallel; if one fails the others are destroyed and the error rethrown. */
export async function startHost(opts: HostOptions): Promise<LabHost> {
  validateLabAddress(opts.address);
  const my = serviceOptions<MariaDBOptions>(opts.mariadb, opts.address, opts.baseDir);
  const pg = serviceOptions<PostgresOptions>(opts.postgres, opts.address, opts.baseDir);
  const ssh = serviceOptions<SshdOptions>(opts.ssh, opts.address, opts.baseDir);
  const label =
    (what: string) =>
    (e: unknown): never => {
      const err = e instanceof Error ? e : new Error(String(e));
      err.message = `lab host ${opts.name} (${opts.address}) ${what}: ${err.message}`;
      throw err;
    };
  const results = await Promise.allSettled([
    my ? startMariaDB(my).catch(label('MariaDB')) : Promise.resolve(undefined),
    pg ? startPostgres(pg).catch(label('PostgreSQL')) : Promise.resolve(undefined),
    ssh ? startSshd(ssh).catch(label('sshd')) : Promise.resolve(undefined),
  ]);
  const [rMy, rPg, rSsh] = results;
  const started = results.flatMap((r) => (r.status === 'fulfilled' && r.value ? [r.value] : []));
  const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
  if (failures.length > 0) {
    await Promise.allSettled(started.map((s) => s.destroy()));
    if (failures.length === 1) throw failures[0];
    throw new AggregateError(
      failures,
      `lab host ${opts.name} (${opts.address}): ${failures.map((f) => (f instanceof Error ? f.message : String(f))).join('; ')}`,
    );
  }
  const host: { -readonly [K in keyof LabHost]: LabHost[K] } = {
    name: opts.name,
    address: opts.address,
    destroy: async () => {
      const dbs = [host.mariadb, host.postgres].flatMap((s) => (s ? [s.destroy()] : []));
      const dbResults = await Promise.allSettled(dbs);
      const sshResult = host.sshd ? await Promise.allSettled([host.sshd.destroy()]) : [];
      const errors = [...dbResults, ...sshResult].flatMap((r) =>
        r.status === 'rejected' ? [r.reason as unknown] : [],
      );
      if (errors.length > 0) throw new AggregateError(errors, `lab host ${opts.name}: destroy failed`);
    },
  };
  if (rMy?.status === 'fulfilled' && rMy.value) host.mariadb = rMy.value;
  if (rPg?.status === 'fulfilled' && rPg.value) host.postgres = rPg.value;
  if (rSsh?.status === 'fulfilled' && rSsh.value) host.sshd = rSsh.value;
  return host;
}
