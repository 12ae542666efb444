/** A MySQL/MariaDB session: one mysql2 connection, its flavor learned once, statements counted. */
import type mysql from 'mysql2/promise';
import type { BaseFacts, BatchResult, ErrorClass, KindContext, Session, Statement } from '../../src/engine.js';
import type { ErrorCode } from '../../src/errors.js';
import type { MysqlCluster } from './spec.js';
import { redactError, Secret } from '../../src/secret.js';

/** Which server family a session talks to; decides the statement dialect. */
export interface Flavor {
  kind: 'mysql' | 'mariadb';
  major: number;
  minor: number;
  patch: number;
  /** Full version string as the server reports it. */
  version: string;
}

export function parseFlavor(version: string, comment: string): Flavor {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(version);
  const kind = /mariadb/i.test(version) || /mariadb/i.test(comment) ? 'mariadb' : 'mysql';
  return { kind, major: Number(m?.[1] ?? 0), minor: Number(m?.[2] ?? 0), patch: Number(m?.[3] ?? 0), version };
}

/** True when the flavor's version is at least major.minor. */
export function atLeast(f: Flavor, major: number, minor = 0): boolean {
  return f.major > major || (f.major === major && f.minor >= minor);
}

/** Connection settings of `hosts.<name>.mysql`. */
/** What a mysql session learns once, as the kinds read it (`ctx.facts`). */
export interface MysqlFacts extends BaseFacts {
  flavor: Flavor;
  /** The account setpoint logs in as: never changed. */
  currentUser: { user: string; host: string };
  dataDir: string;
}

/** The context of every mysql kind. */
export type MysqlContext = KindContext<MysqlCluster, MysqlFacts>;

export interface MysqlConnection {
  port: number;
  user: string;
  password?: Secret;
}

// DDL that answers with an OK packet and may share a request with others (never SET GLOBAL, replication or reads).
const BATCHABLE =
  /^\s*(?:(?:CREATE|ALTER|DROP|RENAME)\s+(?:USER|ROLE|DATABASE|SCHEMA)\b|GRANT\b|REVOKE\b|SET\s+DEFAULT\s+ROLE\b|SET\s+PASSWORD\b)/i;

/** The callback connection under mysql2's promise wrapper: its query emits `result` per statement. */
interface CoreConnection {
  query(
    opts: { sql: string; values: unknown[]; timeout: number },
    cb: (err: unknown) => void,
  ): { on(event: 'result', fn: () => void): unknown };
}

export class MysqlSession implements Session {
  readonly stats = { statements: 0, bytesIn: 0 };
  broken = false;
  readonly server: string;
  constructor(
    private readonly conn: mysql.Connection,
    readonly flavor: Flavor,
    /** The account this session is logged in as, as CURRENT_USER() reports it: never changed by setpoint. */
    readonly currentUser: { user: string; host: string },
    private readonly statementTimeoutMs: number,
    /** The server's data directory (@@datadir), for the host facts. */
    readonly dataDir: string,
  ) {
    this.server = `${flavor.kind === 'mariadb' ? 'MariaDB' : 'MySQL'} ${flavor.major}.${flavor.minor}.${flavor.patch}`;
    conn.on('error', () => {
      this.broken = true;
    });
  }

