/**
 * The SQLite driver, on `node:sqlite` (built into Deno: no FFI, no download).
 *
 * @module
 */
import { DatabaseSync, type SQLInputValue } from "node:sqlite";
import { dirname } from "node:path";
import { LockstepError, messageOf } from "../errors.ts";
import {
  type Database,
  inTransaction,
  type Lock,
  type Row,
  type Sql,
  toSqlitePlaceholders,
} from "./driver.ts";

/** Options for {@link openSqlite}. */
export interface SqliteOptions {
  /** Open read-only: needs only `--allow-read` (default `false`). */
  readOnly?: boolean;
  /** How long a statement waits for another writer, in milliseconds (default 5000). */
  busyTimeoutMs?: number;
}

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

class SqliteDatabase implements Database {
  readonly dialect = "sqlite" as const;
  readonly display: string;
  readonly #db: DatabaseSync;
  #inTransaction = false;

  constructor(readonly name: string, path: string, db: DatabaseSync) {
    this.display = `sqlite:${path}`;
    this.#db = db;
  }

  query<T extends Row = Row>(text: string, params: readonly unknown[] = []): Promise<T[]> {
    const statement = this.#db.prepare(toSqlitePlaceholders(text));
    return Promise.resolve(statement.all(...params.map(toSqlite)) as T[]);
  }

  exec(text: string): Promise<void> {
    this.#db.exec(text);
    return Promise.resolve();
  }

  transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
    if (this.#inTransaction) {
      throw new TypeError(`Cannot begin a transaction on "${this.name}": one is already open`);
    }
    const run = (text: string) => this.#db.exec(text);
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
