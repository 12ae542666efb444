/**
 * A PostgreSQL session: one admin connection to the server's `database`, plus at most `connections`
 * (default 4) connections to other databases, opened when a kind first needs that database's
 * catalogs, kept across passes, and closed least recently used first when another database needs
 * one: a server with more databases than max_connections is managed all the same.
 * Every statement on any of them is counted. Utility statements take no bind parameters: their
 * parameters are inlined as literals here, so what history records keeps `$1` where a secret was.
 */
import type pg from 'pg';
import type { BaseFacts, BatchResult, ErrorClass, KindContext, Session, Statement } from '../../src/engine.js';
import type { ErrorCode } from '../../src/errors.js';
import type { PostgresCluster } from './spec.js';
import { redactError, Secret } from '../../src/secret.js';
import { inlineParams, literalOf } from './quote.js';

/** Connection settings of `hosts.<name>.postgres`. */
export interface PgConnection {
  port: number;
  user: string;
  database: string;
  password?: Secret;
  /** At most this many connections to other databases at any time, besides the admin one. Defaults to 4. */
  connections?: number;
}

/** One connection to a database other than the admin one. */
interface Scoped {
  client: Promise<pg.Client>;
  /** Statements running on it now: it is closed only when idle. */
  busy: number;
  /** When it was last released (a counter), to close the least recently used first. */
  used: number;
}

/** What the session learns once, at connect. */
export interface PgFacts {
  /** server_version_num, e.g. 150007. */
  version: number;
  /** The role the session is logged in as: never changed by setpoint. */
  currentUser: string;
  /** Whether that role is a superuser (then pg_authid and pg_file_settings can be read). */
  superuser: boolean;
  /** The bootstrap superuser (oid 10): never changed by setpoint. */
  bootstrapUser: string;
  /** The database of the admin connection: never dropped. */
  database: string;
  /** The data directory, when the role may read it (for the host facts). */
  dataDir?: string;
}

/** The context of every postgres kind. */
export type PgContext = KindContext<PostgresCluster, PgFacts & BaseFacts>;

/** A database as the databases kind saw it in the current observation. */
export interface DatabaseRef {
  name: string;
  allowConnections: boolean;
}

/** Options of one statement: which database's connection runs it (the admin one when omitted). */
export interface QueryOptions {
  scope?: string | undefined;
}

// Statements PostgreSQL can bind parameters for; every other one (CREATE ROLE, ALTER SYSTEM, GRANT...) gets them inlined.
const BINDABLE = /^\s*(SELECT|WITH|INSERT|UPDATE|DELETE|VALUES)\b/i;
// Transactional utility statements that may share a simple query (never CREATE/DROP DATABASE, ALTER SYSTEM,
// ALTER DATABASE (SET TABLESPACE cannot run in a transaction) or anything that reads).
const BATCHABLE =
  /^\s*(?:(?:CREATE|ALTER|DROP)\s+(?:ROLE|USER|GROUP|SCHEMA)\b|GRANT\b|REVOKE\b|COMMENT\s+ON\b|ALTER\s+DEFAULT\s+PRIVILEGES\b)/i;

type Opener = (database: string) => Promise<pg.Client>;

export class PgSession implements Session {
  readonly stats = { statements: 0, bytesIn: 0 };
  broken = false;
  readonly server: string;
  private readonly scoped = new Map<string, Scoped>();
  /** Connections being closed: they still count against the bound until the server has let them go. */
  private closing = 0;
  private readonly waiters: (() => void)[] = [];
  private tick = 0;
  /** The most connections to other databases open at once since start (for tests and benchmarks). */
  peakScoped = 0;

  constructor(
    private readonly admin: pg.Client,
    readonly facts: PgFacts,
    private readonly open: Opener,
    readonly maxScoped = 4,
  ) {
    this.server = `PostgreSQL ${Math.floor(facts.version / 10000)}.${facts.version % 100}`;
    admin.on('error', () => {
      this.broken = true;
    });
  }

  async query<T = Record<string, unknown>>(
    sql: string,
    params: readonly unknown[] = [],
    opts: QueryOptions = {},
  ): Promise<T[]> {
    const values = params.map((p) => (p instanceof Secret ? p.reveal() : p));
    const inline = values.length > 0 && !BINDABLE.test(sql);
    const text = inline ? inlineParams(sql, values.map(literalOf)) : sql;
    const secrets = params.filter((p) => p instanceof Secret).map((p) => p.reveal());
    return this.send<T>(opts.scope, inline || values.length === 0 ? text : { text, values }, secrets, 1);
  }

  /** Utility statements (DDL, GRANT...) PostgreSQL runs from one simple query, as one implicit transaction. */
  batchable(s: Statement): boolean {
    return BATCHABLE.test(s.sql);
  }

