/**
 * Opens a configured database by its URL scheme.
 *
 * @module
 */
import type { DatabaseConfig } from "../config.ts";
import { explainPermission, LockstepError } from "../errors.ts";
import type { Database } from "./driver.ts";
import { openSqlite } from "./sqlite.ts";

/** Options for {@link openDatabase}. */
export interface OpenOptions {
  /** Open for reading only (`check`, `status`): default `false`. */
  readOnly?: boolean;
  /** How long SQLite statements wait for another writer, in ms (default 5000). */
  busyTimeoutMs?: number;
  /** Receives PostgreSQL notices. */
  onNotice?: (message: string) => void;
}

/**
 * Opens `db`: SQLite through `node:sqlite`, PostgreSQL through postgres.js
 * (imported only now, the first time a `postgres://` database is opened).
 *
 * @throws {LockstepError} `DATABASE_UNREACHABLE`, `PERMISSION_DENIED`, `CONFIG_INVALID`
 * (a `passwordEnv` that is not set).
 */
export async function openDatabase(
  db: DatabaseConfig,
  options: OpenOptions = {},
): Promise<Database> {
  const { readOnly = false, busyTimeoutMs = 5000, onNotice } = options;
  try {
    if (db.dialect === "sqlite") {
      return await openSqlite(db.name, db.path!, { readOnly, busyTimeoutMs });
    }
    if (db.passwordEnv !== undefined && db.password === undefined) {
      throw new LockstepError(
        "CONFIG_INVALID",
        `Cannot connect to database "${db.name}": its password variable ${db.passwordEnv} is not ` +
          `set, or not readable (grant --allow-env=${db.passwordEnv}).`,
        { data: { database: db.name, passwordEnv: db.passwordEnv } },
      );
    }
    const { openPostgres } = await import("./postgres.ts");
    return await openPostgres(db.name, db.url, {
      readOnly,
      ...(db.password === undefined ? {} : { password: db.password }),
      ...(onNotice === undefined ? {} : { onNotice }),
    });
  } catch (error) {
    throw explainPermission(error, `open database "${db.name}"`);
  }
}
