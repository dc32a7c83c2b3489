/**
 * Databases to adopt: ones that already have tables (made before lockstep
 * managed them) while no migration is applied and some are pending. Running
 * the migrations there would fail on "relation … already exists"; `check`
 * says to stamp them instead (see `databaseNotAdopted` in `problems.ts`).
 *
 * @module
 */
import { dialectOf } from "../sql/dialects.ts";
import type { Connections } from "./connections.ts";
import type { MigrationStatus } from "./status.ts";

/** A database with tables and nothing applied. */
export interface Unadopted {
  /** The configured database name. */
  readonly database: string;
  /** Its application tables (ledger tables left out), sorted. */
  readonly tables: readonly string[];
}

/**
 * The databases that exist, have no migration applied, have migrations
 * pending, and already hold tables. Reads only, and only those databases'
 * table names (at a normal start-up nothing qualifies, so nothing is read).
 */
export async function unadopted(
  connections: Connections,
  status: MigrationStatus,
): Promise<Unadopted[]> {
  const found: Unadopted[] = [];
  for (const database of status.databases) {
    if (!database.exists || database.rows > 0) continue;
    const packages = status.packages.filter((p) => p.database === database.name);
    if (!packages.some((p) => p.pending.length > 0)) continue;
    const db = await connections.get(database.name);
    const schemas = connections.config.databases[database.name]!.schemas;
    const dialect = dialectOf(db);
    const tables = await dialect.snapshot(db, (sql) => dialect.readTables(sql, schemas));
    if (tables.size > 0) found.push({ database: database.name, tables: [...tables.keys()].sort() });
  }
  return found;
}