  /**
   * Each run of groups that are batchable and share a database goes as one simple query: one round
   * trip and one implicit transaction, so a failure leaves none of it done; the run is then sent
   * again in halves to find the change that fails (and do the ones before it).
   */
  async batch(groups: readonly (readonly Statement[])[]): Promise<BatchResult> {
    const scopeOf = (x: Statement) => (x.scope === undefined || x.scope === this.facts.database ? '' : x.scope);
    const one = async (g: readonly Statement[]) => {
      for (const x of g) await this.query(x.sql, x.params ?? [], { scope: x.scope });
    };
    let done = 0;
    while (done < groups.length) {
      const first = (groups[done] as readonly Statement[])[0];
      const scope = first === undefined ? '' : scopeOf(first);
      let end = done;
      const list: Statement[] = [];
      for (; end < groups.length; end++) {
        const g = groups[end] as readonly Statement[];
        if (g.length === 0 || !g.every((x) => this.batchable(x) && scopeOf(x) === scope)) break;
        list.push(...g);
      }
      if (list.length <= 1) {
        try {
          await one(groups[done] as readonly Statement[]);
          done++;
          continue;
        } catch (error) {
          return { done, error };
        }
      }
      const failed = await this.atomic(groups, done, end, scope === '' ? undefined : scope);
      if (failed !== undefined) return failed;
      done = end;
    }
    return { done };
  }

  /**
   * Sends groups [from, to) as one simple query. It is one implicit transaction, so when it fails none
   * of it took effect: the halves are sent again, and so on down to the one group that fails (a few
   * round trips for a batch of hundreds). Resolves to undefined when all of them are done.
   */
  private async atomic(
    groups: readonly (readonly Statement[])[],
    from: number,
    to: number,
    scope: string | undefined,
  ): Promise<BatchResult | undefined> {
    const secrets: string[] = [];
    let statements = 0;
    const text = groups
      .slice(from, to)
      .flat()
      .map((x) => {
        statements++;
        const params = x.params ?? [];
        for (const p of params) if (p instanceof Secret) secrets.push(p.reveal());
        const values = params.map((p) => (p instanceof Secret ? p.reveal() : p));
        return values.length === 0 ? x.sql : inlineParams(x.sql, values.map(literalOf));
      })
      .join(';\n');
    try {
      await this.send(scope, text, secrets, statements);
      return undefined;
    } catch (error) {
      if (to - from === 1 || isConnectionError(error)) return { done: from, error };
      const mid = (from + to) >> 1;
      return (await this.atomic(groups, from, mid, scope)) ?? (await this.atomic(groups, mid, to, scope));
    }
  }

  private async send<T>(
    scopeIn: string | undefined,
    q: string | { text: string; values: unknown[] },
    secrets: readonly string[],
    statements: number,
  ): Promise<T[]> {
    const scope = scopeIn === undefined || scopeIn === this.facts.database ? undefined : scopeIn;
    const entry = scope === undefined ? undefined : await this.acquire(scope);
    try {
      const client = entry === undefined ? this.admin : await entry.client;
      this.stats.statements += statements;
      const before = bytesRead(client);
      try {
        const r = await client.query<Record<string, unknown>>(q);
        // a multi-statement query answers with one result per statement
        return (Array.isArray(r) ? [] : r.rows) as T[];
      } catch (err) {
        if (isConnectionError(err)) {
          if (scope === undefined) this.broken = true;
          else this.forget(scope, client);
        }
        throw redactError(err, [...secrets]);
      } finally {
        this.stats.bytesIn += bytesRead(client) - before;
      }
    } finally {
      if (entry !== undefined) this.release(entry);
    }
  }

  /** Databases with an open (or opening) connection. */
  get databases(): string[] {
    return [...this.scoped.keys()];
  }

  /** Closes the connections to databases not in `keep` (dropped, or no longer declared). */
  async retain(keep: ReadonlySet<string>): Promise<void> {
    const gone = [...this.scoped.keys()].filter((d) => !keep.has(d));
    await Promise.all(gone.map((d) => this.closeScope(d)));
  }

