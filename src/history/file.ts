/**
 * The history file itself: opened (created 0600, WAL) or read-only, migrated, its prepared statements
 * kept, and the one way an entry is inserted. The writer (journal.ts), the readers (readers.ts), pauses
 * (pauses.ts) and retention (retention.ts) all work through it; History (store.ts) puts them together.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { SetpointError } from '../errors.js';
import { historyError, noteHistoryPath } from './errors.js';
import { migrations } from './migrations.js';

export type EntryKind = 'spec' | 'event' | 'drift' | 'action' | 'error' | 'condition';

/** An entry as inserted. */
export interface NewEntry {
  time: number;
  kind: EntryKind;
  cluster?: string;
  host?: string;
  resource?: string;
  field?: string;
  summary: string;
  outcome: string | null;
  specVersion?: string;
  detail?: unknown;
}

export class HistoryFile {
  /** Prepared statements by SQL text: better-sqlite3 compiles on every prepare(), which costs more than most of these statements take to run. */
  private readonly statements = new Map<string, Database.Statement>();

  private constructor(
    readonly db: Database.Database,
    readonly path: string,
    readonly daemonId: string,
  ) {}

  /** Opens the file; `readonly` never creates or migrates it. Failures are SetpointErrors that name the file and say what to do. */
  static open(path: string, opts: { readonly?: boolean; daemonId?: string } = {}): HistoryFile {
    noteHistoryPath(path);
    try {
      return HistoryFile.openFile(path, opts);
    } catch (err) {
      throw historyError(err, path);
    }
  }

  private static openFile(path: string, opts: { readonly?: boolean; daemonId?: string }): HistoryFile {
    if (opts.readonly === true) {
      if (path !== ':memory:' && !existsSync(path)) {
        throw new SetpointError(
          'history.missing',
          `history file ${path} does not exist yet (start the daemon or run apply, or pass --db)`,
          { exitCode: 1 },
        );
      }
      const db = new Database(path, { readonly: true, fileMustExist: true });
      db.pragma('busy_timeout = 5000');
      // Reads the header now: a file that is not a database fails here, not in the middle of a listing.
      db.pragma('schema_version', { simple: true });
      return new HistoryFile(db, path, opts.daemonId ?? 'cli');
    }
    if (path !== ':memory:') {
      mkdirSync(dirname(path), { recursive: true });
      if (!existsSync(path)) closeSync(openSync(path, 'a', 0o600));
      chmodSync(path, 0o600);
    }
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
    db.pragma('foreign_keys = ON');
    const h = new HistoryFile(db, path, opts.daemonId ?? `${process.pid}`);
    h.migrate();
    return h;
  }

  private migrate(): void {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    if (version > migrations.length) {
      throw new SetpointError(
        'history.too_new',
        `history file ${this.path} was written by a newer setpoint (schema ${version}, this one knows ${migrations.length})`,
      );
    }
    for (let v = version; v < migrations.length; v++) {
      this.db.transaction(() => {
        this.db.exec(migrations[v] as string);
        this.db.pragma(`user_version = ${v + 1}`);
      })();
    }
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /** The prepared statement for `sql`, compiled once. */
  stmt(sql: string): Database.Statement {
    let s = this.statements.get(sql);
    if (s === undefined) this.statements.set(sql, (s = this.db.prepare(sql)));
    return s;
  }

  /** Inserts one entry, stamped with this writer's daemon id; returns its id. */
  insert(e: NewEntry): number {
    const r = this.stmt(
      'INSERT INTO entries (time, kind, cluster, host, resource, field, summary, outcome, spec_version, daemon, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    ).run(
      e.time,
      e.kind,
      e.cluster ?? null,
      e.host ?? null,
      e.resource ?? null,
      e.field ?? null,
      e.summary,
      e.outcome,
      e.specVersion ?? null,
      this.daemonId,
      e.detail === undefined ? null : JSON.stringify(e.detail),
    );
    return Number(r.lastInsertRowid);
  }
}
