/**
 * SQLite backups and restores through SQLite's own backup API (`node:sqlite`
 * `backup()`): consistent while the application keeps writing, and a
 * restore that replaces the live database's pages in one write transaction,
 * under SQLite's lock, so open connections see the old content or the new.
 * A database file that does not exist yet is backed up as `absent`, and
 * restoring that removes the file again.
 *
 * @module
 */
import { backup, DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { LockstepError, messageOf } from "../../errors.ts";
import { pathExists } from "../../files.ts";
import { hashFile, type Written } from "../../hashing.ts";
import type { DatabaseConfig, Dumper } from "../dialect.ts";
import { sqliteFiles } from "./url.ts";

/** Backing up, checking and restoring SQLite databases. */
export const sqliteDumper: Dumper = {
  async backup(db, folder, options) {
    if (!pathExists(db.path!)) {
      // Not made yet (no migration has run): restoring this backup removes it again.
      return { artifact: "", format: "absent", sha256: "", size: 0, skipped: [], record: null };
    }
    const artifact = `${options.stem}.sqlite`;
    const written = await backupSqlite(db, join(folder, artifact));
    // Read from the copy: the same moment as the data.
    const record = await options.record({ ...db, path: join(folder, artifact) });
    // backupSqlite hashed the synced copy from disk: that is the read-back.
    return { artifact, format: "sqlite", ...written, skipped: [], record, readBack: true };
  },
  checkArtifact: (path) => Promise.resolve(checkSqlite(path)),
  refuseUnrestorable() {},
  restore: (db, path, format) => format === "absent" ? removeSqlite(db) : restoreSqlite(db, path),
  trialRestore,
};

/**
 * Restores a backed-up file into a scratch file in `scratchFolder` as
 * {@link restoreSqlite} restores the live one, checks it
 * (`PRAGMA integrity_check`) and removes it.
 */
async function trialRestore(
  db: DatabaseConfig,
  artifact: string,
  format: string,
  scratchFolder: string,
): Promise<string | undefined> {
  if (format === "absent") return undefined;
  const scratch: DatabaseConfig = {
    ...db,
    path: join(scratchFolder, `.verify-${crypto.randomUUID()}.sqlite`),
  };
  try {
    await restoreSqlite(scratch, artifact);
    const copy = new DatabaseSync(scratch.path!, { readOnly: true });
    try {
      const rows = copy.prepare("PRAGMA integrity_check").all() as { integrity_check: string }[];
      const problems = rows.map((r) => r.integrity_check).filter((r) => r !== "ok");
      return problems.length === 0
        ? undefined
        : `the restored copy fails integrity_check: ${problems.slice(0, 3).join("; ")}`;
    } finally {
      copy.close();
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) throw error;
    return `it does not restore into a scratch file: ${messageOf(error)}`;
  } finally {
    await removeSqlite(scratch);
  }
}

/**
 * Copies the live database to `out` (owner-only) in one step, so that a
 * writer in another process cannot make the copy restart forever.
 *
 * @throws {LockstepError} `DATABASE_UNREACHABLE` when the file cannot be opened.
 */
export async function backupSqlite(db: DatabaseConfig, out: string): Promise<Written> {
  let source: DatabaseSync;
  try {
    source = new DatabaseSync(db.path!, { readOnly: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) throw error;
    throw new LockstepError(
      "DATABASE_UNREACHABLE",
      `Cannot back up database "${db.name}" (sqlite:${db.path}): ${messageOf(error)}`,
      { cause: error, data: { database: db.name } },
    );
  }
  try {
    source.exec("PRAGMA busy_timeout = 10000");
    // Made owner-only before SQLite writes into it.
    Deno.writeFileSync(out, new Uint8Array(), { createNew: true, mode: 0o600 });
    await backup(source, out, { rate: -1 });
  } finally {
    source.close();
  }
  using copy = await Deno.open(out, { read: true, write: true });
  await copy.syncData();
  return await hashFile(out);
}

/** Why a backed-up SQLite file is unusable, or `undefined` (`PRAGMA quick_check`). */
export function checkSqlite(path: string): string | undefined {
  try {
    const db = new DatabaseSync(path, { readOnly: true });
    try {
      const rows = db.prepare("PRAGMA quick_check").all() as { quick_check: string }[];
      const problems = rows.map((r) => r.quick_check).filter((r) => r !== "ok");
      return problems.length === 0 ? undefined : `quick_check: ${problems.slice(0, 3).join("; ")}`;
    } finally {
      db.close();
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) throw error;
    return `it does not open as SQLite (${messageOf(error)})`;
  }
}

/**
 * Writes the backed-up pages over the live database in one SQLite write
 * transaction (waiting for the application's writers to finish): a crash
 * part way is rolled back by SQLite's own journal on the next open.
 */
export async function restoreSqlite(db: DatabaseConfig, artifact: string): Promise<void> {
  const source = new DatabaseSync(artifact, { readOnly: true });
  try {
    await backup(source, db.path!, { rate: -1 });
  } catch (error) {
    throw new LockstepError(
      "DATABASE_UNREACHABLE",
      `Cannot restore database "${db.name}" (sqlite:${db.path}): ${messageOf(error)}. ` +
        `SQLite rolled the database back to what it held before.`,
      { cause: error, data: { database: db.name } },
    );
  } finally {
    source.close();
  }
}

/** Removes a SQLite database that did not exist when the backup was made (and its journals). */
export async function removeSqlite(db: DatabaseConfig): Promise<void> {
  for (const file of sqliteFiles(db)) {
    await Deno.remove(file).catch((error) => {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    });
  }
}
