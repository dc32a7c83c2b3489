/**
 * The SQLite driver, on `node:sqlite` (built into Deno: no FFI, no download),
 * and what a SQLite connection does differently: a read transaction for a
 * snapshot, a script without a transaction run as it is.
 *
 * @module
 */
import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite";
import { dirname } from "node:path";
import { LockstepError, messageOf } from "../../errors.ts";
import { accessDeniedMessage } from "../../os_errors.ts";
import type { Connector } from "../dialect.ts";
import { type Database, inTransaction, type Lock, type Row, type Sql } from "../driver.ts";

/** Options for {@link openSqlite}. */
export interface SqliteOptions {
  /** Open read-only: needs only `--allow-read` (default `false`). */
  readOnly?: boolean;
  /** How long a statement waits for another writer, in milliseconds (default 5000). */
  busyTimeoutMs?: number;
}

/** Opening SQLite databases, and what their connections do differently. */
export const sqliteConnector: Connector = {
  open: (db, { readOnly = false, lockTimeoutMs } = {}) =>
    openSqlite(db.name, db.path!, {
      readOnly,
      ...(lockTimeoutMs === undefined ? {} : { busyTimeoutMs: lockTimeoutMs }),
    }),
  /**
   * A read transaction (`BEGIN`, not the driver's `BEGIN IMMEDIATE`), which
   * also works on a read-only connection.
   */
  async snapshot(db, fn) {
    await db.exec("begin");
    try {
      return await fn(db);
    } finally {
      await db.exec("commit");
    }
  },
  // SQLite runs a script statement by statement, each in its own implicit transaction.
  runWithoutTransaction: (sql, script) => sql.exec(script),
  // A SQLite connection has no session state that lockstep's statements depend on: they
  // name the ledger as "main".lockstep_…, which neither ATTACH nor a temp table can shadow.
  resetSession: () => Promise.resolve(),
};

/** True when a SQLite error means another connection holds the write lock. */
export function isBusy(error: unknown): boolean {
  return /database is locked|database table is locked|SQLITE_BUSY/i.test(messageOf(error));
}

/**
 * Opens the SQLite file at `path`; a writable open makes the file and its
 * folder when missing.
 *
 * @throws {LockstepError} `DATABASE_UNREACHABLE` (with `data.missing` when a
 * read-only open finds no file).
 */
export async function openSqlite(
  name: string,
  path: string,
  options: SqliteOptions = {},
): Promise<Database> {
  const { readOnly = false, busyTimeoutMs = 5000 } = options;
  if (!readOnly) await Deno.mkdir(dirname(path), { recursive: true });
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(path, { readOnly });
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) throw error;
    const missing = await Deno.lstat(path).then(
      () => false,
      (e) => e instanceof Deno.errors.NotFound,
    );
    throw new LockstepError(
      "DATABASE_UNREACHABLE",
      `Cannot open database "${name}" (sqlite:${path}): ` +
        (missing ? "the file does not exist yet" : messageOf(error)),
      { cause: error, data: { database: name, missing } },
    );
  }
  db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(busyTimeoutMs))}`);
  return new SqliteDatabase(name, path, db);
}

/** How many prepared statements a connection keeps for reuse. */
const PREPARED_KEPT = 64;

class SqliteDatabase implements Database {
  readonly dialect = "sqlite" as const;
  readonly ledgerSchema = "main";
  readonly display: string;
  readonly #db: DatabaseSync;
  /** Prepared statements by text, the most recently prepared last (a migration run repeats its ledger's). */
  readonly #statements = new Map<string, StatementSync>();
  #inTransaction = false;

  constructor(readonly name: string, readonly path: string, db: DatabaseSync) {
    this.display = `sqlite:${path}`;
    this.#db = db;
  }

  // Promise.try: a failing statement rejects, as on PostgreSQL, rather than throwing.
  query<T extends Row = Row>(text: string, params: readonly unknown[] = []): Promise<T[]> {
    return Promise.try(() => this.#prepared(text).all(...params.map(toSqlite)) as T[])
      .catch((error) => Promise.reject(unwritable(error, this.name, this.path)));
  }

  #prepared(text: string): StatementSync {
    let statement = this.#statements.get(text);
    if (statement === undefined) {
      statement = this.#db.prepare(toSqlitePlaceholders(text));
      if (this.#statements.size >= PREPARED_KEPT) {
        this.#statements.delete(this.#statements.keys().next().value!);
      }
      this.#statements.set(text, statement);
    }
    return statement;
  }

  exec(text: string): Promise<void> {
    return Promise.try(() => this.#db.exec(text))
      .catch((error) => Promise.reject(unwritable(error, this.name, this.path)));
  }

  transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
    if (this.#inTransaction) {
      throw new TypeError(`Cannot begin a transaction on "${this.name}": one is already open`);
    }
    const run = (text: string) => {
      try {
        this.#db.exec(text);
      } catch (error) {
        throw unwritable(error, this.name, this.path);
      }
    };
    return inTransaction({
      begin: () => {
        try {
          run("BEGIN IMMEDIATE");
        } catch (error) {
          if (isBusy(error)) throw lockHeld(this.name, error);
          throw error;
        }
        this.#inTransaction = true;
        return Promise.resolve();
      },
      commit: () => {
        this.#inTransaction = false;
        run("COMMIT");
        return Promise.resolve();
      },
      rollback: () => {
        this.#inTransaction = false;
        run("ROLLBACK");
        return Promise.resolve();
      },
    }, () => fn(this));
  }

  /**
   * SQLite has no session lock: every migration takes the write lock with
   * `BEGIN IMMEDIATE`, waiting up to `timeoutMs` for other writers.
   */
  lock(timeoutMs: number): Promise<Lock> {
    this.#db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(timeoutMs))}`);
    return Promise.resolve({
      exclusive: false,
      assertHeld() {},
      release: () => Promise.resolve(),
    });
  }

  close(): Promise<void> {
    if (this.#db.isOpen) this.#db.close();
    return Promise.resolve();
  }
}

/** Rewrites `$1`-style placeholders to SQLite's `?1`, leaving quoted text alone. */
export function toSqlitePlaceholders(text: string): string {
  return text.replace(
    /('(?:[^']|'')*'|"(?:[^"]|"")*")|\$(\d+)/g,
    (all, quoted, n) => quoted === undefined ? `?${n}` : all,
  );
}

/**
 * SQLite opens a file it may not write read-only, and says so only at the
 * first write ("attempt to write a readonly database"), or cannot make its
 * journal beside it ("unable to open database file"): `ACCESS_DENIED`
 * naming the file, its folder and the fix. Any other error as it is.
 */
function unwritable(error: unknown, name: string, path: string): unknown {
  const said = messageOf(error);
  if (!/readonly database|unable to open database file/i.test(said)) return error;
  const reason = `SQLite may not write it or its folder (it says "${said}")`;
  return new LockstepError(
    "ACCESS_DENIED",
    accessDeniedMessage(`write database "${name}" (sqlite:${path})`, reason, path),
    { cause: error, data: { database: name, path } },
  );
}

function lockHeld(name: string, cause: unknown): LockstepError {
  return new LockstepError(
    "LOCK_HELD",
    `Cannot lock database "${name}": another process is writing to it. ` +
      `Wait for it to finish, or raise --lock-timeout.`,
    { cause, data: { database: name } },
  );
}

function toSqlite(value: unknown): SQLInputValue {
  if (typeof value === "boolean") return value ? 1 : 0;
  if (value instanceof Date) return value.toISOString();
  if (value === undefined) return null;
  return value as SQLInputValue;
}
