/**
 * SQLite as lockstep speaks it, composed from its parts: URLs and files
 * (`url.ts`), the `node:sqlite` driver (`driver.ts`), the ledger
 * (`ledger.ts`), schema reading (`schema.ts`) and backups (`backup.ts`).
 * Everything is built into Deno: nothing is loaded lazily.
 *
 * @module
 */
import type { SqlDialect } from "../dialect.ts";
import { sqliteDumper } from "./backup.ts";
import { sqliteConnector } from "./driver.ts";
import { sqliteLedger } from "./ledger.ts";
import { sqliteSchema } from "./schema.ts";
import { sqliteUrls } from "./url.ts";

/** The SQLite dialect. */
export const sqlite: SqlDialect = {
  ...sqliteUrls,
  ...sqliteConnector,
  ...sqliteLedger,
  ...sqliteSchema,
  ...sqliteDumper,
};