  /**
   * The connection to `database`, marked busy: an open one, a new one while fewer than `maxScoped`
   * are open (or closing), or a new one in place of the least recently used idle one; otherwise it
   * waits until one is released.
   */
  private async acquire(database: string): Promise<Scoped> {
    for (;;) {
      const have = this.scoped.get(database);
      if (have !== undefined) {
        have.busy++;
        return have;
      }
      if (this.scoped.size + this.closing < this.maxScoped) {
        const e: Scoped = { client: this.open(database), busy: 1, used: this.tick };
        this.scoped.set(database, e);
        this.peakScoped = Math.max(this.peakScoped, this.scoped.size + this.closing);
        e.client.then(
          (client) => client.on('error', () => this.forget(database, client)),
          () => {
            if (this.scoped.get(database) === e) this.scoped.delete(database);
            this.wake();
          },
        );
        return e;
      }
      let lru: [string, Scoped] | undefined;
      for (const x of this.scoped) if (x[1].busy === 0 && (lru === undefined || x[1].used < lru[1].used)) lru = x;
      if (lru !== undefined) await this.closeScope(lru[0]);
      else await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  private release(e: Scoped): void {
    e.busy--;
    e.used = ++this.tick;
    if (e.busy === 0) this.wake();
  }

  /** Lets one waiting statement look again (a connection was released, closed or failed to open). */
  private wake(): void {
    this.waiters.shift()?.();
  }

  private forget(database: string, client: pg.Client): void {
    const e = this.scoped.get(database);
    if (e === undefined) return;
    this.scoped.delete(database);
    this.closing++;
    void client
      .end()
      .catch(() => undefined)
      .finally(() => {
        this.closing--;
        this.wake();
      });
  }

  private async closeScope(database: string): Promise<void> {
    const e = this.scoped.get(database);
    if (e === undefined) return;
    this.scoped.delete(database);
    this.closing++;
    try {
      await (await e.client).end();
    } catch {
      // already gone
    } finally {
      this.closing--;
      this.wake();
    }
  }

  async close(): Promise<void> {
    this.broken = true;
    await Promise.all([...this.scoped.keys()].map((d) => this.closeScope(d)));
    try {
      await this.admin.end();
    } catch {
      // already gone
    }
  }
}

function bytesRead(client: pg.Client): number {
  const stream = (client as unknown as { connection?: { stream?: { bytesRead?: number } } }).connection?.stream;
  return stream?.bytesRead ?? 0;
}

/** Opens a session and learns its facts in one round trip. */
export async function connectPostgres(
  address: string,
  c: PgConnection,
  opts: { timeoutMs: number; statementTimeoutMs: number; owner?: string },
): Promise<PgSession> {
  // Loaded here, not at start-up: commands that never connect (validate, status, history) skip it.
  const { Client } = (await import('pg')).default;
  const open: Opener = async (database) => {
    const client = new Client({
      host: address,
      port: c.port,
      user: c.user,
      database,
      ...(c.password === undefined ? {} : { password: c.password.reveal() }),
      connectionTimeoutMillis: opts.timeoutMs,
      statement_timeout: opts.statementTimeoutMs,
      query_timeout: opts.statementTimeoutMs + 5000,
      application_name: (opts.owner === undefined ? 'setpoint' : `setpoint ${opts.owner}`).slice(0, 63),
      keepAlive: true,
    });
    // Until the session takes it over, an error on an idle client must not crash the daemon.
    client.on('error', () => undefined);
    try {
      await client.connect();
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
    return client;
  };
  const admin = await open(c.database);
  try {
    const r = await admin.query<{
      v: string;
      u: string;
      su: boolean | null;
      boot: string;
      db: string;
      dd: string | null;
    }>(
      "SELECT current_setting('server_version_num') AS v, current_user AS u, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS su, " +
        "(SELECT rolname FROM pg_roles WHERE oid = 10) AS boot, current_database() AS db, (SELECT setting FROM pg_settings WHERE name = 'data_directory') AS dd",
    );
    const row = r.rows[0];
    if (row === undefined) throw new Error('the server returned no row for its version');
    const session = new PgSession(
      admin,
      {
        version: Number(row.v),
        currentUser: row.u,
        superuser: row.su === true,
        bootstrapUser: row.boot,
        database: row.db,
        ...(row.dd === null ? {} : { dataDir: row.dd }),
      },
      open,
      c.connections ?? 4,
    );
    session.stats.statements = 1;
    return session;
  } catch (err) {
    await admin.end().catch(() => undefined);
    throw err;
  }
}

const NODE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** True when the connection (not just the statement) failed. */
export function isConnectionError(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  if (
    e.code !== undefined &&
    (NODE_CODES.has(e.code) ||
      e.code.startsWith('08') ||
      e.code === '57P01' ||
      e.code === '57P02' ||
      e.code === '57P03')
  )
    return true;
  return /Connection terminated|Client has encountered a connection error|not queryable|Query read timeout|timeout expired/i.test(
    e.message ?? '',
  );
}

// SQLSTATEs retrying cannot fix: a human must change the file, a secret or the server.
const TERMINAL: Record<string, ErrorCode> = {
  '28P01': 'sql.auth',
  '28000': 'sql.auth',
  '42501': 'sql.privilege',
  '42601': 'sql.rejected',
  '42602': 'sql.rejected',
  '42622': 'sql.rejected',
  '42704': 'sql.rejected',
  '42883': 'sql.rejected',
  '42939': 'sql.rejected',
  '22023': 'sql.rejected',
  '22P02': 'sql.rejected',
  '22003': 'sql.rejected',
  '0A000': 'sql.rejected',
  '2BP01': 'sql.rejected',
  '55000': 'sql.rejected',
  '22021': 'sql.rejected',
  '42809': 'sql.rejected',
  '0LP01': 'sql.rejected',
};

export function classifyPostgresError(err: unknown): ErrorClass {
  const e = err as { code?: string; message?: string; detail?: string; hint?: string };
  const message = [e.message ?? String(err), e.detail, e.hint].filter((x) => x !== undefined && x !== '').join('; ');
  const code = e.code ?? '';
  const terminal = TERMINAL[code];
  if (terminal !== undefined) return { terminal: true, code: terminal, message: `${message} (${code})` };
  if (isConnectionError(err))
    return { terminal: false, code: 'sql.unreachable', message: code === '' ? message : `${message} (${code})` };
  return { terminal: false, code: 'sql.error', message: code === '' ? message : `${message} (${code})` };
}
