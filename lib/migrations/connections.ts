/**
 * The databases one operation opens, locked and closed together, each with a
 * bounded lock wait: a changing operation's `lockTimeoutMs` (`--lock-timeout`),
 * and for read-only ones (`check`, `status`, `log`) a short one, so that a
 * table an application session locked never stalls them.
 *
 * @module
 */
import type { Config } from "../config.ts";
import type { DatabaseConfig } from "../sql/dialect.ts";
import type { Database, Lock } from "../sql/driver.ts";
import { openDatabase } from "../sql/open.ts";
import { LockstepError } from "../errors.ts";

/** How long a read-only operation's statements wait for a lock, in ms (`check` must not hang). */
export const READ_LOCK_TIMEOUT_MS = 5000;

/** Databases opened for one operation, closed together. */
export class Connections implements AsyncDisposable {
  readonly #open = new Map<string, Database>();
  constructor(
    readonly config: Config,
    /**
     * `readOnly`: open for reading only; `lockTimeoutMs`: how long a statement
     * waits for a lock another session holds (default: {@link READ_LOCK_TIMEOUT_MS}
     * when reading only, else the database's own default).
     */
    readonly options: { readOnly: boolean; lockTimeoutMs?: number },
  ) {}

  /** Opens (once) the database named `name`. */
  async get(name: string): Promise<Database> {
    const open = this.#open.get(name);
    if (open) return open;
    const { readOnly, lockTimeoutMs = readOnly ? READ_LOCK_TIMEOUT_MS : undefined } = this.options;
    const db = await openDatabase(this.config.databases[name]!, {
      readOnly,
      ...(lockTimeoutMs === undefined ? {} : { lockTimeoutMs }),
    });
    this.#open.set(name, db);
    return db;
  }

  /**
   * Opens `name` like {@link get}, or returns `null` for a SQLite file that
   * does not exist yet (a read-only open does not create it).
   */
  async getExisting(name: string): Promise<Database | null> {
    try {
      return await this.get(name);
    } catch (error) {
      if (error instanceof LockstepError && error.data.missing === true) return null;
      throw error;
    }
  }

  /** The configured databases that some package uses, sorted by name. */
  used(): DatabaseConfig[] {
    const names = new Set(Object.values(this.config.packages).map((p) => p.database));
    return [...names].sort().map((name) => this.config.databases[name]!);
  }

  /**
   * Takes the migration lock of every used database, in name order so that
   * two processes never wait on each other crosswise.
   *
   * @throws {LockstepError} `LOCK_HELD` (every lock taken so far is released).
   */
  async lockAll(timeoutMs: number): Promise<Map<string, Lock>> {
    const locks = new Map<string, Lock>();
    try {
      for (const db of this.used()) {
        locks.set(db.name, await (await this.get(db.name)).lock(timeoutMs));
      }
    } catch (error) {
      await releaseAll(locks);
      throw error;
    }
    return locks;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    const all = [...this.#open.values()];
    this.#open.clear();
    await Promise.allSettled(all.map((db) => db.close()));
  }
}

/** Releases every lock, never throwing. */
export async function releaseAll(locks: Map<string, Lock>): Promise<void> {
  await Promise.allSettled([...locks.values()].map((lock) => lock.release()));
}
