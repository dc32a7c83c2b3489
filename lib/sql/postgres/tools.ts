/**
 * PostgreSQL's own tools, `pg_dump` and `pg_restore`: whether they may be
 * run (`--allow-run=pg_dump`, `--allow-run=pg_restore`), and the environment
 * they run with (no variable of lockstep's own environment leaks in).
 *
 * @module
 */
import { LockstepError } from "../../errors.ts";
import type { DatabaseConfig } from "../dialect.ts";

/** Whether `tool` may be run (`--allow-run=<tool>` granted). */
export function pgToolAllowed(tool: "pg_dump" | "pg_restore"): boolean {
  return Deno.permissions.querySync({ name: "run", command: tool }).state === "granted";
}

/** The whole environment of a `pg_dump` run against `db`. */
export function toolEnv(db: DatabaseConfig): Record<string, string> {
  return {
    PGAPPNAME: "lockstep",
    PGCONNECT_TIMEOUT: "10",
    ...(db.password === undefined ? {} : { PGPASSWORD: db.password }),
  };
}

/**
 * Refuses to go on when a pg_dump archive must be read and `pg_restore` may
 * not be run.
 *
 * @throws {LockstepError} `PERMISSION_DENIED` naming `--allow-run=pg_restore`.
 */
export function refuseWithoutPgRestore(database: string): void {
  if (pgToolAllowed("pg_restore")) return;
  throw new LockstepError(
    "PERMISSION_DENIED",
    `Cannot restore database "${database}": its backup was made by pg_dump, and reading it ` +
      `needs pg_restore. Grant it with --allow-run=pg_restore. Nothing was changed.`,
    { data: { database, permission: "run pg_restore" } },
  );
}