  async query<T = Record<string, unknown>>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
    this.stats.statements++;
    const values = params.map((p) => (p instanceof Secret ? p.reveal() : p));
    const before = this.bytesRead();
    try {
      const [rows] = await this.conn.query({ sql, values, timeout: this.statementTimeoutMs });
      return Array.isArray(rows) ? (rows as T[]) : [];
    } catch (err) {
      if (isConnectionError(err)) this.broken = true;
      throw redactError(
        err,
        params.filter((p) => p instanceof Secret).map((p) => p.reveal()),
      );
    } finally {
      this.stats.bytesIn += this.bytesRead() - before;
    }
  }

  /** DDL the server runs one after another from one request (multi-statements); never a query that returns rows. */
  batchable(s: Statement): boolean {
    return BATCHABLE.test(s.sql);
  }

  /**
   * The groups' statements in one request per run of batchable groups (the server stops at the first
   * error; each statement that ran answers with its own OK packet, which tells how far it got).
   */
  async batch(groups: readonly (readonly Statement[])[]): Promise<BatchResult> {
    let done = 0;
    while (done < groups.length) {
      let end = done;
      const list: Statement[] = [];
      while (end < groups.length && (groups[end] as readonly Statement[]).every((x) => this.batchable(x))) {
        list.push(...(groups[end] as readonly Statement[]));
        end++;
      }
      if (list.length <= 1) {
        // one statement, or a group that must run alone
        try {
          for (const x of groups[done] as readonly Statement[]) await this.query(x.sql, x.params ?? []);
          done++;
          continue;
        } catch (error) {
          return { done, error };
        }
      }
      const ran = await this.multi(list);
      if (ran.error === undefined) {
        done = end;
        continue;
      }
      // the group that holds the first statement that did not complete failed
      let count = 0;
      for (let g = done; g < end; g++) {
        count += (groups[g] as readonly Statement[]).length;
        if (count > ran.completed) return { done: g, error: ran.error };
      }
      return { done: end - 1, error: ran.error };
    }
    return { done };
  }

  /** Sends statements as one multi-statement request; counts the ones that completed. */
  private multi(list: readonly Statement[]): Promise<{ completed: number; error?: unknown }> {
    this.stats.statements += list.length;
    const params = list.flatMap((x) => x.params ?? []);
    const values = params.map((p) => (p instanceof Secret ? p.reveal() : p));
    const sql = list.map((x) => x.sql).join(';\n');
    const before = this.bytesRead();
    const core = (this.conn as unknown as { connection: CoreConnection }).connection;
    return new Promise((resolve) => {
      let completed = 0;
      const q = core.query({ sql, values, timeout: this.statementTimeoutMs * list.length }, (err) => {
        this.stats.bytesIn += this.bytesRead() - before;
        if (err === null || err === undefined) return resolve({ completed });
        if (isConnectionError(err)) this.broken = true;
        resolve({
          completed,
          error: redactError(
            err,
            params.filter((p) => p instanceof Secret).map((p) => p.reveal()),
          ),
        });
      });
      q.on('result', () => completed++);
    });
  }

  private bytesRead(): number {
    const stream = (this.conn as unknown as { connection?: { stream?: { bytesRead?: number } } }).connection?.stream;
    return stream?.bytesRead ?? 0;
  }

  async close(): Promise<void> {
    this.broken = true;
    try {
      await this.conn.end();
    } catch {
      this.conn.destroy();
    }
  }
}

/** Opens a session and learns the flavor and the session's own account in one round trip. */
export async function connectMysql(
  address: string,
  c: MysqlConnection,
  opts: { timeoutMs: number; statementTimeoutMs: number; owner?: string },
): Promise<MysqlSession> {
  // Loaded here, not at start-up: commands that never connect (validate, status, history) skip it.
  const { createConnection } = (await import('mysql2/promise')).default;
  const conn = await createConnection({
    host: address,
    port: c.port,
    user: c.user,
    password: c.password?.reveal() ?? '',
    connectTimeout: opts.timeoutMs,
    // A change batch is sent as one request (Session.batch): every statement is built by the dialect,
    // identifiers through quoteIdent and values escaped by mysql2, never text from outside.
    multipleStatements: true,
    supportBigNumbers: true,
    bigNumberStrings: true,
    dateStrings: true,
    charset: 'utf8mb4_general_ci',
    // Shown in performance_schema.session_connect_attrs where the server keeps it (who holds the lease).
    connectAttributes: { program_name: opts.owner === undefined ? 'setpoint' : `setpoint ${opts.owner}` },
  });
  try {
    const [rows] = await conn.query(
      'SELECT VERSION() AS v, @@version_comment AS c, CURRENT_USER() AS u, @@datadir AS d, @@SESSION.sql_mode AS m',
    );
    const row = (rows as Record<string, string>[])[0] ?? {};
    // Parameters are escaped with backslashes: a server whose sql_mode says NO_BACKSLASH_ESCAPES would misread them.
    const modes = String(row.m ?? '').split(',');
    if (modes.includes('NO_BACKSLASH_ESCAPES'))
      await conn.query('SET SESSION sql_mode = ?', [modes.filter((x) => x !== 'NO_BACKSLASH_ESCAPES').join(',')]);
    const flavor = parseFlavor(String(row.v ?? ''), String(row.c ?? ''));
    const cu = String(row.u ?? '');
    const at = cu.lastIndexOf('@');
    const session = new MysqlSession(
      conn,
      flavor,
      { user: cu.slice(0, at), host: cu.slice(at + 1) },
      opts.statementTimeoutMs,
      String(row.d ?? ''),
    );
    session.stats.statements = modes.includes('NO_BACKSLASH_ESCAPES') ? 2 : 1;
    return session;
  } catch (err) {
    conn.destroy();
    throw err;
  }
}

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'ER_SERVER_SHUTDOWN',
  'ER_CON_COUNT_ERROR',
  'ER_TOO_MANY_USER_CONNECTIONS',
  'PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR',
]);

