/**
 * Opens a configured database through its dialect.
 *
 * @module
 */
import { explainPermission } from "../errors.ts";
import type { DatabaseConfig, OpenOptions } from "./dialect.ts";
import { dialectOf } from "./dialects.ts";
import type { Database } from "./driver.ts";

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
  try {
    return await dialectOf(db).open(db, options);
  } catch (error) {
    throw explainPermission(error, `open database "${db.name}"`);
  }
}
