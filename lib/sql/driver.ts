/**
 * The small SQL interface every open database implements (`Sql`,
 * `Database`, `Lock`), and the transaction helper that keeps both errors when
 * a rollback fails. Everything else that differs between databases is the
 * `SqlDialect` of `dialect.ts`.
 *
 * @module
 */

/** A row as returned by a query: column name → value. */
export type Row = Record<string, unknown>;

/** The SQL dialects lockstep speaks: one folder under `lib/sql/` each. */
export type Dialect = "sqlite" | "postgres";

/**
 * What a migration sees as `ctx.sql`. Placeholders are `$1`, `$2`, … on both
 * dialects.
 */
export interface Sql {
  /** `"sqlite"` or `"postgres"`. */
  readonly dialect: Dialect;
  /**
   * The schema that holds lockstep's ledger tables: `main` on SQLite, the
   * first managed schema on PostgreSQL. lockstep names its tables through it
   * (`"public".lockstep_migrations`), so its own statements never depend on
   * the `search_path` a migration leaves behind.
   */
  readonly ledgerSchema: string;
  /** Runs one statement with parameters and returns its rows. */
  query<T extends Row = Row>(text: string, params?: readonly unknown[]): Promise<T[]>;
  /** Runs a script of one or more statements without parameters. */
  exec(text: string): Promise<void>;
}

/** A held migration lock; released by `release()` or by closing the database. */
export interface Lock {
  /**
   * True when the lock keeps every other lockstep process out for the whole
   * run (PostgreSQL); false when it is taken per transaction (SQLite), so a
   * migration must re-check the ledger inside its transaction.
   */
  readonly exclusive: boolean;
  /** Throws `LOCK_LOST` when the connection that holds the lock is gone. */
  assertHeld(): void;
  /** Releases the lock. */
  release(): Promise<void>;
}

/** An open database connection. */
export interface Database extends Sql {
  /** The configured name. */
  readonly name: string;
  /** The URL with credentials masked, for messages. */
  readonly display: string;
  /**
   * Runs `fn` in a transaction: commits when it resolves, rolls back when it
   * throws. SQLite takes the write lock up front (`BEGIN IMMEDIATE`).
   */
  transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T>;
  /**
   * Takes the migration lock, waiting up to `timeoutMs`.
   *
   * @throws {LockstepError} `LOCK_HELD` when another process holds it.
   */
  lock(timeoutMs: number): Promise<Lock>;
  /** Closes the connection (and any lock connection). */
  close(): Promise<void>;
}

/** A rollback failure that keeps the error that caused the rollback as `cause`. */
export class RollbackError extends AggregateError {
  constructor(original: unknown, rollback: unknown) {
    super(
      [original, rollback],
      `Rolling back failed (${message(rollback)}) after: ${message(original)}`,
      { cause: original },
    );
    this.name = "RollbackError";
  }
}

/**
 * The shared shape of a transaction: `begin`, run `fn`, `commit`; on a throw,
 * `rollback` and rethrow the original, or a {@link RollbackError} holding both.
 */
export async function inTransaction<T>(
  steps: { begin(): Promise<void>; commit(): Promise<void>; rollback(): Promise<void> },
  fn: () => Promise<T>,
): Promise<T> {
  await steps.begin();
  let result: T;
  try {
    result = await fn();
  } catch (error) {
    try {
      await steps.rollback();
    } catch (rollbackError) {
      throw new RollbackError(error, rollbackError);
    }
    throw error;
  }
  await steps.commit();
  return result;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
