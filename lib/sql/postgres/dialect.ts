/**
 * PostgreSQL as lockstep speaks it, composed from its parts: URLs
 * (`url.ts`), the postgres.js driver (`driver.ts`), the ledger
 * (`ledger.ts`), schema reading (`schema.ts`), and backups (`dump.ts`,
 * `check_dump.ts`, `restore.ts`). postgres.js itself is imported by
 * `client.ts` only when a database is opened, dumped or restored; the backup
 * modules only when a backup is made, checked or restored.
 *
 * @module
 */
import type { ArtifactFormat, Dumper, SqlDialect } from "../dialect.ts";
import { postgresConnector } from "./driver.ts";
import type { PostgresFormat } from "./dump.ts";
import { postgresLedger } from "./ledger.ts";
import { postgresSchema } from "./schema.ts";
import { refuseWithoutPgRestore } from "./tools.ts";
import { postgresUrls } from "./url.ts";

/** Backing up, checking and restoring PostgreSQL databases. */
const postgresDumper: Dumper = {
  async backup(db, folder, options) {
    // Read before the dump starts (a server has no copy to read it from afterwards).
    const record = await options.record(db);
    const { dumpPostgres } = await import("./dump.ts");
    const dumped = await dumpPostgres(db, folder, options.stem, {
      pgDump: options.tool,
      partial: options.partial ?? false,
      ...(options.lockTimeoutMs === undefined ? {} : { lockTimeoutMs: options.lockTimeoutMs }),
    });
    return { ...dumped, record };
  },
  async checkArtifact(path, format) {
    const { checkDump } = await import("./check_dump.ts");
    return await checkDump(path, postgresFormat(format));
  },
  refuseUnrestorable(database, format) {
    if (format === "pg_dump") refuseWithoutPgRestore(database);
  },
  async restore(db, path, format) {
    const { restorePostgres } = await import("./restore.ts");
    await restorePostgres(db, path, postgresFormat(format));
  },
  async trialRestore(db, path, format) {
    const { trialRestore } = await import("./trial.ts");
    return await trialRestore(db, path, postgresFormat(format));
  },
};

/** The PostgreSQL dialect. */
export const postgres: SqlDialect = {
  ...postgresUrls,
  ...postgresConnector,
  ...postgresLedger,
  ...postgresSchema,
  ...postgresDumper,
};

/** Any format but pg_dump's is read as the built-in dump, as backups always were. */
function postgresFormat(format: ArtifactFormat): PostgresFormat {
  return format === "pg_dump" ? "pg_dump" : "lockstep-sql";
}
