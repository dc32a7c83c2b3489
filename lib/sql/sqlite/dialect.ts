/**
 * SQLite as lockstep speaks it, composed from its parts: URLs and files
 * (`url.ts`), the `node:sqlite` driver (`driver.ts`), the ledger
 * (`ledger.ts`), schema reading (`schema.ts`) and backups (`backup.ts`).
 * Everything is built into Deno: nothing is loaded lazily.
 *
 * @module
 */
import type { Dumper, SqlDialect } from "../dialect.ts";
import { sqliteConnector } from "./driver.ts";
import { sqliteLedger } from "./ledger.ts";
import { sqliteSchema } from "./schema.ts";
import { sqliteUrls } from "./url.ts";

/** `backup.ts`'s dumper, loaded when a backup, check or restore runs (not at every start-up). */
const dumper = async (): Promise<Dumper> => (await import("./backup.ts")).sqliteDumper;

/** Backing up, checking and restoring SQLite files. */
const sqliteDumper: Dumper = {
  backup: async (db, folder, options) => await (await dumper()).backup(db, folder, options),
  checkArtifact: async (path, format) => await (await dumper()).checkArtifact(path, format),
  refuseUnrestorable() {},
  restore: async (db, path, format) => await (await dumper()).restore(db, path, format),
  trialRestore: async (db, path, format, scratch) =>
    await (await dumper()).trialRestore(db, path, format, scratch),
};

/** The SQLite dialect. */
export const sqlite: SqlDialect = {
  ...sqliteUrls,
  ...sqliteConnector,
  ...sqliteLedger,
  ...sqliteSchema,
  ...sqliteDumper,
};