function isConnectionError(err: unknown): boolean {
  const e = err as { code?: string; fatal?: boolean };
  return e.fatal === true || (e.code !== undefined && CONNECTION_CODES.has(e.code));
}

const TERMINAL: Record<string, ErrorCode> = {
  ER_ACCESS_DENIED_ERROR: 'sql.auth',
  ER_ACCESS_DENIED_NO_PASSWORD_ERROR: 'sql.auth',
  ER_NOT_SUPPORTED_AUTH_MODE: 'sql.auth',
  ER_DBACCESS_DENIED_ERROR: 'sql.privilege',
  ER_SPECIFIC_ACCESS_DENIED_ERROR: 'sql.privilege',
  ER_TABLEACCESS_DENIED_ERROR: 'sql.privilege',
  ER_COLUMNACCESS_DENIED_ERROR: 'sql.privilege',
  ER_PASSWORD_NO_MATCH: 'sql.privilege',
  ER_HOST_NOT_PRIVILEGED: 'sql.auth',
  ER_HOST_IS_BLOCKED: 'sql.auth',
  ER_PARSE_ERROR: 'sql.rejected',
  ER_WRONG_USAGE: 'sql.rejected',
  ER_UNKNOWN_CHARACTER_SET: 'sql.rejected',
  ER_UNKNOWN_COLLATION: 'sql.rejected',
  ER_COLLATION_CHARSET_MISMATCH: 'sql.rejected',
  ER_WRONG_DB_NAME: 'sql.rejected',
  ER_TOO_LONG_IDENT: 'sql.rejected',
  ER_WRONG_STRING_LENGTH: 'sql.rejected',
  ER_PLUGIN_IS_NOT_LOADED: 'sql.rejected',
  ER_ILLEGAL_GRANT_FOR_TABLE: 'sql.rejected',
  ER_NO_SUCH_TABLE: 'sql.rejected',
  // SET PERSIST on a read-only variable: it needs the config file (or PERSIST_ONLY) and a restart.
  ER_INCORRECT_GLOBAL_LOCAL_VAR: 'sql.rejected',
  ER_WRONG_VALUE_FOR_VAR: 'sql.rejected',
  ER_UNKNOWN_SYSTEM_VARIABLE: 'sql.rejected',
};

export function classifyMysqlError(err: unknown): ErrorClass {
  const e = err as { code?: string; message?: string; sqlMessage?: string };
  const message = e.sqlMessage ?? e.message ?? String(err);
  const code = e.code ?? '';
  const terminal = TERMINAL[code];
  if (terminal !== undefined) return { terminal: true, code: terminal, message: `${message} (${code})` };
  if (isConnectionError(err))
    return { terminal: false, code: 'sql.unreachable', message: code === '' ? message : `${message} (${code})` };
  return { terminal: false, code: 'sql.error', message: code === '' ? message : `${message} (${code})` };
}
